"""Regular expressions written by the config's author (`ignore`, `follow`), run by RE2.

They run over text and URLs a server sent, so they must take linear time whatever the input: a
backtracking engine can take exponential time on a line a pattern misses. RE2 has no
backreferences or lookaround, and its \\w, \\d, \\s are ASCII only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # errors are raised (and reported by config-check), not printed
    options.never_capture = True
    return options


def check_pattern(pattern: str, key: str = "ignore") -> None:
    """Raise ValueError naming the problem if RE2 cannot run `pattern` (a page's `key` entry)."""
    try:
        re2.compile(pattern, _options())
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"invalid regex {pattern!r}: {detail} ({key} patterns use RE2 syntax: no "
                         "backreferences or lookaround)") from None


@lru_cache(maxsize=512)
def union(patterns: tuple[str, ...]) -> Any:
    """One compiled RE2 regex matching where any of `patterns` does; None for no patterns."""
    if not patterns:
        return None
    return re2.compile("|".join(f"(?:{p})" for p in patterns), _options())
