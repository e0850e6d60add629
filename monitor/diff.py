"""The diff stage (pure): line-level diff with word-level detail inside changed lines.

Lines are the tokens (normalized text is one block per line); each distinct line is mapped
to one character, as diff-match-patch's linesToChars does, and diffed with Diff_Timeout = 0
so the result never degrades to a coarse "everything changed" under load. To stay fast on
megabyte documents with many edits, lines that occur exactly once on both sides are used as
anchors first (patience diff); diff-match-patch's Myers diff then runs on each gap between
anchors, which keeps every gap small. Semantic cleanup refines the word-level diff.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from diff_match_patch import diff_match_patch

EQUAL, DELETE, INSERT = 0, -1, 1
_WORD = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


def _dmp() -> diff_match_patch:
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 0  # exact: never trade correctness for time
    return dmp


_DMP = _dmp()


@dataclass(frozen=True)
class Op:
    tag: int  # EQUAL, DELETE or INSERT
    lines: tuple[str, ...]


class _Alphabet:
    """Maps tokens to single characters (skipping the surrogate range)."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.tokens: list[str] = []

    def encode(self, tokens: list[str]) -> str:
        out = []
        codes = self.codes
        for token in tokens:
            char = codes.get(token)
            if char is None:
                n = len(self.tokens) + 1
                char = chr(n + 0x800 if n >= 0xD800 - 0x800 else n)
                codes[token] = char
                self.tokens.append(token)
            out.append(char)
        return "".join(out)

    def decode(self, chars: str) -> list[str]:
        tokens = self.tokens
        return [tokens[(o - 0x800 if o >= 0xD800 else o) - 1] for o in map(ord, chars)]


