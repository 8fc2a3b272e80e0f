"""rasid beside rss2email and feed2exec on the same local feeds: CPU and peak memory.

A local site (its own process, so its CPU is not counted) serves ``--feeds`` RSS feeds of
``--items`` real Arabic news items each (bench/corpus.py: the ANT sample's 2,000
articles when ../shared is there, else the project's fixture texts; a headline and a
three-sentence passage as the description; past the corpus's size an article comes
back with its next passage, a retelling), with ETag and Last-Modified; a conditional
GET that matches is answered 304. Each tool runs as a child process in a fresh directory of its
own, twice: the first poll of every feed (every item new), then an unchanged poll of
every feed (conditional GETs). The tools take turns (rasid, rss2email, feed2exec,
rasid, ...) for ``--rounds`` rounds, so a slow moment of the machine falls on all of
them. CPU is the child's user + system time (``os.wait4``), memory its peak RSS.

What each does on a new item:

* rasid (``rasid run --once``, SQLite, every source ``pages = false``): parses the feed,
  deduplicates (URL, GUID, content hash), matches the item against the watchlists
  (``WATCHLISTS``), fingerprints it and finds its story, stores the article, its keys,
  matches and archive terms in one transaction per feed, then indexes the archive.
  No alert channel is configured: matches are stored, nothing is delivered.
* rss2email (``r2e run --no-send``): parses the feed, decides which entries are new by
  GUID, builds each new entry's email (HTML converted to text), does not send it, and
  saves the seen GUIDs to its JSON data file. No matching, stories or archive.
* feed2exec (``feed2exec fetch``, output ``feed2exec.plugins.null``): parses the feed,
  records each new entry's GUID in its SQLite database, calls the null output. No
  matching, stories or archive. Feeds are fetched one after another (its default).

Start-up is part of every run. An empty run of each tool (its settings without any
feed) is measured too, and the per-entry figure is shown both with start-up and with
the empty run's CPU subtracted. rasid's empty run does not import what only storing
needs (datasketch and SciPy, the matcher's index), so the subtracted figure still
carries those imports. Target (issue 17): <= 1.0 ms CPU per new entry for rasid with
matching, stories and archive on.

rss2email and feed2exec are Debian packages (``apt-get install rss2email feed2exec``);
a missing one is said so and left out, and rasid runs alone.

    .venv/bin/python bench/peers.py [--feeds 500] [--items 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import html
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import corpus

from tests.support.http import LocalServer, Recorded, Reply

WATCHLISTS = {
    "drones": ["طائرة مسيرة", "طائرات مسيرة"],
    "iraq": ["عين الأسد", "قاعدة جوية"],
    "syria": ["سوريا AND اشتباكات"],
    "economy": ["البورصة", "أسعار النفط", "التضخم"],
    "culture": ["مهرجان", "معرض الكتاب"],
}
TARGET_MS = 1.0
_SENTENCE_END = re.compile(r"(?<=[.!؟])\s+")


def _stories() -> tuple[list[tuple[str, list[str]]], str]:
    """(headline, sentences) of each article of the corpus, and where they came from."""
    pairs, origin = corpus.articles()
    found = []
    for title, body in pairs:
        sentences = [s.strip() for s in _SENTENCE_END.split(body) if len(s.strip()) > 20]
        if title and len(sentences) >= 3:
            found.append((title.strip(), sentences))
    return found, origin


def _feed(
    feed: int, items: int, port: int, stories: list[tuple[str, list[str]]], published: str
) -> bytes:
    """Item n of feed f is article k of the corpus with a passage of three sentences
    (an RSS description); when the feeds hold more items than the corpus has articles,
    the next round takes the next passage (a retelling, which may join its story)."""
    entries = []
    for number in range(items):
        overall = feed * items + number
        title, sentences = stories[overall % len(stories)]
        start = (overall // len(stories)) * 3 % (len(sentences) - 2)
        # The number keeps every item its own text (a retelling is not a duplicate).
        description = " ".join(sentences[start : start + 3]) + f" ({feed}-{number})"
        entries.append(
            f"<item><title>{html.escape(title)}</title>"
            f"<link>http://127.0.0.1:{port}/article/{feed}/{number}</link>"
            f"<guid isPermaLink='false'>peers-{feed}-{number}</guid>"
            f"<pubDate>{published}</pubDate>"
            f"<description>{html.escape(description)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>موقع {feed}</title><link>http://127.0.0.1:{port}/</link>"
        f"<description>أخبار</description>{''.join(entries)}</channel></rss>"
    ).encode()


def _serve(ports: multiprocessing.Queue, items: int) -> None:
    stories, _origin = _stories()
    moment = datetime.now(UTC) - timedelta(minutes=30)
    published = format_datetime(moment)
    modified = format_datetime(moment, usegmt=True)
    cache: dict[int, bytes] = {}
    server = LocalServer(record=False)
    port = server.port

    def answer(request: Recorded) -> Reply:
        if not request.path.startswith("/feed/"):
            return Reply(404, b"not found", content_type="text/plain")
        feed = int(request.path.split("/")[2])
        etag = f'"peers-{feed}"'
        headers = {"ETag": etag, "Last-Modified": modified}
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", headers, content_type=None)
        if feed not in cache:
            cache[feed] = _feed(feed, items, port, stories, published)
        return Reply(200, cache[feed], headers, "application/rss+xml; charset=utf-8")

    server.fallback = answer
    ports.put(port)
    server.serve_forever()


@dataclass(frozen=True)
class Run:
    cpu: float  # s, user + system of the child and what it waited for
    peak_mb: float
    output: str


def _run(command: list[str], folder: Path, env: dict[str, str]) -> Run:
    log = folder / "output.log"
    with log.open("wb") as sink:
        child = subprocess.Popen(command, cwd=folder, env=env, stdout=sink, stderr=sink)
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(encoding="utf-8", errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{output[-3000:]}")
    return Run(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


class Tool:
    name = ""
    does = ""

    def __init__(self, base: str, feeds: int) -> None:
        self.urls = [f"{base}/feed/{n}" for n in range(feeds)]

    def available(self) -> str | None:
        """None, or how to install the tool."""
        return None

    def prepare(self, folder: Path, urls: list[str]) -> None:
        raise NotImplementedError

    def command(self, folder: Path) -> list[str]:
        raise NotImplementedError

    def env(self, folder: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RASID_")}
        env.update(HOME=str(folder), XDG_CONFIG_HOME=str(folder), XDG_DATA_HOME=str(folder))
        env.update(XDG_CACHE_HOME=str(folder / "cache"), LC_ALL="C.UTF-8")
        return env

    def run(self, folder: Path) -> Run:
        return _run(self.command(folder), folder, self.env(folder))


class Rasid(Tool):
    name = "rasid"

    def prepare(self, folder: Path, urls: list[str]) -> None:
        lines = [
            "[database]",
            f'url = "sqlite:///{folder / "rasid.db"}"',
            "[crawl]",
            "allow_private_networks = true",
            "pages = false",
            "autothrottle = false",
            # All feeds live on one host here; on the web they are spread over many.
            "concurrent_requests_per_domain = 32",
        ]
        for number, url in enumerate(urls):
            lines += ["[[sources]]", f'name = "feed-{number}"', f'url = "{url}"']
        for name, queries in WATCHLISTS.items():
            lines += ["[[watchlists]]", f'name = "{name}"', f"queries = {json.dumps(queries)}"]
        (folder / "settings.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def command(self, folder: Path) -> list[str]:
        rasid = Path(sys.executable).with_name("rasid")
        return [str(rasid), "--config", str(folder / "settings.toml"), "run", "--once"]

    def new_entries(self, run: Run) -> int | None:
        found = re.search(r"(\d+) new article", run.output)
        return int(found.group(1)) if found else None


class Rss2email(Tool):
    name = "rss2email"

    def available(self) -> str | None:
        if shutil.which("r2e") is None:
            return "rss2email is not installed: apt-get install rss2email (Debian package)"
        return None

    def prepare(self, folder: Path, urls: list[str]) -> None:
        self._r2e(folder, "new", "bench@example.invalid")
        config = folder / "rss2email.cfg"
        feeds = "".join(f"\n[feed.f{n}]\nurl = {url}\n" for n, url in enumerate(urls))
        config.write_text(config.read_text(encoding="utf-8") + feeds, encoding="utf-8")

    def _r2e(self, folder: Path, *args: str) -> None:
        subprocess.run(
            ["r2e", "-c", "rss2email.cfg", "-d", "rss2email.json", *args],
            cwd=folder,
            env=self.env(folder),
            check=True,
            capture_output=True,
        )

    def command(self, folder: Path) -> list[str]:
        return ["r2e", "-c", "rss2email.cfg", "-d", "rss2email.json", "run", "--no-send"]


class Feed2exec(Tool):
    name = "feed2exec"

    def available(self) -> str | None:
        if shutil.which("feed2exec") is None:
            return "feed2exec is not installed: apt-get install feed2exec (Debian package)"
        return None

    def prepare(self, folder: Path, urls: list[str]) -> None:
        sections = "".join(
            f"[f{n}]\nurl = {url}\noutput = feed2exec.plugins.null\n\n"
            for n, url in enumerate(urls)
        )
        (folder / "feed2exec.ini").write_text(sections, encoding="utf-8")

    def command(self, folder: Path) -> list[str]:
        return [
            "feed2exec",
            "--config",
            str(folder / "feed2exec.ini"),
            "--database",
            str(folder / "feed2exec.db"),
            "fetch",
        ]


@dataclass
class Figures:
    empty: list[float]
    first: list[float]
    unchanged: list[float]
    peak_mb: list[float]


def _round(tool: Tool, figures: Figures, scratch: Path) -> int | None:
    """One empty run, one first poll and one unchanged poll, each in a fresh folder;
    the new entries rasid reports storing (None for the others)."""
    empty = Path(tempfile.mkdtemp(dir=scratch))
    tool.prepare(empty, [])
    tool.run(empty)  # creates its files (rasid migrates its database)
    figures.empty.append(tool.run(empty).cpu)
    folder = Path(tempfile.mkdtemp(dir=scratch))
    tool.prepare(folder, tool.urls)
    first = tool.run(folder)
    unchanged = tool.run(folder)
    figures.first.append(first.cpu)
    figures.unchanged.append(unchanged.cpu)
    figures.peak_mb.append(max(first.peak_mb, unchanged.peak_mb))
    shutil.rmtree(empty)
    shutil.rmtree(folder)
    return tool.new_entries(first) if isinstance(tool, Rasid) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tools", default="rasid,rss2email,feed2exec", help="which, in order")
    args = parser.parse_args()

    ports: multiprocessing.Queue = multiprocessing.Queue()
    site = multiprocessing.Process(target=_serve, args=(ports, args.items), daemon=True)
    site.start()
    base = f"http://127.0.0.1:{ports.get(timeout=30)}"
    tools: list[Tool] = []
    kinds = {kind.name: kind for kind in (Rasid, Rss2email, Feed2exec)}
    for name in args.tools.split(","):
        tool = kinds[name](base, args.feeds)
        missing = tool.available()
        if missing:
            print(missing)
        else:
            tools.append(tool)
    entries = args.feeds * args.items
    figures = {tool.name: Figures([], [], [], []) for tool in tools}
    stored: list[int | None] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for number in range(args.rounds):
                for tool in tools:
                    print(f"round {number + 1}: {tool.name}", file=sys.stderr, flush=True)
                    found = _round(tool, figures[tool.name], Path(scratch))
                    if found is not None:
                        stored.append(found)
    finally:
        site.terminate()
        site.join()

    print(
        f"\n{args.feeds} local feeds x {args.items} items ({entries} new entries), "
        f"{os.cpu_count()} cores; median of {args.rounds} interleaved round(s)"
    )
    print(f"items from: {_stories()[1]}")
    if stored and any(count != entries for count in stored):
        print(f"rasid stored {stored} new articles of {entries} (dedup joined some)")
    header = (
        f"{'':<11}{'empty run':>11}{'first poll':>12}{'ms/entry':>10}{'ms/entry':>10}"
        f"{'unchanged':>11}{'peak RSS':>10}"
    )
    print(header)
    print(f"{'':<11}{'CPU s':>11}{'CPU s':>12}{'(all)':>10}{'(-empty)':>10}{'CPU s':>11}{'MB':>10}")
    for tool in tools:
        got = figures[tool.name]
        empty, first = statistics.median(got.empty), statistics.median(got.first)
        unchanged = statistics.median(got.unchanged)
        print(
            f"{tool.name:<11}{empty:>11.2f}{first:>12.2f}{first / entries * 1000:>10.3f}"
            f"{(first - empty) / entries * 1000:>10.3f}{unchanged:>11.2f}"
            f"{max(got.peak_mb):>10.0f}"
        )
    if "rasid" in figures:
        got = figures["rasid"]
        per_entry = (statistics.median(got.first) - statistics.median(got.empty)) / entries * 1000
        print(
            f"\nrasid: {per_entry:.3f} ms CPU per new entry (empty run subtracted) = "
            f"{per_entry / TARGET_MS:.2f}x the {TARGET_MS} ms target"
        )
    print(
        f"\nrerun: .venv/bin/python bench/peers.py --feeds {args.feeds} --items {args.items} "
        f"--rounds {args.rounds} --tools {args.tools}"
    )


if __name__ == "__main__":
    main()
