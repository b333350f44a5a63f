"""Bucket objects: what syncs made of source files, listed, read and deleted (D26)."""
