"""One `check` pass over N generated ~100 KB pages on loopback, policy-monitor vs urlwatch.

Per page, start-up subtracted (after a baseline pass that is not measured):
  unchanged  - same bytes, the server answers 304 to the stored ETag
  noisy      - the raw HTML changes on every fetch (script nonce, hidden input), the text does not
  changing   - noisy, and 10 % of the pages also change their text
Whole process, start-up included (CPU of the process divided by the pages; a server that sends
no validators, as most CMS-rendered pages, so every check downloads the whole body), each
round on fresh databases:
  first      - the first pass: every page new (baseline snapshots, raw bodies, statements)
  unchanged  - the same bytes again, fetched whole
  edits      - 10 % of the pages change their text (diff, classify, events, outbox)
and the start-up alone (an empty page list, the database made), with the targets the figures are held to.
Then the floor under every start-up: a bare interpreter, and one that only imports the libraries
`check` cannot start without (SQLModel and requests, both required; pydantic, tomllib and lxml).
The checkout's modules are compiled to bytecode first, as pip does for an installed package.
The daemon (`--daemon`): `policy-monitor run` over the same pages every 20 s, its CPU over three
steady intervals (scheduler, heartbeats and all) divided by the re-checks it made, with the server
answering 304 and without validators.
Both tools run as separate processes; CPU (user+sys) and peak RSS come from wait4. Process
start-up (imports) is measured with an empty job list and subtracted for the per-page figure.
Also: diff time of a 1 MB document with 1 % and 20 % of sentences changed, against difflib
(which urlwatch uses), in this process.

    python bench/bench_check.py [--pages 500] [--repeat 3] [--no-peer] [--only whole|validators] [--daemon]
"""

from __future__ import annotations

import argparse
import difflib
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Usage,
    compile_package,
    ensure_urlwatch,
    library_floor,
    measure,
    serve_pages,
    write_urlwatch_files,
)


def write_config(path: Path, urls: list[str], interval: str = "1h") -> None:
    lines = ["[monitor]", f'database = "sqlite:///{path.parent / "pm.db"}"', "allow_private_addresses = true",
             "retries = 0", "workers = 4", f'interval = "{interval}"', 'jitter = "0s"']
    for i, url in enumerate(urls):
        lines += ["", "[[pages]]", f'id = "p{i}"', 'company = "Bench"', f'url = "{url}"', 'select = ["main"]']
    path.write_text("\n".join(lines) + "\n")


def ours(config: Path) -> Usage:
    return measure([sys.executable, "-m", "monitor", "check", "-q", "--config", str(config)])


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _per_page(runs: list[Usage], start: float, n: int) -> list[float]:
    return [(u.cpu - start) * 1000 / n for u in runs]


def report(name: str, n: int, pm: list[Usage], pm0: float, peer: list[Usage], peer0: float) -> dict[str, float]:
    """One line per scenario: medians over the repeats, the range in brackets."""
    pm_ms = _per_page(pm, pm0, n)
    line = (f"{name:10} policy-monitor: {_median(pm_ms):6.2f} ms CPU/page [{min(pm_ms):.2f}-{max(pm_ms):.2f}], "
            f"wall {_median([u.wall for u in pm]):6.2f}s, peak RSS {max(u.max_rss_mb for u in pm):6.1f} MB")
    result = {"pm_ms": _median(pm_ms), "pm_rss": max(u.max_rss_mb for u in pm)}
    if peer:
        peer_ms = _per_page(peer, peer0, n)
        ratios = [b / a for a, b in zip(pm_ms, peer_ms, strict=True) if a > 0]
        line += (f" | urlwatch: {_median(peer_ms):6.2f} ms CPU/page [{min(peer_ms):.2f}-{max(peer_ms):.2f}], "
                 f"wall {_median([u.wall for u in peer]):6.2f}s, RSS {max(u.max_rss_mb for u in peer):6.1f} MB"
                 f" | CPU ratio urlwatch/pm = {_median(ratios):5.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]")
        result["peer_ms"] = _median(peer_ms)
    print(line, flush=True)
    return result


