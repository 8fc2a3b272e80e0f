"""Fixtures for the alert tests: outbox rows backed by real matches, settings for
channels pointing at local receivers, and raw-socket receivers for timing misbehaviour."""

from __future__ import annotations

import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from alerts import outbox
from alerts.channels import build_channels
from alerts.dispatch import Dispatcher
from alerts.event import AlertEvent, DigestEvent, DigestStory, Highlight, MatchedArticle, MatchEvent
from monitor.clock import FakeClock
from monitor.config import AlertSettings, ChannelSettings, Settings
from monitor.db.models import Article, Match, OutboxAlert, Watchlist
from monitor.db.session import Database
from monitor.netguard import NetworkPolicy
from tests.support.http import Recorded, Reply

# The Standard Webhooks test-vector key (libraries/python/tests/test_webhooks.py).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LOCAL = NetworkPolicy(allow_private_networks=True)
TLS_HOST = "hooks.receiver.test"


def sample_event(title: str = "طائرة مسيرة تستهدف قاعدة عين الأسد") -> MatchEvent:
    return MatchEvent(
        watchlist="drones",
        article=MatchedArticle(
            url="https://news.example/ar/2026/03/01/drone",
            title=title,
            source="bbc-arabic",
            published_at=datetime(2026, 3, 1, 11, 30, tzinfo=UTC),
        ),
        highlights=(Highlight(query="طائرة مسيرة", text="طائرة مسيرة", field="title"),),
        snippet="قالت مصادر إن طائرة مسيرة استهدفت القاعدة فجر اليوم.",
    )


AddAlert = Callable[..., list[OutboxAlert]]


@pytest.fixture
def add_alert(db: Database, clock: FakeClock) -> AddAlert:
    """Insert an article, a match and its outbox rows (one per channel), as ingest does.

    Each call is a new article (its event names its own URL), unless ``article`` names
    an earlier call's number: then it is that article matched by another ``watchlist``.
    """
    numbers = count(1)
    articles: dict[int, int] = {}

    def add(
        channels: tuple[str, ...] = ("hook",),
        title: str | None = None,
        *,
        watchlist: str = "drones",
        urgent: bool = False,
        article: int | None = None,
    ) -> list[OutboxAlert]:
        number = article if article is not None else next(numbers)
        now = clock.now()
        with db.transaction() as session:
            found = session.scalar(select(Watchlist).where(Watchlist.name == watchlist))
            if found is None:
                found = Watchlist(name=watchlist, created_at=now, updated_at=now)
                session.add(found)
                session.flush()
            if number not in articles:
                stored = Article(
                    url=f"https://news.example/ar/{number}",
                    title=title or f"خبر رقم {number}",
                    content_hash=f"{number:064d}",
                    fetched_at=now,
                )
                session.add(stored)
                session.flush()
                articles[number] = stored.id
            match = Match(
                article_id=articles[number],
                watchlist_id=found.id,
                highlights=[],
                created_at=now,
            )
            session.add(match)
            session.flush()
            event = sample_event(title or f"خبر رقم {number}")
            event = replace(
                event,
                watchlist=watchlist,
                article=replace(event.article, url=f"https://news.example/ar/{number}"),
            )
            outbox.enqueue(
                session.connection(),
                match_id=match.id,
                channels=list(channels),
                event=event,
                now=now,
                watchlist_id=found.id,
                urgent=urgent,
            )
            query = select(OutboxAlert).where(OutboxAlert.match_id == match.id)
            return list(session.scalars(query.order_by(OutboxAlert.id)))

    return add


def make_settings(*channels: ChannelSettings, timeout: float = 2.0, **alerts: Any) -> Settings:
    return Settings(
        channels=list(channels),
        alerts=AlertSettings(timeout=timedelta(seconds=timeout), **alerts),
    )


def make_dispatcher(
    db: Database, clock: FakeClock, settings: Settings, policy: NetworkPolicy = LOCAL, **kw: Any
) -> Dispatcher:
    channels = build_channels(settings, policy, clock, stream=kw.pop("stream", None))
    return Dispatcher(db, channels, settings.alerts, clock, rng=random.Random(7), **kw)


