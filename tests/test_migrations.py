"""Alembic migrations on SQLite and PostgreSQL: first revision -> head keeps every row,
create_all databases are adopted, concurrent starts migrate once, models match head."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from monitor.migrate import FIRST_REVISION, current_revision, head_revision, upgrade
from monitor.migrations import HEAD
from monitor.store import Store, StoreError, make_engine
from tests.conftest import ROOT

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 1, 18, 30, 5, tzinfo=UTC)
QUOTE = "We have paused processing any data requests from, and related to, Hong Kong SAR — für alle."

# Rows for every table of revision 0001, inserted with plain SQL as an old version would have.
ROWS: list[tuple[str, dict[str, Any]]] = [
    ("page", {"id": "zoom", "company": "Zoom", "url": "https://zoom.example/gov", "etag": '"abc"',
              "last_modified": None, "last_checked_at": T1, "last_status": "changed", "last_error": None,
              "last_change_at": T1, "failures": 0, "gone": False, "pending_hash": None,
              "claimed_by": None, "claim_expires": None}),
    ("raw_body", {"hash": "r" * 64, "content_type": "text/html", "size": 3, "data": b"x\x9c\x00\xff",
                  "created_at": T0}),
    ("snapshot", {"id": 1, "page_id": "zoom", "created_at": T0, "text_hash": "a" * 64, "text": "Old text.",
                  "raw_hash": "r" * 64, "extract_sig": "s" * 64, "origin": "fetch"}),
    ("snapshot", {"id": 2, "page_id": "zoom", "created_at": T1, "text_hash": "b" * 64, "text": QUOTE,
                  "raw_hash": None, "extract_sig": "s" * 64, "origin": "fetch"}),
    ("check", {"id": 1, "page_id": "zoom", "started_at": T0, "finished_at": T0, "status": "baseline",
               "http_status": 200, "error": None, "duration_ms": 12, "snapshot_id": 1, "worker": "h:1"}),
    ("check", {"id": 2, "page_id": "zoom", "started_at": T1, "finished_at": T1, "status": "changed",
               "http_status": 200, "error": None, "duration_ms": 15, "snapshot_id": 2, "worker": "h:2"}),
    ("change", {"id": 1, "page_id": "zoom", "snapshot_id": 2, "previous_snapshot_id": 1, "detected_at": T1,
                "added": 1, "removed": 1, "first_line": "+ " + QUOTE}),
    ("event", {"id": 1, "page_id": "zoom", "change_id": 1, "company": "Zoom", "url": "https://zoom.example/gov",
               "kind": "changed", "jurisdiction": None, "quote": QUOTE, "evidence": None, "rule": None,
               "detected_at": T1, "snapshot_id": 2, "previous_snapshot_id": 1}),
    ("event", {"id": 2, "page_id": "zoom", "change_id": 1, "company": "Zoom", "url": "https://zoom.example/gov",
               "kind": "pause_started", "jurisdiction": "HK", "quote": QUOTE, "evidence": "stated",
               "rule": "pause-verb", "detected_at": T1, "snapshot_id": 2, "previous_snapshot_id": 1}),
    ("delivery", {"id": 1, "event_id": 2, "sink": "ops", "status": "pending", "attempts": 1, "created_at": T1,
                  "next_attempt_at": T1, "sent_at": None, "last_error": "timeout", "claimed_by": None,
                  "claim_expires": None}),
]
TABLES = ["page", "raw_body", "snapshot", "check", "change", "event", "delivery"]
# Columns later revisions added to those tables, and what an upgrade gives existing rows.
ADDED = {"page": {"archive_until": None, "archive_pending": None, "fetch_mode": None},
         "snapshot": {"statements_sig": None, "source": None, "fetch_mode": "plain",
                      "url": None},
         "event": {"context": None, "relevant": None, "origin": "fetch", "source": None}}


def _bind(value: Any, dialect: str) -> Any:
    # SQLite keeps naive UTC (what models.UTCDateTime writes); PostgreSQL timestamptz takes aware.
    if isinstance(value, datetime) and dialect == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _insert_rows(engine: Any) -> None:
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for table, row in ROWS:
            cols = ", ".join(f'"{c}"' for c in row)
            params = ", ".join(f":{c}" for c in row)
            conn.execute(text(f'INSERT INTO "{table}" ({cols}) VALUES ({params})'),
                         {k: _bind(v, dialect) for k, v in row.items()})
        if dialect == "postgresql":  # explicit ids: move the sequences past them, as real use would have
            for table in ("snapshot", "check", "change", "event", "delivery"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                  f'(SELECT max(id) FROM "{table}"))'))


def _normalize(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _dump(engine: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of every revision-0001 table, with comparable values."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        meta = MetaData()
        for table in TABLES:
            reflected = Table(table, meta, autoload_with=conn)  # typed columns: SQLite dates come back as dates
            rows = conn.execute(select(reflected).order_by(*reflected.primary_key.columns)).mappings().all()
            out[table] = [{k: _normalize(v) for k, v in row.items()} for row in rows]
    for row in out["page"]:
        row["gone"] = bool(row["gone"])
    return out


def _expected(head: bool = False) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
    for table, row in ROWS:
        out[table].append({**row, **(ADDED.get(table, {}) if head else {})})
    return out


def _expected_at_head() -> dict[str, list[dict[str, Any]]]:
    """The rows after upgrading: as inserted, plus what later revisions derive from them."""
    out = _expected(head=True)
    out["page"][0]["last_success_at"] = T1  # 0006: the start of the page's last fetched check
    return out


def _schema_diff(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def test_models_match_head_revision(db_url: str) -> None:
    """Fails whenever someone changes monitor/models.py without adding a migration."""
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        # HEAD is what start-up compares with, without Alembic: it must be Alembic's head.
        assert current_revision(engine) == head_revision() == HEAD
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_upgrade_from_first_revision_keeps_every_row(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, FIRST_REVISION)
        assert current_revision(engine) == FIRST_REVISION
        assert "worker" not in inspect(engine).get_table_names()
        _insert_rows(engine)
        assert _dump(engine) == _expected()

        upgrade(engine)
        assert current_revision(engine) == head_revision() != FIRST_REVISION
        assert _dump(engine) == _expected_at_head()
        assert "worker" in inspect(engine).get_table_names()
    finally:
        engine.dispose()

    # The upgraded database works through the application's own queries.
    store = Store(db_url)
    try:
        assert [s.text for s in store.snapshots("zoom")] == ["Old text.", QUOTE]
        events = store.events(kind="pause_started")
        assert [(e.jurisdiction, e.quote, e.detected_at) for e in events] == [("HK", QUOTE, T1)]
        assert store.page_state("zoom").snapshot_id == 2
    finally:
        store.close()


def test_revision_two_refuses_a_second_change_from_one_snapshot(db_url: str) -> None:
    """The upgrade's new unique index is really there: a forked history cannot be written."""
    engine = make_engine(db_url)
    try:
        upgrade(engine, FIRST_REVISION)
        _insert_rows(engine)
        upgrade(engine)
        dialect = engine.dialect.name
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO snapshot (id, page_id, created_at, text_hash, text, extract_sig, origin) "
                              "VALUES (3, 'zoom', :t, :h, 'Fork.', '', 'fetch')"),
                         {"t": _bind(T1, dialect), "h": "c" * 64})
        with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"), engine.begin() as conn:
            conn.execute(text("INSERT INTO change (id, page_id, snapshot_id, previous_snapshot_id, detected_at, "
                              "added, removed, first_line) VALUES (2, 'zoom', 3, 1, :t, 0, 0, '')"),
                         {"t": _bind(T1, dialect)})
    finally:
        engine.dispose()


