"""Tests of `anonconsole.runtime` (tests/runtime/test_Y.py tests anonconsole/runtime/Y.py)."""
