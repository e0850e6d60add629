"""What the daemon's metrics and health bookkeeping cost per check, against the check itself.

Three measurements on one SQLite file and pages served from 127.0.0.1 (ETags, so every
re-check is a 304, the cheapest check there is and so the worst case for the ratio):

1. the bookkeeping alone, as the daemon does it after each check (health start/finish,
   database ok, record_check, one fetch observation), in a tight loop: µs per check;
2. the re-check alone (`check_now`: claim, conditional GET, record), CPU of the checking
   thread only (the page server's threads are not counted);
3. the same re-checks with the bookkeeping on and off, alternating rounds: the ratio of CPU;
4. at --scrape-pages pages (checked once each): the heartbeat's read of the database gauges
   and one scrape of /metrics (the text a Prometheus server fetches).

    .venv/bin/python bench/bench_metrics.py [--pages 200] [--rounds 6] [--scrape-pages 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from monitor.check import CheckOutcome, Runtime
from monitor.config import parse_config
from monitor.coordinate import check_now
from monitor.metrics import Health, Metrics
from monitor.pageserver import PageServer
from monitor.store import worker_name


def _config(server: PageServer, pages: int, db: Path) -> object:
    return parse_config({
        "monitor": {"database": f"sqlite:///{db}", "allow_private_addresses": True, "retries": 0},
        "alerts": [{"url": "json://127.0.0.1:9/hook", "name": "hook"}],
        "pages": [{"id": f"page-{n}", "company": "Example", "url": server.url(f"/p{n}")} for n in range(pages)],
        "metrics": {"listen": "127.0.0.1:0"},
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6, help="passes over the pages, alternating on/off")
    parser.add_argument("--scrape-pages", type=int, default=10_000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, PageServer() as server:
        for n in range(args.pages):
            server.set(f"/p{n}", "<main>" + "".join(f"<p>Paragraph {i} of page {n} about requests.</p>"
                                                    for i in range(200)) + "</main>")
        config = _config(server, args.pages, Path(tmp) / "bench.db")
        rt = Runtime.open(config)  # type: ignore[arg-type]
        health = Health()
        metrics = Metrics(worker_name(), "sqlite", health, lambda: True)
        metrics.configure(config)  # type: ignore[arg-type]
        pages = [p for p in rt.config.pages]

        def instrument(outcome: CheckOutcome) -> None:
            # What Daemon._check_job / _check_page add around one check (the fetch observation
            # is made by the fetcher itself when the observer is set).
            health.check_started()
            health.database_ok()
            metrics.record_check(outcome.page_id, outcome.status, outcome)
            health.check_finished()

        def one_pass(on: bool) -> tuple[float, int]:
            rt.fetcher.observer = metrics.observe_fetch if on else None
            start = time.thread_time()
            for page in pages:
                outcome = check_now(rt, page)
                if on:
                    instrument(outcome)
            return time.thread_time() - start, len(pages)

        one_pass(False)  # baselines
        one_pass(True)  # warm up both paths

        # 1. bookkeeping alone
        sample = CheckOutcome(page_id=pages[0].id, status="not_modified", seconds=0.002)
        loops = 200_000
        start = time.thread_time()
        for _ in range(loops):
            health.check_started()
            metrics.observe_fetch(0.002, 0)
            health.database_ok()
            metrics.record_check(sample.page_id, sample.status, sample)
            health.check_finished()
        alone = (time.thread_time() - start) / loops

        # 2 and 3: alternating rounds
        off: list[float] = []
        on: list[float] = []
        for round_ in range(args.rounds):
            for flag in ((False, True) if round_ % 2 == 0 else (True, False)):
                cpu, count = one_pass(flag)
                (on if flag else off).append(cpu / count)
        rt.close()

    refresh, scrape, size = _scrape(args.scrape_pages)
    base, with_metrics = statistics.median(off), statistics.median(on)
    print(f"bookkeeping alone: {alone * 1e6:.1f} µs per check ({loops} loops)")
    print(f"re-check (304), checking thread CPU: {base * 1e3:.3f} ms without metrics, "
          f"{with_metrics * 1e3:.3f} ms with (medians of {args.rounds} passes over {args.pages} pages)")
    print(f"bookkeeping / re-check: {alone / base * 100:.2f} %; measured ratio with/without: "
          f"{with_metrics / base:.3f}x (noise on a shared host is larger than the difference)")
    print(f"{args.scrape_pages} pages: database gauges read in {refresh * 1e3:.0f} ms (once per heartbeat); "
          f"a scrape takes {scrape * 1e3:.0f} ms and returns {size / 1e6:.1f} MB (medians of 3, warm)")
    return 0


def _scrape(count: int) -> tuple[float, float, int]:
    """Heartbeat read and scrape with `count` pages, each checked once (two series per page)."""
    from datetime import timedelta

    from prometheus_client import generate_latest

    from monitor.models import utcnow
    from monitor.store import CheckRecord, Store

    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({
            "monitor": {"database": f"sqlite:///{tmp}/scrape.db"},
            "pages": [{"id": f"page-{n}", "company": "Example", "url": f"https://example.org/{n}"}
                      for n in range(count)],
            "metrics": {"listen": "127.0.0.1:0"},
        })
        store = Store(config.monitor.database)
        store.sync_pages(config.pages)
        now = utcnow()
        for page in config.pages:
            store.record(CheckRecord(page_id=page.id, company=page.company, url=page.url, status="unchanged",
                                     started_at=now - timedelta(seconds=5), finished_at=now))
        worker = worker_name()
        store.heartbeat(worker, now, 0)
        metrics = Metrics(worker, "sqlite", Health(), lambda: True)
        metrics.configure(config)
        for page in config.pages:
            metrics.record_check(page.id, "unchanged")
        refreshes, scrapes = [], []
        for _ in range(4):  # the first of each is cold (statement compilation, caches): dropped
            start = time.perf_counter()
            metrics.database.refresh(store, 90.0)
            refreshes.append(time.perf_counter() - start)
            start = time.perf_counter()
            text = generate_latest(metrics.registry)
            scrapes.append(time.perf_counter() - start)
        store.close()
    return statistics.median(refreshes[1:]), statistics.median(scrapes[1:]), len(text)


if __name__ == "__main__":
    sys.exit(main())
