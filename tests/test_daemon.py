"""The daemon (`run`) as a real subprocess: schedule, restart, SIGHUP reload, SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.daemon import first_run
from monitor.pageserver import PageServer
from tests.conftest import ROOT, count_checks, run_cli, wait_for


def test_first_run_follows_the_last_check() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    hour = 3600.0
    recent = first_run(now - timedelta(minutes=10), hour, now)
    assert recent == now + timedelta(minutes=50)  # not re-checked just because we restarted
    never = first_run(None, hour, now)
    assert now < never <= now + timedelta(seconds=10)  # never checked: within seconds
    overdue = first_run(now - timedelta(hours=5), hour, now)
    assert now < overdue <= now + timedelta(seconds=10)


def _start(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)], cwd=ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 45) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=timeout)
    return out


def test_run_checks_reloads_and_stops(server: PageServer, write_config: Callable[..., Path],
                                      tmp_path: Path) -> None:
    server.set("/a", "<p>alpha</p>")
    server.set("/b", "<p>beta</p>")
    pages = [{"id": "a", "url": server.url("/a"), "interval": "2s"}]
    config = write_config(pages)
    db = tmp_path / "monitor.db"
    proc = _start(config)
    try:
        assert wait_for(lambda: count_checks(db, "a") >= 2, 30), "page a was not checked on its 2 s interval"
        # Reload with a broken config: the old one keeps running.
        config.write_text(config.read_text() + "\n[[pages]]\nid = \"BAD ID\"\n")
        proc.send_signal(signal.SIGHUP)
        before = count_checks(db, "a")
        assert wait_for(lambda: count_checks(db, "a") > before, 15)
        # Reload with a new page: it is scheduled without a restart.
        write_config([*pages, {"id": "b", "url": server.url("/b"), "interval": "2s"}])
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: count_checks(db, "b") >= 1, 20), "page b added by SIGHUP was never checked"
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert "reload refused" in out and "BAD ID" in out
    assert "config reloaded" in out and "Traceback" not in out
    assert "stopped" in out


def test_restart_resumes_the_schedule(server: PageServer, write_config: Callable[..., Path], tmp_path: Path) -> None:
    server.set("/old", "<p>checked before</p>")
    server.set("/new", "<p>never checked</p>")
    config = write_config([{"id": "old", "url": server.url("/old")}])
    assert run_cli("check", "--config", str(config)).returncode == 0
    write_config([{"id": "old", "url": server.url("/old")}, {"id": "new", "url": server.url("/new")}])
    db = tmp_path / "monitor.db"
    proc = _start(config)
    try:
        assert wait_for(lambda: count_checks(db, "new") >= 1, 20), "a never-checked page must be checked within seconds"
        time.sleep(2)
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert count_checks(db, "old") == 1, "a page checked a moment ago must not be re-checked on restart"


def test_sigterm_during_a_check_leaves_a_consistent_database(
    server: PageServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    def slow(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "2000")
        handler.end_headers()
        for _ in range(20):
            handler.wfile.write(b"<p>" + b"x" * 96 + b"</p>")
            handler.wfile.flush()
            time.sleep(0.2)

    server.set("/slow", handler=slow)
    server.set("/fast", "<p>fast</p>")
    config = write_config([{"id": "slow", "url": server.url("/slow"), "interval": "1h"},
                           {"id": "fast", "url": server.url("/fast"), "interval": "1h"}])
    db = tmp_path / "monitor.db"
    proc = _start(config)
    assert wait_for(lambda: server.hits.get("/slow", 0) >= 1, 20)
    time.sleep(0.5)  # mid-body
    started = time.monotonic()
    out = _stop(proc)
    assert proc.returncode == 0, out
    assert time.monotonic() - started < 40
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # The in-flight check finished and was recorded whole, or not at all: never half.
    rows = con.execute("SELECT status, snapshot_id FROM \"check\" WHERE page_id = 'slow'").fetchall()
    snaps = con.execute("SELECT count(*) FROM snapshot WHERE page_id = 'slow'").fetchone()[0]
    con.close()
    assert len(rows) <= 1 and snaps == sum(1 for _, snap in rows if snap is not None)
