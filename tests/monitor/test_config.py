from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_settings, parse_duration, parse_size, settings_from_mapping
from monitor.errors import ConfigError
from monitor.netguard import NetworkPolicy, parse_network
from tests.support.cli import run_rasid

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, text), env=env or {})
    return str(caught.value)


def test_bundled_settings_are_valid_without_any_environment():
    settings = load_settings(PROJECT_ROOT / "settings.toml", env={})

    assert len(settings.sources) >= 5
    assert {w.name for w in settings.watchlists} == {"drones", "ain-al-asad"}
    assert [c.name for c in settings.channels if c.active] == ["console"]


def test_bundled_settings_switch_slack_on_from_the_environment():
    settings = load_settings(
        PROJECT_ROOT / "settings.toml",
        env={"RASID_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X"},
    )

    assert {c.name for c in settings.channels if c.active} == {"console", "slack"}


def test_relative_sqlite_path_is_relative_to_the_settings_file(tmp_path):
    settings = load_settings(_write(tmp_path, '[database]\nurl = "sqlite:///data/r.db"\n'), env={})

    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'r.db'}"


def test_error_names_file_key_and_expectation(tmp_path):
    message = _error(tmp_path, '[alerts]\nmax_article_age = "two days"\n')

    assert "settings.toml" in message
    assert "alerts.max_article_age" in message
    assert 'expected a duration such as "30s"' in message


def test_unknown_key_suggests_the_right_one(tmp_path):
    message = _error(
        tmp_path, '[[sources]]\nname = "a"\nurl = "https://a.example/rss"\nintervall = "5m"\n'
    )

    assert 'sources[0] ("a").intervall' in message
    assert 'did you mean "interval"' in message


def test_toml_syntax_error_gives_line_and_column(tmp_path):
    message = _error(tmp_path, "[crawl\nx = 1\n")

    assert "not valid TOML" in message
    assert "line 1" in message


def test_missing_environment_variable_is_named(tmp_path):
    message = _error(
        tmp_path,
        '[[channels]]\nname = "ops"\nkind = "webhook"\nurl = "https://h.example/x"\n'
        'secret = "${RASID_WEBHOOK_SECRET}"\n',
    )

    assert "channels[0].secret" in message
    assert "RASID_WEBHOOK_SECRET is not set" in message


def test_environment_variable_fills_a_value(tmp_path):
    path = _write(tmp_path, '[database]\nurl = "${DB_URL}"\n')

    settings = load_settings(path, env={"DB_URL": "postgresql+psycopg://u@h/db"})

    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_malformed_webhook_secret_is_refused_when_the_channel_is_built(tmp_path):
    from alerts.channels import build_channels
    from monitor.clock import SystemClock
    from monitor.netguard import NetworkPolicy

    settings = load_settings(
        _write(
            tmp_path,
            '[[channels]]\nname = "ops"\nkind = "webhook"\nurl = "https://h.example/x"\n'
            'secret = "hunter2"\n',
        ),
        env={},
    )
    with pytest.raises(ConfigError) as caught:
        build_channels(settings, NetworkPolicy(), SystemClock())

    message = str(caught.value)
    assert 'channels[0] ("ops").secret' in message
    assert "whsec_" in message
    assert str(tmp_path / "settings.toml") in message


def test_watchlist_naming_an_undefined_channel_is_refused(tmp_path):
    message = _error(
        tmp_path, '[[watchlists]]\nname = "w"\nqueries = ["داعش"]\nchannels = ["nope"]\n'
    )

    assert "channel 'nope'" in message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("500ms", 0.5),
        (30, 30),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_sizes():
    assert parse_size("10MiB") == 10 * 1024 * 1024
    assert parse_size("1MB") == 1_000_000
    with pytest.raises(ValueError, match="expected a size"):
        parse_size("big")


# -- one located line per bad value, never a traceback -------------------------------

PRIVATE = (
    "is a private, loopback or reserved address (add its range to crawl.allowed_networks, "
    "or set crawl.allow_private_networks = true, to allow it)"
)


def _problem(tmp_path: Path, text: str) -> str:
    """The one problem line of the ConfigError for ``text``, after checking its header."""
    message = _error(tmp_path, text)
    header, *problems = message.split("\n")
    assert header == f"{tmp_path / 'settings.toml'}: invalid settings"
    assert len(problems) == 1, message
    return problems[0].strip()


