"""The web page's defences (shared/RELIABILITY.md scenarios 37-40, section 6): sign-in,
roles, CSRF, the Host allow-list, safe redirects, throttling, and no secret on a page."""

from __future__ import annotations

import re

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.web.auth import LoginThrottle, safe_next
from monitor.web.server import check_listen
from tests.web.conftest import PASSWORD, csrf_of, settings_text

PAGES = ["/matches", "/watchlists", "/search", "/sources", "/alerts", "/channels", "/account"]


def test_with_no_user_loopback_visitors_are_the_local_admin(sqlite_site):
    client = sqlite_site.client()
    page = client.get("/sources")
    assert page.status_code == 200
    assert "rasid users add" in page.text  # the banner says how to require sign-in


def test_once_a_user_exists_every_page_asks_to_sign_in(sqlite_site):
    sqlite_site.add_user("amal", "admin")
    client = sqlite_site.client()
    for path in [*PAGES, "/users"]:
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")


def test_a_wrong_password_is_refused_and_a_right_one_signs_in(sqlite_site):
    sqlite_site.add_user("amal", "viewer")
    client = sqlite_site.client()
    token = csrf_of(client, "/login")
    wrong = client.post("/login", data={"name": "amal", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    assert "rasid_session" not in wrong.headers.get("set-cookie", "") or "amal" not in wrong.text
    right = client.post("/login", data={"name": "amal", "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/alerts").status_code == 200


def test_login_next_stays_on_the_site(sqlite_site):
    """Scenario 40: ?next=https://evil.test (and its disguises) lands on rasid."""
    sqlite_site.add_user("amal", "viewer")
    for target in ["https://evil.test/", "//evil.test/", "/\\evil.test", "https:evil.test"]:
        client = sqlite_site.client()
        token = csrf_of(client, f"/login?next={target}")
        answer = client.post(
            "/login",
            data={"name": "amal", "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/", target
    assert safe_next("/watchlists?x=1") == "/watchlists?x=1"


def test_sign_in_is_throttled_after_repeated_failures(sqlite_site):
    sqlite_site.add_user("amal", "viewer")
    client = sqlite_site.client()
    token = csrf_of(client, "/login")
    codes = [
        client.post(
            "/login", data={"name": "amal", "password": "wrong", "csrf_token": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    # Even the right password waits out the window: guessing gets no faster.
    late = client.post("/login", data={"name": "amal", "password": PASSWORD, "csrf_token": token})
    assert late.status_code == 429


def test_the_throttle_forgets_failures_after_its_window():
    throttle = LoginThrottle(limit=2, window=60)
    throttle.failed("amal", "10.0.0.1", 0)
    throttle.failed("amal", "10.0.0.1", 1)
    assert throttle.wait("amal", "10.0.0.2", 2) == pytest.approx(58)
    assert throttle.wait("amal", "10.0.0.2", 61) == 0


def test_a_post_without_the_csrf_token_changes_nothing(sqlite_site):
    """Scenario 38: a form posted from elsewhere, with the victim's cookie, is refused."""
    client = sqlite_site.signed_in("amal", "admin")
    answer = client.post(
        "/users/add", data={"name": "mallory", "role": "admin", "password": PASSWORD}
    )
    assert answer.status_code == 403
    assert [user.name for user in sqlite_site.app.list_users()] == ["amal"]


def test_a_cross_site_origin_is_refused_even_with_the_token(sqlite_site):
    client = sqlite_site.signed_in("amal", "admin")
    token = csrf_of(client, "/users")
    answer = client.post(
        "/users/add",
        data={"name": "mallory", "role": "admin", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://evil.test"},
    )
    assert answer.status_code == 403
    assert [user.name for user in sqlite_site.app.list_users()] == ["amal"]


def test_mutations_are_never_done_by_get(sqlite_site):
    client = sqlite_site.signed_in("amal", "admin")
    for path in ["/users/add", "/alerts/retry", "/logout", "/sources/x/pause"]:
        assert client.get(path).status_code in (404, 405), path


def test_an_unknown_host_is_refused(sqlite_site):
    """DNS rebinding: a page on loopback reached through evil.test answers nothing."""
    client = sqlite_site.client(host="evil.test")
    answer = client.get("/login")
    assert answer.status_code == 400
    assert "allowed_hosts" in answer.text


def test_a_viewer_cannot_do_what_needs_an_admin(sqlite_site):
    sqlite_site.add_user("boss", "admin")
    client = sqlite_site.signed_in("reader", "viewer")
    assert client.get("/users").status_code == 403
    token = csrf_of(client, "/sources")
    answer = client.post(
        "/users/add",
        data={"name": "x", "role": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 403
    assert len(sqlite_site.app.list_users()) == 2


def test_a_changed_password_ends_the_other_sessions(sqlite_site, clock):
    client = sqlite_site.signed_in("amal", "viewer")
    assert client.get("/alerts").status_code == 200
    clock.advance(5)
    sqlite_site.app.set_password("amal", "another long password")
    assert client.get("/alerts").status_code == 303


def test_no_secret_reaches_a_page(sqlite_site):
    """Scenario 39: the channel's webhook URL and signing secret are credentials."""
    client = sqlite_site.signed_in("amal", "admin")
    for path in [*PAGES, "/users"]:
        text = client.get(path).text
        assert "sekr1tpath" not in text, path
        assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in text, path
        assert "$argon2" not in text, path


def test_pages_carry_a_strict_content_security_policy(sqlite_site):
    answer = sqlite_site.client().get("/login")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert not re.search(r"<script>(?!</script>)", answer.text)  # no inline script


def test_listening_beyond_loopback_needs_a_user_first(tmp_path):
    """Scenario 37: the refusal names the setting and the command that fixes it."""
    config = tmp_path / "settings.toml"
    config.write_text(
        settings_text(f"sqlite:///{tmp_path / 'r.db'}", '[web]\nlisten = "0.0.0.0:8080"\n'),
        encoding="utf-8",
    )
    settings = load_settings(config, env={})
    with pytest.raises(ConfigError, match=r"\[web\] listen.*rasid users add"):
        check_listen(settings, users=0)
    with pytest.raises(ConfigError, match="allowed_hosts"):
        check_listen(settings, users=1)
    config.write_text(
        settings_text(
            f"sqlite:///{tmp_path / 'r.db'}",
            '[web]\nlisten = "0.0.0.0:8080"\nallowed_hosts = ["rasid.example.org"]\n',
        ),
        encoding="utf-8",
    )
    check_listen(load_settings(config, env={}), users=1)


def test_loopback_listening_needs_no_user(tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text(settings_text(f"sqlite:///{tmp_path / 'r.db'}"), encoding="utf-8")
    check_listen(load_settings(config, env={}), users=0)
