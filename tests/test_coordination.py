"""Several `policy-monitor run` processes on one PostgreSQL database, for real.

Three daemons (subprocesses, `python -m monitor run`) share 50 pages served on loopback;
the page servers log every request's arrival, the database every check. From both:
no page is fetched twice within one interval, no two checks of a page overlap, every page
is checked every interval, and when one daemon is SIGKILLed in the middle of a check the
others carry its pages (within one interval, plus the lease for the page it was checking).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from monitor.check import Runtime, check_page
from monitor.config import load_config
from monitor.models import Check, utcnow
from monitor.pageserver import PageServer
from monitor.store import Store
from tests.conftest import ROOT, render_config, run_cli
from tests.pg import temp_database

INTERVAL, LEASE = 4.0, 5.0
N_PAGES, N_SLOW = 50, 3
SLOW_SECONDS = 1.0
SLACK = 1.5  # scheduling latency allowed on a busy 2-CPU CI machine
DEAD = ("p10", "p11")  # pages claimed by a process that no longer exists when the test starts


def _body(i: int) -> str:
    return f"<html><body><main><h1>Page {i}</h1><p>Requests for user data need valid legal process ({i}).</p>" \
           "</main></body></html>"


def _slow(i: int) -> Callable[[BaseHTTPRequestHandler], None]:
    body = _body(i).encode()

    def handler(request: BaseHTTPRequestHandler) -> None:
        time.sleep(SLOW_SECONDS)  # a check long enough to be SIGKILLed in the middle of
        request._send(200, body, "text/html; charset=utf-8", {})  # type: ignore[attr-defined]

    return handler


@pytest.fixture
def servers() -> Iterator[tuple[PageServer, PageServer]]:
    # Slow pages on another loopback address: the fetcher's per-host politeness would
    # otherwise queue every fast page of a process behind them.
    with PageServer() as fast, PageServer(host="127.0.0.2") as slow:
        yield fast, slow


def _spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    env.pop("MONITOR_DATABASE", None)
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=45))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    return codes


def _fetches(server: PageServer, path: str) -> list[tuple[float, str]]:
    """(arrival, User-Agent) of every request for `path`: both lists grow under one lock."""
    with server.lock:
        agents = [headers.get("User-Agent", "") for p, headers in server.requests if p == path]
        return list(zip(server.hit_times.get(path, []), agents, strict=True))


@pytest.mark.slow
@pytest.mark.postgres
def test_three_daemons_share_fifty_pages_and_survive_a_kill(
    pg_url: str, servers: tuple[PageServer, PageServer], tmp_path: Path
) -> None:
    fast, slow = servers
    pages = []
    for i in range(N_PAGES):
        path = f"/p{i}"
        if i < N_SLOW:
            slow.set(path, handler=_slow(i))
            url = f"http://127.0.0.2:{slow.port}{path}"
        else:
            fast.set(path, _body(i))
            url = fast.url(path)
        pages.append({"id": f"p{i}", "company": "Example", "url": url})
    # One config per daemon, the same but for the User-Agent: the page servers can then tell
    # whose fetch each request was (the kill makes the victim's last fetch unrecorded).
    agents = [f"policy-monitor-test/{i}" for i in range(3)]
    configs = [tmp_path / f"monitor{i}.toml" for i in range(3)]
    for config, agent in zip(configs, agents, strict=True):
        config.write_text(render_config(
            {"database": pg_url, "allow_private_addresses": True, "interval": f"{INTERVAL:g}s", "jitter": "0s",
             "lease": f"{LEASE:g}s", "timeout": 5, "deadline": 10, "retries": 0, "workers": 4,
             "user_agent": agent},
            pages))

    store = Store(pg_url)
    store.sync_pages(load_config(configs[0]).pages)
    dead_until = utcnow() + timedelta(seconds=6)
    with store.engine.begin() as conn:
        for pid in DEAD:
            conn.execute(text("UPDATE page SET claimed_by = 'gone-host:1', claim_expires = :until WHERE id = :id"),
                         {"until": dead_until, "id": pid})

    procs = [_spawn(configs[i], tmp_path / f"run{i}.log") for i in range(3)]
    t_start = time.time()
    try:
        time.sleep(16)
        assert all(p.poll() is None for p in procs), "a daemon exited early"
        # Kill a daemon while it is in the middle of a (slow) check: whichever holds one now.
        by_pid = {str(p.pid): p for p in procs}
        victim_name = None
        held: list[tuple[str, datetime]] = []
        give_up = time.time() + 12
        while time.time() < give_up and not held:
            with store.engine.connect() as conn:
                rows = conn.execute(text("SELECT id, claimed_by, claim_expires FROM page WHERE claimed_by IS NOT NULL "
                                         "AND claim_expires > now() AND id IN ('p0', 'p1', 'p2')")).all()
            rows = [r for r in rows if r[1].rpartition(":")[2] in by_pid]
            if rows:
                victim_name = rows[0][1]
                held = [(r[0], r[2]) for r in rows if r[1] == victim_name]
            else:
                time.sleep(0.05)
        assert held and victim_name, "no daemon was ever seen in the middle of a slow check"
        victim = by_pid[victim_name.rpartition(":")[2]]
        victim.send_signal(signal.SIGKILL)
        t_kill = time.time()
        victim.wait(10)
        time.sleep(INTERVAL + LEASE + 5)
    finally:
        t_stop = time.time()
        codes = _stop(procs)
    t_end = time.time()
    logs = {i: (tmp_path / f"run{i}.log").read_text(errors="replace") for i in range(3)}
    assert sorted(codes) == sorted([0, 0, -signal.SIGKILL]), logs
    assert codes[procs.index(victim)] == -signal.SIGKILL
    # SIGTERM lets the checks in flight finish (a slow page takes 1 s), no more.
    assert t_end - t_stop < 10, f"shutdown took {t_end - t_stop:.1f}s: {logs}"

    fetches = {f"p{i}": _fetches(slow if i < N_SLOW else fast, f"/p{i}") for i in range(N_PAGES)}
    hits = {pid: [at for at, _ in rows] for pid, rows in fetches.items()}
    assert {agent for rows in fetches.values() for _, agent in rows} <= set(agents)
    victim_agent = agents[procs.index(victim)]
    victim_last = {pid: max(at for at, who in rows if who == victim_agent)
                   for pid, rows in fetches.items() if any(who == victim_agent for _, who in rows)}
    with store.session() as session:
        checks = list(session.exec(select(Check).order_by(Check.id)))  # type: ignore[arg-type]
    victim_pages = {pid for pid, _ in held}

    by_page: dict[str, list[Check]] = {}
    for check in checks:
        by_page.setdefault(check.page_id, []).append(check)

    def cut_short(pid: str, at: float) -> bool:
        """The victim's last fetch of the page, if none of its check rows covers it: the kill cut
        that check short. Told by the fetch's User-Agent, not by time: the server logs a request
        sent just before the kill a little after t_kill, and a survivor's check may start within
        milliseconds of it."""
        return at == victim_last.get(pid) and not any(
            c.started_at.timestamp() - 0.05 <= at <= c.finished_at.timestamp() + 0.05
            for c in by_page.get(pid, []) if c.worker == victim_name and c.finished_at is not None)

    # 1. Never twice per interval: consecutive fetches of a page are most of an interval apart,
    #    except after a fetch the kill cut short (it recorded nothing): a survivor that sees the
    #    holder's PID gone (same host) may fetch the page again at once.
    for pid, rows in fetches.items():
        assert rows, f"{pid} never fetched"
        short = [round(b - a, 2) for (a, _), (b, _) in itertools.pairwise(rows)
                 if b - a < 0.9 * INTERVAL - 0.25 and not cut_short(pid, a)]
        assert not short, f"{pid} fetched twice within an interval: gaps {short}"

    # 2. Never twice at once: a page's checks do not overlap, and no writer ever raced another.
    for pid, rows in by_page.items():
        for a, b in itertools.pairwise(rows):
            assert a.finished_at is not None and a.finished_at <= b.started_at, f"{pid}: checks overlap {a} {b}"
    assert not [c for c in checks if c.status == "raced"]
    assert {c.worker for c in checks if c.started_at.timestamp() < t_kill} >= {victim_name}
    assert len({c.worker for c in checks}) == 3, "the work was not shared by all three daemons"

    # 3. Every interval: once started, no page waits much more than an interval, except for a
    #    live claim of a dead process (the injected ones, the victim's), which lasts its lease.
    warm = t_start + 8
    for pid, rows in fetches.items():
        if pid in DEAD:
            assert rows[0][0] >= dead_until.timestamp() - 0.05, f"{pid} checked under a live claim of another"
            assert rows[0][0] <= dead_until.timestamp() + SLACK, f"{pid}: dead claim not taken over after its lease"
            rows = rows[1:]
        for (a, _), (b, _) in itertools.pairwise(rows):
            if b < warm:
                continue
            limit = INTERVAL + SLACK
            if pid in victim_pages and a == victim_last.get(pid):
                # At most the lease; on one host a survivor may see the holder's PID is gone and
                # free the claim sooner (the injected other-host claims test the lease itself).
                assert b > t_kill
                limit = INTERVAL + LEASE + SLACK
            assert b - a <= limit, f"{pid}: {b - a:.1f}s without a check (from {a - t_start:.1f}s)"
        # Up to SIGTERM: the time shutdown takes is asserted above, and checks no page.
        assert rows[-1][0] >= t_stop - INTERVAL - SLACK, f"{pid}: not checked near the end"

    # 4. After the kill the survivors carried every page, including the victim's.
    for pid, times in hits.items():
        after = [t for t in times if t > t_kill]
        assert after and after[0] <= t_kill + INTERVAL + LEASE + SLACK, f"{pid} not taken over"
        after_checks = [c for c in by_page[pid] if c.started_at.timestamp() > t_kill + 0.5]
        assert after_checks and victim_name not in {c.worker for c in after_checks}

    # 5. Clean shutdowns removed their worker rows and gave back their claims; the victim's row stays.
    assert [w.name for w in store.workers()] == [victim_name]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM page WHERE claimed_by IS NOT NULL "
                                 "AND claimed_by <> :v"), {"v": victim_name}).scalar() == 0
    store.close()


# -- `check` respects another process's live claim ---------------------------------------------------


def test_check_command_waits_for_a_live_claim_then_reports_busy(
    db_url: str, server: PageServer, write_config: Callable[..., Path]
) -> None:
    server.set("/p", _body(1))
    config = write_config([{"id": "p", "url": server.url("/p")}], database=db_url, deadline=2, timeout=1)
    store = Store(db_url)
    try:
        store.sync_pages(load_config(config).pages)
        assert store.claim_page("p", "other-host:99", lease_s=60)
        started = time.monotonic()
        result = run_cli("check", "--json", "p", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert '"status": "busy"' in result.stdout and "other-host:99" in result.stdout
        assert time.monotonic() - started >= 3  # it waited deadline + timeout for the holder
        assert server.hits.get("/p", 0) == 0

        # The claim (still held) is released while `check` waits: it then checks at once.
        assert store.claim_info("p")[1] == "other-host:99"
        threading.Timer(1.0, store.release_claim, args=("p", "other-host:99")).start()
        result = run_cli("check", "--json", "p", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert '"status": "baseline"' in result.stdout
        assert server.hits["/p"] == 1
        assert store.claim_info("p")[1] is None
    finally:
        store.close()


def test_pages_command_shows_claims_and_workers(
    db_url: str, server: PageServer, write_config: Callable[..., Path]
) -> None:
    config = write_config([{"id": "p", "url": server.url("/p")}, {"id": "q", "url": server.url("/q")}],
                          database=db_url)
    store = Store(db_url)
    try:
        store.sync_pages(load_config(config).pages)
        store.claim_page("q", "host-b:4242", lease_s=600)
        store.heartbeat("host-b:4242", utcnow(), 17)
        result = run_cli("pages", "--config", str(config), env={"COLUMNS": "200"})
        assert result.returncode == 0, result.stderr
        q_line = next(line for line in result.stdout.splitlines() if line.startswith("q "))
        p_line = next(line for line in result.stdout.splitlines() if line.startswith("p "))
        assert "host-b:4242" in q_line and "host-b:4242" not in p_line
        assert "worker host-b:4242: alive" in result.stdout and "17 checks" in result.stdout
    finally:
        store.close()


# -- the same history on SQLite and on PostgreSQL ----------------------------------------------------

INTRO = "<p>Acme responds to valid legal process from government agencies.</p>"
HK = "<p>We have paused processing any data requests from, and related to, Hong Kong SAR.</p>"
RU = "<p>We will no longer respond to law enforcement data requests from the Russian Federation.</p>"
STATS = "<p>In 2025 we received 1,204 requests from 31 countries.</p>"


def _html(*parts: str, stamp: str = "1 May") -> str:
    return f"<html><body><main><h1>Requests</h1>{''.join(parts)}<p>Last updated: {stamp}</p></main></body></html>"


# Each step: what every page serves (None: 404).
REPLAY: list[dict[str, str | None]] = [
    {"a": _html(INTRO), "b": _html(INTRO, STATS), "c": _html(INTRO)},
    {"a": _html(INTRO, stamp="2 May"), "b": _html(INTRO, STATS), "c": _html(INTRO)},  # noise only
    {"a": _html(INTRO, HK), "b": _html(INTRO, STATS.replace("1,204", "1,377")), "c": _html(INTRO)},
    {"a": _html(INTRO, HK, RU), "b": _html(INTRO, STATS, HK), "c": None},
    {"a": _html(INTRO, RU), "b": _html(INTRO, STATS, HK), "c": None},
    {"a": _html(INTRO, RU), "b": _html(INTRO, STATS), "c": None},
    {"a": _html(INTRO, RU), "b": _html(INTRO, STATS), "c": _html(INTRO, RU)},
]


def _replay_events(rt: Runtime) -> list[tuple[Any, ...]]:
    return [(e.page_id, e.kind, e.jurisdiction, e.quote, e.evidence) for e in rt.store.events()]


def test_replay_gives_the_same_events_on_sqlite_and_postgresql(
    server: PageServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    pages = [{"id": pid, "url": server.url(f"/{pid}"), "company": "Acme", "ignore": ["^Last updated: .*$"]}
             for pid in "abc"]
    with temp_database() as pg:
        runtimes = [Runtime.open(load_config(write_config(pages, database=url, name=f"{name}.toml", gone_after=3)))
                    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'replay.db'}"), ("pg", pg))]
        try:
            for step in REPLAY:
                for pid, html in step.items():
                    if html is None:
                        server.set(f"/{pid}", "<h1>Not found</h1>", status=404)
                    else:
                        server.set(f"/{pid}", html)
                for rt in runtimes:  # lockstep: both databases see exactly the same responses
                    for page in rt.config.pages:
                        check_page(rt, page)
            sqlite_events, pg_events = (_replay_events(rt) for rt in runtimes)
        finally:
            for rt in runtimes:
                rt.close()
    assert sqlite_events == pg_events
    typed = [(p, k, j, e) for p, k, j, _q, e in sqlite_events if k != "changed"]
    assert typed == [
        ("a", "pause_started", "HK", "stated"),
        ("a", "pause_started", "RU", "stated"),
        ("b", "pause_started", "HK", "stated"),
        ("a", "pause_lifted", "HK", "statement_removed"),
        ("b", "pause_lifted", "HK", "statement_removed"),
        ("c", "page_gone", None, None),
        ("c", "pause_started", "RU", "stated"),
        ("c", "page_restored", None, None),
    ], typed


def test_first_runs_already_due_at_start_are_not_pushed_back_an_interval(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building 10,000 jobs takes seconds; a first run that passed meanwhile must still happen."""
    from monitor import daemon as daemon_module

    config_path = write_config([{"id": f"p{i}", "url": f"http://127.0.0.1:9/{i}"} for i in range(5)], interval="1h")
    daemon = daemon_module.Daemon(config_path, load_config(config_path))
    monkeypatch.setattr(daemon_module, "first_run", lambda last, interval, now, *_: now - timedelta(seconds=5))
    try:
        daemon.build_schedule()
        daemon.scheduler.start(paused=True)
        now = datetime.now(UTC)
        runs = [job.next_run_time for job in daemon.scheduler.get_jobs() if job.id.startswith("page:")]
        assert len(runs) == 5
        assert all(run <= now for run in runs), runs
    finally:
        daemon.scheduler.shutdown(wait=False)
        daemon.rt.close()


