"""The ``rasid`` command: parses arguments, calls one :class:`~monitor.app.App` method,
prints what it returns. It holds no logic of its own: the web page and the REST API
call the same methods.

Exit codes:

* 0: success; for ``watch test``, the query matched.
* 1: a runtime problem, said in one line on stderr (an unknown source, a refused URL, a
  database that cannot be reached); for ``watch test``, no match; for ``run --once``, a
  run stopped by a signal, or one where every source it polled failed.
* 2: a usage or settings problem: a wrong option, a settings file with its file, key
  and expectation, a query that does not parse (with its position).

No traceback reaches the user for an error rasid understands: they are caught once, in
:meth:`RasidCommand.main`, the entry point every invocation goes through.

``--json`` prints one JSON document: indented by 2, non-ASCII characters as they are,
times in ISO 8601 with their UTC offset, durations in seconds. A command that lists
rows prints an array with one object per row; every other command prints one object.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.config import Settings, load_settings, parse_duration
from monitor.errors import ConfigError, QuerySyntaxError, RasidError
from monitor.logsetup import LOG_FORMATS, LogFormat, setup_logging

if TYPE_CHECKING:
    from alerts.outbox import AlertFilter
    from monitor.app import App, FeedDiscovery, TextTrial
    from monitor.instances import InstanceView
    from monitor.service import Service

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

# A query may begin with "-" (NOT): such a word is taken as the query, not an option;
# "-h" stays free for a query too, help is --help there.
QUERY_ARGUMENTS = {"ignore_unknown_options": True, "help_option_names": ["--help"]}


def _fail(message: str, code: int) -> NoReturn:
    errors.print(Text.assemble(("error: ", "bold red"), message))
    sys.exit(code)


class RasidCommand(click.Group):
    """The top of the command tree: the one place rasid's errors are shown."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except (ConfigError, QuerySyntaxError) as exc:
            _fail(str(exc), 2)
        except RasidError as exc:
            _fail(str(exc), 1)


class Context:
    """The settings path from --config, loaded on first use (so --help needs no file),
    and the App over it, closed when the command ends."""

    def __init__(
        self, click_context: click.Context, config: str | None, log_format: LogFormat = "text"
    ) -> None:
        self._click = click_context
        self.config = config
        self.log_format = log_format
        self._settings: Settings | None = None
        self._app: App | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    @property
    def app(self) -> App:
        if self._app is None:
            from monitor.app import App

            self._app = self._click.with_resource(App(self.settings))
        return self._app


pass_context = click.make_pass_decorator(Context)


@click.group(cls=RasidCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="RASID_CONFIG",
    help="Settings file (default: $RASID_CONFIG, ./settings.toml, or the bundled one).",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    envvar="RASID_LOG_FORMAT",
    help="How the service logs to stderr: text lines, or one JSON object per line.",
)
@click.version_option(package_name="rasid")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_format: LogFormat) -> None:
    """rasid (راصد) watches Arabic news and alerts you when a story you watch breaks.

    Exit codes: 0 success, 1 a runtime problem (or no match for `watch test`), 2 a usage
    or settings problem. --json output is one document: an array for commands that list
    rows, an object otherwise.
    """
    ctx.obj = Context(ctx, config, log_format)


# -- output ------------------------------------------------------------------------


def _print_json(value: object) -> None:
    click.echo(json.dumps(_jsonable(value), ensure_ascii=False, indent=2))


