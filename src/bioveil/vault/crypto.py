"""The vault's cryptography, all from ``cryptography``: Argon2id, AES-256-GCM, Ed25519, X25519.

- A passphrase becomes a key-encryption key by Argon2id (RFC 9106's second recommended setting:
  3 passes, 64 MiB, 4 lanes), with a random salt kept beside the vault.
- Data and keys are sealed with AES-256-GCM: a random 96-bit nonce in front of the ciphertext, and
  associated data that binds each blob to its place (a grant id, a purpose), so a blob copied to
  another row does not open.
- Owners and verifiers sign with Ed25519; a verifier also has an X25519 key so the vault can hand it
  a grant's capability that only it can open (an ephemeral-static ECDH "sealed box" with HKDF).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bioveil.vault.errors import VaultCryptoError

KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost, stored with the salt so a vault made today still opens when defaults change."""

    iterations: int = 3
    memory_kib: int = 64 * 1024
    lanes: int = 4

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def random_key() -> bytes:
    return os.urandom(KEY_BYTES)


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def derive_key(passphrase: str, salt: bytes, params: KdfParams = KdfParams()) -> bytes:
    """The key-encryption key of ``passphrase`` (Argon2id)."""
    if not passphrase:
        raise VaultCryptoError("the passphrase is empty; choose a long one (a few unrelated words)")
    kdf = Argon2id(salt=salt, length=KEY_BYTES, iterations=params.iterations, lanes=params.lanes, memory_cost=params.memory_kib)
    return kdf.derive(passphrase.encode())


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM: nonce || ciphertext+tag, bound to ``context`` as associated data."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, blob: bytes, context: bytes, what: str = "sealed data") -> bytes:
    """Open a :func:`seal` blob; a wrong key, a changed byte or another context raise VaultCryptoError."""
    if len(key) != KEY_BYTES or len(blob) < NONCE_BYTES + 16:
        raise VaultCryptoError(f"{what} cannot be opened: wrong key or damaged data")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
    except InvalidTag:
        raise VaultCryptoError(f"{what} cannot be opened: wrong key or damaged data") from None


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise VaultCryptoError(f"not base64url data: {exc}") from None


# -- signing keys ----------------------------------------------------------------------------------


def public_bytes(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_bytes(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def ed25519_public(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise VaultCryptoError("not an Ed25519 public key (32 raw bytes, base64url)") from None


def x25519_public(raw: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise VaultCryptoError("not an X25519 public key (32 raw bytes, base64url)") from None


def principal_id(prefix: str, public_key: bytes) -> str:
    """A self-certifying id: the prefix and 20 base32 characters of the public key's SHA-256."""
    digest = base64.b32encode(hashlib.sha256(public_key).digest()).decode().lower()
    return f"{prefix}_{digest[:20]}"


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# -- sealed boxes to a verifier --------------------------------------------------------------------


def _box_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=ephemeral + recipient, info=b"bioveil-sealed-box-v1").derive(shared)


def seal_to(recipient: X25519PublicKey, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt to ``recipient``: only its X25519 private key opens it (ephemeral || AES-GCM blob)."""
    ephemeral = X25519PrivateKey.generate()
    eph_pub, rec_pub = public_bytes(ephemeral.public_key()), public_bytes(recipient)
    key = _box_key(ephemeral.exchange(recipient), eph_pub, rec_pub)
    return eph_pub + seal(key, plaintext, context)


def open_sealed(private_key: X25519PrivateKey, blob: bytes, context: bytes) -> bytes:
    if len(blob) < KEY_BYTES:
        raise VaultCryptoError("the sealed capability is damaged")
    eph_pub, rest = blob[:KEY_BYTES], blob[KEY_BYTES:]
    key = _box_key(private_key.exchange(x25519_public(eph_pub)), eph_pub, public_bytes(private_key.public_key()))
    return unseal(key, rest, context, "the sealed capability")
