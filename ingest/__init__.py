"""Ingest: Kladana workflow webhooks in over HTTP, raw CloudEvents out on RAW_TOPIC."""
