"""The contract-testing kit's admin API under ``/_mock/`` (CONTRACT.md D28 to D33).

What a test suite needs of a mock that the real service cannot give: a known state (reset,
snapshots, seed fixtures), a record of what its code sent (the journal), the failures and
timings that are rare in production (fault rules), and control of time (the clock). Everything
here is behind the admin token, never an API key, and never under ``/v1``.
"""
