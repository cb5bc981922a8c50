"""Connection profiles (project, base URL, anonymous tenant) in the user config dir; never a secret.

A profile's management key lives only in the OS keyring (`settings.key_store`, one entry per profile
name). `ProfileStore` keeps the rest in `profiles.json` (`schema_version` + migrators, atomic writes)
and keeps both in step: storing a profile stores its key first, renaming moves the key, removing a
profile removes its key. Those methods block on the keyring, so the GUI runs them with
`asyncio.to_thread`.

A profile also holds how its project's anonymous users are culled (grace, keep-rules, one or two
stages) and whether the conversion wizard may attest an address; the GUI and `anonconsole cull` both
take them as their defaults.

The local users snapshot (`settings.user_snapshot`, one file per profile name in the cache dir) is
kept in step too: removed with its profile, under the old name on a rename, when the profile is
aimed at another project or service (its users are not that one's), and when `keep_snapshot` is
turned off. The file goes before anything else changes: a snapshot lost is only a slower start, one
left behind would keep users' data that should be gone.

The headless CLI may take the key from the `DESCOPE_MANAGEMENT_KEY` environment variable instead
(`resolve_key(profile, allow_env=True)`), and says so; the GUI never does.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME
from anonconsole.core.cull import KeepRule, Stage
from anonconsole.settings import key_store, paths
from anonconsole.settings.files import write_atomically
from anonconsole.settings.sandbox_protocol import DEFAULT_PROJECT_ID
from anonconsole.settings.user_snapshot import remove_snapshot, snapshot_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
FILE_NAME = "profiles.json"
SANDBOX_PROFILE = "Sandbox (demo)"
DEFAULT_BASE_URL = "https://api.descope.com"
# Where `anonconsole sandbox serve` listens by default (docs/contracts.md §1). The console's own
# sandbox takes a free port instead: only the built-in profile reaches it (`aims_at_console_sandbox`).
LOCAL_SANDBOX_URL = "http://127.0.0.1:8788"
ENV_KEY = "DESCOPE_MANAGEMENT_KEY"
MAX_NAME_LENGTH = 80
MAX_GRACE_DAYS = 3650
MAX_DISABLED_FOR_DAYS = 3650
# Long enough for a real owner of a disabled account to notice and ask for it back.
DEFAULT_DISABLED_FOR_DAYS = 30

_PROJECT_ID_CHARS = re.compile(r"[A-Za-z0-9]+")
_DEFAULT_PROJECT_ID_LENGTH = 28  # "P" + 27
_REGIONAL_PROJECT_ID_LENGTH = 32  # and longer (descope-api.md §1.3)
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


@dataclass(frozen=True)
class Profile:
    """One Descope project the console can connect to; no secret in it.

    Attributes:
        name: what the user calls it; also the name of its keyring entry.
        project_id: `P…` project ID.
        base_url: service root without a trailing slash; empty for the built-in sandbox, whose
            URL is only known once it has started on a free port.
        anonymous_tenant_id: the anonymous tenant's ID, or empty to look it up by name.
        anonymous_tenant_name: the name to look the tenant up by when there is no ID.
        grace_days: extra days past the lifetime before an anonymous user is a cull candidate.
        keep_rules: keep-rule texts (`core.cull.KeepRule.parse`): users an app marks as owning data
            worth keeping are never culled.
        two_stage_cull: cull by disabling first (reversible) and deleting, in a later run, the users
            the console disabled at least `disabled_for_days` ago; else delete at once.
        disabled_for_days: how long a user stays disabled before the second stage deletes it.
        allow_attestation: whether the conversion wizard may convert a user on an address the
            operator attests to (no verification code); False forbids it for this project.
        keep_snapshot: keep a local snapshot of the users (`settings.user_snapshot`) for an instant
            start; off, it is never written, and the file is removed when the profile is saved.
        is_sandbox: the built-in sandbox profile (started locally, key generated, not deletable).
    """

    name: str
    project_id: str
    base_url: str = DEFAULT_BASE_URL
    anonymous_tenant_id: str = ""
    anonymous_tenant_name: str = ANONYMOUS_TENANT_NAME
    grace_days: int = 0
    keep_rules: tuple[str, ...] = ()
    two_stage_cull: bool = False
    disabled_for_days: int = DEFAULT_DISABLED_FOR_DAYS
    allow_attestation: bool = True
    keep_snapshot: bool = True
    is_sandbox: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep_rules", tuple(self.keep_rules))  # a list from JSON, say

    def to_json(self) -> dict[str, Any]:
        """The profile as stored in the file."""
        data = dataclasses.asdict(self)
        data["keep_rules"] = list(self.keep_rules)
        return data

    def parsed_keep_rules(self) -> tuple[KeepRule, ...]:
        """The keep-rules as the cull reads them; ValueError for one that is not a rule (a stored
        profile's are checked when the file is read)."""
        return tuple(KeepRule.parse(text) for text in self.keep_rules)

    @property
    def cull_stages(self) -> tuple[Stage, ...]:
        """The stages one cull run goes through, in order: delete; or, in two stages, delete the
        users disabled long enough ago first, then disable the new candidates (so a user disabled
        in a run is never deleted by the same run, whatever `disabled_for_days` is)."""
        if self.two_stage_cull:
            return (Stage.DELETE_DISABLED, Stage.DISABLE)
        return (Stage.DELETE,)

    @classmethod
    def from_json(cls, data: object) -> Profile:
        """A profile from the file; unknown fields are dropped (so they are never written back).

        Raises ValueError saying which field is wrong: a value of the wrong type would otherwise
        fail much later, far from the file (a number where the dialog expects text, say).
        """
        if not isinstance(data, dict):
            raise ValueError(f"is {_shown(data)}, not an object")
        for name in ("name", "project_id"):
            if name not in data:
                raise ValueError(f"has no {name}")
        values = {name: value for name, value in data.items() if name in _FIELD_TYPES}
        for name, value in values.items():
            problem = _field_problem(name, value)
            if problem:
                raise ValueError(f"has {name} {_shown(value)}, {problem}")
        return cls(**values)


_FIELD_TYPES: dict[str, type] = {
    "name": str,
    "project_id": str,
    "base_url": str,
    "anonymous_tenant_id": str,
    "anonymous_tenant_name": str,
    "grace_days": int,
    "keep_rules": list,
    "two_stage_cull": bool,
    "disabled_for_days": int,
    "allow_attestation": bool,
    "keep_snapshot": bool,
    "is_sandbox": bool,
}
_TYPE_WORDS = {
    str: "not text",
    int: "not a whole number",
    bool: "not true or false",
    list: "not a list of keep-rules",
}
_DAY_BOUNDS = {"grace_days": MAX_GRACE_DAYS, "disabled_for_days": MAX_DISABLED_FOR_DAYS}


def _field_problem(name: str, value: object) -> str | None:
    """Why a stored field's value cannot be used (None when it can). `True` is no number here."""
    wanted = _FIELD_TYPES[name]
    if type(value) is not wanted and not (wanted is list and type(value) is tuple):
        return _TYPE_WORDS[wanted]  # exact: bool is an int subclass, and neither is a float
    if isinstance(value, str) and name == "name" and not value.strip():
        return "blank"
    highest = _DAY_BOUNDS.get(name)
    if isinstance(value, int) and highest is not None and not 0 <= value <= highest:
        return f"not between 0 and {highest}"
    if isinstance(value, list | tuple):
        if not all(isinstance(item, str) for item in value):
            return "not a list of keep-rule texts"
        problem = check_keep_rules(value)
        return f"which holds a rule that is not one ({problem.rstrip('.')})" if problem else None
    return None


def _shown(value: object) -> str:
    """A stored value as a short phrase for a message (a huge or deep value is cut)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


SANDBOX = Profile(
    name=SANDBOX_PROFILE,
    project_id=DEFAULT_PROJECT_ID,
    base_url="",
    is_sandbox=True,
)


# -- errors ---------------------------------------------------------------------------------------


class ConfigError(Exception):
    """A profile operation refused; `user_message` says why in plain words.

    Attributes:
        user_message: one or two sentences for the dialog or the terminal.
    """

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class ValidationError(ConfigError):
    """The profile's values are not acceptable.

    Attributes:
        problems: field name (`name`, `project_id`, `base_url`, `key`, `anonymous_tenant`,
            `grace_days`, `keep_rules`, `disabled_for_days`) → the sentence to show next to it.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


class KeyMissing(ConfigError):
    """No management key is stored for the profile (and none was accepted from the environment)."""


class ProfileFileError(ConfigError):
    """The profiles file cannot be used (written by a newer version, or unreadable)."""


# -- validation: each check returns None when fine, else the sentence to show ----------------------


def check_name(name: str, taken: Iterable[str] = ()) -> str | None:
    """A profile name: present, not too long, not one of `taken` (case-insensitively)."""
    name = name.strip()
    if not name:
        return "Give the profile a name."
    if len(name) > MAX_NAME_LENGTH:
        return f"Keep the profile name under {MAX_NAME_LENGTH} characters."
    if name.casefold() in {other.casefold() for other in taken}:
        return f"A profile named “{name}” already exists; choose another name."
    return None


def check_project_id(project_id: str) -> str | None:
    """Descope's project ID shape: "P" + 27 letters/digits, or 32+ for a regional project."""
    project_id = project_id.strip()
    if not project_id:
        return "Enter the project ID (Descope console → Project settings)."
    if not project_id.startswith("P"):
        return "A project ID starts with a capital P, like P2abc…; copy it from Project settings."
    if not _PROJECT_ID_CHARS.fullmatch(project_id):
        return "A project ID has only letters and digits; copy it again from Project settings."
    length = len(project_id)
    if length != _DEFAULT_PROJECT_ID_LENGTH and length < _REGIONAL_PROJECT_ID_LENGTH:
        return (
            f"A project ID has {_DEFAULT_PROJECT_ID_LENGTH} characters ({_REGIONAL_PROJECT_ID_LENGTH} "
            f"or more for a regional project); this one has {length}."
        )
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` is this computer (the only place plain http is allowed)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str | None:
    """An https URL with a host (http only for this computer), no credentials, query or fragment."""
    url = url.strip()
    if not url:
        return "Enter the base URL, for example https://api.descope.com."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "The base URL must start with https:// (for example https://api.descope.com)."
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "The port in the base URL is not a number between 1 and 65535."
    if not host:
        return "The base URL has no host name after https://."
    if port == 0:
        return "The port in the base URL is not a number between 1 and 65535."
    if parts.username is not None or parts.password is not None:
        return "The base URL must not contain a user name or password."
    if parts.query or parts.fragment:
        return "The base URL must not contain ? or #; give only the address of the service."
    if parts.scheme == "http" and not is_loopback(host):
        return (
            f"Use https:// for {host}: plain http:// is only allowed for this computer "
            "(localhost, 127.0.0.1), where the sandbox runs."
        )
    return None


def check_key(key: str, *, required: bool) -> str | None:
    """A management key: present when `required` (a new profile), one piece without spaces."""
    key = key.strip()
    if not key:
        return "Enter the management key (Descope console → Company → Management keys)." if required else None
    if any(char.isspace() for char in key):
        return "The management key contains spaces or line breaks; copy it again in one piece."
    return None


def check_grace_days(days: int) -> str | None:
    """A grace period in whole days between 0 and ten years."""
    if not 0 <= days <= MAX_GRACE_DAYS:
        return f"The grace period is between 0 and {MAX_GRACE_DAYS} days."
    return None


def check_disabled_for_days(days: int) -> str | None:
    """How long the first stage's users stay disabled: whole days between 0 and ten years."""
    if not 0 <= days <= MAX_DISABLED_FOR_DAYS:
        return f"Users stay disabled between 0 and {MAX_DISABLED_FOR_DAYS} days before they are deleted."
    return None


def check_keep_rule(text: str) -> str | None:
    """One keep-rule's text, as `core.cull.KeepRule.parse` reads it; its sentence when it is not one."""
    try:
        KeepRule.parse(text)
    except ValueError as exc:
        return str(exc)
    return None


def check_keep_rules(texts: Iterable[str]) -> str | None:
    """The first keep-rule that is not one, and why; None when all are rules."""
    for text in texts:
        problem = check_keep_rule(text)
        if problem:
            return problem
    return None


def normalized_keep_rules(texts: Iterable[str]) -> tuple[str, ...]:
    """Each rule in the one spelling `KeepRule.text` gives it, blanks and repeats gone (a rule that
    does not parse is only stripped, for the check to name it)."""
    found: dict[str, None] = {}
    for text in texts:
        if text.strip():
            found.setdefault(_spelled(text))
    return tuple(found)


def _spelled(text: str) -> str:
    """A rule's text as `KeepRule.text` spells it; stripped only when it is not a rule."""
    try:
        return KeepRule.parse(text).text
    except ValueError:
        return text.strip()


def check_anonymous_tenant(tenant_id: str, tenant_name: str) -> str | None:
    """The anonymous tenant must be named somehow: its ID, or the name to look it up by."""
    if not tenant_id.strip() and not tenant_name.strip():
        return "Give the anonymous tenant's ID, or its name to look it up by."
    return None


def normalized(profile: Profile) -> Profile:
    """The profile with surrounding spaces gone and no trailing slash on the URL (it yields `//v1`)."""
    return dataclasses.replace(
        profile,
        name=profile.name.strip(),
        project_id=profile.project_id.strip(),
        base_url=profile.base_url.strip().rstrip("/"),
        anonymous_tenant_id=profile.anonymous_tenant_id.strip(),
        anonymous_tenant_name=profile.anonymous_tenant_name.strip(),
        keep_rules=normalized_keep_rules(profile.keep_rules),
    )


def running_sandbox_url() -> str | None:
    """The URL of the console's own sandbox while it runs (from its state file), else None."""
    try:
        state = json.loads(paths.sandbox_state_file().read_text(encoding="utf-8"))
        return str(state["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _loopback_port(url: str) -> int | None:
    """The port of a URL on this computer (80/443 when none is given), else None."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return None
    if not is_loopback(host):
        return None
    return port or (443 if parts.scheme == "https" else 80)


def aims_at_console_sandbox(profile: Profile, running_url: str | None = None) -> bool:
    """Whether an ordinary profile names the console's own sandbox by its address: the sandbox's
    project ID on this computer, at the port of `LOCAL_SANDBOX_URL` (the connect dialog's "Local
    sandbox") or of the sandbox running now (`running_url`, copied from the status bar, say).

    Such a profile is refused rather than treated as the built-in one: the console's sandbox takes
    a free port at every start and accepts only the built-in profile's generated key, so the
    built-in profile is the one way to reach it; resolving a second profile to it would need the
    connection code to special-case it and would silently ignore the key typed for it. A sandbox
    on another port (`anonconsole sandbox serve --port 0`, the tests' sandboxes) is an ordinary
    service, and so is one served under a project ID of its own.
    """
    if profile.is_sandbox or profile.project_id.strip() != DEFAULT_PROJECT_ID:
        return False
    port = _loopback_port(profile.base_url)
    if port is None:
        return False
    ports = {_loopback_port(LOCAL_SANDBOX_URL)}
    if running_url:
        ports.add(_loopback_port(running_url))
    return port in ports


def console_sandbox_sentence(name: str = "") -> str:
    """Why a profile (called `name`, when given) must not aim at the console's sandbox, and what instead."""
    which = f"“{name}” points" if name else "This points"
    return (
        f"{which} at the console's own sandbox, whose port changes at every start and which only "
        f"takes its generated key: connect with the built-in profile “{SANDBOX_PROFILE}” instead. "
        "For a sandbox you run yourself (`anonconsole sandbox serve`), start it with a project ID "
        "of its own (--project-id) and use that."
    )


def problems_of(
    profile: Profile,
    *,
    taken: Iterable[str] = (),
    key: str = "",
    key_required: bool,
    running_sandbox: str | None = None,
) -> dict[str, str]:
    """Every problem of a profile (and the key typed with it), by field; empty when all is fine.

    `running_sandbox`: the URL of the console's sandbox running now, if any (`running_sandbox_url`).
    """
    checks: dict[str, str | None] = {"name": check_name(profile.name, taken)}
    if not profile.is_sandbox:
        checks["project_id"] = check_project_id(profile.project_id)
        checks["base_url"] = check_base_url(profile.base_url) or (
            console_sandbox_sentence() if aims_at_console_sandbox(profile, running_sandbox) else None
        )
        checks["key"] = check_key(key, required=key_required)
    checks["anonymous_tenant"] = check_anonymous_tenant(
        profile.anonymous_tenant_id, profile.anonymous_tenant_name
    )
    checks["grace_days"] = check_grace_days(profile.grace_days)
    checks["keep_rules"] = check_keep_rules(profile.keep_rules)
    checks["disabled_for_days"] = check_disabled_for_days(profile.disabled_for_days)
    return {name: sentence for name, sentence in checks.items() if sentence}


def regional_base_url(project_id: str) -> str | None:
    """The regional URL the SDK derives from a 32+ character project ID (descope-api.md §1.3)."""
    project_id = project_id.strip()
    if len(project_id) < _REGIONAL_PROJECT_ID_LENGTH or check_project_id(project_id):
        return None
    return f"https://api.{project_id[1:5].lower()}.descope.com"


# -- the file ---------------------------------------------------------------------------------------

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _from_unversioned(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (no `schema_version`): the same layout; dropping unknown fields happens on load."""
    return {**data, "schema_version": 1}


def _with_cull_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: each profile gains the cull's keep-rules and stages and the conversion's
    attestation switch, at the values that behave as version 1 did (no keep-rules, delete at once,
    attested conversions allowed). Anything that is not a profile is left for `_apply` to refuse."""
    listed = data.get("profiles")
    if isinstance(listed, list):
        defaults = {
            "keep_rules": [],
            "two_stage_cull": False,
            "disabled_for_days": DEFAULT_DISABLED_FOR_DAYS,
            "allow_attestation": True,
        }
        listed = [{**defaults, **item} if isinstance(item, dict) else item for item in listed]
        data = {**data, "profiles": listed}
    return {**data, "schema_version": 2}


def _with_snapshot_setting(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 → 3: each profile gains `keep_snapshot`, on (the users start from a local snapshot
    unless the operator turns it off). Anything that is not a profile is left for `_apply` to refuse."""
    listed = data.get("profiles")
    if isinstance(listed, list):
        listed = [{"keep_snapshot": True, **item} if isinstance(item, dict) else item for item in listed]
        data = {**data, "profiles": listed}
    return {**data, "schema_version": 3}


# MIGRATIONS[n] turns a version-n document into version n + 1 (napari's settings migrators).
MIGRATIONS: dict[int, Migration] = {0: _from_unversioned, 1: _with_cull_settings, 2: _with_snapshot_setting}


class NewerFile(ProfileFileError):
    """The profiles file was written by a newer AnonConsole (a higher `schema_version`).

    Attributes:
        version: the file's schema version.
    """

    def __init__(self, version: int) -> None:
        super().__init__(
            f"The profiles file was written by a newer AnonConsole (schema {version}); "
            "update AnonConsole to use it."
        )
        self.version = version


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a loaded document up to `SCHEMA_VERSION`, or refuse one written by a newer version.

    Raises NewerFile, or ValueError when `schema_version` is not a whole number >= 0 (a string
    "1" is damage, not a newer file).
    """
    version = data.get("schema_version", 0)
    if type(version) is not int or version < 0:
        raise ValueError(f"schema_version is {_shown(version)}, not a whole number")
    if version > SCHEMA_VERSION:
        raise NewerFile(version)
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data


def _document(raw: bytes) -> dict[str, Any]:
    """The file's JSON object; ValueError saying in a few words why there is none."""
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (some editors add one) is fine
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"it is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"it holds {_shown(data)}, not a JSON object")
    return data


def _free_name(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`…: the first that does not exist (never replace an earlier one)."""
    candidate, number = path, 2
    while candidate.exists():
        candidate, number = path.with_name(f"{path.name}-{number}"), number + 1
    return candidate


@dataclass(frozen=True)
class ResolvedKey:
    """A management key and where it came from. The key never shows in `repr`.

    Attributes:
        key: the management key (secret).
        source: "keyring" or "environment".
        notice: a sentence to tell the user when the key did not come from the keyring, else "".
    """

    key: str = field(repr=False)
    source: str
    notice: str = ""


class ProfileStore:
    """The profiles file and, through `anonconsole.settings.key_store`, each profile's keyring entry.

    The built-in sandbox profile is always there (first) and cannot be removed or renamed. Methods
    that touch the keyring (`put`, `remove`, `duplicate`) block; call them off the UI
    thread. Profiles are replaced as a whole tuple, so a reader on another thread never sees half
    a change.

    Attributes:
        path: the JSON file.
        notice: a sentence for the user when loading had to set an unreadable file aside, else "".
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / FILE_NAME
        self.notice = ""
        self._frozen = False
        self._profiles: tuple[Profile, ...] = (SANDBOX,)
        self._last_profile: str | None = None

    # -- loading and saving ---------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> ProfileStore:
        """The store as saved; defaults when there is no file. Never raises for the file's content:
        a file that cannot be used (damaged, wrong types, a folder, from a newer version) is set
        aside intact next to it, `notice` says so, and the store holds the built-in profile only."""
        store = cls(path)
        try:
            raw = store.path.read_bytes()
        except FileNotFoundError:
            return store
        except IsADirectoryError:
            store._set_aside("it is a folder, not a file")
            return store
        except OSError as exc:
            store._set_aside(f"{exc.strerror or type(exc).__name__}")
            return store
        try:
            store._apply(migrate(_document(raw)))
        except NewerFile as newer:
            store._set_aside(f"schema {newer.version}", newer=True)
        except ValueError as exc:
            store._set_aside(str(exc))
        running = running_sandbox_url()
        aimed = [p.name for p in store._profiles if aims_at_console_sandbox(p, running)]
        if aimed and not store.notice:  # kept (the user's data), but it cannot work: say so once
            store.notice = console_sandbox_sentence(aimed[0])
            log.warning("%s", store.notice)
        return store

    def _apply(self, data: dict[str, Any]) -> None:
        listed = data.get("profiles", [])
        if not isinstance(listed, list):
            raise ValueError(f"profiles is {_shown(listed)}, not a list")
        profiles: list[Profile] = []
        for number, item in enumerate(listed, start=1):
            try:
                profiles.append(Profile.from_json(item))
            except ValueError as exc:
                raise ValueError(f"profile {number} {exc}") from None
        self._profiles = self._with_sandbox(profiles)
        last = data.get("last_profile")
        self._last_profile = last if isinstance(last, str) and last in self.names() else None

    def _set_aside(self, reason: str, *, newer: bool = False) -> None:
        """Keep a file that cannot be used for inspection (renamed, never changed), start from the
        defaults, and say so once: in `notice` and in the log."""
        kind = "newer" if newer else "unreadable"
        aside = _free_name(self.path.with_name(f"{self.path.name}.{kind}-{time.strftime('%Y%m%d-%H%M%S')}"))
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            self._frozen = True  # never overwrite what could not be moved away
            what = "was written by a newer AnonConsole" if newer else "could not be read"
            self.notice = (
                f"The profiles file {self.path} {what} ({reason}) and could not be set aside "
                f"({exc.strerror or type(exc).__name__}); AnonConsole started with the built-in "
                "sandbox profile only and will not change that file. Move it away, then restart."
            )
        else:
            if newer:
                self.notice = (
                    f"The profiles file {self.path} was written by a newer AnonConsole ({reason}); it "
                    f"was set aside as {aside.name} and AnonConsole started with the built-in sandbox "
                    "profile only. Update AnonConsole and move the file back to use those profiles."
                )
            else:
                self.notice = (
                    f"The profiles file {self.path} could not be read ({reason}); it was set aside as "
                    f"{aside.name} and AnonConsole started with the built-in sandbox profile only. Add "
                    "your profiles again, or repair that file and move it back."
                )
        log.warning("%s", self.notice)

    @staticmethod
    def _with_sandbox(profiles: Iterable[Profile]) -> tuple[Profile, ...]:
        """The sandbox first (its stored settings when present), then the others in order."""
        stored = [p for p in profiles if p.name == SANDBOX_PROFILE]
        sandbox = dataclasses.replace(
            stored[0] if stored else SANDBOX,
            project_id=SANDBOX.project_id,
            base_url=SANDBOX.base_url,
            is_sandbox=True,
        )
        return (
            sandbox,
            *(dataclasses.replace(p, is_sandbox=False) for p in profiles if p.name != SANDBOX_PROFILE),
        )

    def save(self) -> None:
        """Write the file atomically (temp file + rename); refused while an unusable file that
        could not be set aside is still in its place."""
        if self._frozen:
            raise ProfileFileError(self.notice)
        document = {
            "schema_version": SCHEMA_VERSION,
            "last_profile": self._last_profile,
            "profiles": [p.to_json() for p in self._profiles],
        }
        write_atomically(self.path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    # -- reading --------------------------------------------------------------------------------

    def profiles(self) -> list[Profile]:
        """All profiles, the sandbox first."""
        return list(self._profiles)

    def names(self) -> list[str]:
        return [p.name for p in self._profiles]

    def get(self, name: str) -> Profile:
        """The profile called `name`; KeyError when there is none."""
        for profile in self._profiles:
            if profile.name == name:
                return profile
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    @property
    def last_profile(self) -> str | None:
        """The profile connected to last time (None before the first connection)."""
        return self._last_profile

    def set_last_profile(self, name: str) -> None:
        """Remember `name` as the profile to connect to on start-up, and save."""
        self.get(name)
        self._last_profile = name
        self.save()

    def startup_profile(self) -> Profile:
        """The profile to try on start-up: the last one used, else the sandbox."""
        if self._last_profile is not None:
            return self.get(self._last_profile)
        return self._profiles[0]

    def unique_name(self, wanted: str) -> str:
        """`wanted`, or `wanted (2)`, `(3)`… : the first name no profile has yet."""
        taken = {name.casefold() for name in self.names()}
        candidate, number = wanted, 2
        while candidate.casefold() in taken:
            candidate, number = f"{wanted} ({number})", number + 1
        return candidate

    def validate(
        self,
        profile: Profile,
        *,
        key: str = "",
        replacing: str | None = None,
        key_required: bool | None = None,
    ) -> Profile:
        """The normalised profile, or ValidationError listing every problem by field.

        A key is required for a new profile (`replacing` None) unless `key_required` says otherwise.
        """
        profile = normalized(profile)
        taken = [name for name in self.names() if name != replacing]
        required = replacing is None if key_required is None else key_required
        problems = problems_of(
            profile, taken=taken, key=key, key_required=required, running_sandbox=running_sandbox_url()
        )
        if replacing is not None and replacing in self:
            was_sandbox = self.get(replacing).is_sandbox
            if was_sandbox and profile.name != SANDBOX_PROFILE:
                problems["name"] = "The built-in sandbox profile cannot be renamed."
        elif profile.is_sandbox:
            problems["name"] = "Only the built-in sandbox profile runs the local sandbox."
        if problems:
            raise ValidationError(problems)
        return profile

    # -- changing (these touch the keyring: call them off the UI thread) ------------------------

    def put(self, profile: Profile, *, key: str = "", replacing: str | None = None) -> Profile:
        """Add a profile, or replace the one called `replacing` (it may be renamed), and save.

        A non-empty `key` is stored in the keyring first, so the file never names a profile whose
        key failed to store. An empty key keeps the stored one (moved along on a rename). Before
        either, the users snapshots that must not stay are removed (`_stale_snapshots`).
        Raises ValidationError, ConfigError (a snapshot that could not be removed), or
        key_store.KeyringUnavailable.
        """
        profile = self.validate(profile, key=key, replacing=replacing)
        old = self.get(replacing) if replacing is not None and replacing in self else None
        _remove_snapshots(_stale_snapshots(old, profile))
        key = key.strip()
        if profile.is_sandbox:
            key = ""  # the sandbox's key is generated, never typed
        renamed = replacing is not None and replacing != profile.name
        if key:
            key_store.set_key(profile.name, key)
        elif renamed:
            assert replacing is not None
            self._copy_key(replacing, profile.name)
        if renamed:
            assert replacing is not None
            key_store.delete_key(replacing)
        self._replace(profile, replacing)
        self.save()
        return profile

    def _copy_key(self, source: str, target: str) -> None:
        """Give `target` the key stored for `source`, if any (duplicate, rename)."""
        stored = key_store.get_key(source)
        if stored is not None:
            key_store.set_key(target, stored)

    def _replace(self, profile: Profile, replacing: str | None) -> None:
        profiles = list(self._profiles)
        names = [p.name for p in profiles]
        if replacing is not None and replacing in names:
            profiles[names.index(replacing)] = profile
        else:
            profiles.append(profile)
        self._profiles = self._with_sandbox(profiles)
        if replacing is not None and self._last_profile == replacing:
            self._last_profile = profile.name

    def duplicate(self, name: str, new_name: str | None = None) -> Profile:
        """A copy of `name` (key included) under `new_name` or "<name> (copy)", saved.

        Not the built-in sandbox: a copy would be an ordinary profile aimed at the console's sandbox,
        which cannot reach it (`aims_at_console_sandbox`).
        """
        source = self.get(name)
        if source.is_sandbox:
            raise ConfigError(
                f"The built-in profile “{SANDBOX_PROFILE}” cannot be duplicated: only it can reach the "
                "console's sandbox, whose port changes at every start. Change its anonymous tenant "
                "and cull settings in place."
            )
        copy = dataclasses.replace(
            source, name=new_name or self.unique_name(f"{name} (copy)"), is_sandbox=False
        )
        copy = self.validate(copy, key_required=False)  # the key is copied below
        _remove_snapshots(_stale_snapshots(None, copy))  # the copy's users are loaded afresh
        self._copy_key(name, copy.name)
        self._replace(copy, None)
        self.save()
        return copy

    def remove(self, name: str) -> None:
        """Delete a profile, its users snapshot and its key (those first: a profile never outlives
        them); not the sandbox. Raises ConfigError, or key_store.KeyringUnavailable."""
        profile = self.get(name)
        if profile.is_sandbox:
            raise ConfigError("The built-in sandbox profile cannot be removed.")
        _remove_snapshots([name])
        key_store.delete_key(name)
        self._profiles = tuple(p for p in self._profiles if p.name != name)
        if self._last_profile == name:
            self._last_profile = None
        self.save()

    def keeps_snapshot(self, profile: Profile) -> bool:
        """Whether a snapshot of `profile`'s users may be written now: the store still holds it
        under that name, aimed at the same project and service, with `keep_snapshot` on.

        The writer asks right before it starts: the profile may have been edited, renamed or
        removed since the users were loaded, and each of those removes the file (a write already
        under way is stopped too: `remove_snapshot` removes its half-written sibling).
        """
        try:
            stored = self.get(profile.name)
        except KeyError:
            return False
        return stored.keep_snapshot and _service(stored) == _service(profile)


def _service(profile: Profile) -> tuple[str, str]:
    """The project and service a profile's users come from (the built-in sandbox's are fixed)."""
    if profile.name == SANDBOX_PROFILE:
        return SANDBOX.project_id, SANDBOX.base_url
    return profile.project_id.strip(), profile.base_url.strip().rstrip("/")


def _stale_snapshots(old: Profile | None, new: Profile) -> list[str]:
    """The profile names whose users snapshot must go when `old` (None: a new profile) is saved as
    `new`. A snapshot is keyed by name and holds one project's users, so: on a rename, the old
    name's (never moved: the next load writes one); a file already under the new name of a new or
    renamed profile (it was another profile's); this profile's when it now aims at another project
    or service, or must not keep one."""
    stale = [old.name] if old is not None and old.name != new.name else []
    fresh = old is None or old.name != new.name or _service(old) != _service(new)
    if fresh or not new.keep_snapshot:
        stale.append(new.name)
    return stale


def _remove_snapshots(names: Iterable[str]) -> None:
    """Remove these profiles' users snapshots; ConfigError naming the file when one cannot be."""
    for name in names:
        try:
            removed = remove_snapshot(name)
        except OSError as exc:
            raise ConfigError(
                f"The users snapshot of “{name}” could not be removed "
                f"({exc.strerror or type(exc).__name__}): delete {snapshot_path(name)} by hand, then "
                "try again."
            ) from exc
        if removed:
            log.info("Removed the users snapshot of “%s”.", name)


def stored_key(profile: Profile) -> str:
    """The profile's key from the keyring (generated once for the sandbox); KeyMissing if none.

    Blocks on the keyring; the GUI calls it with `asyncio.to_thread`.
    """
    if profile.is_sandbox:
        return key_store.get_or_create_key(profile.name)
    key = key_store.get_key(profile.name)
    if key is None:
        raise KeyMissing(
            f"No management key is stored for “{profile.name}”; edit the profile and enter its key."
        )
    return key


def resolve_key(profile: Profile, *, allow_env: bool) -> ResolvedKey:
    """The key to connect with: the keyring's; for the headless CLI only (`allow_env`), else the
    `DESCOPE_MANAGEMENT_KEY` environment variable, with a notice saying it was used.

    Raises KeyMissing, or key_store.KeyringUnavailable when the keyring cannot be used and no key
    was accepted from the environment. Blocks on the keyring.
    """
    try:
        return ResolvedKey(stored_key(profile), "keyring")
    except (KeyMissing, key_store.KeyringUnavailable) as problem:
        from_env = os.environ.get(ENV_KEY, "").strip() if allow_env else ""
        if not allow_env:
            raise
        if not from_env:
            raise type(problem)(
                f"{problem.user_message} On the command line you may set {ENV_KEY} instead."
            ) from None
        why = (
            problem.user_message
            if isinstance(problem, key_store.KeyringUnavailable)
            else "the keyring has none"
        )
        notice = (
            f"Using the management key from the {ENV_KEY} environment variable for “{profile.name}” "
            f"({why.rstrip('.')})."
        )
        log.info("%s", notice)
        return ResolvedKey(from_env, "environment", notice)
