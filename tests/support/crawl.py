"""One real crawl, in a process of its own: ``python -m tests.support.crawl`` reads
``{"sources": {name: url}, "dns": {host: [address, ...]}, "crawl": {...}}`` as JSON on
stdin, polls every source once with the real spider, middlewares and resolver, and
prints ``{name: {"status": ..., "error": ...}}`` as JSON.

A process of its own because Twisted's reactor starts once per process. The only fake
is the outside DNS: each host named in ``dns`` answers its addresses in turn, one per
lookup (the last one repeated), so a host can pass the network guard's check and then
resolve elsewhere when connecting. The sink only records what the spider reports.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

from crawler.items import FeedEntry
from crawler.runner import CrawlerHandle, run_in_reactor
from crawler.sink import DueSource, PageWork, PollOutcome
from monitor.config import Settings


class RecordingSink:
    def __init__(self) -> None:
        self.outcomes: dict[str, PollOutcome | None] = {}

    def record_poll(self, source: DueSource, outcome: PollOutcome) -> None:
        self.outcomes[source.name] = outcome

    def flush(self) -> None:
        pass  # nothing held back: each outcome is kept as it comes

    def discover(
        self,
        source: DueSource,
        entries: list[FeedEntry],
        *,
        feed_url: str,
        outcome: PollOutcome | None = None,
    ) -> list[PageWork]:
        self.outcomes[source.name] = outcome
        return []

    def page_failed(self, work: PageWork, error: str, *, transient: bool) -> bool:
        return True

    def ingest(self, item: Any) -> None:
        pass


def fake_dns(answers: dict[str, list[str]]) -> None:
    real = socket.getaddrinfo
    remaining = {host: list(addresses) for host, addresses in answers.items()}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        queue = remaining.get(host)
        if not queue:
            return real(host, port, *args, **kwargs)
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]  # the one fake: the DNS


def main() -> None:
    request = json.load(sys.stdin)
    fake_dns(request.get("dns", {}))
    crawl = {"timeout": "5s", "autothrottle": False, **request.get("crawl", {})}
    settings = Settings.model_validate({"crawl": crawl})
    sources = [
        DueSource(id=number, name=name, url=url, obey_robots=False)
        for number, (name, url) in enumerate(request["sources"].items(), start=1)
    ]
    sink = RecordingSink()

    async def crawl_once() -> None:
        handle = CrawlerHandle(settings, sink, keep_alive=False, initial=sources)
        await handle.start()
        await handle.finished()

    run_in_reactor(crawl_once)
    json.dump(
        {
            name: {"status": outcome.status, "error": outcome.error} if outcome else None
            for name, outcome in sink.outcomes.items()
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
