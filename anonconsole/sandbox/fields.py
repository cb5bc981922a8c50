"""What the sandbox accepts as a user's login ID, name, email address or phone number.

Descope documents no rules for login IDs and names beyond "unique" (docs.descope.com, user
management); the rules here are chosen (docs/contracts.md §7): printable text a person could type and
read back, without the characters that make two IDs look alike (controls, invisible formatting,
right-to-left overrides), of a bounded length. Emails and phones follow the checks Descope's own
Python SDK makes before it sends a code (`email_validator` without DNS, and the SDK's PHONE_REGEX).
Each refusal is a Descope-shaped 400 (E011004) saying which rule was broken.
"""

from __future__ import annotations

import re
import unicodedata

from anonconsole.sandbox.errors import invalid_argument

MAX_LOGIN_ID_LENGTH = 256
MAX_NAME_LENGTH = 256
# descope/common.py PHONE_REGEX, ASCII digits only and matched in full (`$` alone allows a final "\n").
PHONE_RE = re.compile(r"(?=.*\d{4,})\+?[\d\s\-\(\)\.#xX]{6,24}", re.ASCII)
# What the live service reads as a phone when it fills `phone` from a login ID.
E164_RE = re.compile(r"\+\d{6,15}", re.ASCII)

# Unicode categories a login ID may not hold: controls, invisible format characters (zero-width
# spaces, bidirectional overrides), surrogates, private use, and line or paragraph separators.
_LOGIN_ID_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
# Names are free text in any script: they keep joiners and direction marks (ZWNJ, RLM), but not
# controls or the embeddings, overrides and isolates that reorder what is shown around them.
_NAME_REFUSED = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _shown(value: str) -> str:
    """A value as an error message may quote it: escaped, and cut when long."""
    text = ascii(value[:40])
    return text + (" (cut)" if len(value) > 40 else "")


def _character(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _first_refused(value: str, categories: frozenset[str], chars: frozenset[str] = frozenset()) -> str | None:
    """The first character of `value` in one of these Unicode categories or among `chars`."""
    return next((c for c in value if c in chars or unicodedata.category(c) in categories), None)


def _odd_space(value: str) -> str | None:
    """The first space that is not U+0020 (no-break, ideographic, thin...): a lookalike in an ID."""
    return next((c for c in value if c != " " and unicodedata.category(c) == "Zs"), None)


def check_login_id(value: str) -> None:
    """Refuse a login ID Descope's users could not type or tell apart from another."""
    problem = None
    if not value.strip():
        problem = "it is empty or only spaces"
    elif len(value) > MAX_LOGIN_ID_LENGTH:
        problem = f"it is longer than {MAX_LOGIN_ID_LENGTH} characters ({len(value)})"
    elif value != value.strip():
        problem = "it starts or ends with a space"
    elif (char := _first_refused(value, _LOGIN_ID_REFUSED) or _odd_space(value)) is not None:
        problem = f"it holds the invisible, control or lookalike character {_character(char)}"
    if problem:
        raise invalid_argument(f"The login ID {_shown(value)} is not valid: {problem}")


def check_name(field: str, value: str) -> None:
    """Refuse a name (display, given, middle, family) with controls or reordering characters."""
    problem = None
    if len(value) > MAX_NAME_LENGTH:
        problem = f"it is longer than {MAX_NAME_LENGTH} characters ({len(value)})"
    elif (char := _first_refused(value, _NAME_REFUSED, _BIDI_CONTROLS)) is not None:
        problem = f"it holds the control character {_character(char)}"
    if problem:
        raise invalid_argument(f"{field} {_shown(value)} is not valid: {problem}")


def email_problem(value: str) -> str | None:
    """Why `value` is no email address by the SDK's check (syntax, no DNS), None when it is one."""
    from email_validator import EmailNotValidError, validate_email  # first use: not at start-up

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def is_email(value: str) -> bool:
    return email_problem(value) is None


def check_email(value: str) -> None:
    """Refuse an email address the SDK would refuse to send a code to; "" clears it and passes."""
    if value and (problem := email_problem(value)) is not None:
        raise invalid_argument(f"email {_shown(value)} is not a valid email address: {problem}")


def is_phone(value: str) -> bool:
    """A phone number by the SDK's rule (digits with optional +, spaces, dashes, dots, brackets)."""
    return PHONE_RE.fullmatch(value) is not None


def is_e164(value: str) -> bool:
    return E164_RE.fullmatch(value) is not None


def check_phone(value: str) -> None:
    """Refuse a phone number the SDK would refuse to text; "" clears it and passes."""
    if value and not is_phone(value):
        raise invalid_argument(
            f"phone {_shown(value)} is not a valid phone number: use digits, optionally with a leading + "
            "(E.164, e.g. +15555550100)"
        )


def check_user_fields(fields: dict[str, object]) -> None:
    """Check every login ID, name, email and phone among a store write's fields (snake_case)."""
    for login_id in _strings(fields.get("login_ids")):
        check_login_id(login_id)
    for key, label in (
        ("name", "name"),
        ("given_name", "givenName"),
        ("middle_name", "middleName"),
        ("family_name", "familyName"),
    ):
        value = fields.get(key)
        if isinstance(value, str):
            check_name(label, value)
    if isinstance(email := fields.get("email"), str):
        check_email(email)
    if isinstance(phone := fields.get("phone"), str):
        check_phone(phone)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []
