"""Admin API for knowledge bases, their documents and ingestion jobs."""
