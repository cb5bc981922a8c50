"""Tests of `anonconsole.models` (tests/models/test_Y.py tests anonconsole/models/Y.py)."""
