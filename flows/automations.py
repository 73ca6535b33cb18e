"""Prefect automations for the failures a run cannot report itself, installed by
``databook alerts install``:

- **late**: a scheduled run that never starts (no worker, the machine down): the server marks
  it Late;
- **failed**: a run that failed, including before its own code could send an alert (the flow
  could not be loaded, its settings did not); a run that fails inside its own code also sends
  its own, more detailed alert;
- **crashed**: a run whose process was killed (out of memory, ``kill -9``, a reboot): the worker
  marks it Crashed, and nothing inside the run lived to say so.

Each posts and mails through the ``databook-alert`` block (``flows.alert_block``) to the same
channels as the in-run alerts. Messages name the Prefect flow run only, never a child.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from prefect.automations import Automation, EventTrigger, SendNotification
from prefect.events.schemas.automations import Posture
from pydantic import SecretStr

from databook.alerts import Channels
from flows.alert_block import DatabookAlert

#: The flows whose runs are watched: the nightly run (and its changed-only deployment) and the
#: uncollected-databooks check.
FLOWS = ("nightly-databook", "uncollected-databooks")
CURRENT = "The previous databooks remain current for schools."


@dataclass(frozen=True)
class Alert:
    kind: str
    state: str
    subject: str
    body: str

    @property
    def automation(self) -> str:
        return f"databook-{self.kind}-run"

    @property
    def block(self) -> str:
        return f"databook-alert-{self.kind}"


ALERTS = (
    Alert("late", "Late", "Safeguarding databook: run {{ flow_run.name }} is LATE",
          "The safeguarding databook run {{ flow_run.name }} was due at "
          "{{ flow_run.expected_start_time }} and has not started. Check that the work pool's "
          f"worker is running. {CURRENT}"),
    Alert("failed", "Failed", "Safeguarding databook: run {{ flow_run.name }} FAILED",
          "Prefect reports the safeguarding databook run {{ flow_run.name }} "
          "(flow run {{ flow_run.id }}) Failed. If the run could say why, its own alert and "
          f"`databook runs` have the detail; otherwise see the worker's log. {CURRENT}"),
    Alert("crashed", "Crashed", "Safeguarding databook: run {{ flow_run.name }} CRASHED",
          "The safeguarding databook run {{ flow_run.name }} (flow run {{ flow_run.id }}) "
          "ended without finishing: its process was killed or the machine stopped "
          "({{ flow_run.state.message }}). Nothing was published by it, and the next run says "
          f"so first. Check the nightly host (memory, restarts) and `databook runs`. {CURRENT}"),
)
KINDS = tuple(a.kind for a in ALERTS)


def install(channels: Channels, kinds: tuple[str, ...] = KINDS) -> dict[str, UUID]:
    """Create (or replace) each alert's block and automation; returns automation ids by kind.

    Prefect's blocks and automations are "sync compatible" (a coroutine when called from async
    code), which their type hints cannot express; these calls run synchronously here."""
    installed = {}
    for alert in ALERTS:
        if alert.kind not in kinds:
            continue
        block: Any = DatabookAlert(status=alert.kind, webhook=_secret(channels.webhook),
                                   smtp=_secret(channels.smtp), email_to=channels.email_to,
                                   email_from=channels.email_from)
        block_id = cast(UUID, block.save(alert.block, overwrite=True))
        with contextlib.suppress(ValueError):  # none installed yet
            cast(Any, Automation.read(name=alert.automation)).delete()
        automation = Automation(
            name=alert.automation,
            description=f"Tell the MI team when a safeguarding databook run is {alert.kind}.",
            trigger=EventTrigger(expect={f"prefect.flow-run.{alert.state}"},
                                 match_related={"prefect.resource.role": "flow",
                                                "prefect.resource.name": list(FLOWS)},
                                 posture=Posture.Reactive, threshold=1),
            actions=[SendNotification(block_document_id=block_id, subject=alert.subject,
                                      body=alert.body)],
        ).create()
        installed[alert.kind] = cast(UUID, cast(Any, automation).id)
    return installed


def _secret(value: str | None) -> SecretStr | None:
    return None if value is None else SecretStr(value)


def install_late_alert(webhook: str) -> UUID:
    """The late-run alert alone, to ``webhook`` (``databook alerts install-late``)."""
    return install(Channels(webhook=webhook), ("late",))["late"]
