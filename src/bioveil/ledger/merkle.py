"""Merkle trees, inclusion proofs and consistency proofs exactly as RFC 9162 section 2.1 defines them.

Hashes are SHA-256. A leaf hash is SHA-256(0x00 || data), an interior node SHA-256(0x01 || left || right), and
the hash of the empty tree SHA-256 of the empty string. Generating a proof for an index or size out of range
raises :class:`LedgerError`; verifying never raises, it returns False for anything that does not check out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from bioveil.ledger.errors import LedgerError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): where MTH splits a list of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else type(value).__name__
        raise LedgerError(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, got {got}; hash entries with leaf_hash(data)")
    return bytes(value)


def _check_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LedgerError(f"{what} must be an int, got {type(value).__name__}")
    return value


class MerkleTree:
    """An append-only tree that keeps the hash of every complete subtree.

    Appending costs O(1) amortised hashes; the root, an inclusion proof or a consistency proof for any
    earlier size then costs O(log n) hashes, so one tree serves many proofs.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        # _levels[k][i] is the hash of the complete subtree over leaves [i * 2**k, (i + 1) * 2**k).
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_hash(h)

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append(self, data: bytes) -> int:
        """Append one entry (hashed with :func:`leaf_hash`); return its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, leaf_hash: bytes) -> int:
        """Append a leaf by its hash; return its index."""
        levels = self._levels
        levels[0].append(_check_hash(leaf_hash, "a leaf hash"))
        k = 0
        while len(levels[k]) % 2 == 0:
            if k + 1 == len(levels):
                levels.append([])
            levels[k + 1].append(node_hash(levels[k][-2], levels[k][-1]))
            k += 1
        return len(levels[0]) - 1

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf ``index``."""
        self._check_index(index, self.size)
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        size = self._check_size(size)
        return self._mth(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 2.1.3.1: the audit path of leaf ``index`` in the tree of ``size`` leaves."""
        size = self._check_size(size)
        self._check_index(index, size)
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._mth(lo, lo + k))
                lo += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 2.1.4.1; empty when old_size is 0 or equals new_size."""
        new_size = self._check_size(new_size)
        old_size = _check_int(old_size, "old_size")
        if not 0 <= old_size <= new_size:
            raise LedgerError(f"old_size must be in [0, {new_size}] (the new size), got {old_size}")
        proof: list[bytes] = []
        if old_size in (0, new_size):
            return proof
        # SUBPROOF(m, D[lo:hi], b), unrolled; the old tree always ends at old_size.
        lo, hi, complete = 0, new_size, True
        while old_size != hi:
            k = _split(hi - lo)
            if old_size <= lo + k:
                proof.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._mth(lo, lo + k))
                lo += k
                complete = False
        if not complete:
            proof.append(self._mth(lo, hi))
        proof.reverse()
        return proof

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a non-empty range whose start is a multiple of the next power of two >= hi - lo.

        Every range the RFC recursion visits is aligned like this, so its left part is a cached complete subtree.
        """
        n = hi - lo
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._levels[level][lo >> level]
        k = _split(n)
        level = k.bit_length() - 1
        return node_hash(self._levels[level][lo >> level], self._mth(lo + k, hi))

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        size = _check_int(size, "size")
        if not 0 <= size <= self.size:
            raise LedgerError(f"size must be in [0, {self.size}] (the leaves in the tree), got {size}")
        return size

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        index = _check_int(index, "index")
        if not 0 <= index < size:
            raise LedgerError(f"leaf index must be in [0, {size}) for a tree of {size} leaves, got {index}")


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 2.1.1 over the given leaf hashes; SHA-256 of the empty string for no leaves."""
    level = [_check_hash(h, "a leaf hash") for h in leaf_hashes]
    if not level:
        return EMPTY_ROOT
    # Pairing left to right and carrying an odd last node up gives the same tree as MTH's power-of-two split.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 2.1.3.1 over the given leaf hashes."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 9162 2.1.4.1 over the given leaf hashes (n = len(leaf_hashes))."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_proof(proof: object) -> bool:
    return isinstance(proof, list | tuple) and all(_is_hash(p) for p in proof)


def verify_inclusion(index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows leaf ``index`` with hash ``leaf_hash`` is in the tree of ``tree_size`` leaves with ``root``.

    The algorithm of RFC 9162 2.1.3.2. False for anything malformed; never raises.
    """
    if not (_is_size(index) and _is_size(tree_size) and _is_hash(leaf_hash) and _is_hash(root) and _is_proof(proof)):
        return False
    if index >= tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = bytes(leaf_hash)
    for p in proof:
        p = bytes(p)
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == bytes(root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree (``new_size``, ``new_root``) extends the tree (``old_size``, ``old_root``).

    The algorithm of RFC 9162 2.1.4.2. Equal sizes need equal roots and an empty proof; from size 0 the proof
    must be empty and ``old_root`` the empty-tree hash. False for anything malformed; never raises.
    """
    if not (_is_size(old_size) and _is_size(new_size) and _is_hash(old_root) and _is_hash(new_root) and _is_proof(proof)):
        return False
    old_root, new_root = bytes(old_root), bytes(new_root)
    path = [bytes(p) for p in proof]
    if old_size > new_size:
        return False
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
