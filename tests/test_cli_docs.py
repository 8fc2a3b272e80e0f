"""The command is documented: every command and option explains itself in --help, and
every command is shown in README.md or docs/*.md (as datasette and sqlite-utils test
their own)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from monitor.cli import cli

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _commands(group: click.Group, prefix: str = "rasid") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


COMMANDS = _commands(cli)
DOCS = "\n".join(
    path.read_text(encoding="utf-8")
    for path in [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
)


def test_the_command_tree_is_what_these_tests_walk():
    assert {path for path, _ in COMMANDS} >= {
        "rasid run",
        "rasid status",
        "rasid sources remove",
        "rasid alerts list",
        "rasid watch test",
    }


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_has_a_help_text(path, command):
    assert (command.help or "").strip(), f"`{path}` has no help text"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_option_of_every_command_says_what_it_does(path, command):
    silent = [
        option.opts[0]
        for option in command.params
        if isinstance(option, click.Option) and not option.help
    ]
    assert silent == [], f"`{path}`: options without help"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_is_shown_in_the_readme_or_the_docs(path, command):
    assert f"`{path}" in DOCS or f"\n{path}" in DOCS, f"`{path}` is in no README or docs page"
