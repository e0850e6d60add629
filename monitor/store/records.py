"""The records `check` and the store share: what a check hands to `Store.record` (CheckRecord,
Version, EventDraft, Said), what it reads first (PageState) and gets back (Recorded), and the
shapes of a few reads (ArchiveState, EventQuery, SnapshotRow). Plain dataclasses: building one
needs no database.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.models import Event
from monitor.vocabulary import CheckStatus

# Check statuses whose fetch got the page: they move `page.last_success_at`.
FETCHED = frozenset({CheckStatus.BASELINE, CheckStatus.UNCHANGED, CheckStatus.NOT_MODIFIED, CheckStatus.CHANGED,
                     CheckStatus.UNCONFIRMED, CheckStatus.RACED})


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Version:
    """A new normalized text (and the raw body it came from) to store as a snapshot."""

    text: str
    text_hash: str
    extract_sig: str
    raw: bytes | None = None
    raw_hash: str | None = None
    content_type: str = ""
    origin: str = "fetch"
    fetch_mode: str = "plain"  # plain | browser
    url: str | None = None  # where the raw body came from (after redirects)


@dataclass
class EventDraft:
    kind: str
    jurisdiction: str | None = None
    quote: str | None = None
    evidence: str | None = None
    rule: str | None = None
    context: str | None = None
    relevant: list[str] | None = None  # `changed` events: "+ ..." / "- ..." sentences


@dataclass(frozen=True)
class Said:
    """What a new snapshot's text says about one jurisdiction (None: unspecified)."""

    state: str  # paused | lifted
    jurisdiction: str | None
    quote: str
    context: str | None
    rule: str
    position: int


@dataclass
class CheckRecord:
    """Everything one check produced, handed to `Store.record` in one piece."""

    page_id: str
    company: str
    url: str
    status: str
    started_at: datetime
    finished_at: datetime
    http_status: int | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    version: Version | None = None
    # The snapshot the check compared against; recording fails over if another writer moved it.
    previous_snapshot_id: int | None = None
    added: int = 0
    removed: int = 0
    first_line: str = ""
    events: list[EventDraft] = field(default_factory=list)
    sinks: Sequence[Any] = ()  # AlertSink-like: .key and .wants(kind)
    failures: int = 0
    gone: bool = False
    pending_hash: str | None = None
    keep_validators: bool = False
    # What the new version's text says (with `version`); None leaves the statements alone.
    said: list[Said] | None = None
    said_sig: str = ""
    # 'archive': a capture of import-archive. It extends the page's archived history (whose
    # head is previous_snapshot_id), keeps the live page state as it is, writes no check row,
    # and moves the import's progress mark to started_at (the capture's time).
    origin: str = "fetch"
    source: str | None = None  # provenance: the capture's address
    # A change to a snapshot recorded before (the first live one) rather than to `version`.
    to_snapshot_id: int | None = None
    fetch_mode: str | None = None  # how the page was had (remembered unless the check failed)


@dataclass
class Recorded:
    check_id: int | None  # None for an archived capture
    snapshot_id: int | None = None
    change_id: int | None = None
    event_ids: list[int] = field(default_factory=list)
    raced: bool = False


@dataclass
class PageState:
    """What the database knows of a page before a check (the defaults: a page never checked)."""

    page_id: str
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    gone: bool = False
    pending_hash: str | None = None
    last_checked_at: datetime | None = None
    snapshot_id: int | None = None
    text_hash: str | None = None
    raw_hash: str | None = None
    extract_sig: str | None = None
    fetch_mode: str | None = None
    url: str | None = None  # of the latest snapshot's raw body


@dataclass
class ArchiveState:
    """Where a page's archived history stands, for import-archive.

    `state` is the head of the archived history as check_page reads a page's state (no
    validators, no failure streak: those belong to the live page)."""

    state: PageState
    until: datetime | None = None  # captures up to this time are done
    head_at: datetime | None = None
    head_linked: bool = False  # a later snapshot already follows the head: the history is closed
    first_live_id: int | None = None
    first_live_at: datetime | None = None
    first_live_linked: bool = False  # the first live snapshot already has a predecessor


@dataclass(frozen=True)
class EventQuery:
    """Which events (all by default): of some companies, a jurisdiction, some kinds, a page."""

    companies: tuple[str, ...] = ()
    jurisdiction: str | None = None
    kinds: tuple[str, ...] = ()
    page_id: str | None = None

    def where(self) -> list[Any]:
        conditions: list[Any] = []
        if self.companies:
            conditions.append(Event.company.in_(self.companies))  # type: ignore[attr-defined]
        if self.jurisdiction is not None:
            conditions.append(Event.jurisdiction == self.jurisdiction)
        if self.kinds:
            conditions.append(Event.kind.in_(self.kinds))  # type: ignore[attr-defined]
        if self.page_id is not None:
            conditions.append(Event.page_id == self.page_id)
        return conditions


@dataclass(frozen=True)
class SnapshotRow:
    """A snapshot as the report lists it: no text, and the change that led to it (if any)."""

    id: int
    created_at: datetime
    origin: str
    lines: int
    change_id: int | None
    added: int | None
    removed: int | None
    source: str | None = None  # an archived snapshot's capture address
