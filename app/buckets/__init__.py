"""Buckets: named stores of objects inside a namespace, the targets of syncs."""
