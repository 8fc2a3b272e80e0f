"""settings.toml's watchlists apply without a restart; a broken edit keeps the old ones."""

from __future__ import annotations

import os

from monitor.config import load_settings
from monitor.service import Service


def _write(path, database_url, queries):
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[[watchlists]]\nname = "drones"\nqueries = {queries}\n',
        encoding="utf-8",
    )
    # Two writes within one timestamp tick still count as a change (size or ns time).
    stamp = path.stat().st_mtime_ns + 1_000_000
    os.utime(path, ns=(stamp, stamp))


def test_an_edited_watchlist_applies_at_the_next_tick(tmp_path, database_url, clock, caplog):
    config = tmp_path / "settings.toml"
    _write(config, database_url, '["طائرة مسيرة"]')
    service = Service(load_settings(config, env={}), clock=clock)
    try:
        service.prepare()
        _write(config, database_url, '["طائرة مسيرة", "عين الأسد"]')
        service._follow_settings_file(clock.now())
        assert service.watchlists.refresh()
        assert set(service.watchlists.current.by_name["drones"].queries) == {
            "طائرة مسيرة",
            "عين الأسد",
        }

        _write(config, database_url, '["(عين الأسد"]')  # does not compile
        service._follow_settings_file(clock.now())
        assert "the watchlists in use are kept" in caplog.text
        assert not service.watchlists.refresh()
        assert service.watchlists.current.by_name["drones"].queries == (
            "طائرة مسيرة",
            "عين الأسد",
        )
    finally:
        service.close()
