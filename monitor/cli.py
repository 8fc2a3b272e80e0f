"""The ``rasid`` command: one front door onto the service functions, no logic of its own.

Exit codes: 0 success, 1 a runtime problem (its message says what), 2 a usage or
settings problem (named file, key and expectation). No traceback reaches the user for
an error rasid understands.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.clock import SystemClock
from monitor.config import Settings, load_settings, parse_duration
from monitor.errors import ConfigError, QuerySyntaxError, RasidError

F = TypeVar("F", bound=Callable[..., Any])

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> None:
    errors.print(Text.assemble(("error: ", "bold red"), message))
    sys.exit(code)


def reports_errors(command: F) -> F:
    """Turn rasid's own errors into a message and an exit code, without a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ConfigError, QuerySyntaxError) as exc:
            _fail(str(exc), 2)
        except RasidError as exc:
            _fail(str(exc), 1)
        return None

    return wrapper  # type: ignore[return-value]


class Context:
    """The settings path from --config, loaded on first use (so --help needs no file)."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    @contextmanager
    def service(self) -> Iterator[Any]:
        """The service, migrated and synced with the settings file, closed afterwards."""
        from monitor.service import Service

        service = Service(self.settings)
        try:
            service.prepare()
            yield service
        finally:
            service.close()

    @contextmanager
    def session(self) -> Iterator[Any]:
        """One database transaction, for the commands that only read or edit rows."""
        with self.service() as service, service.db.transaction() as session:
            yield session


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="RASID_CONFIG",
    help="Settings file (default: $RASID_CONFIG, ./settings.toml, or the bundled one).",
)
@click.version_option(package_name="rasid")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """rasid (راصد) watches Arabic news and alerts you when a story you watch breaks."""
    ctx.obj = Context(config)


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    quiet = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    for name in (
        "scrapy",
        "twisted",
        "trafilatura",
        "htmldate",
        "apscheduler",
        "filelock",
        "alembic",
    ):
        logging.getLogger(name).setLevel(quiet)


@cli.command()
@click.option(
    "--once", is_flag=True, help="Poll every source once, deliver, print a summary, exit."
)
@pass_context
@reports_errors
def run(ctx: Context, once: bool) -> None:
    """Run the service in the foreground (stop with Ctrl-C or SIGTERM)."""
    from crawler.runner import run_in_reactor

    _setup_logging(ctx.settings)
    with ctx.service() as service:
        service.lock.acquire()
        if not once:
            run_in_reactor(service.run_forever)
            return
        summary = run_in_reactor(service.run_once)
    _print_summary(summary)
    if summary.interrupted_by:
        # Not a clean finish, though a clean stop: scripts can tell the two apart.
        sys.exit(1)


def _print_summary(summary: Any) -> None:
    delivery = summary.delivery
    console.print(
        f"polled {summary.polled} source(s): {summary.ok} ok, {summary.not_modified} unchanged "
        f"({summary.answered_304} answered 304, {summary.same_body} same bytes), "
        f"{len(summary.errors)} failed; {summary.parsed} document(s) parsed; "
        f"{summary.new_articles} new article(s), "
        f"{summary.duplicates} duplicate(s); {summary.matches} match(es), "
        f"{summary.alerts_enqueued} alert(s) queued"
    )
    if delivery is not None:
        console.print(
            f"delivery: {delivery.sent} sent, {delivery.failed} failed (will retry), "
            f"{delivery.dead} dead"
        )
    for name, error in summary.errors.items():
        console.print(f"  source {name}: {error}")
    if summary.interrupted_by:
        console.print(
            f"interrupted by {summary.interrupted_by}: {summary.pages_left} article page(s) "
            "and any undelivered alerts wait in the database for the next run"
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
@reports_errors
def status(ctx: Context, as_json: bool) -> None:
    """Each source's last poll, result and error; counts of articles, matches, alerts."""
    from monitor.status import collect_status

    with ctx.service() as service:
        report = collect_status(service.db, ctx.settings)
    if as_json:
        click.echo(json.dumps(_jsonable(report), ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Sources ({len(report.sources)})")
    for column in ("source", "last poll", "result", "articles", "next poll", "problem"):
        table.add_column(column)
    now = _now()
    for source in report.sources:
        result = source.last_status or "never polled"
        if not source.enabled:
            result = "disabled" + (" (removed from settings)" if source.origin == "removed" else "")
        elif source.paused_at is not None:
            result = "PAUSED"
        elif source.failure_count > 1:
            result += f" ×{source.failure_count}"
        problem = source.last_error or source.last_warning or ""
        counted = [
            f"{source.extraction_fallbacks} article(s) kept the feed's summary (no page text)"
            if source.extraction_fallbacks
            else "",
            f"{source.mojibake_polls} poll(s) looked like mojibake: check its charset"
            if source.mojibake_polls
            else "",
            f"{source.entries_unusable} entr(ies) without link, title or summary skipped"
            if source.entries_unusable
            else "",
            f"{source.entries_over_cap} entr(ies) beyond crawl.max_new_entries skipped"
            if source.entries_over_cap
            else "",
        ]
        problem = "; ".join(part for part in (problem, *counted) if part)
        if source.paused_at is not None:
            problem = (
                f"{source.paused_reason} — since {source.paused_at:%Y-%m-%d %H:%M} UTC; "
                f"resume with: rasid sources resume {source.name}"
            )
        _add_row(
            table,
            source.name,
            _ago(source.last_polled_at, now),
            result,
            str(source.articles_stored),
            _ago(source.next_poll_at, now) if source.enabled and not source.paused_at else "-",
            problem,
        )
    console.print(table)
    alerts = ", ".join(f"{count} {state}" for state, count in sorted(report.alerts.items()))
    console.print(
        f"articles: {report.articles}   matches: {report.matches}   alerts: {alerts or 'none'}"
    )
    channels = ", ".join(
        f"{c.name} ({c.kind}{'' if c.active else ', off: no URL set'})" for c in report.channels
    )
    console.print(f"channels: {channels}")
    pending = report.frontier
    console.print(
        f"article pages waiting: {pending.pending}   given up: {pending.failed}"
        + (
            "  (see `rasid frontier list`; queue them again with `rasid frontier retry`)"
            if pending.failed
            else ""
        )
    )


def _now() -> datetime:
    return SystemClock().now()


def _show(
    rows: Sequence[Any],
    as_json: bool,
    columns: Sequence[str],
    cells: Callable[[Any], Sequence[str]],
) -> None:
    """Rows as JSON (``--json``) or as a table."""
    if as_json:
        click.echo(json.dumps(_jsonable(list(rows)), ensure_ascii=False, indent=2))
        return
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        _add_row(table, *cells(row))
    console.print(table)


def _add_row(table: Table, *cells: str) -> None:
    """Cells are plain text: a feed's error message must not be read as rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds}s"
    elif seconds < 3600:
        text = f"{seconds // 60}m"
    elif seconds < 86400:
        text = f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    else:
        text = f"{seconds // 86400}d"
    return f"in {text}" if future else f"{text} ago"


def _jsonable(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass
    from datetime import timedelta

    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a named tuple (Hit)
        return _jsonable(value._asdict())
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


@cli.group()
def sources() -> None:
    """List and add sources."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@reports_errors
def sources_list(ctx: Context, as_json: bool) -> None:
    """The sources rasid polls."""
    from monitor.sources import list_sources

    with ctx.session() as session:
        rows = list_sources(session)
    _show(
        rows,
        as_json,
        ("name", "url", "every", "enabled", "from"),
        lambda row: (
            row.name,
            row.url,
            f"{int(row.interval.total_seconds() // 60)}m",
            "yes" if row.enabled else "no",
            row.origin,
        ),
    )


@sources.command("pause")
@click.argument("name")
@pass_context
@reports_errors
def sources_pause(ctx: Context, name: str) -> None:
    """Stop polling source NAME until it is resumed."""
    from monitor.sources import set_paused

    with ctx.session() as session:
        set_paused(session, name, True, _now())
    console.print(f"paused {name}")


@sources.command("resume")
@click.argument("name")
@pass_context
@reports_errors
def sources_resume(ctx: Context, name: str) -> None:
    """Poll source NAME again (paused by hand or after repeated failures), now."""
    from monitor.sources import set_paused

    with ctx.session() as session:
        set_paused(session, name, False, _now())
    console.print(f"resumed {name}; it is polled at the next tick")


@sources.command("add")
@click.argument("url")
@click.option("--name", required=True, help="A short unique name for the source.")
@click.option("--interval", help='How often to poll, e.g. "10m" (default: adaptive).')
@click.option("--pick", type=int, help="Add the N-th feed found on a page (from the list shown).")
@click.option("--no-check", is_flag=True, help="Add the URL as given, without fetching it.")
@pass_context
@reports_errors
def sources_add(
    ctx: Context, url: str, name: str, interval: str | None, pick: int | None, no_check: bool
) -> None:
    """Add a source: a feed or sitemap URL, or a site's page to discover its feeds on."""
    from monitor.sources import add_source

    every = _duration_option(interval, "--interval")
    chosen = url if no_check else _discovered(ctx, url, pick)
    with ctx.session() as session:
        add_source(
            session, name=name, url=chosen, interval=every, settings=ctx.settings, now=_now()
        )
    console.print(f"added source {name}: {chosen}")


def _discovered(ctx: Context, url: str, pick: int | None) -> str:
    """The URL to add: ``url`` if it is a feed, else the feed the user picks on it."""
    from crawler.discovery import Fetcher, discover
    from monitor.errors import NetworkGuardError, ResolutionError, SourceError

    crawl = ctx.settings.crawl
    fetcher = Fetcher(
        crawl.network_policy,
        timeout=crawl.timeout.total_seconds(),
        max_bytes=crawl.max_response_size,
        user_agent=crawl.agent,
    )
    try:
        with errors.status(f"looking for feeds at {url} ..."):
            itself, found = discover(url, fetcher)
    except ResolutionError as exc:
        errors.print(f"warning: could not check it ({exc}); added as given")
        return url
    except NetworkGuardError as exc:
        raise RasidError(str(exc)) from None
    except SourceError as exc:
        errors.print(f"warning: could not check it ({exc}); added as given")
        return url
    finally:
        fetcher.close()
    if itself is not None:
        console.print(f"{itself.url} is a {itself.kind} with {itself.entries} entries")
        return itself.url
    if not found:
        raise RasidError(
            f"{url} is a page without a feed or sitemap rasid could find; to follow its "
            'article links, add it in settings.toml with kind = "html" and links = "<selector>"'
        )
    table = Table("#", "kind", "title", "entries", "newest")
    table.add_column("url", overflow="fold")  # a URL is copied, never shortened
    table.add_column("found by")
    for number, candidate in enumerate(found, 1):
        newest = f"{candidate.newest:%Y-%m-%d %H:%M}" if candidate.newest else ""
        _add_row(
            table,
            str(number),
            candidate.kind,
            candidate.title or "",
            str(candidate.entries),
            newest,
            candidate.url,
            candidate.found_by,
        )
    console.print(table)
    if pick is None and sys.stdin.isatty():
        pick = click.prompt("add which one", type=click.IntRange(1, len(found)), default=1)
    if pick is None:
        raise RasidError(f"found {len(found)} feed(s); choose one with --pick N")
    if not 1 <= pick <= len(found):
        raise RasidError(f"--pick must be from 1 to {len(found)}")
    return found[pick - 1].url


def _duration_option(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@cli.group()
def watch() -> None:
    """List, add and remove watchlists."""


@watch.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@reports_errors
def watch_list(ctx: Context, as_json: bool) -> None:
    """Every watchlist with its queries and channels."""
    from monitor.watchlists import list_watchlists

    with ctx.session() as session:
        rows = list_watchlists(session)
    _show(
        rows,
        as_json,
        ("watchlist", "queries", "channels", "slop", "enabled", "from"),
        lambda row: (
            row.name,
            " | ".join(row.queries),
            ", ".join(row.channels) or "(all)",
            str(row.slop),
            "yes" if row.enabled else "no",
            row.origin,
        ),
    )


@watch.command("add")
@click.argument("name")
@click.argument("queries", nargs=-1, required=True)
@click.option("--channel", "channels", multiple=True, help="Channel to alert (repeatable).")
@click.option(
    "--slop", type=click.IntRange(0, 10), help="Words allowed between a phrase's words (1)."
)
@pass_context
@reports_errors
def watch_add(
    ctx: Context, name: str, queries: tuple[str, ...], channels: tuple[str, ...], slop: int | None
) -> None:
    """Create watchlist NAME with QUERIES (or add QUERIES to it)."""
    from monitor.watchlists import add_watchlist

    with ctx.session() as session:
        info = add_watchlist(
            session,
            name=name,
            queries=list(queries),
            channels=list(channels),
            settings=ctx.settings,
            now=_now(),
            slop=slop,
        )
    console.print(f"watchlist {info.name}: {' | '.join(info.queries)}")


@watch.command("remove")
@click.argument("name")
@pass_context
@reports_errors
def watch_remove(ctx: Context, name: str) -> None:
    """Delete watchlist NAME (one made with `watch add`)."""
    from monitor.watchlists import remove_watchlist

    with ctx.session() as session:
        remove_watchlist(session, name, ctx.settings)
    console.print(f"removed watchlist {name}")


@watch.command("test")
@click.argument("query")
@click.option("--text", "text_", help='Text to search ("-" reads standard input).')
@click.option("--title", default="", help="A title to search with --text (for title: queries).")
@click.option("--archive", is_flag=True, help="Search the stored articles instead.")
@click.option("--since", help='With --archive: only articles fetched this recently, e.g. "30d".')
@click.option("--slop", type=click.IntRange(0, 10), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="With --archive: JSON output.")
@pass_context
@reports_errors
def watch_test(
    ctx: Context,
    query: str,
    text_: str | None,
    title: str,
    archive: bool,
    since: str | None,
    slop: int,
    as_json: bool,
) -> None:
    """Try QUERY on a text or on the stored articles; exit 0 on a match, 1 on none,
    2 on a bad query."""
    from monitor.matching import Synonyms, compile_query

    if archive == (text_ is not None):
        raise click.UsageError("give either --text TEXT or --archive")
    compiled = compile_query(query, slop=slop, synonyms=Synonyms(ctx.settings.matching.synonyms))
    if text_ is not None:
        body = sys.stdin.read() if text_ == "-" else text_
        fields = {"title": title, "body": body} if title else {"text": body}
        hits = compiled.search_fields(fields)
        rows = [{"start": h.start, "end": h.end, "text": h.text, "field": h.field} for h in hits]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        sys.exit(0 if hits else 1)
    window = _duration_option(since, "--since") if since else None
    found = _backtest(ctx, compiled, window, as_json)
    sys.exit(0 if found else 1)


def _backtest(ctx: Context, compiled: Any, window: Any, as_json: bool) -> int:
    from rich.progress import Progress

    from monitor.archive import backtest, catch_up

    found = 0
    since = _now() - window if window else None
    table = Table("published", "source", "title", "highlights", "url")
    with ctx.service() as service, Progress(console=errors, transient=True) as progress:
        indexing = progress.add_task("indexing older articles", total=None)
        catch_up(
            service.db,
            lambda done, total: progress.update(indexing, completed=done, total=total),
        )
        progress.remove_task(indexing)
        task = progress.add_task("searching the archive", total=None)
        for match in backtest(
            service.db,
            compiled,
            since=since,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        ):
            found += 1
            highlights = [hit.text for hit in match.hits]
            if as_json:
                click.echo(json.dumps(_jsonable(match), ensure_ascii=False))
                continue
            moment = match.published_at or match.fetched_at
            _add_row(
                table,
                moment.strftime("%Y-%m-%d %H:%M"),
                match.source or "",
                match.title,
                " | ".join(dict.fromkeys(highlights)),
                match.url,
            )
    if not as_json:
        if found:
            console.print(table)
        console.print(f"{found} stored article(s) match")
    return found


@cli.command("stories")
@click.option("--since", default="2d", show_default=True, help="Stories first seen this recently.")
@click.option("--all", "everything", is_flag=True, help="Also stories carried by one outlet.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@reports_errors
def stories(ctx: Context, since: str, everything: bool, as_json: bool) -> None:
    """Recent stories and every outlet that reported them ("also reported by")."""
    from monitor.stories import recent_stories

    window = _duration_option(since, "--since")
    with ctx.service() as service, service.db.connection() as connection:
        found = recent_stories(connection, _now() - window, shared_only=not everything)
    if as_json:
        click.echo(json.dumps(_jsonable(found), ensure_ascii=False, indent=2))
        return
    table = Table("first seen", "story", "also reported by")
    for story in found:
        also = ", ".join(f"{o.source or '?'} ({o.url})" for o in story.outlets[1:])
        first = f"{story.outlets[0].source or '?'}: {story.title}"
        _add_row(table, f"{story.first_seen:%Y-%m-%d %H:%M}", first, also or "-")
    console.print(table)
    console.print(f"{len(found)} stor{'y' if len(found) == 1 else 'ies'}")


@cli.group("alerts")
def alerts_group() -> None:
    """Inspect and retry alerts."""


@alerts_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@pass_context
@reports_errors
def alerts_retry(ctx: Context, ids: tuple[int, ...]) -> None:
    """Re-queue dead alerts (all of them, or the given outbox ids)."""
    from alerts import outbox

    with ctx.service() as service:
        count = outbox.requeue_dead(service.db, _now(), ids=list(ids) or None)
    console.print(f"re-queued {count} alert(s)")


@cli.group("frontier")
def frontier_group() -> None:
    """Entries found by polls whose articles are not stored yet."""


@frontier_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
@reports_errors
def frontier_list(ctx: Context, as_json: bool) -> None:
    """Entries given up after too many attempts, with their last error."""
    from monitor.frontier import list_failed

    with ctx.service() as service, service.db.connection() as connection:
        rows = list_failed(connection, limit=1000)
    _show(
        rows,
        as_json,
        ("id", "source", "title", "url", "attempts", "last error"),
        lambda row: (
            str(row.id),
            row.source,
            row.title,
            row.url or "(no link)",
            str(row.attempts),
            row.last_error or "",
        ),
    )


@frontier_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@pass_context
@reports_errors
def frontier_retry(ctx: Context, ids: tuple[int, ...]) -> None:
    """Queue given-up entries again (all of them, or the given ids)."""
    from monitor.frontier import retry_failed

    with ctx.service() as service:
        count = retry_failed(service.db, list(ids) or None)
    console.print(f"queued {count} entr{'y' if count == 1 else 'ies'} again")


def main() -> None:
    cli(prog_name="rasid")
