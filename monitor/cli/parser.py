"""The command line's words: subcommands, their options and help (the contract: docs/design.md).

Each subcommand names its handler as `module.function` under monitor.cli (`check.cmd_check`):
`main` imports only the module of the command that runs, so `check` does not pay at start-up
for what `report` or `alerts` need (jinja2, rich tables, apprise).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

from monitor.config import default_config_path
from monitor.vocabulary import EVENT_KINDS

Handler = Callable[[argparse.Namespace], int]


def handler_of(args: argparse.Namespace) -> Handler:
    """The function that runs the parsed command."""
    module, _, function = args.handler.rpartition(".")
    handler: Handler = getattr(importlib.import_module(f"monitor.cli.{module}"), function)
    return handler


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

    def add(name: str, handler: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    add("run", "manage.cmd_run", "the daemon: check pages on their schedules until SIGTERM/SIGINT; SIGHUP reloads")
    p = add("check", "check.cmd_check", "check now (all pages, or those named), record, alert, exit")
    p.add_argument("pages", nargs="*", metavar="PAGE_ID")
    p.add_argument("--json", action="store_true", help="one JSON object per page")
    add("pages", "read.cmd_pages", "configured pages with last check, status and next check")
    p = add("history", "read.cmd_history", "a page's snapshots")
    p.add_argument("page", metavar="PAGE_ID")
    p = add("diff", "read.cmd_diff", "the diff between two snapshots of a page (default: the last change)")
    p.add_argument("page", metavar="PAGE_ID")
    p.add_argument("--from", dest="from_", type=int, metavar="SNAP")
    p.add_argument("--to", type=int, metavar="SNAP")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p = add("events", "read.cmd_events", "recorded events, oldest first")
    p.add_argument("--json", action="store_true", help="one JSON object a line (the same as --format json)")
    p.add_argument("--format", choices=("text", "json", "csv"),
                   help="text (default), json (one object a line) or csv (the same fields, a header row)")
    p.add_argument("--since", metavar="ISO", help="only events detected at or after this time")
    p.add_argument("--kind", metavar="K", help=f"only this kind ({', '.join(EVENT_KINDS)})")
    p.add_argument("--page", metavar="PAGE_ID", help="only this page")
    p = add("status", "read.cmd_status", "what each page says now, per jurisdiction: paused / lifted / unspecified")
    p.add_argument("--json", action="store_true", help="one JSON object per page and jurisdiction")
    p = add("classify", "classify.cmd_classify",
            "events between two files (HTML, PDF or text; - or /dev/null for empty)")
    p.add_argument("old", nargs="?", metavar="OLD")
    p.add_argument("new", nargs="?", metavar="NEW")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", metavar="FILE.jsonl", help='each line {"old": ..., "new": ...} -> {"events": [...]}')
    p.add_argument("--company", default=None, help="the company whose page this is")
    p = add("report", "manage.cmd_report",
            "write the static HTML report and Atom feeds (only what changed since the last)")
    p.add_argument("--out", metavar="DIR")
    p.add_argument("--full", action="store_true", help="render every file again, change pages included")
    add("config-check", "manage.cmd_config_check", "validate the config")
    p = add("demo", "manage.cmd_demo", "offline demo: serve changing pages on 127.0.0.1 and run the real pipeline")
    p.add_argument("--keep", metavar="DIR", help="keep the demo database and report in DIR")
    p.add_argument("--rounds", type=int, default=4, help="how many versions of the pages to serve")
    p = add("alerts", "alerts.cmd_alerts",
            "pending and failed deliveries; `retry` requeues failed; `test` pings every sink")
    p.add_argument("action", nargs="?", choices=("list", "retry", "test"), default="list")
    p = add("reextract", "manage.cmd_reextract", "re-derive text from stored raw bodies after a selector change")
    p.add_argument("page", nargs="?", metavar="PAGE_ID")
    p.add_argument("--all", action="store_true")
    add("migrate", "manage.cmd_migrate", "upgrade the database schema")
    p = add("import-archive", "manage.cmd_import_archive",
            "build pages' history from web-archive captures (Wayback CDX), before their first live snapshot")
    p.add_argument("pages", nargs="*", metavar="PAGE_ID")
    p.add_argument("--all", action="store_true", help="every enabled page")
    p.add_argument("--from", dest="from_", metavar="DATE", help="captures from this date or time (UTC)")
    p.add_argument("--to", metavar="DATE", help="captures up to this date or time (a date: to its end)")
    p.add_argument("--alert", action="store_true", help="alert on the imported events too (default: none)")
    return parser
