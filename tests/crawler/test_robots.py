"""The robots.txt cache of the long-lived spider: expiry, and what an unreachable
robots.txt means, under a clock the test moves."""

from __future__ import annotations

from protego import Protego

from crawler.robots import RobotsCache

DAY = 86400.0


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache() -> tuple[RobotsCache, Ticks]:
    ticks = Ticks()
    return RobotsCache(ttl=DAY, retry=600, clock=ticks), ticks


def test_rules_read_are_used_until_they_expire_then_read_again():
    cache, ticks = _cache()
    rules = cache.read("news.example", Protego.parse("User-agent: *\nDisallow: /x\n"))
    ticks.now += DAY - 1
    assert cache.fresh("news.example") is rules
    ticks.now += 1
    assert cache.fresh("news.example") is None


def test_no_robots_txt_allows_everything_for_a_day():
    cache, ticks = _cache()
    cache.absent("news.example")
    ticks.now += DAY / 2
    rules = cache.fresh("news.example")
    assert rules is not None and rules.parser is None and rules.unreachable is None


def test_unreachable_without_known_rules_refuses_and_asks_again_soon():
    cache, ticks = _cache()
    rules = cache.unreachable("news.example", "HTTP 503")
    assert rules.unreachable == "HTTP 503"
    ticks.now += 599
    assert cache.fresh("news.example") is rules
    ticks.now += 1
    assert cache.fresh("news.example") is None


def test_unreachable_after_a_good_read_keeps_the_last_rules():
    cache, ticks = _cache()
    parser = Protego.parse("User-agent: *\nDisallow: /private/\n")
    cache.read("news.example", parser)
    ticks.now += DAY
    rules = cache.unreachable("news.example", "timed out")
    assert rules.parser is parser and rules.unreachable is None
    assert rules.expires == ticks.now + 600
    # Still unreachable at the next try: the same rules again, not a refusal.
    ticks.now += 600
    assert cache.unreachable("news.example", "timed out").parser is parser


def test_sites_are_cached_apart():
    cache, _ = _cache()
    cache.unreachable("a.example", "HTTP 500")
    cache.absent("b.example")
    assert cache.fresh("a.example").unreachable == "HTTP 500"
    assert cache.fresh("b.example").unreachable is None
    assert cache.fresh("c.example") is None


def test_retry_is_never_longer_than_the_cache():
    assert RobotsCache(ttl=60, retry=600).retry == 60
