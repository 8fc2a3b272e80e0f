from __future__ import annotations

from datetime import UTC, datetime

from standardwebhooks import Webhook

from alerts.signing import sign
from monitor.clock import FakeClock
from monitor.config import ChannelSettings
from monitor.db.session import Database
from tests.alerts.conftest import SECRET, AddAlert, make_dispatcher, make_settings
from tests.support.dispatch import dispatch_due
from tests.support.http import LocalServer, Reply


# Scenario 24: signing reproduces the Standard Webhooks test vector.
def test_signature_reproduces_the_standard_webhooks_vector() -> None:
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# Scenario 24: the standardwebhooks library verifies our deliveries.
def test_standardwebhooks_library_verifies_a_real_delivery(
    db: Database, receiver: LocalServer, add_alert: AddAlert
) -> None:
    # The library checks the timestamp against the wall clock (±5 min), so the fake
    # clock starts at the real time here.
    clock = FakeClock(datetime.now(UTC))
    receiver.route("/hook", Reply(204, ""))
    settings = make_settings(
        ChannelSettings(name="hook", kind="webhook", url=receiver.url("/hook"), secret=SECRET)
    )
    [row] = add_alert()

    assert dispatch_due(make_dispatcher(db, clock, settings)).sent == 1

    [request] = receiver.requests_to("/hook")
    verified = Webhook(SECRET).verify(request.body, request.headers)
    assert verified == row.payload
    assert verified["id"] == row.alert_id == request.headers["webhook-id"]
    assert request.headers["content-type"].startswith("application/json")
    assert "طائرة مسيرة".encode() in request.body  # UTF-8, not \u escapes


def test_unsigned_channel_sends_id_and_timestamp_only(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/hook", Reply(200, "ok"))
    settings = make_settings(
        ChannelSettings(name="hook", kind="webhook", url=receiver.url("/hook"))
    )
    add_alert()

    dispatch_due(make_dispatcher(db, clock, settings))

    [request] = receiver.requests_to("/hook")
    assert request.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    assert "webhook-signature" not in request.headers
