"""`python -m anonconsole`: the same as the `anonconsole` command."""

import sys

from anonconsole.cli import main

if __name__ == "__main__":
    sys.exit(main())
