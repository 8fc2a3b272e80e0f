"""What ``rasid status`` says when a download fails, from real Scrapy downloads.

One crawl (tests/support/crawl.py, a process of its own) polls local servers that
misbehave: redirects to ``file:``, ``gopher:`` and refused addresses, a gzip bomb,
connections closed or reset at each stage, a host whose address changes between the
network guard's check and the connection (the only fake: the DNS), and a feed that
declares entities. Every message must be rasid's own sentence, never Scrapy's wording
nor a Twisted repr.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from crawler.doctype import DECLARES_ENTITIES
from tests.support.http import Reply, local_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)).replace(
        "&lol0;", "&lol;"
    )
    + ']><rss version="2.0"><channel><title>t</title><item><title>&lol9;</title>'
    "<link>https://news.example/a</link></item></channel></rss>"
)
GOOD_FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
    "<title>خبر</title><link>https://news.example/b</link></item></channel></rss>"
)


@contextmanager
def misbehaving_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server that reads a request's head, then lets ``answer`` do what it will with
    the connection; yields a feed URL on it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/feed.xml"
    finally:
        stop.set()
        thread.join()
        listener.close()


def close_at_once(conn: socket.socket) -> None:
    conn.shutdown(socket.SHUT_RDWR)


def reset_at_once(conn: socket.socket) -> None:
    # A zero linger time makes close() send a reset instead of a clean FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_in_the_headers(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: applic")
    conn.shutdown(socket.SHUT_RDWR)


def close_in_the_body(conn: socket.socket) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 1000\r\n\r\n"
    conn.sendall(head + b"<rss>" + b"x" * 100)
    conn.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def errors() -> dict[str, str | None]:
    """Each source's recorded error after one real crawl of them all."""
    with ExitStack() as stack:
        site = stack.enter_context(local_server())
        site.route("/to-file", Reply(302, "", {"Location": "file:///etc/passwd"}))
        site.route("/to-gopher", Reply(302, "", {"Location": "gopher://127.0.0.1:70/_stats"}))
        site.route("/to-private", Reply(302, "", {"Location": "http://127.0.0.2/secret"}))
        bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))  # 20 KiB on the wire
        site.route("/gzip-bomb", Reply(200, bomb, {"Content-Encoding": "gzip"}, "text/xml"))
        site.route("/bomb.xml", Reply(200, BILLION_LAUGHS, content_type="application/rss+xml"))
        site.route("/good.xml", Reply(200, GOOD_FEED, content_type="application/rss+xml"))
        sources = {
            "redirect to file": site.url("/to-file"),
            "redirect to gopher": site.url("/to-gopher"),
            "redirect to a refused address": site.url("/to-private"),
            "gzip bomb": site.url("/gzip-bomb"),
            "entity bomb": site.url("/bomb.xml"),
            "good": site.url("/good.xml"),
            "rebinding": f"http://rebind.test:{site.port}/feed.xml",
        }
        for name, answer in [
            ("closed before answering", close_at_once),
            ("reset before answering", reset_at_once),
            ("closed in the headers", close_in_the_headers),
            ("closed in the body", close_in_the_body),
        ]:
            sources[name] = stack.enter_context(misbehaving_server(answer))
        request = {
            "sources": sources,
            # Passes the guard's check as 127.0.0.1, then resolves to 127.0.0.2.
            "dns": {"rebind.test": ["127.0.0.1", "127.0.0.2"]},
            "crawl": {"allowed_networks": ["127.0.0.1/32"], "max_response_size": "1MiB"},
        }
        result = subprocess.run(
            [sys.executable, "-m", "tests.support.crawl"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            check=False,
        )
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert sorted(outcomes) == sorted(sources), result.stderr
    return {name: outcome["error"] for name, outcome in outcomes.items()}


def test_no_message_is_a_twisted_repr_or_scrapy_wording(errors):
    for name, error in errors.items():
        assert "Failure" not in (error or ""), name
        assert "twisted" not in (error or ""), name
        assert "DOWNLOAD_MAXSIZE" not in (error or ""), name


def test_a_redirect_to_a_file_url_is_refused_at_that_hop(errors):
    assert errors["redirect to file"].startswith(
        "refused URL 'file:///etc/passwd': scheme 'file' is not http or https "
        "(redirected from http://127.0.0.1:"
    )
    assert errors["redirect to file"].endswith("/to-file)")


def test_a_redirect_to_gopher_is_refused_at_that_hop(errors):
    assert errors["redirect to gopher"].startswith(
        "refused URL 'gopher://127.0.0.1:70/_stats': scheme 'gopher' is not http or https "
        "(redirected from http://127.0.0.1:"
    )


def test_a_redirect_to_a_refused_address_is_refused_at_that_hop(errors):
    error = errors["redirect to a refused address"]
    assert error.startswith("refused URL 'http://127.0.0.2/secret': 127.0.0.2 is a private")
    assert error.endswith("/to-private)")
    assert "(redirected from http://127.0.0.1:" in error


def test_a_gzip_bomb_is_a_response_too_large_with_the_limit(errors):
    assert errors["gzip bomb"] == (
        "response too large (limit 1 MiB): its compressed body inflates past the limit "
        "(a compression bomb?)"
    )


def test_a_server_closing_before_answering_is_said_in_plain_words(errors):
    assert errors["closed before answering"] == (
        "the server closed the connection without answering"
    )


def test_a_server_resetting_before_answering_is_said_in_plain_words(errors):
    assert errors["reset before answering"] == "the connection was lost before the server answered"


def test_a_server_closing_in_its_headers_is_said_in_plain_words(errors):
    assert errors["closed in the headers"] == (
        "the server closed the connection before its answer was complete"
    )


def test_a_server_closing_in_the_body_is_said_in_plain_words(errors):
    assert errors["closed in the body"] == (
        "the server closed the connection before the whole response arrived "
        "(the body was cut short)"
    )


def test_a_host_rebinding_after_the_check_is_refused_saying_its_address_changed(errors):
    assert errors["rebinding"].startswith(
        "refused host 'rebind.test' when connecting: its address changed after the network "
        "guard's check (DNS rebinding?), and now it resolves to 127.0.0.2, a private"
    )


def test_an_entity_bomb_feed_is_refused_and_the_next_source_is_polled(errors):
    assert errors["entity bomb"] == DECLARES_ENTITIES
    assert errors["good"] is None
