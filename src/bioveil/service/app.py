"""The vault service (FastAPI): owners keep protected templates, verifiers ask, owners grant, checks answer yes/no.

Every endpoint needs a signed request (``auth.py``); registration proves possession of the key being
registered. Each caller sees only its own objects: anything else answers 404, exactly as if it did
not exist. Every state change and its ledger entry commit in one transaction.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bioveil import __version__
from bioveil.concurrency import usable_cores
from bioveil.errors import InvalidOptionError
from bioveil.service import db, schemas
from bioveil.service.auth import NONCE, PRINCIPAL, WINDOW, AuthenticationFailed, Principal, check_signature
from bioveil.service.checks import run_check
from bioveil.service.ledger import Ledger
from bioveil.service.ratelimit import Admission, RateLimiter
from bioveil.vault.crypto import b64d, b64e, ed25519_public, principal_id, public_bytes, x25519_public
from bioveil.vault.errors import GrantError, VaultCryptoError
from bioveil.vault.grants import open_grant, purpose_hash

log = logging.getLogger(__name__)

NOT_FOUND = "not found"


@dataclass
class ServiceSettings:
    """Where the service keeps its data, and how fast a verifier may ask."""

    database: str | None = None  # SQLAlchemy URL; default: a SQLite file in the user's data folder
    key_file: Path | None = None  # the service's Ed25519 key (receipts, checkpoints); default beside the database
    verify_rate: float = 5.0  # checks a second per verifier
    verify_burst: int = 10
    face_workers: int | None = None  # checks whose face networks run at once; default: one per core
    waiting_checks: int = 16  # checks held per face worker, running or queued; more are refused with 503

    def __post_init__(self) -> None:
        if self.face_workers is not None and self.face_workers < 1:
            raise InvalidOptionError(f"face workers must be at least 1 (or unset: one per core), got {self.face_workers}")
        if self.waiting_checks < 1:
            raise InvalidOptionError(f"waiting checks must be at least 1, got {self.waiting_checks}")


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The service's signing key, created once (0600) beside its data."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise VaultCryptoError(f"{path} is not an Ed25519 private key; move it away to create a new one")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(pem)
    tmp.replace(path)
    return key


@dataclass
class VaultState:
    engine: Engine
    key: Ed25519PrivateKey
    ledger: Ledger
    limiter: RateLimiter
    faces: threading.BoundedSemaphore
    _last_sweep: float = 0.0
    _sweep_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def service_key(self) -> str:
        return b64e(public_bytes(self.key.public_key()))

    def record_nonce(self, principal: str, nonce: str, moment: int) -> None:
        try:
            with db.write(self.engine) as conn:
                conn.execute(insert(db.nonces).values(principal=principal, nonce=nonce, seen_at=moment))
        except IntegrityError:
            raise AuthenticationFailed("replayed nonce") from None
        now = time.time()
        if now - self._last_sweep > WINDOW and self._sweep_lock.acquire(blocking=False):
            try:  # nonces older than the window can no longer be replayed: drop them
                with db.write(self.engine) as conn:
                    conn.execute(delete(db.nonces).where(db.nonces.c.seen_at < int(now) - 2 * WINDOW))
                self._last_sweep = now
            finally:
                self._sweep_lock.release()


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite returns naive datetimes: they were stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _decode(value: str, what: str) -> bytes:
    try:
        return b64d(value)
    except VaultCryptoError:
        raise HTTPException(422, f"{what} is not base64url") from None


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    url = settings.database or db.default_url()
    engine = db.connect(url)
    key_file = settings.key_file or (Path(url.removeprefix("sqlite:///")).with_name("service_key.pem")
                                     if url.startswith("sqlite:///") else Path.home() / ".local/share/bioveil/service_key.pem")
    key = load_or_create_key(key_file)
    face_workers = settings.face_workers or usable_cores()
    state = VaultState(engine, key, Ledger(key), RateLimiter(settings.verify_rate, settings.verify_burst),
                       threading.BoundedSemaphore(face_workers))
    app = FastAPI(title="bioveil vault", version=__version__,
                  description="Protected face templates owned by their people; verifiers get yes/no under signed grants.")
    app.state.vault = state
    app.add_middleware(Admission, path="/verify", limit=face_workers * settings.waiting_checks)

    async def raw_body(request: Request) -> bytes:
        return await request.body()

    def _target(request: Request) -> str:
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")

    def authenticate(request: Request, body: bytes, public_key: bytes | None, principal: str) -> Principal:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            if public_key is None:
                raise AuthenticationFailed("unknown principal")
            nonce, moment = check_signature(headers, public_key, request.method, _target(request), body)
            state.record_nonce(principal, nonce, moment)
        except AuthenticationFailed as exc:
            log.info("authentication failed for %r on %s: %s", principal, request.url.path, exc.reason)
            raise HTTPException(401, "authentication failed") from None
        return Principal(principal, public_key)

    def caller(request: Request, body: bytes = Depends(raw_body)) -> Principal:
        principal = request.headers.get(PRINCIPAL, "")
        table = db.owners if principal.startswith("own_") else db.verifiers
        with engine.connect() as conn:
            public_key = conn.execute(select(table.c.public_key).where(table.c.id == principal)).scalar_one_or_none()
        return authenticate(request, body, public_key, principal)

    def owner(who: Principal = Depends(caller)) -> Principal:
        if who.kind != "owner":
            raise HTTPException(403, "only a vault owner may do this")
        return who

    def verifier(who: Principal = Depends(caller)) -> Principal:
        if who.kind != "verifier":
            raise HTTPException(403, "only a registered verifier may do this")
        return who

    def registering(request: Request, prefix: str, public_key: str, body: bytes) -> str:
        raw = _decode(public_key, "public_key")
        principal = principal_id(prefix, raw)
        if request.headers.get(PRINCIPAL) != principal:
            raise HTTPException(401, "authentication failed")
        try:
            ed25519_public(raw)
        except VaultCryptoError as exc:
            raise HTTPException(422, str(exc)) from None
        authenticate(request, body, raw, principal)
        return principal

    # -- registration --------------------------------------------------------------------------

    @app.post("/owners", response_model=schemas.Registered, status_code=201, tags=["owners"])
    def register_owner(payload: schemas.OwnerIn, request: Request, body: bytes = Depends(raw_body)) -> schemas.Registered:
        """Create a vault for the key that signs this request."""
        principal = registering(request, "own", payload.public_key, body)
        kdf = {"salt": payload.kdf_salt, "iterations": payload.kdf_iterations, "memory_kib": payload.kdf_memory_kib,
               "lanes": payload.kdf_lanes}
        try:
            with db.write(engine) as conn:
                conn.execute(insert(db.owners).values(id=principal, public_key=b64d(payload.public_key), kdf=kdf,
                                                      created_at=_now()))
        except IntegrityError:
            raise HTTPException(409, "this key already has a vault") from None
        return schemas.Registered(id=principal, service_key=state.service_key)

    @app.post("/verifiers", response_model=schemas.Registered, status_code=201, tags=["agora"])
    def register_verifier(payload: schemas.VerifierIn, request: Request, body: bytes = Depends(raw_body)) -> schemas.Registered:
        """Register the verifier whose key signs this request."""
        principal = registering(request, "ver", payload.public_key, body)
        try:
            x25519_public(_decode(payload.box_key, "box_key"))
        except VaultCryptoError as exc:
            raise HTTPException(422, str(exc)) from None
        try:
            with db.write(engine) as conn:
                conn.execute(insert(db.verifiers).values(id=principal, name=payload.name, public_key=b64d(payload.public_key),
                                                         box_key=b64d(payload.box_key), created_at=_now()))
        except IntegrityError:
            raise HTTPException(409, "this key is already registered") from None
        return schemas.Registered(id=principal, service_key=state.service_key)

    # -- the owner's vault -----------------------------------------------------------------------

    @app.get("/owners/{owner_id}", response_model=schemas.OwnerOut, tags=["owners"])
    def get_owner(owner_id: str, who: Principal = Depends(owner)) -> schemas.OwnerOut:
        if owner_id != who.id:
            raise HTTPException(404, NOT_FOUND)
        with engine.connect() as conn:
            row = conn.execute(select(db.owners).where(db.owners.c.id == who.id)).one()
            enrolled = conn.execute(select(db.enrolments.c.owner_id).where(db.enrolments.c.owner_id == who.id)).first()
        kdf = row.kdf
        return schemas.OwnerOut(id=row.id, kdf_salt=kdf["salt"], kdf_iterations=kdf["iterations"],
                                kdf_memory_kib=kdf["memory_kib"], kdf_lanes=kdf["lanes"], enrolled=enrolled is not None)

    @app.put("/owners/{owner_id}/enrolment", response_model=schemas.EnrolmentOut, tags=["owners"])
    def put_enrolment(owner_id: str, payload: schemas.EnrolmentIn, who: Principal = Depends(owner)) -> schemas.EnrolmentOut:
        """Enrol, or re-enrol (which bumps the version: the old template is replaced)."""
        if owner_id != who.id:
            raise HTTPException(404, NOT_FOUND)
        values = {"recognizer": payload.recognizer, "transform": payload.transform, "photos": payload.photos,
                  "template": _decode(payload.template, "template"), "wrapped_key": _decode(payload.wrapped_key, "wrapped_key"),
                  "created_at": _now()}
        with db.write(engine) as conn:
            version = conn.execute(select(db.enrolments.c.version).where(db.enrolments.c.owner_id == who.id)).scalar_one_or_none()
            if version is None:
                version = 1
                conn.execute(insert(db.enrolments).values(owner_id=who.id, version=version, **values))
            else:
                version += 1
                conn.execute(update(db.enrolments).where(db.enrolments.c.owner_id == who.id).values(version=version, **values))
            state.ledger.append(conn, who.id, "enrolment", version=version, recognizer=payload.recognizer,
                                transform=payload.transform, photos=payload.photos)
        return schemas.EnrolmentOut(version=version, **payload.model_dump())

    @app.get("/owners/{owner_id}/enrolment", response_model=schemas.EnrolmentOut, tags=["owners"])
    def get_enrolment(owner_id: str, who: Principal = Depends(owner)) -> schemas.EnrolmentOut:
        if owner_id != who.id:
            raise HTTPException(404, NOT_FOUND)
        with engine.connect() as conn:
            row = conn.execute(select(db.enrolments).where(db.enrolments.c.owner_id == who.id)).first()
        if row is None:
            raise HTTPException(404, "not enrolled yet: run `bioveil vault enrol` first")
        return schemas.EnrolmentOut(recognizer=row.recognizer, transform=row.transform, photos=row.photos,
                                    template=b64e(row.template), wrapped_key=b64e(row.wrapped_key), version=row.version)

    # -- requests in the agora -------------------------------------------------------------------

    def _request_out(conn: Connection, row) -> schemas.RequestOut:  # type: ignore[no-untyped-def]
        who = conn.execute(select(db.verifiers).where(db.verifiers.c.id == row.verifier_id)).one()
        return schemas.RequestOut(id=row.id, verifier_id=row.verifier_id, verifier_name=who.name,
                                  verifier_key=b64e(who.public_key), verifier_box_key=b64e(who.box_key), owner_id=row.owner_id,
                                  purpose=row.purpose, offer=row.offer, duration_s=row.duration_s, max_uses=row.max_uses,
                                  status=row.status, created_at=_iso(row.created_at))

    def _mine(who: Principal):  # type: ignore[no-untyped-def]
        column = db.requests.c.owner_id if who.kind == "owner" else db.requests.c.verifier_id
        return column == who.id

    @app.post("/requests", response_model=schemas.RequestOut, status_code=201, tags=["agora"])
    def post_request(payload: schemas.RequestIn, who: Principal = Depends(verifier)) -> schemas.RequestOut:
        """Ask an owner for a grant: what for, how long, how many checks, and what is offered in return."""
        request_id = _new_id("req")
        with db.write(engine) as conn:
            known = conn.execute(select(db.owners.c.id).where(db.owners.c.id == payload.owner_id)).first()
            if known is None:
                raise HTTPException(404, "no such vault")
            conn.execute(insert(db.requests).values(id=request_id, verifier_id=who.id, status="pending", created_at=_now(),
                                                    **payload.model_dump()))
            state.ledger.append(conn, payload.owner_id, "request", request=request_id, verifier=who.id,
                                purpose=purpose_hash(payload.purpose), duration_s=payload.duration_s, max_uses=payload.max_uses)
            row = conn.execute(select(db.requests).where(db.requests.c.id == request_id)).one()
            return _request_out(conn, row)

    @app.get("/requests", response_model=list[schemas.RequestOut], tags=["agora"])
    def list_requests(status: str | None = Query(default=None, pattern="^(pending|accepted|declined)$"),
                      who: Principal = Depends(caller)) -> list[schemas.RequestOut]:
        """The caller's requests: incoming for an owner, outgoing for a verifier."""
        query = select(db.requests).where(_mine(who)).order_by(db.requests.c.created_at)
        if status:
            query = query.where(db.requests.c.status == status)
        with engine.connect() as conn:
            return [_request_out(conn, row) for row in conn.execute(query).all()]

    @app.get("/requests/{request_id}", response_model=schemas.RequestOut, tags=["agora"])
    def get_request(request_id: str, who: Principal = Depends(caller)) -> schemas.RequestOut:
        with engine.connect() as conn:
            row = conn.execute(select(db.requests).where(db.requests.c.id == request_id, _mine(who))).first()
            if row is None:
                raise HTTPException(404, NOT_FOUND)
            return _request_out(conn, row)

    @app.post("/requests/{request_id}/decline", response_model=schemas.RequestOut, tags=["agora"])
    def decline(request_id: str, who: Principal = Depends(owner)) -> schemas.RequestOut:
        with db.write(engine) as conn:
            done = conn.execute(update(db.requests).where(db.requests.c.id == request_id, db.requests.c.owner_id == who.id,
                                                          db.requests.c.status == "pending").values(status="declined")).rowcount
            row = conn.execute(select(db.requests).where(db.requests.c.id == request_id, _mine(who))).first()
            if row is None:
                raise HTTPException(404, NOT_FOUND)
            if not done:
                raise HTTPException(409, f"the request is already {row.status}")
            state.ledger.append(conn, who.id, "decline", request=request_id, verifier=row.verifier_id)
            return _request_out(conn, row)

    # -- grants ------------------------------------------------------------------------------------

    def _grant_out(row, who: Principal) -> schemas.GrantOut:  # type: ignore[no-untyped-def]
        sealed = row.sealed_capability if who.kind == "verifier" and row.sealed_capability is not None else None
        return schemas.GrantOut(id=row.id, request_id=row.request_id, owner_id=row.owner_id, verifier_id=row.verifier_id,
                                token=row.token, expires_at=_iso(row.expires_at), uses_left=row.uses_left,
                                revoked=row.revoked_at is not None, version=row.version,
                                sealed_capability=None if sealed is None else b64e(sealed))

    def _grant_mine(who: Principal):  # type: ignore[no-untyped-def]
        column = db.grants.c.owner_id if who.kind == "owner" else db.grants.c.verifier_id
        return column == who.id

    @app.post("/grants", response_model=schemas.GrantOut, status_code=201, tags=["grants"])
    def post_grant(payload: schemas.GrantIn, who: Principal = Depends(owner)) -> schemas.GrantOut:
        """Accept a pending request with a token the owner signed and a template sealed for this grant."""
        with db.write(engine) as conn:
            request_row = conn.execute(select(db.requests).where(db.requests.c.id == payload.request_id,
                                                                 db.requests.c.owner_id == who.id)).first()
            if request_row is None:
                raise HTTPException(404, NOT_FOUND)
            if request_row.status != "pending":
                raise HTTPException(409, f"the request is already {request_row.status}")
            verifier_key = conn.execute(select(db.verifiers.c.public_key)
                                        .where(db.verifiers.c.id == request_row.verifier_id)).scalar_one()
            try:
                grant = open_grant(payload.token, ed25519_public(who.public_key), audience=request_row.verifier_id)
            except GrantError as exc:
                raise HTTPException(422, f"the grant token is not valid: {exc}") from None
            problems = []
            if grant.vault != who.id:
                problems.append("iss is not this vault")
            if grant.verifier_key != b64e(verifier_key):
                problems.append("cnf is not the requesting verifier's key")
            if grant.purpose != purpose_hash(request_row.purpose):
                problems.append("purpose is not the request's")
            if grant.max_uses > request_row.max_uses:
                problems.append("more uses than requested")
            if (grant.expires - grant.not_before).total_seconds() > request_row.duration_s + 60:
                problems.append("longer than requested")
            if not grant.grant_id.startswith("gr_"):
                problems.append("jti is not a grant id")
            if problems:
                raise HTTPException(422, "the grant token does not fit the request: " + "; ".join(problems))
            try:
                conn.execute(insert(db.grants).values(
                    id=grant.grant_id, request_id=request_row.id, owner_id=who.id, verifier_id=request_row.verifier_id,
                    token=payload.token, expires_at=grant.expires, uses_left=grant.max_uses, recognizer=payload.recognizer,
                    transform=payload.transform, template=_decode(payload.template, "template"),
                    sealed_capability=_decode(payload.sealed_capability, "sealed_capability"), version=1))
                conn.execute(insert(db.grant_keys).values(grant_id=grant.grant_id,
                                                          by_capability=_decode(payload.by_capability, "by_capability"),
                                                          by_owner=_decode(payload.by_owner, "by_owner")))
            except IntegrityError:
                raise HTTPException(409, "this grant id is already used") from None
            conn.execute(update(db.requests).where(db.requests.c.id == request_row.id).values(status="accepted"))
            state.ledger.append(conn, who.id, "grant", grant=grant.grant_id, request=request_row.id,
                                verifier=request_row.verifier_id, expires=grant.expires.isoformat(), max_uses=grant.max_uses)
            row = conn.execute(select(db.grants).where(db.grants.c.id == grant.grant_id)).one()
        return _grant_out(row, who)

    @app.get("/grants", response_model=list[schemas.GrantOut], tags=["grants"])
    def list_grants(who: Principal = Depends(caller)) -> list[schemas.GrantOut]:
        with engine.connect() as conn:
            rows = conn.execute(select(db.grants).where(_grant_mine(who)).order_by(db.grants.c.expires_at)).all()
        return [_grant_out(row, who) for row in rows]

    @app.get("/grants/{grant_id}", response_model=schemas.GrantOut, tags=["grants"])
    def get_grant(grant_id: str, who: Principal = Depends(caller)) -> schemas.GrantOut:
        with engine.connect() as conn:
            row = conn.execute(select(db.grants).where(db.grants.c.id == grant_id, _grant_mine(who))).first()
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        return _grant_out(row, who)

    @app.get("/grants/{grant_id}/keys", response_model=schemas.RotateIn, tags=["grants"])
    def get_grant_keys(grant_id: str, who: Principal = Depends(owner)) -> schemas.RotateIn:
        """The owner's sealed copies (nothing here opens without the owner's passphrase or the capability)."""
        with engine.connect() as conn:
            row = conn.execute(select(db.grants.c.template, db.grants.c.sealed_capability, db.grant_keys.c.by_owner,
                                      db.grant_keys.c.by_capability)
                               .join(db.grant_keys, db.grant_keys.c.grant_id == db.grants.c.id)
                               .where(db.grants.c.id == grant_id, db.grants.c.owner_id == who.id)).first()
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        return schemas.RotateIn(template=b64e(row.template), by_owner=b64e(row.by_owner),
                                by_capability=b64e(row.by_capability), sealed_capability=b64e(row.sealed_capability))

    @app.post("/grants/{grant_id}/revoke", response_model=schemas.GrantOut, tags=["grants"])
    def revoke(grant_id: str, who: Principal = Depends(owner)) -> schemas.GrantOut:
        """Revoke now: the template and its keys are erased, so nothing can match under this grant again."""
        with db.write(engine) as conn:
            done = conn.execute(update(db.grants).where(db.grants.c.id == grant_id, db.grants.c.owner_id == who.id,
                                                        db.grants.c.revoked_at.is_(None))
                                .values(revoked_at=_now(), template=None, sealed_capability=None, uses_left=0)).rowcount
            row = conn.execute(select(db.grants).where(db.grants.c.id == grant_id, db.grants.c.owner_id == who.id)).first()
            if row is None:
                raise HTTPException(404, NOT_FOUND)
            if done:
                conn.execute(delete(db.grant_keys).where(db.grant_keys.c.grant_id == grant_id))
                state.ledger.append(conn, who.id, "revocation", grant=grant_id, verifier=row.verifier_id)
        return _grant_out(row, who)

    @app.post("/grants/{grant_id}/rotate", response_model=schemas.GrantOut, tags=["grants"])
    def rotate(grant_id: str, payload: schemas.RotateIn, who: Principal = Depends(owner)) -> schemas.GrantOut:
        """Replace a grant's template and keys (sealed for the next version): the old capability opens nothing."""
        with db.write(engine) as conn:
            row = conn.execute(select(db.grants).where(db.grants.c.id == grant_id, db.grants.c.owner_id == who.id)).first()
            if row is None:
                raise HTTPException(404, NOT_FOUND)
            if row.revoked_at is not None:
                raise HTTPException(409, "the grant is revoked; a revoked grant cannot be rotated")
            done = conn.execute(update(db.grants).where(db.grants.c.id == grant_id, db.grants.c.version == row.version)
                                .values(version=row.version + 1, template=_decode(payload.template, "template"),
                                        sealed_capability=_decode(payload.sealed_capability, "sealed_capability"))).rowcount
            if not done:
                raise HTTPException(409, "the grant changed meanwhile; try again")
            conn.execute(update(db.grant_keys).where(db.grant_keys.c.grant_id == grant_id)
                         .values(by_owner=_decode(payload.by_owner, "by_owner"),
                                 by_capability=_decode(payload.by_capability, "by_capability")))
            state.ledger.append(conn, who.id, "rotation", grant=grant_id, version=row.version + 1)
            row = conn.execute(select(db.grants).where(db.grants.c.id == grant_id)).one()
        return _grant_out(row, who)

    # -- checks ------------------------------------------------------------------------------------

    @app.post("/verify", response_model=schemas.VerifyOut, tags=["checks"],
              responses={429: {"model": schemas.Refusal, "description": "too many checks; wait Retry-After seconds"},
                         503: {"model": schemas.Refusal, "description": "the service is full; try again after Retry-After"}})
    def verify(payload: schemas.VerifyIn, request: Request,
               who: Principal = Depends(verifier)) -> schemas.VerifyOut | JSONResponse:
        """One 1:1 check under a grant: the answer is yes or no and a signed receipt, never a score."""
        wait = state.limiter.allow(who.id)
        if wait:
            return JSONResponse({"detail": "too many checks; slow down"}, status_code=429,
                                headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        outcome = run_check(engine, state.ledger, state.key, who, payload.token, payload.capability, payload.photo,
                            request.headers.get(NONCE, ""), state.faces)
        return schemas.VerifyOut(decision=outcome.decision, receipt=outcome.receipt)

    # -- the ledger ----------------------------------------------------------------------------------

    @app.get("/ledger/checkpoint", response_model=schemas.CheckpointOut, tags=["ledger"])
    def checkpoint(who: Principal = Depends(caller)) -> schemas.CheckpointOut:
        """A checkpoint of the whole ledger, signed by the service."""
        with db.write(engine) as conn:
            note = state.ledger.checkpoint(conn)
        return schemas.CheckpointOut(size=int(note.split("\n")[1]), note=note)

    def _size(conn: Connection, *sizes: int) -> None:
        have = state.ledger.size(conn)
        if any(size > have for size in sizes):
            raise HTTPException(404, f"the ledger has only {have} entries")

    @app.get("/ledger/consistency", response_model=schemas.ProofOut, tags=["ledger"])
    def consistency(old: int = Query(ge=0), new: int = Query(ge=0), who: Principal = Depends(caller)) -> schemas.ProofOut:
        if old > new:
            raise HTTPException(422, "old must not be larger than new")
        with engine.connect() as conn:
            _size(conn, new)
            proof = state.ledger.consistency(conn, old, new)
        return schemas.ProofOut(proof=[b64e(item) for item in proof])

    @app.get("/ledger/inclusion", response_model=schemas.ProofOut, tags=["ledger"])
    def inclusion(seq: int = Query(ge=0), size: int = Query(ge=1), who: Principal = Depends(caller)) -> schemas.ProofOut:
        if seq >= size:
            raise HTTPException(422, "seq must be below size")
        with engine.connect() as conn:
            _size(conn, size)
            proof = state.ledger.inclusion(conn, seq, size)
        return schemas.ProofOut(proof=[b64e(item) for item in proof])

    @app.get("/ledger/entries", response_model=list[schemas.EntryOut], tags=["ledger"])
    def entries(who: Principal = Depends(owner)) -> list[schemas.EntryOut]:
        """The owner's own entries, in order (other people's entries are visible only as hashes in proofs)."""
        with engine.connect() as conn:
            return [schemas.EntryOut(seq=seq, entry=b64e(entry)) for seq, entry in Ledger.entries(conn, who.id)]

    return app

