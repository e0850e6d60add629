"""The database connection: the engine (and SQLite's settings), the schema brought up to date,
and the one place SQLAlchemy's errors become StoreError.

A database that cannot be used says why in one line: locked, read-only, full, unreachable, a
file that is not a database, a folder that cannot be made. `Database` is what every part of
the Store (monitor.store) stands on: the URL, the engine, sessions, dialect-aware INSERTs.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlmodel import Session, create_engine

from monitor.errors import StoreError
from monitor.redact import redact_database_url

log = logging.getLogger("monitor.store")


@contextmanager
def database_errors(what: str) -> Iterator[None]:
    """SQLAlchemy's OperationalError (locked, read-only, full, gone) as a StoreError saying `what`
    could not be done. Other errors (a constraint a record breaks) are the caller's to judge."""
    try:
        yield
    except OperationalError as exc:
        raise StoreError(f"{what}: {exc.orig}") from None


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
            _make_folder(Path(path))
        # Every transaction here ends in an explicit COMMIT or ROLLBACK by its Connection (which
        # also rolls back one left open); the pool's extra rollback at every check-in cost a
        # quarter of a small transaction's CPU.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_reset_on_return=None)
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


def _make_folder(path: Path) -> None:
    """The folder of a SQLite database file, made if missing; a file in its way is named."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"cannot use database {path}: {path.parent} is a file, not a folder") from None
    except OSError as exc:  # a file further up the path, no permission, a read-only file system
        raise StoreError(f"cannot create the folder {path.parent} of database {path}: {exc.strerror}") from None


class Database:
    """The engine of one database URL, its schema brought up to date unless `migrate` is False."""

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
        except DatabaseError as exc:  # OperationalError, or a file that is not a database at all
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