def _jsonable(value: object) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: _jsonable(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a named tuple (Hit)
        return _jsonable(value._asdict())
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds.is_integer() else seconds
    return value


def _show(
    rows: Sequence[Any],
    as_json: bool,
    columns: Sequence[str],
    cells: Callable[[Any], Sequence[str]],
    empty: str,
) -> None:
    """Rows as a JSON array (``--json``), or as a table (or a line saying there are none)."""
    if as_json:
        _print_json(list(rows))
        return
    if not rows:
        console.print(empty)
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


def _minutes(interval: timedelta) -> str:
    return f"{int(interval.total_seconds() // 60)}m"


def _duration(value: str | None, option: str) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# -- run -----------------------------------------------------------------------------


def _setup_logging(settings: Settings, fmt: LogFormat = "text") -> None:
    setup_logging(settings, fmt)


@cli.command()
@click.option(
    "--once", is_flag=True, help="Poll every source once, deliver, print a summary, exit."
)
@pass_context
def run(ctx: Context, once: bool) -> None:
    """Run the service in the foreground (stop with Ctrl-C or SIGTERM).

    With --once, the exit code is 1 when a signal stopped the run or every source it
    polled failed.
    """
    from crawler.runner import run_in_reactor
    from monitor.status import describe_run, run_failed

    _setup_logging(ctx.settings, ctx.log_format)
    with _service(ctx.settings) as service:
        if not once:
            run_in_reactor(lambda: service.run_forever(on_web=_print_address))
        else:
            summary = run_in_reactor(service.run_once)
    if not once:
        _leave_threads_behind()
        return
    for line in describe_run(summary):
        console.print(Text(line))
    if run_failed(summary):
        sys.exit(1)


def _leave_threads_behind() -> None:
    """End the process without waiting for worker threads still running.

    A stop gives downloads and sends a few seconds, gives back their claims, and
    abandons them; a send may still sit in its worker thread waiting out its timeout.
    Python would wait for it at exit, so the process ends here instead: everything
    it owed is in the database already.
    """
    import threading

    lingering = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon
    ]
    if not lingering:
        return
    logging.getLogger(__name__).debug("leaving %d worker thread(s) behind", len(lingering))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@contextmanager
def _service(settings: Settings) -> Iterator[Service]:
    """The service, holding the instance lock, migrated and synced; closed afterwards.

    The lock comes first: a second ``rasid run`` refused by it must not record its own
    channels over those of the one running.
    """
    from monitor.service import Service

    service = Service(settings)
    try:
        service.lock.acquire()
        service.prepare()
        yield service
    finally:
        service.close()


# -- status --------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Each source's last poll, result and problem; counts of articles, matches and alerts;
    the channels the running service delivers to."""
    report = ctx.app.collect_status()
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"Sources ({len(report.sources)})")
    for column in ("source", "last poll", "result", "articles", "next poll", "problem"):
        table.add_column(column)
    now = ctx.app.clock.now()
    for source in report.sources:
        problem = source.problem
        if source.resume_hint:
            problem += f"; resume with: {source.resume_hint}"
        _add_row(
            table,
            source.name,
            _ago(source.last_polled_at, now),
            source.result,
            str(source.articles_stored),
            _ago(source.next_poll_at, now) if source.state == "active" else "-",
            problem,
        )
    console.print(table)
    alerts = ", ".join(f"{count} {state}" for state, count in sorted(report.alerts.items()))
    console.print(
        f"articles: {report.articles}   matches: {report.matches}   alerts: {alerts or 'none'}"
    )
    channels = ", ".join(
        f"{c.name} ({c.kind}{'' if c.active else f', off: {c.reason}'})" for c in report.channels
    )
    console.print(Text(f"channels: {channels}"))
    if report.channels_note:
        console.print(Text(f"  ({report.channels_note})"))
    pending = report.frontier
    console.print(
        Text(
            f"article pages waiting: {pending.pending}   given up: {pending.failed}"
            + (f"  ({report.frontier_hint})" if report.frontier_hint else "")
        )
    )
    _print_instances(report.instances, now)


def _print_instances(found: Sequence[InstanceView], now: datetime) -> None:
    if not found:
        console.print(Text("instances: none running"))
        return
    table = Table(title=f"Instances ({sum(view.alive for view in found)} alive)")
    for column in ("instance", "host", "pid", "state", "up since", "last beat", "holds"):
        table.add_column(column)
    for view in found:
        state = "gone" if not view.alive else "stopping" if view.stopping else "running"
        _add_row(
            table,
            view.token[:8],
            view.host,
            str(view.pid),
            state,
            _ago(view.started_at, now),
            _ago(view.seen_at, now),
            f"{view.sources} poll(s), {view.pages} page(s), {view.alerts} alert(s)",
        )
    console.print(table)


# -- sources -------------------------------------------------------------------------


@cli.group()
def sources() -> None:
    """List, add, remove, pause and resume sources."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per source.")
