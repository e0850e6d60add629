"""Classifier throughput: statements classified per second on one core.

Loops classify("", statement) over the labelled corpus statements, repeated to about 20,000 calls,
and prints the rate and its ratio to the 2,000 statements/s target.

    .venv/bin/python bench/bench_classify.py [--calls N] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from monitor.classify import classify

TARGET = 2000.0
DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "statements-dev.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="about how many classify() calls")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="statements JSONL (field 'text')")
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    texts = [json.loads(line)["text"] for line in args.corpus.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    rounds = max(1, round(args.calls / len(texts)))
    for text in texts:  # warm up (imports, regex caches)
        classify("", text)
    findings = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            findings += len(classify("", text))
    elapsed = time.perf_counter() - start
    calls = rounds * len(texts)
    rate = calls / elapsed
    print(f"{calls} statements in {elapsed:.3f} s: {rate:,.0f} statements/s "
          f"({rate / TARGET:.2f}x the {TARGET:,.0f}/s target; {findings} findings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
