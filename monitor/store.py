"""The record stage and the read queries: everything that touches the database.

One check's outcome (raw body, snapshot, check row, change, events, outbox rows, page
state) is written in ONE transaction by `Store.record`, so a crash at any moment leaves
either all of it or none of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, literal_column, or_, update
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine, select

from monitor.errors import StoreError
from monitor.models import ARCHIVE, Change, Check, Delivery, Event, Page, RawBody, Snapshot, Statement, Worker, utcnow
from monitor.redact import redact_database_url

log = logging.getLogger(__name__)


# zlib level of stored raw bodies: level 1 costs a fifth of level 6's CPU for bodies a few
# percent larger (HTML compresses well either way); reading does not depend on the level.
RAW_COMPRESSION = 1


# Check statuses whose fetch got the page: they move `page.last_success_at`.
FETCHED = frozenset({"baseline", "unchanged", "not_modified", "changed", "unconfirmed", "raced"})


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


def _sqlite_setup(engine: Engine) -> None:
    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions start (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception as exc:  # read-only file systems cannot switch; reads still work
            log.warning("could not enable WAL: %s", exc)
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers serialize instead of
        # failing at commit with "database is locked" after doing their work.
        # Straight to the driver: a full SQLAlchemy execution here cost 5 % of a 304 check.
        # Its errors ("database is locked") are wrapped as SQLAlchemy would have.
        try:
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from None


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Every transaction here ends in an explicit COMMIT or ROLLBACK by its Connection (which
        # also rolls back one left open); the pool's extra rollback at every check-in cost a
        # quarter of a small transaction's CPU.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_reset_on_return=None)
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


class Store:
    def __init__(self, url: str, *, migrate: bool = True):
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        # Another page (another process) may store the same body at the same time: no conflict.
        self._raw_insert = self._insert(RawBody.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        from monitor.migrate import MigrationError, upgrade

        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise StoreError(f"cannot prepare database {redact_database_url(self.url)}: {exc.orig}"
                             f"{_space_hint(self.url)}") from None
        except MigrationError as exc:
            raise StoreError(f"{redact_database_url(self.url)}: {exc}") from None

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: Any) -> Any:
        """INSERT with this dialect's ON CONFLICT support (both spell on_conflict_do_nothing)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    # -- pages ---------------------------------------------------------------------------------

    def sync_pages(self, pages: Sequence[Any]) -> None:
        """Make sure every configured page has a row (company and URL follow the config)."""
        with self.session() as session:
            existing = {row[0]: (row[1], row[2]) for row in session.exec(select(Page.id, Page.company, Page.url))}
            new = [{"id": p.id, "company": p.company, "url": p.url, "failures": 0, "gone": False}
                   for p in pages if p.id not in existing]
            if new:
                # Several processes starting on one empty database insert the same pages:
                # whoever comes second skips the rows the first one made. executemany, not
                # one multi-VALUES statement: 10,000 pages would compile 50,000 parameters.
                session.execute(self._insert(Page).on_conflict_do_nothing(), new)
            for page in pages:
                if page.id in existing and existing[page.id] != (page.company, page.url):
                    # A new URL is a new page to `fetch = "auto"`: its remembered choice goes.
                    moved = {"fetch_mode": None} if existing[page.id][1] != page.url else {}
                    session.execute(update(Page).where(Page.id == page.id)  # type: ignore[arg-type]
                                    .values(company=page.company, url=page.url, **moved))
            session.commit()

    def last_checked(self) -> dict[str, datetime | None]:
        """Every page's last check (start), for the daemon's schedule: no ORM objects for 10,000 rows."""
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(select(Page.id, Page.last_checked_at))}

    def page_state(self, page_id: str) -> PageState:
        # Core with prebuilt statements, not the ORM: this runs before every check of every page.
        with self.engine.connect() as conn:
            return _read_state(conn, page_id)

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        with self.session() as session:
            return session.get(Snapshot, snapshot_id)

    def snapshots(self, page_id: str) -> list[Snapshot]:
        """The page's snapshots in time order: archived ones first (their ids may be larger)."""
        with self.session() as session:
            return list(
                session.exec(
                    select(Snapshot).where(Snapshot.page_id == page_id)
                    .order_by(Snapshot.origin != ARCHIVE, Snapshot.id)  # type: ignore[arg-type]
                )
            )

    def archive_state(self, page_id: str) -> ArchiveState:
        with self.engine.connect() as conn:
            page = conn.execute(select(_page_c.archive_until, _page_c.archive_pending)
                                .where(_page_c.id == page_id)).first()
            head = conn.execute(
                select(_snap_c.id, _snap_c.text_hash, _snap_c.raw_hash, _snap_c.extract_sig, _snap_c.created_at)
                .where(_snap_c.page_id == page_id, _snap_c.origin == ARCHIVE).order_by(_snap_c.id.desc()).limit(1)
            ).first()
            live = conn.execute(select(_snap_c.id, _snap_c.created_at).where(_snap_c.page_id == page_id, _live(_snap_c))
                                .order_by(_snap_c.id).limit(1)).first()
            linked = head is not None and conn.execute(
                select(exists().where(_change_c.previous_snapshot_id == head[0]))).scalar()
            live_linked = live is not None and conn.execute(
                select(exists().where(_change_c.snapshot_id == live[0]))).scalar()
        state = PageState(page_id=page_id, pending_hash=page[1] if page else None)
        if head is not None:
            state.snapshot_id, state.text_hash, state.raw_hash, state.extract_sig = head[0], head[1], head[2], head[3]
        return ArchiveState(
            state=state, until=page[0] if page else None, head_at=head[4] if head else None, head_linked=bool(linked),
            first_live_id=live[0] if live else None, first_live_at=live[1] if live else None,
            first_live_linked=bool(live_linked),
        )

    def raw_body(self, raw_hash: str) -> tuple[bytes, str] | None:
        with self.session() as session:
            row = session.get(RawBody, raw_hash)
            return (zlib.decompress(row.data), row.content_type) if row else None

    def pages(self) -> list[Page]:
        with self.session() as session:
            return list(session.exec(select(Page).order_by(Page.id)))  # type: ignore[arg-type]

    def last_checks(self) -> dict[str, Check]:
        with self.session() as session:
            latest = select(func.max(Check.id)).group_by(Check.page_id).scalar_subquery()
            rows = session.exec(select(Check).where(Check.id.in_(latest)))  # type: ignore[union-attr]
            return {row.page_id: row for row in rows}

    def counts(self, page_id: str) -> dict[str, int]:
        with self.session() as session:
            return {
                "checks": session.exec(select(func.count()).where(Check.page_id == page_id)).one(),
                "snapshots": session.exec(select(func.count()).where(Snapshot.page_id == page_id)).one(),
                "changes": session.exec(select(func.count()).where(Change.page_id == page_id)).one(),
            }

    def changes(self, page_id: str | None = None) -> list[Change]:
        with self.session() as session:
            query = select(Change).order_by(Change.id)  # type: ignore[arg-type]
            if page_id:
                query = query.where(Change.page_id == page_id)
            return list(session.exec(query))

    def events(
        self, *, since: datetime | None = None, kind: str | None = None, page_id: str | None = None
    ) -> list[Event]:
        with self.session() as session:
            query = select(Event).order_by(Event.detected_at, Event.id)  # type: ignore[arg-type]
            if since is not None:
                query = query.where(Event.detected_at >= since)
            if kind:
                query = query.where(Event.kind == kind)
            if page_id:
                query = query.where(Event.page_id == page_id)
            return list(session.exec(query))

    # -- report reads: bounded slices of the history, by id ---------------------------------

    def report_marks(self) -> dict[str, tuple[int, int]]:
        """(highest id, row count) of events, snapshots and changes: where a report build stands."""
        # Two statements: together, SQLite would read the table instead of the max from the
        # primary key and the count from the smallest index.
        with self.engine.connect() as conn:
            return {name: (int(conn.execute(select(func.coalesce(func.max(table.id), 0))).scalar_one()),
                           int(conn.execute(select(func.count()).select_from(table)).scalar_one()))
                    for name, table in _HISTORY.items()}

    def events_after(self, event_id: int) -> list[Event]:
        """Events with a larger id, in id order (a primary-key range)."""
        with self.session() as session:
            return list(session.exec(select(Event).where(Event.id > event_id).order_by(Event.id)))  # type: ignore

    def changes_after(self, change_id: int) -> list[Change]:
        with self.session() as session:
            return list(session.exec(select(Change).where(Change.id > change_id).order_by(Change.id)))  # type: ignore

    def snapshots_after(self, snapshot_id: int) -> dict[str, int]:
        """Pages with snapshots newer than `snapshot_id`, and how many each."""
        # Counted here: with GROUP BY, SQLite would scan the page index instead of the id range.
        with self.engine.connect() as conn:
            return dict(Counter(row[0] for row in conn.execute(select(_snap_c.page_id).where(
                _snap_c.id > snapshot_id))))

    def count_events(self, query: EventQuery | None = None) -> int:
        conditions = query.where() if query else []
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Event).where(*conditions)).scalar_one())

    def event_slice(self, query: EventQuery, *, newest: int | None = None, after: int | None = None,
                    offset: int = 0, limit: int = 0) -> list[Event]:
        """A query's `newest` latest events (newest first), or `limit` of them oldest first: those
        with an id above `after`, else from `offset` (an offset is read through: use it once)."""
        with self.session() as session:
            statement = select(Event).where(*query.where())
            if newest is not None:
                statement = statement.order_by(Event.id.desc()).limit(newest)  # type: ignore[union-attr]
            elif after is not None:
                statement = statement.where(Event.id > after).order_by(Event.id).limit(limit)  # type: ignore
            else:
                statement = statement.order_by(Event.id).offset(offset).limit(limit)  # type: ignore[arg-type]
            return list(session.exec(statement))

    def event_values(self, column: str) -> list[str]:
        """The distinct non-null values of an event column (company, jurisdiction)."""
        target = Event.__table__.c[column]  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(select(target).where(target.isnot(None)).distinct()
                                                   .order_by(target))]

    def latest_events(self, limit: int) -> list[Event]:
        """The latest events by detection time, newest first."""
        with self.session() as session:
            return list(session.exec(select(Event).order_by(Event.detected_at.desc(),  # type: ignore[attr-defined]
                                                            Event.id.desc()).limit(limit)))  # type: ignore

    def page_counts(self, kinds: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Per page: (changes, events of these kinds)."""
        counts: dict[str, list[int]] = {}
        with self.engine.connect() as conn:
            for page_id, count in conn.execute(select(Change.page_id, func.count()).group_by(Change.page_id)):
                counts.setdefault(page_id, [0, 0])[0] = int(count)
            for page_id, count in conn.execute(select(Event.page_id, func.count())
                                               .where(Event.kind.in_(kinds))  # type: ignore[attr-defined]
                                               .group_by(Event.page_id)):
                counts.setdefault(page_id, [0, 0])[1] = int(count)
        return {page_id: (pair[0], pair[1]) for page_id, pair in counts.items()}

    def count_snapshots(self, page_id: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(_snap_c.page_id == page_id)).scalar_one())

    def snapshot_rows(self, page_id: str, *, newest: int | None = None, after: int | None = None,
                      offset: int = 0, limit: int = 0) -> list[SnapshotRow]:
        """A page's snapshots without their text (its line count instead), sliced as `event_slice`."""
        # Lines counted by the database: the texts themselves never leave it.
        lines = func.length(_snap_c.text) - func.length(func.replace(_snap_c.text, bindparam("nl", "\n"), "")) + 1
        statement = select(_snap_c.id, _snap_c.created_at, _snap_c.origin, lines, Change.id, Change.added,
                           Change.removed, _snap_c.source).select_from(Snapshot.__table__.outerjoin(  # type: ignore[attr-defined]
                               Change.__table__, Change.snapshot_id == _snap_c.id)).where(  # type: ignore
                               _snap_c.page_id == page_id)
        if newest is not None:
            statement = statement.order_by(_snap_c.id.desc()).limit(newest)
        elif after is not None:
            statement = statement.where(_snap_c.id > after).order_by(_snap_c.id).limit(limit)
        else:
            statement = statement.order_by(_snap_c.id).offset(offset).limit(limit)
        with self.engine.connect() as conn:
            return [SnapshotRow(*row) for row in conn.execute(statement)]

    # -- operators' gauges (monitor.metrics) ---------------------------------------------------

    def page_gauges(self) -> list[tuple[str, datetime | None, int, bool, str | None, datetime | None]]:
        """(id, last_success_at, failures, gone, claimed_by, claim_expires) of every page, in one read."""
        with self.engine.connect() as conn:
            return [(row[0], row[1], int(row[2] or 0), bool(row[3]), row[4], row[5])
                    for row in conn.execute(_PAGE_GAUGES)]

    def delivery_counts(self) -> dict[str, int]:
        """Outbox rows not yet sent, by status (pending, sending, failed): an index range, not a scan."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Delivery.status, func.count())  # type: ignore[call-overload]
                                .where(Delivery.status.in_(("pending", "sending", "failed")))  # type: ignore[attr-defined]
                                .group_by(Delivery.status))
            return {str(status): int(count) for status, count in rows}

    # -- claims: several processes, one database ----------------------------------------------
    # A page is claimed before it is checked. The claim is one conditional UPDATE (its rowcount
    # says who won), so it needs no lock beyond the row's own; it lapses at claim_expires, so a
    # process that dies mid-check gives its pages back after the lease. Times come from this
    # host's clock: hosts sharing a database must keep NTP time (leases are minutes, skew ms).

    def claim_page(self, page_id: str, worker: str, lease_s: float, min_age_s: float = 0.0) -> PageState | None:
        """Take the page for one check, unless another live claim holds it or it was checked
        less than `min_age_s` ago. Returns the page's state, read in the claim's transaction
        (the check needs it next: one round trip, one commit), or None when not claimed."""
        now = utcnow()
        params = {"b_id": page_id, "b_now": now, "b_worker": worker,
                  "b_fresh_since": now - timedelta(seconds=min_age_s),
                  "b_expires": now + timedelta(seconds=lease_s)}
        try:
            with self.engine.begin() as conn:
                if conn.execute(_CLAIM, params).rowcount != 1:
                    return None
                return _read_state(conn, page_id)
        except OperationalError as exc:
            raise StoreError(f"cannot claim {page_id}: {exc.orig}") from None

    def release_claim(self, page_id: str, worker: str) -> None:
        """Give a claim back without recording (record() itself clears the claim it holds)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(update(Page).where(Page.id == page_id, Page.claimed_by == worker)  # type: ignore[arg-type]
                             .values(claimed_by=None, claim_expires=None))
        except OperationalError as exc:
            raise StoreError(f"cannot release the claim of {page_id}: {exc.orig}") from None

    def release_claims(self, worker: str) -> int:
        """Give back every claim of this worker (at shutdown)."""
        with self.engine.begin() as conn:
            result = conn.execute(update(Page).where(Page.claimed_by == worker)  # type: ignore[arg-type]
                                  .values(claimed_by=None, claim_expires=None))
            return int(result.rowcount or 0)

    def claim_info(self, page_id: str) -> tuple[datetime | None, str | None, datetime | None]:
        """(last_checked_at, claimed_by, claim_expires) of a page; all None if it has no row."""
        # Core and a prebuilt statement: the daemon reads this before every scheduled check.
        try:
            with self.engine.connect() as conn:
                row = conn.execute(_CLAIM_INFO, {"b_id": page_id}).first()
        except OperationalError as exc:  # the daemon's first touch of the database in a check
            raise StoreError(f"cannot read the claim of {page_id}: {exc.orig}") from None
        return (row[0], row[1], row[2]) if row else (None, None, None)

    def heartbeat(self, worker: str, started_at: datetime, checks: int) -> None:
        """Upsert this process's row in `worker` (one writer per name: update, else insert)."""
        now = utcnow()
        host, _, pid = worker.rpartition(":")
        with self.engine.begin() as conn:
            updated = conn.execute(update(Worker).where(Worker.name == worker)  # type: ignore[arg-type]
                                   .values(seen_at=now, checks=checks))
            if updated.rowcount == 0:
                conn.execute(self._insert(Worker).values(
                    name=worker, host=host, pid=int(pid) if pid.isdigit() else 0, started_at=started_at,
                    seen_at=now, checks=checks,
                ).on_conflict_do_nothing())

    def remove_worker(self, worker: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(Worker).where(Worker.name == worker))  # type: ignore[arg-type]

    def workers(self) -> list[Worker]:
        with self.session() as session:
            return list(session.exec(select(Worker).order_by(Worker.name)))  # type: ignore[arg-type]

    # -- record --------------------------------------------------------------------------------

    def record(self, rec: CheckRecord) -> Recorded:
        """Write one check's whole outcome atomically."""
        try:
            return self._record(rec)
        except OperationalError as exc:
            raise StoreError(f"cannot record check of {rec.page_id}: {exc.orig}") from None

    def _record(self, rec: CheckRecord) -> Recorded:
        # SQLAlchemy Core rather than ORM units of work: every check of every page ends here,
        # and the ORM's bookkeeping cost more than the statements themselves.
        me = worker_name()
        archive = rec.origin == ARCHIVE
        if rec.version is None and not rec.events:
            return self._record_archive_progress(rec) if archive else self._record_check_only(rec, me)
        page_t = Page.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            # The page row lock serializes every writer of this page's history (other
            # processes included); the latest-snapshot check below then sees their commits.
            page = conn.execute(_LOCK_PAGE, {"b_id": rec.page_id}).first()
            if page is None:
                conn.execute(self._insert(page_t).values(
                    id=rec.page_id, company=rec.company, url=rec.url, failures=0, gone=False,
                ).on_conflict_do_nothing())
                page = conn.execute(_LOCK_PAGE, {"b_id": rec.page_id}).one()
            version, raced = rec.version, False
            if archive:
                # The archived history grows only at its head, and only while nothing follows
                # the head yet (once live checks continue from it, it is closed).
                raced = not conn.execute(_ARCHIVE_CONTINUES, {
                    "b_id": rec.page_id, "b_prev": rec.previous_snapshot_id, "b_to": rec.to_snapshot_id}).scalar()
                version = None if raced else version
            elif version is not None and conn.execute(_LATEST, {"b_id": rec.page_id}).scalar() \
                    != rec.previous_snapshot_id:
                # Another process recorded a version since we read; ours is stale. Keep the
                # check row, drop the version: the next check compares against theirs.
                version, raced = None, True

            snapshot_id = change_id = None
            event_ids: list[int] = []
            # gone/restored are transitions of the locked row: if another writer made the
            # transition since this check read the state, it already has its event.
            stale = "page_gone" if page.gone else "page_restored"
            drafts = [d for d in rec.events if d.kind != stale]
            page_values: dict[str, Any] = {}
            if version is not None:
                if version.raw is not None and version.raw_hash and conn.execute(
                    _RAW_STORED, {"b_hash": version.raw_hash}
                ).first() is None:
                    # Another page (another process) may store the same body right now: no conflict.
                    conn.execute(self._raw_insert, {
                        "hash": version.raw_hash, "content_type": version.content_type, "size": len(version.raw),
                        "data": zlib.compress(version.raw, RAW_COMPRESSION), "created_at": utcnow(),
                    })
                snapshot_id = _insert_id(conn, Snapshot.__table__, {  # type: ignore[attr-defined]
                    "page_id": rec.page_id, "created_at": rec.finished_at, "text_hash": version.text_hash,
                    "text": version.text, "raw_hash": version.raw_hash, "extract_sig": version.extract_sig,
                    "origin": version.origin, "source": rec.source, "fetch_mode": version.fetch_mode,
                    "url": version.url,
                })
            elif not raced:
                snapshot_id = rec.to_snapshot_id
            if not raced and (snapshot_id is not None or drafts):
                if snapshot_id is not None and rec.status == "changed":
                    change_id = _insert_id(conn, Change.__table__, {  # type: ignore[attr-defined]
                        "page_id": rec.page_id, "snapshot_id": snapshot_id,
                        "previous_snapshot_id": rec.previous_snapshot_id, "detected_at": rec.finished_at,
                        "added": rec.added, "removed": rec.removed, "first_line": rec.first_line[:1000],
                    })
                    if not archive:
                        page_values["last_change_at"] = rec.finished_at
                # Deliveries of archived events (import-archive --alert) are due now: their
                # retry window must not have run out years ago.
                queued_at = utcnow() if archive else rec.finished_at
                for draft in drafts:
                    event_id = _insert_id(conn, Event.__table__, {  # type: ignore[attr-defined]
                        "page_id": rec.page_id, "change_id": change_id, "company": rec.company, "url": rec.url,
                        "kind": draft.kind, "jurisdiction": draft.jurisdiction, "quote": draft.quote,
                        "evidence": draft.evidence, "rule": draft.rule, "detected_at": rec.finished_at,
                        "context": draft.context,
                        "relevant": json.dumps(draft.relevant, ensure_ascii=False) if draft.relevant is not None
                        else None,
                        "snapshot_id": snapshot_id if change_id else (snapshot_id or rec.previous_snapshot_id),
                        "previous_snapshot_id": rec.previous_snapshot_id if change_id else None,
                        "origin": rec.origin, "source": rec.source,
                    })
                    event_ids.append(event_id)
                    rows = [{"event_id": event_id, "sink": sink.key, "status": "pending", "attempts": 0,
                             "created_at": queued_at, "next_attempt_at": queued_at}
                            for sink in rec.sinks if sink.wants(draft.kind)]
                    if rows:
                        conn.execute(Delivery.__table__.insert(), rows)  # type: ignore[attr-defined]
            if snapshot_id is not None and rec.said is not None and not raced:
                events_made = {(d.kind, d.jurisdiction): eid for d, eid in zip(drafts, event_ids, strict=False)}
                if rec.to_snapshot_id is not None:
                    # the first live snapshot now follows the archived history: its states date back
                    conn.execute(delete(Statement).where(Statement.snapshot_id == snapshot_id))  # type: ignore[arg-type]
                _write_statements(conn, rec.page_id, snapshot_id, rec.previous_snapshot_id, rec.said, rec.said_sig,
                                  rec.finished_at, events_made)
                if rec.to_snapshot_id is not None:
                    _restate_after(conn, rec.page_id, snapshot_id)
            if archive:
                # The live page's state is not the archive's business; only the import's mark moves.
                if not raced and rec.to_snapshot_id is None:
                    conn.execute(update(page_t).where(page_t.c.id == rec.page_id).values(
                        archive_until=rec.started_at, archive_pending=rec.pending_hash))
                return Recorded(None, None if raced else snapshot_id, change_id, event_ids, raced)
            status = "raced" if raced else rec.status
            check_id = _insert_id(conn, Check.__table__, {  # type: ignore[attr-defined]
                "page_id": rec.page_id, "started_at": rec.started_at, "finished_at": rec.finished_at,
                "status": status, "http_status": rec.http_status, "error": rec.error,
                "duration_ms": int((rec.finished_at - rec.started_at).total_seconds() * 1000),
                "snapshot_id": snapshot_id, "worker": me,
            })
            # The start, not the end: intervals run start to start, so a slow check does not
            # push the page's next claim (monitor.coordinate) later by its own duration. A
            # re-extraction fetched nothing: it must not make the page look freshly checked.
            if rec.status != "reextracted":
                page_values["last_checked_at"] = rec.started_at
            if rec.status in FETCHED:
                page_values["last_success_at"] = rec.started_at
            page_values.update(last_status=status, last_error=rec.error, failures=rec.failures, gone=rec.gone,
                               pending_hash=rec.pending_hash, company=rec.company, url=rec.url)
            if not rec.keep_validators:
                page_values.update(etag=rec.etag, last_modified=rec.last_modified)
            if rec.fetch_mode and rec.status != "failed":
                page_values["fetch_mode"] = rec.fetch_mode
            # A claim of this process is released (checked: free for the next interval); the row is
            # locked, so the claim is still the one read above.
            params = {f"b_{key}": value for key, value in page_values.items()}
            params.update(b_id=rec.page_id, b_me=me)
            conn.execute(_page_update(frozenset(params)), params)
            return Recorded(check_id, snapshot_id, change_id, event_ids, raced)

    def _record_archive_progress(self, rec: CheckRecord) -> Recorded:
        """An archived capture that adds no version (same text, skipped, awaiting a second one)."""
        with self.engine.begin() as conn:
            conn.execute(update(Page).where(Page.id == rec.page_id)  # type: ignore[arg-type]
                         .values(archive_until=rec.started_at, archive_pending=rec.pending_hash))
        return Recorded(None)

    def _record_check_only(self, rec: CheckRecord, me: str) -> Recorded:
        """The common case, nothing new to store: one check row and the page's state, no reads."""
        values: dict[str, Any] = {
            "b_last_status": rec.status, "b_last_error": rec.error, "b_failures": rec.failures, "b_gone": rec.gone,
            "b_pending_hash": rec.pending_hash, "b_company": rec.company, "b_url": rec.url, "b_me": me,
            "b_id": rec.page_id,
        }
        if rec.status != "reextracted":
            values["b_last_checked_at"] = rec.started_at
        if rec.status in FETCHED:
            values["b_last_success_at"] = rec.started_at
        if not rec.keep_validators:
            values.update(b_etag=rec.etag, b_last_modified=rec.last_modified)
        if rec.fetch_mode and rec.status != "failed":
            values["b_fetch_mode"] = rec.fetch_mode
        with self.engine.begin() as conn:
            updated = conn.execute(_page_update(frozenset(values)), values).rowcount
            if updated == 0:
                conn.execute(self._insert(Page.__table__).values(  # type: ignore[attr-defined]
                    id=rec.page_id, company=rec.company, url=rec.url, failures=rec.failures, gone=rec.gone,
                    last_status=rec.status, last_error=rec.error, etag=rec.etag, last_modified=rec.last_modified,
                    last_checked_at=rec.started_at, last_success_at=values.get("b_last_success_at"),
                ).on_conflict_do_nothing())
            check_id = int(conn.execute(_CHECK_INSERT, {
                "page_id": rec.page_id, "started_at": rec.started_at, "finished_at": rec.finished_at,
                "status": rec.status, "http_status": rec.http_status, "error": rec.error,
                "duration_ms": int((rec.finished_at - rec.started_at).total_seconds() * 1000),
                "snapshot_id": None, "worker": me,
            }).inserted_primary_key[0])
        return Recorded(check_id)

    # -- outbox (alerts) -----------------------------------------------------------------------
    # A row is pending -> sending (claimed by one worker until claim_expires) -> sent, or back
    # to pending with a later next_attempt_at, or failed. Every transition is one conditional
    # UPDATE whose rowcount says whether this worker still owned the row.

    def release_stale_deliveries(self, now: datetime) -> int:
        """'sending' rows whose claim expired (their sender died) become pending again."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.status == "sending", Delivery.claim_expires < now)  # type: ignore[operator]
                .values(status="pending", claimed_by=None, claim_expires=None, next_attempt_at=now)
            )
            return int(result.rowcount or 0)

    def due_deliveries(self, now: datetime, per_sink: int = 100) -> list[tuple[Delivery, Event]]:
        """The oldest pending rows (at most `per_sink`) of every sink that has one due, in event order.

        Per sink, alerts go out in event order. So a sink's rows come from its oldest: a row that
        is due (new traffic) brings the older ones waiting out their backoff along, to be tried
        first. A sink with a row being sent (by this process or another) is left out: its next
        row must not overtake that one. The cap per sink keeps one sink's backlog from crowding
        out the others; the rest follow in the next passes (a sink stays due until its newest
        due row is sent, and that goes after all older ones).
        """
        due = select(Delivery.sink).where(Delivery.status == "pending",  # type: ignore[arg-type]
                                          Delivery.next_attempt_at <= now)  # type: ignore[operator]
        busy = select(Delivery.sink).where(Delivery.status == "sending")  # type: ignore[arg-type]
        ranked = (
            select(Delivery.id, func.row_number().over(partition_by=Delivery.sink,
                                                       order_by=(Delivery.event_id, Delivery.id)).label("n"))
            .where(Delivery.status == "pending", Delivery.sink.in_(due),  # type: ignore[attr-defined]
                   Delivery.sink.not_in(busy))  # type: ignore[attr-defined]
            .subquery()
        )
        with self.session() as session:
            rows = session.exec(
                select(Delivery, Event)
                .join(Event, Event.id == Delivery.event_id)  # type: ignore[arg-type]
                .join(ranked, ranked.c.id == Delivery.id)
                .where(ranked.c.n <= per_sink)
                .order_by(Delivery.event_id, Delivery.id)  # type: ignore[arg-type]
            )
            return [(delivery, ev) for delivery, ev in rows]

    def claim_delivery(self, delivery_id: int, worker: str, until: datetime) -> bool:
        """Take a pending row for sending; False if another process got it first."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "pending")  # type: ignore[arg-type]
                .values(status="sending", claimed_by=worker, claim_expires=until)
            )
            return result.rowcount == 1

    def finish_delivery(self, delivery_id: int, worker: str, *, status: str, now: datetime,
                        error: str | None = None, next_attempt_at: datetime | None = None) -> bool:
        """Record a send attempt of a row this worker claimed: 'sent', 'pending' (retry) or 'failed'."""
        values: dict[str, Any] = {
            "status": status, "attempts": Delivery.attempts + 1, "claimed_by": None, "claim_expires": None,
            "last_error": error,
        }
        if status == "sent":
            values["sent_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "sending",  # type: ignore[arg-type]
                       Delivery.claimed_by == worker)
                .values(**values)
            )
            return result.rowcount == 1

    def defer_sink(self, sinks: Sequence[str], until: datetime) -> int:
        """Push a sink's pending rows (under any of its keys) to `until` at the earliest, without
        counting an attempt: the sink is down, and its next try is its oldest row's retry."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.sink.in_(sinks), Delivery.status == "pending",  # type: ignore[attr-defined]
                       Delivery.next_attempt_at < until)  # type: ignore[operator]
                .values(next_attempt_at=until)
            )
            return int(result.rowcount or 0)

    def deliveries(self, statuses: Sequence[str]) -> list[tuple[Delivery, Event]]:
        with self.session() as session:
            rows = session.exec(
                select(Delivery, Event)
                .join(Event, Event.id == Delivery.event_id)  # type: ignore[arg-type]
                .where(Delivery.status.in_(statuses))  # type: ignore[attr-defined]
                .order_by(Delivery.id)  # type: ignore[arg-type]
            )
            return [(delivery, ev) for delivery, ev in rows]

    def sink_keys(self, status: str | None = None) -> set[str]:
        """The sink keys the outbox has rows for (of one status, or any)."""
        query = select(Delivery.sink).distinct()  # type: ignore[call-overload]
        if status is not None:
            query = query.where(Delivery.status == status)
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(query)}

    def rehome_deliveries(self, old: str, new: str) -> int:
        """Give a sink's pending rows to another key (the same sink, whose URL changed)."""
        with self.engine.begin() as conn:
            result = conn.execute(update(Delivery).where(Delivery.sink == old,  # type: ignore[arg-type]
                                                         Delivery.status == "pending").values(sink=new))
            return int(result.rowcount or 0)

    def count_deliveries(self, status: str) -> int:
        with self.session() as session:
            return int(session.exec(select(func.count()).where(Delivery.status == status)).one())

    def requeue_failed_deliveries(self, now: datetime) -> int:
        """Failed rows become pending, due now; their retry window restarts (created_at = now)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.status == "failed")  # type: ignore[arg-type]
                .values(status="pending", next_attempt_at=now, created_at=now, claimed_by=None, claim_expires=None)
            )
            return int(result.rowcount or 0)


    # -- statements: what each page says now ----------------------------------------------------

    def statements_of(self, snapshot_id: int, sig: str) -> list[Statement] | None:
        """A snapshot's statement rows, or None when they were made by other rules (or never)."""
        with self.session() as session:
            snap_sig = session.exec(select(Snapshot.statements_sig).where(Snapshot.id == snapshot_id)).first()
            if snap_sig != sig:
                return None
            return list(session.exec(select(Statement).where(Statement.snapshot_id == snapshot_id)
                                     .order_by(Statement.position, Statement.id)))  # type: ignore[arg-type]

    def stale_latest_snapshots(self, sig: str) -> list[Snapshot]:
        """Every page's latest snapshot whose statements were not made by these rules."""
        with self.session() as session:
            latest = select(_latest_of(_page_c.id)).select_from(Page.__table__)  # type: ignore[attr-defined]
            return list(session.exec(select(Snapshot).where(
                Snapshot.id.in_(latest),  # type: ignore[union-attr]
                or_(Snapshot.statements_sig.is_(None), Snapshot.statements_sig != sig))))  # type: ignore[union-attr]

    def replace_statements(self, snapshot: Snapshot, said: list[Said], sig: str) -> None:
        """Recompute a snapshot's rows (new rules, or a database from before statements): no event."""
        try:
            with self.engine.begin() as conn:
                # its predecessor in its own history (live and archived snapshots are two chains)
                same_chain = _live(_snap_c) if snapshot.origin != ARCHIVE else _snap_c.origin == ARCHIVE
                previous = conn.execute(select(func.max(_snap_c.id)).where(
                    _snap_c.page_id == snapshot.page_id, _snap_c.id < snapshot.id, same_chain)).scalar()
                conn.execute(delete(Statement).where(Statement.snapshot_id == snapshot.id))  # type: ignore[arg-type]
                _write_statements(conn, snapshot.page_id, int(snapshot.id or 0), previous, said, sig,
                                  snapshot.created_at, {}, backfill=True)
        except OperationalError as exc:
            raise StoreError(f"cannot update statements of {snapshot.page_id}: {exc.orig}") from None

    def board(self) -> list[tuple[Statement, Page, Event | None]]:
        """The latest snapshot's statements of every page, with the page and the event that made each so."""
        with self.session() as session:
            latest = select(_latest_of(_page_c.id)).select_from(Page.__table__)  # type: ignore[attr-defined]
            rows = session.exec(
                select(Statement, Page, Event)
                .join(Page, Page.id == Statement.page_id)  # type: ignore[arg-type]
                .outerjoin(Event, Event.id == Statement.since_event_id)  # type: ignore[arg-type]
                .where(Statement.snapshot_id.in_(latest))  # type: ignore[attr-defined]
                .order_by(Statement.page_id, Statement.position, Statement.id)  # type: ignore[arg-type]
            )
            return [(st, page, ev) for st, page, ev in rows]


