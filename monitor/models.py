"""Database tables (SQLModel), shared by SQLite and PostgreSQL.

Types are chosen to suit both: timezone-aware UTC timestamps (SQLite keeps them as naive
UTC and `UTCDateTime` puts the zone back), bytes as LargeBinary, text as Text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


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
    failures: int = 0
    gone: bool = False
    # Soft-failure memory: hash of the text that was seen once but not yet confirmed.
    pending_hash: str | None = None
    # Multi-process coordination (PostgreSQL): who is checking this page, until when.
    claimed_by: str | None = None
    claim_expires: datetime | None = Field(default=None, sa_column=_ts())


class RawBody(SQLModel, table=True):
    """A fetched response body, zlib-compressed, stored once per content hash."""

    __tablename__ = "raw_body"
    hash: str = Field(primary_key=True, max_length=64)
    content_type: str = ""
    size: int = 0
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class Snapshot(SQLModel, table=True):
    __table_args__ = (Index("ix_snapshot_page_id_id", "page_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    page_id: str = Field(foreign_key="page.id", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    text_hash: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    raw_hash: str | None = Field(default=None, foreign_key="raw_body.hash", max_length=64)
    # Hash of the extraction settings that produced `text`; a match lets an unchanged raw
    # body skip extraction entirely.
    extract_sig: str = Field(default="", max_length=64)
    # 'fetch' for a fetched version, 'reextract' for a new baseline after a selector change.
    origin: str = Field(default="fetch", max_length=16)
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

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.id,
            "page": self.page_id,
            "company": self.company,
            "url": self.url,
            "kind": self.kind,
            "jurisdiction": self.jurisdiction,
            "quote": self.quote,
            "detected_at": self.detected_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "snapshot": self.snapshot_id,
            "previous_snapshot": self.previous_snapshot_id,
        }
        if self.evidence:
            data["evidence"] = self.evidence
        if self.rule:
            data["rule"] = self.rule
        return data


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
