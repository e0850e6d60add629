"""Precision / recall of the classifier on labelled real statements (tests/data/README.md).

Each statement is scored as classify("", text): a pause_started label is matched by a pause_started
finding, a pause_lifted label (a lift stated in the text) by a pause_lifted finding. Predictions and
gold are sets of (kind, jurisdiction) pairs per statement; a statement that names no jurisdiction is
labelled with a null one, and must give an event with a null ("unspecified") jurisdiction.

The development set is what the rules were written from: its floor guards against regressions.
The held-out statements of split `unseen` were never read while writing rules; their floor is a
little under what the rules score today, and a failure prints only totals, never the statements,
so that fixing a regression does not turn them into a development set.
"""

from __future__ import annotations

import json
from pathlib import Path

from monitor.classify import classify
from tests.conftest import DATA

DEV = DATA / "statements-dev.jsonl"
HELD_OUT = DATA / "statements-heldout.jsonl"

Pair = tuple[str, str | None]


def _load(path: Path) -> list[dict[str, object]]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert items, f"no statements in {path}"
    return items


def _gold(item: dict[str, object]) -> set[Pair]:
    label, code = item["label"], item.get("jurisdiction")
    if label == "none":
        return set()
    return {(str(label), str(code) if code else None)}


def _score(items: list[dict[str, object]]) -> tuple[float, float, str, list[str]]:
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
    summary = f"precision {precision:.3f}, recall {recall:.3f}; tp={tp} fp={fp} fn={fn} over {len(items)} statements"
    return precision, recall, summary, wrong


def test_development_set_precision_and_recall() -> None:
    precision, recall, summary, wrong = _score(_load(DEV))
    print(summary)
    assert precision >= 0.95 and recall >= 0.90, summary + " (min 0.95 / 0.90)\nmisclassified:\n" + "\n".join(wrong)


def test_unseen_held_out_statements_keep_their_level() -> None:
    unseen = [item for item in _load(HELD_OUT) if item.get("split") == "unseen" and not item.get("doubtful")]
    assert len(unseen) > 400
    precision, recall, summary, _ = _score(unseen)
    print(summary)
    assert precision >= 0.85 and recall >= 0.74, summary + " (min 0.85 / 0.74; statements not shown on purpose)"


def test_held_out_statements_are_not_in_the_development_set() -> None:
    def norm(text: object) -> str:
        return " ".join(str(text).lower().split())

    dev = {norm(item["text"]) for item in _load(DEV)}
    held = _load(HELD_OUT)
    assert {item.get("split") for item in held} == {"tuning", "unseen"}
    assert not [item["id"] for item in held if norm(item["text"]) in dev]
