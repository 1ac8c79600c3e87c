"""Protected templates at rest: what the owner's client seals and what the service opens at a check.

A grant's template is the cancelable transform of the owner's embedding under a fresh transform key.
Both are sealed with a fresh data key (AES-GCM, bound to the grant id and version); that data key is
wrapped twice, and only the wrapped copies are stored, apart from the template:

- by the owner's key-encryption key (Argon2id of the passphrase): the owner can always open it;
- by a fresh capability key that the verifier receives sealed to its X25519 key: the service can
  open the template only while the verifier presents the capability with a check.

Revoking erases the template and its keys (nothing left to open); rotating replaces them, so the old
capability opens nothing and the old template never matches again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bioveil.vault.crypto import KEY_BYTES, random_key, seal, unseal
from bioveil.vault.templates import get_transform, threshold


def context(kind: str, item_id: str, version: int) -> bytes:
    return f"bioveil-{kind}:{item_id}:v{version}".encode()


@dataclass(frozen=True)
class SealedTemplate:
    template: bytes  # AES-GCM(data key, transform key || protected template)
    by_owner: bytes  # AES-GCM(owner key, data key)
    by_capability: bytes | None  # AES-GCM(capability, data key)


def seal_template(
    embedding: np.ndarray, transform: str, owner_key: bytes, where: bytes, capability: bytes | None = None
) -> SealedTemplate:
    """Protect ``embedding`` under a fresh transform key and seal it for the owner (and a capability)."""
    method = get_transform(transform)
    transform_key, data_key = random_key(), random_key()
    protected = method.to_bytes(method.protect(embedding, transform_key))
    return SealedTemplate(
        template=seal(data_key, transform_key + protected, where),
        by_owner=seal(owner_key, data_key, where + b":owner"),
        by_capability=None if capability is None else seal(capability, data_key, where + b":capability"),
    )


def open_template(sealed: bytes, wrapped_key: bytes, key: bytes, where: bytes, holder: str) -> tuple[bytes, bytes]:
    """The transform key and protected template, with the owner's key or the capability (``holder``)."""
    data_key = unseal(key, wrapped_key, where + f":{holder}".encode(), "the template key")
    plain = unseal(data_key, sealed, where, "the protected template")
    return plain[:KEY_BYTES], plain[KEY_BYTES:]


def same_person(stored: bytes, transform_key: bytes, embedding: np.ndarray, transform: str, recognizer: str) -> bool:
    """Whether ``embedding``, protected under the stored template's key, reaches the operating threshold."""
    method = get_transform(transform)
    similarity = method.similarity(method.from_bytes(stored), method.protect(embedding, transform_key))
    return bool(similarity >= threshold(transform, recognizer))
