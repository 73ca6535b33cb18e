"""The drop's journey to the portal host: each signed run pushed from the nightly host's own
drop to the portal host's, over SFTP, arriving whole or not at all.

Why a push, and not the portal reading the nightly host: the nightly host sits beside the case
system on the council's network and accepts no connection from the internet-facing portal;
it connects out, with a key that can write one folder on the portal host and nothing else.
Why not publish straight to the portal host: the nightly host keeps its own copy (the
previous run it compares with, the audit's manifests), and a portal host that is down for the
night does not fail the run; the next push sends what the last one missed.

What arrives, in order: the public keys and their endorsements (so a rotated key is announced
before any manifest it signed), then each run the portal host lacks into a staging folder
(``.staging-<run id>``: never served, ``databook.drop.runs`` does not list it), every file,
then the manifest, then its signature, all read back from the portal host and checked against
the signed manifest, then one rename into place, then ``latest``. A run that does not verify
on this side is never pushed; a push cut off at any moment leaves a staging folder the next
push removes, and the portal host's ``latest`` unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from databook.drop import (
    ENDORSEMENT_SUFFIX,
    KEYS_DIR,
    LATEST,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    STAGING_PREFIX,
    ManifestError,
    check_files,
    latest,
    listed_files,
    runs,
    signed,
)
from databook.store import DropStore
from publish.drop import clean_stale_staging, prune
from publish.errors import PublishError

log = logging.getLogger(__name__)


@dataclass
class Pushed:
    """What one push did: runs copied, runs skipped (they failed verification here), and the
    run the portal host's ``latest`` names afterwards."""

    runs: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    latest: str | None = None

    def summary(self) -> str:
        text = (f"pushed {len(self.runs)} run(s) to the portal host; its latest is "
                f"{self.latest or 'none'}")
        if self.refused:
            text += f"; NOT pushed (failed verification here): {', '.join(self.refused)}"
        return text


def push_keys(local: DropStore, remote: DropStore) -> int:
    """Every public key and endorsement under ``signing-keys/``, and the active public key:
    public material only (the keystore never leaves the nightly host). Returns files written."""
    written = 0
    remote.make_dir(KEYS_DIR)
    names = local.list_dir(KEYS_DIR) if local.exists(KEYS_DIR) else []
    for name in names:
        if not (name.endswith(".pem") or name.endswith(ENDORSEMENT_SUFFIX)):
            continue
        data = local.read(f"{KEYS_DIR}/{name}")
        rel = f"{KEYS_DIR}/{name}"
        if not remote.exists(rel) or remote.read(rel) != data:
            remote.write(rel, data)
            written += 1
    if local.exists(PUBLIC_KEY):
        data = local.read(PUBLIC_KEY)
        if not remote.exists(PUBLIC_KEY) or remote.read(PUBLIC_KEY) != data:
            remote.write(PUBLIC_KEY, data)
            written += 1
    return written


def push_run(local: DropStore, remote: DropStore, run_id: str,
             document: Mapping[str, object]) -> None:
    """One verified run into the portal host's drop: staged, read back and checked, renamed."""
    staging = f"{STAGING_PREFIX}{run_id}"
    remote.make_dir(staging)
    try:
        with remote.staged(staging) as put:
            for name in sorted(listed_files(document)):
                put(name, local.read(f"{run_id}/{name}"))
        # The manifest and its signature last: a staging folder with a signature has every file.
        manifest, signature = local.read(f"{run_id}/{MANIFEST}"), local.read(
            f"{run_id}/{SIGNATURE}")
        remote.write(f"{staging}/{MANIFEST}", manifest)
        remote.write(f"{staging}/{SIGNATURE}", signature)
        if remote.read(f"{staging}/{MANIFEST}") != manifest or remote.read(
                f"{staging}/{SIGNATURE}") != signature:
            raise ManifestError(f"{run_id}: the manifest read back from the portal host differs")
        check_files(remote, staging, document)
        remote.rename(staging, run_id)
    except BaseException:
        remote.remove_tree(staging, secure=True)
        raise


def _same_signature(local: DropStore, remote: DropStore, run_id: str) -> bool:
    rel = f"{run_id}/{SIGNATURE}"
    try:
        return remote.read(rel) == local.read(rel)
    except FileNotFoundError:
        return False


def push(local: DropStore, remote: DropStore, public_keys: Mapping[str, str],
         keep: int) -> Pushed:
    """Bring the portal host's drop up to date with this host's: keys first, then every run it
    lacks (oldest first, each verified here against ``public_keys`` before it is sent), then
    ``latest``, then the same retention as here."""
    done = Pushed()
    try:
        remote.make_dir("")
        if cleaned := clean_stale_staging(remote):
            log.warning("removed %d staging folder(s) an interrupted push left on the portal "
                        "host", cleaned)
        push_keys(local, remote)
        there = set(runs(remote))
        wanted = runs(local)[-keep:] if keep > 0 else runs(local)
        for run_id in wanted:
            if run_id in there and _same_signature(local, remote, run_id):
                continue
            if run_id in there:  # a copy that never finished (by hand?): sent again, whole
                log.warning("run %s on the portal host is not the signed run: replacing it",
                            run_id)
            try:
                document = signed(local.read(f"{run_id}/{MANIFEST}"),
                                  local.read(f"{run_id}/{SIGNATURE}"), run_id, public_keys)
                check_files(local, run_id, document)
            except (ManifestError, FileNotFoundError) as exc:
                log.error("run %s is not pushed: %s", run_id, exc)
                done.refused.append(run_id)
                continue
            if run_id in there:
                remote.remove_tree(run_id, secure=True)
            push_run(local, remote, run_id, document)
            done.runs.append(run_id)
        current = latest(local)
        if current is not None and current in set(runs(remote)) and latest(remote) != current:
            remote.write(LATEST, f"{current}\n".encode())
        prune(remote, keep)
        done.latest = latest(remote)
    except OSError as exc:
        raise PublishError(f"pushing to the portal host {remote.describe()} failed: "
                           f"{exc.strerror or exc}") from None
    except ManifestError as exc:
        raise PublishError(f"pushing to the portal host {remote.describe()} failed: {exc}") \
            from None
    return done
