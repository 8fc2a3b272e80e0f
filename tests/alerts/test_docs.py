"""docs/webhooks.md shows receivers the body they get and how to verify a delivery: the
body must be what rasid sends, and that code must work."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.event import event_from_json
from monitor.clock import FakeClock
from monitor.config import ChannelSettings
from monitor.db.session import Database
from tests.alerts.conftest import SECRET, AddAlert, make_dispatcher, make_settings
from tests.support.dispatch import dispatch_due
from tests.support.http import LocalServer, Reply

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented_verify() -> Callable[..., bool]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    [source] = [block for block in blocks if "def verify(" in block]
    namespace: dict[str, Any] = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    return namespace["verify"]


def test_documented_bodies_are_what_each_event_sends() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    documented = [json.loads(block) for block in blocks]
    assert [body["event"] for body in documented] == ["match", "digest", "follow_up"]
    for body in documented:
        sent = event_from_json(body).to_json()
        # Compared as text, so the order of the keys counts too.
        assert json.dumps(sent, ensure_ascii=False) == json.dumps(body, ensure_ascii=False)


def test_documented_verification_accepts_a_real_delivery_and_rejects_a_forgery(
    db: Database, receiver: LocalServer, add_alert: AddAlert
) -> None:
    verify = _documented_verify()
    receiver.route("/hook", Reply(200))
    settings = make_settings(
        ChannelSettings(name="hook", kind="webhook", url=receiver.url("/hook"), secret=SECRET)
    )
    add_alert()
    dispatch_due(make_dispatcher(db, FakeClock(datetime.now(UTC)), settings))

    [request] = receiver.requests_to("/hook")
    assert verify(SECRET, request.headers, request.body)
    assert not verify(SECRET, request.headers, request.body.replace(b"drones", b"dromes"))
