"""`[metrics]`: a running daemon's /metrics (parsed with prometheus_client's own parser) and /healthz.

The daemon runs as `policy-monitor run` in a subprocess against pages served on 127.0.0.1,
a real webhook receiver and a real SQLite file or PostgreSQL database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from monitor.metrics import Health
from monitor.pageserver import PageServer
from tests.alert_receivers import WebhookReceiver
from tests.conftest import ROOT, run_cli, wait_for
from tests.pg import server_url

PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
PAGE = ("<html><body><main><h1>Government requests</h1><p>We review every request. Marker-{n}.</p>{extra}"
        "</main></body></html>")


class Daemon:
    """`policy-monitor run` with its output collected line by line."""

    def __init__(self, config: Path):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("NOTIFY_SOCKET", None)
        env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout or []), daemon=True)
        self.reader.start()
        self.base = ""
        assert wait_for(self._found_url, 60), "no metrics address logged:\n" + self.output()

    def _found_url(self) -> bool:
        for line in list(self.lines):
            if "metrics on http://" in line:
                self.base = line.split("metrics on ", 1)[1].split("/metrics", 1)[0]
                return True
        return self.proc.poll() is not None and bool(self.fail())

    def fail(self) -> None:
        raise AssertionError("the daemon exited:\n" + self.output())

    def output(self) -> str:
        return "".join(self.lines)

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, body = self.get("/metrics")
        assert status == 200, body
        self.last_body = body
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(body) for sample in family.samples}

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=90)
        self.reader.join(timeout=10)
        return self.output()


@contextmanager
def running(config: Path) -> Iterator[Daemon]:
    daemon = Daemon(config)
    try:
        yield daemon
    finally:
        out = daemon.stop()
        assert "Traceback" not in out, [line for line in out.splitlines() if "Traceback" in line]


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def series(samples: dict[Any, float], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


# -- config ----------------------------------------------------------------------------------


def test_metrics_listen_is_loopback_unless_allowed(write_config: Callable[..., Path]) -> None:
    config = write_config([{"id": "p", "url": "http://127.0.0.1:9/"}])
    base = config.read_text()
    for listen, allowed in (("127.0.0.1:9464", True), ("[::1]:9464", True), ("localhost:9464", True),
                            ("0.0.0.0:9464", False), ("192.0.2.7:9464", False), ("[::]:9464", False),
                            ("metrics.example.org:9464", False)):
        config.write_text(base + f'\n[metrics]\nlisten = "{listen}"\n')
        result = run_cli("config-check", "--config", str(config))
        if allowed:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode == 2, listen
            assert "key 'metrics.listen'" in result.stderr and "allow_remote = true" in result.stderr
            config.write_text(base + f'\n[metrics]\nlisten = "{listen}"\nallow_remote = true\n')
            assert run_cli("config-check", "--config", str(config)).returncode == 0
    for bad in ("9464", "127.0.0.1:", "127.0.0.1:70000", "::1:9464", "127.0.0.1:http"):
        config.write_text(base + f'\n[metrics]\nlisten = "{bad}"\n')
        result = run_cli("config-check", "--config", str(config))
        assert result.returncode == 2 and "key 'metrics.listen'" in result.stderr, bad
    config.write_text(base + '\n[metrics]\nlisten = "127.0.0.1:9464"\nport = 1\n')
    assert "key 'metrics.port': unknown key" in run_cli("config-check", "--config", str(config)).stderr


def test_a_taken_port_fails_at_start(write_config: Callable[..., Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config([{"id": "p", "url": "http://127.0.0.1:9/"}])
        config.write_text(config.read_text() + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
        result = run_cli("run", "--config", str(config), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "key 'metrics.listen': cannot listen on" in result.stderr and "Traceback" not in result.stderr


# -- health, judged -------------------------------------------------------------------------


def test_health_judgement() -> None:
    health = Health()
    t0 = health.tick_at

    def problem(now: float, **kw: Any) -> str | None:
        args: dict[str, Any] = {"stopping": False, "scheduler_running": True, "stall_after": 60.0,
                                "write_every": 10.0, **kw}
        return health.problem(now=now, **args)

    def alive_at(now: float) -> None:  # the scheduler ticked and the database took a write
        health.tick_at = health.db_ok_at = now

    assert problem(t0 + 1) is None
    assert problem(t0 + 1, stopping=True) == "stopping"
    assert problem(t0 + 1, scheduler_running=False) == "scheduler not running"
    assert problem(t0 + 31) == "scheduler stuck: no tick for 31s"
    health.tick_at = t0 + 100
    assert problem(t0 + 101) == "database: no successful write for 101s"
    alive_at(t0 + 100)
    health.database_failed("cannot record check of p: database or disk is full\n(second line) " + "x" * 500)
    reason = problem(t0 + 101) or ""
    assert reason.startswith("database: cannot record check of p: database or disk is full (second line) xxx")
    assert "\n" not in reason and len(reason) < 350
    health.database_ok()
    alive_at(t0 + 1000)
    assert problem(t0 + 1000) is None  # idle for 1000 s: fine, nothing was due
    health.check_started()  # checks start after the idle spell: the stall clock starts now
    assert health.progress_at > t0
    health.progress_at = t0 + 1000
    alive_at(t0 + 1059)
    assert problem(t0 + 1059) is None
    alive_at(t0 + 1061)
    assert problem(t0 + 1061) == "checks stalled: 1 running, none finished for 61s (limit 60s)"
    health.check_started()
    health.check_finished()  # one of two finished: progress
    alive_at(time.monotonic())
    assert health.in_flight == 1 and problem(time.monotonic() + 1) is None


def test_health_reason_hides_secrets() -> None:
    from monitor.redact import register_secret_url

    register_secret_url("json://hooks.example.org/T0123456789/SECRETTOKEN42")
    health = Health()
    health.database_failed("failed at postgresql://user:hunter2@db.example.org/x with T0123456789")
    assert "hunter2" not in (health.db_error or "") and "T0123456789" not in (health.db_error or "")


# -- a running daemon ------------------------------------------------------------------------


def test_scrape_a_running_daemon(server: PageServer, write_config: Callable[..., Path], tmp_path: Path) -> None:
    server.set("/zoom", PAGE.format(n=1, extra=""))
    server.set("/quiet", PAGE.format(n=2, extra=""))
    # /gone is never served: every check fails (404).
    with WebhookReceiver() as hook:
        pages = [{"id": "zoom", "company": "Zoom", "url": server.url("/zoom"), "interval": "2s"},
                 {"id": "quiet", "company": "Quiet", "url": server.url("/quiet"), "interval": "2s"},
                 {"id": "gone", "company": "Gone", "url": server.url("/gone"), "interval": "2s"}]
        config = write_config(pages, alerts=[{"url": hook.url(path="/hook/SECRETTOKEN42abc"), "name": "desk"}],
                              alert_interval="1s", lease="6s", gone_after=1000)
        config.write_text(config.read_text() + '\n[metrics]\nlisten = "127.0.0.1:0"\n')
        with running(config) as daemon:
            assert daemon.base.startswith("http://127.0.0.1:")
            assert wait_for(lambda: server.hits.get("/zoom", 0) >= 1 and server.hits.get("/gone", 0) >= 1, 30)
            server.set("/zoom", PAGE.format(n=1, extra=f"<p>{PAUSE}</p>"))
            assert wait_for(lambda: len(hook.received) >= 2, 30), "no alerts sent"  # changed + pause_started

            def settled() -> bool:
                samples = daemon.metrics()
                return (value(samples, "policy_monitor_alert_deliveries_total", sink="desk", outcome="sent") == 2
                        and value(samples, "policy_monitor_pages_failing", source="database") == 1
                        and (value(samples, "policy_monitor_deliveries", status="pending", source="database")
                             == 0.0))

            assert wait_for(settled, 30), daemon.last_body
            samples = daemon.metrics()
            body = daemon.last_body

            checks = series(samples, "policy_monitor_checks_total")
            by = {dict(labels)["page"] + "/" + dict(labels)["status"]: v for labels, v in checks.items()}
            assert by["zoom/baseline"] == 1 and by["zoom/changed"] == 1
            assert by["gone/failed"] >= 1 and by["quiet/baseline"] == 1
            assert {dict(labels)["page"] for labels in checks} == {"zoom", "quiet", "gone"}
            assert value(samples, "policy_monitor_changes_total") == 1
            assert value(samples, "policy_monitor_events_total", kind="pause_started") == 1
            assert value(samples, "policy_monitor_events_total", kind="changed") == 1
            assert value(samples, "policy_monitor_events_total", kind="pause_lifted") == 0
            fetches = value(samples, "policy_monitor_fetch_seconds_count") or 0
            assert fetches >= sum(by.values())  # every check fetched at least once
            assert value(samples, "policy_monitor_fetch_seconds_bucket", le="+Inf") == fetches
            assert (value(samples, "policy_monitor_fetched_bytes_total") or 0) >= len(PAGE) * 2
            assert value(samples, "policy_monitor_alert_deliveries_total", sink="desk", outcome="retry") == 0

            # Database series, from the one exporter.
            assert value(samples, "policy_monitor_database_exporter") == 1
            assert value(samples, "policy_monitor_workers_alive", source="database") == 1
            assert value(samples, "policy_monitor_pages_gone", source="database") == 0
            ages = series(samples, "policy_monitor_page_last_success_age_seconds")
            assert {dict(labels)["page"] for labels in ages} == {"zoom", "quiet"}  # gone never succeeded
            assert all(0 <= age < 30 for age in ages.values())
            build = series(samples, "policy_monitor_build_info")
            assert [dict(labels)["database"] for labels in build] == ["sqlite"]
            assert value(samples, "policy_monitor_healthy") == 1
            assert value(samples, "process_resident_memory_bytes")

            # Neither page text nor the sink's secret URL appears.
            for secret in ("Marker-1", "We review", "paused processing", "SECRETTOKEN42abc", str(hook.port)):
                assert secret not in body

            assert daemon.get("/healthz") == (200, "ok\n")
            assert daemon.get("/nothing")[0] == 404
            assert daemon.get("/metrics", method="POST")[0] == 405

            # A page removed by a reload takes its series with it.
            write_config(pages[:2], alerts=[{"url": hook.url(path="/hook/SECRETTOKEN42abc"), "name": "desk"}],
                         alert_interval="1s", lease="6s", gone_after=1000)
            config.write_text(config.read_text() + '\n[metrics]\nlisten = "127.0.0.1:0"\n')
            daemon.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "config reloaded" in daemon.output(), 20)
            assert wait_for(lambda: not [labels for labels in series(daemon.metrics(), "policy_monitor_checks_total")
                                         if dict(labels)["page"] == "gone"], 10)
            assert wait_for(lambda: value(daemon.metrics(), "policy_monitor_pages_failing", source="database") == 0,
                            20)
        out = daemon.output()
    assert "stopped" in out


def test_healthz_says_when_checks_stall(server: PageServer, write_config: Callable[..., Path]) -> None:
    release = threading.Event()

    def hang(handler: Any) -> None:
        release.wait(60)
        body = b"<p>finally</p>"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.set("/slow", handler=hang)
    config = write_config([{"id": "slow", "url": server.url("/slow"), "interval": "1h"}], workers=1, timeout=90,
                          deadline=90)
    config.write_text(config.read_text() + '\n[metrics]\nlisten = "127.0.0.1:0"\nstall_after = "2s"\n')
    try:
        with running(config) as daemon:
            assert wait_for(lambda: server.hits.get("/slow", 0) >= 1, 30)
            assert wait_for(lambda: daemon.get("/healthz")[0] == 503, 15)
            status, reason = daemon.get("/healthz")
            assert status == 503 and reason.startswith("checks stalled: 1 running, none finished for ")
            assert reason.count("\n") == 1
            assert value(daemon.metrics(), "policy_monitor_healthy") == 0
            assert value(daemon.metrics(), "policy_monitor_checks_in_flight") == 1
            release.set()
            assert wait_for(lambda: daemon.get("/healthz") == (200, "ok\n"), 15)
            assert value(daemon.metrics(), "policy_monitor_checks_total", page="slow", status="baseline") == 1
    finally:
        release.set()


@contextmanager
def _admin() -> Iterator[Any]:
    engine = create_engine(server_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_daemons_on_postgresql_and_a_database_outage(server: PageServer, write_config: Callable[..., Path],
                                                          pg_url: str) -> None:
    """Both export their own process series; only one the database series (a sum counts once);
    /healthz answers 503 naming the database while it refuses connections, 200 again after."""
    for n in range(4):
        server.set(f"/p{n}", PAGE.format(n=n, extra=""))
    pages = [{"id": f"p{n}", "url": server.url(f"/p{n}"), "interval": "3s"} for n in range(4)]
    pages.append({"id": "broken", "url": server.url("/missing"), "interval": "3s"})
    config = write_config(pages, database=pg_url, lease="3s")
    config.write_text(config.read_text() + '\n[metrics]\nlisten = "127.0.0.1:0"\n')
    name = make_url(pg_url).database
    with running(config) as one, running(config) as two:
        def both() -> list[dict[Any, float]]:
            return [one.metrics(), two.metrics()]

        def settled() -> bool:
            a, b = both()
            return (sum(value(s, "policy_monitor_database_exporter") or 0 for s in (a, b)) == 1
                    and all(value(s, "policy_monitor_workers_alive", source="database") in (None, 2) for s in (a, b))
                    and sum(value(s, "policy_monitor_pages_failing", source="database") or 0 for s in (a, b)) == 1
                    and sum(len(series(s, "policy_monitor_page_last_success_age_seconds")) for s in (a, b)) == 4)

        assert wait_for(settled, 40), one.last_body + "\n----\n" + two.last_body
        a, b = both()
        exporter, other = (a, b) if value(a, "policy_monitor_database_exporter") == 1 else (b, a)
        assert not series(other, "policy_monitor_pages_failing")  # not exported twice
        assert value(exporter, "policy_monitor_workers_alive", source="database") == 2
        # The pages were shared out: each page checked, by one process or the other.
        checked = {dict(labels)["page"] for s in (a, b) for labels in series(s, "policy_monitor_checks_total")}
        assert checked == {"p0", "p1", "p2", "p3", "broken"}
        assert [dict(labels)["database"] for labels in series(a, "policy_monitor_build_info")] == ["postgresql"]
        assert one.get("/healthz") == (200, "ok\n") and two.get("/healthz") == (200, "ok\n")

        with _admin() as admin:
            admin.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                          {"n": name})
            try:
                assert wait_for(lambda: one.get("/healthz")[0] == 503, 30)
                reason = one.get("/healthz")[1]
                assert reason.startswith("database: ") and reason.count("\n") == 1
                assert "not currently accepting connections" in reason or "terminat" in reason, reason
                assert one.proc.poll() is None and two.proc.poll() is None  # they ride it out
            finally:
                admin.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert wait_for(lambda: one.get("/healthz") == (200, "ok\n") and two.get("/healthz") == (200, "ok\n"), 40)
