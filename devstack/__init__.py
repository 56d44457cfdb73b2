"""Local development stack: the embedded broker and ``make run``."""
