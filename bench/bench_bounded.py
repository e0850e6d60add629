"""Work after the fetch: each costly body of `tests/heavy.py` through `check_page`, timed.

Each case is served from a real loopback server: the old body (a baseline check), then the new
one (the change: extract, diff, classify, record). The second check's wall and CPU time are
printed per case and size, and, with `--peer DIR` (a checkout of an earlier version, e.g.
`git worktree add /tmp/main main`), the same for that version side by side, with the ratio.
Every run is its own process, killed after `--timeout` seconds.

    .venv/bin/python bench/bench_bounded.py [--sizes 65536,131072,1000000] [--peer DIR] [--cases a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.heavy import CASES  # noqa: E402

_WORKER = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path[:0] = [sys.argv[3]]  # this repository: the case catalogue
from tests.heavy import CASES
sys.path[:1] = [sys.argv[4]]  # the version under test
from monitor.check import Runtime, check_page
from monitor.config import load_config
from monitor.pageserver import PageServer

case = CASES[sys.argv[1]](int(sys.argv[2]))
with PageServer() as srv, tempfile.TemporaryDirectory() as tmp:
    srv.set("/p", case.old.data, content_type=case.old.content_type)
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in case.page.items())
    path = Path(tmp) / "monitor.toml"
    path.write_text(f'''[monitor]
database = "sqlite:///{tmp}/m.db"
allow_private_addresses = true
timeout = 30
deadline = 60
retries = 0
confirm = "never"
max_bytes = 10_000_000

[[pages]]
id = "p"
company = "Example"
url = "{srv.url('/p')}"
{extra}''')
    rt = Runtime.open(load_config(path))
    first = check_page(rt, rt.config.page("p"))
    srv.set("/p", case.new.data, content_type=case.new.content_type)
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = check_page(rt, rt.config.page("p"))
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                      "first": first.status, "status": outcome.status, "error": outcome.error,
                      "bytes": len(case.new.data)}))
"""


def run(code: Path, case: str, size: int, timeout: float) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", _WORKER, case, str(size), str(ROOT), str(code)],
                                  capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"timeout": time.perf_counter() - started}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"crash": (proc.stderr.strip().splitlines() or ["?"])[-1][:100]}
    return json.loads(lines[-1])


def show(result: dict[str, object]) -> str:
    if "timeout" in result:
        return f"> {result['timeout']:.0f} s (killed)"
    if "crash" in result:
        return f"crashed: {result['crash']}"
    status = str(result["status"])
    if result.get("error"):
        status += f" ({str(result['error'])[:48]})"
    return f"{result['wall']:.2f} s wall, {result['cpu']:.2f} s CPU, {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="65536,131072,1000000", help="body sizes in bytes, comma-separated")
    parser.add_argument("--cases", default=",".join(CASES), help="which cases (default: all)")
    parser.add_argument("--peer", type=Path, help="an earlier checkout to run side by side")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a run is killed")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    for case in args.cases.split(","):
        for size in sizes:
            mine = run(ROOT, case, size, args.timeout)
            line = f"{case:22} {size:>9,} B  this: {show(mine)}"
            if args.peer:
                peer = run(args.peer, case, size, args.timeout)
                line += f" | peer: {show(peer)}"
                if "wall" in mine and ("wall" in peer or "timeout" in peer):
                    theirs = float(peer.get("wall", peer.get("timeout", 0)))  # type: ignore[arg-type]
                    line += f" | {'>' if 'timeout' in peer else ''}{theirs / max(float(mine['wall']), 1e-3):.0f}x"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
