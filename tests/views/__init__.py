"""Tests of `anonconsole.views` (tests/views/test_Y.py tests anonconsole/views/Y.py)."""
