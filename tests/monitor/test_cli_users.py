"""`rasid users`: accounts and tokens from the terminal, as the web page's first step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from monitor.app import App
from monitor.cli import cli
from monitor.config import load_settings

PASSWORD = "a long enough password"


def _config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n' + extra, encoding="utf-8")
    return path


def _invoke(config: Path, *args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=stdin)


def test_users_add_list_role_remove(tmp_path, database_url):
    config = _config(tmp_path, database_url)
    added = _invoke(
        config, "users", "add", "amal", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    assert "added amal (admin)" in added.output
    _invoke(config, "users", "add", "omar", "--password-stdin", stdin=PASSWORD + "\n")
    listed = json.loads(_invoke(config, "users", "list", "--json").output)
    assert [(u["name"], u["role"]) for u in listed] == [("amal", "admin"), ("omar", "viewer")]
    assert "argon2" not in json.dumps(listed)  # no password hash leaves the database
    assert _invoke(config, "users", "role", "omar", "editor").exit_code == 0
    last = _invoke(config, "users", "remove", "amal")
    assert last.exit_code == 1 and "last admin" in last.output
    assert _invoke(config, "users", "remove", "omar").exit_code == 0


def test_a_short_password_is_refused_with_the_rule(tmp_path, database_url):
    config = _config(tmp_path, database_url)
    result = _invoke(config, "users", "add", "amal", "--password-stdin", stdin="short\n")
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output


def test_passwd_and_token_shown_once(tmp_path, database_url):
    config = _config(tmp_path, database_url)
    _invoke(config, "users", "add", "amal", "--password-stdin", stdin=PASSWORD + "\n")
    changed = _invoke(
        config, "users", "passwd", "amal", "--password-stdin", stdin="another long password\n"
    )
    assert changed.exit_code == 0
    made = _invoke(config, "users", "token", "amal", "--label", "feeds")
    assert made.exit_code == 0
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("rsd_")
    with App(load_settings(config, env={})) as app:
        assert app.authenticate("amal", "another long password") is not None
        assert app.user_for_token(secret).name == "amal"
    listed = _invoke(config, "users", "token", "--list")
    assert "feeds" in listed.output and secret not in listed.output
    token_id = listed.output.split("│")[1].strip() if "│" in listed.output else "1"
    assert _invoke(config, "users", "token", "--revoke", token_id).exit_code == 0
    with App(load_settings(config, env={})) as app:
        assert app.user_for_token(secret) is None


def test_users_add_prompts_for_the_password_twice(tmp_path):
    """The real command at a terminal-like stdin: prompt, confirmation, no echo needed."""
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'rasid.db'}")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(config),
            "users",
            "add",
            "amal",
            "--role",
            "admin",
        ],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "added amal (admin)" in result.stdout
