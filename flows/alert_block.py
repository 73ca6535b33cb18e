"""The MI team's alert channels as a Prefect notification block.

Some failures only the Prefect server sees: a run that never starts (Late), a run that fails
before its own code can speak, a run whose process is killed (Crashed). Prefect's automations
send those through this block, which posts and mails through ``databook.alerts.deliver``: the
same webhook, the same e-mail and the same message shape as the alerts a run sends itself.

The server loads the block's class by its type (``databook-alert``) through the
``prefect.collections`` entry point this package declares, so the server process must run from
the product's own installation (``make prefect-server`` does).
"""

from __future__ import annotations

import anyio
from prefect.blocks.abstract import NotificationBlock
from prefect.exceptions import PrefectException
from pydantic import Field, SecretStr

from databook.alerts import Channels, deliver


class AlertNotSent(PrefectException):
    """No configured channel took the alert (Prefect records the action as failed)."""


class DatabookAlert(NotificationBlock):
    """Webhook and/or e-mail, as ``DATABOOK_ALERT_*`` configure them on the nightly host."""

    _block_type_name = "Databook alert"
    _block_type_slug = "databook-alert"

    status: str = Field(description="what the webhook's JSON says happened: late, failed, ...")
    webhook: SecretStr | None = None
    smtp: SecretStr | None = None
    email_to: str | None = None
    email_from: str = "databook@localhost"

    def channels(self) -> Channels:
        return Channels(None if self.webhook is None else self.webhook.get_secret_value(),
                        None if self.smtp is None else self.smtp.get_secret_value(),
                        self.email_to, self.email_from)

    async def notify(self, body: str, subject: str | None = None) -> None:
        channels = self.channels()
        fields = {"status": self.status, "report": "databook runs"}
        sent = await anyio.to_thread.run_sync(
            lambda: deliver(channels, subject or "Safeguarding databook", body, fields))
        missed = [c for c in channels.names() if c not in sent]
        if missed and self._raise_on_failure:
            raise AlertNotSent(f"alert not sent by: {', '.join(missed)}")
