"""Typed events from two versions of a page's normalized text (pure functions).

We compare state, not keywords. For each text we compute what it asserts (`statements`): for each
jurisdiction, whether the text says the company paused government data requests from it, or that
such a pause was lifted. A sentence that names no jurisdiction takes one from its page context: the
previous sentences of its section (the nearest that names any, if it names exactly one) or the
section's heading; with none near, the jurisdiction is None ("unspecified"). Then:

* paused in the new text, not in the old one               -> pause_started (evidence "stated")
* a lift stated in the new text and not already in the old -> pause_lifted  (evidence "stated")
* paused in the old text, neither paused nor lifted in the new -> pause_lifted
  (evidence "statement_removed", quoting the old sentence)

A reworded pause statement for the same jurisdiction is no event. Within one text, a stated lift for
a jurisdiction outweighs a pause statement for it (pages keep their history: "In 2020 we paused ...;
in 2023 we resumed ...").
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from monitor.budget import UNLIMITED, Budget

from . import lexicon as _L
from .analysis import analyse
from .jurisdictions import find_jurisdictions, jurisdiction_name, mentions
from .rules import LIFT, PAUSE, RULES, assess
from .segment import split_sentences

__all__ = [
    "LIFT", "PAUSE", "RULES", "Finding", "Statement", "TextState", "classify", "compare", "find_jurisdictions",
    "is_relevant", "jurisdiction_name", "relevant_changes", "rules_markdown", "rules_version", "split_sentences",
    "state", "statements",
]

# How far back a sentence without a jurisdiction looks for one in its section.
CONTEXT_SENTENCES = 5
# A relevant-sentence list is for people: its size is capped whatever a page does.
MAX_RELEVANT = 40
MAX_RELEVANT_CHARS = 600


@cache
def rules_version() -> str:
    """Changes whenever the classifier's code or word lists change: stored states made by other rules
    are recomputed (without events)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    kind: str  # "pause_started" | "pause_lifted"
    jurisdiction: str | None  # ISO 3166-1 alpha-2, e.g. "HK"; None: unspecified
    quote: str  # the sentence carrying the finding (new text if stated, old text if removed)
    evidence: str  # "stated" | "statement_removed"
    rule: str  # short name of the rule that matched
    context: str | None = None  # the heading or sentence that named the jurisdiction, when not the quote


@dataclass(frozen=True)
class Statement:
    """What one sentence of a text asserts for one jurisdiction."""

    kind: str  # PAUSE | LIFT
    jurisdiction: str | None
    quote: str
    rule: str
    context: str | None
    index: int  # sentence number in its text
    pos: int  # trigger offset in the sentence


@dataclass(frozen=True)
class TextState:
    """The pauses and lifts a text asserts: jurisdiction -> the first sentence saying so."""

    paused: dict[str | None, Statement]
    lifted: dict[str | None, Statement]

    @classmethod
    def of(cls, found: Iterable[Statement]) -> TextState:
        paused: dict[str | None, Statement] = {}
        lifted: dict[str | None, Statement] = {}
        for st in found:
            (paused if st.kind == PAUSE else lifted).setdefault(st.jurisdiction, st)
        for code in lifted:
            paused.pop(code, None)
        return cls(paused, lifted)

    def statements(self) -> list[Statement]:
        return sorted([*self.paused.values(), *self.lifted.values()], key=lambda st: (st.index, st.pos))


def _is_heading(line: str) -> bool:
    """A short line without closing punctuation: a heading, a label, a tab name."""
    text = line.strip()
    return (0 < len(text) <= 100 and len(text.split()) <= 12 and text[-1] not in ".!?;,:" and " | " not in text
            and not text.startswith(("-", "*", "•")))


def statements(text: str, company: str | None = None, budget: Budget = UNLIMITED) -> list[Statement]:
    """Everything a text asserts, sentence by sentence, with jurisdictions from page context.
    `budget`: the check's work budget, looked at every sentence (a text may be megabytes)."""
    out: list[Statement] = []
    index = 0
    heading: str | None = None
    section: list[str] = []  # sentences of the current section, oldest first
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        if _is_heading(line):
            heading, section = line.strip(), []
            # a heading may itself be a statement ("Requests from Hong Kong: paused")
        for sentence in split_sentences(line):
            budget.tick()
            for a in assess(sentence, company):
                code, context = a.jurisdiction, None
                if code is None:
                    code, context = _from_context(section, heading, sentence)
                out.append(Statement(a.kind, code, sentence, a.rule, context, index, a.pos))
            section.append(sentence)
            if len(section) > CONTEXT_SENTENCES:
                del section[0]
            index += 1
    return out


def _from_context(section: list[str], heading: str | None, sentence: str) -> tuple[str | None, str | None]:
    for previous in reversed(section):
        if previous == heading:
            break
        codes = find_jurisdictions(previous)
        if codes:
            return (codes[0], previous) if len(codes) == 1 else (None, None)
    if heading and heading != sentence:
        codes = find_jurisdictions(heading)
        if len(codes) == 1:
            return codes[0], heading
    return None, None


