"""Typed events from two versions of a page's normalized text (pure functions).

We compare state, not keywords: for each text we compute the jurisdictions it says are under a
pause of government data requests, and those it says had such a pause lifted. Then:

* paused in the new text, not in the old one            -> pause_started  (evidence "stated")
* a lift stated in the new text and not already in the old -> pause_lifted (evidence "stated")
* paused in the old text, neither paused nor lifted in the new -> pause_lifted
  (evidence "statement_removed", quoting the old sentence)

A reworded pause statement for the same jurisdiction is no event. Within one text, a stated lift for
a jurisdiction outweighs a pause statement for it (pages keep their history: "In 2020 we paused ...;
in 2023 we resumed ...").
"""

from __future__ import annotations

from dataclasses import dataclass

from .jurisdictions import find_jurisdictions, jurisdiction_name
from .rules import PAUSE, Assertion, assess
from .segment import split_sentences

__all__ = ["Finding", "classify", "find_jurisdictions", "jurisdiction_name", "split_sentences"]


@dataclass(frozen=True)
class Finding:
    kind: str  # "pause_started" | "pause_lifted"
    jurisdiction: str  # ISO 3166-1 alpha-2, e.g. "HK"
    quote: str  # the sentence carrying the finding (new text if stated, old text if removed)
    evidence: str  # "stated" | "statement_removed"
    rule: str  # short name of the rule that matched


@dataclass(frozen=True)
class _Hit:
    index: int  # sentence number in its text
    sentence: str
    assertion: Assertion


def _state(text: str, company: str | None) -> tuple[dict[str, _Hit], dict[str, _Hit]]:
    """(paused, lifted): jurisdiction -> first sentence asserting it, for one text."""
    paused: dict[str, _Hit] = {}
    lifted: dict[str, _Hit] = {}
    if not text:
        return paused, lifted
    for index, sentence in enumerate(split_sentences(text)):
        for a in assess(sentence, company):
            target = paused if a.kind == PAUSE else lifted
            target.setdefault(a.jurisdiction, _Hit(index, sentence, a))
    for code in lifted:
        paused.pop(code, None)
    return paused, lifted


def classify(old_text: str, new_text: str, company: str | None = None) -> list[Finding]:
    """Pause events between two versions of a text, ordered: statements in the new text by position
    (then jurisdiction), then removed statements by their position in the old text."""
    old_paused, old_lifted = _state(old_text or "", company)
    new_paused, new_lifted = _state(new_text or "", company)
    stated: list[tuple[int, int, str, Finding]] = []
    for code, hit in new_paused.items():
        if code not in old_paused:
            stated.append((hit.index, hit.assertion.pos, code,
                           Finding("pause_started", code, hit.sentence, "stated", hit.assertion.rule)))
    for code, hit in new_lifted.items():
        if code not in old_lifted:
            stated.append((hit.index, hit.assertion.pos, code,
                           Finding("pause_lifted", code, hit.sentence, "stated", hit.assertion.rule)))
    removed: list[tuple[int, int, str, Finding]] = []
    for code, hit in old_paused.items():
        if code not in new_paused and code not in new_lifted:
            removed.append((hit.index, hit.assertion.pos, code,
                            Finding("pause_lifted", code, hit.sentence, "statement_removed",
                                    hit.assertion.rule)))
    stated.sort(key=lambda t: t[:3])
    removed.sort(key=lambda t: t[:3])
    return [t[3] for t in stated] + [t[3] for t in removed]

