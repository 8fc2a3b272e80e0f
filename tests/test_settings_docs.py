"""Every key settings.toml accepts is documented in docs/configuration.md."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from monitor.config import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
# Filled in by rasid, never written in the file.
NOT_FILE_KEYS = {"config_path", "base_dir"}


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    if typing.get_origin(annotation) is not None or isinstance(annotation, types.UnionType):
        for argument in typing.get_args(annotation):
            found.extend(_models_in(argument))
    return found


def settings_keys(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Dotted keys of every table and value (``crawl.timeout``, ``sources.links``)."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        if not prefix and name in NOT_FILE_KEYS:
            continue
        key = field.alias or name
        keys.append(prefix + key)
        for nested in _models_in(field.annotation):
            keys.extend(settings_keys(nested, f"{prefix}{key}."))
    return keys


def test_the_walk_reaches_nested_tables():
    keys = settings_keys()
    assert "crawl.timeout" in keys
    assert "sources.links" in keys
    assert "channels.secret" in keys


def _documented(key: str, text: str, tables: set[str]) -> bool:
    """A table has its ``[name]`` or ``[[name]]`` heading; a value is written as code
    (`` `name` ``) after the heading of the table it belongs to."""
    *parents, name = key.split(".")
    if key in tables:
        return re.search(rf"\[{{1,2}}{re.escape(key)}\]{{1,2}}", text) is not None
    section = text
    if parents:
        heading = re.search(rf"^## `\[{{1,2}}{re.escape(parents[0])}\]{{1,2}}`", text, re.M)
        if heading is None:
            return False
        section = text[heading.end() :].split("\n## ", 1)[0]
    return re.search(rf"`{re.escape(name)}`", section) is not None


def test_every_settings_key_is_in_the_configuration_doc():
    text = DOC.read_text(encoding="utf-8")
    keys = settings_keys()
    tables = {key.rpartition(".")[0] for key in keys if "." in key}
    missing = [key for key in keys if not _documented(key, text, tables)]
    assert missing == []
