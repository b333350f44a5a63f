"""Organizations, their users and API keys: who is calling, and on whose behalf."""
