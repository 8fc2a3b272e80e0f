"""Start-up cost of the ``rasid`` command: read-only commands' wall time, and what an idle
``rasid run --once`` costs.

A local site (threads of this process, so its CPU is not counted) serves one RSS feed with
the seed story and ``--stories`` more, and their article pages. A settings file in a
temporary folder points one source at it, with a SQLite database beside it. One
``rasid run --once`` stores the articles; then every command runs as its own process,
as a user types it:

  read-only commands  wall time and CPU, median of ``--repeat`` runs;
  run --once          the same feed again (nothing new: stopped by the body hash before
                      any parse), median CPU (user + sys) and peak RSS of the process.

CPU and peak memory are the child's own, from os.wait4 (the rusage of that one process,
what resource.getrusage(RUSAGE_CHILDREN) would add up). Each command runs once unmeasured
first, and Python may write its bytecode cache (PYTHONDONTWRITEBYTECODE is dropped), as
for an installed rasid. Wall time counts waiting for a CPU: on a busy machine read the
CPU column too. Targets (issue 13): each read-only command <= 0.4 s wall; an idle
one-source run --once <= 0.8 CPU s and <= 120 MB peak.

``--against REV`` also runs git revision ``REV`` (exported with git archive, run with
``python -m monitor``, its own database), alternating with the working tree run by run.

    .venv/bin/python bench/cli_latency.py [--repeat 7] [--stories 12] [--against REV]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.http import LocalServer, Reply
from tests.support.site import article_page, distinct_drone_stories, rss, seed_story

ROOT = Path(__file__).resolve().parents[1]
READ_ONLY = (
    ("status",),
    ("sources", "list"),
    ("watch", "list"),
    ("stories",),
    ("alerts", "list"),
    ("frontier", "list"),
)
IDLE_RUN = ("run", "--once")
WALL_TARGET = 0.4
CPU_TARGET = 0.8
RSS_TARGET_MB = 120


@dataclass(frozen=True)
class Tree:
    """A version of rasid to run: its name, how to start it, its settings file."""

    name: str
    command: list[str]
    pythonpath: str | None
    config: Path


@dataclass(frozen=True)
class Measured:
    code: int
    wall: float
    cpu: float
    peak_mb: float


def _serve(server: LocalServer, stories: int) -> str:
    published = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    found = [seed_story(published), *distinct_drone_stories(stories, published)]
    for story in found:
        server.route(f"/news/{story.slug}", Reply(body=article_page(story)))
    base = server.url("").rstrip("/")
    server.route(
        "/feed.xml",
        Reply(body=rss("الموقع", base, found), content_type="application/rss+xml; charset=utf-8"),
    )
    return server.url("/feed.xml")


def _settings(folder: Path, feed_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    database = json.dumps(f"sqlite:///{folder / 'rasid.db'}")
    path = folder / "settings.toml"
    path.write_text(
        f"[database]\nurl = {database}\n\n"
        '[crawl]\nallow_private_networks = true\nautothrottle = false\ntimeout = "5s"\n\n'
        '[alerts]\nmax_article_age = "48h"\n\n'
        f'[[sources]]\nname = "site"\nurl = "{feed_url}"\n\n'
        '[[channels]]\nname = "console"\nkind = "console"\n\n'
        '[[watchlists]]\nname = "drones"\nqueries = ["طائرة مسيرة"]\n',
        encoding="utf-8",
    )
    return path


def _working_tree(folder: Path, feed_url: str) -> Tree:
    """The installed ``rasid`` script beside this Python, as a user runs it."""
    script = Path(sys.executable).parent / "rasid"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
    return Tree("working tree", command, None, _settings(folder / "work", feed_url))


def _revision(revision: str, folder: Path, feed_url: str) -> Tree:
    """``revision``'s code, exported into ``folder`` and run from there."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "monitor", "crawler", "alerts"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    code = folder / "code"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(code, filter="data")
    command = [sys.executable, "-m", "monitor"]
    return Tree(revision, command, str(code), _settings(folder / "against", feed_url))


