"""Demo and bulk data for the sandbox, deterministic (fixed random seed), only into an empty database.

`seed_demo` runs the KB recipe for anonymous users (shared/kb: sign up with a random login id and the
shared default password → add the "Anonymous Users" tenant → replace the password with a random value
that is not kept → sign in now and then) through the store at simulated times, so the demo has
anonymous users of every age, converted users, regular users, users needing attention and test users.

`seed_bulk` writes N users with executemany for scale tests. It stores `passwords.UNUSABLE` for the
anonymous users' password: their random replacement password is by design known to nobody, so an
unusable marker is observably the same, and hashing 200,000 throw-away values would take minutes.
Each bulk sign-in gets a history row and, when it falls in the audit window (the last 30 days, all
Descope keeps), the LoginSucceed audit record a real sign-in writes. It draws its values a column at a
time (numpy arrays over `random.Random(seed).randbytes`), puts the users in creation order, and builds
the bulk tables' indexes once the rows are in: 1,000,000 users in about a minute instead of 4.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from random import Random
from typing import Any

import numpy as np
import numpy.typing as npt

from anonconsole.sandbox import passwords
from anonconsole.sandbox.store import AUDIT_WINDOW_MS, ID_ALPHABET, Store, sign_in_audit_row

SEED = 20240129
DAY = 86400.0
ANON_TENANT = "Anonymous Users"
ACME_TENANT = "Acme Corp"
# 52 weeks: the KB sample's cookieMaxAge 31449599 is 364 days minus one second.
ANON_REFRESH_WEEKS = 52
ANON_SESSION_MINUTES = 10
ANON_LIFETIME = ANON_REFRESH_WEEKS * 7 * DAY
# Shared by every anonymous user at sign-up (KB step 1), replaced right after; it is not a secret
# of anyone and complies with the sandbox policy.
DEFAULT_ANON_PASSWORD = "Anon-Default-Pass1"

DEMO_COUNTS = {
    "anonymous_fresh": 900,
    "anonymous_near_expiry": 250,
    "anonymous_expired": 400,
    "anonymous_never_returned": 300,
    "converted": 350,
    "regular": 700,
    "attention_verified_in_tenant": 40,
    "attention_real_login_in_tenant": 30,
    "attention_disabled_anonymous": 30,
    "test": 5,
}

GIVEN = [
    "Ava",
    "Ben",
    "Chloe",
    "Daniel",
    "Ella",
    "Finn",
    "Grace",
    "Henry",
    "Isla",
    "Jack",
    "Kai",
    "Lena",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Quinn",
    "Ruby",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Willow",
    "Xavier",
    "Yara",
    "Zoe",
    "Amir",
    "Bianca",
    "Carlos",
    "Dana",
    "Eitan",
    "Fatima",
    "Gabriel",
    "Hana",
    "Ivan",
    "Julia",
]
FAMILY = [
    "Anderson",
    "Brown",
    "Carter",
    "Davis",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Johnson",
    "Kim",
    "Lopez",
    "Martin",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quintero",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vargas",
    "Walker",
    "Xu",
    "Young",
    "Zimmerman",
    "Cohen",
    "Levi",
    "Novak",
    "Silva",
]
PLACES = (
    ("New York", "US", "198.51.100."),
    ("London", "GB", "203.0.113."),
    ("Tel Aviv", "IL", "192.0.2."),
    ("Berlin", "DE", "198.51.100."),
    ("Toronto", "CA", "203.0.113."),
    ("Sydney", "AU", "192.0.2."),
)
LOWER_ALNUM = string.ascii_lowercase + string.digits


def random_login_id(rng: Random) -> str:
    """KB-style random login id, e.g. `h89asdf@0ahsd8f.com`."""
    return f"{''.join(rng.choices(LOWER_ALNUM, k=7))}@{''.join(rng.choices(LOWER_ALNUM, k=7))}.com"


def _person(rng: Random, n: int) -> dict[str, str]:
    """A realistic name, an example.com/.org email and a +1 555 01xx phone (numbered to stay unique)."""
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    domain = rng.choice(("example.com", "example.org"))
    return {
        "given_name": given,
        "family_name": family,
        "name": f"{given} {family}",
        "email": f"{given.lower()}.{family.lower()}{n}@{domain}",
        "phone": f"+1{200 + (n // 100) % 800:03d}55501{n % 100:02d}",
    }


class _Demo:
    """One demo seeding run: the store, its random source and the ids it needs."""

    def __init__(self, store: Store, now: float) -> None:
        self.store = store
        self.now = now
        self.rng = Random(SEED)
        self.default_hash = passwords.hash_password(DEFAULT_ANON_PASSWORD)
        self.counts: Counter[str] = Counter()
        self.serial = 0
        self.anon = ""
        self.acme = ""

    def place(self) -> tuple[str, str, str]:
        city, country, prefix = self.rng.choice(PLACES)
        return city, country, f"{prefix}{self.rng.randrange(1, 255)}"

    def sign_in(self, user_id: str, at: float, method: str = "password", tenant: str = "") -> None:
        city, country, ip = self.place()
        self.store.record_sign_in(
            user_id, method=method, ip=ip, tenant=tenant, at=at, city=city, country=country
        )

    def anonymous(self, created: float) -> str:
        """KB recipe steps 1-4 at a simulated time; returns the user id."""
        login_id = random_login_id(self.rng)
        user = self.store.create_user(
            login_id, email=login_id, verified_email=False, password_hash=self.default_hash, at=created
        )
        uid: str = user["userId"]
        self.sign_in(uid, created)
        self.store.update_user(uid, {"user_tenants": [(self.anon, [])]}, at=created + 1)
        if not self.store.check_password(uid, DEFAULT_ANON_PASSWORD):
            raise RuntimeError("demo seed: default password did not verify")
        self.store.set_password(uid, passwords.random_password(self.rng), at=created + 2)
        self.sign_in(uid, created + 2, tenant=self.anon)
        return uid

    def returns(self, uid: str, first: float, last: float, visits: int) -> None:
        """Later sign-ins between `first` and `last`, the last one exactly at `last`."""
        times = sorted(self.rng.uniform(first, last) for _ in range(visits - 1))
        for at in [*times, last]:
            self.sign_in(uid, at, tenant=self.anon)

    def ago(self, low_days: float, high_days: float) -> float:
        return self.now - self.rng.uniform(low_days, high_days) * DAY

    def next_person(self) -> dict[str, str]:
        self.serial += 1
        return _person(self.rng, self.serial)


def _tenants(store: Store, now: float) -> tuple[str, str]:
    """The anonymous tenant (custom session management) and Acme Corp, plus roles."""
    anon = store.create_tenant(ANON_TENANT, at=now - 800 * DAY)["id"]
    settings = store.tenant_settings(anon) or {}
    settings.update(
        enabled=True,
        refreshTokenExpiration=ANON_REFRESH_WEEKS,
        refreshTokenExpirationUnit="weeks",
        sessionTokenExpiration=ANON_SESSION_MINUTES,
        sessionTokenExpirationUnit="minutes",
    )
    store.set_tenant_settings(anon, settings, {})
    acme = store.create_tenant(
        ACME_TENANT, at=now - 700 * DAY, fields={"selfProvisioningDomains": ["acme.example.com"]}
    )["id"]
    for name, description in (("admin", "Full access"), ("support", "Help desk"), ("viewer", "Read only")):
        store.create_role(name, description=description, at=now - 800 * DAY)
    store.create_role("Acme Admin", description="Administers Acme Corp", tenant_id=acme, at=now - 700 * DAY)
    return anon, acme


def _anonymous_kinds(d: _Demo) -> None:
    for _ in range(DEMO_COUNTS["anonymous_fresh"]):
        created = d.ago(1, 60)
        d.returns(
            d.anonymous(created), created, d.ago(0, min(1, (d.now - created) / DAY)), d.rng.randint(1, 6)
        )
    for _ in range(DEMO_COUNTS["anonymous_near_expiry"]):
        last = d.now - ANON_LIFETIME + d.rng.uniform(1, 30) * DAY
        created = last - d.rng.uniform(0, 200) * DAY
        d.returns(d.anonymous(created), created, last, d.rng.randint(1, 4))
    for _ in range(DEMO_COUNTS["anonymous_expired"]):
        last = d.now - ANON_LIFETIME - d.rng.uniform(30, 500) * DAY
        created = last - d.rng.uniform(0, 100) * DAY
        d.returns(d.anonymous(created), created, last, d.rng.randint(1, 3))
    for _ in range(DEMO_COUNTS["anonymous_never_returned"]):
        d.anonymous(d.ago(1, 600))


def _converted(d: _Demo) -> None:
    """Were anonymous; now a verified email (or phone) replaced the random login id; tenant removed."""
    for _ in range(DEMO_COUNTS["converted"]):
        created = d.ago(60, 500)
        uid = d.anonymous(created)
        converted = created + d.rng.uniform(1, 50) * DAY
        person = d.next_person()
        kind = "email" if d.rng.random() < 0.8 else "phone"
        d.store.set_contact(uid, kind, person[kind], verified=True, login_id_mode="replace", at=converted)
        changes: dict[str, Any] = {k: person[k] for k in ("name", "given_name", "family_name")}
        if kind == "phone":
            changes.update(login_ids=[person["phone"]], email="", verified_email=False)
        d.store.update_user(uid, {**changes, "user_tenants": []}, at=converted)
        d.sign_in(uid, converted, method="otp")
        for _ in range(d.rng.randint(0, 5)):
            d.sign_in(uid, d.rng.uniform(converted, d.now), method="otp")


def _regular(d: _Demo) -> None:
    for i in range(DEMO_COUNTS["regular"]):
        person = d.next_person()
        created = d.ago(1, 700)
        roll = d.rng.random()
        status = "disabled" if roll < 0.05 else "invited" if roll < 0.13 else "enabled"
        acme = d.rng.random() < 0.3
        user = d.store.create_user(
            person["email"],
            email=person["email"],
            verified_email=True,
            phone=person["phone"] if i % 3 == 0 else None,
            verified_phone=i % 3 == 0,
            name=person["name"],
            given_name=person["given_name"],
            family_name=person["family_name"],
            status="invited",
            role_names=[d.rng.choice(("viewer", "viewer", "support", "admin"))],
            user_tenants=[(d.acme, ["Acme Admin"] if d.rng.random() < 0.1 else [])] if acme else [],
            custom_attributes={"plan": d.rng.choice(("free", "pro", "team"))},
            at=created,
        )
        if status == "invited":
            continue
        for _ in range(d.rng.randint(1, 6)):
            d.sign_in(
                user["userId"], d.rng.uniform(created, d.now), method="otp", tenant=d.acme if acme else ""
            )
        if status == "disabled":
            d.store.update_user(user["userId"], {"status": "disabled"}, at=d.ago(0, (d.now - created) / DAY))


def _attention(d: _Demo) -> None:
    for _ in range(DEMO_COUNTS["attention_verified_in_tenant"]):
        created = d.ago(30, 300)
        uid = d.anonymous(created)
        person = d.next_person()
        d.store.set_contact(
            uid, "email", person["email"], verified=True, login_id_mode="replace", at=created + DAY
        )
    for _ in range(DEMO_COUNTS["attention_real_login_in_tenant"]):
        person = d.next_person()
        created = d.ago(10, 300)
        user = d.store.create_user(
            person["email"],
            email=person["email"],
            password_hash=d.default_hash,
            user_tenants=[(d.anon, [])],
            at=created,
        )
        d.sign_in(user["userId"], created, tenant=d.anon)
    for _ in range(DEMO_COUNTS["attention_disabled_anonymous"]):
        created = d.ago(10, 300)
        uid = d.anonymous(created)
        d.store.update_user(uid, {"status": "disabled"}, at=created + 3 * DAY)
    for i in range(DEMO_COUNTS["test"]):
        d.store.create_user(f"test-user-{i + 1}@example.com", test=True, status="enabled", at=d.ago(1, 30))


def seed_demo(store: Store, *, now: float) -> dict[str, int]:
    """The demo data set (about 3,000 users); does nothing when the database already has users.

    Returns the number of users per kind (empty when nothing was seeded).
    """
    if store.user_count():
        return {}
    demo = _Demo(store, now)
    saved_rng = store.rng
    store.rng = demo.rng
    try:
        with store.transaction():
            demo.anon, demo.acme = _tenants(store, now)
            for step in (_anonymous_kinds, _converted, _regular, _attention):
                step(demo)
    finally:
        store.rng = saved_rng
    return dict(DEMO_COUNTS)


# --------------------------------------------------------------------------- bulk

BULK_MIX = (("anonymous", 0.80), ("converted", 0.08), ("regular", 0.10), ("attention", 0.02))
_BULK_KINDS = tuple(kind for kind, _ in BULK_MIX)
_BULK_BOUNDS = np.cumsum([share for _, share in BULK_MIX])
CHUNK = 50_000
MAX_RETURNS = 3  # sign-ins after the sign-up, 0 to 3 a user
# --expired-share: those users' last activity is 30 to 500 days past their lifetime (so a grace of up to
# 30 days still culls them); the other anonymous users were last active within the last 300 days.
EXPIRED_SINCE_DAYS = (30.0, 500.0)
ACTIVE_WITHIN_DAYS = 300.0
# The bulk tables, whose secondary indexes are built once after the rows are in (see `_bulk_loading`).
BULK_TABLES = ("users", "login_ids", "user_tenants", "history", "audit")
INDEX_THREADS = 2  # helper threads SQLite may sort with while it builds those indexes


class _Draws:
    """Random values a chunk at a time, as numpy arrays, from one seeded `random.Random`.

    The bytes of `Random.randbytes` are fixed for a seed across Python and numpy versions (numpy's own
    distributions are not promised to be), and an array of draws per column costs a small fraction
    of a Python call per value (~40 per user: ids, login ids, times, places).
    """

    def __init__(self, seed: int) -> None:
        self._rng = Random(seed)

    def uniform(self, shape: int | tuple[int, int]) -> npt.NDArray[np.float64]:
        """Floats in [0, 1), 53 random bits each (as `random.random`)."""
        size = int(np.prod(shape))
        words = np.frombuffer(self._rng.randbytes(8 * size), dtype="<u8")
        return ((words >> np.uint64(11)).astype(np.float64) * 2.0**-53).reshape(shape)

    def below(self, bound: int, shape: int | tuple[int, int]) -> npt.NDArray[np.int64]:
        """Integers in [0, bound)."""
        return (self.uniform(shape) * bound).astype(np.int64)

    def text(self, alphabet: str, count: int, length: int) -> npt.NDArray[np.uint8]:
        """`count` rows of `length` characters of `alphabet` (ASCII), as a byte matrix."""
        letters = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
        return letters[self.below(len(alphabet), (count, length))]


def _strings(matrix: npt.NDArray[np.uint8]) -> list[str]:
    """The rows of an ASCII byte matrix as strings."""
    width = matrix.shape[1]
    text = np.ascontiguousarray(matrix).tobytes().decode("ascii")
    return [text[at : at + width] for at in range(0, len(text), width)]


def _fixed(matrix: npt.NDArray[np.uint8], column: int, text: str) -> None:
    """Write `text` into every row of `matrix` from `column` on."""
    matrix[:, column : column + len(text)] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)


def _user_ids(draws: _Draws, count: int) -> list[str]:
    """Descope-like user ids (`new_id`'s shape: "U" + 27 letters and digits)."""
    matrix = np.empty((count, 28), dtype=np.uint8)
    _fixed(matrix, 0, "U")
    matrix[:, 1:] = draws.text(ID_ALPHABET, count, 27)
    return _strings(matrix)


def _login_ids(draws: _Draws, count: int) -> list[str]:
    """KB-style random login ids (`random_login_id`'s shape, e.g. `h89asdf@0ahsd8f.com`)."""
    matrix = np.empty((count, 19), dtype=np.uint8)
    matrix[:, :7] = draws.text(LOWER_ALNUM, count, 7)
    _fixed(matrix, 7, "@")
    matrix[:, 8:15] = draws.text(LOWER_ALNUM, count, 7)
    _fixed(matrix, 15, ".com")
    return _strings(matrix)


@dataclass
class _Population:
    """What decides the shape of every bulk user, drawn for all of them at once and put in creation
    order (as a real project's users are in its database: the search indexes by creation time then
    grow at one end while rows go in).

    Attributes:
        kinds: per user, its index in `BULK_MIX`.
        expired: per user, one of the `expired_share` (last active long past its lifetime).
        created: per user, its creation time (epoch s), ascending.
        until: per user, the end of the span its later sign-ins fall in (epoch s).
    """

    kinds: npt.NDArray[np.int64]
    expired: npt.NDArray[np.bool_]
    created: npt.NDArray[np.float64]
    until: npt.NDArray[np.float64]

    @classmethod
    def draw(cls, draws: _Draws, n: int, *, now: float, expired_share: float | None) -> _Population:
        """The usual mix: created 0-900 days ago, signing in up to 1.5 lifetimes after (so about
        30% of the anonymous users have expired). With `expired_share`, exactly floor(share × N)
        users, spread evenly, are anonymous users last active 30-500 days past their lifetime
        (created up to 100 days before that), and the other anonymous users were created within the
        last 300 days and sign in until now (none expired).
        """
        kinds = np.searchsorted(_BULK_BOUNDS, draws.uniform(n) * _BULK_BOUNDS[-1], side="right")
        created = now - draws.uniform(n) * 900 * DAY
        until = np.minimum(now, created + ANON_LIFETIME * 1.5)
        if expired_share is None:
            expired = np.zeros(n, dtype=np.bool_)
        else:
            serial = np.arange(n, dtype=np.int64)
            expired = np.floor((serial + 1) * expired_share) > np.floor(serial * expired_share)
            kinds[expired] = _ANONYMOUS
            low, high = EXPIRED_SINCE_DAYS
            last = now - ANON_LIFETIME - (low + draws.uniform(n) * (high - low)) * DAY
            created = np.where(expired, last - draws.uniform(n) * 100 * DAY, created)
            until = np.where(expired, last, until)
            active = (kinds == _ANONYMOUS) & ~expired
            created = np.where(active, now - draws.uniform(n) * ACTIVE_WITHIN_DAYS * DAY, created)
            until = np.where(active, now, until)
        order = np.argsort(created, kind="stable")
        return cls(kinds[order], expired[order], created[order], until[order])

    def counts(self) -> Counter[str]:
        """Users per kind; with an expired share, its users as "anonymous_expired"."""
        tally = np.bincount(self.kinds[~self.expired], minlength=len(_BULK_KINDS)).tolist()
        counts = Counter({kind: n for kind, n in zip(_BULK_KINDS, tally, strict=True) if n})
        if self.expired.any():
            counts["anonymous_expired"] = int(self.expired.sum())
        return counts


@dataclass
class _Chunk:
    """One chunk of bulk users: records for `bulk_insert_users`, their history and audit rows."""

    records: list[dict[str, Any]]
    history: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]]


