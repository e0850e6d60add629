"""Schema upgrades with Alembic, for SQLite and PostgreSQL alike.

`upgrade(engine)` brings a database to the newest revision. It runs at every start (Store()
calls it) and from `policy-monitor migrate`, so it must be cheap when there is nothing to do
and safe when several processes start at once:

* fast path: a database already at head is only read, no lock taken;
* otherwise the whole upgrade runs in ONE transaction under a lock: `pg_advisory_lock` on
  PostgreSQL (other migrators wait, then find the work done), BEGIN IMMEDIATE on SQLite
  (the engine from `monitor.store.make_engine` starts every transaction that way);
* a database made by the pre-Alembic `create_all` code (our tables, no `alembic_version`)
  is stamped as revision 0001, the first released schema, and upgraded from there.

Anyone changing `monitor.models` adds a revision under monitor/migrations/versions/
(`alembic -c alembic.ini revision --autogenerate -m "..."` from a source checkout);
tests/test_migrations.py fails while models and migrations disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from monitor import models  # noqa: F401  (registers the tables)
from monitor.errors import MigrationError
from monitor.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic itself is imported only when there is work to do: at ~85 ms it was the largest
# part of every command's start-up, and a database at HEAD needs one SELECT to know it.

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"
# Tables of revision 0001: their presence without alembic_version marks a create_all database.
FIRST_TABLES = frozenset({"page", "raw_body", "snapshot", "check", "change", "event", "delivery"})
# Arbitrary but fixed key of the PostgreSQL advisory lock that serializes migrations ("pmon").
ADVISORY_LOCK_KEY = 0x706D6F6E


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config built in code: no alembic.ini is needed at run time."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions shipped"
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection inside one transaction that no other migrator can share."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # Session-level lock: held across the transaction below, released even on error.
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()
            try:
                with conn.begin():
                    yield conn
            finally:
                if conn.in_transaction():
                    conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                conn.commit()
        else:
            with conn.begin():  # BEGIN IMMEDIATE (make_engine): the write lock from the start
                yield conn


def _adopt_create_all_database(conn: Connection) -> None:
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables or not tables & FIRST_TABLES:
        return
    missing = FIRST_TABLES - tables
    if missing:
        raise MigrationError(
            f"database has some policy-monitor tables but not {', '.join(sorted(missing))} and no "
            "alembic_version: not a database this version can upgrade"
        )
    from alembic import command

    command.stamp(alembic_config(conn), FIRST_REVISION)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to `revision` (default: the newest); a no-op, without locking, when already there.

    The engine must come from `monitor.store.make_engine` (its SQLite transactions start
    with BEGIN IMMEDIATE, which is the SQLite half of the migration lock).
    """
    if revision == "head" and _stored_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.util import CommandError

    target = head_revision() if revision == "head" else revision
    try:
        if current_revision(engine) == target:
            return
        with _locked(engine) as conn:
            _adopt_create_all_database(conn)
            command.upgrade(alembic_config(conn), revision)
    except CommandError as exc:
        raise MigrationError(
            f"cannot upgrade the database schema: {exc} (was the database written by a newer policy-monitor?)"
        ) from None


def _stored_revision(engine: Engine) -> str | None:
    """The revision in alembic_version, read without Alembic; None if there is none (yet)."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:  # no such table: a new or pre-Alembic database, for the slow path
            return None
