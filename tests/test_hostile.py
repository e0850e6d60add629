"""Hostile servers: every misbehaviour ends in a clear failure (or, where right, a success)
within the deadline, with nothing recorded but the failed check, and the process unharmed.

Checks go through the real `check_page` (and the `check` CLI and the `run` daemon as
subprocesses) against real sockets on 127.0.0.1. Redirects to other addresses are refused
before any connection: a `socket.connect` audit hook proves no packet left for them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.check import Runtime, check_page
from monitor.config import load_config
from monitor.fetch import Fetcher, policy_from_settings
from monitor.pageserver import PageServer
from tests import hostile
from tests.conftest import ROOT, render_config, wait_for

SETTINGS = {
    "database": "sqlite:///monitor.db",
    "allow_private_addresses": ["127.0.0.0/8"],  # loopback works; 10/8, 169.254/16, ::1 ... do not
    "interval": "1h", "jitter": "0s",
    "timeout": hostile.TIMEOUT, "deadline": hostile.DEADLINE, "max_bytes": hostile.MAX_BYTES,
    "retries": 1, "confirm_delay": "0s", "gone_after": 1000,
}
# Cases whose redirect target is a host name: only the injected resolver may answer them,
# so they never run in a subprocess (which would ask real DNS).
NEEDS_FAKE_DNS = {"redirect-intranet-name", "redirect-mixed-name", "redirect-nxdomain"}


def vm_kib(pid: int | str = "self", key: str = "VmRSS") -> int:
    """A memory figure from /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="module")
def hostile_site() -> Iterator[tuple[PageServer, dict[str, hostile.Case]]]:
    hostile.gzip_bomb(), hostile.deflate_bomb(), hostile.brotli_bomb()  # build before any measuring
    with PageServer() as srv:
        cases = {case.name: case for case in hostile.install(srv)}
        yield srv, cases
        hostile.stop_handlers()


def _write(tmp: Path, srv: PageServer, names: list[str], **settings: Any) -> Path:
    pages = [{"id": name, "company": "Hostile", "url": srv.url(f"/h/{name}")} for name in names]
    path = tmp / "monitor.toml"
    path.write_text(render_config({**SETTINGS, **settings}, pages))
    return path