@pass_context
def sources_list(ctx: Context, as_json: bool) -> None:
    """The sources rasid polls, and whether each is active, paused or disabled."""
    _show(
        ctx.app.list_sources(),
        as_json,
        ("name", "state", "url", "every", "from"),
        lambda row: (row.name, row.state, row.url, _minutes(row.interval), row.origin),
        "no sources: add one with `rasid sources add URL --name NAME`",
    )


@sources.command("add")
@click.argument("url")
@click.option("--name", required=True, help="A short unique name: a-z, 0-9, '-' and '_'.")
@click.option(
    "--interval",
    help='Poll every so often, e.g. "10m", not below crawl.min_interval (default: adaptive).',
)
@click.option("--pick", type=int, help="Add the N-th feed found on a page (from the list shown).")
@click.option("--no-check", is_flag=True, help="Add the URL as given, without fetching it.")
@pass_context
def sources_add(
    ctx: Context, url: str, name: str, interval: str | None, pick: int | None, no_check: bool
) -> None:
    """Add a source: a feed or sitemap URL, or a site's page to discover its feeds on.

    The name, the URL and the interval are checked before anything is fetched: a name
    or URL already used, or an interval below the minimum, is refused.
    """
    every = _duration(interval, "--interval")
    app = ctx.app
    app.check_source(name, url, every)
    chosen = url
    if not no_check:
        with errors.status(f"looking for feeds at {url} ..."):
            discovery = app.discover_feeds(url)
        chosen = _chosen_feed(discovery, pick)
    added = app.add_source(name, chosen, every)
    console.print(Text(f"added source {added.name}: {added.url}"))


def _chosen_feed(discovery: FeedDiscovery, pick: int | None) -> str:
    """The URL to add: the URL itself if it is a feed, else the feed the user picks."""
    if discovery.unchecked is not None:
        errors.print(Text(f"warning: could not check it ({discovery.unchecked}); added as given"))
        return discovery.url
    itself, found = discovery.itself, discovery.found
    if itself is not None:
        console.print(Text(f"{itself.url} is a {itself.kind} with {itself.entries} entries"))
        return itself.url
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
        raise click.BadParameter(f"must be from 1 to {len(found)}", param_hint="--pick")
    return found[pick - 1].url


@sources.command("remove")
@click.argument("name")
@pass_context
def sources_remove(ctx: Context, name: str) -> None:
    """Delete source NAME, one added with `rasid sources add` (its articles are kept).

    A source from settings.toml is removed from that file instead.
    """
    ctx.app.remove_source(name)
    console.print(Text(f"removed source {name}"))


@sources.command("pause")
@click.argument("name")
@pass_context
def sources_pause(ctx: Context, name: str) -> None:
    """Stop polling source NAME until it is resumed."""
    ctx.app.pause_source(name)
    console.print(Text(f"paused {name}; resume it with: rasid sources resume {name}"))


@sources.command("resume")
@click.argument("name", required=False)
@click.option("--all", "everything", is_flag=True, help="Resume every paused source.")
@pass_context
def sources_resume(ctx: Context, name: str | None, everything: bool) -> None:
    """Poll source NAME again at the next tick (paused by hand or after repeated
    failures), its failure count reset; or every paused source with --all."""
    if (name is None) == (not everything):
        raise click.UsageError("give either a source NAME or --all")
    if name is not None:
        ctx.app.resume_source(name)
        console.print(Text(f"resumed {name}; it is polled at the next tick"))
        return
    resumed = ctx.app.resume_all_sources()
    if not resumed:
        console.print("no source was paused")
        return
    console.print(
        Text(f"resumed {_plural(len(resumed), 'source', 'sources')}: " + ", ".join(resumed))
    )


# -- watchlists ----------------------------------------------------------------------


@cli.group()
def watch() -> None:
    """List, add, remove and try watchlists and their queries."""


@watch.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per watchlist.")
@pass_context
def watch_list(ctx: Context, as_json: bool) -> None:
    """Every watchlist with its queries and channels."""
    _show(
        ctx.app.list_watchlists(),
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
        'no watchlists: add one with `rasid watch add NAME "QUERY"`',
    )


