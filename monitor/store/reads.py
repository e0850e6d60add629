"""Reading the history: snapshots, changes, events, checks, bounded slices for the report and
exports, and the status board (each page's latest statements).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import select

from monitor.models import ARCHIVE, Change, Check, Event, Page, RawBody, Snapshot, Statement
from monitor.store.engine import Database
from monitor.store.records import EventQuery, SnapshotRow
from monitor.store.sql import _latest_of, _live, _page_c, _snap_c

# The append-only tables a report is built from, by the names of Store.report_marks.
_HISTORY: dict[str, Any] = {"events": Event, "snapshots": Snapshot, "changes": Change}


class Reads(Database):
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

    def snapshots_after(self, snapshot_id: int) -> tuple[dict[str, int], set[str]]:
        """Pages with snapshots newer than `snapshot_id` (recorded later), and how many each; and
        the pages among them that got archived ones."""
        # Counted here: with GROUP BY, SQLite would scan the page index instead of the id range.
        with self.engine.connect() as conn:
            rows = conn.execute(select(_snap_c.page_id, _snap_c.origin).where(_snap_c.id > snapshot_id)).all()
        return dict(Counter(row[0] for row in rows)), {row[0] for row in rows if row[1] == ARCHIVE}

    def count_events(self, query: EventQuery | None = None) -> int:
        conditions = query.where() if query else []
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Event).where(*conditions)).scalar_one())

    def event_slice(self, query: EventQuery, *, newest: int | None = None, after: Event | None = None,
                    offset: int = 0, limit: int = 0) -> list[Event]:
        """A query's `newest` latest events (newest first), or `limit` of them oldest first: those
        after the event `after`, else from `offset` (an offset is read through: use it once)."""
        with self.session() as session:
            statement = select(Event).where(*query.where())
            if newest is not None:
                statement = statement.order_by(Event.id.desc()).limit(newest)  # type: ignore[union-attr]
            elif after is not None:
                statement = statement.where(Event.id > after.id).order_by(Event.id).limit(limit)  # type: ignore
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

    def snapshot_rows(self, page_id: str, *, newest: int | None = None, after: SnapshotRow | None = None,
                      offset: int = 0, limit: int = 0) -> list[SnapshotRow]:
        """A page's snapshots without their text (its line count instead), in time order: archived
        ones first (an import may record them after live ones), each part by id. Sliced as
        `event_slice`, `after` being the last row of the slice before."""
        # Each part is read in its own id order, which an index gives: one ORDER BY over both
        # would sort every snapshot of the page (and count every text's lines) to list a hundred.
        with self.engine.connect() as conn:
            def part(live: bool, **slicing: Any) -> list[SnapshotRow]:
                return [SnapshotRow(*row) for row in conn.execute(_snapshot_part(page_id, live, **slicing))]

            if newest is not None:
                rows = part(True, newest=newest)
                return rows + part(False, newest=newest - len(rows)) if len(rows) < newest else rows
            if after is not None and after.origin != ARCHIVE:
                return part(True, after=after.id, limit=limit)
            if after is not None:
                rows = part(False, after=after.id, limit=limit)
            else:
                archived = int(conn.execute(select(func.count()).where(
                    _snap_c.page_id == page_id, _snap_c.origin == ARCHIVE)).scalar_one())
                if offset >= archived:
                    return part(True, offset=offset - archived, limit=limit)
                rows = part(False, offset=offset, limit=limit)
            return rows + part(True, offset=0, limit=limit - len(rows)) if len(rows) < limit else rows

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


def _snapshot_part(page_id: str, live: bool, *, newest: int | None = None, after: int | None = None,
                   offset: int = 0, limit: int = 0) -> Any:
    """The live or the archived snapshots of a page as SnapshotRow columns: the `newest` (newest
    first), or `limit` of them by id after the id `after`, else from `offset`."""
    lines = func.length(_snap_c.text) - func.length(func.replace(_snap_c.text, bindparam("nl", "\n"), "")) + 1
    statement = select(_snap_c.id, _snap_c.created_at, _snap_c.origin, lines, Change.id, Change.added,
                       Change.removed, _snap_c.source).select_from(Snapshot.__table__.outerjoin(  # type: ignore[attr-defined]
                           Change.__table__, Change.snapshot_id == _snap_c.id)).where(  # type: ignore
                           _snap_c.page_id == page_id, _live(_snap_c) if live else _snap_c.origin == ARCHIVE)
    if newest is not None:
        return statement.order_by(_snap_c.id.desc()).limit(newest)
    if after is not None:
        return statement.where(_snap_c.id > after).order_by(_snap_c.id).limit(limit)
    return statement.order_by(_snap_c.id).offset(offset).limit(limit)