def _run(tree: Tree, args: tuple[str, ...]) -> Measured:
    """Exit code, wall s, CPU s and peak RSS of one run of the command."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RASID_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    if tree.pythonpath:
        env["PYTHONPATH"] = tree.pythonpath
    with tempfile.TemporaryFile() as told:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*tree.command, "--config", str(tree.config), *args],
            stdout=subprocess.DEVNULL,
            stderr=told,
            cwd=tree.config.parent,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in (0, 2):  # 2: a command this version does not have
            told.seek(0)
            said = told.read().decode(errors="replace")[-500:]
            print(f"{tree.name}: {' '.join(args)}: exit {code}: {said}", file=sys.stderr)
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(code, wall, cpu, usage.ru_maxrss / 1024)  # KiB on Linux


def _medians(trees: list[Tree], args: tuple[str, ...], repeat: int) -> list[Measured]:
    """Each tree's median run, the trees' runs alternating."""
    for tree in trees:
        _run(tree, args)  # unmeasured: the bytecode cache, the file system cache
    runs: list[list[Measured]] = [[] for _ in trees]
    for _ in range(repeat):
        for tree, made in zip(trees, runs, strict=True):
            made.append(_run(tree, args))
    return [
        Measured(
            max(run.code for run in made),
            statistics.median(run.wall for run in made),
            statistics.median(run.cpu for run in made),
            statistics.median(run.peak_mb for run in made),
        )
        for made in runs
    ]


def _row(name: str, measured: list[Measured], target: str) -> str:
    cells = "".join(
        "   (no such command)     "
        if m.code == 2
        else f"{m.wall:>8.3f}{m.cpu:>8.3f}{m.peak_mb:>8.0f} "
        for m in measured
    )
    ratio = ""
    if len(measured) == 2 and 2 not in (measured[0].code, measured[1].code):
        ratio = f"{measured[1].cpu / measured[0].cpu:>6.2f}x"
    return f"{name:<20}{cells}{ratio}  {target}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--stories", type=int, default=12)
    parser.add_argument("--against", help="also run this git revision, alternating")
    options = parser.parse_args()

    server = LocalServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="rasid-cli-") as folder:
            feed_url = _serve(server, options.stories)
            trees = [_working_tree(Path(folder), feed_url)]
            if options.against:
                trees.append(_revision(options.against, Path(folder), feed_url))
            for tree in trees:
                filled = _run(tree, IDLE_RUN)
                print(
                    f"{tree.name}: filled by run --once (exit {filled.code}, "
                    f"{options.stories + 1} articles stored)"
                )
            header = "".join(f"{tree.name[:24]:^25}" for tree in trees)
            columns = "".join(f"{'wall s':>8}{'CPU s':>8}{'peak MB':>8} " for _ in trees)
            ratio = "  CPU ratio" if len(trees) == 2 else ""
            print(f"\n{'':<20}{header}\n{'command':<20}{columns}{ratio}")
            for args in READ_ONLY:
                measured = _medians(trees, args, options.repeat)
                met = "met" if measured[0].wall <= WALL_TARGET else "missed"
                print(_row(" ".join(args), measured, f"<= {WALL_TARGET} s wall: {met}"))
            measured = _medians(trees, IDLE_RUN, options.repeat)
            idle = measured[0]
            cpu_met = "met" if idle.cpu <= CPU_TARGET else "missed"
            rss_met = "met" if idle.peak_mb <= RSS_TARGET_MB else "missed"
            print(
                _row(
                    "run --once (idle)",
                    measured,
                    f"<= {CPU_TARGET} CPU s: {cpu_met}; <= {RSS_TARGET_MB} MB: {rss_met}",
                )
            )
            print("(ratio: the revision's CPU over the working tree's; targets: working tree)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
