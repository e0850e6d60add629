"""`python -m monitor.classify FILE.md`: rewrite the rule table between the rules markers of a doc page
from the rules' own metadata (docs/events.md; a test fails while it is stale)."""

from __future__ import annotations

import sys
from pathlib import Path

from monitor.classify import rules_markdown

BEGIN, END = "<!-- rules:begin -->\n", "\n<!-- rules:end -->"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m monitor.classify FILE.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"{path}: no {BEGIN.strip()} ... {END.strip()} block", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(head + BEGIN + rules_markdown() + END + tail, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
