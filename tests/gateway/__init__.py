"""Tests of `anonconsole.gateway` (tests/gateway/test_Y.py tests anonconsole/gateway/Y.py)."""
