"""Namespaces: an organization's top-level scopes, holding buckets (and their syncs)."""
