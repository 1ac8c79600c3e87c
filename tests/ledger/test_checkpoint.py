"""bioveil.ledger.checkpoint: the signed-note known answer of the Go reference, round trips, and every rejection."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bioveil.errors import BioveilError
from bioveil.ledger.checkpoint import (
    Checkpoint,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)
from bioveil.ledger.errors import CheckpointError
from bioveil.ledger.merkle import MerkleTree, leaf_hash

# Known answer from golang.org/x/mod/sumdb/note (note.go package documentation and note_test.go): the PeterNeumann
# signer key "PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 || seed)>", its verifier key, a text and the signed note.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

EM = "\u2014"
NAME = "audit.bioveil.example/ledger"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
TREE = MerkleTree(leaf_hash(f"event {i}".encode()) for i in range(11))
CHECKPOINT = Checkpoint(NAME, 11, TREE.root())


def go_keys() -> tuple[Ed25519PrivateKey, bytes]:
    seed = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])
    public = base64.b64decode(GO_VERIFIER_KEY.split("+", 2)[2])
    assert seed[0] == public[0] == 1  # the Ed25519 algorithm byte
    return Ed25519PrivateKey.from_private_bytes(seed[1:]), public[1:]


def test_signed_note_matches_the_go_reference_byte_for_byte() -> None:
    private, public_raw = go_keys()
    assert private.public_key().public_bytes_raw() == public_raw
    assert key_id("PeterNeumann", private.public_key()).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, private, "PeterNeumann") == GO_NOTE
    assert open_note(GO_NOTE, private.public_key(), "PeterNeumann") == GO_TEXT


def test_checkpoint_body_is_origin_size_base64_root() -> None:
    root64 = base64.b64encode(TREE.root()).decode()
    assert CHECKPOINT.body() == f"{NAME}\n11\n{root64}\n".encode()


def test_signed_checkpoint_round_trips() -> None:
    note = sign_checkpoint(CHECKPOINT, KEY, NAME)
    body = CHECKPOINT.body().decode()
    assert note.startswith(body + "\n" + EM + " " + NAME + " ")
    blob = base64.b64decode(note.splitlines()[-1].split(" ")[2])
    assert blob[:4] == key_id(NAME, PUB) and len(blob) == 68
    assert open_checkpoint(note, PUB, NAME) == CHECKPOINT
    # Empty tree and large sizes.
    for cp in (Checkpoint("o", 0, TREE.root(0)), Checkpoint("o", 2**64 - 1, TREE.root(3))):
        assert open_checkpoint(sign_checkpoint(cp, KEY, "k"), PUB, "k") == cp


def test_signatures_by_other_keys_are_ignored() -> None:
    ours = sign_checkpoint(CHECKPOINT, KEY, NAME)
    theirs = sign_checkpoint(CHECKPOINT, OTHER_KEY, "witness.example")
    body, their_line, our_line = CHECKPOINT.body().decode(), theirs.splitlines()[-1], ours.splitlines()[-1]
    assert open_checkpoint(f"{body}\n{their_line}\n{our_line}\n", PUB, NAME) == CHECKPOINT
    assert open_checkpoint(f"{body}\n{our_line}\n{their_line}\n", PUB, NAME) == CHECKPOINT
    with pytest.raises(CheckpointError, match="no signature by key"):
        open_checkpoint(theirs, PUB, NAME)


def _replace_line(note: str, index: int, new: str) -> str:
    lines = note.split("\n")
    lines[index] = new
    return "\n".join(lines)


def _tamper_signature(note: str) -> str:
    head, _, b64 = note.rstrip("\n").rpartition(" ")
    blob = bytearray(base64.b64decode(b64))
    blob[10] ^= 0x01
    return f"{head} {base64.b64encode(bytes(blob)).decode()}\n"


SIGNED = sign_checkpoint(CHECKPOINT, KEY, NAME)
OTHER_ROOT64 = base64.b64encode(TREE.root(10)).decode()


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (_replace_line(SIGNED, 0, "audit.bioveil.example/other"), "does not verify"),
        (_replace_line(SIGNED, 1, "12"), "does not verify"),
        (_replace_line(SIGNED, 1, "10"), "does not verify"),
        (_replace_line(SIGNED, 2, OTHER_ROOT64), "does not verify"),
        ("x" + SIGNED, "does not verify"),
        (_tamper_signature(SIGNED), "does not verify"),
        (SIGNED.replace(f"{EM} {NAME} ", f"{EM} {NAME}x "), "no signature by key"),
        (sign_checkpoint(CHECKPOINT, OTHER_KEY, NAME), "key id"),
        (SIGNED.replace(EM, "--"), "malformed"),
        (SIGNED.replace("\n\n", "\n"), "malformed"),
        (SIGNED.rstrip("\n"), "malformed"),
        (SIGNED + "trailing\n", "malformed"),
        (SIGNED + "\n", "malformed"),
        (SIGNED.replace("\n", "\r\n"), "malformed"),
        (SIGNED.replace(NAME, NAME + "\t", 1), "malformed"),
        (SIGNED[:-3] + "!=\n", "malformed"),
        (SIGNED.replace("\n\n", "\n\n" + f"{EM} {NAME} AAAA\n"), "malformed"),
        (SIGNED + f"{EM} a b\n", "malformed"),
        (SIGNED + f"{EM} {NAME}\n", "malformed"),
        (SIGNED + "\ud800\n", "malformed"),
        (CHECKPOINT.body().decode(), "malformed"),
        ("", "malformed"),
        (b"bytes are not text", "malformed"),
    ],
)
def test_tampered_or_malformed_notes_are_rejected(note: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message) as info:
        open_checkpoint(note, PUB, NAME)
    assert isinstance(info.value, BioveilError)


def test_a_different_public_key_or_key_name_is_rejected() -> None:
    with pytest.raises(CheckpointError, match="key id"):
        open_checkpoint(SIGNED, OTHER_KEY.public_key(), NAME)
    with pytest.raises(CheckpointError, match=r"no signature by key 'someone\.else'"):
        open_checkpoint(SIGNED, PUB, "someone.else")


def test_a_repeated_signature_line_is_decided_by_the_first() -> None:
    body, line = CHECKPOINT.body().decode(), SIGNED.splitlines()[-1]
    bad_line = _tamper_signature(SIGNED).splitlines()[-1]
    assert open_checkpoint(f"{body}\n{line}\n{bad_line}\n", PUB, NAME) == CHECKPOINT
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(f"{body}\n{bad_line}\n{line}\n", PUB, NAME)


def test_more_than_a_hundred_signature_lines_are_malformed() -> None:
    line = SIGNED.splitlines()[-1]
    with pytest.raises(CheckpointError, match="more than 100"):
        open_checkpoint(CHECKPOINT.body().decode() + "\n" + (line + "\n") * 101, PUB, NAME)


ROOT64 = base64.b64encode(TREE.root()).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{NAME}\n0x0b\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n+11\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n-1\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n011\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n 11\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n1e1\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n\u0661\u0661\n{ROOT64}\n", "size must be a decimal"),  # Arabic-Indic digits
        (f"{NAME}\n\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n{2**64}\n{ROOT64}\n", "size must be a decimal"),
        (f"{NAME}\n{'9' * 5000}\n{ROOT64}\n", "size must be a decimal"),  # past int()'s digit limit
        (f"{NAME}\n11\n{base64.b64encode(TREE.root()[:31]).decode()}\n", "32-byte"),
        (f"{NAME}\n11\n{base64.b64encode(TREE.root() + b'x').decode()}\n", "32-byte"),
        (f"{NAME}\n11\n{TREE.root().hex()}\n", "32-byte"),
        (f"{NAME}\n11\n{ROOT64.rstrip('=')}\n", "not standard base64"),
        (f"{NAME}\n11\n{ROOT64.replace('+', '-').replace('/', '_')}x\n", "not standard base64"),
        (f"{NAME}\n11\n\n", "32-byte"),
        (f"{NAME}\n11\n{ROOT64}\nextension line\n", "extension"),
        (f"{NAME}\n11\n", "3 lines"),
        (f"\n11\n{ROOT64}\n", "origin"),
    ],
)
def test_signed_but_invalid_bodies_are_rejected(body: str, message: str) -> None:
    note = sign_note(body, KEY, NAME)
    assert open_note(note, PUB, NAME) == body  # the signature is good; the content is not
    with pytest.raises(CheckpointError, match=message):
        open_checkpoint(note, PUB, NAME)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Checkpoint("", 1, TREE.root()),
        lambda: Checkpoint("a\nb", 1, TREE.root()),
        lambda: Checkpoint("a", -1, TREE.root()),
        lambda: Checkpoint("a", 2**64, TREE.root()),
        lambda: Checkpoint("a", True, TREE.root()),
        lambda: Checkpoint("a", "1", TREE.root()),
        lambda: Checkpoint("a", 1, TREE.root()[:31]),
        lambda: Checkpoint("a", 1, TREE.root().hex()),
        lambda: sign_checkpoint(CHECKPOINT, KEY, "has space"),
        lambda: sign_checkpoint(CHECKPOINT, KEY, "has+plus"),
        lambda: sign_checkpoint(CHECKPOINT, KEY, ""),
        lambda: sign_checkpoint(CHECKPOINT, PUB, NAME),
        lambda: sign_note("no final newline", KEY, NAME),
        lambda: sign_note("tab\there\n", KEY, NAME),
        lambda: open_checkpoint(SIGNED, KEY, NAME),
        lambda: open_checkpoint(SIGNED, PUB, "bad name"),
    ],
)
def test_caller_mistakes_raise_checkpoint_error(make) -> None:
    with pytest.raises(CheckpointError):
        make()
