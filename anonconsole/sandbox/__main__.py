"""`python -m anonconsole.sandbox serve|outbox` (what the console's child process runs)."""

import sys

from anonconsole.sandbox.handover import restart_without_key_in_environment

if __name__ == "__main__":
    # Before the server stack is imported: a key in the environment costs only an interpreter start.
    restart_without_key_in_environment(sys.argv[1:])
    from anonconsole.sandbox.cli import main

    sys.exit(main(sys.argv[1:]))
