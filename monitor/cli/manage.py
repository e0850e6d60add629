"""The commands that run or look after the monitor: `run`, `config-check`, `migrate`, `report`,
`reextract`, `import-archive`, `demo`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.cli.common import EXIT_FAILED, EXIT_OK, UsageError, load, page_ids, parse_date, runtime, store_of


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import run_daemon

    return run_daemon(args.config, log_format=args.log_format)


def cmd_config_check(args: argparse.Namespace) -> int:
    from monitor.fetchmode import browser_problems
    from monitor.redact import redact_database_url

    config = load(args)
    print(f"{config.path}: OK: {len(config.pages)} pages, {len(config.alerts)} alert sinks, "
          f"database {redact_database_url(config.monitor.database)}")
    # A valid config that this machine cannot run in full: exit 1, as for a check that failed.
    errors, warnings = browser_problems(config)
    for problem in errors:
        print(f"error: {problem}", file=sys.stderr)
    for problem in warnings:
        print(f"warning: {problem}", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from monitor.migrate import current_revision

    store = store_of(load(args))  # upgrades, under a lock that concurrent starts share
    try:
        revision = current_revision(store.engine)
    finally:
        store.close()
    print(f"database schema is up to date (revision {revision})")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from monitor.report import build_report

    config = load(args)
    out = args.out or (config.report.out if config.report else None)
    if not out:
        raise UsageError("report: give --out DIR (or set [report] out in the config)")
    store = store_of(config)
    try:
        path = build_report(store, config, Path(out), full=args.full)
    except OSError as exc:
        print(f"policy-monitor: report: cannot write {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    print(f"report written to {path}")
    return EXIT_OK


def cmd_reextract(args: argparse.Namespace) -> int:
    from monitor.reextract import reextract_pages

    rt = runtime(args)
    try:
        if args.all == bool(args.page):
            raise UsageError("reextract: give a PAGE_ID or --all")
        ids = [p.id for p in rt.config.pages] if args.all else page_ids(rt.config, [args.page])
        return reextract_pages(rt, ids)
    finally:
        rt.close()


def cmd_import_archive(args: argparse.Namespace) -> int:
    from monitor.archive import import_archive

    start = parse_date(args.from_, "--from") if args.from_ else None
    end = parse_date(args.to, "--to", end=True) if args.to else None
    if start and end and start > end:
        raise UsageError("import-archive: --from is after --to")
    rt = runtime(args)
    try:
        if args.all == bool(args.pages):
            raise UsageError("import-archive: give PAGE_IDs or --all")
        ids = [p.id for p in rt.config.pages if p.enabled] if args.all else page_ids(rt.config, args.pages)
        return import_archive(rt, ids, start, end, alert=args.alert, progress=sys.stderr.isatty())
    finally:
        rt.close()


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(keep=args.keep, rounds=args.rounds)
