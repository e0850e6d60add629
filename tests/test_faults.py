"""Database faults: a read-only file system, a full disk, a database locked by another process.

`check` exits 1 with a message naming the problem (no traceback) and records nothing partial;
the daemon logs the error, stays up, and records again on later runs once the fault is gone.
The database lives on a small tmpfs this test mounts (root only), which can be remounted
read-only or filled to the last byte.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.pageserver import PageServer
from tests.conftest import ROOT, run_cli


@contextmanager
def _tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size`; skipped where this process may not mount (not root, no CAP_SYS_ADMIN)."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with _tmpfs(tmp_path / "fs", "512k") as mount:
        yield mount


@pytest.fixture
def wal_fs(tmp_path: Path) -> Iterator[Path]:
    """Room for SQLite's write-ahead log, which grows to about 4 MB before it is checkpointed."""
    with _tmpfs(tmp_path / "fs", "16m") as mount:
        yield mount


def _remount(mount: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount)], check=True)


def _fill(mount: Path) -> Path:
    filler = mount / "filler"
    out = open(filler, "wb", buffering=0)  # noqa: SIM115  (closed below, after ENOSPC)
    try:
        while True:
            out.write(b"\0" * 4096)
    except OSError:
        pass
    finally:
        out.close()
    return filler


def _config(write_config: Callable[..., Path], server: PageServer, mount: Path, **settings: object) -> Path:
    return write_config([{"id": "p", "url": server.url("/p"), "interval": "1s"}],
                        database=f"sqlite:///{mount}/monitor.db", **settings)


