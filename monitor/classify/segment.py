"""Sentence segmentation for normalized text.

Normalized text has one block per line (heading, paragraph, list item, table row), so a line is
never merged with the next: a list item without a full stop is still its own sentence. Inside a
line we split after . ! ? (plus any closing quotes or brackets) when the next word starts a
sentence, except after abbreviations: titles and reference words ("No.", "e.g.", "Mr.") never end
a sentence here; initialisms and company suffixes ("U.S.", "S.A.R.", "Inc.", "Ltd.") end one only
when the next word is a typical sentence opener ("... the U.S. We have paused ...").
"""

from __future__ import annotations

import re

# Never sentence-final in the texts we read (lowercased, without the dot).
_HARD_ABBREV = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "gov", "sen", "rep", "hon", "rev", "capt",
    "e.g", "i.e", "eg", "ie", "vs", "v", "cf", "no", "nos", "art", "arts", "sec", "secs", "para", "paras",
    "fig", "p", "pp", "approx", "ca", "ch", "vol", "ed", "eds", "dept", "est", "op", "cit", "ibid", "al",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "ref", "incl",
})
# May end a sentence; only split when the next word is a common sentence opener.
_SOFT_ABBREV = frozenset({"inc", "ltd", "co", "corp", "llc", "plc", "bv", "gmbh", "ag", "sa", "etc", "jsc"})
_OPENERS = frozenset({
    "We", "Our", "The", "This", "These", "That", "Those", "It", "Its", "In", "On", "At", "As", "For", "From",
    "If", "However", "They", "Their", "A", "An", "All", "Any", "Since", "Following", "After", "Before",
    "When", "While", "You", "Your", "He",
    "She", "There", "Requests", "Data", "Effective", "To", "Starting", "Until", "Beginning", "Today",
})

_BULLET = re.compile(r"^\s*(?:[-*•·▪◦‣–—]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")
_WS = re.compile(r"\s+")
# Candidate boundary: terminal punctuation, closing quotes/brackets, whitespace, then the next char.
_TERMINAL = re.compile(r"[.!?…]")  # the first group of _CANDIDATE
_CANDIDATE = re.compile(r"([.!?…]+)([\"'”’»)\]]*)\s+(?=([\"'“‘«(\[]?)(\S))")
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]?$")  # U.S  S.A.R  e.g (dot stripped at end)
_NEXT_WORD = re.compile(r"[\"'“‘«(\[]?([\w'’-]+)")


def _split_line(line: str) -> list[str]:
    # A boundary needs terminal punctuation with a word after it: a line with none before its
    # last character (a list item, a one-sentence paragraph) is one sentence as it is.
    if not _TERMINAL.search(line, 0, len(line) - 1):
        tail = line.strip()
        return [tail] if tail else []
    out: list[str] = []
    start = 0
    for m in _CANDIDATE.finditer(line):
        punct, closers = m.group(1), m.group(2)
        nxt = m.group(4)
        if not (nxt.isupper() or nxt.isdigit()):
            continue
        if punct == "." and not closers:
            # The word before the stop: back to the last space (lines reach here with single spaces
            # as their only whitespace). A scan forward from `start` cost the whole line so far for
            # every rejected candidate, quadratic on "Acme Inc. Xyz Inc. Xyz ...".
            cut = line.rfind(" ", start, m.start())
            word = line[cut + 1 if cut >= 0 else start:m.start()].lstrip("(\"'“‘[")
            key = word.lower()
            next_word_m = _NEXT_WORD.match(line, m.end())
            next_word = next_word_m.group(1) if next_word_m else ""
            if key in _HARD_ABBREV:
                continue
            if nxt.isdigit() and (key in _SOFT_ABBREV or _INITIALISM.match(word)):
                continue
            if (key in _SOFT_ABBREV or _INITIALISM.match(word)) and next_word not in _OPENERS:
                continue
            if len(word) == 1 and word.isupper() and next_word not in _OPENERS:
                continue  # a middle initial: "John F. Kennedy"
        piece = line[start:m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = line[start:].strip()
    if tail:
        out.append(tail)
    return out


def split_sentences(text: str) -> list[str]:
    """Split normalized text into sentences: lines first (never merged), then sentences in a line."""
    sentences: list[str] = []
    for raw in text.splitlines():
        bullet = _BULLET.match(raw)  # anchored: a match at the start or none (as sub(count=1) would find)
        line = raw[bullet.end():] if bullet else raw
        # _WS (str.isspace's whitespace) changes nothing in a line whose only whitespace is lone
        # spaces: every other whitespace character is unprintable. Most lines are such, and
        # these two scans cost a fraction of substituting every space by itself.
        if "  " in line or not line.isprintable():
            line = _WS.sub(" ", line)
        line = line.strip()
        if line:
            sentences.extend(_split_line(line))
    return sentences
