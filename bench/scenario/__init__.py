"""The scenario runner: the whole pipeline under load and faults, with an exact ledger
(docs/scenarios.md)."""
