"""Tools for testing clients and servers against the wire contract (CONTRACT.md)."""
