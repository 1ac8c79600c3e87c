"""What an owner does with their vault: create it, enrol, review requests, grant, revoke, rotate, audit.

Everything secret happens here, on the owner's machine: the embedding of their photos, the
passphrase key, the transform keys and the grant's signature. The service receives sealed blobs and
signed tokens only.
"""

from __future__ import annotations

import logging
import secrets
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bioveil.service.client import ServiceClient
from bioveil.vault.crypto import (
    KdfParams,
    b64d,
    b64e,
    derive_key,
    new_salt,
    principal_id,
    private_bytes,
    public_bytes,
    random_key,
    seal,
    seal_to,
    unseal,
    x25519_public,
)
from bioveil.vault.errors import EnrolmentError, VaultError
from bioveil.vault.faces import enrol_photos
from bioveil.vault.grants import Grant, purpose_hash, sign_grant
from bioveil.vault.identity import OwnerIdentity
from bioveil.vault.sealing import context, open_template, same_person, seal_template
from bioveil.vault.templates import DEFAULT_TRANSFORM

log = logging.getLogger(__name__)

DEFAULT_RECOGNIZER = "sface"


class Owner:
    """An unlocked owner: their identity file and the keys their passphrase opens."""

    def __init__(self, identity: OwnerIdentity, passphrase: str, http: Any = None) -> None:
        self.identity = identity
        self.kek = derive_key(passphrase, b64d(identity.kdf_salt), KdfParams(**identity.kdf))
        raw = unseal(self.kek, b64d(identity.sealed_signing_key), f"bioveil-owner-key:{identity.id}".encode(),
                     "your signing key (wrong passphrase?)")
        self.key = Ed25519PrivateKey.from_private_bytes(raw)
        self.client = ServiceClient(identity.id, self.key, identity.url, http)

    @classmethod
    def create(cls, url: str, passphrase: str, http: Any = None, kdf: KdfParams = KdfParams()) -> Owner:
        """A new vault at the service at ``url``, for a new key."""
        key, salt = Ed25519PrivateKey.generate(), new_salt()
        raw_public = public_bytes(key.public_key())
        owner_id = principal_id("own", raw_public)
        kek = derive_key(passphrase, salt, kdf)
        sealed = seal(kek, private_bytes(key), f"bioveil-owner-key:{owner_id}".encode())
        client = ServiceClient(owner_id, key, url, http)
        answer = client.call("POST", "/owners", {"public_key": b64e(raw_public), "kdf_salt": b64e(salt),
                                                 "kdf_iterations": kdf.iterations, "kdf_memory_kib": kdf.memory_kib,
                                                 "kdf_lanes": kdf.lanes})
        identity = OwnerIdentity(id=owner_id, url=url, service_key=answer["service_key"], sealed_signing_key=b64e(sealed),
                                 kdf_salt=b64e(salt), kdf=kdf.to_dict())
        return cls(identity, passphrase, http)

    @property
    def id(self) -> str:
        return self.identity.id

    # -- enrolment -------------------------------------------------------------------------------

    def enrol(self, photos: Sequence[Path], recognizer: str = DEFAULT_RECOGNIZER,
              transform: str = DEFAULT_TRANSFORM) -> dict[str, Any]:
        """Check the photos, then store the owner's own protected template (only the passphrase opens it)."""
        enrolment = enrol_photos(photos, recognizer)
        sealed = seal_template(enrolment.embedding, transform, self.kek, context("enrolment", self.id, 0))
        answer = self.client.call("PUT", f"/owners/{self.id}/enrolment", {
            "recognizer": recognizer, "transform": transform, "photos": enrolment.photos,
            "template": b64e(sealed.template), "wrapped_key": b64e(sealed.by_owner)})
        self.identity.photos = [str(Path(p).resolve()) for p in photos]
        log.info("enrolled %d photos (lowest agreement %.3f)", enrolment.photos, enrolment.min_agreement)
        return answer

    def _embedding(self, photos: Sequence[Path] | None) -> tuple[np.ndarray, str, str]:
        """The owner's embedding from their photos, checked against their enrolment."""
        enrolled = self.client.call("GET", f"/owners/{self.id}/enrolment")
        recognizer, transform = enrolled["recognizer"], enrolled["transform"]
        paths = [Path(p) for p in (photos or self.identity.photos)]
        if not paths:
            raise EnrolmentError("no photos to make the template from: pass your photos (the enrolment's are not remembered)")
        embedding = enrol_photos(paths, recognizer).embedding
        key, stored = open_template(b64d(enrolled["template"]), b64d(enrolled["wrapped_key"]), self.kek,
                                    context("enrolment", self.id, 0), "owner")
        if not same_person(stored, key, embedding, transform, recognizer):
            raise EnrolmentError("these photos do not match your enrolment; use photos of yourself or enrol again")
        return embedding, recognizer, transform

    # -- requests and grants ---------------------------------------------------------------------

    def requests(self, status: str | None = "pending") -> list[dict[str, Any]]:
        return self.client.call("GET", "/requests", **({"status": status} if status else {}))

    def decline(self, request_id: str) -> dict[str, Any]:
        return self.client.call("POST", f"/requests/{request_id}/decline")

    def _seal_for(self, embedding: np.ndarray, transform: str, grant_id: str, version: int, box_key: str) -> dict[str, str]:
        capability = random_key()
        where = context("grant", grant_id, version)
        sealed = seal_template(embedding, transform, self.kek, where, capability)
        assert sealed.by_capability is not None
        return {"template": b64e(sealed.template), "by_owner": b64e(sealed.by_owner), "by_capability": b64e(sealed.by_capability),
                "sealed_capability": b64e(seal_to(x25519_public(b64d(box_key)), capability, where))}

    def accept(self, request_id: str, photos: Sequence[Path] | None = None, days: float | None = None,
               uses: int | None = None) -> dict[str, Any]:
        """Grant a pending request (narrower than asked if ``days`` or ``uses`` say so)."""
        request = self.client.call("GET", f"/requests/{request_id}")
        if request["status"] != "pending":
            raise VaultError(f"request {request_id} is already {request['status']}")
        embedding, recognizer, transform = self._embedding(photos)
        duration = min(float(request["duration_s"]), days * 86400 if days else float(request["duration_s"]))
        now = datetime.now(UTC).replace(microsecond=0)
        grant = Grant(vault=self.id, verifier=request["verifier_id"], grant_id=f"gr_{secrets.token_hex(12)}",
                      purpose=purpose_hash(request["purpose"]), not_before=now, expires=now + timedelta(seconds=duration),
                      max_uses=min(int(request["max_uses"]), uses or int(request["max_uses"])),
                      verifier_key=request["verifier_key"])
        payload = {"request_id": request_id, "token": sign_grant(grant, self.key), "recognizer": recognizer,
                   "transform": transform,
                   **self._seal_for(embedding, transform, grant.grant_id, 1, request["verifier_box_key"])}
        return self.client.call("POST", "/grants", payload)

    def grants(self) -> list[dict[str, Any]]:
        return self.client.call("GET", "/grants")

    def revoke(self, grant_id: str) -> dict[str, Any]:
        return self.client.call("POST", f"/grants/{grant_id}/revoke")

    def rotate(self, grant_id: str, photos: Sequence[Path] | None = None) -> dict[str, Any]:
        """New transform key, data key and capability for a grant: the old template never matches again."""
        grant = self.client.call("GET", f"/grants/{grant_id}")
        request = self.client.call("GET", f"/requests/{grant['request_id']}")
        embedding, _, transform = self._embedding(photos)
        payload = self._seal_for(embedding, transform, grant_id, grant["version"] + 1, request["verifier_box_key"])
        return self.client.call("POST", f"/grants/{grant_id}/rotate", payload)


@dataclass(frozen=True)
class Policy:
    """An owner's standing answer to requests: decline what oversteps, accept trusted verifiers, ask otherwise."""

    max_days: float | None = None
    max_uses: int | None = None
    decline_words: tuple[str, ...] = ()
    accept_from: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Policy:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise VaultError(f"the policy file {path} cannot be read ({exc}); see the README for its keys") from None
        unknown = set(data) - {"max_days", "max_uses", "decline_words", "accept_from"}
        if unknown:
            raise VaultError(f"the policy file {path} has unknown keys: {', '.join(sorted(unknown))}")
        return cls(data.get("max_days"), data.get("max_uses"), tuple(data.get("decline_words", ())),
                   tuple(data.get("accept_from", ())))

    def decide(self, request: dict[str, Any]) -> str:
        """"decline", "accept" or "ask" for one request."""
        if self.max_days is not None and request["duration_s"] > self.max_days * 86400:
            return "decline"
        if self.max_uses is not None and request["max_uses"] > self.max_uses:
            return "decline"
        text = request["purpose"].lower()
        if any(word.lower() in text for word in self.decline_words):
            return "decline"
        return "accept" if request["verifier_id"] in self.accept_from else "ask"
