"""The diff stage (pure): line-level diff with word-level detail inside changed lines.

Lines are the tokens (normalized text is one block per line); each distinct line is mapped
to one character, as diff-match-patch's linesToChars does, and diffed with Diff_Timeout = 0
so the result never depends on the machine's load. To stay fast on megabyte documents with
many edits, lines that occur exactly once on both sides are used as anchors first (patience
diff); diff-match-patch's Myers diff then runs on each gap between anchors, which keeps every
gap small. Semantic cleanup refines the word-level diff.

Myers costs time quadratic in the number of edits, and some texts leave gaps as large as the
document (no line unique, every other line changed). So the exact diff has a work allowance,
counted in steps (not seconds: the same texts always give the same diff, in the check, the
alert and the report alike). A gap whose worst case would overdraw it keeps a coarser diff,
still a correct edit script: lines matched in order of occurrence (a longest increasing run of
them), recursively inside the gaps that leaves. Word-level detail is skipped for lines longer
than `WORD_DIFF_MAX_TOKENS` words.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from diff_match_patch import diff_match_patch

from monitor.terminal import printable

EQUAL, DELETE, INSERT = 0, -1, 1
_WORD = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)
# Exact (Myers) work for one diff, in steps of its worst case D * (D + n + m) for a gap of
# sizes n, m whose edit distance is at most D: about half a second of CPU here.
EXACT_WORK = 5_000_000
_SMALL_GAP = 64  # gaps this small (n + m) are always diffed exactly: their cost is linear overall
_COARSE_DEPTH = 6  # rounds of in-order matching inside the gaps of the previous round
WORD_DIFF_MAX_TOKENS = 2_000


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


def _in_order(a: str, b: str) -> list[tuple[int, int]]:
    """The k-th occurrence of each character in `a` paired with its k-th occurrence in `b`,
    thinned to pairs increasing on both sides: linearithmic, whatever the repetition."""
    positions: dict[str, list[int]] = {}
    for j, ch in enumerate(b):
        positions.setdefault(ch, []).append(j)
    seen: Counter[str] = Counter()
    pairs = []
    for i, ch in enumerate(a):
        where = positions.get(ch)
        if where is not None and seen[ch] < len(where):
            pairs.append((i, where[seen[ch]]))
            seen[ch] += 1
    return _lis(pairs)


class _Allowance:
    """What is left of one diff's exact work."""

    def __init__(self, steps: int):
        self.left = steps


def _trim(a: str, b: str) -> tuple[str, str, str, str]:
    """(common prefix, a, b, common suffix)."""
    size = _DMP.diff_commonPrefix(a, b)
    head, a, b = a[:size], a[size:], b[size:]
    size = _DMP.diff_commonSuffix(a, b)
    if not size:
        return head, a, b, ""
    return head, a[:-size], b[:-size], a[len(a) - size:]


def _around(head: str, body: list[tuple[int, str]], tail: str) -> list[tuple[int, str]]:
    return ([(EQUAL, head)] if head else []) + body + ([(EQUAL, tail)] if tail else [])


def _matched(a: str, b: str, anchors: list[tuple[int, int]], gap: Any) -> list[tuple[int, str]]:
    """Diffs: runs of anchored characters as equalities, `gap(a_part, b_part)` between them."""
    diffs: list[tuple[int, str]] = []
    run: list[str] = []
    i = j = 0
    for ai, bj in [*anchors, (len(a), len(b))]:
        if ai > i or bj > j:
            if run:
                diffs.append((EQUAL, "".join(run)))
                run = []
            diffs.extend(gap(a[i:ai], b[j:bj]))
        if ai < len(a):
            run.append(a[ai])
        i, j = ai + 1, bj + 1
    if run:
        diffs.append((EQUAL, "".join(run)))
    return diffs


def _replace(a: str, b: str) -> list[tuple[int, str]]:
    return [(tag, text) for tag, text in ((DELETE, a), (INSERT, b)) if text]


def _exact(a: str, b: str) -> list[tuple[int, str]]:
    # Sides with nothing in common are one replacement: no need to ask Myers (many small gaps).
    return _replace(a, b) if set(a).isdisjoint(b) else _DMP.diff_main(a, b, False)


def _coarse(a: str, b: str, depth: int = 0) -> list[tuple[int, str]]:
    """A correct, not always minimal, diff in about linearithmic time."""
    head, a, b, tail = _trim(a, b)
    if not a or not b:
        body = _replace(a, b)
    elif len(a) + len(b) <= _SMALL_GAP:
        body = _exact(a, b)
    else:
        anchors = _in_order(a, b) if depth < _COARSE_DEPTH else []
        body = _matched(a, b, anchors, lambda x, y: _coarse(x, y, depth + 1)) if anchors else _replace(a, b)
    return _around(head, body, tail)


def _gap(a: str, b: str, allowance: _Allowance) -> list[tuple[int, str]]:
    """The exact diff of a gap between anchors if the allowance covers its worst case, else the coarse one."""
    if len(a) + len(b) <= _SMALL_GAP or not a or not b:
        return _exact(a, b)
    coarse = _coarse(a, b)
    edits = sum(len(text) for tag, text in coarse if tag != EQUAL)  # >= the minimal edit distance
    cost = edits * (edits + len(a) + len(b))
    if cost > allowance.left:
        return coarse
    allowance.left -= cost
    return _exact(a, b)


