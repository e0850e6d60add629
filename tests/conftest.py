"""Shared fixtures: a real page server on 127.0.0.1, a real SQLite file, a config writer."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, load_config
from monitor.pageserver import PageServer
from tests.pg import db_url, pg_url  # noqa: F401  (PostgreSQL fixtures: one throwaway database per test)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # test data kept with the tests (tests/data/README.md)


@pytest.fixture
def server() -> Iterator[PageServer]:
    with PageServer() as srv:
        yield srv


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_config(monitor: dict[str, Any], pages: list[dict[str, Any]], alerts: list[dict[str, Any]] = (),
                  report: dict[str, Any] | None = None) -> str:
    lines = ["[monitor]", *(f"{k} = {toml_value(v)}" for k, v in monitor.items())]
    for alert in alerts:
        lines += ["", "[[alerts]]", *(f"{k} = {toml_value(v)}" for k, v in alert.items())]
    for page in pages:
        lines += ["", "[[pages]]", *(f"{k} = {toml_value(v)}" for k, v in page.items())]
    if report:
        lines += ["", "[report]", *(f"{k} = {toml_value(v)}" for k, v in report.items())]
    return "\n".join(lines) + "\n"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """write_config(pages=[...], alerts=[...], **monitor_settings) -> path of a config using tmp SQLite."""

    def write(pages: list[dict[str, Any]], alerts: list[dict[str, Any]] = (), report: dict[str, Any] | None = None,
              name: str = "monitor.toml", **monitor: Any) -> Path:
        settings = {"database": "sqlite:///monitor.db", "allow_private_addresses": True, "interval": "1h",
                    "jitter": "0s", "timeout": 5, "deadline": 20, "retries": 0, "confirm_delay": "0s", **monitor}
        full_pages = [{"company": "Example", **page} for page in pages]
        path = tmp_path / name
        path.write_text(render_config(settings, full_pages, list(alerts), report))
        return path

    return write


@pytest.fixture
def runtime_for() -> Iterator[Callable[[Path], Any]]:
    from monitor.check import Runtime

    opened: list[Runtime] = []

    def make(config_path: Path) -> Runtime:
        rt = Runtime.open(load_config(config_path))
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        rt.close()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess, as a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("NOTIFY_SOCKET", None)
    full_env.pop("JOURNAL_STREAM", None)
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, input=input, cwd=ROOT)


def config_of(path: Path) -> Config:
    return load_config(path)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll until `predicate()` is true or `timeout` seconds pass; the final answer either way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def count_checks(db: Path, page: str | None = None) -> int:
    """Check rows in a SQLite database another process is writing (0 before it exists)."""
    try:
        con = sqlite3.connect(db, timeout=30)
        try:
            query = 'SELECT count(*) FROM "check"' + (" WHERE page_id = ?" if page else "")
            return int(con.execute(query, (page,) if page else ()).fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0
