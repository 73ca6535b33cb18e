"""The Merkle and note code against the public vectors kept in tests/data (data only)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from databook.ledger import merkle
from databook.ledger.note import (
    ALG_COSIGNATURE_V1,
    NoteError,
    cosign,
    new_signer,
    parse_skey,
    parse_vkey,
    sign,
    verify,
    verify_cosignature,
)
from tests.support import REPO

DATA = REPO / "tests" / "data"


def _cases(kind: str) -> list[Any]:
    files = sorted((DATA / "merkle" / kind).rglob("*.json"))
    assert len(files) > 50  # the vectors are really there
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(DATA))) for f in files]


def _b(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.mark.parametrize("case", _cases("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    def run() -> None:
        merkle.verify_inclusion(case["leafIdx"], case["treeSize"], _b(case["leafHash"]),
                                [_b(p) for p in case["proof"] or []], _b(case["root"]))
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            run()
    else:
        run()


@pytest.mark.parametrize("case", _cases("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    def run() -> None:
        merkle.verify_consistency(case["size1"], case["size2"], _b(case["root1"]),
                                  _b(case["root2"]), [_b(p) for p in case["proof"] or []])
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            run()
    else:
        run()


def _tree(n: int) -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for i in range(n):
        tree.append(merkle.leaf_hash(str(i).encode()))
    return tree


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162's MTH written as literally as possible, to check the stored-node version."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.split(len(leaves))
    return merkle.node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def test_generated_proofs_verify_for_every_size_and_index() -> None:
    tree = _tree(40)
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(40)]
    for n in range(1, 41):
        assert tree.root(n) == _reference_root(leaves[:n])
        for i in range(n):
            merkle.verify_inclusion(i, n, leaves[i], merkle.inclusion_proof(tree, i, n),
                                    tree.root(n))
        for m in range(1, n + 1):
            merkle.verify_consistency(m, n, tree.root(m), tree.root(n),
                                      merkle.consistency_proof(tree, m, n))


def test_a_proof_for_another_leaf_or_a_forked_tree_fails() -> None:
    tree, fork = _tree(11), _tree(10)
    fork.append(merkle.leaf_hash(b"rewritten"))
    proof = merkle.inclusion_proof(tree, 3, 11)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(4, 11, merkle.leaf_hash(b"4"), proof, tree.root())
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(7, 11, tree.root(7), fork.root(),
                                  merkle.consistency_proof(tree, 7, 11))


NOTE = json.loads((DATA / "note" / "peterneumann.json").read_text())


def test_go_note_vector_signs_and_verifies() -> None:
    signer = parse_skey(NOTE["skey"])
    assert signer.verifier.vkey() == NOTE["vkey"]
    assert sign(NOTE["text"], signer) == NOTE["signed"]
    assert verify(NOTE["signed"], parse_vkey(NOTE["vkey"])).text == NOTE["text"]
    both = NOTE["signed"] + NOTE["enoch_signature_line"]
    assert verify(both, parse_vkey(NOTE["enoch_vkey"])).text == NOTE["text"]


@pytest.mark.parametrize("vkey", NOTE["bad_vkeys"] + [NOTE["vkey"].replace("c74f", "c74e")])
def test_bad_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_vkey(vkey)


def test_every_single_byte_change_of_the_go_note_fails() -> None:
    verifier = parse_vkey(NOTE["vkey"])
    data = NOTE["signed"].encode()
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        try:
            text = changed.decode()
        except UnicodeDecodeError:
            continue
        with pytest.raises(NoteError):
            verify(text, verifier)


def test_cosignature_round_trip_and_tamper() -> None:
    witness = new_signer("witness.example/w1", ALG_COSIGNATURE_V1)
    note = NOTE["signed"]
    cosigned = note + cosign(note, witness, 1_700_000_000).line()
    assert verify_cosignature(cosigned, witness.verifier) == 1_700_000_000
    assert verify(cosigned, parse_vkey(NOTE["vkey"])).text == NOTE["text"]
    other = new_signer("witness.example/w1", ALG_COSIGNATURE_V1)
    with pytest.raises(NoteError):
        verify_cosignature(cosigned, other.verifier)
    with pytest.raises(NoteError):
        verify_cosignature(cosigned.replace("problem,", "problem;"), witness.verifier)
    assert parse_vkey(witness.verifier.vkey()) == witness.verifier
