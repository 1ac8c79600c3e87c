"""The owner's audit catches any edit, deletion or reordering of stored ledger rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from tests.service.conftest import OWNER_PERSON, granted

from bioveil.service import db
from bioveil.service.app import ServiceSettings
from bioveil.vault.audit import AuditError, audit
from bioveil.vault.errors import VaultError

pytestmark = pytest.mark.data


def _history(service: TestClient, photos: dict[str, list[Path]]):  # type: ignore[no-untyped-def]
    owner, verifier, grant_id = granted(service, photos)
    for photo in photos[OWNER_PERSON][4:6]:
        verifier.check(grant_id, photo.read_bytes())
    first = audit(owner)
    assert first.previous_size is None and {e["kind"] for e in first.entries} == {"enrolment", "request", "grant", "use"}
    later = verifier.check(grant_id, photos[OWNER_PERSON][6].read_bytes())  # a later, honest entry
    return owner, verifier, later.receipt, first


def test_honest_ledger_passes_and_grows(service: TestClient, photos: dict[str, list[Path]]) -> None:
    owner, _, _, first = _history(service, photos)
    second = audit(owner)
    assert second.previous_size == first.size and second.size == first.size + 1 and second.new == 1


def _rows(settings: ServiceSettings):  # type: ignore[no-untyped-def]
    engine = db.connect(settings.database)
    with engine.connect() as conn:
        return engine, conn.execute(select(db.ledger).order_by(db.ledger.c.seq)).all()


@pytest.mark.parametrize("tampering", ["edit", "delete", "reorder", "move-owner"])
def test_audit_catches_tampering(service: TestClient, photos: dict[str, list[Path]], settings: ServiceSettings,
                                 tampering: str) -> None:
    owner, _, _, _ = _history(service, photos)
    engine, rows = _rows(settings)
    uses = [row for row in rows if json.loads(row.entry)["kind"] == "use"]
    with engine.begin() as conn:
        if tampering == "edit":  # a past check's decision flipped
            entry = json.loads(uses[0].entry)
            entry["decision"] = not entry["decision"]
            conn.execute(update(db.ledger).where(db.ledger.c.seq == uses[0].seq).values(entry=json.dumps(entry).encode()))
        elif tampering == "delete":  # a past check removed (the rows after it keep their numbers)
            conn.execute(delete(db.ledger).where(db.ledger.c.seq == uses[0].seq))
        elif tampering == "reorder":  # two entries swapped
            a, b = rows[1], rows[2]
            conn.execute(update(db.ledger).where(db.ledger.c.seq == a.seq).values(entry=b.entry, owner_id=b.owner_id))
            conn.execute(update(db.ledger).where(db.ledger.c.seq == b.seq).values(entry=a.entry, owner_id=a.owner_id))
        elif tampering == "move-owner":  # an entry hidden from its owner's listing
            conn.execute(update(db.ledger).where(db.ledger.c.seq == uses[0].seq).values(owner_id="own_someoneelse000000"))
    with pytest.raises(AuditError):
        audit(owner)


def test_receipt_catches_an_entry_edited_before_any_audit(service: TestClient, photos: dict[str, list[Path]],
                                                          settings: ServiceSettings) -> None:
    """What happened after the owner's last audit is pinned by the verifier's receipt (it holds the leaf hash)."""
    _, verifier, receipt, _ = _history(service, photos)
    engine, rows = _rows(settings)
    entry = json.loads(rows[-1].entry)
    entry["decision"] = not entry["decision"]
    with engine.begin() as conn:
        conn.execute(update(db.ledger).where(db.ledger.c.seq == rows[-1].seq).values(entry=json.dumps(entry).encode()))
    with pytest.raises(VaultError, match="not in the ledger"):
        verifier.check_receipt(receipt)
