"""Classifier quality and speed: precision and recall on labelled real statements, measured as fit
(the whole development set) and as generalization (leave one event out, and a held-out set), plus
statements classified per second on one core.

    .venv/bin/python bench/bench_classify.py [--corpus PATH] [--holdout PATH] [--calls N] [--per-event]

Scoring: each statement is classify("", text); gold and predictions are sets of (kind, jurisdiction)
pairs, a null jurisdiction meaning "the sentence names none" (an event with jurisdiction null).

Leave one event out. The rules are hand-written, so "training without an event" cannot be re-run by
a machine. What can be measured is how much of an event's score depends on words only that event
uses: for each event (field `event`), every word of its statements that no statement of any other
event contains is replaced by an unknown word, and the event is scored so. A rule that generalizes
keeps firing on the words other events share ("suspended", "requests", "police"); one that was fit
to an event's own vocabulary ("sunsetting", "GEDmatch") loses it. The figure is pessimistic for
rare but general words and blind to constructions fit to one event, so the held-out set is the
figure to trust: real statements of the same and of other events, labelled by the same rules.
Half of it (`split: tuning`) was read while rules were written; the other half (`split: unseen`)
never was, and only its totals are printed. A statement a careful reader could label either way
is marked `doubtful`; figures are given without and with those.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from monitor.classify import classify
from monitor.classify.jurisdictions import mentions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / "tests" / "data" / "statements-dev.jsonl"
DEFAULT_HOLDOUT = ROOT / "tests" / "data" / "statements-heldout.jsonl"
DEFAULT_OTA = ROOT / "tests" / "data" / "ota"
TARGET = 2000.0
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# The task's own words (what the event kinds are defined with): never masked, since they come from
# the definition of a pause, not from looking at an event's statements.
SPEC_LEMMAS = frozenset({
    "pause", "suspend", "suspension", "halt", "stop", "freeze", "cease", "decline", "refuse", "refusal", "withhold",
    "resume", "restore", "reinstate", "re enable", "reenable", "lift", "end", "request", "demand", "order",
    "response", "review", "processing", "process", "provision", "provide", "disclosure", "disclose", "sharing",
    "share", "hand over", "hand", "data", "information", "user data", "cooperation", "cooperate", "authority",
    "authorities", "government", "law enforcement", "police", "not", "no", "never", "no longer", "for now",
    "until", "henceforth", "temporarily", "will", "would", "may", "might", "could", "if",
})

Pair = tuple[str, str | None]


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gold(item: dict[str, Any]) -> set[Pair]:
    if item["label"] == "none":
        return set()
    return {(str(item["label"]), item.get("jurisdiction") or None)}


def predict(text: str, company: str | None = None) -> set[Pair]:
    return {(f.kind, f.jurisdiction) for f in classify("", text, company)}


class Score:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, g: set[Pair], p: set[Pair]) -> None:
        self.tp += len(g & p)
        self.fp += len(p - g)
        self.fn += len(g - p)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def __str__(self) -> str:
        return f"precision {self.precision:.3f}  recall {self.recall:.3f}  (tp {self.tp}, fp {self.fp}, fn {self.fn})"


def score(items: list[dict[str, Any]], texts: list[str] | None = None) -> tuple[Score, dict[str, Score]]:
    total, per_event = Score(), defaultdict(Score)
    for index, item in enumerate(items):
        text = texts[index] if texts else item["text"]
        g, p = gold(item), predict(text, item.get("company"))
        total.add(g, p)
        per_event[str(item.get("event", "?"))].add(g, p)
    return total, dict(per_event)


def mask_unique_words(items: list[dict[str, Any]]) -> list[str]:
    """Each statement with the rule words (the classifier's lexicon, not place names) that only its own
    event uses replaced by an unknown word."""
    events_of: dict[str, set[str]] = defaultdict(set)
    for item in items:
        for word in set(_WORD.findall(item["text"].lower())):
            events_of[word].add(str(item.get("event", "?")))
    vocabulary = lexicon_words() - spec_words()
    out = []
    for item in items:
        event = str(item.get("event", "?"))
        places = {w for m in mentions(item["text"]) for w in _WORD.findall(m.text.lower())}

        def repl(match: re.Match[str], event: str = event, places: set[str] = places) -> str:
            word = match.group(0).lower()
            unique = events_of[word] == {event} and word in vocabulary and word not in places
            return "zqx" if unique else match.group(0)

        out.append(_WORD.sub(repl, item["text"]))
    return out


def spec_words() -> set[str]:
    """All inflected forms of SPEC_LEMMAS."""
    from monitor.classify import lexicon

    forms = {word for word, entry in lexicon._TABLE.items() if entry.lemma in SPEC_LEMMAS or word in SPEC_LEMMAS}
    for key, entry in lexicon._MWE.items():
        if entry.lemma in SPEC_LEMMAS:
            forms.update(key)
    return forms


def lexicon_words() -> set[str]:
    """The content words the rules know: the actions (stop, refuse, resume ...) and what they apply to
    (requests, data, authorities, channels). Structure words (auxiliaries, negation, conjunctions) are
    English, not vocabulary learnt from an event, and masking them would only garble sentences."""
    from monitor.classify import lexicon as L

    content = (L.CEASE_V | L.REFUSE_V | L.LIFT_V | L.HANDLE_V | L.DISCLOSE_V | L.REQ_V | L.ENABLE_V | L.PREVENT_V
               | L.CEASE_N | L.LIFT_N | L.HANDLE_N | L.REQ_N | L.DATA_N | L.AUTH_N | L.CHANNEL_N | L.UNAVAILABLE
               | L.HELD | L.MLAT | L.REDIRECT_V)
    structure = L.AUX | L.DET | L.PREP | L.SUBORD | L.REL | L.CONJ | L.PRON | L.REPORT | L.NEG
    words = {w for w, e in L._TABLE.items() if e.tags & content and not e.tags & structure}
    for key, entry in L._MWE.items():
        if entry.tags & content:
            words.update(w for w in key if not (L.lookup(w) and L.lookup(w).tags & structure))
    return words


def throughput(texts: list[str], calls: int) -> float:
    rounds = max(1, round(calls / len(texts)))
    for text in texts:  # warm up
        classify("", text)
    start = time.process_time()  # CPU of this process: one core, steadier than wall time on a shared host
    for _ in range(rounds):
        for text in texts:
            classify("", text)
    return rounds * len(texts) / (time.process_time() - start)


def held_out(items: list[dict[str, Any]]) -> None:
    """Scores on the held-out statements, by split: `unseen` (only these totals were ever looked at)
    and `tuning` (its errors were read while rules were written: a second development set)."""
    print(f"held-out set: {len(items)} statements of {len({i.get('event') for i in items})} events")
    for split in ("unseen", "tuning"):
        part = [item for item in items if item.get("split") == split]
        if not part:
            continue
        sure = [item for item in part if not item.get("doubtful")]
        hk = [item for item in sure if str(item.get("event")).startswith("HK-2020")]
        others = [item for item in sure if not str(item.get("event")).startswith("HK-2020")]
        print(f"  {split} ({len(part)} statements, {len(sure)} not doubtful):")
        print(f"    not doubtful:                 {score(sure)[0]}")
        print(f"      Hong Kong 2020 wording:     {score(hk)[0]}")
        print(f"      every other event:          {score(others)[0]}")
        print(f"    doubtful ones included:       {score(part)[0]}")


def ota_events(folder: Path) -> tuple[int, int]:
    """Typed events between successive real versions of policy pages (there should be none)."""
    versions = found = 0
    for page in sorted(p for p in folder.iterdir() if p.is_dir()):
        previous = ""
        for path in sorted(page.glob("*.md")):
            text = path.read_text(encoding="utf-8")
            found += len(classify(previous, text))
            previous = text
            versions += 1
    return versions, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="labelled statements (JSONL)")
    parser.add_argument("--holdout", type=Path, default=DEFAULT_HOLDOUT, help="held-out labelled statements")
    parser.add_argument("--ota", type=Path, default=DEFAULT_OTA, help="folder of real policy versions")
    parser.add_argument("--calls", type=int, default=20_000, help="about how many classify() calls to time")
    parser.add_argument("--per-event", action="store_true", help="print each event's scores")
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    items = load(args.corpus)
    labels = Counter(item["label"] for item in items)
    events = {str(item.get("event")) for item in items}
    print(f"development set: {len(items)} statements, {len(events)} events, "
          + ", ".join(f"{n} {label}" for label, n in labels.most_common()))
    whole, per_event = score(items)
    print(f"  whole set (fit):                {whole}")
    loeo, loeo_events = score(items, mask_unique_words(items))
    print(f"  leave one event out (vocab.):   {loeo}")
    if args.per_event:
        for event in sorted(per_event):
            print(f"    {event:22} fit: {per_event[event]}\n    {'':22} out: {loeo_events[event]}")
    if args.holdout.is_file():
        held_out(load(args.holdout))
    if args.ota.is_dir():
        versions, found = ota_events(args.ota)
        print(f"real policy versions: {found} typed events over {versions} successive versions (want 0)")
    rate = throughput([item["text"] for item in items], args.calls)
    print(f"speed: {rate:,.0f} statements/s on one core ({rate / TARGET:.2f}x the {TARGET:,.0f}/s target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
