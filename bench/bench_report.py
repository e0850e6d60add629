"""Report rebuild after one change, on a long history: incremental vs everything.

Builds a history of N changes directly in a SQLite file (pages x versions, one `changed` event
per change and a pause event on some of them, a few with no jurisdiction), writes the report
once, then R times: serves a new version of one page on 127.0.0.1, checks it with the real
`check_page`, and times `build_report` (what the daemon does after each change). It prints the
median and worst rebuild, the files each rebuild wrote, and the ratio to a rebuild of
everything from the same database (what `report` did on every change before it was
incremental; change pages already written are kept in both).

    .venv/bin/python bench/bench_report.py --changes 10000
    .venv/bin/python bench/bench_report.py --changes 100000 --rounds 20
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import _WORDS  # noqa: E402
from monitor.check import Runtime, check_page  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.pageserver import PageServer  # noqa: E402
from monitor.report import build_report  # noqa: E402
from monitor.store import Store  # noqa: E402

TARGET = 0.5  # seconds per change
CODES = ["HK", "RU", "CN", "BY", "MM", "IR", "VE", None]  # None: a pause with no jurisdiction


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # what SQLAlchemy writes for a naive UTC DateTime


def _lines(page: int, version: int) -> list[str]:
    rng = random.Random(page)
    lines = [f"Page {page}: how we handle government requests"]
    lines += [" ".join(rng.choice(_WORDS) for _ in range(12)).capitalize() + "." for _ in range(20)]
    lines.append(f"Amendment {version} to this policy.")
    return lines


def build_history(db: Path, pages: int, changes: int, companies: int, typed: float, url: str) -> None:
    """Pages x versions straight into SQLite (after the real schema migration)."""
    Store(f"sqlite:///{db}").close()
    rng = random.Random(7)
    per_page = max(1, changes // pages)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    con = sqlite3.connect(db)
    snap_id = change_id = event_id = 0
    page_rows, snaps, change_rows, events = [], [], [], []
    for page in range(pages):
        page_id, company = f"page-{page}", f"Company {page % companies}"
        page_url = f"{url}/p/{page}"
        previous = None
        when = start + timedelta(minutes=page)
        for version in range(per_page + 1):
            when += timedelta(hours=6)
            text = "\n".join(_lines(page, version))
            snap_id += 1
            snaps.append((snap_id, page_id, _stamp(when), hashlib.sha256(text.encode()).hexdigest(), text, None, "",
                          "fetch", page_url))
            if previous is not None:
                change_id += 1
                first = f"+ Amendment {version} to this policy."
                change_rows.append((change_id, page_id, snap_id, previous, _stamp(when), 1, 1, first))
                event_id += 1
                events.append((event_id, page_id, change_id, company, page_url, "changed", None, first[2:], None,
                               None, _stamp(when), snap_id, previous))
                if rng.random() < typed:
                    event_id += 1
                    code = rng.choice(CODES)
                    kind = rng.choice(("pause_started", "pause_lifted"))
                    events.append((event_id, page_id, change_id, company, page_url, kind, code,
                                   f"We have paused processing data requests from {code or 'some places'}.",
                                   "stated", "bench", _stamp(when), snap_id, previous))
            previous = snap_id
        page_rows.append((page_id, company, page_url, _stamp(when), "changed", 0, 0))
    con.executemany("INSERT INTO page (id, company, url, last_checked_at, last_status, failures, gone) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", page_rows)
    con.executemany("INSERT INTO snapshot (id, page_id, created_at, text_hash, text, raw_hash, extract_sig, origin, "
                    "url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", snaps)
    con.executemany('INSERT INTO "change" (id, page_id, snapshot_id, previous_snapshot_id, detected_at, added, '
                    "removed, first_line) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", change_rows)
    con.executemany("INSERT INTO event (id, page_id, change_id, company, url, kind, jurisdiction, quote, evidence, "
                    "rule, detected_at, snapshot_id, previous_snapshot_id) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
    con.commit()
    con.close()
    print(f"history: {pages} pages, {len(snaps)} snapshots, {len(change_rows)} changes, {len(events)} events "
          f"({len(events) - len(change_rows)} typed); database {db.stat().st_size / 1e6:.0f} MB")


def write_config(path: Path, db: Path, pages: int, companies: int, url: str, out: Path) -> None:
    lines = ["[monitor]", f'database = "sqlite:///{db}"', "allow_private_addresses = true", "retries = 0",
             'confirm = "never"', "", "[report]", f'out = "{out}"']
    for page in range(pages):
        lines += ["", "[[pages]]", f'id = "page-{page}"', f'company = "Company {page % companies}"',
                  f'url = "{url}/p/{page}"']
    path.write_text("\n".join(lines) + "\n")


def _html(lines: list[str]) -> str:
    return "<html><body><main>" + "".join(f"<p>{line}</p>" for line in lines) + "</main></body></html>"


def _written_since(out: Path, since: float) -> int:
    return sum(1 for path in out.rglob("*") if path.is_file() and path.stat().st_mtime > since)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--typed", type=float, default=0.03, help="share of changes that also carry a pause event")
    parser.add_argument("--rounds", type=int, default=20, help="changes to check and rebuild after")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last rebuild to this file")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    db, out, config_path = work / "history.db", work / "site", work / "monitor.toml"
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    with PageServer() as server:
        base = server.url("")
        started = time.perf_counter()
        build_history(db, args.pages, args.changes, args.companies, args.typed, base)
        print(f"  built in {time.perf_counter() - started:.1f} s")
        write_config(config_path, db, args.pages, args.companies, base, out)
        rt = Runtime.open(load_config(config_path))
        try:
            started = time.perf_counter()
            build_report(rt.store, rt.config, out)
            first = time.perf_counter() - started
            files = sum(1 for path in out.rglob("*") if path.is_file())
            print(f"first report: {first:.1f} s, {files} files")

            rng = random.Random(11)
            times, cpu_times, written = [], [], []
            for round_ in range(args.rounds):
                page = rng.randrange(args.pages)
                lines = _lines(page, 10_000 + round_)
                if round_ % 4 == 1:  # some rounds are pause events, one with no jurisdiction
                    where = "from the Hong Kong SAR" if round_ % 8 == 1 else "from some authorities"
                    lines.append(f"We have paused processing data requests {where}.")
                server.set(f"/p/{page}", _html(lines))
                outcome = check_page(rt, rt.config.page(f"page-{page}"))
                assert outcome.status == "changed", (outcome.status, outcome.error)
                mark = time.time()
                time.sleep(0.01)  # mtime granularity
                started, cpu = time.perf_counter(), time.process_time()
                if args.profile and round_ == args.rounds - 1:
                    cProfile.runctx("build_report(rt.store, rt.config, out)", globals(), locals(), str(args.profile))
                else:
                    build_report(rt.store, rt.config, out)
                times.append(time.perf_counter() - started)
                cpu_times.append(time.process_time() - cpu)
                written.append(_written_since(out, mark))

            started = time.perf_counter()
            (out / ".report-state.json").unlink()
            build_report(rt.store, rt.config, out)  # everything again (change pages already written are kept)
            everything = time.perf_counter() - started
        finally:
            rt.close()
    median, worst = statistics.median(times), max(times)
    print(f"rebuild after one change ({args.rounds} changes): median {median * 1000:.0f} ms, worst "
          f"{worst * 1000:.0f} ms wall; CPU median {statistics.median(cpu_times) * 1000:.0f} ms, worst "
          f"{max(cpu_times) * 1000:.0f} ms; {statistics.median(written):.0f} files written (median, max "
          f"{max(written)}); target {TARGET * 1000:.0f} ms: {'met' if worst <= TARGET else 'NOT met'}")
    print(f"rebuild of everything from the same database: {everything:.1f} s; incremental is "
          f"{everything / median:.0f}x faster")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
