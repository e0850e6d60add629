"""What the report's events.json / events.csv cost after one more change, at 10,000 and 100,000 events.

The daemon rebuilds the report after every change, so the export must not grow with the
history: `write_event_files` appends the new events (and copies the old bytes, which is
cheap) instead of encoding every event again. Printed: the first full write, then the write
after one change (two events), against a full rewrite of the same history as the peer.

    .venv/bin/python bench/bench_export.py [--events 10000,100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from monitor.export import write_event_files
from monitor.models import Event, Page, utcnow
from monitor.store import Store

QUOTE = "We have paused processing any data requests from, and related to, Hong Kong SAR (quote {n})."


def _fill(store: Store, count: int) -> None:
    start = utcnow() - timedelta(days=365)
    with store.engine.begin() as conn:
        conn.execute(Page.__table__.insert(), [{"id": f"page-{n}", "company": "Example", "url": f"https://e.org/{n}",
                                                "failures": 0, "gone": False} for n in range(200)])
        conn.execute(Event.__table__.insert(), [  # type: ignore[attr-defined]
            {"page_id": f"page-{n % 200}", "company": "Example", "url": f"https://e.org/{n % 200}",
             "kind": "changed" if n % 10 else "pause_started", "jurisdiction": None if n % 10 else "HK",
             "quote": QUOTE.format(n=n), "evidence": None if n % 10 else "stated", "rule": None if n % 10 else "r",
             "detected_at": start + timedelta(seconds=n)} for n in range(count)])


def _add_change(store: Store) -> None:
    now = utcnow()
    with store.engine.begin() as conn:
        conn.execute(Event.__table__.insert(), [  # type: ignore[attr-defined]
            {"page_id": "page-1", "company": "Example", "url": "https://e.org/1", "kind": kind, "quote": "new",
             "detected_at": now} for kind in ("changed", "pause_lifted")])


def _timed(store: Store, out: Path) -> float:
    start = time.perf_counter()
    write_event_files(store, out)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="10000,100000")
    args = parser.parse_args(argv)
    for count in (int(n) for n in args.events.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/bench.db")
            _fill(store, count)
            out = Path(tmp) / "site"
            first = _timed(store, out)
            _add_change(store)
            after_change = _timed(store, out)
            (out / ".events-export.json").unlink()  # the peer: the same write without the append path
            _add_change(store)
            rewrite = _timed(store, out)
            size = (out / "events.json").stat().st_size + (out / "events.csv").stat().st_size
            store.close()
        print(f"{count:>7} events ({size / 1e6:.0f} MB of files): first write {first:.2f} s; after one change "
              f"{after_change * 1e3:.0f} ms (appended) vs {rewrite:.2f} s rewritten: {rewrite / after_change:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