def _source(url: str, crawl: str = "") -> str:
    return f'[crawl]\n{crawl}\n[[sources]]\nname = "a"\nurl = {url}\n'


def _webhook(url: str, crawl: str = "") -> str:
    return f'[crawl]\n{crawl}\n[[channels]]\nname = "ops"\nkind = "webhook"\nurl = {url}\n'


def test_a_list_where_a_source_url_belongs_is_named(tmp_path):
    problem = _problem(tmp_path, _source('["http://a"]'))

    assert problem == (
        'sources[0] ("a").url: expected a URL such as "https://example.com/feed.xml", '
        'got ["http://a"]'
    )


def test_a_list_where_a_webhook_url_belongs_is_named(tmp_path):
    problem = _problem(tmp_path, _webhook('["http://a"]'))

    assert problem == (
        'channels[0] ("ops").url: expected a URL such as "https://example.com/feed.xml", '
        'got ["http://a"]'
    )


def test_a_number_where_a_url_belongs_is_named_through_a_mapping():
    raw = {"sources": [{"name": "a", "url": 5}]}

    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(raw, Path("settings.toml"), {})

    assert str(caught.value) == (
        "settings.toml: invalid settings\n"
        '  sources[0] ("a").url: expected a URL such as "https://example.com/feed.xml", got 5'
    )


def test_an_empty_source_url_is_refused(tmp_path):
    problem = _problem(tmp_path, _source('"${FEED_URL:-}"'))

    assert problem == (
        'sources[0] ("a").url: expected a URL such as "https://example.com/feed.xml", got ""'
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not http or https"),
        ("ftp://news.example/feed", "scheme 'ftp' is not http or https"),
        ("data:text/xml,<rss/>", "scheme 'data' is not http or https"),
        ("s3://bucket/feed.xml", "scheme 's3' is not http or https"),
        ("javascript:alert(1)", "scheme 'javascript' is not http or https"),
        ("http://[::ffff:127.0.0.1]/feed", f"::ffff:7f00:1 {PRIVATE}"),
        ("http://2130706433/feed", f"127.0.0.1 {PRIVATE}"),
        ("http://0x7f.1/feed", f"127.0.0.1 {PRIVATE}"),
        ("http://127.1/feed", f"127.0.0.1 {PRIVATE}"),
        ("http://[::127.0.0.1]/feed", f"::7f00:1 {PRIVATE}"),
        ("http://a@127.0.0.1/feed", "credentials in URLs are not allowed"),
        ("https://user:pw@news.example/feed", "credentials in URLs are not allowed"),
        ("http://169.254.169.254:8888\\@news.example/", "backslashes are not allowed"),
        ("http://news.example:0/feed", "port 0"),
    ],
)
def test_a_source_url_the_guard_refuses_is_refused_at_load(tmp_path, url, reason):
    quoted = url.replace("\\", "\\\\")

    problem = _problem(tmp_path, _source(f'"{quoted}"'))

    assert problem == f'sources[0] ("a").url: refused: {reason}'


def test_a_metadata_source_is_refused_even_with_private_networks_allowed(tmp_path):
    """Scenario 45."""
    text = _source('"http://169.254.169.254/latest/meta-data/"', "allow_private_networks = true")

    assert _problem(tmp_path, text) == (
        'sources[0] ("a").url: refused: 169.254.169.254 is a cloud metadata address '
        "(list 169.254.169.254 itself in crawl.allowed_networks to allow it)"
    )


def test_a_metadata_source_listed_by_itself_is_allowed(tmp_path):
    text = _source(
        '"http://169.254.169.254/latest/meta-data/"', 'allowed_networks = ["169.254.169.254"]'
    )

    settings = load_settings(_write(tmp_path, text), env={})

    assert settings.sources[0].url == "http://169.254.169.254/latest/meta-data/"


def test_a_loopback_webhook_is_refused_at_load_without_showing_its_path(tmp_path):
    """Scenario 7: the path of a webhook URL is a credential."""
    problem = _problem(tmp_path, _webhook('"http://127.0.0.1:9000/hooks/T0KEN"'))

    assert problem == f'channels[0] ("ops").url: refused: 127.0.0.1 {PRIVATE}'


