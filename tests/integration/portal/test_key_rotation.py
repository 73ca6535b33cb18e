"""Rotating the council's manifest signing key takes nobody offline: ``databook keys rotate
--signing`` announces the new key in the drop, endorsed by the old one, and the portal (which
trusted only the old key) serves the runs it signs at once: no refused download, no tamper
alert, no ``portal trust-key`` on the portal host."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from databook.cli import main
from portal.app import create_app
from portal.cli.portal import install_key
from publish.keystore import Keystore
from tests.support import Env, add_user, download, entries, make_env, sign_in, write_drop

A = 100001


def test_downloads_go_on_across_a_signing_key_rotation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        webhook: tuple[str, list[dict[str, object]]]) -> None:
    url, received = webhook
    env: Env = make_env(tmp_path, DATABOOK_ALERT_WEBHOOK=url)
    for name, value in env.environ().items():
        monkeypatch.setenv(name, value)
    keystore = Keystore.open(env.home)
    install_key(keystore.signing_key().public_pem, env.settings.portal.trusted_keys_dir)
    before = write_drop(env.drop, keystore.signing_key())
    secret = add_user(env, "ann.lead@alder.example", [A], agreed=True)
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        sign_in(client, env, "ann.lead@alder.example", secret)
        assert download(client, A).status_code == 200
        assert main(["keys", "rotate", "--signing"]) == 0
        assert download(client, A).status_code == 200  # the old run, between rotation and run
        after = write_drop(env.drop, Keystore.open(env.home).signing_key())
        for _ in range(3):
            got = download(client, A)
            assert got.status_code == 200, got.text
            assert got.content == (env.drop / after / f"{A}.xlsx").read_bytes()
    assert [e["run_id"] for e in entries(env, "download")] == [before, before] + [after] * 3
    assert entries(env, "refused") == []
    assert received == []  # no tamper alert