@watch.command("add", context_settings=QUERY_ARGUMENTS)
@click.argument("name")
@click.argument("queries", nargs=-1, required=True)
@click.option("--channel", "channels", multiple=True, help="Channel to alert (repeatable).")
@click.option(
    "--slop", type=click.IntRange(0, 10), help="Words allowed between a phrase's words (1)."
)
@pass_context
def watch_add(
    ctx: Context, name: str, queries: tuple[str, ...], channels: tuple[str, ...], slop: int | None
) -> None:
    """Create watchlist NAME with QUERIES (or add QUERIES to it).

    A query may start with "-" (NOT); to be safe put `--` before the queries:
    rasid watch add NAME -- "-احتجاج طائرة مسيرة"
    """
    info = ctx.app.add_watchlist(name, queries, channels, slop)
    console.print(Text(f"watchlist {info.name}: {' | '.join(info.queries)}"))


@watch.command("remove")
@click.argument("name")
@pass_context
def watch_remove(ctx: Context, name: str) -> None:
    """Delete watchlist NAME (one made with `rasid watch add`)."""
    ctx.app.remove_watchlist(name)
    console.print(Text(f"removed watchlist {name}"))


@watch.command("test", context_settings=QUERY_ARGUMENTS)
@click.argument("query")
@click.option("--text", "text_", help='Text to search ("-" reads standard input).')
@click.option("--title", default="", help="A title to search with --text (for title: queries).")
@click.option("--archive", is_flag=True, help="Search the stored articles instead.")
@click.option("--since", help='With --archive: only articles fetched this recently, e.g. "30d".')
@click.option(
    "--slop",
    type=click.IntRange(0, 10),
    default=1,
    show_default=True,
    help="Words allowed between a phrase's words.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the query and its hits.")
@pass_context
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
    """Try QUERY on a text (its matched words highlighted) or on the stored articles.

    Exit 0 on a match, 1 on none, 2 on a query that does not parse. A query starting
    with "-" is taken as the query; to be safe put `--` before it, after the options:
    rasid watch test --text "..." -- "-احتجاج طائرة"
    """
    if archive == (text_ is not None):
        raise click.UsageError("give either --text TEXT or --archive")
    if text_ is not None:
        body = sys.stdin.read() if text_ == "-" else text_
        trial = ctx.app.try_query(query, body, title=title, slop=slop)
        if as_json:
            _print_json(trial)
        else:
            _print_trial(trial)
        sys.exit(0 if trial.matched else 1)
    found = _backtest(ctx.app, query, _duration(since, "--since"), slop, as_json)
    sys.exit(0 if found else 1)


def _print_trial(trial: TextTrial) -> None:
    """Each field searched, its matched words highlighted, then what matched."""
    for name, body in trial.texts.items():
        shown = Text(body)
        for hit in trial.hits:
            if hit.field == name:
                shown.stylize("bold reverse", hit.start, hit.end)
        if len(trial.texts) > 1:
            console.print(Text(f"{name}:", style="dim"))
        console.print(shown)
    if trial.matched:
        matched = " | ".join(dict.fromkeys(hit.text for hit in trial.hits))
        console.print(Text(f"{_plural(len(trial.hits), 'match', 'matches')}: {matched}"))
    else:
        console.print("no match")


def _backtest(app: App, query: str, since: timedelta | None, slop: int, as_json: bool) -> int:
    from rich.progress import Progress, TaskID

    with Progress(console=errors, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=None)
            progress.update(tasks[stage], completed=done, total=total)

        trial = app.backtest_query(query, since=since, slop=slop, progress=report)
    if as_json:
        _print_json(trial)
        return len(trial.matches)
    if trial.matches:
        table = Table("published", "source", "title", "highlights", "url")
        for match in trial.matches:
            moment = match.published_at or match.fetched_at
            _add_row(
                table,
                moment.strftime("%Y-%m-%d %H:%M"),
                match.source or "",
                match.title,
                " | ".join(dict.fromkeys(hit.text for hit in match.hits)),
                match.url,
            )
        console.print(table)
    console.print(f"{len(trial.matches)} stored article(s) match")
    return len(trial.matches)


# -- stories -------------------------------------------------------------------------


