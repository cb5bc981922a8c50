"""Tests of `anonconsole.core` (tests/core/test_Y.py tests anonconsole/core/Y.py)."""
