"""Soak: one `policy-monitor run` process over many loopback pages for many checks.

The pages are served from a separate process on 127.0.0.1 (so its CPU and memory are not the
daemon's); each page changes now and then (its own period, a new "Revision" line), and a
webhook sink on 127.0.0.1 receives the alerts. While the daemon runs, this prints its RSS, open
file descriptors and the database size; at the end: RSS growth after warm-up (target: under
10 %), descriptors, and database bytes per 1,000 checks.

    .venv/bin/python bench/soak.py --pages 1000 --checks 20000 --interval 20s

Not a timed test: it prints figures for the README and the issue notes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import Process
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.alert_receivers import WebhookReceiver, free_port  # noqa: E402  (one receiver for tests and benches)

_TEXT = ("government law enforcement request data user account disclose legal process valid court order "
         "emergency review policy transparency report country jurisdiction respond notify require")
_WORDS = tuple(_TEXT.split(" "))


def _page(index: int, revision: int) -> bytes:
    rng = random.Random(index)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 60))).capitalize() + ".</p>"
        for _ in range(rng.randint(8, 30))
    )
    return (f"<html><head><title>Page {index}</title><script>var t={time.time()};</script></head><body>"
            f"<nav>Home | About</nav><main><h1>Law enforcement guide {index}</h1>{paragraphs}"
            f"<p>Revision {revision}: requests are answered within {revision % 30 + 1} days.</p></main>"
            f"<footer>Visitors: {random.randint(1, 10**6)}</footer></body></html>").encode()


def serve_pages(port: int, change_period: tuple[float, float]) -> None:
    """Page i is at revision floor((now + offset_i) / period_i): each changes on its own clock."""
    rng = random.Random(1)
    periods = [rng.uniform(*change_period) for _ in range(100_000)]
    offsets = [rng.uniform(0, p) for p in periods]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            try:
                index = int(self.path.rsplit("/", 1)[1])
            except ValueError:
                index = 0
            revision = int((time.time() + offsets[index]) / periods[index])
            body = _page(index, revision)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256

    Server(("127.0.0.1", port), Handler).serve_forever()


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def _checkpointed_size(db: Path) -> int:
    """Size of the main database file once the WAL is folded in (a passive checkpoint)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        con.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        con.close()
    return db.stat().st_size


def _counts(db: Path) -> tuple[int, int, int]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            checks = con.execute('SELECT count(*) FROM "check"').fetchone()[0]
            changes = con.execute("SELECT count(*) FROM change").fetchone()[0]
            failed = con.execute("SELECT count(*) FROM \"check\" WHERE status = 'failed'").fetchone()[0]
            return int(checks), int(changes), int(failed)
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0, 0, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=20_000, help="stop after this many checks")
    parser.add_argument("--interval", default="20s", help="per-page check interval")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=0, help="checks before the RSS baseline (default: 2 rounds)")
    parser.add_argument("--change-period", type=float, nargs=2, default=(120.0, 1200.0),
                        metavar=("MIN", "MAX"), help="seconds between a page's revisions")
    parser.add_argument("--keep", type=Path, help="keep the database and config in this directory")
    args = parser.parse_args()
    warmup = args.warmup or min(2 * args.pages, args.checks // 4)

    work = args.keep or Path(tempfile.mkdtemp(prefix="pm-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = Process(target=serve_pages, args=(port, tuple(args.change_period)), daemon=True)
    server.start()
    hook = WebhookReceiver().__enter__()
    db = work / "soak.db"
    lines = ["[monitor]", f'database = "sqlite:///{db}"', f'interval = "{args.interval}"', 'jitter = "2s"',
             "timeout = 10", 'deadline = "30s"', "retries = 1", "allow_private_addresses = true",
             f"workers = {args.workers}", "", "[[alerts]]", f'url = "json://127.0.0.1:{hook.port}/hook"',
             'name = "hook"', 'kinds = ["changed"]']
    for i in range(args.pages):
        lines += ["", "[[pages]]", f'id = "page-{i:05d}"', f'company = "Company {i % 50}"',
                  f'url = "http://127.0.0.1:{port}/p/{i}"', 'select = ["main"]']
    config = work / "soak.toml"
    config.write_text("\n".join(lines) + "\n")
    time.sleep(0.5)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    log_path = work / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "--log-level", "warning", "run",
                                 "--config", str(config)], cwd=ROOT, env=env, stdout=log, stderr=log)
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    warm: dict[str, Any] | None = None
    print(f"soak: {args.pages} pages every {args.interval}, {args.workers} workers, until {args.checks} checks; "
          f"work dir {work}", flush=True)
    try:
        while True:
            time.sleep(5)
            if proc.poll() is not None:
                print(f"soak: the daemon exited with {proc.returncode}; see {log_path}")
                return 1
            checks, changes, failed = _counts(db)
            sample = {"t": round(time.monotonic() - started), "checks": checks, "changes": changes, "failed": failed,
                      "rss_kib": _status(proc.pid, "VmRSS"), "hwm_kib": _status(proc.pid, "VmHWM"),
                      "fds": len(os.listdir(f"/proc/{proc.pid}/fd")), "threads": _status(proc.pid, "Threads"),
                      "db_bytes": _db_bytes(db), "alerts": len(hook.received)}
            samples.append(sample)
            print("soak: " + " ".join(f"{k}={v}" for k, v in sample.items()), flush=True)
            if warm is None and checks >= warmup:
                warm = sample
                warm["db_main_bytes"] = _checkpointed_size(db)
            if checks >= args.checks:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.terminate()
        hook.__exit__()
    end = samples[-1]
    assert warm is not None
    growth = (end["rss_kib"] - warm["rss_kib"]) / warm["rss_kib"] * 100
    final_bytes = _checkpointed_size(db)  # after a clean stop
    per_1000 = (final_bytes - warm["db_main_bytes"]) / max(1, end["checks"] - warm["checks"]) * 1000
    elapsed = end["t"]
    log_text = log_path.read_text()
    result = {
        "pages": args.pages, "checks": end["checks"], "changes": end["changes"], "failed_checks": end["failed"],
        "alerts_received": len(hook.received), "seconds": elapsed,
        "checks_per_second": round(end["checks"] / elapsed, 1),
        "rss_warm_kib": warm["rss_kib"], "rss_end_kib": end["rss_kib"], "rss_growth_pct": round(growth, 1),
        "peak_rss_kib": end["hwm_kib"], "peak_threads": max(s["threads"] for s in samples),
        "fds_warm": warm["fds"], "fds_end": end["fds"],
        "db_bytes_end": final_bytes, "db_bytes_per_1000_checks_after_warmup": round(per_1000),
        "db_bytes_per_1000_checks_overall": round(final_bytes / max(1, end["checks"]) * 1000),
        "exit_status": proc.returncode, "tracebacks_in_log": log_text.count("Traceback"),
    }
    print("soak result: " + json.dumps(result), flush=True)
    verdict = "OK" if growth < 10 and proc.returncode == 0 else "CHECK"
    print(f"soak: RSS {warm['rss_kib']} -> {end['rss_kib']} KiB after warm-up ({growth:+.1f} %, target < 10 %): "
          f"{verdict}; fds {warm['fds']} -> {end['fds']}; database {per_1000 / 1024:.0f} KiB per 1,000 checks")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
