"""The nightly host's side of the two-host journey: push published runs to the portal host's
drop (``publish.push``), from the run and from ``databook push``.

A push that fails never undoes a publish: the run is in this host's drop, the portal host keeps
serving its previous run, and the next push (tonight's run, or ``databook push`` by hand) sends
what it lacks. The failure is a warning in the run's log and an alert to the council.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from databook.alerts import send_event
from databook.faults import contained
from flows.settings import NightlySettings, SettingsError
from publish.errors import KeystoreError, PublishError
from publish.keystore import Keystore
from publish.push import Pushed, push

SAFE: tuple[type[Exception], ...] = (PublishError, KeystoreError, SettingsError)


def push_now(settings: NightlySettings) -> Pushed | None:
    """Push every run the portal host's drop lacks; None when no ``push_drop`` is set."""
    if not settings.push_drop:
        return None
    keys = Keystore.open(settings.home, settings.master_key).public_keys()
    local = settings.open_drop()
    try:
        remote = settings.open_push_drop()
        assert remote is not None
        try:
            return push(local, remote, keys, settings.keep_runs)
        finally:
            remote.close()
    finally:
        local.close()


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("push", SAFE)
def push_to_portal(settings: NightlySettings) -> str:
    done = push_now(settings)
    if done is None:
        return "not configured"
    get_run_logger().info("%s", done.summary())
    if done.refused:
        send_event(settings, "push to the portal host", "incomplete", done.summary())
    return "pushed"


def push_step(settings: NightlySettings) -> str:
    """The run's push, whatever else happened: a failure is logged, alerted and recorded, and
    never raised (the run's own outcome stands)."""
    if not settings.push_drop:
        return "not configured"
    try:
        state = push_to_portal(settings, return_state=True)
        outcome = state.result(raise_on_failure=False)
    except Exception as exc:
        outcome = exc
    if isinstance(outcome, BaseException):
        line = str(outcome) if isinstance(outcome, SAFE) else type(outcome).__name__
        get_run_logger().warning("push to the portal host failed: %s", line)
        send_event(settings, "push to the portal host", "failed", line)
        return f"failed: {line}"
    return str(outcome)
