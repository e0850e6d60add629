"""`check`: check pages now, record, alert, and say what came of each."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from monitor.alerts import deliver_pending
from monitor.cli.common import EXIT_FAILED, EXIT_OK, console, page_ids, runtime
from monitor.coordinate import check_now
from monitor.errors import StoreError
from monitor.render import event_labels
from monitor.terminal import json_line, printable
from monitor.vocabulary import CheckStatus

if TYPE_CHECKING:
    from monitor.check import CheckOutcome, Runtime
    from monitor.config import PageConfig

    Check = Callable[[Runtime, PageConfig], CheckOutcome]

log = logging.getLogger("monitor.cli")


def cmd_check(args: argparse.Namespace) -> int:
    rt = runtime(args)
    gc.freeze()  # see monitor.cli.main
    try:
        ids = page_ids(rt.config, args.pages)
        pages = [rt.config.page(pid) for pid in ids] if ids else [p for p in rt.config.pages if p.enabled]
        # check_now: no interval condition, but never while another process checks the page.
        checked = run_checks(rt, pages, check_now, progress=sys.stderr.isatty() and not args.json)
        outcomes = [one for outcome in checked for one in outcome.with_documents()]  # documents after their page
        delivered = deliver_pending(rt)
        if args.json:
            for outcome in outcomes:
                print(json_line(outcome_json(outcome)))
        else:
            print_outcomes(outcomes)
        failed = any(o.failed for o in outcomes) or delivered.failed > 0
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        rt.close()


def outcome_json(outcome: CheckOutcome) -> dict[str, object]:
    return {
        "page": outcome.page_id, "status": outcome.status, "error": outcome.error,
        "http_status": outcome.http_status, "snapshot": outcome.snapshot_id,
        "change": outcome.change_id, "added": outcome.added, "removed": outcome.removed,
        "fetch": outcome.fetch_mode,
        "events": [
            {"id": eid, "kind": e.kind, "jurisdiction": e.jurisdiction, "quote": e.quote,
             "evidence": e.evidence, "rule": e.rule}
            for e, eid in zip(outcome.events, outcome.event_ids, strict=False)
        ],
    }


def run_checks(rt: Runtime, pages: list[PageConfig], check: Check, progress: bool) -> list[CheckOutcome]:
    # The fetcher lets one request at a time go to a host, so a worker takes all of one host's
    # pages in turn: no thread queues on another's host lock, and a single-host config needs
    # no thread hand-offs at all. The busiest hosts go first, to finish together.
    from monitor.fetch import host_of

    groups: dict[str, list[PageConfig]] = {}
    for page in pages:
        groups.setdefault(host_of(page.url), []).append(page)
    queue = sorted(groups.values(), key=len, reverse=True)
    results: dict[str, CheckOutcome] = {}
    with contextlib.ExitStack() as stack:
        advance: Callable[[], None] | None = None
        if progress:
            from rich.progress import Progress

            bar = stack.enter_context(Progress(transient=True, console=console(sys.stderr)))
            task = bar.add_task("checking", total=len(pages))
            advance = partial(bar.advance, task)  # rich's Progress is thread-safe

        def run_host(group: list[PageConfig]) -> None:
            for page in group:
                results[page.id] = _check_one(rt, page, check)
                if advance:
                    advance()

        pool = stack.enter_context(ThreadPoolExecutor(max_workers=min(rt.config.monitor.workers, len(queue)) or 1,
                                                      thread_name_prefix="check"))
        for future in [pool.submit(run_host, group) for group in queue]:
            future.result()
    return [results[page.id] for page in pages]


def _check_one(rt: Runtime, page: PageConfig, check: Check) -> CheckOutcome:
    """One page's check. check_page records every failure of its own; anything else but the
    database (whose errors end the run, as the next page would meet them too) fails this page
    alone, and the run goes on to the other pages and their alerts."""
    from monitor.check import CheckOutcome

    try:
        return check(rt, page)
    except StoreError:
        raise
    except Exception as exc:
        log.exception("%s: unexpected error", page.id)
        return CheckOutcome(page.id, CheckStatus.FAILED, error=f"internal error: {type(exc).__name__}: {exc}")


# How a status looks in the terminal table (the others are green).
_STYLES = {CheckStatus.FAILED: "red", CheckStatus.CHANGED: "yellow", CheckStatus.BASELINE: "cyan"}


def print_outcomes(outcomes: list[CheckOutcome]) -> None:
    rows = [(o.page_id, o.status, printable(_outcome_detail(o))) for o in outcomes]
    if sys.stdout.isatty():
        from rich.table import Table
        from rich.text import Text

        table = Table(title=None, box=None, pad_edge=False)
        for column in ("page", "status", "detail"):
            table.add_column(column)
        for page_id, status, detail in rows:
            table.add_row(page_id, f"[{_STYLES.get(status, 'green')}]{status}[/]", Text(detail))  # not markup
        console().print(table)
    else:
        # Piped: one tab-separated line per page for scripts (and a 10,000-page pass does not
        # spend more time laying out a table than checking the pages).
        sys.stdout.write("".join(f"{page_id}\t{status}\t{detail}\n" for page_id, status, detail in rows))
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no pages")


def _outcome_detail(o: CheckOutcome) -> str:
    if o.status != CheckStatus.CHANGED:
        return o.error or ""
    kinds = event_labels(o.events)
    return f"+{o.added} -{o.removed} lines" + (f"; {', '.join(kinds)}" if kinds else "")