def test_create_all_database_is_stamped_and_upgraded(db_url: str) -> None:
    """A database made by the pre-Alembic create_all (no alembic_version) is adopted as 0001."""
    engine = make_engine(db_url)
    ddl = (DATA / f"legacy_schema_{engine.dialect.name}.sql").read_text()
    try:
        with engine.begin() as conn:
            for statement in ddl.split(";"):
                body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
                if body:
                    conn.exec_driver_sql(body)
        _insert_rows(engine)
        assert current_revision(engine) is None
    finally:
        engine.dispose()

    Store(db_url).close()  # what every start does

    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        assert _dump(engine) == _expected_at_head()
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_partial_foreign_schema_is_refused_clearly(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE page (id VARCHAR(100) PRIMARY KEY)")
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=r"not .*change.*alembic_version"):
        Store(db_url)


def test_database_from_a_newer_version_is_refused_clearly(db_url: str) -> None:
    Store(db_url).close()
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="newer policy-monitor"):
        Store(db_url)


def test_concurrent_starts_migrate_once(db_url: str, tmp_path: Path) -> None:
    """Six processes start on one empty database at the same moment; all succeed."""
    code = (
        "import sys, time\n"
        "from monitor.store import Store\n"
        "deadline = float(sys.argv[2])\n"
        "while time.time() < deadline: pass\n"  # line everyone up on the same instant
        "Store(sys.argv[1]).close()\n"
    )
    import time

    start = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url, str(start)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for proc in procs:
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert [rc for rc, _ in results] == [0] * 6, "\n".join(err for _, err in results)
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_migrate_command(tmp_path: Path, write_config: Any) -> None:
    from tests.conftest import run_cli

    config = write_config(pages=[{"id": "p", "url": "http://127.0.0.1:9/"}])
    result = run_cli("migrate", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
