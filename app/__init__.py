"""mixpeek-mock: a self-hosted reference server for Mixpeek's bucket-sync API."""
