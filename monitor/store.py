"""The record stage and the read queries: everything that touches the database.

One check's outcome (raw body, snapshot, check row, change, events, outbox rows, page
state) is written in ONE transaction by `Store.record`, so a crash at any moment leaves
either all of it or none of it.
"""

from __future__ import annotations

import hashlib
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

from sqlalchemy import bindparam, case, delete, func, or_, update
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine, select

from monitor.models import Change, Check, Delivery, Event, Page, RawBody, Snapshot, Worker, utcnow

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The database cannot be used (locked, read-only, full, unreachable)."""


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
    url: str | None = None  # where the raw body came from (after redirects)


@dataclass
class EventDraft:
    kind: str
    jurisdiction: str | None = None
    quote: str | None = None
    evidence: str | None = None
    rule: str | None = None


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


@dataclass
class Recorded:
    check_id: int
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
    url: str | None = None  # of the latest snapshot's raw body


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
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        from monitor.migrate import MigrationError, upgrade

        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise StoreError(f"cannot prepare database {redact_url(self.url)}: {exc.orig}{_space_hint(self.url)}"
                             ) from None
        except MigrationError as exc:
            raise StoreError(f"{redact_url(self.url)}: {exc}") from None

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
                    session.execute(update(Page).where(Page.id == page.id)  # type: ignore[arg-type]
                                    .values(company=page.company, url=page.url))
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
        with self.session() as session:
            return list(
                session.exec(
                    select(Snapshot).where(Snapshot.page_id == page_id).order_by(Snapshot.id)  # type: ignore[arg-type]
                )
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

    def count_events(self, query: EventQuery) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Event).where(*query.where())).scalar_one())

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

    def event_rows(self, kinds: Sequence[str]) -> list[Any]:
        """Events of these kinds, oldest first, as light rows (Event's attribute names, no ORM
        objects: the status board reads every pause event at every rebuild)."""
        columns = [Event.__table__.c[name] for name in  # type: ignore[attr-defined]
                   ("id", "page_id", "change_id", "company", "kind", "jurisdiction", "quote", "evidence",
                    "detected_at")]
        with self.engine.connect() as conn:
            return list(conn.execute(select(*columns).where(Event.kind.in_(kinds))  # type: ignore[attr-defined]
                                     .order_by(Event.detected_at, Event.id)))

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
                           Change.removed).select_from(Snapshot.__table__.outerjoin(  # type: ignore[attr-defined]
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
        with self.engine.begin() as conn:
            conn.execute(update(Page).where(Page.id == page_id, Page.claimed_by == worker)  # type: ignore[arg-type]
                         .values(claimed_by=None, claim_expires=None))

    def release_claims(self, worker: str) -> int:
        """Give back every claim of this worker (at shutdown)."""
        with self.engine.begin() as conn:
            result = conn.execute(update(Page).where(Page.claimed_by == worker)  # type: ignore[arg-type]
                                  .values(claimed_by=None, claim_expires=None))
            return int(result.rowcount or 0)

    def claim_info(self, page_id: str) -> tuple[datetime | None, str | None, datetime | None]:
        """(last_checked_at, claimed_by, claim_expires) of a page; all None if it has no row."""
        # Core and a prebuilt statement: the daemon reads this before every scheduled check.
        with self.engine.connect() as conn:
            row = conn.execute(_CLAIM_INFO, {"b_id": page_id}).first()
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
        if rec.version is None and not rec.events:
            return self._record_check_only(rec, me)
        page_t = Page.__table__  # type: ignore[attr-defined]
        snap_t = Snapshot.__table__  # type: ignore[attr-defined]
        raw_t = RawBody.__table__  # type: ignore[attr-defined]
        lock_page = select(page_t.c.gone, page_t.c.claimed_by).where(page_t.c.id == rec.page_id).with_for_update()
        with self.engine.begin() as conn:
            # The page row lock serializes every writer of this page's history (other
            # processes included); the latest-snapshot check below then sees their commits.
            page = conn.execute(lock_page).first()
            if page is None:
                conn.execute(self._insert(page_t).values(
                    id=rec.page_id, company=rec.company, url=rec.url, failures=0, gone=False,
                ).on_conflict_do_nothing())
                page = conn.execute(lock_page).one()
            latest = conn.execute(select(func.max(snap_t.c.id)).where(snap_t.c.page_id == rec.page_id)).scalar()
            version, raced = rec.version, False
            if version is not None and latest != rec.previous_snapshot_id:
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
                    select(raw_t.c.hash).where(raw_t.c.hash == version.raw_hash)
                ).first() is None:
                    # Another page (another process) may store the same body right now: no conflict.
                    conn.execute(self._insert(raw_t).values(
                        hash=version.raw_hash, content_type=version.content_type, size=len(version.raw),
                        data=zlib.compress(version.raw, 6), created_at=utcnow(),
                    ).on_conflict_do_nothing())
                snapshot_id = _insert_id(conn, snap_t, {
                    "page_id": rec.page_id, "created_at": rec.finished_at, "text_hash": version.text_hash,
                    "text": version.text, "raw_hash": version.raw_hash, "extract_sig": version.extract_sig,
                    "origin": version.origin, "url": version.url,
                })
            if not raced and (snapshot_id is not None or drafts):
                if snapshot_id is not None and rec.status == "changed":
                    change_id = _insert_id(conn, Change.__table__, {  # type: ignore[attr-defined]
                        "page_id": rec.page_id, "snapshot_id": snapshot_id,
                        "previous_snapshot_id": rec.previous_snapshot_id, "detected_at": rec.finished_at,
                        "added": rec.added, "removed": rec.removed, "first_line": rec.first_line[:1000],
                    })
                    page_values["last_change_at"] = rec.finished_at
                for draft in drafts:
                    event_id = _insert_id(conn, Event.__table__, {  # type: ignore[attr-defined]
                        "page_id": rec.page_id, "change_id": change_id, "company": rec.company, "url": rec.url,
                        "kind": draft.kind, "jurisdiction": draft.jurisdiction, "quote": draft.quote,
                        "evidence": draft.evidence, "rule": draft.rule, "detected_at": rec.finished_at,
                        "snapshot_id": snapshot_id if change_id else (snapshot_id or rec.previous_snapshot_id),
                        "previous_snapshot_id": rec.previous_snapshot_id if change_id else None,
                    })
                    event_ids.append(event_id)
                    rows = [{"event_id": event_id, "sink": sink.key, "status": "pending", "attempts": 0,
                             "created_at": rec.finished_at, "next_attempt_at": rec.finished_at}
                            for sink in rec.sinks if sink.wants(draft.kind)]
                    if rows:
                        conn.execute(Delivery.__table__.insert(), rows)  # type: ignore[attr-defined]
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
            page_values.update(last_status=status, last_error=rec.error, failures=rec.failures, gone=rec.gone,
                               pending_hash=rec.pending_hash, company=rec.company, url=rec.url)
            if not rec.keep_validators:
                page_values.update(etag=rec.etag, last_modified=rec.last_modified)
            if page.claimed_by == me:
                page_values.update(claimed_by=None, claim_expires=None)  # checked: free for the next interval
            conn.execute(update(page_t).where(page_t.c.id == rec.page_id).values(**page_values))
            return Recorded(check_id, snapshot_id, change_id, event_ids, raced)

    def _record_check_only(self, rec: CheckRecord, me: str) -> Recorded:
        """The common case, nothing new to store: one check row and the page's state, no reads."""
        values: dict[str, Any] = {
            "b_last_status": rec.status, "b_last_error": rec.error, "b_failures": rec.failures, "b_gone": rec.gone,
            "b_pending_hash": rec.pending_hash, "b_company": rec.company, "b_url": rec.url, "b_me": me,
            "b_id": rec.page_id,
        }
        if rec.status != "reextracted":
            values["b_last_checked_at"] = rec.started_at
        if not rec.keep_validators:
            values.update(b_etag=rec.etag, b_last_modified=rec.last_modified)
        with self.engine.begin() as conn:
            updated = conn.execute(_page_update(frozenset(values)), values).rowcount
            if updated == 0:
                conn.execute(self._insert(Page.__table__).values(  # type: ignore[attr-defined]
                    id=rec.page_id, company=rec.company, url=rec.url, failures=rec.failures, gone=rec.gone,
                    last_status=rec.status, last_error=rec.error, etag=rec.etag, last_modified=rec.last_modified,
                    last_checked_at=rec.started_at,
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

    def due_deliveries(self, now: datetime, limit: int = 500) -> list[tuple[Delivery, Event]]:
        """Pending rows whose next attempt is due, oldest event first."""
        with self.session() as session:
            rows = session.exec(
                select(Delivery, Event)
                .join(Event, Event.id == Delivery.event_id)  # type: ignore[arg-type]
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)  # type: ignore[operator]
                .order_by(Delivery.event_id, Delivery.id)  # type: ignore[arg-type]
                .limit(limit)
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

    def defer_deliveries(self, delivery_ids: Sequence[int], until: datetime) -> int:
        """Push pending rows to a later attempt without counting one (their sink is down)."""
        if not delivery_ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.id.in_(delivery_ids), Delivery.status == "pending")  # type: ignore[union-attr]
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
# A page's state and its latest snapshot in one statement (two index lookups in SQLite).
_STATE = (
    select(_page_c.etag, _page_c.last_modified, _page_c.failures, _page_c.gone, _page_c.pending_hash,
           _page_c.last_checked_at, _snap_c.id, _snap_c.text_hash, _snap_c.raw_hash, _snap_c.extract_sig,
           _snap_c.url)
    .select_from(Page.__table__.outerjoin(  # type: ignore[attr-defined]
        Snapshot.__table__,  # type: ignore[attr-defined]
        _snap_c.id == select(func.max(_newer.c.id)).where(_newer.c.page_id == _page_c.id)
        .correlate(Page.__table__).scalar_subquery()))  # type: ignore[attr-defined]
    .where(_page_c.id == bindparam("b_id"))
)
# The append-only tables a report is built from, by the names of Store.report_marks.
_HISTORY: dict[str, Any] = {"events": Event, "snapshots": Snapshot, "changes": Change}
_CHECK_INSERT = Check.__table__.insert()  # type: ignore[attr-defined]
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
                     raw_hash=row[8], extract_sig=row[9], url=row[10])


def _insert_id(conn: Any, table: Any, values: dict[str, Any]) -> int:
    """INSERT one row and return its generated primary key (SQLite and PostgreSQL alike)."""
    return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])


def redact_url(url: str) -> str:
    """Hide the password (and any token-like user part) of a URL for logs and errors."""
    from monitor.redact import redact

    return redact(url)


def now() -> datetime:
    return utcnow()
