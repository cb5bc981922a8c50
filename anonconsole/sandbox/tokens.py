"""RS256 session/refresh JWTs, the JWKS, and the JWT response body (descope-api.md §2.4.3-§2.4.5).

The signing key is generated once per database and kept in the store's meta table (PEM), so tokens
issued before a restart stay valid. `kid` is the key's RFC 7638 thumbprint: stable and derived, never
stored separately.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from anonconsole.sandbox import errors

if TYPE_CHECKING:
    from anonconsole.sandbox.store import Store

SIGNING_KEY_META = "signing_key_pem"
SESSION_DRN = "DS"
REFRESH_DRN = "DSR"
ALGORITHM = "RS256"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def rfc3339(epoch: float) -> str:
    """`rexp` format seen in Descope session tokens: `2024-12-15T11:26:28Z`."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Bearer:
    """The parts of `Authorization: Bearer <projectId>[:<token>][:<key>]` (descope-api.md §1.5).

    Attributes:
        project_id: first part ("" when the header is missing or not a bearer).
        token: a JWT (refresh token or access key exchange), when one was sent.
        key: a management key (on /v1/mgmt) or auth-management key (on /v1/auth), when one was sent.
    """

    project_id: str
    token: str | None
    key: str | None


def parse_bearer(header: str | None) -> Bearer:
    """Split the bearer on ':'. With two parts a JWT (two dots) is a token, anything else a key."""
    if not header or not header.startswith("Bearer "):
        return Bearer("", None, None)
    parts = header[len("Bearer ") :].strip().split(":")
    project_id, rest = parts[0], [p for p in parts[1:] if p]
    if len(rest) >= 2:
        return Bearer(project_id, rest[0], rest[-1])
    if len(rest) == 1:
        if rest[0].count(".") == 2:
            return Bearer(project_id, rest[0], None)
        return Bearer(project_id, None, rest[0])
    return Bearer(project_id, None, None)


@dataclass(frozen=True)
class Minted:
    """A freshly signed JWT and the claims that went into it."""

    jwt: str
    claims: dict[str, Any]


def authorization_claims(user: dict[str, Any]) -> dict[str, Any]:
    """Roles, permissions and tenants exactly as Descope puts them in both token kinds (a user's, or an
    access key's shaped as a user's)."""
    tenants = {
        t["tenantId"]: {
            "roles": list(t.get("roleNames") or []),
            "permissions": list(t.get("permissions") or []),
        }
        for t in user.get("userTenants") or []
    }
    claims: dict[str, Any] = {
        "roles": list(user.get("roleNames") or []),
        "permissions": list(user.get("permissions") or []),
        "tenants": tenants,
    }
    if len(tenants) == 1:
        claims["dct"] = next(iter(tenants))
    if user.get("test"):
        claims["tu"] = True
    return claims


