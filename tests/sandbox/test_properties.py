"""Property-based: malformed requests to every route never get a 5xx, and a refused one changes nothing.

Hypothesis drives the real server over loopback (a sandbox of this test's own, with a few users, a
tenant and a role to aim at). Each example is one request: a route of the app (its path parameters,
method, a trailing slash or a doubled one), a body (JSON objects with the API's field names and hostile
values, raw JSON tokens no parser should pass on, fields of thousands of values, any bytes),
headers (good and bad credentials, non-ASCII) and query strings (percent-encoded bytes). The
properties:

- the answer is never a 5xx, and every 4xx is Descope's error body;
- a refused request (4xx) leaves every table as it was, but for the audit record of a failed
  sign-in, which Descope keeps too, and the counts of wrong passwords and codes (lock-out rules).

CI runs the "sandbox-ci" profile: a bounded number of examples, derandomized (the same examples
every run, so a failure is reproducible), within about a minute. `SANDBOX_HYPOTHESIS=explore` runs
random, longer searches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from anonconsole.sandbox.server import build_app, create_context, hash_key
from anonconsole.settings.sandbox_protocol import DEFAULT_PROJECT_ID
from sandbox.answers import ERROR_KEYS, StoreWatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import RunningSandbox

settings.register_profile(
    "sandbox-ci",
    max_examples=800,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "sandbox-explore",
    max_examples=3000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile(f"sandbox-{os.environ.get('SANDBOX_HYPOTHESIS', 'ci')}")

# A failed sign-in is audited although the request is refused (Descope does the same), and a wrong
# password or one-time code is counted (the lock-out and too-many-attempts rules).
LASTING_AUDIT = ("LoginFailed",)
LASTING_TABLES = ("password_failures", "otp_failures")
# Fault knobs exist to answer 5xx and to stall: driving them at random would test nothing else.
NOT_FUZZED = {("/_sandbox/faults", "POST")}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _routes() -> list[tuple[str, tuple[str, ...]]]:
    """(path template, methods) of every route the sandbox serves, read off a real app."""
    ctx = create_context(":memory:", DEFAULT_PROJECT_ID, hash_key("k"))
    try:
        app = build_app(ctx)
        found = []
        for route in app.routes:
            if isinstance(route, Route) and route.methods:
                methods = tuple(
                    sorted(m for m in route.methods - {"HEAD"} if (route.path, m) not in NOT_FUZZED)
                )
                if methods:
                    found.append((route.path, methods))
        return found
    finally:
        ctx.store.conn.close()


ROUTES = _routes()

# Field names the API reads (descope-api.md), so that bodies reach the handlers' checks.
FIELDS = (
    "loginId",
    "loginIds",
    "newLoginId",
    "userId",
    "userIds",
    "email",
    "phone",
    "name",
    "displayName",
    "givenName",
    "middleName",
    "familyName",
    "password",
    "oldPassword",
    "newPassword",
    "status",
    "roleNames",
    "userTenants",
    "tenantId",
    "tenantIds",
    "id",
    "text",
    "page",
    "limit",
    "sort",
    "statuses",
    "emails",
    "phones",
    "customAttributes",
    "additionalLoginIds",
    "verified",
    "verifiedEmail",
    "verifiedPhone",
    "test",
    "picture",
    "fromCreatedTime",
    "toCreatedTime",
    "fromModifiedTime",
    "toModifiedTime",
    "refreshDuration",
    "customClaims",
    "selectedTenant",
    "deliveryMethod",
    "URI",
    "timeout",
    "code",
    "token",
    "pendingRef",
    "users",
    "cascade",
    "selfProvisioningDomains",
    "refreshTokenExpiration",
    "refreshTokenExpirationUnit",
    "sessionTokenExpiration",
    "sessionTokenExpirationUnit",
    "enabled",
    "authType",
    "inactivityTime",
    "action",
    "actorId",
    "type",
    "data",
    "from",
    "to",
    "externalIds",
    "attributeKey",
    "attributeValue",
    "permissionNames",
    "description",
    "jwt",
    "user",
    "loginOptions",
    "ids",
    "dct",
    "tenant",
    "setActive",
    "failOnConflict",
    "addToLoginIDs",
    "withTestUser",
    "testUsersOnly",
    # password settings
    "minLength",
    "lowercase",
    "uppercase",
    "number",
    "nonAlphanumeric",
    "expiration",
    "expirationWeeks",
    "reuse",
    "reuseAmount",
    "lock",
    "lockAttempts",
    # codes and links
    "stepup",
    "mfa",
    "revokeOtherSessions",
    # access keys
    "expireTime",
    "keyTenants",
    "permittedIps",
    "boundUserId",
    "creatingUser",
    "selectedTenant",
    # SSO settings
    "settings",
    "domains",
    "redirectUrl",
    "redirectURL",
    "idpURL",
    "idpUrl",
    "entityId",
    "idpCert",
    "idpMetadataURL",
    "idpMetadataUrl",
    "roleMappings",
    "attributeMapping",
    "defaultSSORoles",
    "clientId",
    "authUrl",
    "ssoId",
    # flows
    "flowId",
    "flow",
    "screens",
    "theme",
)


@dataclass
class Target:
    """The sandbox under test and what exists in it to aim requests at."""

    sandbox: RunningSandbox
    login_ids: list[str]
    user_ids: list[str]
    tenant_id: str
    refresh_jwt: str


# -- values ---------------------------------------------------------------------------------------------

HOSTILE_TEXT = (
    "",
    " ",
    "   ",
    "\x00",
    "a\x00b",
    "\x07",
    "\n",
    "\u202eevil",
    "\u200b",
    "\ud800",
    "a\udfffb",
    "x" * 300,
    "²",
    "--1",
    "9" * 25,
    "-1",
    "1e999",
    "NaN",
    "../../etc",
    "%00",
    "'; DROP TABLE users;--",
    "T" + "x" * 27,
    "minutes",
    "weeks",
    "email",
    "sms",
    "enabled",
    "disabled",
    "createdTime",
)
texts = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=30),
)
integers = st.one_of(
    st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]),
    st.integers(),
)
leaves = st.one_of(
    st.none(), st.booleans(), integers, st.floats(allow_nan=False, allow_infinity=False), texts
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | texts, inner, max_size=4)
    ),
    max_leaves=12,
)
# Tokens a JSON encoder never writes but a client can send.
RAW_TOKENS = (
    "9" * 5000,
    "-" + "9" * 30,
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    '"\\ud800"',
    '"\\udfff\\ud800"',
    "[" * 5000 + "]" * 5000,
    "{" * 60 + "}" * 60,
    '"' + "\\u0000" * 3 + '"',
    "0.5",
    '"' + "x" * 70000 + '"',
)


def _body_strategies(target: Target) -> st.SearchStrategy[bytes]:
    known = st.sampled_from(target.login_ids + target.user_ids + [target.tenant_id])
    field_values = st.one_of(known, known.map(lambda v: [v]), json_values)
    objects = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6).map(
        lambda body: json.dumps(body, ensure_ascii=True).encode()
    )
    with_raw_token = st.tuples(
        st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=3),
        st.sampled_from(FIELDS),
        st.sampled_from(RAW_TOKENS),
    ).map(lambda t: _with_token(*t))
    return st.one_of(
        objects,
        objects,  # the most useful kind, drawn twice as often
        with_raw_token,
        wide_bodies,
        json_values.map(lambda v: json.dumps(v, ensure_ascii=True).encode()),
        st.binary(max_size=120),
        st.just(b""),
    )


# Fields that take a list or an object of many entries somewhere in the API.
WIDE_FIELDS = (
    "userIds",
    "loginIds",
    "tenantIds",
    "roleNames",
    "statuses",
    "emails",
    "phones",
    "ssoAppIds",
    "customAttributes",
    "tenantRoleNames",
    "tenantRoleIds",
    "sort",
    "externalIds",
    "actions",
    "users",
    "additionalLoginIds",
    "permissionNames",
    "tenantNames",
    "ids",
    "userTenants",
)


@st.composite
def _wide(draw: st.DrawFn) -> bytes:
    """One field holding thousands of values or entries: sizes a client may send, SQL may not take."""
    field = draw(st.sampled_from(WIDE_FIELDS))
    count = draw(st.sampled_from((99, 101, 1001, 10_000, 10_001, 40_000)))
    if draw(st.booleans()):
        return json.dumps({field: [f"v{n}" for n in range(count)]}).encode()
    entry = draw(st.sampled_from(({"values": ["r"]}, "x", 1, ["a"])))
    return json.dumps({field: {f"k{n}": entry for n in range(count)}}).encode()


wide_bodies = _wide()


def _with_token(body: dict[str, Any], field: str, token: str) -> bytes:
    text = json.dumps(body, ensure_ascii=True)
    inner = f"{json.dumps(field)}: {token}"
    return ("{" + inner + "}" if text == "{}" else text[:-1] + ", " + inner + "}").encode()


# -- paths, headers and queries -----------------------------------------------------------------------------

PATH_PARAMS = {
    "{project_id}": (DEFAULT_PROJECT_ID, "P2Other", "", "%ff", "é"),
    "{method}": ("email", "sms", "voice", "whatsapp", "embedded", "EMAIL", "", "%00", "x" * 50),
}


@st.composite
def paths(draw: st.DrawFn, template: str) -> bytes:
    path = template
    for name, choices in PATH_PARAMS.items():
        if name in path:
            path = path.replace(name, draw(st.sampled_from(choices)))
    shape = draw(st.sampled_from(("as is", "as is", "as is", "trailing slash", "double slash", "suffix")))
    if shape == "trailing slash":
        path += "/"
    elif shape == "double slash":
        path = "/" + path
    elif shape == "suffix":
        path += draw(st.sampled_from(("/x", "%2F", "%ff%fe", "/..", "?", "/" + "a" * 200)))
    return quote(path, safe="/%?").encode("ascii")  # non-ASCII as a client sends it: percent-encoded


query_names = st.sampled_from(("loginId", "userId", "id", "limit", "provider", "withRefreshToken", "x"))
query_values = st.one_of(
    st.sampled_from(("1", "-1", "9" * 25, "%ff", "%00", "%ud800", "ten", "", "a%20b")),
    st.binary(max_size=20).map(lambda raw: "".join(f"%{b:02x}" for b in raw)),
)
queries = st.lists(st.tuples(query_names, query_values), max_size=3).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
)
latin1 = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=("Cc",)), max_size=40
)


def _auth_values(target: Target) -> st.SearchStrategy[str | None]:
    s = target.sandbox
    return st.one_of(
        st.just(f"Bearer {s.project_id}:{s.management_key}"),
        st.just(f"Bearer {s.project_id}:{s.management_key}"),
        st.just(f"Bearer {s.project_id}"),
        st.just(f"Bearer {s.project_id}:{target.refresh_jwt}"),
        st.just(f"Bearer {s.project_id}:not.a.jwt"),
        st.just(f"Bearer {s.project_id}:{target.refresh_jwt}:{s.management_key}"),
        st.none(),
        latin1.map(lambda v: f"Bearer {v}"),
        latin1.map(lambda v: f"Bearer {s.project_id}:{v}"),
        latin1,
    )


def _header(value: str) -> bytes:
    """A header value as HTTP carries it: Latin-1, no surrounding blanks (h11 refuses those)."""
    return value.strip(" \t").encode("latin-1")


@dataclass
class Request:
    method: str
    raw_path: bytes
    body: bytes
    headers: dict[str, bytes]


@st.composite
def requests(draw: st.DrawFn, target: Target) -> Request:
    template, methods = draw(st.sampled_from(ROUTES))
    method = draw(st.sampled_from(methods) if draw(st.integers(0, 9)) else st.sampled_from(METHODS))
    raw_path = draw(paths(template))
    query = draw(queries)
    if query:
        raw_path += b"?" + query.encode()
    headers: dict[str, bytes] = {}
    if (auth := draw(_auth_values(target))) is not None:
        headers["Authorization"] = _header(auth)
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.sampled_from((b"application/json", b"text/plain", b"x/\xff")))
    if draw(st.integers(0, 5)) == 0:
        project = draw(st.sampled_from((target.sandbox.project_id, "P2Other")) | latin1)
        headers["X-Descope-Project-Id"] = _header(project)
    return Request(method, raw_path, draw(_body_strategies(target)), headers)


# -- the sandbox under test ---------------------------------------------------------------------------


@pytest.fixture
def target(start_sandbox: Callable[..., RunningSandbox]) -> Target:
    sandbox = start_sandbox()
    client = sandbox.client()
    tenant_id = client.mgmt.tenant.create("Property tenant")["id"]
    client.mgmt.role.create("viewer", "Sees things")
    login_ids = ["alice@example.com", "+15555550100", "plain-user", "tester@example.com"]
    user_ids = [client.mgmt.user.create(login_ids[0], email=login_ids[0])["user"]["userId"]]
    user_ids.append(client.mgmt.user.create(login_ids[1], phone=login_ids[1])["user"]["userId"])
    user_ids.append(client.mgmt.user.create(login_ids[2], user_tenants=[])["user"]["userId"])
    user_ids.append(client.mgmt.user.create_test_user(login_ids[3])["user"]["userId"])
    client.mgmt.user.add_tenant(login_ids[2], tenant_id)
    signed_in = client.password.sign_up("signed-in@example.com", "Passw0rdOk")
    login_ids.append("signed-in@example.com")
    return Target(sandbox, login_ids, user_ids, tenant_id, signed_in["refreshSessionToken"]["jwt"])


class Checker:
    """Sends one request and checks both properties on its answer."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = httpx.Client(timeout=60)
        self.watch = StoreWatch(target.sandbox.db)
        self.baseline = self.watch.digest(leaving_out_audit=LASTING_AUDIT, leaving_out_tables=LASTING_TABLES)
        self.url = httpx.URL(target.sandbox.url)

    def close(self) -> None:
        self.client.close()
        self.watch.close()

    def check(self, request: Request) -> None:
        sent = self.client.build_request(
            request.method,
            self.url.copy_with(raw_path=request.raw_path),
            content=request.body,
            headers=request.headers,
        )
        response = self.client.send(sent)
        described = (
            f"{request.method} {request.raw_path[:200]!r} {request.body[:300]!r} -> {response.status_code}"
        )
        assert response.status_code < 500, f"{described}: {response.text[:300]}"
        if response.status_code >= 400 and request.method != "HEAD":
            body = response.json()
            assert isinstance(body, dict), described
            assert {"errorCode", "errorDescription"} <= set(body) <= ERROR_KEYS, f"{described}: {body}"
        if self.watch.changed():
            now = self.watch.digest(leaving_out_audit=LASTING_AUDIT, leaving_out_tables=LASTING_TABLES)
            if response.status_code >= 400:
                assert now == self.baseline, f"{described}: a refused request changed the store"
            self.baseline = now


