"""Loading and validating settings.toml: the one settings object the whole process reads.

Settings are read once, at start, into :class:`Settings`; nothing deeper in the code reads
the environment. ``${VAR}`` in a string value is replaced by that environment variable
(``${VAR:-default}`` gives a default), so secrets stay out of the file. Every problem is
reported as a :class:`ConfigError` naming the file, the key and what was expected.

Values must have their TOML type: booleans are ``true``/``false`` without quotes, and the
durations a process runs by (ticks, timeouts, intervals) must be longer than zero. Source
and channel URLs pass the same network guard as ``rasid sources add``
(:meth:`monitor.netguard.NetworkPolicy.url_problem`) under the file's own ``[crawl]``
policy, an Apprise or email channel's URL by its host (:func:`apprise_url_problem`);
host names are resolved only when connecting.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.netguard import NetworkPolicy, parse_network

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

CONFIG_ENV_VAR = "RASID_CONFIG"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SHOWN_MAX = 120
# The validation context key under which settings_from_mapping passes the file's policy.
_POLICY = "network_policy"
# Models built in code have no [crawl] table to read: their URLs are checked by form
# (and metadata addresses refused); every address is checked again at connect time.
_FORM_ONLY = NetworkPolicy(allow_private_networks=True)


def _shown(value: object) -> str:
    """A value as it would be written in TOML (strings in double quotes), cut if long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_shown(item) for item in value) + "]"
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{key} = {_shown(item)}" for key, item in value.items()) + " }"
    else:
        text = str(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def parse_duration(value: object) -> timedelta:
    """Read "90s", "10m", "2h", "1d", "1h30m", "500ms" or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(_duration_expectation(value))
    if isinstance(value, str):
        text = value.strip().lower()
        pos, total = 0, 0.0
        for part in _DURATION_PART.finditer(text):
            if text[pos : part.start()].strip():
                break
            total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
            pos = part.end()
        if pos == 0 or text[pos:].strip():
            raise ValueError(_duration_expectation(value))
    else:
        total = value
    if math.isnan(total):
        raise ValueError(_duration_expectation(value))
    if total < 0:
        raise ValueError(f"a duration cannot be negative, got {_shown(value)}")
    try:
        return timedelta(seconds=total)
    except OverflowError:
        raise ValueError(f"a duration this long cannot be used, got {_shown(value)}") from None


def parse_positive_duration(value: object) -> timedelta:
    """A duration longer than zero: how often something runs, or how long it may take."""
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError(
            f'expected a duration longer than 0, such as "30s", "10m" or "2h", got {_shown(value)}'
        )
    return duration


def _duration_expectation(value: object) -> str:
    return f'expected a duration such as "30s", "10m", "2h" or "1d", got {_shown(value)}'


def parse_size(value: object) -> int:
    """Read a byte size of at least one byte: 1048576, "10MB", "15MiB", "512kb"."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        size = float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
        if 1 <= size < math.inf:
            return int(size)
    raise ValueError(f'expected a size such as "10MB" or "15MiB", got {_shown(value)}')


def _strict_bool(value: object) -> object:
    # pydantic alone reads "yes", "off", 0 or "f" as booleans, so "no" and "on", one typo
    # apart, would both pass and mean opposite things. TOML has booleans: ask for them.
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(
        f"expected true or false (a TOML boolean, without quotes), got {_shown(value)}"
    )


def _address_ranges(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(
            'expected a list of address ranges such as ["10.20.0.0/16", "fd12::/16"], '
            f"got {_shown(value)}"
        )
    return tuple(str(parse_network(text)) for text in value)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_positive_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]
StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _checked_url(value: object, info: ValidationInfo) -> str | None:
    """A URL refused at load for what ``rasid sources add`` refuses; None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(
            f'expected a URL such as "https://example.com/feed.xml", got {_shown(value)}'
        )
    url = value.strip()
    if not url:
        return None
    policy = (info.context or {}).get(_POLICY) or _FORM_ONLY
    problem = policy.url_problem(url)
    if problem is not None:
        raise ValueError(f"refused: {problem}")
    return url


# Apprise's email schemes: an email channel's URL is one of them.
EMAIL_SCHEMES = ("mailto", "mailtos")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_APPRISE_EXAMPLE = '"tgram://<bot token>/<chat id>", "ntfys://ntfy.example.org/topic"'


def apprise_url_problem(url: str, kind: str, policy: NetworkPolicy) -> str | None:
    """Why an Apprise or email channel's URL is refused by its form alone; or None.

    Checked without Apprise (which is loaded only when such a channel is built, and then
    checks the scheme): a scheme, no backslash or control character, mailto:// or
    mailtos:// for email, and a host (an email's ``smtp=`` server) that, when written as
    an IP address, the network policy allows. A host name is checked when it is resolved,
    before each send; a fixed service's URL (tgram://, discord://) carries tokens, not a
    host, which are never an IP address in dotted form.
    """
    if "\\" in url:
        return "backslashes are not allowed"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        return "control characters are not allowed"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not _SCHEME.match(scheme):
        return f"expected an Apprise URL such as {_APPRISE_EXAMPLE}"
    if kind == "email" and scheme not in EMAIL_SCHEMES:
        return f"an email channel's URL is mailto:// or mailtos:// (Apprise's), not {scheme}://"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        return str(exc)
    if scheme in EMAIL_SCHEMES:
        host = parse_qs(parts.query).get("smtp", [host])[-1].strip()
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    literal = f"[{address}]" if address.version == 6 else str(address)
    return policy.url_problem(f"http://{literal}/")


def _channel_url(value: object, info: ValidationInfo) -> str | None:
    """A channel's URL: an http(s) one for webhook and Slack (:func:`_checked_url`), an
    Apprise one for apprise and email (:func:`apprise_url_problem`)."""
    kind = info.data.get("kind")
    if kind not in ("apprise", "email"):
        return _checked_url(value, info)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an Apprise URL such as {_APPRISE_EXAMPLE}, got {_shown(value)}")
    url = value.strip()
    if not url:
        return None
    policy = (info.context or {}).get(_POLICY) or _FORM_ONLY
    problem = apprise_url_problem(url, kind, policy)
    if problem is not None:
        raise ValueError(f"refused: {problem}")
    return url


def _required_url(value: object, info: ValidationInfo) -> str:
    url = _checked_url(value, info)
    if url is None:
        raise ValueError('expected a URL such as "https://example.com/feed.xml", got ""')
    return url


class DatabaseSettings(_Section):
    url: str = "sqlite:///rasid.db"


class CrawlSettings(_Section):
    allow_private_networks: StrictBool = False
    # Ranges allowed besides global addresses ("10.20.0.0/16"), kept as written, normalized.
    allowed_networks: Annotated[tuple[str, ...], BeforeValidator(_address_ranges)] = ()
    user_agent: str = "rasid/0.1 (+https://github.com/rasid-news/rasid; Arabic news monitor)"
    default_interval: PositiveDuration = timedelta(minutes=10)
    poll_tick: PositiveDuration = timedelta(seconds=5)
    timeout: PositiveDuration = timedelta(seconds=20)
    max_response_size: ByteSize = 10 * 1024 * 1024
    max_redirects: int = Field(default=5, ge=0, le=10)
    concurrent_requests: int = Field(default=32, ge=1)
    concurrent_requests_per_domain: int = Field(default=4, ge=1)
    error_backoff_max: PositiveDuration = timedelta(hours=6)
    # Adaptive polling: a source without its own interval moves between these.
    min_interval: PositiveDuration = timedelta(minutes=2)
    max_interval: PositiveDuration = timedelta(hours=1)
    pause_after_failures: int = Field(default=10, ge=0)  # 0: never pause
    # The frontier (monitor/frontier.py): new entries per poll, and page fetches started
    # per entry before it is given up.
    max_new_entries: int = Field(default=300, ge=1)
    max_entry_attempts: int = Field(default=5, ge=1)
    # Politeness: robots.txt, a per-domain delay, AutoThrottle, a contact in the UA.
    obey_robots: StrictBool = True
    # Fetch each new entry's article page; false: the feed's entry is the article.
    pages: StrictBool = True
    robots_cache: PositiveDuration = timedelta(hours=24)  # RFC 9309: at most a day
    download_delay: Duration = timedelta(0)
    autothrottle: StrictBool = True
    contact: str | None = None

    @model_validator(mode="after")
    def _interval_bounds(self) -> CrawlSettings:
        if self.min_interval > self.max_interval:
            raise ValueError("min_interval must not be longer than max_interval")
        return self

    @property
    def network_policy(self) -> NetworkPolicy:
        """The network guard's policy: what every fetch and every alert POST may reach."""
        return NetworkPolicy.from_settings(
            allow_private_networks=self.allow_private_networks,
            allowed_networks=self.allowed_networks,
        )

    @property
    def agent(self) -> str:
        """The User-Agent: identifying, with a way to reach whoever runs this instance."""
        if self.contact:
            return f"rasid/{_version()} (+{self.contact})"
        return self.user_agent


class StorySettings(_Section):
    # Estimated Jaccard similarity of 3-word shingles above which two articles are one
    # story (monitor/stories.py; chosen on real articles, see docs/stories.md).
    threshold: float = Field(default=0.3, gt=0.1, le=1.0)
    # How far back a new article is compared (the in-memory index holds this window).
    window: PositiveDuration = timedelta(days=7)


def parse_retention(value: object) -> timedelta | None:
    """How long something is kept: a duration, or 0 / "0" / "forever" to keep it forever
    (None)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in ("0", "forever"):
        return None
    try:
        duration = parse_duration(value)
    except ValueError:
        raise ValueError(
            f'expected a duration such as "90d" or "52w", or "forever", got {_shown(value)}'
        ) from None
    return duration or None


Retention = Annotated[timedelta | None, BeforeValidator(parse_retention)]
# The validation context key under which settings_from_mapping passes what retention
# must not cut into: ([stories] window, [alerts] max_article_age) of the same file.
_RETENTION_FLOOR = "retention_floor"


def shown_duration(value: timedelta | None) -> str:
    """A duration as settings.toml writes it ("90d", "48h", "1h30m"); "forever" for None."""
    if value is None:
        return "forever"
    seconds = value.total_seconds()
    if not seconds.is_integer():
        return f"{seconds}s"
    rest, text = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            text += f"{rest // size}{unit}"
            rest %= size
    return text or "0s"


def retention_problem(
    key: str, kept: timedelta | None, window: timedelta, max_article_age: timedelta
) -> str | None:
    """Why keeping ``key`` for ``kept`` would remove what stories or alerts still read;
    None when it would not.

    * Article bodies carry the story signatures a start loads for ``[stories] window``.
    * A match marked alerted is how a story alerts a watchlist once: a later article of
      the story, within ``[stories] window``, reads it.
    * A whole article is its story's founder and its dedup identity; it must outlive the
      story window and ``[alerts] max_article_age`` (an article seen again later is too
      old to alert).
    """
    if kept is None:
        return None
    needs: list[tuple[timedelta, str]] = []
    if key in ("article_bodies", "matches", "articles"):
        needs.append((window, "[stories] window"))
    if key == "articles":
        needs.append((max_article_age, "[alerts] max_article_age"))
    for floor, name in needs:
        if kept < floor:
            return (
                f"{shown_duration(kept)} is shorter than {name} ({shown_duration(floor)}), "
                f"which still reads them; keep them at least "
                f'"{shown_duration(floor)}", or "forever"'
            )
    return None


class RetentionSettings(_Section):
    """What is pruned from the database, and when (monitor/retention.py,
    docs/retention.md). Each duration counts from when the row was made (an article's
    fetch, a match, an alert's delivery, an entry's discovery)."""

    # How often the service prunes, and rows per transaction (short write locks).
    interval: PositiveDuration = timedelta(hours=1)
    batch: int = Field(default=500, ge=1, le=10_000)
    # Bodies and summaries dropped; title, URL, dates, hashes and story links kept.
    article_bodies: Retention = timedelta(days=90)
    # Whole articles (their dedup keys stay, so feeds listing them again are known).
    articles: Retention = None
    matches: Retention = timedelta(days=365)
    # Sent and dead alerts in the outbox (a dead one can no longer be retried).
    delivered_alerts: Retention = timedelta(days=90)
    # Frontier entries given up after too many attempts.
    failed_entries: Retention = timedelta(days=30)

    @field_validator("article_bodies", "articles", "matches")
    @classmethod
    def _keeps_what_is_read(cls, kept: timedelta | None, info: ValidationInfo) -> timedelta | None:
        floor = (info.context or {}).get(_RETENTION_FLOOR)
        if floor is not None and info.field_name is not None:
            problem = retention_problem(info.field_name, kept, *floor)
            if problem is not None:
                raise ValueError(problem)
        return kept


class AlertSettings(_Section):
    max_article_age: PositiveDuration = timedelta(hours=48)
    dispatch_interval: PositiveDuration = timedelta(seconds=5)
    timeout: PositiveDuration = timedelta(seconds=15)
    max_attempts: int = Field(default=15, ge=1)
    snippet_length: int = Field(default=280, ge=40)


# What a source is: detected ("auto") or said. The crawler reads the same names.
SourceKind = Literal["auto", "feed", "sitemap", "html"]


class SourceSettings(_Section):
    name: str = Field(min_length=1)
    url: Annotated[str, BeforeValidator(_required_url)]
    kind: SourceKind = "auto"
    links: str | None = None
    interval: PositiveDuration | None = None
    enabled: StrictBool = True
    robots: StrictBool | None = None  # obey robots.txt; default: [crawl] obey_robots
    pages: StrictBool | None = None  # fetch article pages; default: [crawl] pages

    @model_validator(mode="after")
    def _links_for_html(self) -> SourceSettings:
        if self.kind == "html" and not self.links:
            raise ValueError(
                'kind = "html" needs links = "<CSS selector or XPath of article links>"'
            )
        if self.links and self.kind != "html":
            raise ValueError('links is only read for kind = "html"')
        return self


def _time_zone(value: object) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        raise ValueError(f'expected a time zone name such as "Asia/Baghdad", got {_shown(value)}')
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone {_shown(value)}; use a name such as "Asia/Baghdad" or "UTC"'
        ) from None
    return value


TimeZoneName = Annotated[str, BeforeValidator(_time_zone)]


_CLOCK_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _quiet_hours(value: object) -> tuple[int, int] | None:
    """``"22:00-07:00"`` as minutes of the day (start, end); the window may wrap midnight."""
    if value is None or value == "":
        return None
    if isinstance(value, tuple):
        return value  # already parsed (a model copy)
    if not isinstance(value, str) or "-" not in value:
        raise ValueError(f'expected a window such as "22:00-07:00", got {_shown(value)}')
    bounds = []
    for part in value.split("-", 1):
        found = _CLOCK_TIME.match(part.strip())
        if found is None:
            raise ValueError(
                f'expected a window such as "22:00-07:00" (24-hour HH:MM), got {_shown(value)}'
            )
        bounds.append(int(found[1]) * 60 + int(found[2]))
    if bounds[0] == bounds[1]:
        raise ValueError(f"a quiet window needs a start and an end that differ: {_shown(value)}")
    return bounds[0], bounds[1]


QuietHours = Annotated[tuple[int, int] | None, BeforeValidator(_quiet_hours)]


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@lru_cache(maxsize=256)
def cron_trigger(schedule: str) -> CronTrigger:
    """A five-field crontab line as an APScheduler trigger, read as crontab reads it."""
    # The schedule is read on wall-clock times (naive, stood in for by UTC, which has no
    # clock changes); each wall time found is placed in the zone afterwards.
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = schedule.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekday),
        timezone=UTC,
    )


def _weekday_names(field: str) -> str:
    """A crontab day-of-week field as the day names APScheduler reads: its 3.x numbers
    start at Monday (its own from_crontab warns of it), crontab's at Sunday (0 or 7)."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            start, end = span.split("-", 1)
            first, last = _weekday(start), _weekday(end)
        else:
            first = _weekday(span)
            last = 6 if step else first
        days.update(number % 7 for number in range(first, last + 1, int(step or 1)))
    return ",".join(_WEEKDAYS[number] for number in sorted(days))


def _weekday(token: str) -> int:
    return int(token) if token.isdigit() else _WEEKDAYS.index(token[:3])


def _cron(value: object) -> str:
    """A five-field crontab line, checked by the parser the digests use."""
    if not isinstance(value, str):
        raise ValueError(f'expected a cron schedule such as "0 7 * * *", got {_shown(value)}')
    if len(value.split()) != 5:
        raise ValueError(
            f"expected five fields (minute hour day month weekday), got {_shown(value)}"
        )
    try:
        cron_trigger(value.strip())
    except ValueError as exc:
        raise ValueError(f"invalid cron schedule {_shown(value)}: {exc}") from None
    return value.strip()


CronSchedule = Annotated[str, BeforeValidator(_cron)]

# Messages per second a channel kind accepts when its channel does not say (Slack's
# incoming webhooks allow about one per second, with short bursts); None: no limit.
DEFAULT_RATES: dict[str, float | None] = {
    "slack": 1.0,
    "webhook": None,
    "console": None,
    "apprise": 1.0,
    "email": 0.2,
}


class ChannelSettings(_Section):
    name: str = Field(min_length=1)
    kind: Literal["webhook", "slack", "console", "apprise", "email"]
    # Empty (an unset ${VAR:-}) switches a webhook, Slack, Apprise or email channel off.
    # For apprise and email it is an Apprise URL (tgram://..., mailto://...).
    url: Annotated[str | None, BeforeValidator(_channel_url)] = None
    secret: str | None = None
    enabled: StrictBool = True
    # This channel's delivery deadline, instead of [alerts] timeout.
    timeout: PositiveDuration | None = None
    # Messages per second (DEFAULT_RATES by kind when unset; 0 or absent: no limit) and
    # how many may go at once; alerts beyond go out batched in one message.
    rate: float | None = Field(default=None, ge=0)
    burst: int = Field(default=3, ge=1)
    # Instant alerts wait through this window (in time_zone) and go out batched when it
    # ends; watchlists marked urgent are not held.
    quiet_hours: QuietHours = None
    time_zone: TimeZoneName = "UTC"
    # A Jinja2 template file (relative to settings.toml) replacing the kind's default.
    template: str | None = None

    @field_validator("secret")
    @classmethod
    def _empty_secret_is_none(cls, secret: str | None) -> str | None:
        # Its format belongs to the signer, which checks it when the channel is built.
        return secret or None

    @property
    def active(self) -> bool:
        """A channel with a URL whose URL came out empty (its env var unset) is off."""
        return self.enabled and (self.kind == "console" or bool(self.url))

    @property
    def messages_per_second(self) -> float | None:
        """The channel's rate: its own, else its kind's default; None when unlimited."""
        rate = self.rate if self.rate is not None else DEFAULT_RATES.get(self.kind)
        return rate or None


class RouteSettings(_Section):
    """Where one watchlist's matches go, and how: at once, or collected into digests."""

    channel: str = Field(min_length=1)
    mode: Literal["instant", "digest"] = "instant"
    # A digest's cron schedule and the time zone it is read in.
    schedule: CronSchedule | None = None
    time_zone: TimeZoneName = "UTC"
    # Send a digest that found nothing ("nothing new since ...").
    send_empty: StrictBool = False
    # Instant only: when other outlets report a story already alerted, one follow-up
    # listing them this long after the first of them (absent: no follow-up).
    follow_up: PositiveDuration | None = None

    @model_validator(mode="after")
    def _mode_keys(self) -> RouteSettings:
        if self.mode == "digest" and self.schedule is None:
            raise ValueError('a digest route needs schedule = "<cron>", such as "0 7 * * *"')
        if self.mode == "instant" and self.schedule is not None:
            raise ValueError('schedule is only read for mode = "digest"')
        if self.mode == "digest" and self.follow_up is not None:
            raise ValueError('follow_up is only read for mode = "instant"')
        return self


def _check_synonym_groups(groups: list[list[str]]) -> list[list[str]]:
    for group in groups:
        if len(group) < 2:
            raise ValueError("a synonym group needs at least two members")
        if any(not member.strip() for member in group):
            raise ValueError("a synonym cannot be empty")
    return groups


class WatchlistSettings(_Section):
    name: str = Field(min_length=1)
    queries: list[str] = Field(min_length=1)
    channels: list[str] = Field(default_factory=list)
    enabled: StrictBool = True
    slop: int = Field(default=1, ge=0, le=10)
    # Synonym groups for this watchlist only, added to [matching] synonyms.
    synonyms: list[list[str]] = Field(default_factory=list)
    # Routes with a mode (instant or digest); `channels` lists plain instant routes.
    routes: list[RouteSettings] = Field(default_factory=list)
    # Urgent watchlists' alerts are not held by a channel's quiet hours.
    urgent: StrictBool = False

    @model_validator(mode="after")
    def _one_route_per_channel(self) -> WatchlistSettings:
        named = [*self.channels, *(route.channel for route in self.routes)]
        for name in set(named):
            if named.count(name) > 1:
                raise ValueError(f"channel {name!r} is routed twice (channels and routes)")
        return self

    @property
    def all_routes(self) -> list[RouteSettings]:
        """Every route: ``channels`` as instant routes, then ``routes``."""
        return [RouteSettings(channel=name) for name in self.channels] + list(self.routes)

    @field_validator("synonyms")
    @classmethod
    def _synonym_groups(cls, groups: list[list[str]]) -> list[list[str]]:
        return _check_synonym_groups(groups)

    @field_validator("queries")
    @classmethod
    def _non_blank(cls, queries: list[str]) -> list[str]:
        for query in queries:
            if not query.strip():
                raise ValueError("a query cannot be empty")
        return queries


# Concepts users expect a news watcher to know: what every drone watchlist would
# otherwise list by hand. On unless [matching] builtin_synonyms = false.
BUILTIN_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("طائرة مسيرة", "طائرة بدون طيار", "طائرة دون طيار", "طائرة بلا طيار", "درون"),
)


