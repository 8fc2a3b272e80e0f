"""Channels added on the web page, beside those of settings.toml.

settings.toml's channels are edited in the file; an admin adds others from the page
(kind, URL, signing secret), kept in the database: a webhook, Slack, or an Apprise or
email channel (its URL an Apprise URL, with the kind's default template). Both kinds are one list of
:class:`~monitor.config.ChannelSettings` for everything downstream (the dispatcher, the
ingest's routing, status): :func:`with_stored` folds the stored ones into a Settings.

Guarantees:

* A stored channel passes the checks a settings.toml channel does, when it is saved:
  the URL through the network guard of ``[crawl]`` (an Apprise URL by its form and host,
  and by Apprise), the secret as a ``whsec_`` key, a name no settings channel uses.
* Its URL and secret are never returned to a front door: :class:`ChannelInfo` has
  neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import ChannelSettings, Settings, apprise_url_problem
from monitor.db.models import StoredChannel
from monitor.errors import Conflict, InvalidRequest, NotFound

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KINDS = ("webhook", "slack", "apprise", "email")
StoredKind = Literal["webhook", "slack", "apprise", "email"]
_KIND_OF: dict[str, StoredKind] = {
    "webhook": "webhook",
    "slack": "slack",
    "apprise": "apprise",
    "email": "email",
}


@dataclass(frozen=True)
class ChannelInfo:
    """A channel as a person sees it: never its URL or secret."""

    name: str
    kind: str
    enabled: bool
    origin: str  # "settings" or "web"
    signed: bool


def stored_channels(session: Session) -> list[ChannelSettings]:
    rows = session.scalars(select(StoredChannel).order_by(StoredChannel.name))
    return [
        ChannelSettings(
            name=row.name,
            kind=_KIND_OF.get(row.kind, "webhook"),
            url=row.url,
            secret=row.secret,
            enabled=row.enabled,
        )
        for row in rows
    ]


def signature(session: Session) -> tuple[object, ...]:
    """Changes when a stored channel is added, changed or removed (cheap to ask)."""
    return tuple(
        session.execute(
            select(func.count(StoredChannel.name), func.max(StoredChannel.updated_at))
        ).one()
    )


def with_stored(settings: Settings, stored: list[ChannelSettings]) -> Settings:
    """``settings`` whose channels are the file's and the stored ones."""
    if not stored:
        return settings
    return settings.model_copy(update={"channels": [*settings.channels, *stored]})


def describe(file_settings: Settings, stored: list[ChannelSettings]) -> list[ChannelInfo]:
    infos = [
        ChannelInfo(c.name, c.kind, c.active, "settings", bool(c.secret))
        for c in file_settings.channels
    ]
    infos += [ChannelInfo(c.name, c.kind, c.active, "web", bool(c.secret)) for c in stored]
    return infos


def add_channel(
    session: Session,
    settings: Settings,
    *,
    name: str,
    kind: str,
    url: str,
    secret: str | None,
    now: datetime,
) -> ChannelInfo:
    """Store a new channel, checked as settings.toml's channels are at load."""
    from alerts.signing import decode_secret

    if not _NAME.match(name):
        raise InvalidRequest(
            f"a channel's name is lower-case letters, digits, '.', '_' or '-', not {name!r}"
        )
    if kind not in KINDS:
        raise InvalidRequest(f"a channel's kind is webhook, slack, apprise or email, not {kind!r}")
    if any(channel.name == name for channel in settings.channels):
        raise Conflict(f"channel {name!r} is defined in settings.toml")
    if session.get(StoredChannel, name) is not None:
        raise Conflict(f"a channel named {name!r} exists already")
    url = url.strip()
    policy = settings.crawl.network_policy
    if kind in ("apprise", "email"):
        problem = apprise_url_problem(url, kind, policy) or _apprise_problem(url, kind)
    else:
        problem = policy.url_problem(url)
    if problem is not None:
        raise InvalidRequest(f"refused URL: {problem}")
    secret = (secret or "").strip() or None
    if secret is not None:
        if kind != "webhook":
            raise InvalidRequest("only a webhook channel is signed; leave the secret empty")
        try:
            decode_secret(secret)
        except ValueError as exc:
            raise InvalidRequest(f"secret: {exc}") from None
    session.add(
        StoredChannel(
            name=name,
            kind=kind,
            url=url,
            secret=secret,
            enabled=True,
            created_at=now,
            updated_at=now,
        )
    )
    return ChannelInfo(name, kind, True, "web", secret is not None)


def _apprise_problem(url: str, kind: str) -> str | None:
    """Whether Apprise can use the URL: loaded only when such a channel is added."""
    from alerts.channels.apprise import apprise_url_problem as apprise_problem

    return apprise_problem(url, kind)


def remove_channel(session: Session, settings: Settings, name: str) -> None:
    """Delete a stored channel; its undelivered alerts wait (held) until a channel of
    that name exists again, as for a channel removed from settings.toml."""
    row = session.get(StoredChannel, name)
    if row is None:
        if any(channel.name == name for channel in settings.channels):
            raise Conflict(f"channel {name!r} is defined in settings.toml; remove it there")
        raise NotFound(f"no channel named {name!r}")
    session.delete(row)
