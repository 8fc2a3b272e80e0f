"""Each watchlist's recent matches as an Atom 1.0 feed, as Google Alerts offers.

``GET /feeds/<watchlist>.atom?token=rsd_…``: feed readers cannot send headers, so the
API token of a viewer (or higher) comes as a query parameter; without a valid one the
answer is 401. A token in an ``Authorization`` or ``X-Auth-Token`` header also works, and
a person signed in to the page opens it from there.

Guarantees:

* Every string from a feed (a title, a snippet, a source's name) is XML text, escaped by
  the serializer: a title ``<img src=x onerror=…>`` reaches the reader as those
  characters, never as markup. Characters XML 1.0 cannot carry are dropped.
* A link is an article's only when it is http or https; any other scheme (javascript:,
  data:) is left out.
* The token never appears in the feed (its self link is written without it).
* Ids are ``tag:`` URIs (RFC 4151) made of the watchlist's name and the match's id, so a
  reader shows each match once however often it polls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from monitor.web.auth import AuthError, visitor_of
from monitor.web.context import context_of
from monitor.web.pages import safe_link

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.users import UserInfo

router = APIRouter(include_in_schema=False)

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50
TAG_AUTHORITY = "tag:rasid,2025:"
# Characters XML 1.0 forbids (C0 controls but tab, newline, return; surrogates; FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FeedEntry:
    """One match as a feed shows it."""

    match_id: int
    title: str
    url: str | None
    source: str | None
    updated: datetime
    published: datetime | None
    summary: str


def xml_text(value: str | None) -> str:
    """``value`` without the characters XML 1.0 cannot carry (escaping is the
    serializer's)."""
    return _NOT_XML.sub("", value or "")


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def render_feed(watchlist: str, entries: list[FeedEntry], *, site: str, now: datetime) -> bytes:
    """The Atom document for ``watchlist``'s ``entries`` (newest first); ``site`` is the
    site's base URL, for the links back to rasid's page."""
    base = site.rstrip("/")
    name = quote(watchlist, safe="")
    feed = Element("feed", {"xmlns": ATOM, "xml:lang": "ar"})
    SubElement(feed, "id").text = f"{TAG_AUTHORITY}watchlist/{name}"
    SubElement(feed, "title").text = xml_text(f"rasid: {watchlist}")
    SubElement(feed, "subtitle").text = xml_text(f"What the watchlist {watchlist} matched")
    newest = max((entry.updated for entry in entries), default=now)
    SubElement(feed, "updated").text = _stamp(newest)
    SubElement(feed, "link", {"rel": "self", "href": f"{base}/feeds/{name}.atom"})
    SubElement(
        feed,
        "link",
        {"rel": "alternate", "type": "text/html", "href": f"{base}/matches?watchlist={name}"},
    )
    author = SubElement(feed, "author")
    SubElement(author, "name").text = "rasid"
    SubElement(feed, "generator").text = "rasid"
    for entry in entries:
        item = SubElement(feed, "entry")
        SubElement(item, "id").text = f"{TAG_AUTHORITY}watchlist/{name}/match/{entry.match_id}"
        SubElement(item, "title", {"type": "text"}).text = xml_text(entry.title)
        link = safe_link(entry.url)
        if link is not None:
            SubElement(item, "link", {"rel": "alternate", "href": xml_text(link)})
        SubElement(item, "updated").text = _stamp(entry.updated)
        if entry.published is not None:
            SubElement(item, "published").text = _stamp(entry.published)
        if entry.source:
            source_author = SubElement(item, "author")
            SubElement(source_author, "name").text = xml_text(entry.source)
        SubElement(item, "summary", {"type": "text"}).text = xml_text(entry.summary)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(
        feed, encoding="utf-8", xml_declaration=False
    )


def feed_entries(app: App, watchlist: str) -> list[FeedEntry]:
    """The watchlist's newest matches as feed entries."""
    page = app.list_matches(watchlist=watchlist, limit=FEED_SIZE)
    return [
        FeedEntry(
            match_id=view.id,
            title=view.title_text,
            url=view.url,
            source=view.source,
            updated=view.created_at,
            published=view.published_at,
            summary="".join(run.text for run in view.snippet),
        )
        for view in page.items
    ]


def _reader(request: Request, token: str | None) -> UserInfo:
    """The token's user when it may read (a viewer or higher); else 401. A person
    signed in to the page may open the feed from it without a token (a GET reads only)."""
    user = context_of(request).app.user_for_token(token) if token else visitor_of(request).user
    if user is None:
        raise AuthError(
            401,
            "invalid_token" if token else "no_token",
            "a feed needs an API token: /feeds/NAME.atom?token=… (see `rasid users token`)",
        )
    if not user.can("viewer"):
        raise AuthError(403, "forbidden", "this token's user cannot read feeds")
    return user


@router.get("/feeds/{watchlist}.atom")
def watchlist_feed(
    request: Request,
    watchlist: str = Path(min_length=1, max_length=200),
    token: str | None = Query(None, max_length=200),
) -> Response:
    """The watchlist's newest matches as Atom."""
    _reader(request, token)
    context = context_of(request)
    app = context.app
    info = app.get_watchlist(watchlist)  # NotFound: 404
    entries = feed_entries(app, info.name)
    site = f"{request.url.scheme}://{request.url.netloc}"
    body = render_feed(info.name, entries, site=site, now=context.clock.now())
    return Response(
        body,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": "private, max-age=60"},
    )
