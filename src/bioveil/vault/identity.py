"""Identity files: who the local user is to the service (an owner or a verifier), kept 0600 on their machine.

An owner's signing key is sealed by the key of their passphrase (Argon2id), so the file alone signs
nothing. A verifier's keys are stored as they are, for unattended use: protect that file like any
server key. Both files pin the service's key on first contact (trust on first use) and the owner's
file remembers the last ledger checkpoint it audited, so a rewritten history cannot go unnoticed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from bioveil.vault.errors import VaultError


def default_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "bioveil" / "identity"


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically, readable by the user alone."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def read_private(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise VaultError(f"no {what} identity at {path}; create one first (see `bioveil {what} --help`)") from None
    except (OSError, ValueError) as exc:
        raise VaultError(f"the {what} identity file {path} cannot be read ({exc}); restore it from your backup") from None
    if not isinstance(data, dict):
        raise VaultError(f"the {what} identity file {path} is damaged; restore it from your backup")
    return data


class IdentityFile:
    """Saved and loaded as private JSON; ``what`` names the command family in messages."""

    what: ClassVar[str]

    def save(self, path: Path) -> None:
        write_private(path, asdict(self))  # type: ignore[call-overload]

    @classmethod
    def load(cls, path: Path) -> Self:
        data = read_private(path, cls.what)
        try:
            return cls(**data)
        except TypeError:
            raise VaultError(f"the {cls.what} identity file {path} is not bioveil's; restore it from your backup") from None


@dataclass
class OwnerIdentity(IdentityFile):
    what: ClassVar[str] = "vault"

    id: str
    url: str
    service_key: str
    sealed_signing_key: str  # base64url AES-GCM under the passphrase key
    kdf_salt: str
    kdf: dict[str, int]
    photos: list[str] = field(default_factory=list)
    checkpoint: str | None = None  # the last checkpoint note the audit accepted
    known_entries: dict[str, str] = field(default_factory=dict)  # seq -> leaf hash, of entries already audited



@dataclass
class VerifierIdentity(IdentityFile):
    what: ClassVar[str] = "agora"

    id: str
    name: str
    url: str
    service_key: str
    signing_key: str  # base64url raw Ed25519
    box_key: str  # base64url raw X25519
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)  # grant id -> token, capability, version
    receipts: list[str] = field(default_factory=list)  # every check's signed receipt, oldest first

