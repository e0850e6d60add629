"""Recording checks: one check's whole outcome in one transaction, and the statements (what each
page says now) that come with a new snapshot.

One check's outcome (raw body, snapshot, check row, change, events, outbox rows, page
state) is written in ONE transaction by `Store.record`, so a crash at any moment leaves
either all of it or none of it.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, or_, update
from sqlmodel import select

from monitor.models import ARCHIVE, Change, Check, Delivery, Event, Page, RawBody, Snapshot, Statement, utcnow
from monitor.store.engine import Database, database_errors
from monitor.store.records import FETCHED, CheckRecord, Recorded, Said, worker_name
from monitor.store.sql import _change_c, _latest_of, _live, _newer, _page_c, _snap_c
from monitor.vocabulary import CheckStatus, DeliveryStatus, EventKind, StatementState

# zlib level of stored raw bodies: level 1 costs a fifth of level 6's CPU for bodies a few
# percent larger (HTML compresses well either way); reading does not depend on the level.
RAW_COMPRESSION = 1


def _page_state(rec: CheckRecord, status: str) -> dict[str, Any]:
    """The page row's columns after a check (its state for the next one), by column name."""
    values: dict[str, Any] = {
        "last_status": status, "last_error": rec.error, "failures": rec.failures, "gone": rec.gone,
        "pending_hash": rec.pending_hash, "company": rec.company, "url": rec.url,
    }
    # The start, not the end: intervals run start to start, so a slow check does not push the
    # page's next claim (monitor.coordinate) later by its own duration. A re-extraction fetched
    # nothing: it must not make the page look freshly checked.
    if rec.status != CheckStatus.REEXTRACTED:
        values["last_checked_at"] = rec.started_at
    if rec.status in FETCHED:
        values["last_success_at"] = rec.started_at
    if not rec.keep_validators:
        values.update(etag=rec.etag, last_modified=rec.last_modified)
    if rec.fetch_mode and rec.status != CheckStatus.FAILED:
        values["fetch_mode"] = rec.fetch_mode
    return values


class Recording(Database):
    @cached_property
    def _raw_insert(self) -> Any:
        # Another page (another process) may store the same body at the same time: no conflict.
        return self._insert(RawBody.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]

    def record(self, rec: CheckRecord) -> Recorded:
        """Write one check's whole outcome atomically."""
        with database_errors(f"cannot record check of {rec.page_id}"):
            return self._record(rec)

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
            stale = EventKind.PAGE_GONE if page.gone else EventKind.PAGE_RESTORED
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
                if snapshot_id is not None and rec.status == CheckStatus.CHANGED:
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
                    rows = [{"event_id": event_id, "sink": sink.key, "status": DeliveryStatus.PENDING, "attempts": 0,
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
            status = CheckStatus.RACED if raced else rec.status
            check_id = _insert_id(conn, Check.__table__, {  # type: ignore[attr-defined]
                "page_id": rec.page_id, "started_at": rec.started_at, "finished_at": rec.finished_at,
                "status": status, "http_status": rec.http_status, "error": rec.error,
                "duration_ms": int((rec.finished_at - rec.started_at).total_seconds() * 1000),
                "snapshot_id": snapshot_id, "worker": me,
            })
            page_values.update(_page_state(rec, status))
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
        values = {f"b_{key}": value for key, value in _page_state(rec, rec.status).items()}
        values.update(b_me=me, b_id=rec.page_id)
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
        with database_errors(f"cannot update statements of {snapshot.page_id}"), self.engine.begin() as conn:
            # its predecessor in its own history (live and archived snapshots are two chains)
            same_chain = _live(_snap_c) if snapshot.origin != ARCHIVE else _snap_c.origin == ARCHIVE
            previous = conn.execute(select(func.max(_snap_c.id)).where(
                _snap_c.page_id == snapshot.page_id, _snap_c.id < snapshot.id, same_chain)).scalar()
            conn.execute(delete(Statement).where(Statement.snapshot_id == snapshot.id))  # type: ignore[arg-type]
            _write_statements(conn, snapshot.page_id, int(snapshot.id or 0), previous, said, sig,
                              snapshot.created_at, {}, backfill=True)


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
        kind = EventKind.PAUSE_STARTED if item.state == StatementState.PAUSED else EventKind.PAUSE_LIFTED
        rows.append({"snapshot_id": snapshot_id, "page_id": page_id, "jurisdiction": item.jurisdiction,
                     "state": item.state, "quote": item.quote, "context": item.context, "rule": item.rule,
                     "evidence": "stated", "position": item.position,
                     **since(prev.get(item.jurisdiction), item.state, kind, item.jurisdiction)})
    spoken = {item.jurisdiction for item in said}
    for code, old in prev.items():
        if code in spoken:
            continue
        lifted = EventKind.PAUSE_LIFTED if old.state == StatementState.PAUSED else None
        rows.append({"snapshot_id": snapshot_id, "page_id": page_id, "jurisdiction": code,
                     "state": StatementState.UNSPECIFIED, "quote": old.quote, "context": old.context, "rule": old.rule,
                     "evidence": "statement_removed", "position": old.position,
                     **since(old, StatementState.UNSPECIFIED, lifted, code)})
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
                for row in rows if row.state in (StatementState.PAUSED, StatementState.LIFTED)]
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


_LATEST = select(_latest_of(bindparam("b_id")))
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
_CHECK_INSERT = Check.__table__.insert()  # type: ignore[attr-defined]
# The record path's statements, built once (see monitor.store.sql).
_LOCK_PAGE = select(_page_c.gone, _page_c.claimed_by).where(_page_c.id == bindparam("b_id")).with_for_update()
_raw_c = RawBody.__table__.c  # type: ignore[attr-defined]
_RAW_STORED = select(_raw_c.hash).where(_raw_c.hash == bindparam("b_hash"))
_st_c = Statement.__table__.c  # type: ignore[attr-defined]
_STATEMENTS_OF = select(Statement.__table__).where(_st_c.snapshot_id == bindparam("b_sid"))  # type: ignore[attr-defined]
_SET_STATEMENTS_SIG = update(Snapshot.__table__).where(  # type: ignore[attr-defined]
    _snap_c.id == bindparam("b_sid")).values(statements_sig=bindparam("b_sig", type_=_snap_c.statements_sig.type))


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


@lru_cache(maxsize=16)
def _plain_insert(table: Any) -> Any:
    return table.insert()


def _insert_id(conn: Any, table: Any, values: dict[str, Any]) -> int:
    """INSERT one row and return its generated primary key (SQLite and PostgreSQL alike)."""
    # One statement per table with the values as parameters: building and compiling an INSERT
    # with inlined values cost more than executing it.
    return int(conn.execute(_plain_insert(table), values).inserted_primary_key[0])
