"""Load benchmarks: ``python -m bench.ingest_load`` (see docs/benchmarks.md)."""
