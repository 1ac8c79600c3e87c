"""What a verifier does in the agora: register, ask owners for grants, collect them, run checks, keep receipts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bioveil.ledger.checkpoint import open_checkpoint
from bioveil.ledger.merkle import verify_inclusion
from bioveil.service.client import ServiceClient
from bioveil.service.ledger import ORIGIN
from bioveil.vault.crypto import (
    b64d,
    b64e,
    ed25519_public,
    open_sealed,
    principal_id,
    private_bytes,
    public_bytes,
    verify_signature,
)
from bioveil.vault.errors import VaultCryptoError, VaultError
from bioveil.vault.identity import VerifierIdentity
from bioveil.vault.sealing import context


@dataclass(frozen=True)
class CheckResult:
    decision: bool
    receipt: str


class Verifier:
    def __init__(self, identity: VerifierIdentity, http: Any = None) -> None:
        self.identity = identity
        self.key = Ed25519PrivateKey.from_private_bytes(b64d(identity.signing_key))
        self.box = X25519PrivateKey.from_private_bytes(b64d(identity.box_key))
        self.client = ServiceClient(identity.id, self.key, identity.url, http)

    @classmethod
    def create(cls, url: str, name: str, http: Any = None) -> Verifier:
        key, box = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
        raw = public_bytes(key.public_key())
        verifier_id = principal_id("ver", raw)
        client = ServiceClient(verifier_id, key, url, http)
        box_public = b64e(public_bytes(box.public_key()))
        answer = client.call("POST", "/verifiers", {"name": name, "public_key": b64e(raw), "box_key": box_public})
        identity = VerifierIdentity(id=verifier_id, name=name, url=url, service_key=answer["service_key"],
                                    signing_key=b64e(private_bytes(key)), box_key=b64e(private_bytes(box)))
        return cls(identity, http)

    @property
    def id(self) -> str:
        return self.identity.id

    def ask(self, owner_id: str, purpose: str, days: float, uses: int, offer: str = "") -> dict[str, Any]:
        """Post a request to an owner: what for, for how long, how many checks, what is offered."""
        return self.client.call("POST", "/requests", {"owner_id": owner_id, "purpose": purpose, "offer": offer,
                                                      "duration_s": round(days * 86400), "max_uses": uses})

    def requests(self) -> list[dict[str, Any]]:
        return self.client.call("GET", "/requests")

    def collect(self) -> list[dict[str, Any]]:
        """Fetch this verifier's grants and open their capabilities (kept in the identity file)."""
        grants = self.client.call("GET", "/grants")
        for grant in grants:
            if grant["revoked"]:
                self.identity.grants.pop(grant["id"], None)
                continue
            if grant["sealed_capability"] is None:
                continue
            where = context("grant", grant["id"], grant["version"])
            try:
                capability = open_sealed(self.box, b64d(grant["sealed_capability"]), where)
            except VaultCryptoError as exc:
                raise VaultError(f"grant {grant['id']}: its capability does not open with this verifier's key ({exc})") from None
            self.identity.grants[grant["id"]] = {"token": grant["token"], "capability": b64e(capability),
                                                 "version": grant["version"], "expires_at": grant["expires_at"]}
        return grants

    def check(self, grant_id: str, photo: bytes) -> CheckResult:
        """One 1:1 check of a live photo under a collected grant: yes or no, and the service's receipt."""
        held = self.identity.grants.get(grant_id)
        if held is None:
            raise VaultError(f"no collected grant {grant_id}; run `bioveil agora collect` first")
        payload = {"token": held["token"], "capability": held["capability"], "photo": b64e(photo)}
        answer = self.client.call("POST", "/verify", payload)
        self.identity.receipts.append(answer["receipt"])
        return CheckResult(bool(answer["decision"]), answer["receipt"])

    def check_receipt(self, receipt: str) -> dict[str, Any]:
        """The receipt's fields, once its signature and its inclusion in the current ledger are verified."""
        try:
            body_text, signature = receipt.split(".")
            body, sig = b64d(body_text), b64d(signature)
        except (ValueError, VaultCryptoError):
            raise VaultError("not a bioveil receipt") from None
        if not verify_signature(ed25519_public(b64d(self.identity.service_key)), sig, body):
            raise VaultError("the receipt's signature is not the service's")
        fields = json.loads(body)
        note = self.client.call("GET", "/ledger/checkpoint")["note"]
        checkpoint = open_checkpoint(note, ed25519_public(b64d(self.identity.service_key)), ORIGIN)
        if fields["seq"] >= checkpoint.size:
            raise VaultError("the receipt's entry is not in the ledger's latest checkpoint")
        proof = [b64d(p) for p in self.client.call("GET", "/ledger/inclusion", seq=fields["seq"], size=checkpoint.size)["proof"]]
        if not verify_inclusion(fields["seq"], checkpoint.size, b64d(fields["leaf"]), proof, checkpoint.root):
            raise VaultError("the receipt's entry is not in the ledger as signed now")
        return fields