def test_sigterm_drops_checks_still_queued_behind_a_backlog(server: PageServer, tmp_path: Path) -> None:
    """60 slow pages on one host fall due at once; after SIGTERM only the checks in flight finish."""
    pages = []
    for i in range(60):
        body = _body(i).encode()

        def handler(request: BaseHTTPRequestHandler, body: bytes = body) -> None:
            time.sleep(0.5)
            request._send(200, body, "text/html; charset=utf-8", {})  # type: ignore[attr-defined]

        server.set(f"/s{i}", handler=handler)
        pages.append({"id": f"s{i}", "company": "Example", "url": server.url(f"/s{i}")})
    config = tmp_path / "monitor.toml"
    config.write_text(render_config(
        {"database": f"sqlite:///{tmp_path / 'm.db'}", "allow_private_addresses": True, "interval": "1h",
         "jitter": "0s", "timeout": 5, "deadline": 10, "retries": 0, "workers": 4}, pages))
    proc = _spawn(config, tmp_path / "run.log")
    time.sleep(8)  # by now every page is due and most are queued behind the host's one-at-a-time fetches
    before = sum(len(v) for v in server.hit_times.values())
    stopped = time.time()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    took = time.time() - stopped
    after = sum(1 for times in server.hit_times.values() for t in times if t > stopped + 0.05)
    log = (tmp_path / "run.log").read_text()
    assert 5 <= before < 55, log
    assert after <= 4, f"{after} checks started after SIGTERM"
    assert took < 10, f"shutdown took {took:.1f}s"