def _merge(diffs: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Adjacent pieces of one kind joined; within a change, what was deleted before what was
    inserted (diff-match-patch's cleanupMerge does this too, in quadratic time on many edits)."""
    out: list[tuple[int, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []
    equal: list[str] = []

    def flush_change() -> None:
        if deleted:
            out.append((DELETE, "".join(deleted)))
            deleted.clear()
        if inserted:
            out.append((INSERT, "".join(inserted)))
            inserted.clear()

    for tag, text in diffs:
        if not text:
            continue
        if tag == EQUAL:
            flush_change()
            equal.append(text)
            continue
        if equal:
            out.append((EQUAL, "".join(equal)))
            equal.clear()
        (deleted if tag == DELETE else inserted).append(text)
    flush_change()
    if equal:
        out.append((EQUAL, "".join(equal)))
    return out


def diff_chars(a: str, b: str, *, semantic: bool = False, work: int = EXACT_WORK) -> list[tuple[int, str]]:
    """Diff of two token strings: patience anchors, then Myers in each gap while the `work`
    allowance lasts, the coarse in-order diff past it.

    `semantic` runs diff-match-patch's semantic cleanup, which folds short equalities into
    the edits around them: right for words inside a line, wrong for whole lines, where it
    would report unchanged lines as removed and added again.
    """
    if a == b:
        return [(EQUAL, a)] if a else []
    head, a, b, tail = _trim(a, b)
    allowance = _Allowance(work)
    diffs = _merge(_around(head, _matched(a, b, _anchors(a, b), lambda x, y: _gap(x, y, allowance)), tail))
    if semantic:
        _DMP.diff_cleanupSemantic(diffs)
    return diffs


def split_lines(text: str) -> list[str]:
    return text.split("\n") if text else []


class _Recent:
    """The last few line diffs: one change is diffed for the check, each of its alert messages
    and its report page, usually in one process, and the same texts give the same diff."""

    def __init__(self, size: int = 2):
        self.size = size
        self.items: list[tuple[str, str, list[Op]]] = []
        self.lock = threading.Lock()

    def get(self, old: str, new: str) -> list[Op] | None:
        with self.lock:
            for item_old, item_new, ops in self.items:
                if item_old == old and item_new == new:  # identical objects compare at once
                    return list(ops)
        return None

    def put(self, old: str, new: str, ops: list[Op]) -> None:
        with self.lock:
            self.items = [(old, new, list(ops)), *self.items[: self.size - 1]]


_RECENT = _Recent()


def diff_lines(old: str, new: str) -> list[Op]:
    """Line-level edit script turning `old` into `new`."""
    ops = _RECENT.get(old, new)
    if ops is None:
        alphabet = _Alphabet()
        a = alphabet.encode(split_lines(old))
        b = alphabet.encode(split_lines(new))
        ops = [Op(tag, tuple(alphabet.decode(chars))) for tag, chars in diff_chars(a, b) if chars]
        _RECENT.put(old, new, ops)
    return ops


def word_diff(old: str, new: str) -> list[tuple[int, str]]:
    """Word-level diff of two lines (words, spaces and punctuation are the tokens); lines of
    more than WORD_DIFF_MAX_TOKENS tokens are shown as replaced whole."""
    old_words, new_words = _WORD.findall(old), _WORD.findall(new)
    if max(len(old_words), len(new_words)) > WORD_DIFF_MAX_TOKENS:
        return _replace(old, new)
    alphabet = _Alphabet()
    a = alphabet.encode(old_words)
    b = alphabet.encode(new_words)
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
    """A unified view; on a terminal, changed words are highlighted inside changed lines.
    Page text is made printable (control characters shown as \\xNN, never sent raw)."""

    def paint(code: str, text: str) -> str:
        return f"{code}{printable(text)}{_RESET}" if color else printable(text)

    out = [paint(_BOLD, f"--- {labels[0]}"), paint(_BOLD, f"+++ {labels[1]}")]
    pending_adds: list[str] = []
    for row in rows(ops, context):
        if row.kind != "changed" and pending_adds:
            out.extend(pending_adds)
            pending_adds = []
        if row.kind == "skip":
            out.append(paint(_CYAN, f"@@ -{row.old_no} +{row.new_no} @@"))
        elif row.kind == "equal":
            out.append(printable(f"  {row.old}"))
        elif row.kind == "removed":
            out.append(paint(_RED, f"- {row.old}"))
        elif row.kind == "added":
            out.append(paint(_GREEN, f"+ {row.new}"))
        else:
            if color:
                words = row.words()
                old = "".join(paint(_REV_RED, t) + _RED if tag == DELETE else printable(t)
                              for tag, t in words if tag != INSERT)
                new = "".join(paint(_REV_GREEN, t) + _GREEN if tag == INSERT else printable(t)
                              for tag, t in words if tag != DELETE)
                out.append(f"{_RED}- {old}{_RESET}")
                pending_adds.append(f"{_GREEN}+ {new}{_RESET}")
            else:
                out.append(printable(f"- {row.old}"))
                pending_adds.append(printable(f"+ {row.new}"))
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
