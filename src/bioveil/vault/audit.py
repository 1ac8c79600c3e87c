"""The owner's audit of the ledger: nobody can rewrite, drop or reorder what happened to their vault unnoticed.

1. The service's latest checkpoint must carry the service's signature (its key pinned at registration).
2. It must extend the last checkpoint this owner accepted: a consistency proof from that size to the
   new one (RFC 9162 2.1.4), so no entry before it was changed, removed or moved.
3. Every entry of this owner must be in the new tree: an inclusion proof for each (2.1.3), and each
   entry must name this owner.
4. Every entry accepted in an earlier audit must still be there, unchanged.
The accepted checkpoint and entries are then remembered for the next audit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bioveil.ledger.checkpoint import open_checkpoint
from bioveil.ledger.errors import CheckpointError, LedgerError
from bioveil.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from bioveil.service.ledger import ORIGIN
from bioveil.vault.crypto import b64d, b64e, ed25519_public
from bioveil.vault.owner import Owner


class AuditError(LedgerError):
    """The ledger does not hold up: the message says which check failed. Keep your identity file as evidence."""


@dataclass(frozen=True)
class AuditReport:
    size: int  # entries in the whole ledger
    previous_size: int | None  # the checkpoint the consistency proof started from
    entries: list[dict[str, Any]]  # this owner's entries, oldest first, each with its "seq"
    new: int  # entries not seen in an earlier audit


def audit(owner: Owner) -> AuditReport:
    identity, client = owner.identity, owner.client
    service_key = ed25519_public(b64d(identity.service_key))
    note = client.call("GET", "/ledger/checkpoint")["note"]
    try:
        checkpoint = open_checkpoint(note, service_key, ORIGIN)
    except CheckpointError as exc:
        raise AuditError(f"the service's checkpoint is not signed by the key pinned at registration: {exc}") from None
    previous_size = None
    if identity.checkpoint:
        previous = open_checkpoint(identity.checkpoint, service_key, ORIGIN)
        previous_size = previous.size
        if checkpoint.size < previous.size:
            raise AuditError(f"the ledger shrank from {previous.size} to {checkpoint.size} entries: entries were deleted")
        answer = client.call("GET", "/ledger/consistency", old=previous.size, new=checkpoint.size)
        proof = [b64d(item) for item in answer["proof"]]
        if not verify_consistency(previous.size, checkpoint.size, previous.root, checkpoint.root, proof):
            raise AuditError(f"the ledger of {checkpoint.size} entries does not extend the one of {previous.size} "
                             "you audited before: its history was rewritten")
    entries, seen = [], {}
    for item in client.call("GET", "/ledger/entries"):
        data, seq = b64d(item["entry"]), int(item["seq"])
        leaf = leaf_hash(data)
        entry = json.loads(data)
        if entry.get("owner") != identity.id:
            raise AuditError(f"ledger entry {seq} is listed as yours but names {entry.get('owner')!r}")
        if seq >= checkpoint.size:
            continue  # appended after the checkpoint: checked next time
        proof = [b64d(p) for p in client.call("GET", "/ledger/inclusion", seq=seq, size=checkpoint.size)["proof"]]
        if not verify_inclusion(seq, checkpoint.size, leaf, proof, checkpoint.root):
            raise AuditError(f"ledger entry {seq} ({entry.get('kind')}) is not in the signed tree: it was changed or moved")
        seen[str(seq)] = b64e(leaf)
        entries.append({"seq": seq, **entry})
    for seq, leaf in identity.known_entries.items():
        if seen.get(seq) != leaf:
            raise AuditError(f"ledger entry {seq}, seen in an earlier audit, is gone or changed")
    new = len(set(seen) - set(identity.known_entries))
    identity.checkpoint, identity.known_entries = note, seen
    return AuditReport(checkpoint.size, previous_size, entries, new)