@pytest.fixture
def checker(target: Target) -> Iterator[Checker]:
    checking = Checker(target)
    yield checking
    checking.close()


@PROFILE
@given(data=st.data())
def test_no_request_is_answered_with_a_5xx_and_a_refused_one_changes_nothing(
    checker: Checker, data: st.DataObject
) -> None:
    checker.check(data.draw(requests(checker.target)))


@PROFILE
@given(data=st.data())
def test_management_bodies_with_the_right_key_never_get_a_5xx(checker: Checker, data: st.DataObject) -> None:
    """The same, always authenticated as the admin: every body reaches its handler's own checks."""
    target = checker.target
    template, methods = data.draw(st.sampled_from([r for r in ROUTES if "/mgmt/" in r[0]]))
    raw_path = data.draw(paths(template))
    headers = {
        "Authorization": f"Bearer {target.sandbox.project_id}:{target.sandbox.management_key}".encode()
    }
    body = data.draw(_body_strategies(target))
    checker.check(Request(data.draw(st.sampled_from(methods)), raw_path, body, headers))


@settings(PROFILE, max_examples=max(50, PROFILE.max_examples // 5))
@given(data=st.data())
def test_wide_filters_never_get_a_5xx(checker: Checker, data: st.DataObject) -> None:
    """Routes that take lists, each sent a field of thousands of values or entries."""
    target = checker.target
    takes_lists = [r for r in ROUTES if any(w in r[0] for w in ("search", "load", "batch", "history"))]
    template, methods = data.draw(st.sampled_from(takes_lists))
    bearer = f"Bearer {target.sandbox.project_id}:{target.sandbox.management_key}"
    request = Request(data.draw(st.sampled_from(methods)), template.encode(), data.draw(wide_bodies), {})
    request.headers["Authorization"] = bearer.encode()
    checker.check(request)
