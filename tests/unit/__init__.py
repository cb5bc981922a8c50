"""Unit tests: no Qt, no network beyond loopback."""
