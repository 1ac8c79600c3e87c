"""bioveil.ledger.merkle: published RFC 6962 vectors, a plain recursive reference, exhaustive tampering, a large tree."""

from __future__ import annotations

import hashlib

import pytest

from bioveil.errors import BioveilError
from bioveil.ledger.errors import LedgerError
from bioveil.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# Known answers. Leaves, node hashes and roots: transparency-dev/merkle testonly/constants.go (LeafInputs, NodeHashes,
# RootHashes); proofs: transparency-dev/merkle proof/verify_test.go (inclusionProofs, whose leaf numbers are 1-based
# there and 0-based here, and consistencyProofs). The same values are in google/certificate-transparency
# python/ct/crypto/in_memory_merkle_tree_test.py.
LEAVES = [
    bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 1, []),
    (0, 8, [NODE_HASHES[0][1], NODE_HASHES[1][1], NODE_HASHES[2][1]]),
    (5, 8, [NODE_HASHES[0][4], NODE_HASHES[1][3], NODE_HASHES[2][0]]),
    (2, 3, [NODE_HASHES[1][0]]),
    (1, 5, [NODE_HASHES[0][0], NODE_HASHES[1][1], NODE_HASHES[0][4]]),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, [NODE_HASHES[0][1], NODE_HASHES[1][1], NODE_HASHES[2][1]]),
    (6, 8, [NODE_HASHES[1][2], NODE_HASHES[1][3], NODE_HASHES[2][0]]),
    (2, 5, [NODE_HASHES[1][1], NODE_HASHES[0][4]]),
    (6, 7, [NODE_HASHES[1][2], NODE_HASHES[0][6], NODE_HASHES[2][0]]),
]
# The proof hashes above, spelled out as published, to catch a mistake in the NODE_HASHES indexing.
assert INCLUSION[1][2][0] == "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
assert CONSISTENCY[2][2][0] == "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
assert CONSISTENCY[4][2][1] == "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"

KAT_HASHES = [leaf_hash(d) for d in LEAVES]


def unhex(hashes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hashes]


