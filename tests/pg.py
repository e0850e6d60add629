"""Throwaway PostgreSQL databases for tests: one `pm_test_<random>` database per test, dropped after.

The server comes from $MONITOR_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
No reachable server: the test is skipped with the reason, except under CI=true, where a
missing database is a broken CI setup and the test fails.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("MONITOR_TEST_PG") or DEFAULT_PG


@functools.cache
def unreachable() -> str | None:
    """Why the test server cannot be used, or None."""
    engine = create_engine(server_url(), poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"PostgreSQL at {make_url(server_url()).render_as_string(hide_password=True)} unreachable: " + (
            str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        )
    finally:
        engine.dispose()
    return None


def require_pg() -> None:
    reason = unreachable()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}; set MONITOR_TEST_PG", pytrace=False)
        pytest.skip(f"{reason} (set MONITOR_TEST_PG to a server where we may CREATE DATABASE)")


@contextmanager
def temp_database() -> Iterator[str]:
    """CREATE DATABASE pm_test_<random>; yield its URL; DROP it (even with open connections)."""
    require_pg()
    name = f"pm_test_{secrets.token_hex(6)}"
    admin = create_engine(server_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temp_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on a fresh SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
    else:
        with temp_database() as url:
            yield url
