"""Demo and bulk data for the sandbox, deterministic (fixed random seed), only into an empty database.

`seed_demo` runs the KB recipe for anonymous users (shared/kb: sign up with a random login id and the
shared default password → add the "Anonymous Users" tenant → replace the password with a random value
that is not kept → sign in now and then) through the store at simulated times, so the demo has
anonymous users of every age, converted users, regular users, users needing attention and test users.

`seed_bulk` writes N users with executemany for scale tests. It stores `passwords.UNUSABLE` for the
anonymous users' password: their random replacement password is by design known to nobody, so an
unusable marker is observably the same, and hashing 200,000 throw-away values would take minutes.
Each bulk sign-in gets a history row and, when it falls in the audit window (the last 30 days, all
Descope keeps), the LoginSucceed audit record a real sign-in writes.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable
from random import Random
from typing import Any

from anonconsole.sandbox import passwords
from anonconsole.sandbox.store import AUDIT_WINDOW_MS, Store, new_id, sign_in_audit_row

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
CHUNK = 20_000


def _bulk_record(rng: Random, kind: str, n: int, now: float, anon: str) -> tuple[dict[str, Any], list[float]]:
    """One bulk user (internal record) and its sign-in times."""
    created = now - rng.uniform(0, 900) * DAY
    signins = sorted(
        rng.uniform(created, min(now, created + ANON_LIFETIME * 1.5)) for _ in range(rng.randint(0, 3))
    )
    rec: dict[str, Any] = {
        "id": new_id(rng, "U"),
        "created_ms": int(created * 1000),
        "status": "enabled",
        "signed_in": 1,
        "user_tenants": [(anon, [])],
        "password_hash": passwords.UNUSABLE,
        "password_state": "active",
    }
    login_id = random_login_id(rng)
    if kind in ("converted", "regular"):
        person = _person(rng, n)
        login_id = person["email"]
        rec.update(
            {k: person[k] for k in ("name", "given_name", "family_name", "email")},
            verified_email=True,
            user_tenants=[],
        )
        if kind == "regular":
            rec.update(password_hash="", password_state="none")
    else:
        rec["email"] = login_id
        if kind == "attention":
            rec["status"] = "disabled"
    rec["login_ids"] = [login_id]
    return rec, [created, *signins]


def _bulk_sign_ins(
    rng: Random, rec: dict[str, Any], kind: str, times: list[float], *, now: float, anon: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """History rows of a bulk user's sign-ins and audit rows of those inside the audit window.

    Anonymous users sign in with their password in the anonymous tenant; others with OTP.
    """
    in_anon = bool(rec["user_tenants"])
    method = "otp" if kind in ("converted", "regular") else "password"
    tenants = [t for t, _ in rec["user_tenants"]]
    window_start = now - AUDIT_WINDOW_MS / 1000
    history, audit = [], []
    for at in times:
        city, country, prefix = rng.choice(PLACES)
        ip = f"{prefix}{rng.randrange(1, 255)}"
        history.append((rec["id"], int(at), city, country, ip, anon if in_anon else ""))
        if at >= window_start:
            audit.append(
                sign_in_audit_row(
                    rec["id"],
                    rec["login_ids"],
                    tenants,
                    method=method,
                    ip=ip,
                    country=country,
                    at_ms=int(at * 1000),
                )
            )
    return history, audit


def seed_bulk(
    store: Store, n: int, *, now: float, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """N users (mostly anonymous, the demo's mix) written with executemany; nothing if users exist.

    Every sign-in has a history row; those of the last 30 days also a LoginSucceed audit record, so
    audit search and "active last month" work at scale. Returns users per kind.
    """
    if store.user_count():
        return {}
    rng = Random(SEED + n)
    saved_rng = store.rng
    store.rng = rng
    try:
        anon, _ = _tenants(store, now)
    finally:
        store.rng = saved_rng
    kinds = [k for k, _ in BULK_MIX]
    weights = [w for _, w in BULK_MIX]
    counts: Counter[str] = Counter()
    for start in range(0, n, CHUNK):
        records, history, audit = [], [], []
        for i in range(start, min(n, start + CHUNK)):
            kind = rng.choices(kinds, weights)[0]
            counts[kind] += 1
            rec, times = _bulk_record(rng, kind, i, now, anon)
            records.append(rec)
            rows, audits = _bulk_sign_ins(rng, rec, kind, times, now=now, anon=anon)
            history.extend(rows)
            audit.extend(audits)
        store.bulk_insert_users(records)
        store.bulk_insert_history(history)
        store.bulk_insert_audit(audit)
        if progress:
            progress(min(n, start + CHUNK))
    return dict(counts)
