"""Columns and conditions the parts of the Store share, built once.

Statements of the per-check hot path are built at import (constructing a SQLAlchemy statement
costs more than executing it against SQLite) from these columns; `_live` and `_latest_of` are
the two conditions every history read agrees on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column
from sqlmodel import select

from monitor.models import Change, Page, Snapshot

_page_c = Page.__table__.c  # type: ignore[attr-defined]
_snap_c = Snapshot.__table__.c  # type: ignore[attr-defined]
_change_c = Change.__table__.c  # type: ignore[attr-defined]
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

