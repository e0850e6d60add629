"""Peak memory and task count of `policy-monitor run`, for the systemd unit's MemoryMax= and TasksMax=.

The worst case the config allows: every worker checking a page near `max_bytes` at once, each
page changing on every fetch (so each check extracts, diffs, classifies and records a change),
and a webhook sink receiving the alerts. The pages come from a server on 127.0.0.1 in this
process (the daemon is a process of its own, measured alone).
Prints the daemon's peak RSS (VmHWM) and its largest thread count.

    .venv/bin/python bench/peak_memory.py --pages 8 --size 9500000 --workers 4 --seconds 90

Not a timed test: it prints figures for systemd/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.soak import _WORDS, ROOT, Hook, _counts, _status
from monitor.pageserver import PageServer


class ChangingPages:
    """Pages of `size` bytes of distinct paragraphs on a PageServer; one line of a page changes
    after every fetch of it (a realistic change: a page rewritten from top to bottom is the
    diff's worst case, not memory's)."""

    def __init__(self, server: PageServer, count: int, size: int):
        self.server, self.count, self.size = server, count, size
        self.parts: dict[str, list[str]] = {}
        self.seen: dict[str, int] = {}
        for i in range(count):
            self._refresh(f"/p/{i}")
        threading.Thread(target=self._run, daemon=True).start()

    def _refresh(self, path: str) -> None:
        if path not in self.parts:
            rng = random.Random(path)
            parts, total = [], 0
            while total < self.size:
                words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(10, 40)))
                parts.append(f"<p>{words.capitalize()} ({rng.random():.12f}).</p>")
                total += len(parts[-1])
            self.parts[path] = parts
        parts, middle = self.parts[path], len(self.parts[path]) // 2
        changed = f"<p>Revision {time.time_ns()}: requests are answered within days.</p>"
        self.server.set(path, f"<html><body><main><h1>Guide {path}</h1>{''.join(parts[:middle])}{changed}"
                              f"{''.join(parts[middle:])}</main></body></html>")

    def _run(self) -> None:
        while True:
            time.sleep(0.2)
            with self.server.lock:
                hits = dict(self.server.hits)
            for path, count in hits.items():
                if count != self.seen.get(path, 0):
                    self.seen[path] = count
                    self._refresh(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--size", type=int, default=9_500_000, help="bytes per page (keep under max_bytes)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=90)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pm-peak-"))
    server = PageServer().start()
    ChangingPages(server, args.pages, args.size)
    port = server.port
    hook = Hook()
    db = work / "peak.db"
    lines = ["[monitor]", f'database = "sqlite:///{db}"', 'interval = "5s"', 'jitter = "1s"', "timeout = 30",
             'deadline = "60s"', "allow_private_addresses = true", f"workers = {args.workers}",
             f"max_bytes = {max(args.size + 1000, 10_000_000)}", "", "[[alerts]]",
             f'url = "json://127.0.0.1:{hook.port}/hook"', 'name = "hook"']
    for i in range(args.pages):
        lines += ["", "[[pages]]", f'id = "big-{i}"', f'company = "Company {i}"',
                  f'url = "http://127.0.0.1:{port}/p/{i}"']
    config = work / "peak.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    with open(work / "run.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "--log-level", "warning", "run", "--config",
                                 str(config)], cwd=ROOT, env=env, stdout=log, stderr=log)
    peak_threads = 0
    try:
        end = time.monotonic() + args.seconds
        while time.monotonic() < end and proc.poll() is None:
            peak_threads = max(peak_threads, _status(proc.pid, "Threads"))
            time.sleep(0.2)
        hwm = _status(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        server.stop()
    checks, changes, failed = _counts(db)
    print(f"peak: {args.pages} pages of {args.size / 1e6:.1f} MB, {args.workers} workers, {args.seconds:.0f}s: "
          f"{checks} checks ({changes} changes, {failed} failed), {hook.count} alerts; "
          f"peak RSS {hwm / 1024:.0f} MiB, peak threads {peak_threads}; exit {proc.returncode}; work dir {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
