"""Grant tokens: PASETO v4.public, signed by the owner, with one strict claim profile.

A grant lets one verifier (``aud``) ask one kind of question (``scope``: a 1:1 check against the
owner's template) for one purpose (``purpose``: the SHA-256 of the request's text), between
``nbf`` and ``exp``, at most ``max_uses`` times, and only with the verifier's own key (``cnf``:
proof of possession, so a leaked token alone is useless). The footer names the signing vault
(``kid``) so the service knows whose key to check it with; the implicit assertion pins the token
to this protocol, so a PASETO made for something else never passes as a grant.

Only ``v4.public`` is accepted: pyseto's v4 public key refuses every other version and purpose.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyseto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bioveil.vault.errors import GrantError

SCOPE = "verify:1:1"
IMPLICIT = b"bioveil-grant-v1"
CLAIMS = ("iss", "aud", "jti", "scope", "purpose", "nbf", "exp", "iat", "max_uses", "cnf")
LEEWAY = timedelta(seconds=30)


def purpose_hash(purpose: str) -> str:
    return hashlib.sha256(purpose.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """The claims of a verified grant token."""

    vault: str
    verifier: str
    grant_id: str
    purpose: str  # hex SHA-256 of the purpose text
    not_before: datetime
    expires: datetime
    max_uses: int
    verifier_key: str  # base64url raw Ed25519 key the verifier must sign with

    def claims(self) -> dict[str, object]:
        return {
            "iss": self.vault,
            "aud": self.verifier,
            "jti": self.grant_id,
            "scope": SCOPE,
            "purpose": self.purpose,
            "nbf": _iso(self.not_before),
            "exp": _iso(self.expires),
            "iat": _iso(datetime.now(UTC)),
            "max_uses": self.max_uses,
            "cnf": {"ed25519": self.verifier_key},
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise GrantError(f"grant claim {name} is not a time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GrantError(f"grant claim {name} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise GrantError(f"grant claim {name} has no time zone")
    return moment


def _pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_grant(grant: Grant, owner_key: Ed25519PrivateKey) -> str:
    """The token of ``grant``, signed with the owner's key."""
    key = pyseto.Key.new(version=4, purpose="public", key=_pem(owner_key))
    footer = json.dumps({"kid": grant.vault}).encode()
    return pyseto.encode(key, grant.claims(), footer=footer, implicit_assertion=IMPLICIT).decode()


def token_vault(token: str) -> str:
    """The vault id in an (unverified) token's footer, to find the key to verify it with."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "v4" or parts[1] != "public":
        raise GrantError("not a PASETO v4.public grant token")
    try:
        import base64

        footer = json.loads(base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4)))
        kid = footer["kid"]
    except (ValueError, KeyError, TypeError):
        raise GrantError("the grant token's footer does not name its vault") from None
    if not isinstance(kid, str):
        raise GrantError("the grant token's footer does not name its vault")
    return kid


def open_grant(token: str, owner_key: Ed25519PublicKey, *, audience: str, now: datetime | None = None) -> Grant:
    """Verify ``token``'s signature and every claim; raise GrantError for anything off-profile."""
    key = pyseto.Key.new(version=4, purpose="public", key=_pem(owner_key))
    try:
        decoded = pyseto.decode(key, token, implicit_assertion=IMPLICIT, deserializer=json)
    except Exception as exc:  # pyseto raises its own error types for every bad token
        raise GrantError(f"the grant token does not verify: {type(exc).__name__}") from None
    claims = decoded.payload
    if not isinstance(claims, dict) or set(claims) != set(CLAIMS):
        raise GrantError("the grant token's claims are not bioveil's grant profile")
    if claims["scope"] != SCOPE:
        raise GrantError(f"the grant's scope is {claims['scope']!r}, not {SCOPE!r}")
    if claims["aud"] != audience:
        raise GrantError("the grant is for another verifier")
    cnf = claims["cnf"]
    if not isinstance(cnf, dict) or set(cnf) != {"ed25519"} or not isinstance(cnf["ed25519"], str):
        raise GrantError("the grant does not bind a verifier key")
    uses = claims["max_uses"]
    if not isinstance(uses, int) or isinstance(uses, bool) or uses < 1:
        raise GrantError("the grant's max_uses is not a positive integer")
    for name in ("iss", "jti", "purpose"):
        if not isinstance(claims[name], str):
            raise GrantError(f"grant claim {name} is not a string")
    grant = Grant(
        vault=claims["iss"],
        verifier=claims["aud"],
        grant_id=claims["jti"],
        purpose=claims["purpose"],
        not_before=_parse_time(claims["nbf"], "nbf"),
        expires=_parse_time(claims["exp"], "exp"),
        max_uses=uses,
        verifier_key=cnf["ed25519"],
    )
    _parse_time(claims["iat"], "iat")
    now = now or datetime.now(UTC)
    if now + LEEWAY < grant.not_before:
        raise GrantError("the grant is not valid yet")
    if now - LEEWAY >= grant.expires:
        raise GrantError("the grant has expired")
    return grant