class MatchingSettings(_Section):
    # Groups of words or phrases to treat as one (docs/queries.md).
    synonyms: list[list[str]] = Field(default_factory=list)
    # Whether the built-in groups (BUILTIN_SYNONYMS: drones) apply as well.
    builtin_synonyms: bool = True

    @property
    def synonym_groups(self) -> list[list[str]]:
        """Every group queries are compiled with: the built-in ones (when on), then the
        user's."""
        builtin = [list(group) for group in BUILTIN_SYNONYMS] if self.builtin_synonyms else []
        return [*builtin, *self.synonyms]

    @field_validator("synonyms")
    @classmethod
    def _groups(cls, groups: list[list[str]]) -> list[list[str]]:
        return _check_synonym_groups(groups)


def _listen_address(value: object) -> str:
    """ "host:port" (an IPv6 host in brackets); port 0 takes any free port."""
    if not isinstance(value, str):
        raise ValueError(f'expected "host:port" such as "127.0.0.1:8080", got {_shown(value)}')
    host, colon, port = value.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'expected "host:port" such as "127.0.0.1:8080", got {_shown(value)}')
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError(f'an IPv6 address goes in brackets ("[::1]:8080"), got {_shown(value)}')
    return f"{host}:{int(port)}"


class WebSettings(_Section):
    # Serve the web page and the API from `rasid run` (`rasid web` serves them alone).
    enabled: StrictBool = True
    listen: Annotated[str, BeforeValidator(_listen_address)] = "127.0.0.1:8080"
    # Host names the page answers to besides the listen address and localhost names
    # (a Host allow-list defeats DNS rebinding); "*" accepts any.
    allowed_hosts: tuple[str, ...] = ()
    # Mark cookies Secure: set when the page is reached over HTTPS (a proxy in front).
    secure_cookies: StrictBool = False
    session_lifetime: PositiveDuration = timedelta(days=14)
    # The page's language and time zone until a user chooses their own.
    language: Literal["ar", "en"] = "ar"
    time_zone: TimeZoneName = "UTC"

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Settings(_Section):
    """The validated contents of settings.toml, plus where it was read from."""

    database: DatabaseSettings = DatabaseSettings()
    crawl: CrawlSettings = CrawlSettings()
    alerts: AlertSettings = AlertSettings()
    sources: list[SourceSettings] = Field(default_factory=list)
    channels: list[ChannelSettings] = Field(default_factory=list)
    watchlists: list[WatchlistSettings] = Field(default_factory=list)
    matching: MatchingSettings = MatchingSettings()
    stories: StorySettings = StorySettings()
    retention: RetentionSettings = RetentionSettings()
    web: WebSettings = WebSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    config_path: Path | None = None
    base_dir: Path = Path()

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        for section in ("sources", "channels", "watchlists"):
            seen: set[str] = set()
            for item in getattr(self, section):
                if item.name in seen:
                    raise ValueError(f"{section}: the name {item.name!r} is used twice")
                seen.add(item.name)
        channel_names = {channel.name for channel in self.channels}
        for watchlist in self.watchlists:
            for name in (route.channel for route in watchlist.all_routes):
                if name not in channel_names:
                    known = ", ".join(sorted(channel_names)) or "none defined"
                    raise ValueError(
                        f"watchlist {watchlist.name!r} names channel {name!r}, "
                        f"which is not defined (channels: {known})"
                    )
        # A file's [retention] is checked key by key as it is read (settings_from_mapping);
        # this catches settings made in code.
        for key in ("article_bodies", "articles", "matches"):
            problem = retention_problem(
                key,
                getattr(self.retention, key),
                self.stories.window,
                self.alerts.max_article_age,
            )
            if problem is not None:
                raise ValueError(f"retention.{key}: {problem}")
        return self

    def effective_channels(self) -> list[ChannelSettings]:
        """The configured channels, or a console channel when none is configured."""
        return list(self.channels) or [ChannelSettings(name="console", kind="console")]

    def key_error(
        self, section: str, item: SourceSettings | ChannelSettings, key: str, reason: str
    ) -> ConfigError:
        """The error a component raises when it finds one of its own keys wrong while it
        is built (a selector, a signing secret): located as a load-time error is."""
        entries: list[Any] = getattr(self, section)
        where = f"{section}[{entries.index(item)}]" if item in entries else section
        path = self.config_path or "settings"
        return ConfigError(f'{path}: invalid settings\n  {where} ("{item.name}").{key}: {reason}')

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made relative to the config file."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            path = url[len(prefix) :]
            if path and path != ":memory:" and not path.startswith(":"):
                return prefix + str((self.base_dir / path).resolve())
        return url


