"""One sentence, tokenized and tagged, with the structure the rules share.

Everything here is one left-to-right pass or a bounded look around a token, so the cost of a
sentence is linear in its length: tokens (regex), multi-word expressions (bounded lookahead),
clause breaks (one pass), jurisdiction mentions (one regex pass, mapped to tokens by position).
A sentence longer than MAX_TOKENS is analysed in windows of that size: no real sentence is that
long, and a page that is one endless "sentence" must not cost more than its length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import lexicon as L
from .jurisdictions import Mention, mentions

MAX_TOKENS = 120

# Words keep an inner apostrophe here ("don't", "company's"); _split_clitic separates it after.
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|[^\W_]+(?:'[^\W_]+)?|[^\w\s]")
_CLITICS = ("'s", "'ll", "'ve", "'re", "'m", "'d")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
                         "\u00a0": " ", "\u2009": " ", "\u202f": " ", "‐": "-", "‑": "-"})
_FANCY = re.compile("[’‘“”„«»\u00a0\u2009\u202f‐‑]")
_WS = re.compile(r"\s+")
_OPENING_QUOTE = re.compile(r"(?<![\w'])'(?=\w)")
_HARD_BREAK = frozenset(";:?!()[]{}—–")
_MWE_STARTS = L.mwe_sizes()
_MWE_SECOND = L.mwe_second_words()
# After a place name, these make it the nationality of a company, not a target ("US firm Zoom").
_NATIONALITY_HEADS = frozenset({
    "conferencing", "messaging", "video", "tech", "technology", "internet", "software", "social", "search",
    "telecom", "telecommunications", "e-commerce", "ecommerce", "program", "programme", "app", "apps",
    "messenger", "giant", "giants", "company", "companies", "firm", "firms", "platform", "platforms", "network",
    "provider", "startup", "bank", "carrier", "maker", "makers", "multinational", "chipmaker", "online",
    "cloud", "email", "vpn", "encrypted", "operator", "operators", "developer", "media", "newspaper",
    "outlet", "start-up", "conglomerate", "corporation", "corporations", "stores", "store", "version",
    "subsidiary", "subsidiaries", "office", "offices", "staff", "employees", "market", "markets", "users'",
})
_BASED = frozenset({"based", "headquartered", "owned", "backed", "born", "made", "listed", "registered", "run",
                    "controlled", "affiliated", "sponsored", "linked"})


class Tok:
    __slots__ = ("end", "form", "glued", "lemma", "low", "start", "tags", "text")

    def __init__(self, text: str, start: int, end: int, glued: bool = False, low: str | None = None) -> None:
        self.text = text
        self.low = low if low is not None else text.lower()
        self.start = start
        self.end = end
        self.glued = glued  # joined to the previous token by a hyphen ("data-sharing")
        entry = _LOOKUP(self.low)
        if entry is not None:
            self.tags, self.lemma, self.form = entry.tags, entry.lemma, entry.form
        else:
            self.lemma, self.form, self.tags = self.low, 0, 0
            if self.low[:1].isdigit():
                self.tags = L.NUMBER
            elif len(self.low) > 4 and self.low.endswith("ly"):
                self.tags = L.ADV  # an adverb we do not list may still sit inside a verb group

    def __repr__(self) -> str:  # for debugging rules
        return f"Tok({self.text!r})"


_LOOKUP = L.lookup


def normalize(sentence: str) -> str:
    """The form rules run on: straight quotes and apostrophes, no double quotes, single spaces."""
    if _FANCY.search(sentence):
        sentence = sentence.translate(_QUOTES)
    sentence = _OPENING_QUOTE.sub(" ", sentence.replace('"', " "))  # 'pause' -> pause; "users'" stays
    return _WS.sub(" ", sentence).strip()


def tokenize(s: str) -> list[Tok]:
    raw: list[Tok] = []
    glue = False
    low_s = s.lower()
    same = len(low_s) == len(s)  # a few characters lowercase to two: then lowercase each token
    for m in _TOKEN.finditer(s):
        text = m.group(0)
        start, end = m.start(), m.end()
        if text == "-" and raw and raw[-1].end == start and end < len(s) and not s[end].isspace():
            glue = True  # an inner hyphen joins two words; the words stay, the hyphen goes
            continue
        if "'" in text:
            cut = _clitic_at(text)
            if cut > 0:
                raw.append(Tok(text[:cut], start, start + cut, glue))
                raw.append(Tok(text[cut:], start + cut, end))
                glue = False
                continue
        raw.append(Tok(text, start, end, glue, low_s[start:end] if same else None))
        glue = False
    return _join_mwes(raw)


def _clitic_at(word: str) -> int:
    """Where a contraction splits: "don't" -> "do" + "n't", "we'll" -> "we" + "'ll" (0: no split)."""
    low = word.lower()
    if low.endswith("n't") and len(low) > 3:
        return len(word) - 3
    for clitic in _CLITICS:
        if low.endswith(clitic):
            return len(word) - len(clitic)
    return 0


def _join_mwes(toks: list[Tok]) -> list[Tok]:
    """Multi-word expressions become one token, longest first (a bounded look ahead per token)."""
    out: list[Tok] = []
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i]
        sizes = _MWE_STARTS.get(tok.low)
        if sizes and i + 1 < n and toks[i + 1].low in _MWE_SECOND:
            for size in sizes:
                if i + size > n:
                    continue
                entry = L.lookup_mwe(tuple(t.low for t in toks[i:i + size]))
                if entry is not None:
                    low = " ".join(t.low for t in toks[i:i + size])
                    joined = Tok(" ".join(t.text for t in toks[i:i + size]), tok.start, toks[i + size - 1].end,
                                 tok.glued, low)
                    joined.tags, joined.lemma, joined.form = entry.tags, entry.lemma, entry.form
                    out.append(joined)
                    i += size
                    break
            else:
                out.append(tok)
                i += 1
            continue
        out.append(tok)
        i += 1
    return out


@dataclass(frozen=True)
class Place:
    first: int  # token index
    last: int
    code: str
    excluded: bool  # a company's nationality, a law's country, a treaty partner: not a target
    in_law: bool


class Sentence:
    """Tokens with tags, clause breaks and jurisdiction mentions (token positions)."""

    def __init__(self, text: str, toks: list[Tok], found: list[Mention]) -> None:
        self.text = text
        self.toks = toks
        self.n = len(toks)
        self.tags = [t.tags for t in toks]
        self.low = [t.low for t in toks]
        self.breaks = self._breaks()
        self.clause_breaks = [b or t.low == "," for b, t in zip(self.breaks, toks, strict=True)]
        self.places = self._places(found)
        for j in range(1, self.n):  # "non-law enforcement officials" are not authorities
            if self.tags[j] & L.AUTH_N and toks[j - 1].low in ("non", "not") and toks[j].glued:
                self.tags[j] &= ~L.AUTH_N
        for p in self.places:  # "US" is the country here, not the pronoun
            for j in range(p.first, p.last + 1):
                self.tags[j] &= ~(L.PRON | L.ANAPHOR | L.DET | L.ADV | L.NEG | L.MODAL | L.AUX)

    # -- structure ---------------------------------------------------------------------------

    def _breaks(self) -> list[bool]:
        """breaks[i]: an object that runs rightwards stops before token i."""
        toks, tags, n = self.toks, self.tags, self.n
        out = [False] * n
        for i, tok in enumerate(toks):
            low, t = tok.low, tags[i]
            nxt = tags[i + 1] if i + 1 < n else 0
            prev = tags[i - 1] if i else 0
            if low in _HARD_BREAK or (low == "-" and not tok.glued) or low == ".":
                out[i] = True
            elif low == ",":
                out[i] = bool(nxt & (L.SUBORD | L.REL | L.REPORT | L.PRON)) or (
                    i + 2 < n and nxt & L.DET and tags[i + 2] & L.COMPANY_N) or (
                    i + 1 < n and toks[i + 1].low in ("and", "but") and i + 2 < n and tags[i + 2] & (
                        L.PRON | L.AUX | L.NEG | L.REPORT | L.ADV))
            elif low == "pending" and not nxt & (L.REQ_N | L.DATA_N | L.HANDLE_N | L.CHANNEL_N):
                out[i] = True  # "paused pending further assessment" (but "freezing pending requests")
            elif t & L.SUBORD and not t & L.DET:
                if low == "as" and i + 1 < n and toks[i + 1].low in ("well", "part", "of", "such", "a", "an"):
                    continue
                if low == "as" and i and toks[i - 1].low in ("such", "well", "same"):
                    continue
                out[i] = not (prev & L.AUX)  # "has since stopped": an adverb inside the verb group
            elif t & L.REL:
                out[i] = True
            elif low == "that":
                out[i] = not nxt & (L.REQ_N | L.DATA_N | L.CHANNEL_N | L.HANDLE_N)  # "that request": a determiner
            elif t & L.REPORT and not t & L.DET:
                out[i] = True
            elif t & L.CONJ:
                after = tags[i + 1] if i + 1 < n else 0
                then = tags[i + 2] if i + 2 < n else 0
                out[i] = bool(
                    after & (L.PRON | L.AUX | L.NEG | L.NO_LONGER | L.REPORT) or low == "but"
                    or (after & L.ADV and then & (L.AUX | L.NEG | L.NO_LONGER | L.VERB))
                    # "and the company said", "and the firm will"
                    or (after & L.DET and then & L.COMPANY_N and i + 3 < n and tags[i + 3] & (L.AUX | L.REPORT
                                                                                               | L.VERB)))
            elif low == "to" and nxt & L.PURPOSE and not prev & (L.REQ_N | L.CHANNEL_N | L.PASSTHRU):
                out[i] = True
        return out

    def _places(self, found: list[Mention]) -> list[Place]:
        if not found:
            return []
        starts = [t.start for t in self.toks]
        places: list[Place] = []
        j = 0
        for m in found:
            while j < self.n and self.toks[j].end <= m.start:
                j += 1
            if j >= self.n:
                break
            first = j
            last = first
            while last + 1 < self.n and starts[last + 1] < m.end:
                last += 1
            excluded, in_law = self._place_role(first, last)
            places.append(Place(first, last, m.code, excluded, in_law))
        return places

    def _place_role(self, first: int, last: int) -> tuple[bool, bool]:
        toks, n = self.toks, self.n
        k = last + 1
        if k < n and toks[k].low in ("'s", "'"):
            k += 1
        if k < n and toks[k].low in _BASED and toks[k].glued:
            return True, False
        in_law = False
        for j in range(k, min(n, k + 4)):
            if self.tags[j] & L.LAW:
                in_law = True
                break
            if not self.tags[j] & (L.DET | L.ADV) and toks[j].low not in ("new", "national", "security",
                                                                             "controversial", "sweeping", "own"):
                break
        if in_law:
            return True, True
        for j in range(k, min(n, k + 4)):
            low = toks[j].low
            if low in _NATIONALITY_HEADS:
                return True, False
            if self.tags[j] & (L.PREP | L.AUX | L.VERB | L.AUTH_N | L.REQ_N | L.DATA_N | L.CONJ | L.SUBORD | L.REL
                               | L.DET | L.REPORT) or low in ",.;:":
                break
        # "a treaty with the United States": the partner of an MLAT is not the target
        for j in range(max(0, first - 4), first):
            if self.tags[j] & (L.MLAT | L.LAW) and "with" in self.low[j:first]:
                return True, False
        return False, False

    def clause_start(self, i: int) -> int:
        j = i - 1
        while j >= 0 and not self.clause_breaks[j]:
            j -= 1
        return j + 1

    def scope_end(self, i: int, limit: int = 40) -> int:
        """End (exclusive) of the object that starts at token i."""
        end = min(self.n, i + limit)
        j = i + 1  # the first token of an object never ends it ("pending requests")
        while j < end and not self.breaks[j]:
            j += 1
        return j

    def places_in(self, a: int, b: int, *, targets_only: bool = True) -> list[Place]:
        return [p for p in self.places if a <= p.first and p.last < b and not (targets_only and p.excluded)]

    def has(self, tag: int, a: int, b: int) -> bool:
        tags = self.tags
        return any(tags[j] & tag for j in range(max(0, a), min(b, self.n)))

    def find(self, tag: int, a: int, b: int) -> int:
        tags = self.tags
        for j in range(max(0, a), min(b, self.n)):
            if tags[j] & tag:
                return j
        return -1

    def word_in(self, words: frozenset[str], a: int, b: int) -> bool:
        low = self.low
        return any(low[j] in words for j in range(max(0, a), min(b, self.n)))


def analyse(sentence: str) -> list[Sentence]:
    """The sentence as one or more token windows (more only for a sentence past MAX_TOKENS)."""
    text = normalize(sentence)
    toks = tokenize(text)
    if len(toks) <= MAX_TOKENS:
        return [Sentence(text, toks, mentions(text))]
    out = []
    for a in range(0, len(toks), MAX_TOKENS):
        window = toks[a:a + MAX_TOKENS]
        lo, hi = window[0].start, window[-1].end
        part = text[lo:hi]
        shifted = [_shift(t, lo) for t in window]
        out.append(Sentence(part, shifted, mentions(part)))
    return out


def _shift(tok: Tok, by: int) -> Tok:
    copy = Tok(tok.text, tok.start - by, tok.end - by, tok.glued, tok.low)
    copy.tags, copy.lemma, copy.form = tok.tags, tok.lemma, tok.form
    return copy
