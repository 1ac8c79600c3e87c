"""Signed checkpoints of the ledger in the transparency-dev checkpoint format, carried in C2SP signed notes.

A checkpoint body is three lines: the log origin, the tree size in decimal, and the root hash in standard base64.
A signed note is that text, a blank line, then signature lines ``\u2014 <key name> <base64(key id || signature)>``,
where the key id is the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || Ed25519 public key) and the
Ed25519 signature covers the text including its final newline. Every failure raises :class:`CheckpointError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bioveil.ledger.errors import CheckpointError
from bioveil.ledger.merkle import HASH_SIZE

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # as the Go reference (golang.org/x/mod/sumdb/note) allows
MAX_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def _is_valid_key_name(name: object) -> bool:
    return isinstance(name, str) and name != "" and "+" not in name and not any(c.isspace() for c in name)


def _check_key_name(name: str) -> None:
    if not _is_valid_key_name(name):
        raise CheckpointError(f"key name must be non-empty text without spaces or '+', got {name!r}")


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    if not isinstance(public_key, Ed25519PublicKey):
        raise CheckpointError(f"expected an Ed25519PublicKey, got {type(public_key).__name__}")
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte note key id: SHA-256(key_name || "\\n" || 0x01 || raw public key)[:4]."""
    _check_key_name(key_name)
    raw = _raw_public_key(public_key)
    return hashlib.sha256(key_name.encode() + b"\n" + bytes([ALG_ED25519]) + raw).digest()[:4]


def sign_note(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """The signed note: ``text`` (which must end in a newline), a blank line, one Ed25519 signature line."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise CheckpointError(f"expected an Ed25519PrivateKey, got {type(private_key).__name__}")
    if not isinstance(text, str) or not text.endswith("\n") or _CONTROL.search(text):
        raise CheckpointError("note text must be a str ending in a newline, with no control characters but newlines")
    kid = key_id(key_name, private_key.public_key())
    signature = private_key.sign(text.encode())
    return f"{text}\n{SIGNATURE_PREFIX}{key_name} {base64.b64encode(kid + signature).decode()}\n"


def _malformed(reason: str) -> CheckpointError:
    return CheckpointError(
        f"malformed signed note: {reason}; expected text, a blank line, then lines '\u2014 <key name> <base64 signature>'"
    )


def open_note(note: str, public_key: Ed25519PublicKey, key_name: str) -> str:
    """Verify ``note`` against the key ``key_name`` / ``public_key`` and return its signed text.

    Signatures by other keys are ignored, as in the Go reference; the first one by this key decides.
    """
    _check_key_name(key_name)
    kid = key_id(key_name, public_key)
    if not isinstance(note, str):
        raise _malformed(f"expected a str, got {type(note).__name__}")
    try:
        note.encode()
    except UnicodeEncodeError:
        raise _malformed("not valid UTF-8") from None
    if _CONTROL.search(note):
        raise _malformed("control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise _malformed("the signature block must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"more than {MAX_SIGNATURES} signature lines")
    chosen: bytes | None = None
    other_ids: list[str] = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise _malformed(f"signature line {line[:40]!r} does not start with an em dash and a space")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed(f"the signature of {name!r} is not standard base64") from None
        if not _is_valid_key_name(name) or not b64 or len(blob) < 5:
            raise _malformed(f"bad signature line {line[:40]!r}")
        if name != key_name:
            continue
        if blob[:4] != kid:
            other_ids.append(blob[:4].hex())
        elif chosen is None:
            chosen = blob[4:]
    if chosen is None:
        if other_ids:
            raise CheckpointError(
                f"the note is signed by {key_name!r} with key id {', '.join(other_ids)}, not {kid.hex()} of the given "
                "public key; check that you have the log's current public key"
            )
        raise CheckpointError(f"the note carries no signature by key {key_name!r}; check the key name the log signs with")
    try:
        public_key.verify(chosen, text.encode())
    except InvalidSignature:
        raise CheckpointError(
            f"the signature by key {key_name!r} does not verify: the note was altered or not signed by this key"
        ) from None
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root hash."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise CheckpointError(f"checkpoint origin must be one non-empty line of text, got {self.origin!r}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or not 0 <= self.size <= MAX_SIZE:
            raise CheckpointError(f"checkpoint size must be an int in [0, 2**64 - 1], got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            got = f"{len(self.root)} bytes" if isinstance(self.root, bytes) else type(self.root).__name__
            raise CheckpointError(f"checkpoint root must be a {HASH_SIZE}-byte hash, got {got}")

    def body(self) -> bytes:
        """The signed text: origin, decimal size and base64 root, one per line."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n".encode()

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (no signature check). Extension lines after the root are refused."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint text must have 3 lines (origin, size, root), got {len(lines)}")
        if len(lines) > 3:
            raise CheckpointError(f"checkpoint has {len(lines) - 3} extension line(s) after the root; bioveil reads none")
        origin, size_line, root_line = lines
        if not origin:
            raise CheckpointError("checkpoint origin (first line) is empty")
        if len(size_line) > 20 or not _DECIMAL.fullmatch(size_line) or int(size_line) > MAX_SIZE:
            raise CheckpointError(
                f"checkpoint size must be a decimal number in [0, 2**64 - 1] without leading zeros, got {size_line!r}"
            )
        try:
            root = base64.b64decode(root_line, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"checkpoint root is not standard base64: {root_line!r}") from None
        if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_line:
            raise CheckpointError(f"checkpoint root must be the base64 of a {HASH_SIZE}-byte hash, got {len(root)} bytes")
        return cls(origin, int(size_line), root)


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """The checkpoint as a signed note, signed with ``private_key`` under ``key_name``."""
    return sign_note(checkpoint.body().decode(), private_key, key_name)


def open_checkpoint(text: str, public_key: Ed25519PublicKey, key_name: str) -> Checkpoint:
    """Verify a signed checkpoint note against ``key_name`` / ``public_key`` and parse it."""
    return Checkpoint.from_body(open_note(text, public_key, key_name))
