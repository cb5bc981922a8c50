"""What the console and its sandbox child agree on, in one place both may import.

The launcher starts `python -m anonconsole.sandbox serve` without importing the server stack; the
sandbox reads the key and the project ID the same way the launcher hands them over.
"""

from __future__ import annotations

# The console hands its sandbox child the key on a pipe (`serve --key-fd N`). A sandbox started by
# hand may take it from this environment variable (never argv, which other users can read in the
# process list); it then restarts itself without the variable, so /proc/PID/environ never holds it.
KEY_ENV = "DESCOPE_MANAGEMENT_KEY"
# The project the built-in sandbox pretends to be ("P" + 27 characters, like a Descope project ID).
DEFAULT_PROJECT_ID = "P2AnonConsoleSandbox00000000"
# A sandbox that cannot start (a damaged database, a port in use) writes `{READY_ERROR: sentence}` to
# its ready file before it exits: the launcher shows that sentence, not the end of the child's log.
READY_ERROR = "error"