def bundled_settings_path() -> Path:
    """The settings.toml shipped with rasid (in a wheel, or at the root of a checkout)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "bundled_settings.toml", package_dir.parent / "settings.toml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("no settings file found and the bundled settings.toml is missing")


def resolve_config_path(explicit: str | Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--config, else $RASID_CONFIG, else ./settings.toml, else the bundled defaults."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV_VAR):
        return Path(env[CONFIG_ENV_VAR])
    local = Path("settings.toml")
    if local.is_file():
        return local
    return bundled_settings_path()


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate a settings file; raise ConfigError on any problem."""
    env = os.environ if env is None else env
    config_path = resolve_config_path(path, env)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: settings file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read settings file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    return settings_from_mapping(raw, config_path, env)


def settings_from_mapping(
    raw: Mapping[str, Any], config_path: Path, env: Mapping[str, str] | None = None
) -> Settings:
    """Validate already-parsed TOML data as if it had been read from ``config_path``."""
    env = os.environ if env is None else env
    try:
        data = _interpolate(dict(raw), env, ())
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None
    base_dir = config_path.resolve().parent
    if config_path.resolve() == _bundled_outside_cwd(config_path):
        base_dir = Path.cwd()
    data["config_path"] = config_path
    data["base_dir"] = base_dir
    context = {
        _POLICY: _policy_of(data.get("crawl", {})),
        _RETENTION_FLOOR: _retention_floor(data),
    }
    try:
        return Settings.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, raw, config_path)) from None