@cli.command("stories")
@click.option("--since", default="2d", show_default=True, help="Stories first seen this recently.")
@click.option("--all", "everything", is_flag=True, help="Also stories carried by one outlet.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per story.")
@pass_context
def stories(ctx: Context, since: str, everything: bool, as_json: bool) -> None:
    """Recent stories and every outlet that reported them ("also reported by")."""
    window = _duration(since, "--since") or timedelta(days=2)
    found = ctx.app.list_stories(window, everything=everything)
    if as_json:
        _print_json(found)
        return
    table = Table("first seen", "story", "also reported by")
    for story in found:
        also = ", ".join(f"{o.source or '?'} ({o.url})" for o in story.outlets[1:])
        first = f"{story.outlets[0].source or '?'}: {story.title}"
        _add_row(table, f"{story.first_seen:%Y-%m-%d %H:%M}", first, also or "-")
    if found:
        console.print(table)
    console.print(_plural(len(found), "story", "stories"))


# -- alerts --------------------------------------------------------------------------


@cli.group("alerts")
def alerts_group() -> None:
    """List alerts, queue dead ones again, test a channel, send a digest early."""


@alerts_group.command("list")
@click.option(
    "--failed", "only", flag_value="failed", help="Only alerts waiting to retry a failed send."
)
@click.option("--dead", "only", flag_value="dead", help="Only alerts given up (dead).")
@click.option(
    "--limit", type=click.IntRange(1), default=100, show_default=True, help="Show at most N."
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per alert.")
@pass_context
def alerts_list(ctx: Context, only: str | None, limit: int, as_json: bool) -> None:
    """Alerts, newest first: id, kind, channel, watchlist, attempts, state, last error."""
    rows = ctx.app.list_alerts(cast("AlertFilter | None", only), limit=limit)
    _show(
        rows,
        as_json,
        ("id", "kind", "channel", "watchlist", "attempts", "state", "created", "last error"),
        lambda row: (
            str(row.id),
            row.kind,
            row.channel,
            row.watchlist,
            str(row.attempts),
            row.status,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            row.last_error or "",
        ),
        f"no {only + ' ' if only else ''}alerts",
    )


@alerts_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Queue every dead alert again.")
@pass_context
def alerts_retry(ctx: Context, ids: tuple[int, ...], all_dead: bool) -> None:
    """Queue dead alerts again: the given ids (each must be dead), or --all-dead."""
    if bool(ids) == all_dead:
        raise click.UsageError(
            "give the ids of dead alerts (`rasid alerts list --dead`), or --all-dead"
            + (", not both" if all_dead else "")
        )
    count = ctx.app.retry_dead_alerts() if all_dead else ctx.app.retry_alerts(ids)
    console.print(f"re-queued {_plural(count, 'alert', 'alerts')}")


@alerts_group.command("test")
@click.argument("channel")
@pass_context
def alerts_test(ctx: Context, channel: str) -> None:
    """Send a sample alert (the seed article's match) to CHANNEL now, outside the outbox,
    and print the receiver's answer; exit 1 when it was not delivered."""
    result = ctx.app.test_channel(channel)
    if not result.delivered:
        _fail(f"channel {result.channel!r}: not delivered: {result.answer}", 1)
    console.print(Text(f"delivered to {result.channel}: {result.answer or '(no answer)'}"))


@alerts_group.command("digest")
@click.argument("watchlist")
@click.option("--now", "now", is_flag=True, help="Queue the digest now instead of showing it.")
@click.option(
    "--send", is_flag=True, help="With --now: deliver it right away and say what happened."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_context
def alerts_digest(ctx: Context, watchlist: str, now: bool, send: bool, as_json: bool) -> None:
    """Show when WATCHLIST's next digests are due and what they hold so far; with --now,
    queue them now (the running service sends them; --send sends them at once)."""
    if send and not now:
        raise click.UsageError("--send goes with --now")
    if not now:
        previews = ctx.app.preview_digests(watchlist)
        if as_json:
            _print_json(previews)
            return
        for preview in previews:
            due = f"{preview.next_at:%Y-%m-%d %H:%M} UTC" if preview.next_at else "never"
            console.print(
                Text(
                    f"{preview.watchlist} to {preview.channel} ({preview.schedule}, "
                    f"{preview.time_zone}): next at {due}; so far "
                    f"{_plural(preview.stories, 'story', 'stories')}, "
                    f"{_plural(preview.matches, 'match', 'matches')} since "
                    f"{preview.since:%Y-%m-%d %H:%M} UTC"
                )
            )
        return
    run = ctx.app.digest_now(watchlist, send=send)
    if as_json:
        _print_json(run)
        return
    for item in run.digests:
        digest = item.digest
        head = f"{digest.watchlist} to {digest.channel}"
        what = (
            f"{_plural(digest.stories, 'story', 'stories')}, "
            f"{_plural(digest.matches, 'match', 'matches')} since "
            f"{digest.since:%Y-%m-%d %H:%M} UTC"
        )
        if digest.alert_id is None:
            line = f"{head}: nothing matched; no digest queued (the route's send_empty is off)"
        elif item.status is None:
            line = f"{head}: digest {digest.alert_id} queued ({what})"
        else:
            line = f"{head}: digest {digest.alert_id} {item.status} ({what})"
            line += f": {item.error}" if item.error else ""
        console.print(Text(line))
    # --send: a digest that did not go out now (failed, or behind an alert that did) is 1.
    if run.delivery is not None and any(item.status not in (None, "sent") for item in run.digests):
        sys.exit(1)


# -- the frontier --------------------------------------------------------------------


@cli.group("frontier")
def frontier_group() -> None:
    """Entries found by polls whose articles are not stored yet."""


@frontier_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per entry.")
@pass_context
def frontier_list(ctx: Context, as_json: bool) -> None:
    """Entries given up after too many attempts, with their last error."""
    _show(
        ctx.app.list_failed_entries(),
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
        "no entry was given up",
    )


@frontier_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@pass_context
def frontier_retry(ctx: Context, ids: tuple[int, ...]) -> None:
    """Queue given-up entries again (all of them, or the given ids)."""
    count = ctx.app.retry_entries(ids)
    console.print(f"queued {_plural(count, 'entry', 'entries')} again")


# -- the database --------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """The database: its size and growth, and pruning by [retention]."""


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


@db_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_context
def db_stats(ctx: Context, as_json: bool) -> None:
    """Each table's rows and size, the database's size, and growth per day."""
    stats = ctx.app.database_stats()
    if as_json:
        _print_json(stats)
        return
    if stats.engine == "sqlite":
        console.print(
            f"SQLite database: {_size(stats.size_bytes)} ({_size(stats.free_bytes)} of it free "
            f"pages; WAL file {_size(stats.wal_bytes)}); table sizes from {stats.sizes}"
        )
    else:
        console.print(
            f"PostgreSQL database: {_size(stats.size_bytes)} (every schema); "
            f"table sizes from {stats.sizes}"
        )
    postgres = stats.engine == "postgresql"
    table = Table()
    for column in ("table", "rows", "size", "rows/day", "size/day"):
        table.add_column(column, justify="left" if column == "table" else "right")
    if postgres:
        table.add_column("dead rows", justify="right")
    for row in stats.tables:
        rows = f"~{row.rows:,}" if row.rows_estimated else f"{row.rows:,}"
        cells = [row.name, rows, _size(row.bytes), _rate(row.rows_per_day)]
        cells.append(_size(row.bytes_per_day))
        if postgres:
            cells.append("-" if row.dead_rows is None else f"{row.dead_rows:,}")
        _add_row(table, *cells)
    console.print(table)
    console.print(
        f"growth over the last {stats.days} days: {_rate(stats.rows_per_day)} rows a day, "
        f"about {_size(stats.bytes_per_day)} a day"
    )


_PRUNED = (
    ("delivered_alerts", "delivered alerts"),
    ("matches", "matches"),
    ("article_bodies", "article bodies"),
    ("articles", "articles"),
    ("failed_entries", "failed frontier entries"),
)


@db_group.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_context
def db_prune(ctx: Context, dry_run: bool, as_json: bool) -> None:
    """Prune what [retention] says is old now, as the running service does."""
    from monitor.config import shown_duration

    report = ctx.app.prune(dry_run=dry_run)
    if as_json:
        _print_json(report)
        return
    retention = ctx.app.settings.retention
    table = Table()
    table.add_column("what")
    table.add_column("kept for", justify="right")
    table.add_column("to prune" if dry_run else "pruned", justify="right")
    for key, label in _PRUNED:
        _add_row(table, label, shown_duration(getattr(retention, key)), f"{getattr(report, key):,}")
    console.print(table)
    verb = "would prune" if dry_run else "pruned"
    console.print(
        f"{verb} {report.total:,} {'row' if report.total == 1 else 'rows'} "
        f"in {report.seconds:.2f} s; "
        f"stories with an article since {report.story_horizon.isoformat(timespec='minutes')} "
        "keep their matches"
    )


# -- the web page --------------------------------------------------------------------


def _print_address(address: str) -> None:
    console.print(f"web page and API: {address}  (API document: {address}/api/v1/openapi.json)")


@cli.command("web")
@pass_context
def web(ctx: Context) -> None:
    """Serve the web page and the API alone, without crawling (stop with Ctrl-C).

    For a deployment where `rasid run` crawls elsewhere against the same PostgreSQL.
    Listens on [web] listen.
    """
    from monitor.web.server import serve_alone

    _setup_logging(ctx.settings, ctx.log_format)
    serve_alone(ctx.app, on_listening=_print_address)


# -- users ---------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """People who sign in to the web page, their roles and API tokens."""


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["viewer", "editor", "admin"]),
    default="viewer",
    show_default=True,
    help="viewer reads; editor also edits watchlists; admin also sources, channels, users.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (scripts).")
