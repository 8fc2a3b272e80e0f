"""The rasid command's front door: exit codes, messages, and the CRUD subcommands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli
from tests.support.cli import run_rasid

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        '[[watchlists]]\nname = "drones"\nqueries = ["طائرة مسيرة"]\n' + extra,
        encoding="utf-8",
    )
    return path


def _invoke(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_bad_settings_exit_2_with_one_clear_message_and_no_traceback(tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text('[crawl]\ntimeout = "soon"\n', encoding="utf-8")

    result = run_rasid(config, "status")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(config) in result.stderr
    assert "crawl.timeout" in result.stderr
    assert "expected a duration" in result.stderr


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path):
    # Port 9 on 127.0.0.1 (discard): nothing listens, the connection is refused.
    config = _config(tmp_path, "postgresql+psycopg://rasid@127.0.0.1:9/rasid")

    result = run_rasid(config, "status")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: cannot open the database postgresql+psycopg://rasid@127.0.0.1:9/rasid" in (
        result.stderr
    )
    assert "PostgreSQL refuses connections" in result.stderr


def test_missing_settings_file_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.toml"), "status"])

    assert result.exit_code == 2
    assert "settings file not found" in result.output


def test_config_can_come_from_rasid_config(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = CliRunner().invoke(cli, ["watch", "list", "--json"], env={"RASID_CONFIG": str(config)})

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["name"] == "drones"


def test_watch_add_list_remove(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    added = _invoke(config, "watch", "add", "militias", "الحشد الشعبي", "كتائب حزب الله")
    listed = json.loads(_invoke(config, "watch", "list", "--json").output)
    removed = _invoke(config, "watch", "remove", "militias")
    after = json.loads(_invoke(config, "watch", "list", "--json").output)

    assert added.exit_code == 0, added.output
    assert {"drones", "militias"} == {w["name"] for w in listed}
    militias = next(w for w in listed if w["name"] == "militias")
    assert militias["queries"] == ["الحشد الشعبي", "كتائب حزب الله"]
    assert removed.exit_code == 0
    assert [w["name"] for w in after] == ["drones"]


def test_watchlist_from_settings_cannot_be_removed_from_the_cli(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = _invoke(config, "watch", "remove", "drones")

    assert result.exit_code == 1
    assert "defined in" in result.output


def test_empty_query_is_refused_with_exit_2(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = _invoke(config, "watch", "add", "punct", "...")

    assert result.exit_code == 2


def test_sources_add_and_list(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    added = _invoke(
        config,
        "sources",
        "add",
        "https://news.example/rss.xml",
        "--name",
        "example",
        "--interval",
        "15m",
    )
    listed = json.loads(_invoke(config, "sources", "list", "--json").output)

    assert added.exit_code == 0, added.output
    assert listed[0]["name"] == "example"
    assert listed[0]["interval"] == 900


def test_sources_add_refuses_private_addresses(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = _invoke(
        config, "sources", "add", "http://169.254.169.254/latest/meta-data/", "--name", "meta"
    )

    assert result.exit_code == 1
    assert "169.254.169.254" in result.output


def test_status_lists_sources_never_polled(tmp_path, database_url):
    config = _config(
        tmp_path,
        database_url,
        '[[sources]]\nname = "bbc"\nurl = "https://feeds.bbci.co.uk/arabic/rss.xml"\n',
    )

    result = _invoke(config, "status")

    assert result.exit_code == 0, result.output
    assert "bbc" in result.output
    assert "never polled" in result.output


def _json(result) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _unwrapped(text: str) -> str:
    """A table's cells as one line: rich wraps them to the width of a non-terminal."""
    return re.sub(r"[\s│┃]+", " ", text)


SOURCES = (
    '[[sources]]\nname = "bbc"\nurl = "https://feeds.bbci.co.uk/arabic/rss.xml"\n'
    '[[sources]]\nname = "aljazeera"\nurl = "https://www.aljazeera.net/aljazeerarss"\n'
)


def test_status_on_a_fresh_database_counts_every_source_of_the_settings(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)

    report = _json(run_rasid(config, "status", "--json"))

    assert sorted(source["name"] for source in report["sources"]) == ["aljazeera", "bbc"]
    assert {source["result"] for source in report["sources"]} == {"never polled"}


def test_status_says_when_no_service_recorded_its_channels_and_shows_the_settings(
    tmp_path, database_url
):
    config = _config(tmp_path, database_url)

    report = _json(run_rasid(config, "status", "--json"))
    shown = run_rasid(config, "status").stdout

    assert report["channels"] == [
        {"name": "console", "kind": "console", "active": True, "reason": None}
    ]
    assert report["channels_recorded_at"] is None
    assert "no `rasid run` has recorded its channels yet" in report["channels_note"]
    assert "no `rasid run` has recorded its channels yet" in _unwrapped(shown)


HOOK = '[[channels]]\nname = "hook"\nkind = "webhook"\nurl = "${RASID_TEST_HOOK_URL:-}"\n'


