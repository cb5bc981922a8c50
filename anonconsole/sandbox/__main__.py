"""`python -m anonconsole.sandbox serve|outbox` (what the console's child process runs)."""

import sys

from anonconsole.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
