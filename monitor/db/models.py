"""The tables: sources and their polling state, articles and their dedup keys,
watchlists and queries, matches, and the alert outbox.

Every timestamp is stored in UTC and comes back timezone-aware on SQLite and PostgreSQL
alike. The schema is changed only through Alembic migrations (monitor/db/migrations).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy import Table


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the engine keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# An article that still has its text or story signature (monitor.retention prunes
# them); written out as SQL so that the pruner's query and the partial index match.
UNPRUNED = "body <> '' OR summary <> '' OR minhash IS NOT NULL"

# The archive's search index (monitor.archive): an FTS5 virtual table on SQLite, a
# tsvector table on PostgreSQL, so it is created by its migration in raw SQL, not mapped.
SEARCH_TABLE = "article_terms"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}

    if TYPE_CHECKING:
        # Each model maps one Table (none a join or a select), which Core statements
        # take; SQLAlchemy can only promise the wider FromClause.
        __table__: ClassVar[Table]


class Source(Base):
    """A place rasid polls, with the state that decides when and how to poll it next."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="auto")
    # CSS or XPath selector of article links, for kind "html" (crawler/listing.py).
    links: Mapped[str | None] = mapped_column(Text)
    # "settings" rows follow settings.toml at every start; "cli" rows are the user's own.
    origin: Mapped[str] = mapped_column(String(20), default="cli")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    next_poll_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    # The instance (its token, monitor/instances.py) whose poll holds the claim.
    claimed_by: Mapped[str | None] = mapped_column(String(36))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_warning: Mapped[str | None] = mapped_column(Text)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    articles_stored: Mapped[int] = mapped_column(Integer, default=0)
    # Articles whose page gave no text (the feed's summary stood in), and polls whose
    # text looked like mojibake: both shown by `rasid status`.
    extraction_fallbacks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    mojibake_polls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Feed entries with no link, title or summary (nothing to store), and new entries
    # beyond ``crawl.max_new_entries`` in one poll: both dropped, counted, shown.
    entries_unusable: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    entries_over_cap: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Adaptive polling (monitor/polling.py): the interval now in force, unless pinned.
    current_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    interval_pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    obey_robots: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # False: the feed's entry is the article, no page is fetched ([crawl] pages).
    fetch_pages: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Set after too many consecutive failures; polling stops until `rasid sources resume`.
    paused_at: Mapped[datetime | None]
    paused_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    @property
    def interval_now(self) -> timedelta:
        """The interval in force: the adapted one, else the configured start."""
        return timedelta(seconds=self.current_interval_seconds or self.interval_seconds)

    __table_args__ = (Index("ix_sources_due", "enabled", "next_poll_at"),)