def free_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def drip_server(
    head: bytes,
    body: bytes,
    *,
    drip_head: bool,
    interval: float,
    tls: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """A receiver that answers one byte at a time, every ``interval`` seconds: the status
    line and headers (``drip_head``) or only the body; over TLS when given a server
    context. Yields its URL (http or https, host 127.0.0.1)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            if tls is not None:
                try:
                    conn = tls.wrap_socket(conn, server_side=True)
                except OSError:
                    return  # a failed handshake is the client's business
            received = b""
            while b"\r\n\r\n" not in received:
                received += conn.recv(65536)
            # Read the whole body too: closing with unread data would send a reset.
            head_part, _, body_part = received.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head_part)
            missing = int(length.group(1)) - len(body_part) if length else 0
            while missing > 0:
                missing -= len(conn.recv(65536))
            answer = head + body
            fast = 0 if drip_head else len(head)
            try:
                conn.sendall(answer[:fast])
                for byte in answer[fast:]:
                    if stop.wait(interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client hung up: what the test wants

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join()
        listener.close()


@contextmanager
def receiver_on(port: int) -> Iterator[list[dict[str, Any]]]:
    """A receiver on a given port (to bring a dead one back): answers 200 and records
    each request as {"headers": ..., "body": ...}."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(
                {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate (and its key) for the name hooks.receiver.test."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_HOST)])
    start = datetime.now(UTC) - timedelta(hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def elapsed(start: float) -> float:
    return time.monotonic() - start


def _text_length(node: object) -> int:
    if isinstance(node, dict):
        own = len(node["text"]) if isinstance(node.get("text"), str) else 0
        return own + sum(_text_length(value) for key, value in node.items() if key != "text")
    if isinstance(node, list):
        return sum(_text_length(value) for value in node)
    return 0


def slack_problems(message: dict[str, Any]) -> list[str]:
    """What Slack would refuse in an incoming-webhook message (its documented limits:
    50 blocks, 3,000 characters of text in a block, 150 in a header, about 13,000 in
    all), empty; ``invalid_blocks`` answers from Slack name the same."""
    problems = []
    blocks = message.get("blocks", [])
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks")
    for index, block in enumerate(blocks):
        length = _text_length(block)
        if block["type"] == "header" and len(block["text"]["text"]) > 150:
            problems.append(f"block {index}: header of {len(block['text']['text'])}")
        if length > 3000:
            problems.append(f"block {index}: {length} characters")
        if block["type"] == "context" and len(block["elements"]) > 10:
            problems.append(f"block {index}: {len(block['elements'])} context elements")
    total = _text_length(blocks)
    if total > 13000:
        problems.append(f"msg_blocks_too_long: {total} characters")
    if not isinstance(message.get("text"), str) or len(message["text"]) > 40000:
        problems.append("text")
    return problems


class FakeSlack:
    """A Slack incoming webhook on a LocalServer route: refuses what Slack refuses
    (``invalid_blocks``), and allows ``rate`` messages per second with bursts of
    ``burst`` by the test's clock, answering 429 with Retry-After beyond that."""

    def __init__(self, clock: FakeClock, rate: float = 1.0, burst: int = 3) -> None:
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self.messages: list[tuple[datetime, dict[str, Any]]] = []
        self.too_many = 0
        self._tokens = float(burst)
        self._stamp: datetime | None = None
        self._lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        import json

        with self._lock:
            now = self.clock.now()
            if self._stamp is not None:
                elapsed = (now - self._stamp).total_seconds()
                self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._stamp = now
            if self._tokens < 1 - 1e-9:
                self.too_many += 1
                wait = max(1, round((1 - self._tokens) / self.rate + 0.5))
                return Reply(429, "rate_limited", {"Retry-After": str(wait)}, "text/plain")
            self._tokens -= 1
            message = json.loads(request.body)
            if slack_problems(message):
                return Reply(400, "invalid_blocks", content_type="text/plain")
            self.messages.append((now, message))
            return Reply(200, "ok", content_type="text/plain")


AddEvent = Callable[..., OutboxAlert]


@pytest.fixture
def add_event(db: Database, clock: FakeClock) -> AddEvent:
    """Insert an outbox row holding a digest or follow-up event, as their producers do."""

    def add(event: AlertEvent, channel: str = "slack", *, urgent: bool = False) -> OutboxAlert:
        now = clock.now()
        alert_id = outbox.new_alert_id(now)
        kind = "digest" if isinstance(event, DigestEvent) else "follow_up"
        with db.transaction() as session:
            row = OutboxAlert(
                alert_id=alert_id,
                kind=kind,
                channel=channel,
                urgent=urgent,
                payload=event.with_id(alert_id).to_json(),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(row)
            session.flush()
            session.expunge(row)
            return row

    return add


def sample_digest(stories: int = 2) -> DigestEvent:
    return DigestEvent(
        watchlist="drones",
        since=datetime(2026, 3, 1, 4, 0, tzinfo=UTC),
        until=datetime(2026, 3, 2, 4, 0, tzinfo=UTC),
        stories=tuple(
            DigestStory(
                article=MatchedArticle(
                    url=f"https://news.example/ar/story/{number}",
                    title=f"قصة رقم {number}",
                    source="bbc-arabic",
                ),
                outlets=("bbc-arabic", "الجزيرة"),
                matches=2,
            )
            for number in range(stories)
        ),
        matches=2 * stories,
    )
