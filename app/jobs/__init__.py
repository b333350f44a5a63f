"""Sync jobs (one per run of a sync) and the metrics derived from a sync's runs."""
