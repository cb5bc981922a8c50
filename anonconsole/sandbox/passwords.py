"""Password hashing, the project's password settings and the policy they make.

Hashes are PBKDF2-HMAC-SHA256 with a per-password random salt, stored as
`pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>` so the cost can be raised later without breaking
stored rows. The cost (1,000 iterations, about 0.6 ms) is sandbox-grade on purpose: the sandbox holds
test data only, and the demo seed hashes a few thousand passwords while the user waits. Comparison is
constant-time (`hmac.compare_digest`).

`UNUSABLE` marks a password that exists but that nobody knows (bulk-seeded anonymous users, whose
random replacement password was never kept): it never verifies.

Settings (`mgmt.password` get/configure, descope-api.md; fields as the SDK documents them) default to a
new Descope project's (docs.descope.com, Authentication Methods > Passwords): at least 8 characters
with a lowercase letter, an uppercase letter and a number; no expiration, reuse check or lock-out. Two
defaults differ from that page, on purpose (docs/contracts.md §9): the method is enabled (the console's
anonymous-user recipe signs up with a password) and a non-alphanumeric character is not required (the
recipe's and the tests' default passwords have none); `configure_settings` turns either on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
from random import Random
from typing import Any

from anonconsole.sandbox.errors import DescopeError, invalid_argument

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 1000
UNUSABLE = "!"

# A new project's settings (see the module docstring for the two chosen differences).
DEFAULT_SETTINGS: dict[str, Any] = {
    "enabled": True,
    "minLength": 8,
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
FLAGS = ("enabled", "lowercase", "uppercase", "number", "nonAlphanumeric", "expiration", "reuse", "lock")
# Integer settings and the range each must be in when the flag it belongs to is on. minLength: the
# console's range (docs); the others are chosen (Descope documents none).
RANGES: dict[str, tuple[int, int]] = {
    "minLength": (5, 64),
    "expirationWeeks": (1, 520),
    "reuseAmount": (1, 50),
    "lockAttempts": (2, 100),
}
NEEDS_FLAG = {"expirationWeeks": "expiration", "reuseAmount": "reuse", "lockAttempts": "lock"}
# What GET /v1/auth/password/policy answers: the rules a new password must meet.
POLICY_FIELDS = ("minLength", "lowercase", "uppercase", "number", "nonAlphanumeric")


def check_settings(settings: dict[str, Any]) -> None:
    """Refuse settings out of range (a Descope-shaped 400 naming the field and its range)."""
    for name, (low, high) in RANGES.items():
        flag = NEEDS_FLAG.get(name)
        if flag is not None and not settings[flag]:
            continue
        if not low <= settings[name] <= high:
            when = f" when {flag} is on" if flag else ""
            raise invalid_argument(f"{name} must be {low} to {high}{when} ({settings[name]} sent)")


def policy(settings: dict[str, Any]) -> dict[str, Any]:
    """The password rules of these settings, as `password.get_policy()` returns them."""
    return {name: settings[name] for name in POLICY_FIELDS}


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


def policy_violations(password: str, settings: dict[str, Any] = DEFAULT_SETTINGS) -> list[str]:
    """Plain-words list of what the password lacks under these settings (empty when it complies)."""
    problems = []
    if len(password) < settings["minLength"]:
        problems.append(f"at least {settings['minLength']} characters")
    if settings["lowercase"] and not any(c.islower() for c in password):
        problems.append("a lowercase letter")
    if settings["uppercase"] and not any(c.isupper() for c in password):
        problems.append("an uppercase letter")
    if settings["number"] and not any(c.isdigit() for c in password):
        problems.append("a number")
    if settings["nonAlphanumeric"] and all(c.isalnum() for c in password):
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


def reused_password(amount: int) -> DescopeError:
    """The 400 for a password among the user's last `amount` ones (the policy's reuse rule)."""
    return DescopeError(
        400,
        "E062902",
        "Password does not meet the password policy",
        f"Password must differ from the last {amount} passwords of the user",
    )


def validate_password(password: str, settings: dict[str, Any] = DEFAULT_SETTINGS) -> None:
    """Raise `weak_password` unless the password complies with these settings."""
    problems = policy_violations(password, settings)
    if problems:
        raise weak_password(problems)


def password_disabled() -> DescopeError:
    """Password authentication switched off by `configure_settings` (code chosen here)."""
    return DescopeError(
        400,
        "E062901",
        "Password authentication is disabled",
        "Passwords are disabled in this project's (or tenant's) password settings",
    )


def locked_out(attempts: int) -> DescopeError:
    """Sign-in refused after `attempts` wrong passwords in a row (the lock setting; code chosen here).

    It lasts until the password is set again: by management (set active or temporary) or by the
    reset flow (a verified code, then `password.update`)."""
    return DescopeError(
        401,
        "E062903",
        "User locked out",
        f"Too many wrong passwords ({attempts} in a row): reset the password to sign in again",
    )


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


def strictest(settings: list[dict[str, Any]]) -> dict[str, Any]:
    """One settings dict meeting every one given (a user in tenants with their own settings must meet
    each): enabled only if all are, the longest minimum, every required class, the shortest expiry,
    the longest reuse memory and the fewest attempts before a lock."""
    if len(settings) == 1:
        return dict(settings[0])
    merged = dict(DEFAULT_SETTINGS)
    merged["enabled"] = all(s["enabled"] for s in settings)
    merged["minLength"] = max(s["minLength"] for s in settings)
    for name in ("lowercase", "uppercase", "number", "nonAlphanumeric", "expiration", "reuse", "lock"):
        merged[name] = any(s[name] for s in settings)
    for flag, amount, pick in (
        ("expiration", "expirationWeeks", min),
        ("reuse", "reuseAmount", max),
        ("lock", "lockAttempts", min),
    ):
        values = [s[amount] for s in settings if s[flag]]
        merged[amount] = pick(values) if values else 0
    return merged
