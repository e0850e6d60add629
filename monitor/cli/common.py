"""What the commands share: exit statuses, the config and runtime, arguments, the console."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from monitor.config import Config, load_config
from monitor.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from monitor.check import Runtime
    from monitor.store import Store

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError"]


def console(stream: IO[str] | None = None, width: int | None = None) -> Console:
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False, width=width)


def load(args: argparse.Namespace) -> Config:
    return load_config(args.config)  # which also registers the config's secrets for redaction


def runtime(args: argparse.Namespace) -> Runtime:
    from monitor.check import Runtime

    return Runtime.open(load(args))


def store_of(config: Config) -> Store:
    from monitor.store import Store

    return Store(config.monitor.database)


def parse_since(text: str, option: str = "--since") -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: not an ISO date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_date(text: str, option: str, end: bool = False) -> datetime:
    """YYYY, YYYY-MM, YYYY-MM-DD (UTC; as an end, the last second of that period) or an ISO time."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", text.strip())
    if not match:
        return parse_since(text, option)
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


def page_ids(config: Config, ids: Sequence[str]) -> list[str]:
    known = {page.id for page in config.pages}
    unknown = [pid for pid in ids if pid not in known]
    if unknown:
        raise UsageError(f"unknown page id(s): {', '.join(unknown)} (see `policy-monitor pages`)")
    return list(ids)


def recorded_page(config: Config, store: Store, page_id: str) -> None:
    """A configured page, or one the database has a history of (a followed document's page)."""
    if page_id not in {page.id for page in config.pages} and page_id not in {row.id for row in store.pages()}:
        page_ids(config, [page_id])  # says it is unknown


def read_input(name: str) -> tuple[bytes, str]:
    if name == "-":
        return sys.stdin.buffer.read(), ""
    try:
        return Path(name).read_bytes(), name
    except OSError as exc:
        raise UsageError(f"{name}: cannot read: {exc.strerror or exc}") from None


def open_text(name: str) -> IO[str]:
    try:
        return open(name, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{name}: cannot read: {exc.strerror or exc}") from None
