"""Tests of `anonconsole.operations` (tests/operations/test_Y.py tests anonconsole/operations/Y.py)."""
