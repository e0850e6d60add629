"""The `policy-monitor` command line (its contract: docs/design.md).

Exit status: 0 done; 1 a check or delivery failed (still recorded); 2 bad usage or config.

    monitor/cli/__init__.py   main: parse, set up logging, run the command, turn a MonitorError into one line
    monitor/cli/parser.py     the subcommands and options
    monitor/cli/common.py     what the commands share: config, runtime, arguments, the console
    monitor/cli/check.py      check
    monitor/cli/read.py       pages, history, diff, events, status
    monitor/cli/classify.py   classify
    monitor/cli/alerts.py     alerts [list|retry|test]
    monitor/cli/manage.py     run, config-check, migrate, report, reextract, import-archive, demo

Start-up is part of `check`'s cost (cron runs it every few minutes): this package imports only
the config models at start, and a command's module (with what it needs) when it runs.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

from monitor.cli.parser import build_parser, handler_of
from monitor.errors import EXIT_OK, EXIT_USAGE, ConfigError, MonitorError

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    # Start-up loads the command's modules: some 300,000 objects that live as long as the
    # process. The cyclic collector walking them while they are made is wasted work (a tenth of
    # `check`'s start-up), so it waits until they are loaded; frozen then, it never walks them
    # again (each full collection over this heap cost ~50 ms, a tenth of a 500-page pass of
    # unchanged pages). What a command loads later (for `check`, the config and the engine: see
    # cmd_check) is frozen by the command.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from monitor.logs import setup_logging

        parser = build_parser()
        args = parser.parse_args(argv)
        level = args.log_level or ("WARNING" if args.quiet else "INFO")
        try:
            setup_logging(args.log_format or "text", level.upper())
        except ValueError:
            parser.error(f"--log-level: unknown level {args.log_level!r}")
        handler = handler_of(args)
        gc.freeze()
    finally:
        if collecting:
            gc.enable()
    try:
        return int(handler(args))
    except ConfigError as exc:
        from monitor.redact import redact

        for problem in exc.problems:
            print(f"config error: {redact(problem)}", file=sys.stderr)
        return EXIT_USAGE
    except MonitorError as exc:
        from monitor.redact import redact

        headline = f"{exc.headline}: " if exc.headline else ""
        message = " ".join(str(exc).split())  # one line, though a driver's message may hold several
        print(f"policy-monitor: {headline}{redact(message)}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
