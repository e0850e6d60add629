"""The commands that read what was recorded: `pages`, `history`, `diff`, `events`, `status`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor.cli.common import EXIT_OK, UsageError, console, load, parse_since, recorded_page, store_of
from monitor.config import Config, format_duration
from monitor.render import event_line, timestamp
from monitor.terminal import json_line, printable
from monitor.vocabulary import EVENT_KINDS, CheckStatus

if TYPE_CHECKING:
    from monitor.config import PageConfig
    from monitor.models import Page, Worker


def cmd_pages(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    config = load(args)
    store = store_of(config)
    try:
        rows = {page.id: page for page in store.pages()}
        table = Table(box=None, pad_edge=False)
        for column in ("page", "company", "every", "fetch", "last check", "status", "next check", "claim"):
            table.add_column(column, no_wrap=column == "fetch")
        for page in config.pages:
            row = rows.get(page.id)
            interval = config.interval_of(page)
            last = row.last_checked_at if row else None
            status = (row.last_status or "-") if row else "never checked"
            if row and row.last_status == CheckStatus.FAILED and row.last_error:
                status = f"failed: {row.last_error[:60]}"
            if row and row.gone:
                status = f"GONE ({status})"
            nxt = (last + timedelta(seconds=interval)) if last else None
            claim = row.claimed_by if row and row.claimed_by and row.claim_expires and \
                row.claim_expires > datetime.now(UTC) else ""
            table.add_row(page.id, Text(printable(page.company)), format_duration(interval),
                          _fetch_column(config, page, row), timestamp(last), Text(printable(status)),
                          timestamp(nxt) if nxt else "due now", claim or "")
        console().print(table)
        _print_workers(store.workers(), config.monitor.lease)
    finally:
        store.close()
    return EXIT_OK


def _fetch_column(config: Config, page: PageConfig, row: Page | None) -> str:
    """plain, browser, or auto with what it chose: `auto (browser)`; `auto` before its first check."""
    mode = config.fetch_of(page)
    chosen = row.fetch_mode if row else None
    return f"auto ({chosen})" if mode == "auto" and chosen else mode


def _print_workers(workers: list[Worker], lease: float) -> None:
    """`run` processes sharing this database (several when it is PostgreSQL), from their heartbeats."""
    from monitor.coordinate import alive_within

    now = datetime.now(UTC)
    for worker in workers:
        ago = (now - worker.seen_at).total_seconds()
        state = "alive" if ago <= alive_within(lease) else "silent"
        print(f"worker {worker.name}: {state}, seen {ago:.0f}s ago, up since {timestamp(worker.started_at)}, "
              f"{worker.checks} checks")


def cmd_history(args: argparse.Namespace) -> int:
    from rich.table import Table

    config = load(args)
    store = store_of(config)
    try:
        recorded_page(config, store, args.page)
        changes = {c.snapshot_id: c for c in store.changes(args.page)}
        table = Table(box=None, pad_edge=False)
        for column in ("snapshot", "recorded", "origin", "fetch", "lines", "chars", "hash", "change"):
            table.add_column(column)
        snaps = store.snapshots(args.page)
        for snap in snaps:
            change = changes.get(snap.id)
            table.add_row(str(snap.id), timestamp(snap.created_at), snap.origin, snap.fetch_mode,
                          str(snap.text.count("\n") + 1),
                          str(len(snap.text)), snap.text_hash[:12],
                          f"+{change.added} -{change.removed}" if change else ("baseline" if snap is snaps[0] else ""))
        console().print(table)
        if not snaps:
            print(f"{args.page}: no snapshots yet (run `policy-monitor check {args.page}`)")
    finally:
        store.close()
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from monitor.diff import diff_lines, unified

    config = load(args)
    store = store_of(config)
    try:
        recorded_page(config, store, args.page)
        ordered = store.snapshots(args.page)  # time order (archived snapshots first)
        snaps = {s.id: s for s in ordered}
        ids = [s.id for s in ordered]
        if not ids:
            raise UsageError(f"{args.page}: no snapshots yet")
        to_id = args.to if args.to is not None else ids[-1]
        if to_id not in snaps:
            raise UsageError(f"{args.page}: no snapshot {to_id} (have {min(ids)}..{max(ids)})")
        if args.from_ is not None:
            from_id = args.from_
        else:
            earlier = ids[:ids.index(to_id)]
            from_id = earlier[-1] if earlier else None
        if from_id is not None and from_id not in snaps:
            raise UsageError(f"{args.page}: no snapshot {from_id}")
        old = snaps[from_id] if from_id is not None else None
        new = snaps[to_id]
        ops = diff_lines(old.text if old else "", new.text)
        labels = (f"{args.page} snapshot {from_id} {timestamp(old.created_at)}" if old else "(empty)",
                  f"{args.page} snapshot {to_id} {timestamp(new.created_at)}")
        color = sys.stdout.isatty() if args.color == "auto" else args.color == "always"
        print(unified(ops, color=color, labels=labels))  # page text made printable there
    finally:
        store.close()
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    from monitor import export

    if args.json and args.format not in (None, "json"):
        raise UsageError(f"events: --json and --format {args.format} disagree; give one of them")
    fmt = "json" if args.json else (args.format or "text")
    config = load(args)
    since = parse_since(args.since) if args.since else None
    if args.kind and args.kind not in EVENT_KINDS:
        raise UsageError(f"--kind: unknown kind {args.kind!r} (known: {', '.join(EVENT_KINDS)})")
    store = store_of(config)
    try:
        events = store.events(since=since, kind=args.kind, page_id=args.page)
    finally:
        store.close()
    if fmt == "csv":
        export.write_csv(export.records(events), sys.stdout)
        return EXIT_OK
    for event in events:
        print(json_line(event.as_json()) if fmt == "json" else event_line(event))
    if not events and fmt == "text":
        print("no events", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """What each page says now, per jurisdiction (the report's status board)."""
    from monitor import status

    config = load(args)
    store = store_of(config)
    try:
        status.refresh(store, {page.id: page.company for page in config.pages})
        rows = status.board(store)
    finally:
        store.close()
    if args.json:
        for row in rows:
            print(json.dumps(row.as_json(), ensure_ascii=False))
    else:
        for line in status.board_lines(rows):
            print(printable(line))
        if not rows:
            print("no pause statements on any watched page", file=sys.stderr)
    return EXIT_OK
