"""Tests of `anonconsole.settings` (tests/settings/test_Y.py tests anonconsole/settings/Y.py)."""
