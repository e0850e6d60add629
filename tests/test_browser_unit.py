"""The daemon renders a browser page under the restrictions of systemd/policy-monitor.service.

Starting the real unit needs systemd as PID 1 (`systemd-run`); development machines and CI here
run without it, so tests/unit_sandbox.py applies the unit's settings that bear on a browser
(no capabilities, NoNewPrivileges, MemoryDenyWriteExecute, its system-call filter, address
families and namespaces, a read-only file system, a /proc of processes only; read from the unit
file) and the real daemon runs under them.
"""

from __future__ import annotations

import os
import platform
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.browser import _descendants
from monitor.pageserver import PageServer
from tests.chromium import chromium  # noqa: F401  (the fixture: skip without Chromium, fail under CI=true)
from tests.conftest import ROOT, wait_for
from tests.test_browser import DELAYED_AND_XHR

SANDBOX = [sys.executable, str(ROOT / "tests" / "unit_sandbox.py"), "--"]


def _cannot_sandbox() -> str | None:
    if os.geteuid() != 0:
        return "applying the unit's restrictions by hand needs root (to drop every capability)"
    major, minor = (int(part) for part in platform.release().split(".")[:2])
    if (major, minor) < (6, 3):
        return f"MemoryDenyWriteExecute by prctl(PR_SET_MDWE) needs Linux 6.3 (this is {platform.release()})"
    if subprocess.run(["sh", "-c", "command -v systemd-analyze"], capture_output=True).returncode != 0:
        return "systemd-analyze is not installed (it lists the system calls of @system-service)"
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"pyseccomp or libseccomp is missing: {exc}"
    return None


@pytest.fixture
def sandbox() -> list[str]:
    reason = _cannot_sandbox()
    if reason:
        pytest.skip(reason)
    return SANDBOX


def _status(pid: int) -> dict[str, str] | None:
    """The process's /proc status fields, or None when it has exited meanwhile (a page's renderer)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            return dict(line.rstrip("\n").split(":\t", 1) for line in file if ":\t" in line)
    except FileNotFoundError:
        return None


def test_the_sandbox_applies_the_units_restrictions(sandbox: list[str]) -> None:
    probe = ("import mmap, socket\n"
             "for what, attempt in (('wx', lambda: mmap.mmap(-1, 4096, prot=7)),\n"
             "                      ('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),\n"
             "                      ('unix', lambda: socket.socket(socket.AF_UNIX))):\n"
             "    try:\n"
             "        attempt(); print(what, 'allowed')\n"
             "    except OSError as exc:\n"
             "        print(what, 'refused', exc.errno)\n"
             "for path in ('/proc/meminfo', '/etc/policy-monitor-sandbox-probe'):\n"
             "    try:\n"
             "        open(path, 'a').close(); print(path, 'writable')\n"
             "    except OSError as exc:\n"
             "        print(path, 'refused', exc.errno)\n"
             "print(open('/proc/self/status').read())\n")
    out = subprocess.run([*sandbox, sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "wx refused 13" in out.stdout  # MemoryDenyWriteExecute
    assert "netlink refused 1" in out.stdout and "unix allowed" in out.stdout  # RestrictAddressFamilies
    assert "CapEff:\t0000000000000000" in out.stdout and "NoNewPrivs:\t1" in out.stdout
    assert "Seccomp:\t2" in out.stdout
    assert "/proc/meminfo refused 2" in out.stdout  # ProcSubset=pid: not there at all
    assert "/etc/policy-monitor-sandbox-probe refused 30" in out.stdout  # ProtectSystem=strict: EROFS


@pytest.mark.usefixtures("chromium")
def test_the_daemon_renders_a_page_under_the_units_restrictions(
    sandbox: list[str], server: PageServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    server.set("/guidelines", DELAYED_AND_XHR)
    server.set("/api/numbers", '{"line": "Requests received: 42."}', content_type="application/json")
    config = write_config([{"id": "g", "url": server.url("/guidelines"), "fetch": "browser", "select": ["main"]}],
                          deadline=60)
    db = tmp_path / "monitor.db"

    def snapshot() -> str | None:
        try:
            con = sqlite3.connect(db, timeout=30)
            try:
                row = con.execute("SELECT text FROM snapshot WHERE page_id = 'g' AND fetch_mode = 'browser'").fetchone()
            finally:
                con.close()
        except sqlite3.OperationalError:
            return None
        return row[0] if row else None

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([*sandbox, sys.executable, "-m", "monitor", "run", "--config", str(config)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: snapshot() is not None or proc.poll() is not None, 90), "no rendered snapshot"
        assert proc.poll() is None, "the daemon exited"
        # Every process of the daemon's tree (Playwright's driver, every Chromium process) is confined.
        statuses = {pid: _status(pid) for pid in [proc.pid, *_descendants(proc.pid)]}
        confined = {pid: (s["Seccomp"], s["NoNewPrivs"], s["CapEff"]) for pid, s in statuses.items() if s}
        assert len(confined) >= 3, statuses  # the daemon, the driver, Chromium (and its helpers)
        assert set(confined.values()) == {("2", "1", "0000000000000000")}, confined
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert snapshot() == ("Law enforcement guidelines\n"
                          "We have paused processing any data requests from Hong Kong SAR.\n"
                          "Requests received: 42."), out