@pytest.mark.parametrize("alone", [False, True])
def test_a_process_alone_claims_without_the_pre_read_and_is_refused_alike(
    db_url: str, write_config: Callable[..., Path], alone: bool
) -> None:
    """Each of N processes is refused N - 1 times per page per interval: with other processes
    about, a refusal costs one read and no write; `alone` (no other live worker) skips that
    pre-read and the UPDATE decides. Both name the same retry times, for a fresh page and for
    another process's live claim."""
    from sqlalchemy import event as sa_event

    from monitor.coordinate import Refused, check_claimed

    config_path = write_config([{"id": "p", "url": "http://127.0.0.1:9/p"}], database=db_url, interval="1h",
                               lease="10m")
    rt = Runtime.open(load_config(config_path))
    statements: list[str] = []
    sa_event.listen(rt.store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    try:
        checked = utcnow() - timedelta(minutes=10)
        with rt.store.engine.begin() as conn:
            conn.execute(text("UPDATE page SET last_checked_at = :t WHERE id = 'p'"),
                         {"t": checked.replace(tzinfo=None) if rt.store.dialect == "sqlite" else checked})
        statements.clear()
        refused = check_claimed(rt, rt.config.page("p"), "me:1", alone=alone)
        assert isinstance(refused, Refused)
        assert checked + timedelta(hours=1) <= refused.due <= checked + timedelta(hours=1, seconds=1)
        verbs = [s.split()[0].upper() for s in statements]
        claims = [s for s in statements if s.split()[0].upper() == "UPDATE" and "claimed_by" in s]
        assert len(claims) == (1 if alone else 0)
        if not alone:
            assert "UPDATE" not in verbs and "SELECT" in verbs

        with rt.store.engine.begin() as conn:
            conn.execute(text("UPDATE page SET last_checked_at = NULL WHERE id = 'p'"))
        assert rt.store.claim_page("p", "other-host:7", lease_s=600)
        refused = check_claimed(rt, rt.config.page("p"), "me:1", alone=alone)
        assert isinstance(refused, Refused)
        claimed_at = rt.store.claim_info("p")[2] - timedelta(minutes=10)  # type: ignore[operator]
        assert claimed_at + timedelta(hours=1) <= refused.due <= claimed_at + timedelta(hours=1, seconds=1)
        assert rt.store.claim_info("p")[1] == "other-host:7"
    finally:
        rt.close()


def test_a_daemon_is_alone_until_another_process_heartbeats(write_config: Callable[..., Path]) -> None:
    from monitor import daemon as daemon_module

    config_path = write_config([{"id": "p", "url": "http://127.0.0.1:9/p"}], interval="1h", lease="10m")
    daemon = daemon_module.Daemon(config_path, load_config(config_path))
    try:
        assert daemon.alone is False  # until its first heartbeat has looked
        daemon._heartbeat_job()
        assert daemon.alone is True
        daemon.rt.store.heartbeat("other-host:7", utcnow(), 0)
        daemon._heartbeat_job()
        assert daemon.alone is False
    finally:
        daemon.rt.close()


def test_sigterm_while_a_refused_check_reaims_its_job_does_not_hang(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check refused after shutdown began re-aims its job (scheduler.modify_job).

    scheduler.shutdown(wait=True) holds the job store lock while it waits for running jobs,
    and modify_job needs that lock: called that way, the two waited for each other until
    STOP_GRACE, and every stop of a multi-process deployment risked those 30 s.
    """
    from monitor import daemon as daemon_module
    from monitor.coordinate import Refused

    config_path = write_config([{"id": "p", "url": "http://127.0.0.1:9/p"}], interval="1h")
    daemon = daemon_module.Daemon(config_path, load_config(config_path))
    entered, release = threading.Event(), threading.Event()

    def refused_late(*_: Any) -> Refused:
        entered.set()
        release.wait(10)
        return Refused(utcnow() + timedelta(hours=1))

    exits: list[int] = []
    monkeypatch.setattr(daemon_module, "check_claimed", refused_late)
    monkeypatch.setattr(daemon_module, "first_run", lambda last, interval, now, *_: now)
    monkeypatch.setattr(daemon_module, "STOP_GRACE", 5.0)
    monkeypatch.setattr(daemon_module.os, "_exit", exits.append)  # a hang must fail the test, not end pytest
    monkeypatch.setattr(daemon_module.logging, "shutdown", lambda: None)  # pytest's handlers stay open
    daemon.build_schedule()
    daemon.scheduler.start()
    assert entered.wait(10), "the page job never ran"
    threading.Timer(0.5, release.set).start()  # refused once shutdown is under way
    started = time.monotonic()
    assert daemon.shutdown() == 0
    took = time.monotonic() - started
    assert not exits and took < 3, f"shutdown took {took:.1f}s"


def test_a_check_claims_its_page_when_its_turn_at_the_host_comes(
    server: PageServer, write_config: Callable[..., Path]
) -> None:
    """The fetcher sends one request at a time to a host. A check that queued for its turn after
    claiming the page recorded a start (last_checked_at, the interval's clock) up to a whole
    fetch before the page was really fetched; when the queue cleared, its next fetch came that
    much early: within an interval of the last."""
    from monitor.coordinate import check_claimed

    server.set("/a", handler=_slow(1))
    server.set("/b", handler=_slow(2))
    config_path = write_config([{"id": "a", "url": server.url("/a")}, {"id": "b", "url": server.url("/b")}])
    rt = Runtime.open(load_config(config_path))
    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(lambda pid: check_claimed(rt, rt.config.page(pid)), "ab"))
        assert [getattr(o, "status", o) for o in outcomes] == ["baseline", "baseline"]
        last = rt.store.last_checked()
        for pid in "ab":
            (arrived,) = server.hit_times[f"/{pid}"]
            waited = arrived - last[pid].timestamp()  # type: ignore[union-attr]
            assert waited < SLOW_SECONDS / 2, f"{pid} was fetched {waited:.2f}s after its check's recorded start"
    finally:
        rt.close()
