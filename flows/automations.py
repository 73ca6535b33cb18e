"""A Prefect automation for the one failure the flow cannot report itself: a nightly run that
never starts (no worker, the machine down). The server marks such a run Late; the automation
then posts to the MI team's webhook. Failed and blocked runs are reported by the flow."""

from __future__ import annotations

import contextlib
from typing import Any, cast
from uuid import UUID

from prefect.automations import Automation, EventTrigger, SendNotification
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.events.schemas.automations import Posture

AUTOMATION = "databook-late-run"
BLOCK = "databook-alerts"
FLOW = "nightly-databook"
BODY = ("The nightly safeguarding databook run {{ flow_run.name }} was due at "
        "{{ flow_run.expected_start_time }} and has not started. Check that the work pool's "
        "worker is running. The previous databooks remain current for schools.")


def install_late_alert(webhook: str, *, allow_private_urls: bool = True) -> UUID:
    """Create (or replace) the webhook block and the automation; returns the automation id.

    ``allow_private_urls``: a council's alert receiver is usually on its own network."""
    # Prefect's blocks and automations are "sync compatible" (a coroutine when called from
    # async code), which its type hints cannot express; these calls run synchronously here.
    block: Any = CustomWebhookNotificationBlock(
        name="Safeguarding databook MI team", url=webhook, method="POST",
        allow_private_urls=allow_private_urls, headers=None, cookies=None,
        json_data={"text": "{{subject}}\n{{body}}", "subject": "{{subject}}", "status": "late"})
    block_id = cast(UUID, block.save(BLOCK, overwrite=True))
    with contextlib.suppress(ValueError):  # none installed yet
        cast(Any, Automation.read(name=AUTOMATION)).delete()
    automation = Automation(
        name=AUTOMATION,
        description="Tell the MI team when the nightly databook run is late.",
        trigger=EventTrigger(expect={"prefect.flow-run.Late"},
                             match_related={"prefect.resource.role": "flow",
                                            "prefect.resource.name": FLOW},
                             posture=Posture.Reactive, threshold=1),
        actions=[SendNotification(block_document_id=block_id,
                                  subject="Safeguarding databook: the nightly run is late",
                                  body=BODY)],
    ).create()
    return cast(UUID, cast(Any, automation).id)