def test_status_shows_the_channels_the_service_started_with_not_the_shells(tmp_path, database_url):
    from monitor.config import load_settings
    from monitor.service import Service

    config = _config(tmp_path, database_url, HOOK)
    hook = "https://hooks.example/secret-path"
    service = Service(load_settings(config, env={"RASID_TEST_HOOK_URL": hook}))
    service.prepare()
    service.close()

    result = run_rasid(config, "status", "--json")  # a shell without RASID_TEST_HOOK_URL

    report = _json(result)
    assert report["channels"] == [
        {"name": "hook", "kind": "webhook", "active": True, "reason": None}
    ]
    assert report["channels_recorded_at"] is not None and report["channels_note"] is None
    assert "hooks.example" not in result.stdout and "secret-path" not in result.stdout


def test_a_channel_without_its_url_is_shown_off_with_the_reason(tmp_path, database_url):
    config = _config(tmp_path, database_url, HOOK)

    shown = _unwrapped(run_rasid(config, "status").stdout)

    assert "hook (webhook, off: no URL set" in shown


def test_a_paused_source_is_shown_paused_by_status_and_sources_list(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)

    paused = run_rasid(config, "sources", "pause", "bbc")
    status = _unwrapped(run_rasid(config, "status").stdout)
    listed = _unwrapped(run_rasid(config, "sources", "list").stdout)
    as_json = _json(run_rasid(config, "sources", "list", "--json"))

    assert paused.returncode == 0, paused.stderr
    assert "bbc - paused 0 - paused by hand" in status
    assert "resume with: rasid sources resume bbc" in status
    assert "bbc paused" in listed and "aljazeera active" in listed
    assert {row["name"]: row["state"] for row in as_json} == {
        "aljazeera": "active",
        "bbc": "paused",
    }


def test_sources_resume_all_resumes_every_paused_source(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)
    run_rasid(config, "sources", "pause", "bbc")
    run_rasid(config, "sources", "pause", "aljazeera")

    result = run_rasid(config, "sources", "resume", "--all")

    assert result.returncode == 0, result.stderr
    assert "resumed 2 sources: aljazeera, bbc" in result.stdout
    states = {row["state"] for row in _json(run_rasid(config, "sources", "list", "--json"))}
    assert states == {"active"}


def test_sources_resume_wants_either_a_name_or_all(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)

    neither = run_rasid(config, "sources", "resume")
    both = run_rasid(config, "sources", "resume", "bbc", "--all")

    assert neither.returncode == both.returncode == 2
    assert "give either a source NAME or --all" in neither.stderr


def test_pausing_an_unknown_source_names_the_sources_there_are(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)

    result = run_rasid(config, "sources", "pause", "bbc-arabic")

    assert result.returncode == 1
    assert "no source named 'bbc-arabic' (sources: aljazeera, bbc)" in result.stderr
    assert "Traceback" not in result.stderr


def test_sources_remove_deletes_a_source_added_by_hand(tmp_path, database_url):
    config = _config(tmp_path, database_url)
    added = run_rasid(
        config, "sources", "add", "https://news.example/rss.xml", "--name", "example", "--no-check"
    )

    removed = run_rasid(config, "sources", "remove", "example")

    assert added.returncode == 0, added.stderr
    assert removed.returncode == 0, removed.stderr
    assert _json(run_rasid(config, "sources", "list", "--json")) == []


def test_sources_remove_of_a_source_from_the_settings_says_to_edit_the_file(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)

    result = run_rasid(config, "sources", "remove", "bbc")

    assert result.returncode == 1
    assert f"source 'bbc' is defined in {config}; remove it from that file" in result.stderr
    assert len(_json(run_rasid(config, "sources", "list", "--json"))) == 2


LOCAL = "[crawl]\nallow_private_networks = true\n"


def test_sources_add_refuses_a_url_already_polled_before_fetching_it(
    tmp_path, database_url, server
):
    feed = server.url("/feed.xml")
    config = _config(tmp_path, database_url, f'{LOCAL}[[sources]]\nname = "site"\nurl = "{feed}"\n')
    respelled = feed.replace("http://", "HTTP://") + "?utm_source=newsletter#top"

    result = run_rasid(config, "sources", "add", respelled, "--name", "copy")

    assert result.returncode == 1
    assert f"source 'site' already polls {feed}" in result.stderr
    assert server.requests == []


def test_sources_add_refuses_a_name_already_used(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)

    result = run_rasid(
        config, "sources", "add", "https://news.example/rss.xml", "--name", "bbc", "--no-check"
    )

    assert result.returncode == 1
    assert "a source named 'bbc' already exists" in result.stderr


def test_sources_add_refuses_a_name_that_is_not_a_slug(tmp_path, database_url, server):
    config = _config(tmp_path, database_url, LOCAL)

    result = run_rasid(config, "sources", "add", server.url("/feed.xml"), "--name", "BBC Arabic")

    assert result.returncode == 1
    assert "a source name is a slug of lowercase letters, digits, '-' and '_'" in result.stderr
    assert server.requests == []