def bench_pass(n: int, use_peer: bool, repeat: int) -> None:
    served = serve_pages(n)
    peer_exe = ensure_urlwatch() if use_peer else None
    try:
        with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
            work = Path(tmp)
            urls = [served.url(i) for i in range(n)]
            (work / "pm").mkdir()
            (work / "pm0").mkdir()
            (work / "uw").mkdir()
            (work / "uw0").mkdir()
            config, config0 = work / "pm" / "monitor.toml", work / "pm0" / "monitor.toml"
            write_config(config, urls)
            write_config(config0, [])
            peer_cmd = write_urlwatch_files(work / "uw", urls) if peer_exe else None
            peer0_cmd = write_urlwatch_files(work / "uw0", []) if peer_exe else None
            # Start-up (imports, empty config) is measured as often as the passes, and its
            # median subtracted: one noisy start-up would otherwise shift every figure.
            pm0 = _median([ours(config0).cpu for _ in range(repeat)])
            peer0 = _median([measure(peer0_cmd).cpu for _ in range(repeat)]) if peer0_cmd else 0.0
            served.set("unchanged", 0)
            base = ours(config)
            print(f"{n} pages of ~100 KB; baseline pass: policy-monitor {base.wall:.1f}s wall, "
                  f"{base.cpu * 1000 / n:.2f} ms CPU/page (start-up {pm0 * 1000:.0f} ms subtracted below; "
                  f"medians of {repeat} runs, range in brackets)")
            if peer_cmd:
                measure(peer_cmd)
            for name, mode in (("unchanged", "unchanged"), ("noisy", "noisy"), ("changing", "changing")):
                pm_runs: list[Usage] = []
                peer_runs: list[Usage] = []
                for r in range(repeat):  # alternating, so both tools see the same machine load
                    rnd = r + 1 if mode == "changing" else 0  # new changes each round, the same for both
                    served.set(mode, rnd)
                    pm_runs.append(ours(config))
                    if peer_cmd:
                        served.set(mode, rnd)
                        peer_runs.append(measure(peer_cmd))
                report(name, n, pm_runs, pm0, peer_runs, peer0)
    finally:
        served.stop()


# Whole-process targets, as ratios of urlwatch's CPU on the same pass (ours <= ratio x urlwatch's).
WHOLE_TARGETS = {"first": 1.5, "unchanged": 0.5, "edits": 0.8}
STARTUP_TARGET_S = 0.3
# What `check` cannot start without: the required SQLModel (with SQLAlchemy) and requests, then
# pydantic (the config's models) and lxml (extraction). Their import alone is the start-up's floor.
FLOOR_REQUIRED = "sqlmodel, requests"
FLOOR_ALL = "sqlmodel, requests, pydantic, tomllib, lxml.html"


def bench_whole(n: int, use_peer: bool, repeat: int) -> dict[str, dict[str, float]]:
    """First, unchanged and 10 %-edited passes without validators, each process's whole CPU."""
    served = serve_pages(n)
    peer_exe = ensure_urlwatch() if use_peer else None
    urls = [served.url(i) for i in range(n)]
    runs: dict[str, tuple[list[Usage], list[Usage]]] = {name: ([], []) for name in WHOLE_TARGETS}
    startup: list[float] = []
    try:
        for r in range(repeat):
            with tempfile.TemporaryDirectory(prefix="pm-bench-whole-") as tmp:
                work = Path(tmp)
                for d in ("pm", "pm0", "uw"):
                    (work / d).mkdir()
                config, config0 = work / "pm" / "monitor.toml", work / "pm0" / "monitor.toml"
                write_config(config, urls)
                write_config(config0, [])
                ours(config0)  # creates the schema: the start-up measured next is that of every later run
                startup.append(ours(config0).cpu)
                peer_cmd = write_urlwatch_files(work / "uw", urls) if peer_exe else None
                # alternating, so both tools see the same machine load; the same bytes for both
                for name, mode, rnd in (("first", "unchanged", 0), ("unchanged", "unchanged", 0),
                                        ("edits", "edits", r + 1)):
                    served.set(mode, rnd, validators=False)
                    runs[name][0].append(ours(config))
                    if peer_cmd:
                        runs[name][1].append(measure(peer_cmd))
    finally:
        served.stop()
    print(f"whole process, start-up included, no validators ({n} pages of ~100 KB, fresh databases, "
          f"medians of {repeat} rounds, range in brackets):")
    results: dict[str, dict[str, float]] = {}
    for name, (pm, peer) in runs.items():
        pm_ms = [u.cpu * 1000 / n for u in pm]
        line = f"  {name:10} policy-monitor {_median(pm_ms):6.2f} ms CPU/page [{min(pm_ms):.2f}-{max(pm_ms):.2f}]"
        results[name] = {"pm_ms": _median(pm_ms)}
        if peer:
            peer_ms = [u.cpu * 1000 / n for u in peer]
            ratios = [a / b for a, b in zip(pm_ms, peer_ms, strict=True) if b > 0]
            target = WHOLE_TARGETS[name]
            verdict = "met" if _median(ratios) <= target else "MISSED"
            line += (f" | urlwatch {_median(peer_ms):6.2f} ms [{min(peer_ms):.2f}-{max(peer_ms):.2f}]"
                     f" | policy-monitor/urlwatch {_median(ratios):4.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
                     f" (target <= {target}: {verdict})")
            results[name].update(peer_ms=_median(peer_ms), ratio=_median(ratios))
        print(line, flush=True)
    verdict = "met" if _median(startup) <= STARTUP_TARGET_S else "MISSED"
    print(f"  start-up   policy-monitor check, empty page list: {_median(startup) * 1000:.0f} ms CPU "
          f"[{min(startup) * 1000:.0f}-{max(startup) * 1000:.0f}] (target <= {STARTUP_TARGET_S * 1000:.0f} ms: "
          f"{verdict})", flush=True)
    bare, required, libraries = library_floor("sys"), library_floor(FLOOR_REQUIRED), library_floor(FLOOR_ALL)
    print(f"  floor      a bare interpreter {bare * 1000:.0f} ms; importing {FLOOR_REQUIRED} (required) "
          f"{required * 1000:.0f} ms; with pydantic, tomllib and lxml {libraries * 1000:.0f} ms CPU", flush=True)
    if use_peer and "unchanged" in results and "peer_ms" in results["unchanged"]:
        half = WHOLE_TARGETS["unchanged"] * results["unchanged"]["peer_ms"] * n / 1000
        print(f"             the unchanged target at {n} pages is {half * 1000:.0f} ms CPU for the whole process",
              flush=True)
    return results