def _write_statements(conn: Any, page_id: str, snapshot_id: int, previous_id: int | None, said: list[Said],
                      sig: str, at: datetime, events_made: dict[tuple[str, str | None], int],
                      backfill: bool = False) -> None:
    """A snapshot's statement rows. A state that held in the previous snapshot keeps its `since`; a new
    one starts now, with the event made for it; a statement gone from the text leaves an 'unspecified'
    row (the page no longer says), kept while the text stays silent about that jurisdiction."""
    prev: dict[str | None, Any] = {}
    if previous_id is not None:
        prev = {row.jurisdiction: row for row in conn.execute(_STATEMENTS_OF, {"b_sid": previous_id})}
    baseline = previous_id is None
    rows: list[dict[str, Any]] = []

    def since(old: Any, state: str, kind: str | None, code: str | None) -> dict[str, Any]:
        if old is not None and old.state == state:
            return {"since_at": old.since_at, "since_event_id": old.since_event_id,
                    "since_snapshot_id": old.since_snapshot_id, "since_baseline": old.since_baseline}
        event_id = events_made.get((kind, code)) if kind else None
        if event_id is None and backfill and kind:
            found = _latest_event(conn, page_id, kind, code, snapshot_id)
            if found is not None:
                return {"since_at": found[1], "since_event_id": found[0], "since_snapshot_id": found[2],
                        "since_baseline": False}
        return {"since_at": at, "since_event_id": event_id, "since_snapshot_id": snapshot_id,
                "since_baseline": baseline and event_id is None}

    for item in said:
        kind = "pause_started" if item.state == "paused" else "pause_lifted"
        rows.append({"snapshot_id": snapshot_id, "page_id": page_id, "jurisdiction": item.jurisdiction,
                     "state": item.state, "quote": item.quote, "context": item.context, "rule": item.rule,
                     "evidence": "stated", "position": item.position,
                     **since(prev.get(item.jurisdiction), item.state, kind, item.jurisdiction)})
    spoken = {item.jurisdiction for item in said}
    for code, old in prev.items():
        if code in spoken:
            continue
        rows.append({"snapshot_id": snapshot_id, "page_id": page_id, "jurisdiction": code, "state": "unspecified",
                     "quote": old.quote, "context": old.context, "rule": old.rule, "evidence": "statement_removed",
                     "position": old.position,
                     **since(old, "unspecified", "pause_lifted" if old.state == "paused" else None, code)})
    if rows:
        conn.execute(Statement.__table__.insert(), rows)  # type: ignore[attr-defined]
    conn.execute(_SET_STATEMENTS_SIG, {"b_sid": snapshot_id, "b_sig": sig})


