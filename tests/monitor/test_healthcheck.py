"""The image's health probe asks the address the settings listen on, and reads the answer.

(The probe against a running `rasid run` from the installed wheel is in
tests/test_deploy.py.)
"""

from __future__ import annotations

import pytest

from monitor.config import WebSettings
from monitor.healthcheck import check, main, probe_url
from tests.support.http import Reply, local_server


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080/healthz"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz"),
        ("[::]:9000", "http://[::1]:9000/healthz"),
        ("[::1]:9000", "http://[::1]:9000/healthz"),
        ("10.20.0.5:8080", "http://10.20.0.5:8080/healthz"),
    ],
)
def test_the_probe_asks_where_the_service_listens(listen, url):
    assert probe_url(WebSettings(listen=listen), "/healthz") == url


def test_a_200_answer_is_healthy():
    with local_server() as server:
        server.route("/healthz", Reply(200, '{"status":"ok"}'))

        assert check(server.url("/healthz")) == (True, '200 {"status":"ok"}')


def test_a_503_answer_is_unhealthy_and_says_what_was_not_ready():
    body = '{"status":"not ready","checks":{"database":"unreachable"}}'
    with local_server() as server:
        server.route("/readyz", Reply(503, body))

        assert check(server.url("/readyz")) == (False, f"503 {body}")


def test_no_answer_is_unhealthy():
    with local_server() as server:
        url = server.url("/healthz")
    healthy, answer = check(url)

    assert not healthy
    assert answer.startswith("no answer: ")


def test_the_probe_ignores_the_environments_proxy(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9/")
    with local_server() as server:
        server.route("/healthz", Reply(200, "ok"))

        assert check(server.url("/healthz"))[0]


def _settings(tmp_path, web: str):
    path = tmp_path / "settings.toml"
    path.write_text(f'[database]\nurl = "sqlite:///rasid.db"\n[web]\n{web}\n', encoding="utf-8")
    return str(path)


def test_the_probe_reads_the_service_settings_and_exits_0_when_healthy(tmp_path, capsys):
    with local_server() as server:
        server.route("/healthz", Reply(200, "ok"))
        config = _settings(tmp_path, f'listen = "127.0.0.1:{server.port}"')

        assert main(["--config", config]) == 0
    assert capsys.readouterr().out.startswith("healthy: ")


def test_the_probe_exits_1_when_nothing_answers(tmp_path, capsys):
    with local_server() as server:
        config = _settings(tmp_path, f'listen = "127.0.0.1:{server.port}"')

    assert main(["--config", config]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: ")


def test_settings_that_do_not_load_are_unhealthy_not_a_usage_error(tmp_path, capsys):
    # Docker reserves exit status 2; a service cannot run on these settings anyway.
    config = _settings(tmp_path, 'listen = "nowhere"')

    assert main(["--config", config]) == 1
    assert "unhealthy:" in capsys.readouterr().err


def test_with_the_web_page_off_there_is_nothing_to_ask(tmp_path, capsys):
    assert main(["--config", _settings(tmp_path, "enabled = false")]) == 0
    assert "no health endpoint" in capsys.readouterr().out
