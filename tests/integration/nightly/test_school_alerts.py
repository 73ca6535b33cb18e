"""Telling a school's DSLs that their databook changed: only that school, only its name."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller

from flows.school_alerts import notify
from flows.settings import NightlySettings, SettingsError, load
from tests.support import free_port


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=default)
        body = parsed.get_body()
        text = f"{parsed['Subject']}\n{body.get_content() if body else ''}"
        self.messages.append((list(envelope.rcpt_tos), text))
        return "250 OK"


@pytest.fixture
def receivers() -> Iterator[tuple[str, str, Inbox]]:
    http = HTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    Hook.received = []
    try:
        yield f"http://127.0.0.1:{http.server_port}/hook", f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()
        http.shutdown()


def settings_with(tmp_path: Path, toml: str, **env: str) -> NightlySettings:
    (tmp_path / "databook.toml").write_text(toml)
    return load(environ={"DATABOOK_HOME": str(tmp_path), **env})


def test_only_the_configured_changed_school_is_told_and_only_its_name(
        tmp_path: Path, receivers: tuple[str, str, Inbox]) -> None:
    hook, smtp, inbox = receivers
    settings = settings_with(tmp_path, f"""
[school_alerts.112000]
email = ["dsl@a.example", "deputy@a.example"]
webhook = "{hook}"

[school_alerts.112017]
email = "dsl@b.example"
""", DATABOOK_ALERT_SMTP=smtp)
    when = datetime(2026, 11, 21, 11, 5, tzinfo=UTC)
    sent = notify(settings, [(112000, "Alpha Primary"), (112034, "Gamma Academy")], when)
    assert sent == {112000: ["webhook", "email"]}
    ((recipients, mail),) = inbox.messages
    assert sorted(recipients) == ["deputy@a.example", "dsl@a.example"]  # never school B's DSL
    assert "Alpha Primary (URN 112000)" in mail and "11:05 on 21/11/2026" in mail
    assert "Gamma" not in mail
    (posted,) = Hook.received
    assert posted["urn"] == 112000 and set(posted) == {"text", "subject", "urn", "school",
                                                       "updated_at"}


def test_an_unreachable_channel_is_logged_not_raised(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, """
[school_alerts.112000]
email = "dsl@a.example"
webhook = "http://127.0.0.1:1/hook"
""", DATABOOK_ALERT_SMTP="smtp://127.0.0.1:1")
    assert notify(settings, [(112000, "Alpha")], datetime.now(UTC)) == {112000: []}


@pytest.mark.parametrize(("toml", "named"), [
    ('[school_alerts.abc]\nemail = "x@y.z"\n', "school_alerts.abc"),
    ('[school_alerts.112000]\nemail = "not an address"\n', "email must be"),
    ('[school_alerts.112000]\nwebhook = "ftp://x"\n', "webhook must be"),
    ('[school_alerts.112000]\nphone = "0"\n', "unknown key(s) phone"),
])
def test_a_bad_school_alert_entry_is_a_one_line_settings_error(
        tmp_path: Path, toml: str, named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_with(tmp_path, toml)
    assert named in str(caught.value) and "\n" not in str(caught.value)