def _restate_after(conn: Any, page_id: str, snapshot_id: int) -> None:
    """Carry `since` again through the live snapshots that follow one whose statements changed."""
    st_c = Statement.__table__.c  # type: ignore[attr-defined]
    later = conn.execute(select(_snap_c.id, _snap_c.created_at, _snap_c.statements_sig).where(
        _snap_c.page_id == page_id, _live(_snap_c), _snap_c.id > snapshot_id).order_by(_snap_c.created_at,
                                                                                       _snap_c.id)).all()
    previous = snapshot_id
    for sid, created_at, sig in later:
        rows = conn.execute(select(Statement.__table__).where(st_c.snapshot_id == sid)  # type: ignore[attr-defined]
                            .order_by(st_c.position, st_c.id)).all()
        said = [Said(row.state, row.jurisdiction, row.quote, row.context, row.rule or "", row.position)
                for row in rows if row.state in ("paused", "lifted")]
        conn.execute(delete(Statement).where(Statement.snapshot_id == sid))  # type: ignore[arg-type]
        _write_statements(conn, page_id, sid, previous, said, sig or "", created_at, {}, backfill=True)
        previous = sid


def _latest_event(conn: Any, page_id: str, kind: str, code: str | None, snapshot_id: int) -> tuple[int, datetime,
                                                                                                   int | None] | None:
    ev = Event.__table__.c  # type: ignore[attr-defined]
    where = [ev.page_id == page_id, ev.kind == kind,
             ev.jurisdiction.is_(None) if code is None else ev.jurisdiction == code,
             or_(ev.snapshot_id.is_(None), ev.snapshot_id <= snapshot_id)]
    row = conn.execute(select(ev.id, ev.detected_at, ev.snapshot_id).where(*where)
                       .order_by(ev.id.desc()).limit(1)).first()
    return (row[0], row[1], row[2]) if row else None


