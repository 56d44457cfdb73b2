"""Code shared by the ingest, enricher and notifier services."""
