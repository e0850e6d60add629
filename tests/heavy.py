"""A catalogue of bodies that cost CPU after the fetch, for the bounded-work tests and bench.

Each `Heavy` case is a page (its `select`/`ignore`/`type` settings) and two bodies: `old` is
served first (the baseline), `new` second (the change that the diff and the classifier see).
`build(size)` scales a case to about `size` bytes of `new` body. Before the work after the
fetch was bounded, each of these took time quadratic (or worse) in its size; see
`bench/bench_bounded.py` for the figures.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MB = 1_000_000


@dataclass(frozen=True)
class Body:
    data: bytes
    content_type: str = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Heavy:
    name: str
    old: Body
    new: Body
    page: dict[str, Any] = field(default_factory=dict)  # extra page settings: select, ignore, type


def _html(inner: str) -> Body:
    return Body(f"<!doctype html><html><body><main>{inner}</main></body></html>".encode())


def classifier_repeats(size: int) -> Heavy:
    """Rules that rescan from the start for every trigger: a trigger word repeated, then a place."""
    text = "processing resumed " * (size // 19) + "Hong Kong"
    return Heavy("classifier-repeats", _html("<p>Our policy on government requests.</p>"), _html(f"<p>{text}</p>"))


def abbreviation_stops(size: int) -> Heavy:
    """One line of "Inc. Xyz" stops that are no sentence ends: each rejected stop looked back
    for its word from the start of the sentence, the whole line so far."""
    text = "Acme Inc. Xyz " * (size // 14)
    return Heavy("abbreviation-stops", _html("<p>Our policy on government requests.</p>"), _html(f"<p>{text}</p>"))


def diff_alternate_lines(size: int) -> Heavy:
    """Every other line the same repeated line (a table of zeros): no line is unique, so
    patience anchors find nothing and the edit distance is as large as the text."""
    rows = size // 30

    def table(tag: str) -> Body:
        cells = "".join(f"<tr><td>0</td></tr><tr><td>{tag} row {i}</td></tr>" for i in range(rows))
        return _html(f"<table>{cells}</table>")

    return Heavy("diff-alternate-lines", table("old"), table("new"))


def pdf_shared_stream(size: int) -> Heavy:
    """Many pages that all draw one content stream: extraction costs pages x stream."""
    ops = max(2000, size // 32)
    pages = max(40, size // 8000)
    return Heavy("pdf-shared-stream", _pdf(1, 200), _pdf(pages, ops), {"type": "pdf"})


def select_deep_many(size: int) -> Heavy:
    """`select = ["main"]` with thousands of matches under 2,000 nested divs: walking each
    match's ancestors is matches x depth."""
    matches = max(1, (size - 12_000) // 28)
    inner = "<main>text</main><p>gap</p>" * matches

    def page(word: str) -> Body:
        return Body(f"<html><body>{'<div>' * 2000}<main>{word}</main>{inner}{'</div>' * 2000}"
                    "</body></html>".encode())

    return Heavy("select-deep-many", page("before"), page("after"), {"select": ["main"]})


def select_descendant_deep(size: int) -> Heavy:
    """The same page with `select = ["div main"]`: XPath takes the descendants of each of the
    2,000 divs and merges them (minutes, in C, where no checkpoint can stop it)."""
    case = select_deep_many(size)
    return Heavy("select-descendant-deep", case.old, case.new, {"select": ["div main"], "remove": ["div > p"]})


def ignore_backtracking(size: int) -> Heavy:
    """A user's ignore pattern with nested quantifiers on a line it does not match: a
    backtracking engine takes time exponential in the line's length."""
    line = "Last updated: " + "a" * max(24, size // 2) + "!"
    body = _html(f"<p>{line}</p><p>Government requests policy.</p>")
    return Heavy("ignore-backtracking", _html("<p>Government requests policy.</p>"), body,
                 {"ignore": [r"^Last updated: (\w+\s?)+$"]})


def combining_marks(size: int) -> Heavy:
    """One letter carrying a long run of combining marks of alternating classes: Unicode
    normalization reorders such a run with an insertion sort."""
    marks = "\u0301\u0316" * (size // 4)
    return Heavy("combining-marks", _html("<p>Policy.</p>"), _html(f"<p>a{marks} policy</p>"))


CASES: dict[str, Callable[[int], Heavy]] = {
    "classifier-repeats": classifier_repeats,
    "abbreviation-stops": abbreviation_stops,
    "diff-alternate-lines": diff_alternate_lines,
    "pdf-shared-stream": pdf_shared_stream,
    "select-deep-many": select_deep_many,
    "select-descendant-deep": select_descendant_deep,
    "ignore-backtracking": ignore_backtracking,
    "combining-marks": combining_marks,
}


def _pdf(pages: int, ops: int) -> Body:
    """A valid PDF of `pages` pages that all use one Flate content stream of `ops` text lines."""
    content = b"BT /F1 9 Tf 20 800 Td " + b"(processing data requests) Tj T* " * ops + b"ET"
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
        + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 3 0 R >> >> "
                b"/Contents 4 0 R >>"] * pages
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return Body(out.getvalue(), "application/pdf")
