"""The service's append-only ledger: rows in the database, a Merkle tree over them, signed checkpoints.

Each entry is canonical JSON (sorted keys, no spaces) with a random salt, so nobody can guess an
entry from its leaf hash (a verifier holding a receipt learns the leaf hash, not why a check failed).
Appends happen inside the caller's transaction: an action and its entry commit together or not at all.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, func, select, text

from bioveil.ledger.checkpoint import Checkpoint, sign_checkpoint
from bioveil.ledger.merkle import MerkleTree, leaf_hash
from bioveil.service import db
from bioveil.vault.crypto import b64e

ORIGIN = "bioveil.vault/ledger"
KINDS = ("enrolment", "request", "decline", "grant", "use", "refusal", "revocation", "rotation")


def encode_entry(fields: Mapping[str, object]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class Ledger:
    """Append entries and answer for the tree: checkpoints, inclusion and consistency proofs."""

    def __init__(self, signing_key: Ed25519PrivateKey, origin: str = ORIGIN) -> None:
        self.signing_key = signing_key
        self.origin = origin
        self._lock = threading.Lock()
        self._tree = MerkleTree()

    def append(self, conn: Connection, owner_id: str, kind: str, **fields: object) -> tuple[int, bytes]:
        """Add one entry in ``conn``'s transaction; its sequence number and leaf hash."""
        if kind not in KINDS:
            raise ValueError(f"unknown ledger entry kind {kind!r}")
        entry = encode_entry(
            {"kind": kind, "owner": owner_id, "time": datetime.now(UTC).isoformat(), "salt": b64e(os.urandom(16)), **fields}
        )
        if conn.dialect.name == "postgresql":  # one appender at a time across processes
            conn.execute(text("SELECT pg_advisory_xact_lock(9162)"))
        with self._lock:
            seq = conn.execute(select(func.coalesce(func.max(db.ledger.c.seq), -1) + 1)).scalar_one()
            conn.execute(db.ledger.insert().values(seq=seq, owner_id=owner_id, entry=entry))
        return int(seq), leaf_hash(entry)

    def _sync(self, conn: Connection) -> MerkleTree:
        """The tree over every stored entry, brought up to date with rows appended since the last call.

        Rows are read once (by sequence number) and their hashes kept, so proofs cost O(log n). The cache
        is a speed-up only: an owner's audit checks entries as stored against the proofs, so a row edited
        behind the service's back fails the audit whether or not the cache still has its old hash.
        """
        rows = conn.execute(select(db.ledger.c.entry).where(db.ledger.c.seq >= self._tree.size).order_by(db.ledger.c.seq))
        for row in rows:
            self._tree.append(bytes(row.entry))
        return self._tree

    def checkpoint(self, conn: Connection) -> str:
        """A signed checkpoint of the whole ledger (also kept in ``checkpoints``)."""
        with self._lock:
            tree = self._sync(conn)
            size, root = tree.size, tree.root()
        note = sign_checkpoint(Checkpoint(self.origin, size, root), self.signing_key, self.origin)
        existing = conn.execute(select(db.checkpoints.c.size).where(db.checkpoints.c.size == size)).first()
        if existing is None:
            conn.execute(db.checkpoints.insert().values(size=size, note=note))
        return note

    def inclusion(self, conn: Connection, seq: int, size: int) -> list[bytes]:
        with self._lock:
            return self._sync(conn).inclusion_proof(seq, size)

    def consistency(self, conn: Connection, old_size: int, new_size: int) -> list[bytes]:
        with self._lock:
            return self._sync(conn).consistency_proof(old_size, new_size)

    def size(self, conn: Connection) -> int:
        with self._lock:
            return self._sync(conn).size

    @staticmethod
    def entries(conn: Connection, owner_id: str) -> list[tuple[int, bytes]]:
        query = select(db.ledger.c.seq, db.ledger.c.entry).where(db.ledger.c.owner_id == owner_id).order_by(db.ledger.c.seq)
        rows = conn.execute(query)
        return [(int(row.seq), bytes(row.entry)) for row in rows]