def state(text: str, company: str | None = None, budget: Budget = UNLIMITED) -> TextState:
    return TextState.of(statements(text, company, budget))


def compare(old: TextState, new: TextState) -> list[Finding]:
    """Pause events between two states, ordered: statements in the new text by position (then
    jurisdiction), then removed statements by their position in the old text."""
    stated: list[tuple[int, int, str, Finding]] = []
    for code, st in new.paused.items():
        if code not in old.paused:
            stated.append((st.index, st.pos, code or "", _finding("pause_started", st, "stated")))
    for code, st in new.lifted.items():
        if code not in old.lifted:
            stated.append((st.index, st.pos, code or "", _finding("pause_lifted", st, "stated")))
    removed: list[tuple[int, int, str, Finding]] = []
    for code, st in old.paused.items():
        if code not in new.paused and code not in new.lifted:
            removed.append((st.index, st.pos, code or "", _finding("pause_lifted", st, "statement_removed")))
    stated.sort(key=lambda t: t[:3])
    removed.sort(key=lambda t: t[:3])
    return [t[3] for t in stated] + [t[3] for t in removed]


def _finding(kind: str, st: Statement, evidence: str) -> Finding:
    return Finding(kind, st.jurisdiction, st.quote, evidence, st.rule, st.context)


def classify(old_text: str, new_text: str, company: str | None = None) -> list[Finding]:
    """Typed pause events between two versions of a text."""
    return compare(state(old_text or "", company), state(new_text or "", company))


# ---- relevance: sentences about government / law-enforcement requests for user data -----------

_ABOUT_REQUESTS = _L.REQ_N | _L.HANDLE_N | _L.HANDLE_V | _L.DISCLOSE_V | _L.DATA_N | _L.CHANNEL_N


def is_relevant(sentence: str) -> bool:
    """Does this sentence speak of government or law-enforcement requests for user data? (A heading
    alone, such as "Hong Kong" or "Video requests", is not a statement.)"""
    if len(sentence) < 12 or _is_heading(sentence):
        return False
    for s in analyse(sentence[:MAX_RELEVANT_CHARS * 4]):
        tags = 0
        for t in s.tags:
            tags |= t
        if tags & _L.AUTH_N and tags & _ABOUT_REQUESTS:
            return True
        if tags & _L.REQ_N and tags & (_L.DATA_N | _L.HANDLE_N | _L.HANDLE_V) and (mentions(s.text) or
                                                                                   tags & _L.DATA_N):
            return True
    return bool(assess(sentence))


def relevant_changes(old_text: str, new_text: str, limit: int = MAX_RELEVANT, budget: Budget = UNLIMITED) -> list[str]:
    """Removed ('- ') and added ('+ ') sentences that speak of government data requests, removed
    first, each in its text's order; sentences only moved are not changes."""
    # A line found in both texts (as often) holds the same sentences on both sides, so only the
    # other lines are split: what a page's edit leaves alone costs a count, not a segmentation.
    old_lines, new_lines = (old_text or "").splitlines(), (new_text or "").splitlines()
    shared = Counter(old_lines) & Counter(new_lines)
    old = split_sentences("\n".join(_unshared(old_lines, shared)))
    new = split_sentences("\n".join(_unshared(new_lines, shared)))
    old_count, new_count = Counter(old), Counter(new)
    out: list[str] = []
    for sign, sentences, mine, other in (("- ", old, old_count, new_count), ("+ ", new, new_count, old_count)):
        surplus = {s: n - other.get(s, 0) for s, n in mine.items() if n > other.get(s, 0)}
        for sentence in sentences:
            if len(out) >= limit:
                return out
            if surplus.get(sentence, 0) > 0:
                budget.tick()
                surplus[sentence] -= 1
                if is_relevant(sentence):
                    clipped = sentence if len(sentence) <= MAX_RELEVANT_CHARS else sentence[:MAX_RELEVANT_CHARS] + "…"
                    out.append(sign + clipped)
    return out


def _unshared(lines: list[str], shared: Counter[str]) -> list[str]:
    """`lines` in order, less the first `shared[line]` occurrences of each."""
    left = shared.copy()
    out: list[str] = []
    for line in lines:
        if left[line] > 0:
            left[line] -= 1
        else:
            out.append(line)
    return out


def rules_markdown() -> str:
    """The rule table of docs/events.md, made from the rules' own metadata (a test keeps them equal)."""
    lines = ["| rule | kind | recognises | example |", "| --- | --- | --- | --- |"]
    for rule in RULES:
        kind = "pause_started" if rule.kind == PAUSE else "pause_lifted"
        lines.append(f"| `{rule.name}` | {kind} | {rule.summary} | {rule.examples[0]} |")
    return "\n".join(lines)