class Article(Base):
    """One stored article; its URL is canonical and unique across all sources."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    # Where the body came from: "page" (extracted article page) or "feed" (feed summary).
    extraction: Mapped[str] = mapped_column(String(16), default="page")
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    fetched_at: Mapped[datetime] = mapped_column(index=True)
    # The story: NULL for the article that founded it, else that article's id.
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    # MinHash signature (monitor.stories), so the story index survives restarts.
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)

    source: Mapped[Source | None] = relationship()

    __table_args__ = (
        # Articles whose body retention has not pruned yet (monitor/retention.py): the
        # pruner finds the next old ones without walking all those pruned before.
        Index(
            "ix_articles_unpruned",
            "fetched_at",
            sqlite_where=text(UNPRUNED),
            postgresql_where=text(UNPRUNED),
        ),
    )


class PendingTerms(Base):
    """An article's archive terms waiting to enter the full-text index (monitor.archive).

    Written in the article's own transaction, moved into ``article_terms`` in batches:
    a full-text insert per article costs SQLite FTS5 a segment flush per transaction.
    """

    __tablename__ = "pending_terms"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    terms: Mapped[str] = mapped_column(Text)


class DedupKey(Base):
    """Every identity an article is known by: canonical URL, feed GUID, content hash.

    One probe over all of an article's keys answers "seen before?", and the primary key
    makes a concurrent second insert of the same article fail instead of duplicating it.
    """

    __tablename__ = "dedup_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    # NULL once retention deleted the article: the key stays, so the entry a feed still
    # lists is known (not fetched, stored or alerted again).
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )


class FrontierEntry(Base):
    """A new feed entry whose article is not stored yet (monitor/frontier.py).

    Written in the transaction that records the poll that found it, deleted in the
    transaction that stores its article: between the two, a crash loses nothing. A
    process owns an entry while ``claimed_until`` is in the future; ``attempts`` counts
    the claims, and an entry claimed too often without being stored is ``failed``.
    """

    __tablename__ = "frontier"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    # The entry's first dedup key (monitor.dedup.entry_keys): unique, so two polls (or
    # two instances) that find one entry write one row.
    entry_key: Mapped[str] = mapped_column(String(64), unique=True)
    # The entry's link; None when it has none (its article is stored from the feed).
    url: Mapped[str | None] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    # The entry's full content when the feed carries one besides its summary.
    content: Mapped[str] = mapped_column(Text, default="", server_default="")
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    # The document the entry was found in (a child sitemap is not the source's URL).
    feed_url: Mapped[str] = mapped_column(Text)
    discovered_at: Mapped[datetime]
    # "pending" until stored (the row is then deleted), or "failed" when given up.
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_frontier_due", "state", "claimed_until"),)


class Watchlist(Base):
    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    origin: Mapped[str] = mapped_column(String(20), default="cli")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Words allowed between consecutive words of a plain phrase query.
    slop: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # This watchlist's own synonym groups (lists of words or phrases), added to the
    # groups of [matching] synonyms when its queries are compiled.
    synonyms: Mapped[list[list[str]] | None] = mapped_column(JSON)
    # Not held by a channel's quiet hours.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    queries: Mapped[list[WatchlistQuery]] = relationship(
        back_populates="watchlist",
        cascade="all, delete-orphan",
        order_by="WatchlistQuery.position",
    )
    channels: Mapped[list[WatchlistChannel]] = relationship(
        cascade="all, delete-orphan", order_by="WatchlistChannel.channel"
    )


class WatchlistQuery(Base):
    __tablename__ = "watchlist_queries"

    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)

    watchlist: Mapped[Watchlist] = relationship(back_populates="queries")


class WatchlistChannel(Base):
    """A route: a channel (by name) that a watchlist's alerts go to, and how.

    ``instant`` routes get one alert per match (and, with ``follow_up_seconds``, one
    follow-up when other outlets report a story already alerted); ``digest`` routes get
    every match since the last digest in one message on a cron ``schedule`` read in
    ``time_zone``.
    """

    __tablename__ = "watchlist_channels"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10), default="instant", server_default="instant")
    schedule: Mapped[str | None] = mapped_column(String(100))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    send_empty: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    follow_up_seconds: Mapped[int | None] = mapped_column(Integer)


class DigestMark(Base):
    """Up to when a digest route's matches have been sent (its last fire time).

    The digest for the next fire time and the mark's move to it commit together, so a
    crash sends a digest once or not yet, and a restart finds the fire time it missed.
    """

    __tablename__ = "digest_marks"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_fire_at: Mapped[datetime]


class Match(Base):
    """A watchlist matched an article; ``highlights`` keeps the hits for rendering."""

    __tablename__ = "matches"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), index=True
    )
    highlights: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # False when the article was too old to alert (max_article_age): kept for the record.
    alerted: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    article: Mapped[Article] = relationship()
    watchlist: Mapped[Watchlist] = relationship()

    __table_args__ = (
        UniqueConstraint("article_id", "watchlist_id"),
        # The web page lists matches newest first, overall or per watchlist.
        Index("ix_matches_created", "created_at", "id"),
        Index("ix_matches_watchlist_created", "watchlist_id", "created_at"),
    )


class OutboxAlert(Base):
    """One alert for one channel, written in the same transaction as its match.

    ``alert_id`` is the stable ``webhook-id``: constant across retries so a receiver can
    drop a repeat. A dispatcher owns a row while ``claimed_until`` is in the future and
    may only settle it with the ``lease_token`` it claimed it with.
    """

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64), unique=True)
    # What the payload is: "match" (one match), "digest" or "follow_up" (no one match).
    kind: Mapped[str] = mapped_column(String(12), default="match", server_default="match")
    match_id: Mapped[int | None] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    watchlist_id: Mapped[int | None] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(200))
    # Not held by the channel's quiet hours (an urgent watchlist's alert, a digest).
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # At most one row per key: a digest's (watchlist, channel, fire time), a story's
    # follow-up (story, watchlist, channel).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending -> sent, or pending -> dead (permanent failure or too many attempts)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("match_id", "channel"),
        Index("ix_alert_outbox_due", "status", "next_attempt_at"),
        # Claims walk pending rows in id order (per-channel delivery order).
        Index("ix_alert_outbox_order", "status", "id"),
    )


class ServiceChannel(Base):
    """A delivery channel as the last started ``rasid run`` built it (monitor/status.py).

    ``rasid status`` shows these rather than what its own shell's settings and environment
    would give: a webhook URL set only in the service's environment is active for the
    service. Never a URL or a secret, only whether the channel is on and why not.
    """

    __tablename__ = "service_channels"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean)
    # Why an inactive channel is off, in a few words.
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class Instance(Base):
    """A running ``rasid run`` process, as it last said it was alive (monitor/instances.py).

    Each instance writes its row at start, refreshes ``seen_at`` on a heartbeat and
    deletes it at a clean stop; a row not refreshed for a few heartbeats is an instance
    that died, whose leases the others take over when they run out. ``token`` is the
    lease token the instance claims sources, frontier entries and alerts with, so
    `rasid status` can say what each one holds.
    """

    __tablename__ = "instances"

    token: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    # Set when a stop has begun: it claims nothing more.
    stopping: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Alerts being sent at the last heartbeat (their outbox leases are per claim).
    alerts_in_flight: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class User(Base):
    """A person who signs in to the web page: viewer, editor or admin.

    Only an argon2 hash of the password is kept (monitor/users.py).
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(Text)
    # Shown dates are in this zone; the language of the page ("ar" or "en").
    time_zone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    # Sessions signed before this moment are refused (a changed password logs out).
    password_changed_at: Mapped[datetime]

    tokens: Mapped[list[ApiToken]] = relationship(cascade="all, delete-orphan")


class ApiToken(Base):
    """A token for scripts and feed readers; only its SHA-256 is kept, the token itself
    is shown once when made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the token, shown in lists so a person can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class WebKey(Base):
    """Keys the web page signs with (session cookies), made once and shared through the
    database so that every instance accepts the others' sessions."""

    __tablename__ = "web_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class StoredChannel(Base):
    """A channel an admin added on the web page, beside those of settings.toml.

    Its URL and secret are credentials, kept here because the service needs them to
    deliver and sign; they are never shown again (monitor/channels.py).
    """

    __tablename__ = "stored_channels"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