@pass_context
def users_add(ctx: Context, name: str, role: str, password_stdin: bool) -> None:
    """Add a user (asks for the password twice)."""
    added = ctx.app.add_user(name, role, _new_password(password_stdin))
    console.print(f"added {added.name} ({added.role})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@pass_context
def users_list(ctx: Context, as_json: bool) -> None:
    """Users and their roles."""
    people = ctx.app.list_users()
    if as_json:
        _print_json(people)
        return
    if not people:
        console.print("no users: the web page is open to this machine only")
        return
    table = Table("name", "role", "created", "tokens")
    tokens = ctx.app.list_tokens()
    now = ctx.app.clock.now()
    for person in people:
        count = sum(1 for token in tokens if token.user == person.name)
        _add_row(table, person.name, person.role, _ago(person.created_at, now), str(count))
    console.print(table)


@users.command("remove")
@click.argument("name")
@pass_context
def users_remove(ctx: Context, name: str) -> None:
    """Remove a user and their tokens."""
    ctx.app.remove_user(name)
    console.print(f"removed {name}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (scripts).")
@pass_context
def users_passwd(ctx: Context, name: str, password_stdin: bool) -> None:
    """Set a user's password; their sessions end."""
    ctx.app.set_password(name, _new_password(password_stdin))
    console.print(f"password of {name} changed")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["viewer", "editor", "admin"]))
