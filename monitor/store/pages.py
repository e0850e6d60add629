"""Pages and claims: the page rows the config makes, a page's state before a check, the claims
that let several processes share one database, and the processes' own rows (`worker`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, or_, update
from sqlmodel import select

from monitor.models import ARCHIVE, Page, Snapshot, Worker, utcnow
from monitor.store.engine import Database, database_errors
from monitor.store.records import ArchiveState, PageState
from monitor.store.sql import _change_c, _latest_of, _live, _page_c, _snap_c


class Pages(Database):
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

    def page_gauges(self) -> list[tuple[str, datetime | None, int, bool, str | None, datetime | None]]:
        """(id, last_success_at, failures, gone, claimed_by, claim_expires) of every page, in one read."""
        with self.engine.connect() as conn:
            return [(row[0], row[1], int(row[2] or 0), bool(row[3]), row[4], row[5])
                    for row in conn.execute(_PAGE_GAUGES)]

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
        with database_errors(f"cannot claim {page_id}"), self.engine.begin() as conn:
            if conn.execute(_CLAIM, params).rowcount != 1:
                return None
            return _read_state(conn, page_id)

    def release_claim(self, page_id: str, worker: str) -> None:
        """Give a claim back without recording (record() itself clears the claim it holds)."""
        with database_errors(f"cannot release the claim of {page_id}"), self.engine.begin() as conn:
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
        # Core and a prebuilt statement: the daemon reads this before every scheduled check (its
        # first touch of the database in a check, hence the StoreError).
        with database_errors(f"cannot read the claim of {page_id}"), self.engine.connect() as conn:
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


def _read_state(conn: Any, page_id: str) -> PageState:
    row = conn.execute(_STATE, {"b_id": page_id}).first()
    if row is None:  # not in the database yet
        return PageState(page_id=page_id)
    return PageState(page_id=page_id, etag=row[0], last_modified=row[1], failures=row[2], gone=bool(row[3]),
                     pending_hash=row[4], last_checked_at=row[5], snapshot_id=row[6], text_hash=row[7],
                     raw_hash=row[8], extract_sig=row[9], fetch_mode=row[10], url=row[11])