def _policy_of(crawl: object) -> NetworkPolicy | None:
    """The policy of a ``[crawl]`` table, to check the file's URLs by; None when that
    table is itself invalid (its errors are reported with the rest)."""
    try:
        return CrawlSettings.model_validate(crawl).network_policy
    except ValidationError:
        return None


def _retention_floor(data: Mapping[str, Any]) -> tuple[timedelta, timedelta] | None:
    """The ([stories] window, [alerts] max_article_age) that [retention] must not cut
    into; None when either table is itself invalid (its errors are reported with the
    rest)."""
    try:
        window = StorySettings.model_validate(data.get("stories", {})).window
        max_age = AlertSettings.model_validate(data.get("alerts", {})).max_article_age
    except ValidationError:
        return None
    return window, max_age


def _bundled_outside_cwd(config_path: Path) -> Path | None:
    """The wheel's bundled file lives in site-packages; its data belongs in the cwd."""
    bundled = Path(__file__).resolve().parent / "bundled_settings.toml"
    return bundled if config_path.resolve() == bundled else None


def _interpolate(value: Any, env: Mapping[str, str], key: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, env, (*key, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, (*key, i)) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{_format_key(key)}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}} to make it optional)"
        )

    return _ENV_REF.sub(substitute, value)


def _format_key(loc: tuple[str | int, ...], raw: Mapping[str, Any] | None = None) -> str:
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            child = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(child, dict) and isinstance(child.get("name"), str):
                label += f' ("{child["name"]}")'
            parts.append(label)
            node = child
        else:
            parts.append(("." if parts else "") + item)
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _describe_validation_error(
    exc: ValidationError, raw: Mapping[str, Any], config_path: Path
) -> str:
    lines = [f"{config_path}: invalid settings"]
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        loc = tuple(p for p in loc if p not in ("timedelta", "str", "int", "list[str]"))
        lines.append(f"  {_format_key(loc, raw)}: {_explain(error, loc)}")
    return "\n".join(lines)


def _explain(error: Any, loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
        return f"unknown key{suggestion}; expected one of: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "expected a table of keys"
    if kind not in ("value_error", "assertion_error") and "input" in error:
        # Some of pydantic's messages already say what they got ("a number with a ...").
        message += f"{': ' if ', got ' in message else ', got '}{_shown(error['input'])}"
        if kind == "list_type" and isinstance(error["input"], dict) and len(loc) == 1:
            message += f" (write [[{loc[0]}]], with double brackets, before each entry)"
    return message


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    hidden = {"config_path", "base_dir"}
    return [name for name in model.model_fields if name not in hidden]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rasid")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"
