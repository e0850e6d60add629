"""Precision / recall of the classifier on the labelled real statements (shared/corpus).

Each statement is scored as classify("", text): a pause_started label is matched by a pause_started
finding, a pause_lifted label (a lift stated in the text) by a pause_lifted finding. Predictions and
gold are sets of (kind, jurisdiction) pairs per statement; a statement that names no jurisdiction is
labelled with a null one, and must give an event with a null ("unspecified") jurisdiction.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.classify import classify

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "statements-dev.jsonl"
MIN_PRECISION = 0.95
MIN_RECALL = 0.90

Pair = tuple[str, str | None]


def _gold(item: dict[str, object]) -> set[Pair]:
    label, code = item["label"], item.get("jurisdiction")
    if label == "none":
        return set()
    return {(str(label), str(code) if code else None)}


def test_corpus_precision_and_recall() -> None:
    if not CORPUS.is_file():
        pytest.skip(f"labelled corpus not found at {CORPUS} (the repository normally lives beside shared/)")
    items = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert items, "empty corpus"
    tp = fp = fn = 0
    wrong: list[str] = []
    for item in items:
        gold = _gold(item)
        pred: set[Pair] = {(f.kind, f.jurisdiction) for f in classify("", str(item["text"]))}
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
        if gold != pred:
            wrong.append(f"  gold={sorted(gold, key=str)} predicted={sorted(pred, key=str)}: {item['text']}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    summary = (f"precision {precision:.3f} (min {MIN_PRECISION}), recall {recall:.3f} (min {MIN_RECALL}); "
               f"tp={tp} fp={fp} fn={fn} over {len(items)} statements")
    print(summary)
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, (
        summary + "\nmisclassified:\n" + "\n".join(wrong))
