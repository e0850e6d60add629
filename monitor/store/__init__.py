"""The database: everything that touches it goes through `Store`.

`Store(url)` opens (and migrates) one database; its methods come from one module per concern:

    engine      the engine, SQLite's settings, the schema upgrade; SQLAlchemy's errors as StoreError
    records     the dataclasses `check` hands over and gets back (CheckRecord, PageState, ...)
    sql         the columns and conditions the others share, built once
    pages       page rows, a page's state, claims, the processes' rows
    recording   one check's outcome in one transaction, and the statements of a new snapshot
    reads       the history: snapshots, changes, events, report slices, the status board
    outbox      alert deliveries: claimed, sent, retried, requeued

Import from here (`from monitor.store import Store, CheckRecord`), not from the modules.
"""

from __future__ import annotations

from monitor.errors import StoreError
from monitor.store.engine import Database, make_engine
from monitor.store.outbox import Outbox
from monitor.store.pages import Pages
from monitor.store.reads import Reads
from monitor.store.recording import Recording
from monitor.store.records import (
    FETCHED,
    ArchiveState,
    CheckRecord,
    EventDraft,
    EventQuery,
    PageState,
    Recorded,
    Said,
    SnapshotRow,
    Version,
    sha256,
    worker_name,
)


class Store(Pages, Recording, Reads, Outbox, Database):
    """One database: `Store(url)` connects and brings the schema up to date (`migrate=False`: not)."""


__all__ = [
    "FETCHED", "ArchiveState", "CheckRecord", "EventDraft", "EventQuery", "PageState", "Recorded", "Said",
    "SnapshotRow", "Store", "StoreError", "Version", "make_engine", "sha256", "worker_name",
]