def test_an_unset_optional_webhook_url_switches_the_channel_off(tmp_path):
    settings = load_settings(_write(tmp_path, _webhook('"${HOOK_URL:-}"')), env={})

    assert [channel.active for channel in settings.channels] == [False]


def test_private_networks_allowed_let_a_loopback_source_load(tmp_path):
    text = _source('"http://127.0.0.1:8080/feed"', "allow_private_networks = true")

    assert load_settings(_write(tmp_path, text), env={}).sources[0].url.startswith("http://127")


def test_allowed_networks_let_only_their_ranges_load(tmp_path):
    crawl = 'allowed_networks = ["10.20.0.0/16", "fd12::/16"]'
    load_settings(_write(tmp_path, _source('"http://10.20.3.4/feed"', crawl)), env={})

    problem = _problem(tmp_path, _source('"http://10.21.3.4/feed"', crawl))

    assert problem == f'sources[0] ("a").url: refused: 10.21.3.4 {PRIVATE}'


def test_host_names_are_not_resolved_at_load(tmp_path):
    text = _source('"https://feeds.rasid-test.invalid/rss"')

    assert load_settings(_write(tmp_path, text), env={}).sources[0].url.endswith("/rss")


def test_an_invalid_address_range_is_located(tmp_path):
    problem = _problem(tmp_path, '[crawl]\nallowed_networks = ["10.20.0.0/33"]\n')

    assert problem == (
        'crawl.allowed_networks: expected an address range such as "10.20.0.0/16" or '
        '"fd12::/16", got "10.20.0.0/33"'
    )


def test_an_address_range_with_bits_after_its_prefix_suggests_the_network(tmp_path):
    problem = _problem(tmp_path, '[crawl]\nallowed_networks = ["10.20.1.0/16"]\n')

    assert problem.endswith(
        'got "10.20.1.0/16": bits are set after the prefix (did you mean 10.20.0.0/16?)'
    )


def test_a_single_range_where_a_list_belongs_is_located(tmp_path):
    problem = _problem(tmp_path, '[crawl]\nallowed_networks = "10.0.0.0/8"\n')

    assert problem == (
        "crawl.allowed_networks: expected a list of address ranges such as "
        '["10.20.0.0/16", "fd12::/16"], got "10.0.0.0/8"'
    )


def test_the_crawl_table_builds_the_network_policy(tmp_path):
    text = '[crawl]\nallow_private_networks = true\nallowed_networks = ["169.254.169.254"]\n'

    policy = load_settings(_write(tmp_path, text), env={}).crawl.network_policy

    assert policy == NetworkPolicy(True, (parse_network("169.254.169.254/32"),))


def test_a_quoted_boolean_is_refused(tmp_path):
    problem = _problem(tmp_path, '[crawl]\nallow_private_networks = "yes"\n')

    assert problem == (
        "crawl.allow_private_networks: expected true or false (a TOML boolean, without "
        'quotes), got "yes"'
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[crawl]\nobey_robots = 0\n", "crawl.obey_robots"),
        ('[crawl]\nautothrottle = "off"\n', "crawl.autothrottle"),
        (_source('"https://news.example/rss"') + "enabled = 1\n", 'sources[0] ("a").enabled'),
        (_source('"https://news.example/rss"') + 'robots = "no"\n', 'sources[0] ("a").robots'),
        ('[[channels]]\nname = "c"\nkind = "console"\nenabled = "false"\n', "channels[0]"),
        ('[[watchlists]]\nname = "w"\nqueries = ["x"]\nenabled = "true"\n', "watchlists[0]"),
    ],
)
def test_every_boolean_setting_wants_a_toml_boolean(tmp_path, text, key):
    problem = _problem(tmp_path, text)

    assert problem.startswith(key)
    assert "expected true or false (a TOML boolean, without quotes), got " in problem


