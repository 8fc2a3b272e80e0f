"""Running Scrapy inside rasid's one asyncio loop.

Scrapy runs on Twisted's asyncio reactor, which drives the standard asyncio loop, so
APScheduler's AsyncIOScheduler, the alert dispatcher and Scrapy share one loop in one
process. The reactor can only be started once per process: :func:`run_in_reactor` is the
process's main loop, and :class:`CrawlerHandle` keeps one long-lived spider per service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.reactor import install_reactor, is_reactor_installed

from crawler.middlewares import GuardedResolver
from crawler.settings import TWISTED_REACTOR, scrapy_settings
from crawler.sink import CrawlSink, DueSource, PageWork
from crawler.spiders.sources import FEED_STATS, SourceSpider
from monitor.config import Settings

T = TypeVar("T")


def run_in_reactor(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on the asyncio reactor and return its result (or raise its error).

    Signal handling is left to the caller's coroutine (``loop.add_signal_handler``):
    Twisted's own handlers would stop the reactor under a coroutine still cleaning up.
    """
    if not is_reactor_installed():
        install_reactor(TWISTED_REACTOR)
    from twisted.internet import reactor

    outcome: dict[str, Any] = {}

    async def wrapper() -> None:
        try:
            outcome["value"] = await main()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller below
            outcome["error"] = exc
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: deferred_from_coro(wrapper()))
    # IReactorCore.run declares no parameters; every reactor's run (ReactorBase) has this.
    reactor.run(installSignalHandlers=False)  # type: ignore[call-arg]
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class CrawlerHandle:
    """One running :class:`SourceSpider` and the means to feed and stop it."""

    def __init__(
        self,
        settings: Settings,
        sink: CrawlSink,
        *,
        keep_alive: bool,
        initial: Iterable[DueSource] = (),
        initial_work: Iterable[PageWork] = (),
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._keep_alive = keep_alive
        self._initial = list(initial)
        self._initial_work = list(initial_work)
        self._policy = settings.crawl.network_policy
        self._runner: AsyncCrawlerRunner | None = None
        self._crawler: Crawler | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from twisted.internet import reactor

        GuardedResolver(reactor, self._policy).install_on_reactor()
        self._runner = AsyncCrawlerRunner(scrapy_settings(self._settings))
        crawler = self._runner.create_crawler(SourceSpider)
        opened = asyncio.get_running_loop().create_future()

        def mark_opened(spider: SourceSpider) -> None:
            if not opened.done():
                opened.set_result(None)

        crawler.signals.connect(mark_opened, signal=signals.spider_opened, weak=False)
        self._crawler = crawler
        self._task = self._runner.crawl(
            crawler,
            sink=self._sink,
            policy=self._policy,
            initial=self._initial,
            initial_work=self._initial_work,
            keep_alive=self._keep_alive,
        )
        done, _ = await asyncio.wait({opened, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done and not opened.done():
            self._task.result()  # raises the reason the crawler could not start

    def poll(self, sources: Iterable[DueSource]) -> None:
        self._spider().poll(sources)

    def fetch(self, works: Iterable[PageWork]) -> None:
        """Fetch the pages of entries claimed from the frontier."""
        self._spider().fetch(works)

    def _spider(self) -> SourceSpider:
        assert self._crawler is not None and self._crawler.spider is not None
        spider = self._crawler.spider
        assert isinstance(spider, SourceSpider)
        return spider

    def idle(self) -> bool:
        """Nothing queued, downloading or being processed (Scrapy's own idle test)."""
        if self._crawler is None or self._crawler.engine is None:
            return True
        try:
            return self._crawler.engine.spider_is_idle()
        except RuntimeError:  # the engine has no spider open (not started, or closed)
            return True

    def in_flight(self) -> int:
        """Requests the downloader is working on now (what a stop waits for)."""
        engine = self._crawler.engine if self._crawler is not None else None
        if engine is None or engine.downloader is None:
            return 0
        return len(engine.downloader.active)

    def feed_counts(self) -> dict[str, int]:
        """How polls ended so far: ``not_modified``, ``same_body`` (neither parsed) and
        ``parsed`` documents (feeds and sitemaps), from the crawler's stats."""
        if self._crawler is None or self._crawler.stats is None:
            return {}
        return {
            key.removeprefix(FEED_STATS): value
            for key, value in self._crawler.stats.get_stats().items()
            if key.startswith(FEED_STATS)
        }

    async def finished(self) -> None:
        """Wait until the spider closes (it does by itself when not kept alive)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.stop()
        await self.finished()
