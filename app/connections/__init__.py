"""Storage connections: an organization's credentials for reaching external storage."""
