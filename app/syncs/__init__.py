"""Sync configurations: which connection and path feed a bucket, how often and how."""
