"""Ingestion: the Celery app, its tasks and the parse → split → embed → upsert pipeline."""