def _space_hint(url: str) -> str:
    """SQLite says only "disk I/O error" or "unable to open database file" when it cannot create
    its -wal/-shm files: on a full disk, or a read-only file system. Say which."""
    if not url.startswith("sqlite:///"):
        return ""
    folder = Path(url.split("///", 1)[1]).parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return " (the file system holding the database is mounted read-only)"
        if shutil.disk_usage(folder).free < 64 * 1024:
            return " (no space left on the device holding the database)"
    except OSError:
        return ""
    return "" if os.access(folder, os.W_OK) else " (its folder is not writable)"


# Statements of the per-check hot path, built once: constructing SQLAlchemy statements costs
# more than executing them against SQLite.
_page_c = Page.__table__.c  # type: ignore[attr-defined]
_snap_c = Snapshot.__table__.c  # type: ignore[attr-defined]
_newer = Snapshot.__table__.alias("newer")  # type: ignore[attr-defined]


def _live(snapshots: Any) -> Any:
    """Live (not archived) snapshots, spelt with a literal as the partial index ix_snapshot_live
    is, so that SQLite and PostgreSQL see that the index answers the query."""
    return snapshots.origin != literal_column("'archive'")


def _latest_of(page_id: Any) -> Any:
    """A page's latest snapshot id: its newest live one, else its newest archived one (an import
    that ran after live checks began gave older versions larger ids)."""
    def newest(*where: Any) -> Any:
        return select(func.max(_newer.c.id)).where(_newer.c.page_id == page_id, *where) \
            .correlate(Page.__table__).scalar_subquery()  # type: ignore[attr-defined]

    return func.coalesce(newest(_live(_newer.c)), newest())