def test_sources_add_refuses_an_interval_below_the_minimum(tmp_path, database_url, server):
    config = _config(tmp_path, database_url, LOCAL + 'min_interval = "5m"\n')

    result = run_rasid(
        config, "sources", "add", server.url("/feed.xml"), "--name", "fast", "--interval", "1m"
    )

    assert result.returncode == 1
    assert "an interval of 1m is below crawl.min_interval (5m)" in result.stderr
    assert server.requests == []


def test_alerts_retry_of_an_unknown_id_says_so_and_queues_nothing(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = run_rasid(config, "alerts", "retry", "42")

    assert result.returncode == 1
    assert "no alert has id 42" in result.stderr and "nothing was queued" in result.stderr


def test_frontier_retry_of_an_unknown_id_says_so_and_queues_nothing(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = run_rasid(config, "frontier", "retry", "7")

    assert result.returncode == 1
    assert "no entry has id 7" in result.stderr and "nothing was queued" in result.stderr


def test_alerts_list_on_an_empty_outbox_says_there_are_none(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    shown = run_rasid(config, "alerts", "list", "--dead")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "no dead alerts"
    assert _json(run_rasid(config, "alerts", "list", "--json")) == []


NEGATED = '-"احتجاج" طائرة'


def test_a_query_starting_with_a_dash_is_a_query_not_an_option(tmp_path, database_url):
    config = _config(tmp_path, database_url)
    text = "أسقطت الدفاعات طائرة فوق المدينة"

    after_separator = run_rasid(config, "watch", "test", "--text", text, "--", NEGATED)
    plain = run_rasid(config, "watch", "test", NEGATED, "--text", text)
    added = run_rasid(config, "watch", "add", "planes", "--", NEGATED)

    assert after_separator.returncode == plain.returncode == 0, after_separator.stderr
    assert added.returncode == 0, added.stderr
    listed = _json(run_rasid(config, "watch", "list", "--json"))
    assert next(w for w in listed if w["name"] == "planes")["queries"] == [NEGATED]


def test_a_query_of_only_a_negation_is_refused_by_the_parser_with_exit_2(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    tested = run_rasid(config, "watch", "test", "--text", "x", "--", "-foo")
    added = run_rasid(config, "watch", "add", "neg", "-x")

    assert tested.returncode == added.returncode == 2
    assert "nothing to look for" in tested.stderr and "nothing to look for" in added.stderr
    assert "No such option" not in tested.stderr + added.stderr


def test_watch_test_shows_the_text_and_what_matched(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = run_rasid(config, "watch", "test", "طائرة مسيرة", "--text", "أسقطت بطائرتين مسيرتين")
    missed = run_rasid(config, "watch", "test", "طائرة مسيرة", "--text", "ارتفعت أسعار النفط")

    assert result.returncode == 0
    assert result.stdout.splitlines() == ["أسقطت بطائرتين مسيرتين", "1 match: بطائرتين مسيرتين"]
    assert missed.returncode == 1 and missed.stdout.splitlines()[-1] == "no match"


def test_watch_test_json_is_one_object_with_the_hits(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    result = run_rasid(
        config,
        "watch",
        "test",
        "طائرة مسيرة",
        "--title",
        "عاجل",
        "--text",
        "أسقطت بطائرتين مسيرتين",
        "--json",
    )

    assert json.loads(result.stdout) == {
        "query": "طائرة مسيرة",
        "matched": True,
        "hits": [{"field": "body", "start": 6, "end": 22, "text": "بطائرتين مسيرتين"}],
        "texts": {"title": "عاجل", "body": "أسقطت بطائرتين مسيرتين"},
    }


LISTS = (
    ("sources", "list"),
    ("watch", "list"),
    ("stories",),
    ("alerts", "list"),
    ("frontier", "list"),
)


def test_json_output_is_one_indented_document_with_arabic_as_it_is(tmp_path, database_url):
    config = _config(tmp_path, database_url, SOURCES)

    documents = {args: run_rasid(config, *args, "--json") for args in (("status",), *LISTS)}

    for args, result in documents.items():
        assert result.returncode == 0, (args, result.stderr)
        expected = dict if args == ("status",) else list
        assert isinstance(json.loads(result.stdout), expected), args
    assert documents["watch", "list"].stdout.startswith('[\n  {\n    "id": ')
    assert '"طائرة مسيرة"' in documents["watch", "list"].stdout
    polled = json.loads(documents["status",].stdout)["sources"][0]["next_poll_at"]
    assert datetime.fromisoformat(polled).utcoffset() == timedelta(0)


HEAVY = ("monitor.service", "scrapy", "twisted", "datasketch", "alembic")


def test_read_only_commands_load_neither_the_crawler_the_story_index_nor_alembic(
    tmp_path, database_url
):
    config = _config(tmp_path, database_url, SOURCES)
    assert run_rasid(config, "status").returncode == 0  # the first one migrates

    for args in (("status",), *LISTS):
        result = _with_import_times(config, *args)
        loaded = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert loaded.isdisjoint(HEAVY), (args, sorted(loaded & set(HEAVY)))


def _with_import_times(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, with Python's report of every module it imported on stderr."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "monitor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
