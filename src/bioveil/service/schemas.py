"""Request and response bodies of the vault service (the OpenAPI schema is built from these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

B64 = r"^[A-Za-z0-9_-]*$"
KEY = Field(pattern=B64, min_length=43, max_length=43, description="32 raw bytes, base64url without padding")
BLOB = Field(pattern=B64, max_length=8192, description="sealed bytes, base64url without padding")
ID = Field(pattern=r"^[a-z]{2,3}_[a-z0-9]{6,36}$", max_length=40)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OwnerIn(Strict):
    public_key: str = KEY
    kdf_salt: str = Field(pattern=B64, min_length=16, max_length=64)
    kdf_iterations: int = Field(ge=1, le=64)
    kdf_memory_kib: int = Field(ge=8 * 1024, le=4 * 1024 * 1024)
    kdf_lanes: int = Field(ge=1, le=64)


class VerifierIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    public_key: str = KEY
    box_key: str = KEY


class Registered(BaseModel):
    id: str
    service_key: str  # the service's Ed25519 key, to pin: it signs receipts and checkpoints


class OwnerOut(BaseModel):
    id: str
    kdf_salt: str
    kdf_iterations: int
    kdf_memory_kib: int
    kdf_lanes: int
    enrolled: bool


class EnrolmentIn(Strict):
    recognizer: str = Field(pattern=r"^(sface|dlib|facenet)$")
    transform: str = Field(pattern=r"^[a-z0-9_-]{1,20}$")
    photos: int = Field(ge=1, le=100)
    template: str = BLOB
    wrapped_key: str = BLOB


class EnrolmentOut(BaseModel):
    recognizer: str
    transform: str
    photos: int
    template: str
    wrapped_key: str
    version: int


class RequestIn(Strict):
    owner_id: str = ID
    purpose: str = Field(min_length=1, max_length=2000)
    offer: str = Field(default="", max_length=2000)
    duration_s: int = Field(ge=60, le=10 * 365 * 86400)
    max_uses: int = Field(ge=1, le=1_000_000)


class RequestOut(BaseModel):
    id: str
    verifier_id: str
    verifier_name: str
    verifier_key: str  # Ed25519: the key a grant binds (cnf)
    verifier_box_key: str  # X25519: the key a grant's capability is sealed to
    owner_id: str
    purpose: str
    offer: str
    duration_s: int
    max_uses: int
    status: str
    created_at: str


class RotateIn(Strict):
    """A grant's sealed template and keys (see ``vault/sealing.py``)."""

    template: str = BLOB
    by_owner: str = BLOB
    by_capability: str = BLOB
    sealed_capability: str = BLOB


class GrantIn(RotateIn):
    request_id: str = ID
    token: str = Field(max_length=4096)
    recognizer: str = Field(pattern=r"^(sface|dlib|facenet)$")
    transform: str = Field(pattern=r"^[a-z0-9_-]{1,20}$")


class GrantOut(BaseModel):
    id: str
    request_id: str
    owner_id: str
    verifier_id: str
    token: str
    expires_at: str
    uses_left: int
    revoked: bool
    version: int
    sealed_capability: str | None  # only shown to the grant's verifier


class VerifyIn(Strict):
    token: str = Field(max_length=4096)
    capability: str = Field(pattern=B64, max_length=64)
    photo: str = Field(pattern=B64, max_length=14_000_000, description="the live photo (JPEG, PNG...), base64url")


class VerifyOut(BaseModel):
    decision: bool
    receipt: str  # base64url(JSON) "." base64url(Ed25519 signature by the service)


class CheckpointOut(BaseModel):
    size: int
    note: str


class ProofOut(BaseModel):
    proof: list[str]


class EntryOut(BaseModel):
    seq: int
    entry: str  # base64url of the leaf data (canonical JSON)


class Refusal(BaseModel):
    detail: str
