"""The enricher: raw webhook events -> Kladana JSON API look-up -> enriched events."""
