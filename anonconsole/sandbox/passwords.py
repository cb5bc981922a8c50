"""Password hashing and the sandbox's password policy.

Hashes are PBKDF2-HMAC-SHA256 with a per-password random salt, stored as
`pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>` so the cost can be raised later without breaking
stored rows. The cost (1,000 iterations, about 0.6 ms) is sandbox-grade on purpose: the sandbox holds
test data only, and the demo seed hashes a few thousand passwords while the user waits. Comparison is
constant-time (`hmac.compare_digest`).

`UNUSABLE` marks a password that exists but that nobody knows (bulk-seeded anonymous users, whose
random replacement password was never kept): it never verifies.

Policy (what `GET /v1/auth/password/policy` answers): at least 8 characters, with a lowercase letter,
an uppercase letter and a digit; non-alphanumeric characters are allowed but not required.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
from random import Random
from typing import Any

from anonconsole.sandbox.errors import DescopeError

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 1000
UNUSABLE = "!"

MIN_LENGTH = 8
POLICY: dict[str, Any] = {
    "minLength": MIN_LENGTH,
    "lowercase": True,
    "uppercase": True,
    "number": True,
    "nonAlphanumeric": False,
    "expiration": False,
    "expirationWeeks": 0,
    "reuse": False,
    "reuseAmount": 0,
    "lock": False,
    "lockAttempts": 0,
}


def hash_password(password: str, *, iterations: int = ITERATIONS) -> str:
    """Salted hash of a password, never the password itself."""
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches the stored hash; unusable or malformed hashes never match."""
    if not stored or stored == UNUSABLE:
        return False
    try:
        algorithm, iterations, salt, expected = stored.split("$")
        if algorithm != ALGORITHM:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


def policy_violations(password: str) -> list[str]:
    """Plain-words list of what the password lacks under POLICY (empty when it complies)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if POLICY["lowercase"] and not any(c.islower() for c in password):
        problems.append("a lowercase letter")
    if POLICY["uppercase"] and not any(c.isupper() for c in password):
        problems.append("an uppercase letter")
    if POLICY["number"] and not any(c.isdigit() for c in password):
        problems.append("a number")
    if POLICY["nonAlphanumeric"] and all(c.isalnum() for c in password):
        problems.append("a non-alphanumeric character")
    return problems


def weak_password(problems: list[str]) -> DescopeError:
    """The 400 for a password that fails the policy. Code chosen here: the contract names none."""
    return DescopeError(
        400,
        "E062902",
        "Password does not meet the password policy",
        "Password must contain " + ", ".join(problems),
    )


def validate_password(password: str) -> None:
    """Raise `weak_password` unless the password complies with POLICY."""
    problems = policy_violations(password)
    if problems:
        raise weak_password(problems)


def random_password(rng: Random, length: int = 24) -> str:
    """A policy-compliant random password (the KB recipe's replacement value, never kept)."""
    alphabet = string.ascii_letters + string.digits
    body = [rng.choice(alphabet) for _ in range(length - 3)]
    return (
        "".join(body)
        + rng.choice(string.ascii_lowercase)
        + rng.choice(string.ascii_uppercase)
        + str(rng.randrange(10))
    )
