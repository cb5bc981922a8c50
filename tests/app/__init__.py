"""Tests of `anonconsole.app` (tests/app/test_Y.py tests anonconsole/app/Y.py)."""