# ---- an independent reference: the recursive definitions of RFC 9162 2.1, on slices of entries -------------------


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = ref_split(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_split(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = ref_split(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


N = 64
DATA = [f"audit entry {i}".encode() * (i % 3 + 1) for i in range(N + 1)]
HASHES = [leaf_hash(d) for d in DATA]
TREE = MerkleTree(HASHES)  # N + 1 leaves, so the root of size N + 1 exists for "wrong root" probes
OTHER = hashlib.sha256(b"not in the tree").digest()


def flip(h: bytes, pos: int) -> bytes:
    return h[:pos] + bytes([h[pos] ^ 0x01]) + h[pos + 1 :]


def flipped_proofs(proof: list[bytes], n: int) -> list[list[bytes]]:
    positions = range(32) if n <= 16 else (0, 1, 15, 30, 31)
    return [[*proof[:i], flip(proof[i], pos), *proof[i + 1 :]] for i in range(len(proof)) for pos in positions]


# ---- known answers -----------------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_match_published_node_hashes() -> None:
    level = KAT_HASHES
    for expected in NODE_HASHES:
        assert [h.hex() for h in level] == expected
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    assert level == []


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_root_hash_matches_published_root(size: int) -> None:
    assert root_hash(KAT_HASHES[:size]).hex() == ROOTS[size]
    assert MerkleTree(KAT_HASHES).root(size).hex() == ROOTS[size]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest() == MerkleTree().root()


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proof_matches_published_path(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, KAT_HASHES[:size])
    assert proof == unhex(path)
    assert verify_inclusion(index, size, KAT_HASHES[index], proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proof_matches_published_proof(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, KAT_HASHES[:new])
    assert proof == unhex(path)
    assert verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)


def test_merkle_tree_grows_through_the_published_roots() -> None:
    tree = MerkleTree()
    for i, data in enumerate(LEAVES):
        assert tree.append(data) == i
        assert tree.root().hex() == ROOTS[i + 1]
    assert [tree.root(size).hex() for size in range(9)] == ROOTS
    assert tree.leaf_hash(3) == KAT_HASHES[3] and len(tree) == tree.size == 8


# ---- against the reference, every size up to 64 -------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, N + 1))
def test_roots_and_proofs_equal_the_recursive_definition(n: int) -> None:
    d, hashes = DATA[:n], HASHES[:n]
    assert root_hash(hashes) == ref_mth(d) == TREE.root(n)
    for i in range(n):
        assert inclusion_proof(i, hashes) == ref_path(i, d) == TREE.inclusion_proof(i, n)
    for m in range(1, n + 1):
        assert consistency_proof(m, hashes) == ref_subproof(m, d, True) == TREE.consistency_proof(m, n)


# ---- exhaustive verification and tampering -----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, N + 1))
def test_every_inclusion_proof_verifies_and_every_tampering_fails(n: int) -> None:
    root = TREE.root(n)
    for i in range(n):
        proof, leaf = TREE.inclusion_proof(i, n), HASHES[i]
        assert verify_inclusion(i, n, leaf, proof, root)
        assert verify_inclusion(i, n, bytearray(leaf), tuple(proof), bytearray(root))
        bad_proofs = [
            *flipped_proofs(proof, n),
            [*proof, OTHER],
            [OTHER, *proof],
            [*proof, root],
            [root, *proof],
            [*proof, b""],
            [*proof, root[:31]],
        ]
        if proof:
            bad_proofs += [proof[:-1], proof[1:], [*proof[:1], OTHER, *proof[1:]], [*proof[:-1], proof[-1][:31]]]
        for bad in bad_proofs:
            assert not verify_inclusion(i, n, leaf, bad, root), (i, n, bad)
        for j in range(-1, n + 2):
            assert j == i or not verify_inclusion(j, n, leaf, proof, root), (i, n, j)
        # A size is bound only through the shape of the path (see the test below): every size that gives
        # leaf i a path of another length, and the doubled and halved sizes, must fail.
        wrong_sizes = {0, 2 * n, n // 2} | {m for m in range(i + 1, N + 1) if len(TREE.inclusion_proof(i, m)) != len(proof)}
        for m in wrong_sizes - {n}:
            assert not verify_inclusion(i, m, leaf, proof, root), (i, n, m)
        for wrong_root in (TREE.root(n - 1), TREE.root(n + 1), EMPTY_ROOT, OTHER, flip(root, 0), flip(root, 31)):
            assert not verify_inclusion(i, n, leaf, proof, wrong_root), (i, n)
        for wrong_leaf in (HASHES[(i + 1) % (N + 1)], hashlib.sha256(DATA[i]).digest(), OTHER, flip(leaf, 7)):
            assert not verify_inclusion(i, n, wrong_leaf, proof, root), (i, n)


@pytest.mark.parametrize("n", range(1, N + 1))
def test_every_consistency_proof_verifies_and_every_tampering_fails(n: int) -> None:
    new_root = TREE.root(n)
    for m in range(1, n + 1):
        proof, old_root = TREE.consistency_proof(m, n), TREE.root(m)
        assert verify_consistency(m, n, old_root, new_root, proof)
        if m == n:
            assert proof == []
            assert not verify_consistency(m, n, old_root, new_root, [old_root])
            assert not verify_consistency(m, n, old_root, TREE.root(n + 1), [])
            continue
        bad_proofs = [
            *flipped_proofs(proof, n),
            [],
            proof[:-1],
            proof[1:],
            [*proof, OTHER],
            [OTHER, *proof],
            [*proof, old_root],
            [old_root, *proof],
            [*proof, new_root],
            [new_root, *proof],
            [proof[0], *proof],
            [*proof, b""],
            [*proof[:-1], proof[-1][:31]],
        ]
        for bad in bad_proofs:
            assert not verify_consistency(m, n, old_root, new_root, bad), (m, n, bad)
        for mm in range(-1, n + 2):
            assert mm == m or not verify_consistency(mm, n, old_root, new_root, proof), (m, n, mm)
        wrong_new = {0, m - 1, 2 * n, n // 2} | {
            k for k in range(m + 1, N + 1) if len(TREE.consistency_proof(m, k)) != len(proof)
        }
        for k in wrong_new - {n}:
            assert not verify_consistency(m, k, old_root, new_root, proof), (m, n, k)
        wrong_pairs = [
            (new_root, old_root),
            (TREE.root(m - 1), new_root),
            (TREE.root(m + 1), new_root),
            (old_root, TREE.root(n - 1)),
            (old_root, TREE.root(n + 1)),
            (flip(old_root, 0), new_root),
            (old_root, flip(new_root, 31)),
            (OTHER, new_root),
            (old_root, OTHER),
        ]
        for r1, r2 in wrong_pairs:
            assert (r1, r2) == (old_root, new_root) or not verify_consistency(m, n, r1, r2, proof), (m, n)


def test_a_proof_binds_the_tree_size_only_through_the_shape_of_its_path() -> None:
    """RFC 9162 verification cannot tell apart sizes whose paths have the same shape: the size-4 path of leaf 0
    also verifies "in a tree of 3" against the size-4 root. Take sizes with their roots from a signed checkpoint."""
    proof, root = TREE.inclusion_proof(0, 4), TREE.root(4)
    assert verify_inclusion(0, 4, HASHES[0], proof, root)
    assert verify_inclusion(0, 3, HASHES[0], proof, root)
    assert not verify_inclusion(0, 3, HASHES[0], TREE.inclusion_proof(0, 3), root)


# ---- edge cases of verification: False, never an exception ---------------------------------------------------------

R1, R2 = TREE.root(1), TREE.root(2)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0, 1, HASHES[0], [], R1), True),  # a one-leaf tree's root is its leaf hash
        ((0, 0, HASHES[0], [], EMPTY_ROOT), False),
        ((1, 1, HASHES[0], [], R1), False),
        ((-1, 1, HASHES[0], [], R1), False),
        ((0, -1, HASHES[0], [], R1), False),
        ((True, 2, HASHES[1], [HASHES[0]], R2), False),
        ((1.0, 2, HASHES[1], [HASHES[0]], R2), False),
        ((1, "2", HASHES[1], [HASHES[0]], R2), False),
        ((1, 2, HASHES[1], None, R2), False),
        ((1, 2, HASHES[1], iter([HASHES[0]]), R2), False),
        ((1, 2, HASHES[1], HASHES[0], R2), False),
        ((1, 2, HASHES[1], [HASHES[0].hex()], R2), False),
        ((1, 2, HASHES[1][:31], [HASHES[0]], R2), False),
        ((1, 2, HASHES[1], [HASHES[0]], R2 + b"\x00"), False),
        ((1, 2, None, [HASHES[0]], R2), False),
        ((1, 2**70, HASHES[1], [HASHES[0]], R2), False),
    ],
)
def test_verify_inclusion_edge_cases(args: tuple, expected: bool) -> None:
    assert verify_inclusion(*args) is expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0, 0, EMPTY_ROOT, EMPTY_ROOT, []), True),
        ((0, 5, EMPTY_ROOT, TREE.root(5), []), True),  # a proof from the empty tree is empty
        ((0, 5, EMPTY_ROOT, TREE.root(5), [TREE.root(5)]), False),
        ((0, 5, OTHER, TREE.root(5), []), False),  # size 0 has one root, the empty-tree hash
        ((3, 3, TREE.root(3), TREE.root(3), []), True),
        ((3, 3, TREE.root(3), TREE.root(3), [TREE.root(3)]), False),
        ((3, 3, TREE.root(3), OTHER, []), False),
        ((2, 1, R2, R1, []), False),
        ((2, 1, R2, R1, [HASHES[1]]), False),
        ((1, 2, R1, R2, []), False),
        ((1, 2, R1, R2, [HASHES[1]]), True),
        ((1, 2, R1, R2, (HASHES[1],)), True),
        ((1, 2, R1, R2, None), False),
        ((1, 2, R1, R2, [None]), False),
        ((1, 2, R1, R2, [HASHES[1][:16]]), False),
        ((1, 2, R1[:31], R2, [HASHES[1]]), False),
        ((1, 2, R1, "root", [HASHES[1]]), False),
        ((-1, 2, R1, R2, [HASHES[1]]), False),
        ((False, 2, EMPTY_ROOT, R2, []), False),
        ((1, 2.0, R1, R2, [HASHES[1]]), False),
    ],
)
def test_verify_consistency_edge_cases(args: tuple, expected: bool) -> None:
    assert verify_consistency(*args) is expected