def _lis(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest increasing subsequence by second item (pairs come sorted by first)."""
    tails: list[int] = []
    tail_index: list[int] = []
    back: list[int] = [-1] * len(pairs)
    for i, (_, b) in enumerate(pairs):
        k = bisect.bisect_left(tails, b)
        if k == len(tails):
            tails.append(b)
            tail_index.append(i)
        else:
            tails[k] = b
            tail_index[k] = i
        back[i] = tail_index[k - 1] if k else -1
    out = []
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        out.append(pairs[i])
        i = back[i]
    return out[::-1]


def _anchors(a: str, b: str) -> list[tuple[int, int]]:
    """Positions of characters unique in both strings, in an order increasing on both sides."""
    count_a, count_b = Counter(a), Counter(b)
    pos_a = {ch: i for i, ch in enumerate(a)}
    pos_b = {ch: j for j, ch in enumerate(b)}
    pairs = sorted((pos_a[ch], pos_b[ch]) for ch, n in count_a.items() if n == 1 and count_b.get(ch) == 1)
    return _lis(pairs)


def diff_chars(a: str, b: str, *, semantic: bool = False) -> list[tuple[int, str]]:
    """Exact diff of two token strings: patience anchors, Myers in between.

    `semantic` runs diff-match-patch's semantic cleanup, which folds short equalities into
    the edits around them: right for words inside a line, wrong for whole lines, where it
    would report unchanged lines as removed and added again.
    """
    if a == b:
        return [(EQUAL, a)] if a else []
    size = _DMP.diff_commonPrefix(a, b)
    diffs: list[tuple[int, str]] = [(EQUAL, a[:size])] if size else []
    a, b = a[size:], b[size:]
    size = _DMP.diff_commonSuffix(a, b)
    tail = a[len(a) - size:] if size else ""
    if size:
        a, b = a[:-size], b[:-size]
    run: list[str] = []
    i = j = 0
    for ai, bj in [*_anchors(a, b), (len(a), len(b))]:
        if ai > i or bj > j:
            if run:
                diffs.append((EQUAL, "".join(run)))
                run = []
            diffs.extend(_DMP.diff_main(a[i:ai], b[j:bj], False))
        if ai < len(a):
            run.append(a[ai])
        i, j = ai + 1, bj + 1
    if run:
        diffs.append((EQUAL, "".join(run)))
    if tail:
        diffs.append((EQUAL, tail))
    _DMP.diff_cleanupMerge(diffs)
    if semantic:
        _DMP.diff_cleanupSemantic(diffs)
    return diffs


def split_lines(text: str) -> list[str]:
    return text.split("\n") if text else []


def diff_lines(old: str, new: str) -> list[Op]:
    """Line-level edit script turning `old` into `new`."""
    alphabet = _Alphabet()
    a = alphabet.encode(split_lines(old))
    b = alphabet.encode(split_lines(new))
    return [Op(tag, tuple(alphabet.decode(chars))) for tag, chars in diff_chars(a, b) if chars]


def word_diff(old: str, new: str) -> list[tuple[int, str]]:
    """Word-level diff of two lines (words, spaces and punctuation are the tokens)."""
    alphabet = _Alphabet()
    a = alphabet.encode(_WORD.findall(old))
    b = alphabet.encode(_WORD.findall(new))
    return [(tag, "".join(alphabet.decode(chars))) for tag, chars in diff_chars(a, b, semantic=True) if chars]


@dataclass(frozen=True)
class Stats:
    added: int
    removed: int
    first_line: str


def stats(ops: list[Op]) -> Stats:
    added = sum(len(op.lines) for op in ops if op.tag == INSERT)
    removed = sum(len(op.lines) for op in ops if op.tag == DELETE)
    first = next((op for op in ops if op.tag != EQUAL), None)
    first_line = ("+ " if first.tag == INSERT else "- ") + first.lines[0] if first else ""
    return Stats(added, removed, first_line)


def added_lines(ops: list[Op]) -> list[str]:
    return [line for op in ops if op.tag == INSERT for line in op.lines]


@dataclass(frozen=True)
class Row:
    """One row of a side-by-side view: 'equal', 'changed', 'removed', 'added' or 'skip'."""

    kind: str
    old: str | None
    new: str | None
    old_no: int | None = None
    new_no: int | None = None

    def words(self) -> list[tuple[int, str]]:
        if self.kind == "changed" and self.old is not None and self.new is not None:
            return word_diff(self.old, self.new)
        return []


def rows(ops: list[Op], context: int = 3) -> Iterator[Row]:
    """Side-by-side rows; deleted lines are paired with inserted ones for word-level detail;
    runs of unchanged lines longer than 2*context are elided as a single 'skip' row."""
    old_no = new_no = 1
    index = 0
    while index < len(ops):
        op = ops[index]
        if op.tag == EQUAL:
            lines = op.lines
            first, last = index == 0, index == len(ops) - 1
            head = 0 if first else context
            tail = 0 if last else context
            if len(lines) > head + tail:
                for k in range(head):
                    yield Row("equal", lines[k], lines[k], old_no + k, new_no + k)
                yield Row("skip", None, None, old_no + head, new_no + head)
                for k in range(len(lines) - tail, len(lines)):
                    yield Row("equal", lines[k], lines[k], old_no + k, new_no + k)
            else:
                for k, line in enumerate(lines):
                    yield Row("equal", line, line, old_no + k, new_no + k)
            old_no += len(lines)
            new_no += len(lines)
            index += 1
            continue
        deleted: tuple[str, ...] = ()
        inserted: tuple[str, ...] = ()
        while index < len(ops) and ops[index].tag != EQUAL:
            if ops[index].tag == DELETE:
                deleted += ops[index].lines
            else:
                inserted += ops[index].lines
            index += 1
        for k in range(max(len(deleted), len(inserted))):
            old = deleted[k] if k < len(deleted) else None
            new = inserted[k] if k < len(inserted) else None
            kind = "changed" if old is not None and new is not None else ("removed" if new is None else "added")
            yield Row(kind, old, new, old_no + k if old is not None else None, new_no + k if new is not None else None)
        old_no += len(deleted)
        new_no += len(inserted)


_RED, _GREEN, _CYAN, _BOLD, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[1m", "\x1b[0m"
_REV_RED, _REV_GREEN = "\x1b[1;41m", "\x1b[1;42m"


def unified(ops: list[Op], *, color: bool = False, context: int = 3, labels: tuple[str, str] = ("old", "new")) -> str:
    """A unified view; on a terminal, changed words are highlighted inside changed lines."""

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    out = [paint(_BOLD, f"--- {labels[0]}"), paint(_BOLD, f"+++ {labels[1]}")]
    pending_adds: list[str] = []
    for row in rows(ops, context):
        if row.kind != "changed" and pending_adds:
            out.extend(pending_adds)
            pending_adds = []
        if row.kind == "skip":
            out.append(paint(_CYAN, f"@@ -{row.old_no} +{row.new_no} @@"))
        elif row.kind == "equal":
            out.append(f"  {row.old}")
        elif row.kind == "removed":
            out.append(paint(_RED, f"- {row.old}"))
        elif row.kind == "added":
            out.append(paint(_GREEN, f"+ {row.new}"))
        else:
            if color:
                words = row.words()
                old = "".join(paint(_REV_RED, t) + _RED if tag == DELETE else t
                              for tag, t in words if tag != INSERT)
                new = "".join(paint(_REV_GREEN, t) + _GREEN if tag == INSERT else t
                              for tag, t in words if tag != DELETE)
                out.append(f"{_RED}- {old}{_RESET}")
                pending_adds.append(f"{_GREEN}+ {new}{_RESET}")
            else:
                out.append(f"- {row.old}")
                pending_adds.append(f"+ {row.new}")
    out.extend(pending_adds)
    return "\n".join(out)


def short_diff(ops: list[Op], max_lines: int = 12, width: int = 300) -> str:
    """A few changed lines for an alert message."""
    lines: list[str] = []
    for op in ops:
        if op.tag == EQUAL:
            continue
        sign = "+" if op.tag == INSERT else "-"
        for line in op.lines:
            if len(lines) == max_lines:
                lines.append("…")
                return "\n".join(lines)
            lines.append(f"{sign} {line[:width]}{'…' if len(line) > width else ''}")
    return "\n".join(lines)