@pass_context
def users_role(ctx: Context, name: str, role: str) -> None:
    """Change a user's role."""
    changed = ctx.app.set_user_role(name, role)
    console.print(f"{changed.name} is now {changed.role}")


@users.command("token")
@click.argument("name", required=False)
@click.option("--label", default="token", show_default=True, help="What the token is for.")
@click.option("--list", "listing", is_flag=True, help="List tokens (of NAME, or all).")
@click.option("--revoke", type=int, metavar="ID", help="Revoke the token with this id.")
@pass_context
def users_token(
    ctx: Context, name: str | None, label: str, listing: bool, revoke: int | None
) -> None:
    """Make an API token for NAME (printed once), list tokens, or revoke one.

    Scripts send it as `Authorization: Bearer TOKEN`; feed readers as ?token=TOKEN.
    """
    if revoke is not None:
        ctx.app.revoke_token(revoke)
        console.print(f"revoked token {revoke}")
        return
    if listing:
        table = Table("id", "user", "name", "starts with", "last used")
        now = ctx.app.clock.now()
        for token in ctx.app.list_tokens(name):
            _add_row(
                table,
                str(token.id),
                token.user,
                token.name,
                token.prefix,
                _ago(token.last_used_at, now),
            )
        console.print(table)
        return
    if name is None:
        raise click.UsageError("give the user's NAME (or --list, or --revoke ID)")
    made = ctx.app.create_token(name, label)
    console.print(f"token {made.info.id} for {name} (shown once, keep it now):")
    click.echo(made.secret)


def main() -> None:
    try:
        cli.main(prog_name="rasid")
    finally:
        # What is alive now (tens of MB of modules and models) dies with the process:
        # frozen, the collector does not walk it all once more on the way out (a fifth
        # of a read-only command's CPU, docs/benchmarks.md).
        gc.freeze()
