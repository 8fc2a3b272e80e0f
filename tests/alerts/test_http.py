from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from alerts.delivery import deliver, parse_retry_after
from monitor.clock import FakeClock
from monitor.errors import DeliveryError, NetworkGuardError
from monitor.guarded_http import GuardedClient, HttpReply
from monitor.netguard import NetworkPolicy
from tests.alerts.conftest import LOCAL, TLS_HOST, drip_server, elapsed, free_port
from tests.support.http import LocalServer, Reply

if TYPE_CHECKING:
    from collections.abc import Iterator

GUARDED = NetworkPolicy(allow_private_networks=False)


@dataclass(frozen=True)
class PinnedDNS(NetworkPolicy):
    """A resolver that maps every name to 127.0.0.1 (the only fake: the outside DNS)."""

    def resolve(self, host: str, port: int = 0) -> list[str]:
        if not self.address_allowed("127.0.0.1"):
            raise NetworkGuardError(f"refused host {host!r}: it resolves to 127.0.0.1")
        return ["127.0.0.1"]


@contextmanager
def resetting_server() -> Iterator[str]:
    """A receiver that reads one request, then resets the connection (a zero linger
    time makes close() send a reset)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            received = b""
            while b"\r\n\r\n" not in received:
                received += conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        thread.join(timeout=5)
        listener.close()


@dataclass(frozen=True)
class _Poster:
    """An alert's path to a receiver: the guarded client, then the delivery outcome."""

    client: GuardedClient

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpReply:
        return deliver(self.client, url, body, headers, FakeClock().now())


def _poster(
    policy: NetworkPolicy = LOCAL,
    timeout: float = 2.0,
    max_response_bytes: int = 64 * 1024,
    ca_bundle: str | None = None,
) -> _Poster:
    client = GuardedClient(
        policy, timeout=timeout, max_response_bytes=max_response_bytes, ca_bundle=ca_bundle
    )
    return _Poster(client)


def test_redirect_is_a_failure_and_is_not_followed(receiver: LocalServer) -> None:
    receiver.route("/hook", Reply(302, "", headers={"Location": receiver.url("/elsewhere")}))
    with pytest.raises(DeliveryError, match=r"HTTP 302.*not followed") as failure:
        _poster().post(receiver.url("/hook"), b"{}", {})
    assert not failure.value.permanent
    assert receiver.requests_to("/elsewhere") == []


def test_permanent_redirect_is_a_permanent_failure(receiver: LocalServer) -> None:
    receiver.route("/hook", Reply(308, "", headers={"Location": receiver.url("/new")}))
    with pytest.raises(DeliveryError) as failure:
        _poster().post(receiver.url("/hook"), b"{}", {})
    assert failure.value.permanent
    assert receiver.requests_to("/new") == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433"])
def test_loopback_url_is_refused_by_the_guard(receiver: LocalServer, host: str) -> None:
    receiver.route("/hook", Reply(200, "ok"))
    url = f"http://{host}:{receiver.port}/hook/SECRET-TOKEN"
    with pytest.raises(DeliveryError, match="refused") as failure:
        _poster(GUARDED).post(url, b"{}", {})
    assert failure.value.permanent
    assert "SECRET-TOKEN" not in str(failure.value)
    assert receiver.requests == []


def test_loopback_url_is_allowed_when_private_networks_are(receiver: LocalServer) -> None:
    receiver.route("/hook", Reply(200, "ok", content_type="text/plain"))
    reply = _poster(LOCAL).post(receiver.url("/hook"), b"{}", {})
    assert (reply.status, reply.text) == (200, "ok")


def test_connection_goes_to_the_vetted_address_with_the_host_name_kept(
    receiver: LocalServer,
) -> None:
    receiver.route("/hook", Reply(200, "ok"))
    url = f"http://hooks.receiver.test:{receiver.port}/hook"

    _poster(PinnedDNS(allow_private_networks=True)).post(url, b"{}", {})
    [request] = receiver.requests_to("/hook")
    assert request.headers["host"] == f"hooks.receiver.test:{receiver.port}"

    with pytest.raises(DeliveryError, match="refused host") as failure:
        _poster(PinnedDNS(allow_private_networks=False)).post(url, b"{}", {})
    assert failure.value.permanent
    assert len(receiver.requests_to("/hook")) == 1


def test_connection_refused_is_transient_and_hides_the_path() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/SECRET"
    with pytest.raises(DeliveryError, match="refused") as failure:
        _poster().post(url, b"{}", {})
    assert not failure.value.permanent
    assert "SECRET" not in str(failure.value)


