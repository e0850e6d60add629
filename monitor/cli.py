"""The `policy-monitor` command line (its contract: docs/design.md).

Exit status: 0 done; 1 a check or delivery failed (still recorded); 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from monitor.config import EVENT_KINDS, Config, ConfigError, default_config_path, format_duration, load_config
from monitor.terminal import json_line, printable

log = logging.getLogger("monitor.cli")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage (unknown page id, bad argument): exit status 2."""


def _console(stream: Any = None) -> Any:
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config)  # which also registers the config's secrets for redaction


def _runtime(args: argparse.Namespace) -> Any:
    from monitor.check import Runtime

    return Runtime.open(_load(args))


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _parse_since(text: str, option: str = "--since") -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: not an ISO date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_date(text: str, option: str, end: bool = False) -> datetime:
    """YYYY, YYYY-MM, YYYY-MM-DD (UTC; as an end, the last second of that period) or an ISO time."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", text.strip())
    if not match:
        return _parse_since(text, option)
    year, month, day = int(match[1]), int(match[2] or 1), int(match[3] or 1)
    try:
        start = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        raise UsageError(f"{option}: not a date: {text!r}") from None
    if not end:
        return start
    if match[3]:
        following = start + timedelta(days=1)
    elif match[2]:
        following = start.replace(year=year + month // 12, month=month % 12 + 1)
    else:
        following = start.replace(year=year + 1)
    return following - timedelta(seconds=1)


def _page_ids(config: Config, ids: Sequence[str]) -> list[str]:
    known = {page.id for page in config.pages}
    unknown = [pid for pid in ids if pid not in known]
    if unknown:
        raise UsageError(f"unknown page id(s): {', '.join(unknown)} (see `policy-monitor pages`)")
    return list(ids)


def _recorded_page(config: Config, store: Any, page_id: str) -> None:
    """A configured page, or one the database has a history of (a followed document's page)."""
    if page_id not in {page.id for page in config.pages} and page_id not in {row.id for row in store.pages()}:
        _page_ids(config, [page_id])  # says it is unknown


# -- commands --------------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    from monitor.fetchmode import browser_problems
    from monitor.redact import redact_database_url

    config = _load(args)
    print(f"{config.path}: OK: {len(config.pages)} pages, {len(config.alerts)} alert sinks, "
          f"database {redact_database_url(config.monitor.database)}")
    # A valid config that this machine cannot run in full: exit 1, as for a check that failed.
    errors, warnings = browser_problems(config)
    for problem in errors:
        print(f"error: {problem}", file=sys.stderr)
    for problem in warnings:
        print(f"warning: {problem}", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.alerts import deliver_pending
    from monitor.coordinate import check_now

    rt = _runtime(args)
    gc.freeze()  # see main()
    try:
        ids = _page_ids(rt.config, args.pages)
        pages = [rt.config.page(pid) for pid in ids] if ids else [p for p in rt.config.pages if p.enabled]
        # check_now: no interval condition, but never while another process checks the page.
        checked = _run_checks(rt, pages, check_now, progress=sys.stderr.isatty() and not args.json)
        outcomes = [one for outcome in checked for one in outcome.with_documents()]  # documents after their page
        delivered = deliver_pending(rt)
        if args.json:
            for outcome in outcomes:
                print(json_line({
                    "page": outcome.page_id, "status": outcome.status, "error": outcome.error,
                    "http_status": outcome.http_status, "snapshot": outcome.snapshot_id,
                    "change": outcome.change_id, "added": outcome.added, "removed": outcome.removed,
                    "fetch": outcome.fetch_mode,
                    "events": [
                        {"id": eid, "kind": e.kind, "jurisdiction": e.jurisdiction, "quote": e.quote,
                         "evidence": e.evidence, "rule": e.rule}
                        for e, eid in zip(outcome.events, outcome.event_ids, strict=False)
                    ],
                }))
        else:
            _print_outcomes(outcomes)
        failed = any(o.failed for o in outcomes) or delivered.failed > 0
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        rt.close()


def _run_checks(rt: Any, pages: list[Any], check: Callable[..., Any], progress: bool) -> list[Any]:
    # The fetcher lets one request at a time go to a host, so a worker takes all of one host's
    # pages in turn: no thread queues on another's host lock, and a single-host config needs
    # no thread hand-offs at all. The busiest hosts go first, to finish together.
    from monitor.fetch import host_of

    groups: dict[str, list[Any]] = {}
    for page in pages:
        groups.setdefault(host_of(page.url), []).append(page)
    queue = sorted(groups.values(), key=len, reverse=True)
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        advance: Callable[[], None] | None = None
        if progress:
            from rich.progress import Progress

            bar = stack.enter_context(Progress(transient=True, console=_console(sys.stderr)))
            task = bar.add_task("checking", total=len(pages))
            advance = partial(bar.advance, task)  # rich's Progress is thread-safe

        def run_host(group: list[Any]) -> None:
            for page in group:
                results[page.id] = _check_one(rt, page, check)
                if advance:
                    advance()

        pool = stack.enter_context(ThreadPoolExecutor(max_workers=min(rt.config.monitor.workers, len(queue)) or 1,
                                                      thread_name_prefix="check"))
        for future in [pool.submit(run_host, group) for group in queue]:
            future.result()
    return [results[page.id] for page in pages]


def _check_one(rt: Any, page: Any, check: Callable[..., Any]) -> Any:
    """One page's check. check_page records every failure of its own; anything else but the
    database (whose errors end the run, as the next page would meet them too) fails this page
    alone, and the run goes on to the other pages and their alerts."""
    from monitor.check import CheckOutcome
    from monitor.store import StoreError

    try:
        return check(rt, page)
    except StoreError:
        raise
    except Exception as exc:
        log.exception("%s: unexpected error", page.id)
        return CheckOutcome(page.id, "failed", error=f"internal error: {type(exc).__name__}: {exc}")


def _print_outcomes(outcomes: list[Any]) -> None:
    rows = [(o.page_id, o.status, printable(_outcome_detail(o))) for o in outcomes]
    if sys.stdout.isatty():
        from rich.table import Table
        from rich.text import Text

        table = Table(title=None, box=None, pad_edge=False)
        for column in ("page", "status", "detail"):
            table.add_column(column)
        styles = {"failed": "red", "changed": "yellow", "baseline": "cyan"}
        for page_id, status, detail in rows:
            table.add_row(page_id, f"[{styles.get(status, 'green')}]{status}[/]", Text(detail))  # not markup
        _console().print(table)
    else:
        # Piped: one tab-separated line per page for scripts (and a 10,000-page pass does not
        # spend more time laying out a table than checking the pages).
        sys.stdout.write("".join(f"{page_id}\t{status}\t{detail}\n" for page_id, status, detail in rows))
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no pages")


def _outcome_detail(o: Any) -> str:
    if o.status != "changed":
        return o.error or ""
    kinds = [f"{e.kind}{' ' + e.jurisdiction if e.jurisdiction else ''}" for e in o.events if e.kind != "changed"]
    return f"+{o.added} -{o.removed} lines" + (f"; {', '.join(kinds)}" if kinds else "")


def cmd_pages(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from monitor.store import Store

    config = _load(args)
    store = Store(config.monitor.database)
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
            if row and row.last_status == "failed" and row.last_error:
                status = f"failed: {row.last_error[:60]}"
            if row and row.gone:
                status = f"GONE ({status})"
            nxt = (last + timedelta(seconds=interval)) if last else None
            claim = row.claimed_by if row and row.claimed_by and row.claim_expires and \
                row.claim_expires > datetime.now(UTC) else ""
            table.add_row(page.id, Text(printable(page.company)), format_duration(interval),
                          _fetch_column(config, page, row), _ts(last), Text(printable(status)),
                          _ts(nxt) if nxt else "due now", claim or "")
        _console().print(table)
        _print_workers(store.workers(), config.monitor.lease)
    finally:
        store.close()
    return EXIT_OK


def _fetch_column(config: Config, page: Any, row: Any) -> str:
    """plain, browser, or auto with what it chose: `auto (browser)`; `auto` before its first check."""
    mode = config.fetch_of(page)
    chosen = row.fetch_mode if row else None
    return f"auto ({chosen})" if mode == "auto" and chosen else mode


def _print_workers(workers: list[Any], lease: float) -> None:
    """`run` processes sharing this database (several when it is PostgreSQL), from their heartbeats."""
    from monitor.coordinate import alive_within

    now = datetime.now(UTC)
    for worker in workers:
        ago = (now - worker.seen_at).total_seconds()
        state = "alive" if ago <= alive_within(lease) else "silent"
        print(f"worker {worker.name}: {state}, seen {ago:.0f}s ago, up since {_ts(worker.started_at)}, "
              f"{worker.checks} checks")


def cmd_history(args: argparse.Namespace) -> int:
    from rich.table import Table

    from monitor.store import Store

    config = _load(args)
    store = Store(config.monitor.database)
    try:
        _recorded_page(config, store, args.page)
        changes = {c.snapshot_id: c for c in store.changes(args.page)}
        table = Table(box=None, pad_edge=False)
        for column in ("snapshot", "recorded", "origin", "fetch", "lines", "chars", "hash", "change"):
            table.add_column(column)
        snaps = store.snapshots(args.page)
        for snap in snaps:
            change = changes.get(snap.id)
            table.add_row(str(snap.id), _ts(snap.created_at), snap.origin, snap.fetch_mode,
                          str(snap.text.count("\n") + 1),
                          str(len(snap.text)), snap.text_hash[:12],
                          f"+{change.added} -{change.removed}" if change else ("baseline" if snap is snaps[0] else ""))
        _console().print(table)
        if not snaps:
            print(f"{args.page}: no snapshots yet (run `policy-monitor check {args.page}`)")
    finally:
        store.close()
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from monitor.diff import diff_lines, unified
    from monitor.store import Store

    config = _load(args)
    store = Store(config.monitor.database)
    try:
        _recorded_page(config, store, args.page)
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
        labels = (f"{args.page} snapshot {from_id} {_ts(old.created_at)}" if old else "(empty)",
                  f"{args.page} snapshot {to_id} {_ts(new.created_at)}")
        color = sys.stdout.isatty() if args.color == "auto" else args.color == "always"
        print(unified(ops, color=color, labels=labels))  # page text made printable there
    finally:
        store.close()
    return EXIT_OK


def format_event_line(event: Any) -> str:
    """An event for a person on a terminal (recorded text may hold control characters)."""
    typed = event.kind in ("pause_started", "pause_lifted")
    where = f" {event.jurisdiction or 'unspecified'}" if typed or event.jurisdiction else ""
    line = f"{_ts(event.detected_at)}  #{event.id} {event.kind}{where}  {event.company} ({event.page_id})"
    if event.kind != "changed" and event.quote:
        line += f'\n    "{event.quote}"'
    if typed and event.context:
        line += f'\n    context: "{event.context}"'
    if event.rule:
        line += f"\n    evidence: {event.evidence}; rule: {event.rule}"
    elif event.kind == "changed":
        relevant = event.relevant_sentences
        for sentence in relevant[:10]:
            line += f"\n    {sentence[:300]}"
        if len(relevant) > 10:
            line += f"\n    ... {len(relevant) - 10} more about government requests"
        if not relevant and event.quote:
            line += f"\n    first change: {event.quote[:200]}"
    return printable(line)


def cmd_events(args: argparse.Namespace) -> int:
    from monitor import export
    from monitor.store import Store

    if args.json and args.format not in (None, "json"):
        raise UsageError(f"events: --json and --format {args.format} disagree; give one of them")
    fmt = "json" if args.json else (args.format or "text")
    config = _load(args)
    since = _parse_since(args.since) if args.since else None
    if args.kind and args.kind not in EVENT_KINDS:
        raise UsageError(f"--kind: unknown kind {args.kind!r} (known: {', '.join(EVENT_KINDS)})")
    store = Store(config.monitor.database)
    try:
        events = store.events(since=since, kind=args.kind, page_id=args.page)
    finally:
        store.close()
    if fmt == "csv":
        export.write_csv(export.records(events), sys.stdout)
        return EXIT_OK
    for event in events:
        print(json_line(event.as_json()) if fmt == "json" else format_event_line(event))
    if not events and fmt == "text":
        print("no events", file=sys.stderr)
    return EXIT_OK


def _read_input(name: str) -> tuple[bytes, str]:
    if name == "-":
        return sys.stdin.buffer.read(), ""
    try:
        return Path(name).read_bytes(), name
    except OSError as exc:
        raise UsageError(f"{name}: cannot read: {exc.strerror or exc}") from None


def _findings_json(findings: list[Any]) -> list[dict[str, Any]]:
    return [{"kind": f.kind, "jurisdiction": f.jurisdiction, "quote": f.quote, "evidence": f.evidence,
             "rule": f.rule, "context": f.context} for f in findings]


def cmd_classify(args: argparse.Namespace) -> int:
    from monitor.classify import classify
    from monitor.extract import ExtractError, extract_file

    if args.batch:
        if args.old or args.new:
            raise UsageError("classify: give either OLD NEW or --batch FILE, not both")
        stream = sys.stdin if args.batch == "-" else _open_text(args.batch)
        bad = 0
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                old, new = item.get("old") or "", item.get("new") or ""
                if not isinstance(old, str) or not isinstance(new, str):
                    raise ValueError("'old' and 'new' must be strings")
            except (ValueError, AttributeError) as exc:
                print(f"{args.batch}:{number}: bad line: {exc}", file=sys.stderr)
                print(json_line({"events": [], "error": f"line {number}: {exc}"}))
                bad += 1
                continue
            findings = classify(old, new, item.get("company"))
            print(json_line({"events": _findings_json(findings)}), flush=False)
        return EXIT_USAGE if bad else EXIT_OK
    if not args.old or not args.new:
        raise UsageError("classify: needs OLD and NEW files (or --batch FILE.jsonl)")
    texts = []
    for name in (args.old, args.new):
        data, path = _read_input(name)
        try:
            texts.append(extract_file(data, path))
        except ExtractError as exc:
            raise UsageError(f"{name}: {exc}") from None
    findings = classify(texts[0], texts[1], args.company)
    if args.json:
        for finding in _findings_json(findings):
            print(json_line(finding))
    else:
        for f in findings:
            print(printable(f"{f.kind} {f.jurisdiction or 'unspecified'}  [{f.evidence}; rule {f.rule}]\n"
                            f"    \"{f.quote}\""))
            if f.context:
                print(printable(f"    context: \"{f.context}\""))
        if not findings:
            print("no pause events", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """What each page says now, per jurisdiction (the report's status board)."""
    from monitor import status
    from monitor.store import Store

    config = _load(args)
    store = Store(config.monitor.database)
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


def _open_text(name: str) -> Any:
    try:
        return open(name, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{name}: cannot read: {exc.strerror or exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import run_daemon

    return run_daemon(args.config, log_format=args.log_format)


def cmd_migrate(args: argparse.Namespace) -> int:
    from monitor.migrate import current_revision
    from monitor.store import Store

    config = _load(args)
    store = Store(config.monitor.database)  # upgrades, under a lock that concurrent starts share
    try:
        revision = current_revision(store.engine)
    finally:
        store.close()
    print(f"database schema is up to date (revision {revision})")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(keep=args.keep, rounds=args.rounds)


def cmd_report(args: argparse.Namespace) -> int:
    from monitor.report import build_report
    from monitor.store import Store

    config = _load(args)
    out = args.out or (config.report.out if config.report else None)
    if not out:
        raise UsageError("report: give --out DIR (or set [report] out in the config)")
    store = Store(config.monitor.database)
    try:
        path = build_report(store, config, Path(out), full=args.full)
    except OSError as exc:
        print(f"policy-monitor: report: cannot write {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    print(f"report written to {path}")
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    from monitor.alerts import alerts_command

    return alerts_command(_runtime(args), args.action)


def cmd_reextract(args: argparse.Namespace) -> int:
    from monitor.reextract import reextract_pages

    rt = _runtime(args)
    try:
        if args.all == bool(args.page):
            raise UsageError("reextract: give a PAGE_ID or --all")
        ids = [p.id for p in rt.config.pages] if args.all else _page_ids(rt.config, [args.page])
        return reextract_pages(rt, ids)
    finally:
        rt.close()


def cmd_import_archive(args: argparse.Namespace) -> int:
    from monitor.archive import import_archive

    start = _parse_date(args.from_, "--from") if args.from_ else None
    end = _parse_date(args.to, "--to", end=True) if args.to else None
    if start and end and start > end:
        raise UsageError("import-archive: --from is after --to")
    rt = _runtime(args)
    try:
        if args.all == bool(args.pages):
            raise UsageError("import-archive: give PAGE_IDs or --all")
        ids = [p.id for p in rt.config.pages if p.enabled] if args.all else _page_ids(rt.config, args.pages)
        return import_archive(rt, ids, start, end, alert=args.alert, progress=sys.stderr.isatty())
    finally:
        rt.close()


# -- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    def options(defaults: bool) -> argparse.ArgumentParser:
        # The subcommands' copies default to SUPPRESS, or `-q check` would be reset by check's default.
        common = argparse.ArgumentParser(add_help=False, argument_default=None if defaults else argparse.SUPPRESS)
        common.add_argument("--config", type=Path,
                            help=f"config file (default: $MONITOR_CONFIG, else {default_config_path()})")
        common.add_argument("--log-format", choices=("text", "json"), help="log line format")
        common.add_argument("--log-level", help="debug, info, warning, error")
        common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors in the log",
                            **({"default": False} if defaults else {}))
        return common

    common = options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="policy-monitor", parents=[options(defaults=True)],
        description="Watch company transparency and policy pages; record changes and typed events.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    add("run", cmd_run, "the daemon: check pages on their schedules until SIGTERM/SIGINT; SIGHUP reloads")
    p = add("check", cmd_check, "check now (all pages, or those named), record, alert, exit")
    p.add_argument("pages", nargs="*", metavar="PAGE_ID")
    p.add_argument("--json", action="store_true", help="one JSON object per page")
    add("pages", cmd_pages, "configured pages with last check, status and next check")
    p = add("history", cmd_history, "a page's snapshots")
    p.add_argument("page", metavar="PAGE_ID")
    p = add("diff", cmd_diff, "the diff between two snapshots of a page (default: the last change)")
    p.add_argument("page", metavar="PAGE_ID")
    p.add_argument("--from", dest="from_", type=int, metavar="SNAP")
    p.add_argument("--to", type=int, metavar="SNAP")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p = add("events", cmd_events, "recorded events, oldest first")
    p.add_argument("--json", action="store_true", help="one JSON object a line (the same as --format json)")
    p.add_argument("--format", choices=("text", "json", "csv"),
                   help="text (default), json (one object a line) or csv (the same fields, a header row)")
    p.add_argument("--since", metavar="ISO", help="only events detected at or after this time")
    p.add_argument("--kind", metavar="K", help=f"only this kind ({', '.join(EVENT_KINDS)})")
    p.add_argument("--page", metavar="PAGE_ID", help="only this page")
    p = add("status", cmd_status, "what each page says now, per jurisdiction: paused / lifted / unspecified")
    p.add_argument("--json", action="store_true", help="one JSON object per page and jurisdiction")
    p = add("classify", cmd_classify, "events between two files (HTML, PDF or text; - or /dev/null for empty)")
    p.add_argument("old", nargs="?", metavar="OLD")
    p.add_argument("new", nargs="?", metavar="NEW")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", metavar="FILE.jsonl", help='each line {"old": ..., "new": ...} -> {"events": [...]}')
    p.add_argument("--company", default=None, help="the company whose page this is")
    p = add("report", cmd_report, "write the static HTML report and Atom feeds (only what changed since the last)")
    p.add_argument("--out", metavar="DIR")
    p.add_argument("--full", action="store_true", help="render every file again, change pages included")
    add("config-check", cmd_config_check, "validate the config")
    p = add("demo", cmd_demo, "offline demo: serve changing pages on 127.0.0.1 and run the real pipeline")
    p.add_argument("--keep", metavar="DIR", help="keep the demo database and report in DIR")
    p.add_argument("--rounds", type=int, default=4, help="how many versions of the pages to serve")
    p = add("alerts", cmd_alerts, "pending and failed deliveries; `retry` requeues failed; `test` pings every sink")
    p.add_argument("action", nargs="?", choices=("list", "retry", "test"), default="list")
    p = add("reextract", cmd_reextract, "re-derive text from stored raw bodies after a selector change")
    p.add_argument("page", nargs="?", metavar="PAGE_ID")
    p.add_argument("--all", action="store_true")
    add("migrate", cmd_migrate, "upgrade the database schema")
    p = add("import-archive", cmd_import_archive,
            "build pages' history from web-archive captures (Wayback CDX), before their first live snapshot")
    p.add_argument("pages", nargs="*", metavar="PAGE_ID")
    p.add_argument("--all", action="store_true", help="every enabled page")
    p.add_argument("--from", dest="from_", metavar="DATE", help="captures from this date or time (UTC)")
    p.add_argument("--to", metavar="DATE", help="captures up to this date or time (a date: to its end)")
    p.add_argument("--alert", action="store_true", help="alert on the imported events too (default: none)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from monitor.logs import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or ("WARNING" if args.quiet else "INFO")
    try:
        setup_logging(args.log_format or "text", level.upper())
    except ValueError:
        parser.error(f"--log-level: unknown level {args.log_level!r}")
    from monitor.store import StoreError

    # What is loaded by now (and, for `check`, the config and engine: see cmd_check) lives as
    # long as the process. Frozen, the cyclic collector stops walking it: each full
    # collection over this heap cost ~50 ms, a tenth of a 500-page pass of unchanged pages.
    gc.freeze()
    try:
        return int(args.func(args))
    except ConfigError as exc:
        from monitor.redact import redact

        for problem in exc.problems:
            print(f"config error: {redact(problem)}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"policy-monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        from monitor.redact import redact

        print(f"policy-monitor: database error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
