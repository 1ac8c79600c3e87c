"""The service's tables (SQLAlchemy 2 Core): SQLite by default, PostgreSQL for larger deployments.

What is stored, and what is not:
- templates only in protected form (a keyed cancelable transform), AES-GCM sealed; the keys that
  open them live in another table (``grant_keys``), themselves wrapped: one copy by the owner's
  passphrase key, one by the capability only the verifier holds; the vault alone opens nothing.
- no photo, no raw embedding, no score.
- the ledger: every enrolment, request, grant, use, revocation and rotation, append-only.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()

owners = Table(
    "owners",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("kdf", JSON, nullable=False),  # salt (base64url) and Argon2id parameters
    Column("created_at", DateTime(timezone=True), nullable=False),
)

verifiers = Table(
    "verifiers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("box_key", LargeBinary, nullable=False),  # X25519, to receive capabilities
    Column("created_at", DateTime(timezone=True), nullable=False),
)

enrolments = Table(
    "enrolments",
    metadata,
    Column("owner_id", String(40), ForeignKey("owners.id"), primary_key=True),
    Column("recognizer", String(20), nullable=False),
    Column("transform", String(20), nullable=False),
    Column("photos", Integer, nullable=False),
    Column("template", LargeBinary, nullable=False),  # sealed: transform key + protected template
    Column("wrapped_key", LargeBinary, nullable=False),  # by the owner's passphrase key
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("verifier_id", String(40), ForeignKey("verifiers.id"), nullable=False, index=True),
    Column("owner_id", String(40), ForeignKey("owners.id"), nullable=False, index=True),
    Column("purpose", Text, nullable=False),
    Column("offer", Text, nullable=False),
    Column("duration_s", BigInteger, nullable=False),
    Column("max_uses", Integer, nullable=False),
    Column("status", String(10), nullable=False),  # pending, accepted, declined
    Column("created_at", DateTime(timezone=True), nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("request_id", String(40), ForeignKey("requests.id"), nullable=False, unique=True),
    Column("owner_id", String(40), ForeignKey("owners.id"), nullable=False, index=True),
    Column("verifier_id", String(40), ForeignKey("verifiers.id"), nullable=False, index=True),
    Column("token", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("uses_left", Integer, nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("recognizer", String(20), nullable=False),
    Column("transform", String(20), nullable=False),
    Column("template", LargeBinary),  # sealed; erased on revocation
    Column("sealed_capability", LargeBinary),  # for the verifier's X25519 key only
    Column("version", Integer, nullable=False),
)

grant_keys = Table(
    "grant_keys",
    metadata,
    Column("grant_id", String(40), ForeignKey("grants.id"), primary_key=True),
    Column("by_capability", LargeBinary, nullable=False),
    Column("by_owner", LargeBinary, nullable=False),
)

nonces = Table(
    "nonces",
    metadata,
    Column("principal", String(40), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen_at", BigInteger, nullable=False, index=True),
)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_id", String(40), nullable=False, index=True),
    Column("entry", LargeBinary, nullable=False),  # canonical JSON: the leaf's data
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)


# SQLite has one writer at a time; a transaction that read, then writes after another one committed,
# fails at once (SQLITE_BUSY) instead of waiting. One service process serialises its own write
# transactions instead (reads never wait, in WAL mode). PostgreSQL needs no such lock.
_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on error."""
    with _write_locks.get(engine) or nullcontext(), engine.begin() as conn:
        yield conn


def default_url() -> str:
    """A SQLite file in the user's data folder (created 0700)."""
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "bioveil"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return f"sqlite:///{base / 'vault.db'}"


def connect(url: str) -> Engine:
    """An engine for ``url`` with the tables created; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
            connection.isolation_level = None  # transactions are begun below, not by the driver
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN")

        _write_locks[engine] = threading.Lock()

    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    metadata.create_all(engine)
    return engine