# A page's state and its latest snapshot in one statement (three index lookups in SQLite).
_STATE = (
    select(_page_c.etag, _page_c.last_modified, _page_c.failures, _page_c.gone, _page_c.pending_hash,
           _page_c.last_checked_at, _snap_c.id, _snap_c.text_hash, _snap_c.raw_hash, _snap_c.extract_sig,
           _page_c.fetch_mode, _snap_c.url)
    .select_from(Page.__table__.outerjoin(  # type: ignore[attr-defined]
        Snapshot.__table__,  # type: ignore[attr-defined]
        _snap_c.id == _latest_of(_page_c.id)))
    .where(_page_c.id == bindparam("b_id"))
)
_LATEST = select(_latest_of(bindparam("b_id")))
_change_c = Change.__table__.c  # type: ignore[attr-defined]
_b_prev = bindparam("b_prev", type_=_snap_c.id.type)
_b_to = bindparam("b_to", type_=_snap_c.id.type)
# An archived capture may extend the archived history when `b_prev` is its head (None: there is
# none yet) and nothing follows that head yet; a change to `b_to` (the first live snapshot)
# only when that snapshot has no predecessor either.
_ARCHIVE_CONTINUES = select(and_(
    func.coalesce(select(func.max(_newer.c.id)).where(_newer.c.page_id == bindparam("b_id"),
                                                      _newer.c.origin == ARCHIVE).scalar_subquery(), -1)
    == func.coalesce(_b_prev, -1),
    ~exists().where(_change_c.previous_snapshot_id == _b_prev),
    ~exists().where(_change_c.snapshot_id == _b_to),
))
# The append-only tables a report is built from, by the names of Store.report_marks.
_HISTORY: dict[str, Any] = {"events": Event, "snapshots": Snapshot, "changes": Change}
_CHECK_INSERT = Check.__table__.insert()  # type: ignore[attr-defined]
# The record path's statements, built once (see above).
_LOCK_PAGE = select(_page_c.gone, _page_c.claimed_by).where(_page_c.id == bindparam("b_id")).with_for_update()
_raw_c = RawBody.__table__.c  # type: ignore[attr-defined]
_RAW_STORED = select(_raw_c.hash).where(_raw_c.hash == bindparam("b_hash"))
_st_c = Statement.__table__.c  # type: ignore[attr-defined]
_STATEMENTS_OF = select(Statement.__table__).where(_st_c.snapshot_id == bindparam("b_sid"))  # type: ignore[attr-defined]
_SET_STATEMENTS_SIG = update(Snapshot.__table__).where(  # type: ignore[attr-defined]
    _snap_c.id == bindparam("b_sid")).values(statements_sig=bindparam("b_sig", type_=_snap_c.statements_sig.type))
