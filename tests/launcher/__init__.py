"""Tests of `anonconsole.launcher` (tests/launcher/test_Y.py tests anonconsole/launcher/Y.py)."""
