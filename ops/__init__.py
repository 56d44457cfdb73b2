"""Operators' commands that look across the whole pipeline (``python -m ops.status``).

Unlike ``shared/``, this package may read every service's stores, so no service imports it.
"""