def _sign_in_times(
    draws: _Draws, created: npt.NDArray[np.float64], until: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every sign-in of the chunk, user by user in time order: (user position, time).

    Each user signs in at sign-up, then 0-3 times between then and `until`.
    """
    count = len(created)
    returns = draws.below(MAX_RETURNS + 1, count)
    later = created[:, None] + draws.uniform((count, MAX_RETURNS)) * (until - created)[:, None]
    later[np.arange(MAX_RETURNS)[None, :] >= returns[:, None]] = np.inf
    times = np.concatenate([created[:, None], np.sort(later, axis=1)], axis=1)
    taken = np.isfinite(times)
    return np.nonzero(taken)[0], times[taken]


def _bulk_chunk(
    draws: _Draws, people: _Population, first: int, stop: int, *, now: float, anon: str
) -> _Chunk:
    """Users `first` … `stop - 1` of a bulk seed, their values drawn column by column."""
    count = stop - first
    kinds = people.kinds[first:stop]
    created = people.created[first:stop]
    user_ids = _user_ids(draws, count)
    login_ids = _login_ids(draws, count)
    given = draws.below(len(GIVEN), count).tolist()
    family = draws.below(len(FAMILY), count).tolist()
    org = draws.below(2, count).tolist()

    anon_tenants: list[tuple[str, list[str]]] = [(anon, [])]  # shared: bulk_insert_users only reads it
    records: list[dict[str, Any]] = []
    for i, (kind, created_ms) in enumerate(
        zip(kinds.tolist(), (created * 1000).astype(np.int64).tolist(), strict=True)
    ):
        if kind in _PEOPLE:
            first_name, last_name = GIVEN[given[i]], FAMILY[family[i]]
            email = (
                f"{first_name.lower()}.{last_name.lower()}{first + i}"
                f"@{'example.org' if org[i] else 'example.com'}"
            )
            person = kind == _REGULAR
            records.append(
                {
                    "id": user_ids[i],
                    "created_ms": created_ms,
                    "status": "enabled",
                    "signed_in": 1,
                    "password_hash": "" if person else passwords.UNUSABLE,
                    "password_state": "none" if person else "active",
                    "name": f"{first_name} {last_name}",
                    "given_name": first_name,
                    "family_name": last_name,
                    "email": email,
                    "verified_email": True,
                    "login_ids": [email],
                    "user_tenants": [],
                }
            )
        else:
            records.append(
                {
                    "id": user_ids[i],
                    "created_ms": created_ms,
                    "status": "disabled" if kind == _ATTENTION else "enabled",
                    "signed_in": 1,
                    "password_hash": passwords.UNUSABLE,
                    "password_state": "active",
                    "email": login_ids[i],
                    "login_ids": [login_ids[i]],
                    "user_tenants": anon_tenants,
                }
            )
    users, times = _sign_in_times(draws, created, people.until[first:stop])
    history, audit = _bulk_sign_ins(draws, records, kinds, users, times, now=now, anon=anon)
    return _Chunk(records, history, audit)


_ANONYMOUS, _CONVERTED, _REGULAR, _ATTENTION = (_BULK_KINDS.index(k) for k in _BULK_KINDS)
_PEOPLE = (_CONVERTED, _REGULAR)  # kinds with a real name and a verified email
# Every address a bulk sign-in comes from, by place × 256 + last byte: one string object each.
_IPS = np.array([f"{prefix}{last}" for _, _, prefix in PLACES for last in range(256)], dtype=object)
_CITIES = np.array([city for city, _, _ in PLACES], dtype=object)
_COUNTRIES = np.array([country for _, country, _ in PLACES], dtype=object)


def _bulk_sign_ins(
    draws: _Draws,
    records: Sequence[dict[str, Any]],
    kinds: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    times: npt.NDArray[np.float64],
    *,
    now: float,
    anon: str,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """History rows of the chunk's sign-ins, and audit rows of those inside the audit window.

    Users in the anonymous tenant sign in with their password in that tenant; others with OTP.
    """
    places = draws.below(len(PLACES), len(times))
    ips = _IPS[places * 256 + 1 + draws.below(254, len(times))]
    in_anon = np.isin(kinds, _PEOPLE, invert=True)
    user_ids = np.array([rec["id"] for rec in records], dtype=object)
    history = list(
        zip(
            user_ids[users].tolist(),
            times.astype(np.int64).tolist(),
            _CITIES[places].tolist(),
            _COUNTRIES[places].tolist(),
            ips.tolist(),
            np.where(in_anon, anon, "").astype(object)[users].tolist(),
            strict=True,
        )
    )
    recent = np.flatnonzero(times >= now - AUDIT_WINDOW_MS / 1000)
    audit = []
    for user, at_ms, ip, country in zip(
        users[recent].tolist(),
        (times[recent] * 1000).astype(np.int64).tolist(),
        ips[recent].tolist(),
        _COUNTRIES[places[recent]].tolist(),
        strict=True,
    ):
        rec = records[user]
        anonymous = bool(in_anon[user])
        audit.append(
            sign_in_audit_row(
                rec["id"],
                rec["login_ids"],
                [anon] if anonymous else [],
                method="password" if anonymous else "otp",
                ip=ip,
                country=country,
                at_ms=at_ms,
            )
        )
    return history, audit


@contextmanager
def _bulk_loading(store: Store) -> Iterator[None]:
    """The bulk tables without their secondary indexes while rows go in, the indexes built after;
    no fsync meanwhile.

    Inserting a million users into eleven indexes keyed by random ids and times touches a random page
    of each per row (the seed took 247 s at 1,000,000 users, most of it in SQLite); building an index
    from the finished table is one sort, which SQLite may share with `INDEX_THREADS` helper threads.
    `synchronous = OFF` leaves the WAL's fsyncs to the OS: a seed that a power cut interrupts is
    lost either way, and a crash of the process loses nothing written. Only for the seed's empty
    database; should the process die half-way, opening the database creates the missing indexes
    again (`schema.install`, IF NOT EXISTS).
    """
    conn = store.conn
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        f" AND tbl_name IN ({','.join('?' * len(BULK_TABLES))}) ORDER BY name",
        BULK_TABLES,
    ).fetchall()
    synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    threads = int(conn.execute("PRAGMA threads").fetchone()[0])
    conn.execute("PRAGMA synchronous = OFF")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        conn.execute(f"PRAGMA threads = {INDEX_THREADS}")
        try:
            for _, sql in indexes:
                conn.execute(sql)
        finally:
            conn.execute(f"PRAGMA threads = {threads}")
            conn.execute(f"PRAGMA synchronous = {synchronous}")


def seed_bulk(
    store: Store,
    n: int,
    *,
    now: float,
    expired_share: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """N users (mostly anonymous, the demo's mix) written with executemany; nothing if users exist.

    Every sign-in has a history row; those of the last 30 days also a LoginSucceed audit record, so
    audit search and "active last month" work at scale. `expired_share` (0 to 1): that share of the
    users are anonymous users whose refresh token expired (the cull's candidates, counted as
    "anonymous_expired"), the other anonymous users active; by default about 30% of the
    anonymous users have expired. Returns users per kind.
    """
    if store.user_count():
        return {}
    if expired_share is not None and not 0.0 <= expired_share <= 1.0:
        raise ValueError("The share of expired anonymous users is between 0 and 1.")
    draws = _Draws(SEED + n)
    saved_rng = store.rng
    store.rng = Random(SEED + n)
    try:
        anon, _ = _tenants(store, now)
    finally:
        store.rng = saved_rng
    people = _Population.draw(draws, n, now=now, expired_share=expired_share)
    with _bulk_loading(store):
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            chunk = _bulk_chunk(draws, people, start, stop, now=now, anon=anon)
            with store.transaction():
                store.bulk_insert_users(chunk.records)
                store.bulk_insert_history(chunk.history)
                store.bulk_insert_audit(chunk.audit)
            if progress:
                progress(stop)
    return dict(people.counts())
