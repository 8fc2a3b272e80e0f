"""The rasid command's front door: exit codes, messages, and the CRUD subcommands."""

from __future__ import annotations

import json
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
