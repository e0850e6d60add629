"""Scale: N pages (default 10,000) on loopback, real `policy-monitor run` daemons.

Configurations: one daemon on SQLite, one and three daemons on one PostgreSQL database.
For each, on a fresh database:

  first pass   every page is new and due at once (the daemon paces first checks at 20 pages/s
               per worker): pages/s and CPU ms/page of the whole fetch -> extract -> store
               path, until every page was fetched once
  steady       one more interval of running: re-checks (conditional GETs answered 304),
               CPU ms/check, and from the page server's log of every request: no page
               fetched twice within an interval (min gap between fetches of one page)
  idle         daemons restarted on the filled database with a 1 h interval (nothing due):
               start-up time (imports + building N jobs), then CPU over --idle-seconds
               and RSS: the scheduler's overhead of holding N pages

Peak RSS is VmHWM of each daemon; CPU is utime+stime from /proc, summed over daemons.
Targets with 10,000 pages: RSS <= 150 MB per daemon, idle CPU < 1 % of a core.
The peer is urlwatch (PyPI, in bench/.peer-venv, created on first use): two one-shot runs
over the same pages (it has no daemon; cron would start it), first and unchanged.

    python bench/bench_scale.py [--pages 10000] [--interval 180] [--idle-seconds 60]
                                [--configs sqlite,pg1,pg3] [--no-peer]

The interval should be longer than a first pass takes (about N / pages-per-second).

PostgreSQL: $MONITOR_BENCH_PG or $MONITOR_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
a pm_bench_<random> database is created per configuration and dropped afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ensure_urlwatch, measure, page_paragraphs, write_urlwatch_files
from monitor.pageserver import PageServer

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TICK = os.sysconf("SC_CLK_TCK")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# -- processes -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return "policy-monitor running" in self.log.read_text(errors="replace")


def start_daemons(config: Path, count: int, tag: str) -> list[Daemon]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for key in ("NOTIFY_SOCKET", "MONITOR_DATABASE", "MONITOR_CONFIG"):
        env.pop(key, None)
    daemons = []
    for i in range(count):
        log = OUT / f"scale-{tag}-{i}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        daemons.append(Daemon(proc, log))
    return daemons


def stop_daemons(daemons: list[Daemon]) -> list[int]:
    for d in daemons:
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGTERM)
    codes = []
    for d in daemons:
        try:
            codes.append(d.proc.wait(timeout=90))
        except subprocess.TimeoutExpired:
            d.proc.kill()
            codes.append(d.proc.wait())
    return codes


def total_cpu(daemons: list[Daemon]) -> float:
    return sum(cpu_seconds(d.pid) for d in daemons)


# -- databases and config --------------------------------------------------------------------


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'scale.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    server = os.environ.get("MONITOR_BENCH_PG") or os.environ.get("MONITOR_TEST_PG") or DEFAULT_PG
    name = f"pm_bench_{secrets.token_hex(5)}"
    admin = create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_config(path: Path, db: str, urls: list[str], interval: float, workers: int) -> None:
    lines = ["[monitor]", f'database = "{db}"', "allow_private_addresses = true", f'interval = "{interval:g}s"',
             'jitter = "0s"', 'lease = "120s"', "timeout = 10", "deadline = 30", "retries = 1",
             f"workers = {workers}"]
    for i, url in enumerate(urls):
        lines += ["", "[[pages]]", f'id = "p{i}"', 'company = "Bench"', f'url = "{url}"', 'select = ["main"]']
    path.write_text("\n".join(lines) + "\n")


def page_html(index: int, size: int) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in page_paragraphs(index, size))
    return (f"<!doctype html><html><head><title>Page {index}</title></head><body><nav>menu</nav>"
            f"<main><h1>Page {index}</h1>{body}</main></body></html>").encode()


# -- one configuration -----------------------------------------------------------------------


@dataclass
class Result:
    name: str
    processes: int
    first_pass_s: float = 0.0
    pages_per_s: float = 0.0
    first_cpu_ms: float = 0.0
    steady_checks: int = 0
    steady_cpu_ms: float = 0.0
    min_gap_ratio: float = float("inf")
    min_start_gap_ratio: float = float("inf")
    double_fetches: int = 0
    peak_rss_mb: float = 0.0
    startup_s: float = 0.0
    startup_cpu_s: float = 0.0
    idle_cpu_pct: float = 0.0
    idle_rss_mb: float = 0.0
    exit_codes: list[int] = field(default_factory=list)


def wait_until(predicate: object, timeout: float, what: str, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(poll)


def run_config(name: str, kind: str, procs: int, server: PageServer, paths: list[str], args: argparse.Namespace,
               work: Path) -> Result:
    result = Result(name, procs)
    n, interval = len(paths), args.interval
    urls = [server.url(p) for p in paths]
    with database(kind, work) as db:
        config = work / f"{name}.toml"
        write_config(config, db, urls, interval, args.workers)
        with server.lock:
            server.hit_times.clear()
        daemons = start_daemons(config, procs, name)
        try:
            # First pass: everything is due at once; measure from the first fetch to the last first fetch.
            samples: list[tuple[float, float, int]] = []  # (wall, cpu, pages fetched at least once)

            def sample() -> int:
                with server.lock:
                    seen = sum(1 for p in paths if server.hit_times.get(p))
                samples.append((time.time(), total_cpu(daemons), seen))
                if any(d.proc.poll() is not None for d in daemons):
                    raise RuntimeError(f"{name}: a daemon exited; see {OUT}/scale-{name}-*.log")
                return seen

            wait_until(lambda: sample() == n, args.first_pass_timeout, f"{name}: first pass over {n} pages")
            with server.lock:
                firsts = sorted(server.hit_times[p][0] for p in paths)
            t_first, t_all = firsts[0], firsts[-1]
            cpu_first = next(c for t, c, _ in samples if t >= t_first)
            cpu_all = samples[-1][1]
            result.first_pass_s = t_all - t_first
            result.pages_per_s = n / max(result.first_pass_s, 1e-9)
            result.first_cpu_ms = (cpu_all - cpu_first) * 1000 / n
            print(f"  {name}: first pass {result.first_pass_s:.1f}s, {result.pages_per_s:.0f} pages/s, "
                  f"{result.first_cpu_ms:.2f} ms CPU/page", flush=True)

            # Steady: one more interval of re-checks (304s), counted from the server's request log.
            steady_start, steady_cpu0 = time.time(), total_cpu(daemons)
            with server.lock:
                hits0 = sum(len(server.hit_times.get(p, [])) for p in paths)
            end = t_first + (1 + args.steady_intervals) * interval + 5
            while time.time() < end:
                time.sleep(1)
                if any(d.proc.poll() is not None for d in daemons):
                    raise RuntimeError(f"{name}: a daemon exited; see {OUT}/scale-{name}-*.log")
            with server.lock:
                hits1 = sum(len(server.hit_times.get(p, [])) for p in paths)
                times = {p: list(server.hit_times.get(p, [])) for p in paths}
            steady_cpu = total_cpu(daemons) - steady_cpu0
            result.steady_checks = hits1 - hits0
            result.steady_cpu_ms = steady_cpu * 1000 / max(result.steady_checks, 1)
            result.peak_rss_mb = max(memory_mb(d.pid)[1] for d in daemons)
            gaps = [b - a for ts in times.values() for a, b in itertools.pairwise(ts)]
            result.min_gap_ratio = min(gaps) / interval if gaps else float("inf")
            result.double_fetches = sum(1 for g in gaps if g < 0.9 * interval)
            result.min_start_gap_ratio = min_check_start_gap(db) / interval
            print(f"  {name}: steady {result.steady_checks} checks in {time.time() - steady_start:.0f}s, "
                  f"{result.steady_cpu_ms:.2f} ms CPU/check; min gap between fetches of a page "
                  f"{result.min_gap_ratio:.3f} x interval (check starts: {result.min_start_gap_ratio:.3f}); "
                  f"fetches < 0.9 interval apart: {result.double_fetches}; "
                  f"peak RSS {result.peak_rss_mb:.0f} MB", flush=True)
        finally:
            result.exit_codes = stop_daemons(daemons)

        # Idle: same database, long interval, nothing due.
        write_config(config, db, urls, 3600, args.workers)
        spawned = time.time()
        daemons = start_daemons(config, procs, name + "-idle")
        try:
            wait_until(lambda: all(d.running() for d in daemons), 300, f"{name}: idle daemons to start", poll=0.05)
            result.startup_s = time.time() - spawned
            result.startup_cpu_s = max(cpu_seconds(d.pid) for d in daemons)
            time.sleep(3)  # let the first heartbeat and alert-outbox poll pass
            cpu0, t0 = [cpu_seconds(d.pid) for d in daemons], time.time()
            with server.lock:
                idle_hits0 = sum(len(server.hit_times.get(p, [])) for p in paths)
            time.sleep(args.idle_seconds)
            elapsed = time.time() - t0
            result.idle_cpu_pct = max((cpu_seconds(d.pid) - c) / elapsed * 100 for d, c in zip(daemons, cpu0,
                                                                                               strict=True))
            result.idle_rss_mb = max(memory_mb(d.pid)[0] for d in daemons)
            with server.lock:
                late = sum(len(server.hit_times.get(p, [])) for p in paths) - idle_hits0
            print(f"  {name}: idle start-up {result.startup_s:.1f}s ({result.startup_cpu_s:.1f}s CPU, N jobs built); "
                  f"idle CPU {result.idle_cpu_pct:.3f} % of a core per daemon over {elapsed:.0f}s; RSS "
                  f"{result.idle_rss_mb:.0f} MB; fetches while idle: {late}", flush=True)
        finally:
            result.exit_codes += stop_daemons(daemons)
    return result


def min_check_start_gap(db: str) -> float:
    """Smallest time between the starts of two checks of one page, from the database."""
    from sqlalchemy import text

    from monitor.store import make_engine

    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            # seconds: SQLite keeps ISO text (julianday gives days), PostgreSQL timestamps
            start = "julianday(started_at) * 86400" if engine.dialect.name == "sqlite" else \
                "extract(epoch FROM started_at)"
            value = conn.execute(text(
                f'SELECT min(gap) FROM (SELECT {start} - lag({start}) OVER '
                '(PARTITION BY page_id ORDER BY started_at) AS gap FROM "check") AS gaps')).scalar()
    finally:
        engine.dispose()
    return float("inf") if value is None else float(value)


def run_peer(server: PageServer, paths: list[str], work: Path) -> dict[str, float] | None:
    if ensure_urlwatch() is None:
        return None
    (work / "uw").mkdir()
    cmd = write_urlwatch_files(work / "uw", [server.url(p) for p in paths])
    n = len(paths)
    first = measure(cmd)
    again = measure(cmd)
    out = {"first_pages_per_s": n / first.wall, "first_cpu_ms": first.cpu * 1000 / n,
           "again_pages_per_s": n / again.wall, "again_cpu_ms": again.cpu * 1000 / n,
           "rss_mb": max(first.max_rss_mb, again.max_rss_mb)}
    print(f"  urlwatch: first run {first.wall:.1f}s ({out['first_pages_per_s']:.0f} pages/s, "
          f"{out['first_cpu_ms']:.2f} ms CPU/page), unchanged run {again.wall:.1f}s "
          f"({out['again_pages_per_s']:.0f} pages/s, {out['again_cpu_ms']:.2f} ms CPU/page), "
          f"peak RSS {out['rss_mb']:.0f} MB", flush=True)
    return out


CONFIGS = {"sqlite": ("sqlite", 1), "pg1": ("postgresql", 1), "pg3": ("postgresql", 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=20_000, help="approximate text bytes per page")
    parser.add_argument("--interval", type=float, default=240.0, help="seconds, for the first pass and steady phase")
    parser.add_argument("--steady-intervals", type=int, default=1)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=4, help="check threads per daemon")
    parser.add_argument("--first-pass-timeout", type=float, default=1800.0)
    parser.add_argument("--configs", default="sqlite,pg1,pg3")
    parser.add_argument("--no-peer", action="store_true", help="skip urlwatch")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    n = args.pages
    print(f"{n} pages of ~{args.size // 1000} KB text on loopback; interval {args.interval:g}s; "
          f"{os.cpu_count()} CPUs", flush=True)
    results: list[Result] = []
    with PageServer() as server, tempfile.TemporaryDirectory(prefix="pm-scale-") as tmp:
        server.httpd.request_queue_size = 1024
        paths = [f"/page/{i}" for i in range(n)]
        for i, path in enumerate(paths):
            server.set(path, page_html(i, args.size))
        server.requests = _NoList()  # the header log would only grow; hit_times is what we count
        for name in args.configs.split(","):
            kind, procs = CONFIGS[name]
            results.append(run_config(name, kind, procs, server, paths, args, Path(tmp)))
        peer = None if args.no_peer else run_peer(server, paths, Path(tmp))
    print("\nsummary")
    for r in results:
        ok_rss = "ok" if r.peak_rss_mb <= 150 else "OVER"
        ok_idle = "ok" if r.idle_cpu_pct < 1 else "OVER"
        ok_once = "ok" if r.double_fetches == 0 else "FAILED"
        print(f"  {r.name:6} x{r.processes}: {r.pages_per_s:6.0f} pages/s first pass, "
              f"{r.first_cpu_ms:5.2f} ms CPU/page; {r.steady_cpu_ms:5.2f} ms CPU/re-check; "
              f"peak RSS {r.peak_rss_mb:4.0f} MB [{ok_rss} <= 150]; "
              f"idle {r.idle_cpu_pct:.3f} % CPU [{ok_idle} < 1 %]; once per interval [{ok_once}]; "
              f"start-up {r.startup_s:.1f}s; exits {r.exit_codes}")
        if peer:
            print(f"         urlwatch / policy-monitor: pages/s first pass "
                  f"{peer['first_pages_per_s'] / r.pages_per_s:.2f}, "
                  f"CPU per page {peer['first_cpu_ms'] / max(r.first_cpu_ms, 1e-9):.2f}, "
                  f"CPU per re-check {peer['again_cpu_ms'] / max(r.steady_cpu_ms, 1e-9):.2f}, "
                  f"peak RSS {peer['rss_mb'] / max(r.peak_rss_mb, 1e-9):.2f}")
    (OUT / "scale.json").write_text(json.dumps({"pages": n, "interval": args.interval,
                                                "results": [r.__dict__ for r in results], "urlwatch": peer},
                                               indent=1, default=str))


class _NoList(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        pass


if __name__ == "__main__":
    main()
