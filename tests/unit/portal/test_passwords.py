"""Password hashing runs on a few threads of its own, below the request threads' CPU priority:
a burst of sign-ins queues for those threads instead of taking cores from people already
signed in (and from the ledger writer holding the write lock). The process itself keeps its
priority: only the hashing threads are lowered."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from portal.security.passwords import HASHER, Hashing, lower_priority

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice is Linux's")


def _argon2_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("argon2")}


def test_hashes_are_right_and_run_on_bounded_lowered_threads() -> None:
    stored = HASHER.hash("correct horse battery staple")
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = _argon2_threads()
    hashing = Hashing(concurrency=2, nice=7)
    answers: list[bool] = []

    def sign_in(password: str) -> None:
        answers.append(hashing.verify_sync(stored, password))

    callers = [threading.Thread(target=sign_in, args=(p,)) for p in
               ["correct horse battery staple", "wrong"] * 4]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert sorted(answers) == [False] * 4 + [True] * 4
    assert hashing.verify_sync(None, "anything at all") is False  # unknown account
    assert HASHER.verify(hashing.hash_sync("a new long password"), "a new long password")

    workers = _argon2_threads() - before
    assert 1 <= len(workers) <= 2  # eight callers, never more than two hashes at once
    for worker in workers:
        assert worker.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, worker.native_id) == min(19, base + 7)
    # Only the hashing threads were lowered: the caller and the process keep their priority.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == base


def test_lowering_is_per_thread_and_bounded() -> None:
    seen: dict[str, int] = {}

    def lowered(nice: int, name: str) -> None:
        lower_priority(nice)
        seen[name] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen[name + " policy"] = os.sched_getscheduler(0)

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for nice, name in ((40, "past the end"), (0, "none")):
        t = threading.Thread(target=lowered, args=(nice, name))
        t.start()
        t.join()
    assert seen["past the end"] == 19 and seen["past the end policy"] == os.SCHED_BATCH
    assert seen["none"] == base and seen["none policy"] == os.SCHED_OTHER
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