_PAGE_GAUGES = select(_page_c.id, _page_c.last_success_at, _page_c.failures, _page_c.gone, _page_c.claimed_by,
                      _page_c.claim_expires)
_CLAIM_INFO = select(_page_c.last_checked_at, _page_c.claimed_by, _page_c.claim_expires).where(
    _page_c.id == bindparam("b_id"))


# One conditional UPDATE takes a page: free (or lapsed) claim and not checked too recently.
_CLAIM = update(Page.__table__).where(  # type: ignore[attr-defined]
    _page_c.id == bindparam("b_id"),
    or_(_page_c.claimed_by.is_(None), _page_c.claim_expires < bindparam("b_now", type_=_page_c.claim_expires.type)),
    or_(_page_c.last_checked_at.is_(None),
        _page_c.last_checked_at <= bindparam("b_fresh_since", type_=_page_c.last_checked_at.type)),
).values(claimed_by=bindparam("b_worker", type_=_page_c.claimed_by.type),
         claim_expires=bindparam("b_expires", type_=_page_c.claim_expires.type))


@lru_cache(maxsize=16)
def _page_update(keys: frozenset[str]) -> Any:
    """UPDATE page from bind parameters named b_<column>; a claim held by b_me is released."""
    # Typed bind parameters: an untyped one would skip UTCDateTime and store a different format.
    values: dict[str, Any] = {key[2:]: bindparam(key, type_=_page_c[key[2:]].type)
                              for key in keys if key not in ("b_id", "b_me")}
    mine = _page_c.claimed_by == bindparam("b_me", type_=_page_c.claimed_by.type)
    values["claimed_by"] = case((mine, None), else_=_page_c.claimed_by)
    values["claim_expires"] = case((mine, None), else_=_page_c.claim_expires)
    return update(Page.__table__).where(_page_c.id == bindparam("b_id")).values(values)  # type: ignore[attr-defined]


def _read_state(conn: Any, page_id: str) -> PageState:
    row = conn.execute(_STATE, {"b_id": page_id}).first()
    if row is None:  # not in the database yet
        return PageState(page_id=page_id)
    return PageState(page_id=page_id, etag=row[0], last_modified=row[1], failures=row[2], gone=bool(row[3]),
                     pending_hash=row[4], last_checked_at=row[5], snapshot_id=row[6], text_hash=row[7],
                     raw_hash=row[8], extract_sig=row[9], fetch_mode=row[10], url=row[11])


@lru_cache(maxsize=16)
def _plain_insert(table: Any) -> Any:
    return table.insert()


def _insert_id(conn: Any, table: Any, values: dict[str, Any]) -> int:
    """INSERT one row and return its generated primary key (SQLite and PostgreSQL alike)."""
    # One statement per table with the values as parameters: building and compiling an INSERT
    # with inlined values cost more than executing it.
    return int(conn.execute(_plain_insert(table), values).inserted_primary_key[0])



def now() -> datetime:
    return utcnow()
