"""API keys and bearer authentication."""