DAEMON_TARGET_MS = 1.5


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _checks_in(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute('SELECT count(*) FROM "check"').fetchone()[0])
    except sqlite3.Error:  # not made yet
        return 0


def bench_daemon(n: int, interval: int = 20) -> None:
    """CPU per re-check of an unchanged page by `run` on SQLite, steady state, 304 and no validators."""
    served = serve_pages(n)
    try:
        for validators in (True, False):
            served.set("unchanged", 0, validators=validators)
            with tempfile.TemporaryDirectory(prefix="pm-bench-daemon-") as tmp:
                config = Path(tmp) / "monitor.toml"
                write_config(config, [served.url(i) for i in range(n)], interval=f"{interval}s")
                db = Path(tmp) / "pm.db"
                proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    deadline = time.monotonic() + 600
                    while _checks_in(db) < n and time.monotonic() < deadline:
                        time.sleep(1)
                    time.sleep(interval)  # past the first checks: re-checks only
                    cpu0, checks0 = _cpu_of(proc.pid), _checks_in(db)
                    time.sleep(3 * interval)
                    cpu, checks = _cpu_of(proc.pid) - cpu0, _checks_in(db) - checks0
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(60)
            per_check = cpu * 1000 / max(checks, 1)
            verdict = "met" if per_check <= DAEMON_TARGET_MS else "MISSED"
            print(f"daemon ({n} pages every {interval}s, SQLite, {'304' if validators else 'no validators'}): "
                  f"{checks} re-checks, {per_check:.2f} ms CPU each (target <= {DAEMON_TARGET_MS} ms: {verdict})",
                  flush=True)
    finally:
        served.stop()


def bench_diff() -> None:
    from monitor import diff as diff_module
    from monitor.diff import diff_lines, stats

    rng = random.Random(3)
    words = [
        "the", "data", "request", "government", "law", "enforcement", "we", "process", "review", "policy",
        "user", "court", "order",
    ]
    sentences = [" ".join(rng.choice(words) for _ in range(15)) + f" clause {i}." for i in range(10500)]
    doc = "\n".join(sentences)
    print(f"diff of a {len(doc) / 1e6:.2f} MB document ({len(sentences)} sentences):")
    for fraction in (0.01, 0.20):
        new_sentences = list(sentences)
        for i in rng.sample(range(len(sentences)), int(len(sentences) * fraction)):
            new_sentences[i] = new_sentences[i][:-1] + " as amended."
        new = "\n".join(new_sentences)
        best = peer_best = float("inf")
        for _ in range(5):
            diff_module._RECENT.items.clear()  # time the diff, not its memo of the last change
            t0 = time.perf_counter()
            ops = diff_lines(doc, new)
            best = min(best, time.perf_counter() - t0)
        for _ in range(2):
            t0 = time.perf_counter()
            list(difflib.unified_diff(sentences, new_sentences, lineterm=""))
            peer_best = min(peer_best, time.perf_counter() - t0)
        s = stats(ops)
        exact = s.added == s.removed == int(len(sentences) * fraction)
        print(f"  {fraction:4.0%} changed: {best * 1000:6.1f} ms (exact counts: {exact}, +{s.added} -{s.removed}); "
              f"difflib.unified_diff {peer_best * 1000:6.1f} ms; ratio {peer_best / best:4.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--no-peer", action="store_true", help="skip urlwatch")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario and tool (median reported)")
    parser.add_argument("--diff-only", action="store_true")
    parser.add_argument("--only", choices=("whole", "validators"),
                        help="only the whole-process passes without validators, or only the per-page ones")
    parser.add_argument("--daemon", action="store_true", help="also the daemon's CPU per re-check (about 3 minutes)")
    args = parser.parse_args()
    compile_package()
    if args.only is None:
        bench_diff()
    if args.diff_only:
        return
    if args.only != "validators":
        bench_whole(args.pages, not args.no_peer, max(1, args.repeat))
    if args.only != "whole":
        bench_pass(args.pages, not args.no_peer, max(1, args.repeat))
    if args.daemon:
        bench_daemon(min(args.pages, 200))


if __name__ == "__main__":
    main()
