"""`run` under a (fake) systemd: a real unix datagram NOTIFY_SOCKET receives READY, WATCHDOG,
STATUS, RELOADING/READY around SIGHUP and STOPPING on SIGTERM, from a real subprocess."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.pageserver import PageServer
from tests.conftest import ROOT, count_checks, wait_for

WATCHDOG_USEC = 2_000_000  # WatchdogSec=2: pets are due every second


class NotifyListener:
    """Binds the socket systemd would pass in $NOTIFY_SOCKET and records (time, fields)."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def with_key(self, key: str, value: str | None = None, after: float = 0.0) -> list[tuple[float, dict[str, str]]]:
        with self.lock:
            return [(t, m) for t, m in self.messages
                    if t >= after and key in m and (value is None or m[key] == value)]

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_run_speaks_sd_notify(server: PageServer, write_config: Callable[..., Path], tmp_path: Path) -> None:
    server.set("/a", "<p>alpha</p>")
    server.set("/b", "<p>beta</p>")
    pages = [{"id": "a", "url": server.url("/a"), "interval": "1s"}, {"id": "b", "url": server.url("/b")}]
    config = write_config(pages)
    db = tmp_path / "monitor.db"
    listener = NotifyListener(tmp_path / "notify.sock")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NOTIFY_SOCKET": str(listener.path),
           "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    env.pop("WATCHDOG_PID", None)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: listener.with_key("READY", "1"), 30), listener.messages
        ready_at, ready = listener.with_key("READY", "1")[0]
        # READY comes once the schedule exists: it reports the scheduled pages.
        assert ready.get("STATUS", "").startswith("2 pages, "), ready
        assert ready_at > started

        # Watchdog pets keep coming, about every half WatchdogSec, and carry STATUS lines.
        time.sleep(5.5)
        pets = [t for t, _ in listener.with_key("WATCHDOG", "1", after=ready_at)]
        assert len(pets) >= 4, f"{len(pets)} WATCHDOG=1 in 5.5 s"
        gaps = [b - a for a, b in itertools.pairwise(pets)]
        assert max(gaps) < WATCHDOG_USEC / 1e6, f"a watchdog gap reached WatchdogSec: {gaps}"
        assert 0.6 < sum(gaps) / len(gaps) < 1.5, gaps
        statuses = [m["STATUS"] for _, m in listener.with_key("STATUS", after=ready_at)]
        assert any("checks since start" in s and not s.endswith(" 0 checks since start") for s in statuses), statuses

        # SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
        hup = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: listener.with_key("READY", "1", after=hup), 15), listener.messages[-5:]
        reloading = listener.with_key("RELOADING", "1", after=hup)
        assert len(reloading) == 1 and int(reloading[0][1]["MONOTONIC_USEC"]) > 0
        assert reloading[0][0] <= listener.with_key("READY", "1", after=hup)[0][0]

        # SIGHUP with a broken config: still RELOADING then READY, the old config keeps running.
        good = config.read_text()
        config.write_text(good + "\n[[pages]]\nid = \"Not Valid\"\nurl = \"ftp://x\"\ncompany = \"X\"\n")
        hup = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: listener.with_key("READY", "1", after=hup), 15)
        before = count_checks(db)
        assert wait_for(lambda: count_checks(db) >= before + 2, 15), "checks stopped after a refused reload"
        assert proc.poll() is None
    finally:
        term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        listener.close()
    assert proc.returncode == 0, out[-3000:]
    stopping = listener.with_key("STOPPING", "1", after=term)
    assert len(stopping) == 1, listener.messages[-5:]
    assert "reload refused" in out and "Not Valid" in out and "Traceback" not in out
    # After STOPPING=1 the service sends no more READY (systemd would be confused).
    assert not listener.with_key("READY", "1", after=stopping[0][0])


def test_watchdog_is_pinged_only_while_workers_make_progress(server: PageServer, write_config: Callable[..., Path],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The scheduler's loop alone is no sign of life: when every worker has been in one check
    longer than any check can take, the pings stop (and systemd restarts the service). A hung
    check cannot be made for real without a bug, so the check itself is replaced by one that
    blocks; the daemon, its pings and the socket are real."""
    from monitor.config import load_config
    from monitor.daemon import Daemon
    from monitor.sdnotify import Notifier

    server.set("/a", "<p>alpha</p>")
    config = load_config(write_config([{"id": "a", "url": server.url("/a")}], workers=2))
    listener = NotifyListener(tmp_path / "notify.sock")
    notifier = Notifier({"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    daemon = Daemon(None, config, notifier=notifier)
    assert daemon.stuck_after >= 2 * config.monitor.deadline, "the bound covers at least two fetches"
    release = threading.Event()
    monkeypatch.setattr(daemon, "_check_page", lambda page_id: release.wait(60))
    daemon.stuck_after = 0.5
    workers = [threading.Thread(target=daemon._check_job, args=("a",)) for _ in range(2)]

    def pings() -> int:
        return len(listener.with_key("WATCHDOG", "1"))

    try:
        daemon._watchdog_job()
        assert wait_for(lambda: pings() == 1, 5), "idle: pinged"
        workers[0].start()
        time.sleep(0.7)
        daemon._watchdog_job()
        assert wait_for(lambda: pings() == 2, 5), "one worker hangs, the other is free: pinged"
        workers[1].start()
        daemon._watchdog_job()
        assert wait_for(lambda: pings() == 3, 5), "both busy, one of them within bounds: pinged"
        time.sleep(0.7)
        daemon._watchdog_job()
        time.sleep(0.5)
        assert pings() == 3, "every worker hangs: no ping"
        assert "every worker (2) has been in one page check for more than" in caplog.text
        release.set()
        for worker in workers:
            worker.join(10)
        daemon._watchdog_job()
        assert wait_for(lambda: pings() == 4, 5), "progress again: pinged"
    finally:
        release.set()
        daemon.rt.close()
        listener.close()


def test_the_hang_bound_covers_the_documents_a_page_follows(write_config: Callable[..., Path]) -> None:
    """A page's job checks the documents it follows after the page, each a check of its own: a
    job with five slow documents is slow, not hung, and must not stop the watchdog's pings."""
    from monitor.config import load_config
    from monitor.daemon import check_bound

    plain = load_config(write_config([{"id": "a", "url": "https://example.org/a"}]))
    following = load_config(write_config([{"id": "a", "url": "https://example.org/a"},
                                          {"id": "b", "url": "https://example.org/b", "links": "documents",
                                           "follow": True, "follow_max": 5}]))
    one = check_bound(plain, 30.0)
    assert one >= 2 * 30.0
    assert check_bound(following, 30.0) == pytest.approx(6 * one)
    assert check_bound(load_config(write_config([])), 30.0) == pytest.approx(one)