@pytest.fixture(scope="module")
def hostile_rt(hostile_site: tuple[PageServer, dict[str, hostile.Case]],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    srv, cases = hostile_site
    config = load_config(_write(tmp_path_factory.mktemp("hostile"), srv, list(cases)))
    fetcher = Fetcher(policy_from_settings(config.monitor), resolver=hostile.fake_resolver)
    rt = Runtime.open(config, fetcher=fetcher)
    yield rt
    rt.close()


def _rows(rt: Runtime, page_id: str) -> dict[str, int]:
    counts = rt.store.counts(page_id)
    counts["events"] = len(rt.store.events(page_id=page_id))
    return counts


CASE_NAMES = hostile.case_names()


@pytest.mark.parametrize("name", CASE_NAMES)
def test_misbehaving_server_through_check_page(
    name: str, hostile_site: tuple[PageServer, dict[str, hostile.Case]], hostile_rt: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, cases = hostile_site
    case = cases[name]
    page = hostile_rt.config.page(name)
    before = _rows(hostile_rt, name)
    caplog.set_level(logging.INFO)
    with hostile.ConnectionLog.recording() as connections:
        started = time.monotonic()
        outcome = check_page(hostile_rt, page)
        elapsed = time.monotonic() - started
    after = _rows(hostile_rt, name)
    assert elapsed <= case.max_seconds, f"{name}: took {elapsed:.1f}s, allowed {case.max_seconds}s"
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records), caplog.text
    assert after["checks"] == before["checks"] + 1, "every check, failed or not, leaves its check row"
    hosts = {str(address[0]) for address in connections}
    assert hosts <= {"127.0.0.1"}, f"{name}: connected to {hosts}"
    if case.ok:
        assert outcome.status in ("baseline", "unchanged", "not_modified"), (outcome.status, outcome.error)
        return
    assert outcome.status == "failed", f"{name}: expected a failure, got {outcome.status}"
    assert outcome.error and re.search(case.reason, outcome.error), f"{name}: reason {outcome.error!r}"
    assert "\n" not in outcome.error and len(outcome.error) < 500
    assert f"{name}: check failed: {outcome.error}" in caplog.text, "the reason must be logged"
    # Nothing but the check row: no snapshot, no change, no event, no delivery.
    assert (after["snapshots"], after["changes"], after["events"]) == (0, 0, 0)
    assert outcome.snapshot_id is None and outcome.event_ids == []
    state = hostile_rt.store.page_state(name)
    assert state.failures == before["checks"] + 1 and state.snapshot_id is None


def test_catalogue_is_wide(hostile_site: tuple[PageServer, dict[str, hostile.Case]]) -> None:
    _, cases = hostile_site
    failing = [case for case in cases.values() if not case.ok]
    assert len(failing) >= 30 and len(cases) == len(CASE_NAMES)
    assert {"gzip-bomb", "brotli-bomb", "drip-body", "redirect-metadata", "headers-never-end"} <= set(cases)


def test_private_redirect_targets_are_never_contacted(
    hostile_site: tuple[PageServer, dict[str, hostile.Case]], hostile_rt: Runtime
) -> None:
    """Not even a SYN: the refusal happens before connect(), by the resolver's answer alone."""
    _, cases = hostile_site
    guarded = [case for case in cases.values() if case.forbidden]
    assert len(guarded) >= 6
    for case in guarded:
        with hostile.ConnectionLog.recording() as connections:
            outcome = check_page(hostile_rt, hostile_rt.config.page(case.name))
        assert outcome.failed and "refused" in (outcome.error or "")
        contacted = {str(address[0]) for address in connections}
        assert not contacted & set(case.forbidden), f"{case.name}: connected to {contacted}"
        assert contacted == {"127.0.0.1"}, "the first hop (our server) is contacted, nothing else"


def test_dns_failure_and_private_page_url_without_any_connection(tmp_path: Path) -> None:
    pages = [{"id": "nxdomain", "company": "X", "url": "http://nxdomain.invalid/policy"},
             {"id": "intranet", "company": "X", "url": "https://intranet.example/policy"},
             {"id": "metadata", "company": "X", "url": "http://169.254.169.254/latest/meta-data/"}]
    path = tmp_path / "monitor.toml"
    path.write_text(render_config(SETTINGS, pages))
    config = load_config(path)
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return hostile.fake_resolver(host, port)

    rt = Runtime.open(config, fetcher=Fetcher(policy_from_settings(config.monitor), resolver=resolver))
    try:
        with hostile.ConnectionLog.recording() as connections:
            outcomes = {page.id: check_page(rt, page) for page in config.pages}
    finally:
        rt.close()
    assert connections == []
    assert asked == ["nxdomain.invalid", "intranet.example", "169.254.169.254"]
    assert outcomes["nxdomain"].error == "DNS lookup failed for nxdomain.invalid: Name or service not known"
    assert "non-public address 10.1.2.3" in (outcomes["intranet"].error or "")
    assert "non-public address 169.254.169.254" in (outcomes["metadata"].error or "")


def test_tls_failure_is_a_clear_failed_check(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    srv, url = hostile.tls_server()
    try:
        path = tmp_path / "monitor.toml"
        path.write_text(render_config(SETTINGS, [{"id": "tls", "company": "X", "url": url}]))
        rt = Runtime.open(load_config(path))
        try:
            started = time.monotonic()
            outcome = check_page(rt, rt.config.page("tls"))
            assert time.monotonic() - started < hostile.DEADLINE + hostile.SLACK
            assert rt.store.counts("tls")["snapshots"] == 0
        finally:
            rt.close()
    finally:
        srv.stop()
    assert outcome.failed
    assert outcome.error and outcome.error.startswith("TLS error:") and "certificate verify failed" in outcome.error
    assert "Traceback" not in caplog.text


def test_repeated_hostile_rounds_keep_memory_and_descriptors_bounded(
    hostile_site: tuple[PageServer, dict[str, hostile.Case]], tmp_path: Path
) -> None:
    """Bombs, oversized and endless bodies, resets: three rounds, then RSS and open files
    must not keep growing (a leak would show as growth per round)."""
    srv, cases = hostile_site
    fast = [name for name, case in cases.items() if case.max_seconds <= hostile.DEADLINE + hostile.SLACK
            and not name.startswith(("drip", "headers-never", "no-headers"))]
    config = load_config(_write(tmp_path, srv, fast, retries=0))
    rt = Runtime.open(config, fetcher=Fetcher(policy_from_settings(config.monitor), resolver=hostile.fake_resolver))
    try:
        rss, fds = [], []
        for _ in range(4):
            with srv.lock:
                srv.requests.clear()  # the test server's own request log is not the monitor's memory
            for page in config.pages:
                check_page(rt, page)
            rss.append(vm_kib())
            fds.append(open_fds())
    finally:
        rt.close()
    # Round 1 warms caches (parsers, pools, SQLAlchemy); rounds 2-4 must be flat.
    growth = rss[-1] - rss[1]
    print(f"hostile rounds of {len(fast)} pages: RSS KiB per round {rss}, open fds {fds}")
    assert growth < 8 * 1024, f"RSS grew {growth} KiB over 2 rounds of {len(fast)} hostile checks: {rss}"
    assert fds[-1] <= fds[1] + 2, f"open descriptors grew: {fds}"


# -- the same through the command line and the daemon ---------------------------------------------

CLI_CASES = ["declared-too-large", "undeclared-too-large", "endless-chunked", "gzip-bomb", "deflate-bomb",
             "brotli-bomb", "gzip-corrupt", "redirect-loop", "redirect-chain-7", "redirect-file",
             "redirect-gopher", "redirect-javascript", "redirect-private-10", "redirect-metadata",
             "redirect-ipv6-loopback", "binary-garbage", "empty-200", "truncated-body", "reset-mid-body",
             "http-500", "http-503-retry-over-cap", "http-404", "http-410", "pdf-not-pdf",
             "deep-nesting-20000", "soft-error-login", "drip-body", "endless-headers",
             "http-503-retry-superscript", "redirect-malformed-ipv6", "redirect-long-label"]


def _peak_rss_while(proc: subprocess.Popen[str]) -> int:
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, vm_kib(proc.pid, "VmHWM"))
        except (OSError, KeyError):
            break
        time.sleep(0.05)
    return peak


def _popen(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_check_cli_against_hostile_servers(
    hostile_site: tuple[PageServer, dict[str, hostile.Case]], tmp_path: Path
) -> None:
    srv, cases = hostile_site
    assert not set(CLI_CASES) & NEEDS_FAKE_DNS
    control_dir, hostile_dir = tmp_path / "control", tmp_path / "hostile"
    control_dir.mkdir()
    hostile_dir.mkdir()
    srv.set("/plain", hostile.PAGE)
    control = control_dir / "monitor.toml"
    control.write_text(render_config(SETTINGS, [{"id": "plain", "company": "X", "url": srv.url("/plain")}]))
    proc = _popen("check", "--json", "--config", str(control))
    control_peak = _peak_rss_while(proc)
    proc.communicate(timeout=60)
    assert proc.returncode == 0

    config = _write(hostile_dir, srv, CLI_CASES)
    proc = _popen("check", "--json", "--config", str(config))
    started = time.monotonic()
    peak = _peak_rss_while(proc)
    out, err = proc.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, err  # a check failed (and was recorded)
    assert "Traceback" not in err and "Traceback" not in out
    results = {row["page"]: row for row in map(json.loads, out.splitlines())}
    assert set(results) == set(CLI_CASES)
    for name, row in results.items():
        case = cases[name]
        assert row["status"] == "failed", (name, row)
        assert re.search(case.reason, row["error"]), (name, row["error"])
        assert f"{name}: check failed: " in err
        assert row["snapshot"] is None and row["events"] == []
    # Bombs and endless bodies are cut at max_bytes (1 MB); the whole run stays near a plain one.
    print(f"check CLI peak RSS: {peak} KiB over {len(CLI_CASES)} hostile pages, {control_peak} KiB for one plain")
    assert peak - control_peak < 60 * 1024, f"peak RSS {peak} KiB vs {control_peak} KiB for one plain page"
    assert elapsed < 90
    con = sqlite3.connect(hostile_dir / "monitor.db")
    try:
        assert con.execute("SELECT count(*) FROM snapshot").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM event").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM \"check\" WHERE status = 'failed'").fetchone()[0] == len(CLI_CASES)
    finally:
        con.close()


def test_daemon_survives_hostile_servers_and_keeps_checking(
    hostile_site: tuple[PageServer, dict[str, hostile.Case]], tmp_path: Path
) -> None:
    srv, cases = hostile_site
    names = [n for n in CLI_CASES if n != "drip-body"] + ["drip-body", "wrong-charset", "http-503-then-ok"]
    config = _write(tmp_path, srv, names, interval="2s", workers=2, retries=0)
    db = tmp_path / "monitor.db"
    proc = _popen("run", "--config", str(config))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()

    def checks() -> dict[str, int]:
        try:
            con = sqlite3.connect(db, timeout=30)
            try:
                return dict(con.execute("SELECT page_id, count(*) FROM \"check\" GROUP BY page_id").fetchall())
            finally:
                con.close()
        except sqlite3.OperationalError:
            return {}

    def every_page_checked(times: int) -> Callable[[], bool]:
        return lambda: (lambda c: all(c.get(n, 0) >= times for n in names))(checks())

    try:
        assert wait_for(every_page_checked(1), 90), f"not every page was checked: {checks()}"
        warm_rss = vm_kib(proc.pid)
        first = checks()
        assert wait_for(every_page_checked(4), 150), f"pages stopped being checked: {checks()}"
        assert proc.poll() is None, "the daemon died"
        end_rss = vm_kib(proc.pid)
        fds = open_fds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    log = "".join(lines)
    assert proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log and "unexpected error" not in log
    final = checks()
    assert all(final[n] > first[n] for n in names), "a failing page must stay scheduled and run again"
    growth = end_rss - warm_rss
    print(f"daemon over {len(names)} hostile pages: RSS {warm_rss} -> {end_rss} KiB after "
          f"{sum(first.values())} -> {sum(final.values())} checks; {fds} open fds")
    assert growth < max(10 * 1024, warm_rss // 10), f"daemon RSS grew {growth} KiB ({warm_rss} -> {end_rss})"
    assert fds < 64, f"{fds} open descriptors"
    con = sqlite3.connect(db)
    try:
        failed = [n for n in names if not cases[n].ok]
        marks = ",".join("?" * len(failed))
        assert con.execute(f"SELECT count(*) FROM snapshot WHERE page_id IN ({marks})", failed).fetchone()[0] == 0
        assert con.execute(f"SELECT count(*) FROM event WHERE page_id IN ({marks})", failed).fetchone()[0] == 0
        ok_checks = con.execute("SELECT count(*) FROM \"check\" WHERE page_id = 'wrong-charset' AND status != "
                                "'failed'").fetchone()[0]
        assert ok_checks == final["wrong-charset"]
    finally:
        con.close()
    for name in failed:
        assert f"{name}: check failed: " in log
