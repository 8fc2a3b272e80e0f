"""Packages import one way: the floor, then crawler/ and alerts/, then monitor's rooms.

floor      monitor.errors, clock, config, db, netguard, guarded_http, sdnotify: no other layer
pure       monitor.arabic, monitor.matching: text in, text out; the floor at most
crawler    crawler/: itself and the floor
alerts     alerts/: itself and the floor
composing  every other monitor module (ingest, sources, service, status, app, cli...):
           anything

Every import counts, at module level, inside a function or under TYPE_CHECKING: a lazy
import is still an edge. A failure names the file, the line and the broken edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("crawler", "monitor", "alerts")
FLOOR = (
    "monitor.errors",
    "monitor.clock",
    "monitor.config",
    "monitor.db",
    "monitor.netguard",
    "monitor.guarded_http",  # the network guard's own HTTP client, for alerts and discovery
    "monitor.sdnotify",  # telling systemd the service is ready, alive, reloading, stopping
)
PURE = ("monitor.arabic", "monitor.matching")
MAY_IMPORT = {
    "floor": {"floor"},
    "pure": {"floor", "pure"},
    "crawler": {"floor", "crawler"},
    "alerts": {"floor", "alerts"},
    "composing": {"floor", "pure", "crawler", "alerts", "composing"},
}


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def layer_of(module: str) -> str | None:
    """The layer of a rasid module, or None for anything outside rasid."""
    if _within(module, FLOOR):
        return "floor"
    if _within(module, PURE):
        return "pure"
    top = module.split(".")[0]
    if top in ("crawler", "alerts"):
        return top
    if top == "monitor":
        # "monitor" itself (from monitor import x) is resolved by the imported name.
        return "composing"
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, relative imports resolved, and
    ``from package import name`` read as ``package.name`` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                file = root / Path(*candidate.split("."))
                is_module = file.is_dir() or file.with_suffix(".py").is_file()
                found.append((node.lineno, candidate if is_module else base))
    return found


def broken_edges(root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic's revisions describe the schema, not the code's layers
            source = _module_name(path, root)
            source_layer = layer_of(source)
            assert source_layer is not None
            for line, target in imported_modules(path, root):
                target_layer = layer_of(target)
                if target_layer is None or target_layer in MAY_IMPORT[source_layer]:
                    continue
                where = path.relative_to(root).as_posix()
                problems.append(
                    f"{where}:{line}: {source} ({source_layer}) imports {target} ({target_layer})"
                )
    return problems


def test_packages_import_only_in_the_allowed_direction():
    assert broken_edges() == []


def test_every_module_has_a_layer():
    assert layer_of("monitor.db.session") == "floor"
    assert layer_of("monitor.matching.index") == "pure"
    assert layer_of("crawler.spiders.sources") == "crawler"
    assert layer_of("alerts.channels.slack") == "alerts"
    assert layer_of("monitor.service") == "composing"
    assert layer_of("scrapy") is None


def test_a_lazy_import_against_the_direction_is_caught(tmp_path):
    # The check must see imports inside functions, not only at the top of a module.
    (tmp_path / "monitor").mkdir()
    (tmp_path / "monitor" / "ingest.py").write_text("", encoding="utf-8")
    (tmp_path / "monitor" / "errors.py").write_text("", encoding="utf-8")
    (tmp_path / "crawler").mkdir()
    (tmp_path / "crawler" / "probe.py").write_text(
        "def f():\n    from monitor import ingest\n", encoding="utf-8"
    )
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "probe.py").write_text(
        "from monitor import errors\nfrom crawler.probe import f\n", encoding="utf-8"
    )

    assert broken_edges(tmp_path) == [
        "crawler/probe.py:2: crawler.probe (crawler) imports monitor.ingest (composing)",
        "alerts/probe.py:2: alerts.probe (alerts) imports crawler.probe (crawler)",
    ]
