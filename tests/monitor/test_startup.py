"""What starting ``rasid`` imports: a read-only command loads none of the heavy libraries
of crawling, fingerprinting and migrating, and ``rasid run`` loads each only when it
first needs it (docs/benchmarks.md, bench/cli_latency.py).

Each check runs in a fresh interpreter: this test process has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "aiohttp",
    "alembic",
    "apscheduler",
    "dateparser",
    "datasketch",
    "feedparser",
    "htmldate",
    "numpy",
    "requests",  # only for webhook and Slack channels, and sources add's discovery
    "scipy",
    "scrapy",
    "tldextract",
    "trafilatura",
    "twisted",
)
READ_ONLY = (
    "monitor.cli",
    "monitor.app",
    "monitor.config",
    "monitor.db.session",
    "monitor.sources",
    "monitor.watchlists",
    "monitor.status",
    "monitor.stories",
    "monitor.frontier",
    "monitor.archive",
    "alerts.outbox",
)


def _loaded_after(code: str, watched: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of ``watched`` are imported once ``code`` has run in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps(sorted(set({watched!r}) & set(sys.modules))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_modules_of_read_only_commands_import_nothing_heavy():
    assert _loaded_after(f"import {', '.join(READ_ONLY)}") == []


def test_the_service_loads_scrapy_and_the_story_index_only_when_it_uses_them():
    assert _loaded_after("import monitor.service") == []


def test_an_up_to_date_database_is_opened_without_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'rasid.db'}"
    create = f"from monitor.db.session import Database\nDatabase({url!r}).migrate()"
    assert "alembic" in _loaded_after(create)

    assert _loaded_after(create) == []


def test_the_crawler_starts_without_its_parsers_or_scrapys_unused_components():
    build = (
        "from scrapy.core.downloader.middleware import DownloaderMiddlewareManager\n"
        "from scrapy.extension import ExtensionManager\n"
        "from scrapy.utils.test import get_crawler\n"
        "from crawler.runner import CrawlerHandle\n"
        "from crawler.settings import scrapy_settings\n"
        "from crawler.spiders.sources import SourceSpider\n"
        "from monitor.config import Settings\n"
        "crawler = get_crawler(SourceSpider, settings_dict=scrapy_settings(Settings()))\n"
        "ExtensionManager.from_crawler(crawler)\n"
        "DownloaderMiddlewareManager.from_crawler(crawler)\n"
    )
    watched = ("aiohttp", "tldextract", "trafilatura", "feedparser", "dateparser", "datasketch")

    assert _loaded_after(build, watched) == []