# ---- generation errors: a caller's mistake raises LedgerError ------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: inclusion_proof(-1, HASHES[:4]),
        lambda: inclusion_proof(4, HASHES[:4]),
        lambda: inclusion_proof(0, []),
        lambda: inclusion_proof(True, HASHES[:4]),
        lambda: consistency_proof(5, HASHES[:4]),
        lambda: consistency_proof(-1, HASHES[:4]),
        lambda: consistency_proof(1.5, HASHES[:4]),
        lambda: root_hash([b"not a hash"]),
        lambda: root_hash([HASHES[0].hex()]),
        lambda: MerkleTree(HASHES[:4]).root(5),
        lambda: MerkleTree(HASHES[:4]).inclusion_proof(0, 0),
        lambda: MerkleTree(HASHES[:4]).consistency_proof(2, 5),
        lambda: MerkleTree(HASHES[:4]).leaf_hash(4),
        lambda: MerkleTree().append_hash(b"\x00" * 31),
    ],
)
def test_generation_mistakes_raise_ledger_error(call) -> None:
    with pytest.raises(LedgerError) as info:
        call()
    assert isinstance(info.value, BioveilError) and isinstance(info.value, ValueError)


def test_consistency_from_empty_or_same_size_is_empty() -> None:
    assert consistency_proof(0, HASHES[:5]) == [] == consistency_proof(5, HASHES[:5]) == consistency_proof(0, [])


# ---- a large tree ------------------------------------------------------------------------------------------------


def test_hundred_thousand_leaves() -> None:
    n, old = 100_000, 65_537
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    root = root_hash(hashes)
    old_root = root_hash(hashes[:old])
    tree = MerkleTree(hashes)
    assert tree.root() == root and tree.root(old) == old_root

    proof = inclusion_proof(77_777, hashes)
    assert len(proof) == 17
    assert verify_inclusion(77_777, n, hashes[77_777], proof, root)
    assert not verify_inclusion(77_778, n, hashes[77_777], proof, root)

    cproof = consistency_proof(old, hashes)
    assert cproof == tree.consistency_proof(old)
    assert verify_consistency(old, n, old_root, root, cproof)
    assert not verify_consistency(old - 1, n, old_root, root, cproof)
