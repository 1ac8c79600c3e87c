"""Signed requests: every call to the service is signed with the caller's Ed25519 key.

The signature covers the method, the path with its query, a timestamp, a fresh random nonce and the
SHA-256 of the body. The service accepts a timestamp within ``WINDOW`` seconds of its clock and each
(principal, nonce) once: a captured request cannot be replayed, edited or sent to another endpoint.
Every refusal looks the same from outside (401 "authentication failed"); the log says why.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bioveil.vault.crypto import b64d, b64e, ed25519_public, verify_signature
from bioveil.vault.errors import VaultCryptoError

WINDOW = 120
PRINCIPAL, TIMESTAMP, NONCE, SIGNATURE = "x-bioveil-principal", "x-bioveil-timestamp", "x-bioveil-nonce", "x-bioveil-signature"


@dataclass(frozen=True)
class Principal:
    """Who signed a request: an owner (``own_...``) or a verifier (``ver_...``)."""

    id: str
    public_key: bytes

    @property
    def kind(self) -> str:
        return "owner" if self.id.startswith("own_") else "verifier"


class AuthenticationFailed(Exception):
    """The request's signature headers do not hold; ``reason`` goes to the log only."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def signing_string(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"bioveil-request-v1\n{method.upper()}\n{target}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign_request(key: Ed25519PrivateKey, principal: str, method: str, target: str, body: bytes) -> dict[str, str]:
    """The headers that authenticate one request (``target`` is the path with its query string)."""
    timestamp, nonce = str(int(time.time())), b64e(os.urandom(16))
    signature = key.sign(signing_string(method, target, timestamp, nonce, body))
    return {PRINCIPAL: principal, TIMESTAMP: timestamp, NONCE: nonce, SIGNATURE: b64e(signature)}


def check_signature(headers: dict[str, str], public_key: bytes, method: str, target: str, body: bytes) -> tuple[str, int]:
    """Verify the headers against ``public_key``; the nonce and timestamp to record (raises AuthenticationFailed)."""
    try:
        timestamp, nonce, signature = headers[TIMESTAMP], headers[NONCE], b64d(headers[SIGNATURE])
        moment = int(timestamp)
    except (KeyError, ValueError, VaultCryptoError):
        raise AuthenticationFailed("missing or malformed signature headers") from None
    if abs(time.time() - moment) > WINDOW:
        raise AuthenticationFailed("timestamp outside the accepted window")
    if not 16 <= len(nonce) <= 64:
        raise AuthenticationFailed("nonce of the wrong size")
    try:
        key = ed25519_public(public_key)
    except VaultCryptoError:
        raise AuthenticationFailed("stored key unusable") from None
    if not verify_signature(key, signature, signing_string(method, target, timestamp, nonce, body)):
        raise AuthenticationFailed("bad signature")
    return nonce, moment
