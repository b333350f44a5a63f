"""Headers on every API answer, success or error.

Answers are JSON to be read, never sniffed as another type, and they hold per-caller data that
no cache should keep. They are added where each response is built (app/responses.py,
app/errors.py, the guard, app/transport.py) rather than by a wrapper around every request.
"""

API_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)
