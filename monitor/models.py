"""Database tables (SQLModel), shared by SQLite and PostgreSQL.

Types are chosen to suit both: timezone-aware UTC timestamps (SQLite keeps them as naive
UTC and `UTCDateTime` puts the zone back), bytes as LargeBinary, text as Text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary, Text, UniqueConstraint, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from monitor.render import iso_time
from monitor.vocabulary import PAUSE_KINDS, EventKind


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns aware datetimes, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UTCDateTime(), nullable=nullable, index=index)


class Page(SQLModel, table=True):
    """Per-page state that outlives config reloads: validators, failure streaks, claims."""

    id: str = Field(primary_key=True, max_length=100)
    company: str = ""
    url: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    etag: str | None = None
    last_modified: str | None = None
    last_checked_at: datetime | None = Field(default=None, sa_column=_ts())
    last_status: str | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_change_at: datetime | None = Field(default=None, sa_column=_ts())
    # Start of the last check whose fetch got the page (any status but failed): operators
    # alert on its age (monitor.metrics), which last_checked_at cannot tell while a page fails.
    last_success_at: datetime | None = Field(default=None, sa_column=_ts())
    failures: int = 0
    gone: bool = False
    # Soft-failure memory: hash of the text that was seen once but not yet confirmed.
    pending_hash: str | None = None
    # Multi-process coordination (PostgreSQL): who is checking this page, until when.
    claimed_by: str | None = None
    claim_expires: datetime | None = Field(default=None, sa_column=_ts())
    # import-archive's progress, written with each capture it records: captures up to this
    # time are done, and the hash of a text one capture showed that awaits a second one.
    archive_until: datetime | None = Field(default=None, sa_column=_ts())
    archive_pending: str | None = None
    # How the last good check had the page: 'plain' or 'browser'; for `fetch = "auto"` the
    # remembered choice (monitor.fetchmode). None: not yet, or the URL changed since.
    fetch_mode: str | None = Field(default=None, max_length=16)


class RawBody(SQLModel, table=True):
    """A fetched response body, zlib-compressed, stored once per content hash."""

    __tablename__ = "raw_body"
    hash: str = Field(primary_key=True, max_length=64)
    content_type: str = ""
    size: int = 0
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


# Snapshots recorded from web-archive captures. They come before the page's live snapshots in
# time whatever their ids (an import may run after live checks began), so a page's latest
# snapshot is its newest live one, and only without any its newest archived one.
ARCHIVE = "archive"
_LIVE = text("origin <> 'archive'")


class Snapshot(SQLModel, table=True):
    __table_args__ = (
        Index("ix_snapshot_page_id_id", "page_id", "id"),
        # The latest live snapshot of a page in one index lookup (the query must spell the condition alike).
        Index("ix_snapshot_live", "page_id", "id", sqlite_where=_LIVE, postgresql_where=_LIVE),
    )
    id: int | None = Field(default=None, primary_key=True)
    page_id: str = Field(foreign_key="page.id", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    text_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    raw_hash: str | None = Field(default=None, foreign_key="raw_body.hash", max_length=64)
    # Hash of the extraction settings that produced `text`; a match lets an unchanged raw
    # body skip extraction entirely.
    extract_sig: str = Field(default="", max_length=64)
    # 'fetch' for a fetched version, 'reextract' for a new baseline after a selector change,
    # 'archive' for a web-archive capture (import-archive).
    origin: str = Field(default="fetch", max_length=16)
    # Version of the classifier rules that produced this snapshot's `statement` rows (None: never
    # computed); a rule change makes the rows stale and they are recomputed without events.
    statements_sig: str | None = Field(default=None, max_length=16)
    # Provenance of an archived version: the capture's address in the archive.
    source: str | None = Field(default=None, sa_column=Column(Text))
    # 'plain' (the HTTP body) or 'browser' (the DOM after the page's scripts ran).
    fetch_mode: str = Field(default="plain", max_length=16, sa_column_kwargs={"server_default": "plain"})
    # The address the raw body came from (after redirects): what its relative links resolve
    # against when `reextract` re-derives the text (document links, monitor.documents).
    url: str | None = Field(default=None, sa_column=Column(Text))


class Check(SQLModel, table=True):
    __table_args__ = (Index("ix_check_page_id_id", "page_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    page_id: str = Field(foreign_key="page.id", max_length=100)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=_ts())
    # baseline | unchanged | not_modified | changed | unconfirmed | failed
    status: str = Field(max_length=20)
    http_status: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    duration_ms: int = 0
    snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id")
    worker: str | None = None


class Change(SQLModel, table=True):
    # One successor per snapshot: two racing writers can never both record a change from it.
    __table_args__ = (Index("uq_change_previous_snapshot", "previous_snapshot_id", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    page_id: str = Field(foreign_key="page.id", max_length=100, index=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", unique=True)
    previous_snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id")
    detected_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    added: int = 0
    removed: int = 0
    first_line: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Event(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("change_id", "kind", "jurisdiction", name="uq_event_change_kind_jurisdiction"),
        # The report's per-company and per-jurisdiction feeds: their latest entries and their counts.
        Index("ix_event_company_id", "company", "id"),
        Index("ix_event_jurisdiction_id", "jurisdiction", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    page_id: str = Field(foreign_key="page.id", max_length=100, index=True)
    change_id: int | None = Field(default=None, foreign_key="change.id", index=True)
    company: str = ""
    url: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    kind: str = Field(max_length=20, index=True)
    jurisdiction: str | None = Field(default=None, max_length=8)
    quote: str | None = Field(default=None, sa_column=Column(Text))
    evidence: str | None = None
    rule: str | None = None
    detected_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id")
    previous_snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id")
    # Typed events: the heading or sentence that named the jurisdiction, when the quote does not.
    context: str | None = Field(default=None, sa_column=Column(Text))
    # `changed` events: JSON list of the added ("+ ...") and removed ("- ...") sentences about
    # government data requests.
    relevant: str | None = Field(default=None, sa_column=Column(Text))

    @property
    def relevant_sentences(self) -> list[str]:
        import json

        try:
            found = json.loads(self.relevant) if self.relevant else []
        except ValueError:
            return []
        return [str(item) for item in found] if isinstance(found, list) else []
    # 'fetch' for a live check, 'archive' for import-archive (detected_at is then the capture's
    # time, and source the capture's address).
    origin: str = Field(default="fetch", max_length=16, sa_column_kwargs={"server_default": "fetch"})
    source: str | None = Field(default=None, sa_column=Column(Text))

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.id,
            "page": self.page_id,
            "company": self.company,
            "url": self.url,
            "kind": self.kind,
            "jurisdiction": self.jurisdiction,
            "quote": self.quote,
            "detected_at": iso_time(self.detected_at),
            "snapshot": self.snapshot_id,
            "previous_snapshot": self.previous_snapshot_id,
        }
        if self.evidence:
            data["evidence"] = self.evidence
        if self.rule:
            data["rule"] = self.rule
        if self.kind in PAUSE_KINDS:
            data["context"] = self.context
        if self.kind == EventKind.CHANGED:
            data["relevant"] = self.relevant_sentences
        if self.origin == ARCHIVE:
            data["origin"] = self.origin
            data["source"] = self.source
        return data


class Statement(SQLModel, table=True):
    """What a snapshot's text says about one jurisdiction (None: unspecified): the status board is the
    latest snapshot's rows. `since_*` carry over from the previous snapshot while the state holds."""

    __tablename__ = "statement"
    __table_args__ = (Index("ix_statement_snapshot_id", "snapshot_id"),)
    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id")
    page_id: str = Field(foreign_key="page.id", max_length=100)
    jurisdiction: str | None = Field(default=None, max_length=8)
    state: str = Field(max_length=12)  # paused | lifted | unspecified (a statement that was removed)
    quote: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    context: str | None = Field(default=None, sa_column=Column(Text))
    rule: str | None = Field(default=None, max_length=40)
    evidence: str = Field(default="stated", max_length=20)  # stated | statement_removed
    position: int = 0  # sentence number in the text, for ordering
    since_at: datetime = Field(sa_column=_ts(nullable=False))
    since_event_id: int | None = Field(default=None, foreign_key="event.id")
    since_snapshot_id: int | None = Field(default=None, foreign_key="snapshot.id")
    since_baseline: bool = False  # true: said so at the page's first check (no event made it so)


class Delivery(SQLModel, table=True):
    """The outbox: one row per (event, sink), written with the event, drained by the deliverer."""

    __table_args__ = (
        UniqueConstraint("event_id", "sink", name="uq_delivery_event_sink"),
        Index("ix_delivery_status_next", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id")
    sink: str = Field(max_length=100)
    status: str = Field(default="pending", max_length=10)  # pending | sending | sent | failed
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    claimed_by: str | None = None
    claim_expires: datetime | None = Field(default=None, sa_column=_ts())


class Worker(SQLModel, table=True):
    """A running `run` process (host:pid), heartbeating, so operators see who shares the database."""

    name: str = Field(primary_key=True, max_length=200)
    host: str = ""
    pid: int = 0
    started_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    checks: int = 0
