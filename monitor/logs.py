"""Logging to stdout/stderr, one event per line, for journald and log shippers.

Text or JSON lines; under systemd (JOURNAL_STREAM set) each line starts with the sd-daemon
`<N>` priority prefix so journald records the right priority. Every line (the message, a
traceback and, in JSON, every extra field) passes through `redact`, so no secret of the config
can reach a log.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from monitor.redact import redact
from monitor.render import iso_time
from monitor.terminal import json_line, printable

# syslog priorities, as sd-daemon(3) prefixes expect
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _priority(level: int) -> int:
    for threshold in sorted(_PRIORITY, reverse=True):
        if level >= threshold:
            return _PRIORITY[threshold]
    return 7


class LineFormatter(logging.Formatter):
    def __init__(self, fmt: str = "text", journald: bool = False):
        super().__init__()
        self.json = fmt == "json"
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        message = redact(message).replace("\n", " ")  # JSON escapes controls; text shows them
        if self.json:
            data: dict[str, object] = {
                "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": message,
            }
            for key, value in vars(record).items():
                if key not in _STANDARD and not key.startswith("_"):
                    # Extra fields are output too: a sink URL or an error text there is redacted like the message.
                    data[key] = value if isinstance(value, int | float | bool | None) else redact(str(value))
            line = json_line(data)
        elif self.journald:
            line = f"{record.levelname.lower()} {record.name}: {printable(message)}"  # journald adds the time
        else:
            stamp = iso_time(datetime.fromtimestamp(record.created, UTC))
            line = f"{stamp} {record.levelname.lower():7} {record.name}: {printable(message)}"
        return f"<{_priority(record.levelno)}>{line}" if self.journald else line


def setup_logging(fmt: str = "text", level: str | int = "INFO", stream: object = None) -> None:
    journald = bool(os.environ.get("JOURNAL_STREAM"))
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(LineFormatter(fmt, journald))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries' chatter is not our users' business unless they ask for debug.
    for name in ("apscheduler", "urllib3", "apprise", "pypdf", "sqlalchemy", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING if root.level > logging.DEBUG else logging.INFO)


@contextmanager
def logs_to(proxy: Any) -> Iterator[None]:
    """While a progress bar runs, send the log lines bound for stderr through `proxy`, the bar
    console's stand-in for sys.stderr (rich.progress redirects it), which prints them above
    the bar instead of through it."""
    stderr = getattr(proxy, "rich_proxied_file", None)
    handlers = [h for h in logging.getLogger().handlers
                if isinstance(h, logging.StreamHandler) and stderr is not None and h.stream is stderr]
    for handler in handlers:
        handler.setStream(proxy)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(stderr)
