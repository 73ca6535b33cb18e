"""RFC 9162 (§2.1) Merkle trees: hashes, inclusion and consistency proofs, and their checks.

Written here because no maintained Python library speaks the standard proof format (see the
portal design note); checked against transparency-dev/merkle's public vectors in
tests/data/merkle. Proofs are built from a ``NodeSource``: anything that returns the hash of
the perfect subtree of 2**level leaves starting at leaf ``index << level``. The ledger keeps
those hashes in its database so that a proof costs O(log n) look-ups, never a rehash of the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(Exception):
    """A proof does not check out; the message says which rule it broke."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


class NodeSource(Protocol):
    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree of 2**level leaves starting at leaf index << level."""


def range_hash(src: NodeSource, lo: int, hi: int) -> bytes:
    """MTH of leaves [lo, hi); ``lo`` is always aligned the way the RFC's recursion makes it."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and lo % n == 0:
        level = n.bit_length() - 1
        return src.node(level, lo >> level)
    k = split(n)
    return node_hash(range_hash(src, lo, lo + k), range_hash(src, lo + k, hi))


def root(src: NodeSource, size: int) -> bytes:
    return range_hash(src, 0, size)


def inclusion_proof(src: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            path.append(range_hash(src, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(src, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(src: NodeSource, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    out: list[bytes] = []
    m, lo, hi, whole = size1, 0, size2, True
    while m != hi - lo:
        k = split(hi - lo)
        if m <= k:
            out.append(range_hash(src, lo + k, hi))
            hi = lo + k
        else:
            out.append(range_hash(src, lo, lo + k))
            m, lo, whole = m - k, lo + k, False
    if not whole:
        out.append(range_hash(src, lo, hi))
    out.reverse()
    return out


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError(f"{what} holds a hash that is not {HASH_SIZE} bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root a valid proof leads to."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    _check_hashes([leaf], "the leaf")
    _check_hashes(proof, "the proof")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> None:
    if root_from_inclusion(index, size, leaf, proof) != expected_root:
        raise ProofError(f"inclusion proof for {index} does not lead to the root of size {size}")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2. A proof from the empty tree proves nothing, so it is refused."""
    if size1 > size2:
        raise ProofError(f"size {size1} is larger than size {size2}: the log shrank")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError(f"two different roots for size {size1}: the log forked")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hashes(proof, "the proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != root1 or sr != root2:
        raise ProofError(f"size {size2} is not an extension of size {size1}: history was "
                         "rewritten")


class MemoryTree:
    """Every perfect subtree hash of a growing tree, one flat ``bytearray`` per level.

    ``audit verify`` rebuilds the whole log in one of these (O(n) hashes, 64 MB for a million
    entries) and compares it with what is stored; tests use it as a reference ``NodeSource``.
    """

    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray()]

    @property
    def size(self) -> int:
        return len(self.levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the (level, index, hash) of every node it completed."""
        made: list[tuple[int, int, bytes]] = []
        self.levels[0] += leaf
        index, level, h = self.size - 1, 0, leaf
        while index & 1:
            left = self.node(level, index - 1)
            h, index, level = node_hash(left, h), index >> 1, level + 1
            if len(self.levels) == level:
                self.levels.append(bytearray())
            self.levels[level] += h
            made.append((level, index, h))
        return made

    def node(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        data = self.levels[level]
        if start + HASH_SIZE > len(data):
            raise ProofError(f"no node {level}/{index} in a tree of size {self.size}")
        return bytes(data[start:start + HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        return root(self, self.size if size is None else size)