class TokenIssuer:
    """Signs and verifies this sandbox's JWTs and serves its public key.

    Attributes:
        project_id: issuer (`iss`) of every token.
        kid: key id in the JWT header and the JWKS.
    """

    def __init__(self, store: Store, project_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.project_id = project_id
        self._clock = clock
        self._private_key = self._load_or_create_key()
        self._public_key = self._private_key.public_key()
        numbers = self._public_key.public_numbers()
        self._jwk = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
        thumbprint = hashlib.sha256(json.dumps(self._jwk, separators=(",", ":"), sort_keys=True).encode())
        self.kid = base64.urlsafe_b64encode(thumbprint.digest()).rstrip(b"=").decode("ascii")

    def _load_or_create_key(self) -> rsa.RSAPrivateKey:
        pem = self._store.meta_get(SIGNING_KEY_META)
        if pem:
            key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return key
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem_bytes = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._store.meta_set(SIGNING_KEY_META, pem_bytes.decode("ascii"))
        return key

    def jwks(self) -> dict[str, Any]:
        """Body of GET /v2/keys/{projectId}."""
        return {"keys": [{"alg": ALGORITHM, **self._jwk, "kid": self.kid, "use": "sig"}]}

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def _issued_at(self, user_id: str | None) -> int:
        """Whole-second `iat`, never earlier than the user's last revocation.

        Revocation marks tokens with `iat` before a float instant as invalid; rounding that instant up
        keeps a token minted in the same second as a logout-all valid (iat may then lead by < 1 s,
        well within the SDK's 5 s leeway).
        """
        now = math.floor(self._clock())
        if user_id:
            now = max(now, math.ceil(self._store.sessions_valid_after(user_id)))
        return now

    def mint_refresh(
        self,
        user: dict[str, Any] | None,
        *,
        amr: Iterable[str],
        refresh_seconds: int,
        extra: dict[str, Any] | None = None,
        subject: str | None = None,
    ) -> Minted:
        """A refresh token (drn DSR). `user` None = an anonymous (danu) token for `subject`, which
        carries no `amr`: nobody authenticated (Descope's anonymous tokens have none)."""
        sub = user["userId"] if user else subject or ""
        iat = self._issued_at(user["userId"] if user else None)
        claims: dict[str, Any] = {
            "drn": REFRESH_DRN,
            "exp": iat + int(refresh_seconds),
            "iat": iat,
            "iss": self.project_id,
            "jti": secrets.token_urlsafe(16),
            "sub": sub,
        }
        if user:
            claims["amr"] = list(amr)
            claims.update(authorization_claims(user))
        claims.update(extra or {})
        return Minted(self._sign(claims), claims)

    def mint_session(
        self,
        user: dict[str, Any] | None,
        refresh: dict[str, Any],
        *,
        session_seconds: int,
        dct: str | None = None,
        iat: int | None = None,
    ) -> Minted:
        """A session token (drn DS) bound to a refresh token's claims; never outlives it.

        `iat`: pass the refresh token's when both are minted together, so the pair shares one instant.
        """
        if iat is None:
            iat = self._issued_at(user["userId"] if user else None)
        claims = {k: v for k, v in refresh.items() if k not in ("drn", "exp", "iat", "jti")}
        if user:
            claims.update(authorization_claims(user))
        if dct:
            claims["dct"] = dct
        claims.update(
            {
                "drn": SESSION_DRN,
                "iat": iat,
                "exp": min(iat + int(session_seconds), int(refresh["exp"])),
                "jti": secrets.token_urlsafe(16),
                "rexp": rfc3339(refresh["exp"]),
            }
        )
        return Minted(self._sign(claims), claims)

    def mint_key_session(
        self, key_id: str, granted: dict[str, Any], *, seconds: int, extra: dict[str, Any]
    ) -> Minted:
        """The session token (drn DS) of an access-key exchange: `sub` is the key, the roles and tenants
        those `granted` (`authorization_claims`' input), then `extra` (the key's claims, `nsec`, `dct`)."""
        iat = math.floor(self._clock())
        claims: dict[str, Any] = {
            "drn": SESSION_DRN,
            "exp": iat + int(seconds),
            "iat": iat,
            "iss": self.project_id,
            "jti": secrets.token_urlsafe(16),
            "sub": key_id,
        }
        claims.update(authorization_claims(granted))
        claims.update(extra)
        return Minted(self._sign(claims), claims)

    def with_claims(self, token: str, extra: dict[str, Any]) -> str:
        """A valid session or refresh token re-signed with `extra` claims added (mgmt `update_jwt`)."""
        try:
            claims = self.verify(token, drn=SESSION_DRN)
        except errors.DescopeError:
            claims = self.verify(token, drn=REFRESH_DRN)
        return self._sign({**claims, **extra})

    def verify(self, token: str, *, drn: str = REFRESH_DRN) -> dict[str, Any]:
        """Signature, expiry and kind of one of our tokens, or a Descope 401.

        `iat` is not checked: after a revocation it may lead the clock by < 1 s (see `_issued_at`).
        The header's `kid` must name our key, as the SDK's own check against the JWKS requires.
        """
        try:
            if jwt.get_unverified_header(token).get("kid") != self.kid:
                raise errors.unauthorized("Invalid token: unknown signing key")
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                options={"verify_aud": False, "verify_iat": False, "require": ["exp", "iat", "sub"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise errors.unauthorized("Token expired") from None
        except jwt.PyJWTError:
            raise errors.unauthorized("Invalid token") from None
        if claims.get("drn") != drn or claims.get("iss") != self.project_id:
            raise errors.unauthorized("Invalid token")
        return claims

    def response(
        self,
        session: Minted,
        refresh: Minted,
        *,
        user: dict[str, Any] | None,
        first_seen: bool,
    ) -> dict[str, Any]:
        """The JWT response body (descope-api.md §2.4.5; cookie values as in the KB sample).

        cookieMaxAge counts from the session token's `iat` (just minted): refresh lifetime - 1 s for
        a fresh pair, as in the KB sample (31449599 for 52 weeks), and what is left after a refresh.
        """
        refresh_exp = int(refresh.claims["exp"])
        return {
            "sessionJwt": session.jwt,
            "refreshJwt": refresh.jwt,
            "cookieDomain": "",
            "cookiePath": "/",
            "cookieMaxAge": max(0, refresh_exp - int(session.claims["iat"]) - 1),
            "cookieExpiration": refresh_exp,
            "user": user if user is not None else {},
            "firstSeen": first_seen,
            "sessionExpiration": int(session.claims["exp"]),
            "idpResponse": None,
            "externalToken": "",
            "claims": {},
            "tenantSSOID": "",
            "trustedDeviceJwt": "",
            "nextRefreshSeconds": 0,
            "cookieName": REFRESH_DRN,
            "sessionCookieName": SESSION_DRN,
            "sessionCookieDomain": "",
        }
