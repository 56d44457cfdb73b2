"""A small fake of Kladana's JSON API (remap 1.2) for ``make run`` and the tests."""
