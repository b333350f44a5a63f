"""Persistence: the schema (``tables``), the connection (``database``), ``migrate``."""