@pytest.mark.parametrize("drip_head", [True, False], ids=["slow-headers", "slow-body"])
def test_slow_drip_answer_is_cut_at_the_total_deadline(drip_head: bool) -> None:
    head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 200\r\n\r\n"
    with drip_server(head, b"x" * 200, drip_head=drip_head, interval=0.05) as url:
        start = time.monotonic()
        with pytest.raises(DeliveryError) as failure:
            _poster(timeout=1.0).post(url, b"{}", {})
        took = elapsed(start)
    # Without the deadline this takes 10 s (200 bytes at 20 per second), or forever.
    assert 0.9 <= took < 2.0
    assert not failure.value.permanent
    expected = "deadline" if drip_head else "HTTP 503"
    assert expected in str(failure.value)


def test_success_whose_body_drips_is_kept_with_the_body_cut() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n"
    with drip_server(head, b"y" * 200, drip_head=False, interval=0.05) as url:
        start = time.monotonic()
        reply = _poster(timeout=1.0).post(url, b"{}", {})
        took = elapsed(start)
    assert reply.status == 200 and reply.truncated
    assert took < 2.0


def test_answer_body_is_read_only_up_to_the_cap(receiver: LocalServer) -> None:
    receiver.route("/hook", Reply(500, "z" * 1_000_000))
    with pytest.raises(DeliveryError) as failure:
        _poster(max_response_bytes=4096).post(receiver.url("/hook"), b"{}", {})
    assert len(str(failure.value)) < 400
    receiver.route("/ok", Reply(200, "k" * 1_000_000))
    reply = _poster(max_response_bytes=4096).post(receiver.url("/ok"), b"{}", {})
    assert len(reply.text) == 4096 and reply.truncated


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (401, True), (404, True), (410, True), (408, False), (429, False),
     (500, False), (502, False), (503, False), (504, False)],
)  # fmt: skip
def test_status_codes_are_classified(receiver: LocalServer, status: int, permanent: bool) -> None:
    receiver.route("/hook", Reply(status, "nope"))
    with pytest.raises(DeliveryError, match=f"HTTP {status}") as failure:
        _poster().post(receiver.url("/hook"), b"{}", {})
    assert failure.value.permanent is permanent


def test_retry_after_on_a_503_is_carried(receiver: LocalServer) -> None:
    receiver.route("/hook", Reply(503, "busy", headers={"Retry-After": "120"}))
    with pytest.raises(DeliveryError) as failure:
        _poster().post(receiver.url("/hook"), b"{}", {})
    assert failure.value.retry_after == 120


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def _tls_context(tls_files: tuple[str, str], names: list[str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)

    def record(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name or "")

    context.sni_callback = record  # type: ignore[assignment]
    return context


def test_https_to_a_pinned_address_keeps_sni_and_certificate_checks(
    tls_files: tuple[str, str],
) -> None:
    names: list[str] = []
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"
    with drip_server(
        head, b"ok", drip_head=False, interval=0, tls=_tls_context(tls_files, names)
    ) as url:
        hostname_url = url.replace("127.0.0.1", TLS_HOST)
        poster = _poster(PinnedDNS(allow_private_networks=True), ca_bundle=tls_files[0])
        reply = poster.post(hostname_url, b"{}", {})
        assert (reply.status, reply.text) == (200, "ok")
        assert names == [TLS_HOST]
        with pytest.raises(DeliveryError, match="connection failed"):
            _poster(LOCAL).post(url, b"{}", {})  # the certificate is not for 127.0.0.1


def test_https_drip_is_cut_at_the_total_deadline(tls_files: tuple[str, str]) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    with drip_server(
        head, b"ok", drip_head=True, interval=0.1, tls=_tls_context(tls_files, [])
    ) as url:
        poster = _poster(PinnedDNS(allow_private_networks=True), 1.0, ca_bundle=tls_files[0])
        start = time.monotonic()
        with pytest.raises(DeliveryError, match="deadline"):
            poster.post(url.replace("127.0.0.1", TLS_HOST), b"{}", {})
        assert elapsed(start) < 2.0


def test_a_receiver_closing_without_answering_is_said_in_plain_words() -> None:
    with (
        drip_server(b"", b"", drip_head=False, interval=0) as url,
        pytest.raises(DeliveryError) as failure,
    ):
        _poster().post(url, b"{}", {})
    origin = url.removesuffix("/hook")
    assert str(failure.value) == f"{origin}: the receiver closed the connection without answering"
    assert not failure.value.permanent


def test_a_receiver_resetting_without_answering_is_said_in_plain_words() -> None:
    with resetting_server() as url, pytest.raises(DeliveryError) as failure:
        _poster().post(url, b"{}", {})
    # Whether the reset or the end of the stream is read first is the kernel's choice.
    assert str(failure.value).endswith("connection without answering")
    assert "aborted" not in str(failure.value)


def test_a_receiver_answering_in_another_protocol_is_said_in_plain_words() -> None:
    with (
        drip_server(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"", drip_head=False, interval=0) as url,
        pytest.raises(DeliveryError) as failure,
    ):
        _poster().post(url, b"{}", {})
    expected = "the receiver's answer is not HTTP (it began 'SSH-2.0-OpenSSH_9.6')"
    assert str(failure.value).endswith(expected)
