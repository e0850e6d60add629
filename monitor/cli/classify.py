"""`classify`: the events between two files, or for each line of a JSON-lines batch."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from monitor.cli.common import EXIT_OK, EXIT_USAGE, UsageError, open_text, read_input
from monitor.render import UNSPECIFIED
from monitor.terminal import json_line, printable

if TYPE_CHECKING:
    from monitor.classify import Finding


def _findings_json(findings: list[Finding]) -> list[dict[str, str | None]]:
    return [{"kind": f.kind, "jurisdiction": f.jurisdiction, "quote": f.quote, "evidence": f.evidence,
             "rule": f.rule, "context": f.context} for f in findings]


def cmd_classify(args: argparse.Namespace) -> int:
    from monitor.classify import classify
    from monitor.extract import ExtractError, extract_file

    if args.batch:
        if args.old or args.new:
            raise UsageError("classify: give either OLD NEW or --batch FILE, not both")
        stream = sys.stdin if args.batch == "-" else open_text(args.batch)
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
        data, path = read_input(name)
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
            print(printable(f"{f.kind} {f.jurisdiction or UNSPECIFIED}  [{f.evidence}; rule {f.rule}]\n"
                            f"    \"{f.quote}\""))
            if f.context:
                print(printable(f"    context: \"{f.context}\""))
        if not findings:
            print("no pause events", file=sys.stderr)
    return EXIT_OK
