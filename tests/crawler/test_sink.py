from __future__ import annotations

from typing import get_args

from crawler.sink import SourceKind
from monitor.config import SourceSettings


def test_a_due_source_has_one_of_the_kinds_settings_accept() -> None:
    accepted = get_args(SourceSettings.model_fields["kind"].annotation)
    assert set(get_args(SourceKind)) == set(accepted)