def _snapshots(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(con.execute("SELECT count(*) FROM snapshot").fetchone()[0])
    finally:
        con.close()


def _clean_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    text = (result.stderr + result.stdout).lower()
    assert any(word in text for word in words), result.stderr


def test_check_on_a_read_only_database(server: PageServer, write_config: Callable[..., Path],
                                       small_fs: Path) -> None:
    server.set("/p", "<p>version one of the guidelines</p>")
    config = _config(write_config, server, small_fs)
    assert run_cli("check", "--config", str(config)).returncode == 0
    server.set("/p", "<p>version two of the guidelines</p>")
    _remount(small_fs, "ro")
    try:
        _clean_failure(run_cli("check", "--config", str(config)), "readonly", "read-only")
    finally:
        _remount(small_fs, "rw")
    assert run_cli("check", "--config", str(config)).returncode == 0
    assert _snapshots(small_fs / "monitor.db") == 2


def test_check_on_a_full_disk(server: PageServer, write_config: Callable[..., Path], small_fs: Path) -> None:
    server.set("/p", "<p>version one</p>")
    config = _config(write_config, server, small_fs)
    assert run_cli("check", "--config", str(config)).returncode == 0
    # A new version bigger than the space left: the transaction fails whole.
    server.set("/p", "<p>" + os.urandom(200_000).hex() + "</p>")
    result = run_cli("check", "--json", "--config", str(config))
    _clean_failure(result, "database or disk is full")
    assert "p: check not recorded: " in result.stderr
    assert _snapshots(small_fs / "monitor.db") == 1
    # Not one byte left: opening the database (its -wal file) fails, and the message says why.
    filler = _fill(small_fs)
    _clean_failure(run_cli("check", "--config", str(config)), "no space left", "disk is full")
    filler.unlink()
    server.set("/p", "<p>version two</p>")
    assert run_cli("check", "--config", str(config)).returncode == 0
    assert _snapshots(small_fs / "monitor.db") == 2


def test_run_on_a_read_only_database_says_so(server: PageServer, write_config: Callable[..., Path],
                                            small_fs: Path) -> None:
    server.set("/p", "<p>version one</p>")
    config = _config(write_config, server, small_fs)
    assert run_cli("check", "--config", str(config)).returncode == 0
    _remount(small_fs, "ro")
    try:
        result = run_cli("run", "--config", str(config), timeout=60)
    finally:
        _remount(small_fs, "rw")
    _clean_failure(result, "read-only")
    assert "mounted read-only" in result.stderr


def test_check_on_a_locked_database(server: PageServer, write_config: Callable[..., Path], tmp_path: Path) -> None:
    server.set("/p", "<p>version one</p>")
    config = write_config([{"id": "p", "url": server.url("/p")}])
    assert run_cli("check", "--config", str(config)).returncode == 0
    db = tmp_path / "monitor.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = run_cli("check", "--config", str(config))
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _clean_failure(result, "database is locked")
    assert 25 < waited < 90, "waits the busy timeout (30 s) for the lock, then gives up"
    server.set("/p", "<p>version two</p>")
    assert run_cli("check", "--config", str(config)).returncode == 0
    assert _snapshots(db) == 2


def test_daemon_rides_out_database_faults(server: PageServer, write_config: Callable[..., Path],
                                          wal_fs: Path) -> None:
    revision = {"n": 0}

    def changing(h: object) -> None:  # a new version on every fetch: every check wants to write
        revision["n"] += 1
        body = f"<p>revision {revision['n']} of the guidelines</p>".encode()
        h.send_response(200)  # type: ignore[attr-defined]
        h.send_header("Content-Type", "text/html")  # type: ignore[attr-defined]
        h.send_header("Content-Length", str(len(body)))  # type: ignore[attr-defined]
        h.end_headers()  # type: ignore[attr-defined]
        h.wfile.write(body)  # type: ignore[attr-defined]

    server.set("/p", handler=changing)
    config = _config(write_config, server, wal_fs, confirm="never")
    db = wal_fs / "monitor.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()

    def snapshots() -> int:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        except sqlite3.OperationalError:
            return 0
        try:
            return int(con.execute("SELECT count(*) FROM snapshot").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            con.close()

    def grows(timeout: float = 20) -> bool:
        before = snapshots()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if snapshots() >= before + 2:
                return True
            time.sleep(0.2)
        return False

    try:
        assert grows(), "the daemon never recorded"
        # (A read-only remount is refused by the kernel while the daemon holds the database open
        # for writing, so that fault can only meet a daemon at start: see the test below.)
        filler = _fill(wal_fs)
        time.sleep(4)
        assert proc.poll() is None, "the daemon died on a full disk"
        filler.unlink()
        assert grows(), "no recording after space was freed"
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(3)
        holder.execute("ROLLBACK")
        holder.close()
        assert grows(), "no recording after the lock was released:\n" + "".join(lines[-40:])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
        reader.join(timeout=10)
    log = "".join(lines)
    assert proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log
    assert "database or disk is full" in log, "the full disk is logged"
    assert _snapshots(db) >= 6


@pytest.mark.parametrize("command", ["check", "events", "run"])
def test_a_file_that_is_not_a_database(write_config: Callable[..., Path], tmp_path: Path, command: str) -> None:
    """A database path naming some other file (a config, a log) ends the command in one line, not
    a traceback from SQLite's "file is not a database"; the file is left as it was."""
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n" * 100, encoding="utf-8")
    config = write_config([{"id": "p", "url": "https://example.org/"}], database=f"sqlite:///{other}")
    result = run_cli(command, "--config", str(config), timeout=60)
    _clean_failure(result, "file is not a database")
    assert str(other) in result.stderr
    assert other.read_text(encoding="utf-8") == "not a database\n" * 100


@pytest.mark.parametrize("below", ["", "sub/"])
def test_a_database_whose_folder_is_a_file(write_config: Callable[..., Path], tmp_path: Path, below: str) -> None:
    """The database's folder (or one above it) is a file: one line naming the folder, no traceback."""
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be\n", encoding="utf-8")
    config = write_config([{"id": "p", "url": "https://example.org/"}],
                          database=f"sqlite:///{blocker}/{below}monitor.db")
    result = run_cli("check", "--config", str(config), timeout=60)
    _clean_failure(result, "is a file, not a folder", "not a directory")
    assert f"{blocker}/{below}".rstrip("/") in result.stderr
    assert blocker.read_text(encoding="utf-8") == "a file where the folder should be\n"
