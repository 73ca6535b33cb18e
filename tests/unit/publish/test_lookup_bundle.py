"""The look-up bundle: fixed vectors for the keys, tokens, check value and a sealed
row; the bundle in the run, listed and verified in the signed manifest; the keystore's cache
(one PBKDF2 per school and password, replaced on rotation); amendments carry bundles and a
rotation re-seals the rotated school's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from databook.store import LocalStore
from publish import lookup_bundle as lb
from publish import manifest
from publish.amend import publish_amendment
from publish.drop import (
    Signing,
    lookup_keys,
    new_run_id,
    publish_run,
    render_encrypted,
    render_many,
    school_files,
    school_keys,
)
from publish.keystore import Keystore
from publish.manifest import ManifestError
from publish.previous import Latest
from publish.rotate import rotate_school
from publish.workbook import RunInfo
from schemas.databook import KEYS

PASSWORD = "correct horse battery"
SALT = bytes(range(16))
URN, RUN = 100001, "20261203T060000.000000Z-abcdef"
ROW_ID = "ab" * 32
K_INDEX = "b6ec0234c23fce389d7130e4864d1c1c008b59b3b93072247b3ade37df94420f"
K_ROWS = "d7757901ba39e81bf5099ff40415054b9969d65bf99bf8f3df86934e143c8e34"
K_CHECK = "dcea3b39b72d5bd63f078d7bf6e23081b1f2ad2480ad1dd0220ddc9d2a08ab9f"
UPN_TOKEN = "2e21ba221ddbcedf828e88b4db5b693c4f030e12dfea9b91a24929d4bf0d53c0"
NAME_TOKEN = "fdd0943433d83a72773b99842533b7c60291b6c1abb49fea2d30bb06578abba0"
CHECK = "9b9c1cc6b63c9dfb1eca702c3289592f3992632ee73b261f13f7330be7ff40ea"
PLAIN = b'{"rows":[["A123456789012"]]}'
SEALED = "AAAAAAAAAAAAAAAAhbic6B1OkfGYuN+Ogf8ZKi/OrV9yN7ubQMyWknEhZnSwvjxPDFRHqHe9RoE="


def _hkdf_rfc5869(root: bytes, info: bytes) -> bytes:
    """RFC 5869 by hand (empty salt = HashLen zeros; one block), as an independent check."""
    prk = hmac.digest(b"\0" * 32, root, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")


@pytest.fixture(scope="module")
def key() -> lb.LookupKey:
    return lb.derive(PASSWORD, SALT)


def test_keys_match_fixed_vectors_and_an_independent_derivation(key: lb.LookupKey) -> None:
    assert key.iterations == 600_000 and key.salt == SALT
    assert (key.k_index.hex(), key.k_rows.hex(), key.k_check.hex()) == (K_INDEX, K_ROWS, K_CHECK)
    root = PBKDF2HMAC(hashes.SHA256(), 32, SALT, 600_000).derive(PASSWORD.encode())
    assert _hkdf_rfc5869(root, b"databook lookup rows v1").hex() == K_ROWS
    assert _hkdf_rfc5869(root, b"databook lookup index v1").hex() == K_INDEX


def test_tokens_check_and_sealed_row_match_fixed_vectors(key: lb.LookupKey) -> None:
    assert lb.upn_token(key, "a123456789012") == UPN_TOKEN
    assert lb.upn_token(key, " A123-456789012 ") == UPN_TOKEN  # normalised
    assert lb.name_token(key, "O'Brien", date(2015, 3, 2)) == NAME_TOKEN
    assert lb.name_token(key, "o\u2019 BRIEN", "2015-03-02") == NAME_TOKEN
    assert lb.upn_token(key, "a123456789012") == hmac.new(
        bytes.fromhex(K_INDEX), b"upn:a123456789012", hashlib.sha256).hexdigest()
    assert lb.check_value(key, URN, RUN) == CHECK
    assert lb.seal(key, URN, RUN, ROW_ID, PLAIN, bytes(12)) == SEALED
    assert lb.open_row(key, URN, RUN, ROW_ID, SEALED) == PLAIN


def test_a_row_moved_to_another_school_run_or_child_or_changed_does_not_open(
        key: lb.LookupKey) -> None:
    for urn, run, row in ((URN + 1, RUN, ROW_ID), (URN, RUN + "0", ROW_ID),
                          (URN, RUN, "cd" * 32)):
        with pytest.raises(InvalidTag):
            lb.open_row(key, urn, run, row, SEALED)
    raw = bytearray(base64.b64decode(SEALED))
    raw[20] ^= 1
    with pytest.raises(InvalidTag):
        lb.open_row(key, URN, RUN, ROW_ID, base64.b64encode(bytes(raw)).decode())


def test_normalise_drops_spaces_hyphens_apostrophes_and_folds_case(key: lb.LookupKey) -> None:
    # "\u01c4" (DŽ) now keys as "dz": the name rule drops marks (it was "d\u017e").
    assert lb.normalise("  O\u2019Brien-Smith \u00df \u01c4 \ufb01") == "obriensmithssdzfi"
    day = date(2015, 3, 2)
    assert lb.tokens_for(key, _row("A1", "Ann Lee Smith", day)) == {
        lb.upn_token(key, "A1"), lb.name_token(key, "Lee-Smith", day),
        lb.name_token(key, "smith", day)}  # every run of trailing words, never the forename
    assert lb.tokens_for(key, _row("", "Smith", day)) == {lb.name_token(key, "SMITH", day)}


def _row(upn: str, name: str, dob: date) -> tuple[lb.Value, ...]:
    values: dict[str, lb.Value] = {k: None for k in KEYS}
    values |= {"upn": upn, "name": name, "date_of_birth": dob, "case_status": "Open"}
    return tuple(values[k] for k in KEYS)


def test_bundle_is_deterministic_apart_from_nonces_and_twins_are_ambiguous(
        key: lb.LookupKey) -> None:
    rows = [_row("A1", "Amy Twin", date(2015, 1, 1)), _row("A2", "Bea Twin", date(2015, 1, 1))]
    fixed = iter([bytes(12)] * 4)
    one = lb.build(key, URN, RUN, date(2026, 12, 3), rows, ["r1", "r2"], lambda: next(fixed))
    two = lb.build(key, URN, RUN, date(2026, 12, 3), rows, ["r1", "r2"], lambda: next(fixed))
    assert one == two
    document = lb.parse(one)
    assert document["index"][lb.upn_token(key, "a1")] == "r1"
    assert document["index"][lb.name_token(key, "twin", "2015-01-01")] is None
    assert b"Twin" not in one and b"A1" not in one
    opened = json.loads(lb.open_row(key, URN, RUN, "r2", document["rows"]["r2"]))
    assert opened["rows"][0][:3] == ["A2", "Bea Twin", "2015-01-01"]
    assert [c["label"] for c in document["columns"]][:2] == ["UPN", "Name"]


# -- in a published run -----------------------------------------------------------------------
SCHOOLS = pd.DataFrame({"urn": [100, 200], "dfe_number": ["830/1", "830/2"],
                        "name": ["A", "B"]})
NAMES = ["Zelda Quinnell", "Yusuf Abernathy", "Xanthe Okonkwo"]


def _rows() -> pd.DataFrame:
    frame = pd.DataFrame({"urn": [100, 100, 200], "person_id": [1001, 1002, 1003]})
    for k in KEYS:
        frame[k] = pd.NaT if "date" in k else "N"
    frame["upn"] = ["A100000000001", "A100000000002", "A100000000003"]
    frame["name"] = NAMES
    frame["date_of_birth"] = pd.to_datetime(["2015-01-01", "2016-02-02", "2017-03-03"])
    return frame


def _run() -> RunInfo:
    return RunInfo(new_run_id(), date(2026, 12, 3), datetime.now(UTC), "SP", "0")


def _publish(store: LocalStore, keystore: Keystore) -> str:
    urns = [100, 200]
    files = list(school_files(SCHOOLS, _rows(), school_keys(keystore, urns),
                              lookup_keys(keystore, urns)))
    return publish_run(store, _run(), files, Signing.from_keystore(keystore), {"X": 1})


def test_a_run_publishes_each_bundle_beside_its_workbook_in_the_signed_manifest(
        tmp_path: Path) -> None:
    keystore, store = Keystore.open(tmp_path / "state"), LocalStore(tmp_path / "drop")
    run_id = _publish(store, keystore)
    assert sorted(p.name for p in (store.root / run_id).iterdir()) == [
        "100.lookup.json", "100.xlsx", "200.lookup.json", "200.xlsx", "manifest.json",
        "manifest.json.sig"]
    document = manifest.verify(store, run_id, keystore.public_keys())
    school = document["schools"][0]
    data = (store.root / run_id / "100.lookup.json").read_bytes()
    assert (school["lookup_file"], school["lookup_bytes"], school["lookup_sha256"]) == (
        "100.lookup.json", len(data), hashlib.sha256(data).hexdigest())
    bundle = lb.parse(data)
    key = keystore.current_lookup_key(100)
    assert key is not None and bundle["salt"] == base64.b64encode(key.salt).decode()
    row_id = bundle["index"][lb.upn_token(key, "a100000000002")]
    assert row_id in school["members"]
    assert json.loads(lb.open_row(key, 100, run_id, row_id, bundle["rows"][row_id])
                      )["rows"][0][1] == NAMES[1]
    for path in store.root.rglob("*"):  # nothing in the drop names a child in the clear
        if path.is_file():
            assert not any(n.split()[1].encode() in path.read_bytes() for n in NAMES), path
    (store.root / run_id / "200.lookup.json").write_bytes(data)
    with pytest.raises(ManifestError, match=r"200\.lookup\.json"):
        manifest.verify(store, run_id, keystore.public_keys())


def test_bundles_made_with_the_workbooks_are_kept_unless_the_password_rotated_meanwhile(
        tmp_path: Path) -> None:
    """The flow makes each bundle where it renders the school, while validation runs; the
    write keeps it byte for byte, except a school whose password was rotated after it was
    made: that one is built again under the new key, so the old password opens nothing."""
    keystore, store = Keystore.open(tmp_path / "state"), LocalStore(tmp_path / "drop")
    urns, run = [100, 200], _run()
    files = list(school_files(SCHOOLS, _rows(), school_keys(keystore, urns),
                              lookup_keys(keystore, urns), keystore.pseudonymiser()))
    made = dict(render_many(files, run))
    assert sorted(made) == ["100.lookup.json", "100.xlsx", "200.lookup.json", "200.xlsx"]
    old = keystore.current_lookup_key(100)
    keystore.rotate_password(100)
    run_id = publish_run(store, run, files, Signing.from_keystore(keystore), {"X": 1},
                         encrypted=made.items())
    document = manifest.verify(store, run_id, keystore.public_keys())
    assert (store.root / run_id / "200.lookup.json").read_bytes() == made["200.lookup.json"]
    bundle = lb.parse((store.root / run_id / "100.lookup.json").read_bytes())
    new = Keystore.open(tmp_path / "state").current_lookup_key(100)
    assert old is not None and new is not None and old != new
    assert bundle["check"] == lb.check_value(new, 100, run_id)
    assert lb.upn_token(old, "A100000000001") not in bundle["index"]
    row_id = bundle["index"][lb.upn_token(new, "A100000000001")]
    with pytest.raises(InvalidTag):
        lb.open_row(old, 100, run_id, row_id, bundle["rows"][row_id])
    assert json.loads(lb.open_row(new, 100, run_id, row_id, bundle["rows"][row_id])
                      )["rows"][0][1] == NAMES[0]
    pseudonymise = keystore.pseudonymiser()
    assert [s["members"] for s in document["schools"]] == [
        sorted([pseudonymise(1001), pseudonymise(1002)]), [pseudonymise(1003)]]


def test_keys_are_derived_once_and_rotation_replaces_salt_and_cache(tmp_path: Path) -> None:
    keystore = Keystore.open(tmp_path / "state")
    first = keystore.ensure_lookup_keys([100])[100]
    calls: list[int] = []

    def counting(fn: Callable[[tuple[int, str]], tuple[int, lb.LookupKey]],
                 items: Iterable[tuple[int, str]]) -> Iterable[tuple[int, lb.LookupKey]]:
        items = list(items)
        calls.extend(u for u, _ in items)
        return map(fn, items)

    again = Keystore.open(tmp_path / "state").ensure_lookup_keys([100], counting)[100]
    assert again == first and calls == []
    keystore.rotate_password(100)
    rotated = Keystore.open(tmp_path / "state").current_lookup_key(100)
    assert rotated is not None and rotated.salt != first.salt and rotated != first
    assert rotated == lb.derive(keystore.password(100), rotated.salt)


def test_amendment_carries_bundles_and_rotation_reseals_only_the_rotated_school(
        tmp_path: Path) -> None:
    keystore, store = Keystore.open(tmp_path / "state"), LocalStore(tmp_path / "drop")
    first = _publish(store, keystore)
    document = manifest.verify(store, first, keystore.public_keys())
    run = _run()
    urns = [100, 200]
    changed = [f for f in school_files(SCHOOLS, _rows(), school_keys(keystore, urns),
                                       lookup_keys(keystore, urns)) if f.school.urn == 100]
    encrypted = [render_encrypted((changed[0], run))]
    amended = publish_amendment(store, run, Latest.from_manifest(document), urns, changed,
                                encrypted, Signing.from_keystore(keystore), {"X": 1})
    after = manifest.verify(store, amended, keystore.public_keys())
    carried = (store.root / amended / "200.lookup.json").read_bytes()
    assert carried == (store.root / first / "200.lookup.json").read_bytes()
    assert lb.parse((store.root / amended / "100.lookup.json").read_bytes())["run_id"] == amended
    assert all(s["lookup_file"] for s in after["schools"])
    old_key = keystore.current_lookup_key(100)
    rotated = rotate_school(store, keystore, 100)
    manifest.verify(store, rotated, keystore.public_keys())
    bundle = lb.parse((store.root / rotated / "100.lookup.json").read_bytes())
    new_key = Keystore.open(tmp_path / "state").current_lookup_key(100)
    assert new_key is not None and old_key is not None and new_key.salt != old_key.salt
    assert bundle["run_id"] == rotated and bundle["check"] == lb.check_value(new_key, 100,
                                                                              rotated)
    row_id = bundle["index"][lb.name_token(new_key, "quinnell", "2015-01-01")]
    assert json.loads(lb.open_row(new_key, 100, rotated, row_id, bundle["rows"][row_id])
                      )["rows"][0][1] == NAMES[0]
    assert (store.root / rotated / "200.lookup.json").read_bytes() == carried