def test_a_zero_poll_tick_is_refused(tmp_path):
    problem = _problem(tmp_path, '[crawl]\npoll_tick = "0s"\n')

    assert problem == (
        'crawl.poll_tick: expected a duration longer than 0, such as "30s", "10m" or "2h", got "0s"'
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[crawl]\ntimeout = 0\n", "crawl.timeout"),
        ('[crawl]\ndefault_interval = "0m"\n', "crawl.default_interval"),
        ('[crawl]\nmin_interval = "0s"\n', "crawl.min_interval"),
        ('[crawl]\nmax_interval = "0s"\n', "crawl.max_interval"),
        ('[crawl]\nerror_backoff_max = "0h"\n', "crawl.error_backoff_max"),
        ('[crawl]\nrobots_cache = "0s"\n', "crawl.robots_cache"),
        ('[alerts]\ntimeout = "0s"\n', "alerts.timeout"),
        ('[alerts]\ndispatch_interval = "0ms"\n', "alerts.dispatch_interval"),
        ('[alerts]\nmax_article_age = "0h"\n', "alerts.max_article_age"),
        ('[stories]\nwindow = "0d"\n', "stories.window"),
        (_source('"https://news.example/rss"') + 'interval = "0s"\n', 'sources[0] ("a").interval'),
        (_webhook('"https://hooks.example/x"') + 'timeout = "0s"\n', 'channels[0] ("ops").timeout'),
    ],
)
def test_a_zero_duration_is_refused_where_a_positive_one_is_needed(tmp_path, text, key):
    problem = _problem(tmp_path, text)

    assert problem.startswith(f"{key}: expected a duration longer than 0")


def test_a_zero_download_delay_means_no_delay(tmp_path):
    settings = load_settings(_write(tmp_path, '[crawl]\ndownload_delay = "0s"\n'), env={})

    assert settings.crawl.download_delay == timedelta(0)


def test_a_negative_duration_is_refused(tmp_path):
    problem = _problem(tmp_path, "[crawl]\npoll_tick = -5\n")

    assert problem == "crawl.poll_tick: a duration cannot be negative, got -5"


def test_a_duration_too_long_to_use_is_refused(tmp_path):
    problem = _problem(tmp_path, '[crawl]\ntimeout = "99999999999999d"\n')

    assert problem == 'crawl.timeout: a duration this long cannot be used, got "99999999999999d"'


def test_a_zero_response_size_is_refused(tmp_path):
    problem = _problem(tmp_path, '[crawl]\nmax_response_size = "0MB"\n')

    assert problem == (
        'crawl.max_response_size: expected a size such as "10MB" or "15MiB", got "0MB"'
    )


def test_a_table_where_the_sources_list_belongs_says_how_to_write_it(tmp_path):
    problem = _problem(tmp_path, '[sources]\nname = "a"\n')

    assert problem == (
        'sources: Input should be a valid list, got { name = "a" } '
        "(write [[sources]], with double brackets, before each entry)"
    )


def test_a_string_where_a_table_belongs_is_located(tmp_path):
    assert _problem(tmp_path, 'crawl = "fast"\n') == 'crawl: expected a table of keys, got "fast"'


def test_a_fraction_where_a_whole_number_belongs_is_located(tmp_path):
    problem = _problem(tmp_path, "[crawl]\nmax_redirects = 2.5\n")

    assert problem == (
        "crawl.max_redirects: Input should be a valid integer, got a number with a "
        "fractional part: 2.5"
    )


def test_a_channel_timeout_is_read_as_a_duration(tmp_path):
    text = _webhook('"https://hooks.example/x"') + 'timeout = "30s"\n'

    settings = load_settings(_write(tmp_path, text), env={})

    assert settings.channels[0].timeout == timedelta(seconds=30)


def test_the_cli_shows_a_bad_url_value_on_stderr_and_exits_2(tmp_path):
    config = _write(tmp_path, _source('["http://a"]'))

    result = run_rasid(config, "status")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: {config}: invalid settings",
        '  sources[0] ("a").url: expected a URL such as "https://example.com/feed.xml", '
        'got ["http://a"]',
    ]


def test_the_cli_names_a_database_folder_it_cannot_create(tmp_path):
    """Scenario 44: a file stands where the database's folder should be."""
    (tmp_path / "blocker").write_text("", encoding="utf-8")
    config = _write(tmp_path, '[database]\nurl = "sqlite:///blocker/data/rasid.db"\n')

    result = run_rasid(config, "status")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    folder = tmp_path.resolve() / "blocker" / "data"
    assert result.stderr.strip() == (
        f"error: database.url: cannot create the folder '{folder}' for the SQLite database "
        "(Not a directory)"
    )
