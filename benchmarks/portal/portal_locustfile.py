"""08:30 at a county: each DSL signs in (password, then a TOTP code) and downloads their
school's databook once, with a reason. Run by ``benchmarks/portal/portal_bench.py``.

Arrivals: ``BENCH_USERS`` users over ``BENCH_MINUTES``; half arrive in the first fifth of the
window (2 of 10 minutes), the rest spread over the remainder. Arrival times are uniform random
within each part (seeded): a Poisson-like burstiness, not a metronome. All users are spawned at
once and each waits for its own arrival time (per-user start delays), so the pattern does not
depend on locust's spawn rate.

Two composite timings are reported besides each request: ``sign-in (password + code)`` (the
four requests from the sign-in page to the signed-in redirect) and ``download (form + file)``.
Every response time is also kept raw and written to ``$BENCH_RAW`` at the end, so the
percentiles reported are exact (locust's own CSV rounds them).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from collections import defaultdict
from typing import Any

import gevent
import pyotp
from locust import HttpUser, events, task
from locust.env import Environment
from portal_bench_users import PASSWORD, email_for, secret_for, urn_for

USERS = int(os.environ.get("BENCH_USERS", "600"))
WINDOW_S = float(os.environ.get("BENCH_MINUTES", "10")) * 60
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
RUN = re.compile(r'name="run_id" value="([^"]+)"')

_numbers = itertools.count()
_raw: dict[str, list[float]] = defaultdict(list)
_failures: dict[str, int] = defaultdict(int)
_finished = 0
_started_at = 0.0


def arrivals(users: int, window_s: float, seed: int = 830) -> list[float]:
    """Seconds after the start at which each user arrives: half in the first fifth."""
    rng = random.Random(seed)
    early = users // 2
    times = [rng.uniform(0, window_s / 5) for _ in range(early)]
    times += [rng.uniform(window_s / 5, window_s) for _ in range(users - early)]
    return sorted(times)


ARRIVALS = arrivals(USERS, WINDOW_S)


@events.test_start.add_listener
def _start(environment: Environment, **_kw: Any) -> None:
    global _started_at
    _started_at = time.monotonic()


@events.request.add_listener
def _keep(request_type: str, name: str, response_time: float, exception: Any,
          **_kw: Any) -> None:
    if exception is None:
        _raw[name].append(response_time)
    else:
        _failures[name] += 1


@events.quitting.add_listener
def _save(environment: Environment, **_kw: Any) -> None:
    path = os.environ.get("BENCH_RAW")
    if path:
        with open(path, "w") as out:
            json.dump({"times_ms": _raw, "failures": _failures, "finished": _finished}, out)


class Failed(Exception):
    """A step got the wrong answer (already counted as a failed request)."""


def _form_token(text: str, what: re.Pattern[str]) -> str:
    found = what.search(text)
    if not found:
        raise ValueError("the page has no form token")
    return found.group(1)


class DSL(HttpUser):
    """One designated safeguarding lead: arrives, signs in, downloads, leaves."""

    def on_start(self) -> None:
        self.number = next(_numbers)
        self.done = self.number >= USERS

    def _expect(self, method: str, url: str, name: str, status: int,
                **kwargs: Any) -> Any:
        with self.client.request(method, url, name=name, allow_redirects=False,
                                 catch_response=True, **kwargs) as response:
            if response.status_code != status:
                response.failure(f"HTTP {response.status_code}, expected {status}")
                raise Failed(name)
            response.success()
            return response

    def _composite(self, name: str, started: float) -> None:
        events.request.fire(request_type="FLOW", name=name, response_time=(
            time.perf_counter() - started) * 1000, response_length=0, exception=None,
            context={})

    @task
    def collect(self) -> None:
        global _finished
        if self.done:
            gevent.sleep(3600)
            return
        self.done = True
        delay = ARRIVALS[self.number] - (time.monotonic() - _started_at)
        if delay > 0:
            gevent.sleep(delay)
        i, urn = self.number, urn_for(self.number)
        try:
            started = time.perf_counter()
            page = self._expect("GET", "/signin", "GET /signin", 200)
            self._expect("POST", "/signin", "POST /signin (password)", 303, data={
                "email": email_for(i), "password": PASSWORD,
                "csrf": _form_token(page.text, CSRF)})
            page = self._expect("GET", "/signin/second", "GET /signin/second", 200)
            self._expect("POST", "/signin/totp", "POST /signin/totp (code)", 303, data={
                "code": pyotp.TOTP(secret_for(i)).now(), "csrf": _form_token(page.text, CSRF)})
            self._composite("sign-in (password + code)", started)
            self._expect("GET", f"/schools/{urn}", "GET /schools/[urn]", 200)
            started = time.perf_counter()
            page = self._expect("GET", f"/schools/{urn}/download", "GET download form", 200)
            got = self._expect("POST", f"/schools/{urn}/download", "POST download (file)", 200,
                               data={"csrf": _form_token(page.text, CSRF), "reason": "records",
                                     "run_id": _form_token(page.text, RUN)})
            if len(got.content) < 12_000:
                raise ValueError("the download is not a whole file")
            self._composite("download (form + file)", started)
        except Failed:
            pass
        except Exception as exc:  # a page without its form, a short file: an error too
            events.request.fire(request_type="FLOW", name="flow error", response_time=0,
                                response_length=0, exception=exc, context={})
        finally:
            _finished += 1
            if _finished >= USERS and self.environment.runner is not None:
                gevent.spawn_later(1, self.environment.runner.quit)
        gevent.sleep(3600)
