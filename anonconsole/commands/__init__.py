"""The headless commands of `anonconsole` (one module each): glue between arguments and operations."""
