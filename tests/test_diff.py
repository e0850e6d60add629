"""Diff: a correct edit script always, exact counts, word-level detail, real documents."""

from __future__ import annotations

import random

import pytest

from monitor.diff import DELETE, EQUAL, INSERT, Op, diff_lines, rows, short_diff, stats, unified, word_diff
from monitor.extract import extract
from tests.docs import corpus_available, ota_text


def _sides(ops: list[Op]) -> tuple[str, str]:
    old = "\n".join(line for op in ops if op.tag != INSERT for line in op.lines)
    new = "\n".join(line for op in ops if op.tag != DELETE for line in op.lines)
    return old, new


def test_simple_edit() -> None:
    ops = diff_lines("a\nb\nc", "a\nB\nc\nd")
    assert ops == [Op(EQUAL, ("a",)), Op(DELETE, ("b",)), Op(INSERT, ("B",)), Op(EQUAL, ("c",)), Op(INSERT, ("d",))]
    s = stats(ops)
    assert (s.added, s.removed, s.first_line) == (2, 1, "- b")


def test_empty_sides() -> None:
    assert diff_lines("", "") == []
    assert diff_lines("", "x\ny") == [Op(INSERT, ("x", "y"))]
    assert diff_lines("x", "") == [Op(DELETE, ("x",))]


@pytest.mark.parametrize("seed", range(25))
def test_random_edits_reconstruct_both_sides(seed: int) -> None:
    rng = random.Random(seed)
    vocab = [f"line {i}" for i in range(12)] + ["repeated"] * 5
    old = [rng.choice(vocab) for _ in range(rng.randint(0, 60))]
    new = list(old)
    for _ in range(rng.randint(0, 15)):
        op = rng.random()
        pos = rng.randint(0, len(new))
        if op < 0.4:
            new.insert(pos, rng.choice([*vocab, "fresh"]))
        elif op < 0.8 and new:
            new.pop(min(pos, len(new) - 1))
        elif new:
            new[min(pos, len(new) - 1)] = "changed"
    ops = diff_lines("\n".join(old), "\n".join(new))
    assert _sides(ops) == ("\n".join(old), "\n".join(new))


def test_counts_are_exact_on_a_large_document() -> None:
    rng = random.Random(7)
    lines = [f"Sentence {i} about requests {rng.random():.6f}." for i in range(20000)]
    changed = sorted(rng.sample(range(len(lines)), 2000))
    new = list(lines)
    for i in changed:
        new[i] += " (amended)"
    ops = diff_lines("\n".join(lines), "\n".join(new))
    s = stats(ops)
    assert (s.added, s.removed) == (2000, 2000)
    assert _sides(ops) == ("\n".join(lines), "\n".join(new))


def test_word_diff_inside_line() -> None:
    words = word_diff("We review requests from Hong Kong.", "We have paused requests from Hong Kong SAR.")
    assert (DELETE, "review") in words and (INSERT, "have paused") in words and (INSERT, " SAR") in words
    assert "".join(t for tag, t in words if tag != INSERT) == "We review requests from Hong Kong."


def test_rows_pair_changed_lines_and_elide_context() -> None:
    old = "\n".join(f"l{i}" for i in range(20))
    new = old.replace("l10", "l10 edited")
    kinds = [row.kind for row in rows(diff_lines(old, new), context=2)]
    assert kinds == ["skip", "equal", "equal", "changed", "equal", "equal", "skip"]


def test_unified_plain_and_colour() -> None:
    ops = diff_lines("keep\nold words here", "keep\nnew words here")
    plain = unified(ops, labels=("a", "b"))
    assert plain.splitlines() == ["--- a", "+++ b", "  keep", "- old words here", "+ new words here"]
    coloured = unified(ops, color=True)
    assert "\x1b[" in coloured and "new" in coloured
    assert short_diff(ops) == "- old words here\n+ new words here"


@pytest.mark.skipif(not corpus_available(), reason="tests/data/ota not found")
def test_real_telegram_changes() -> None:
    versions = [extract(ota_text(f"telegram__privacy-policy/{d}.md").encode(), content_type="text/plain")
                for d in ("2024-07-15", "2024-09-23", "2024-09-27")]
    rewrite = diff_lines(versions[0], versions[1])
    added = "\n".join(line for op in rewrite if op.tag == INSERT for line in op.lines)
    removed = "\n".join(line for op in rewrite if op.tag == DELETE for line in op.lines)
    assert "terror suspect" in removed
    assert "judicial authorities" in added
    typo = diff_lines(versions[1], versions[2])
    s = stats(typo)
    assert (s.added, s.removed) == (1, 1)
    changed = [row for row in rows(typo) if row.kind == "changed"]
    assert len(changed) == 1
    words = changed[0].words()
    assert (DELETE, "Buisness") in words and (INSERT, "Business") in words
