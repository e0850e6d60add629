"""Sentence-level rules: does a sentence assert that a company pauses (or lifts a pause on)
government / law-enforcement requests for user data, and for which jurisdictions?

The analysis is shallow parsing over tagged tokens (see `lexicon` and `analysis`), in three parts:

* **the action**, in verb, noun or adjective form: a verb that stops something ("paused",
  "sunsetting", "will no longer process"), a noun ("the suspension of", "a moratorium on"), a
  predicate ("requests ... are on hold", "has become unavailable to police"), or a lift ("resumed",
  "the reinstatement of", "again respond", "lifted the pause on");
* **its object**: the head of the phrase it governs must be the handling of requests ("processing
  data requests", "our responses to"), requests themselves ("government data requests"), data given
  to authorities ("providing user data to the police"), cooperation with authorities, or a channel
  through which authorities ask for data ("the tool police used to request footage"). A head that
  is something else (sales, ads, sign-ups, accounts, AI training, content takedowns) stops the rule;
* **its modifiers**: negation, modality and intention, conditionals, reported denials, questions,
  deliberation, other actors (a government pausing its own requests), statistics, one-off
  requests, and history that is over.

Each rule is small, named, documented with examples (`RULES`), and costs a bounded look around
its trigger token, so a sentence costs time linear in its length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import lexicon as L
from .analysis import Sentence, analyse

PAUSE, LIFT = "pause", "lift"

_VG_OK = (L.AUX | L.ADV | L.NEG | L.NO_LONGER | L.CHANGE | L.IRREALIS | L.ASSERT | L.STILL | L.AGAIN | L.HISTORY
          | L.MANNER | L.CAPABILITY | L.DELIB)
_PARTICLES = frozenset({"off", "down", "out", "over", "up", "back", "on"})
_CITY_CODES = frozenset({"HK", "MO", "SG", "MC", "VA", "TW", "GI"})
_PUT = frozenset({"put", "puts", "putting", "placed", "places", "placing", "place", "kept", "keep", "keeps",
                  "keeping", "left", "remain", "remains", "remained"})
_OVER = frozenset({"ended", "lifted", "expired", "over", "concluded", "removed", "rescinded", "revoked",
                   "dropped", "withdrawn", "reversed", "terminated", "finished"})
# A hand-over is to authorities by itself; "disclose records" is not, without a recipient or a request.
_STRONG_DISCLOSE = frozenset({"hand", "turn", "surrender", "divulge", "hand over", "turn over", "handover",
                              "give up"})
_NEEDS_OVER = frozenset({"hand", "turn"})
_DISCLOSE_NOUNS = frozenset({"production", "disclosure", "provision", "sharing", "data sharing", "delivery", "release",
                             "handover", "hand over", "extraction", "disclosing", "transfer"})
_AUTH_ONLY = frozenset({"unlock", "decrypt", "perform", "send", "relay", "forward", "leak", "extract"})
_YEARS = tuple(str(y) for y in range(1990, 2040))
_MONTHS = frozenset({"january", "february", "march", "april", "may", "june", "july", "august", "september",
                     "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
                     "sept", "oct", "nov", "dec", "last", "early", "late", "mid"})
_AVAILABLE = frozenset({"available", "accessible", "possible", "reachable", "obtainable", "allowed",
                        "permitted", "shared", "provided", "given", "disclosed", "handed"})
_NOUN_DETS = frozenset({"the", "a", "an", "its", "their", "our", "his", "her", "these", "those", "such", "any", "all",
                        "some", "no", "every", "each", "'s"})
_COMMISSIVE = frozenset({"vow", "vows", "vowed", "pledge", "pledges", "pledged", "promise", "promises", "promised",
                         "decide", "decides", "decided", "agree", "agrees", "agreed", "commit", "commits",
                         "committed", "resolve", "resolved", "choose", "chose", "opted", "elected"})
_CONDITION_VERBS = frozenset({"asked", "requested", "ordered", "compelled", "required", "pressed", "forced",
                              "demanded", "subpoenaed", "served"})


@dataclass(frozen=True)
class Assertion:
    kind: str  # PAUSE | LIFT
    jurisdiction: str | None  # None: the sentence names none (the page's context may)
    rule: str
    pos: int  # character offset of the trigger in the normalized sentence (for ordering)
    how: str = "sentence"  # where the jurisdiction came from: sentence | fronted | anaphor | "" (none)


@dataclass(frozen=True)
class Rule:
    """A named rule: what it recognises, and sentences it must classify (the docs and tests use these)."""

    name: str
    kind: str
    summary: str
    examples: tuple[str, ...]


@dataclass
class _Cand:
    kind: str
    rule: str
    trigger: int  # token index
    spans: list[tuple[int, int]] = field(default_factory=list)  # where the target jurisdiction is named
    back: bool = False  # may take its jurisdiction from earlier in the sentence ("these requests")


@dataclass
class _Obj:
    kind: str  # request | handling | data | channel | coop | cessation | implicit
    head: int
    end: int
    counted: bool = False
    oneoff: bool = False
    anaphoric: bool = False


class _VG:
    """The verb group before a trigger: auxiliaries, adverbs, negation, modals, control verbs."""

    __slots__ = ("flags", "lows", "start")

    def __init__(self, start: int, flags: int, lows: list[str]) -> None:
        self.start, self.flags, self.lows = start, flags, lows

    def has(self, tag: int) -> bool:
        return bool(self.flags & tag)

    @property
    def negated(self) -> bool:
        return (bool(self.flags & L.NEG) and not self.flags & L.NO_LONGER) or self.refused

    @property
    def refused(self) -> bool:
        return "refuse" in self.lows or "refused" in self.lows or "refuses" in self.lows or \
            "refusing" in self.lows or "declined" in self.lows or "declines" in self.lows

    @property
    def no_longer(self) -> bool:
        return bool(self.flags & L.NO_LONGER)


def _verb_group(s: Sentence, i: int, floor: int) -> _VG:
    tags, low = s.tags, s.low
    j, flags, lows = i - 1, 0, []
    while j >= 0 and len(lows) < 10:
        t = tags[j]
        if low[j] in ("and", "or") and j and tags[j - 1] & (L.NEG | L.AUX) and lows:
            lows.append(low[j])  # "has not and will not provide"
            j -= 1
            floor = min(floor, s.clause_start(j))
            continue
        if low[j] == ",":
            # "we have, as of July 2020, paused": look through a short parenthetical
            k = j - 1
            while k >= max(0, j - 8) and low[k] != ",":
                k -= 1
            if k > 0 and low[k] == "," and tags[k - 1] & (L.AUX | L.NEG | L.ADV):
                j = k - 1
                floor = min(floor, s.clause_start(j))
                continue
            break
        if j < floor:
            break
        if t & _VG_OK or (t & L.REFUSE_V and j + 1 < s.n and low[j + 1] == "to") or low[j] in ("to", "so", "be"):
            flags |= t
            lows.append(low[j])
            j -= 1
            continue
        break
    return _VG(j + 1, flags, lows)


# ---------------------------------------------------------------------------------------------
# Objects: what the action applies to
# ---------------------------------------------------------------------------------------------


def _group(s: Sentence, a: int, b: int) -> tuple[int, int, int]:
    """(start, end, head) of the noun group at a: leading determiners skipped, head = its last noun
    of a known class (-1 if none). A verb phrase ('to hand over', 'processing') has its verb as head."""
    start, end, head, _ = _phrase(s, a, b)
    return start, end, head


def _phrase(s: Sentence, a: int, b: int) -> tuple[int, int, int, bool]:
    """_group, and whether the head is a verb (an infinitive or a gerund) rather than a noun."""
    tags, low = s.tags, s.low
    i = a
    while i < b and (low[i] in _PARTICLES or (tags[i] & (L.DET | L.ADV | L.NUMBER | L.CHANGE)
                                               and not tags[i] & (L.CATEGORY | L.VERB | L.PASSTHRU))):
        i += 1
    start = i
    if i < b and low[i] == "to" and i + 1 < b and tags[i + 1] & (L.VERB | L.NONDATA):
        return start, i + 2, i + 1, True  # an infinitive: "refused to hand over"
    if i < b and tags[i] & (L.VERB | L.NONDATA) and s.toks[i].form & L.GER and not (i > a and tags[i - 1] & L.DET):
        return start, i + 1, i, True  # a gerund: "stopped processing requests"
    head = -1
    j = i
    while j < b and j - i < 8:
        t = tags[j]
        if low[j] in ("'s", "'"):
            j += 1
            continue
        if (t & (L.PREP | L.CONJ | L.REL | L.SUBORD | L.AUX | L.NEG) and not t & L.CATEGORY) or low[j] in ",;:()" \
                or (s.breaks[j] and j > i):
            break
        if t & (L.CATEGORY | L.PASSTHRU) or (t & L.VERB and s.toks[j].form & L.GER and s.toks[j].glued):
            head = j
        elif t & L.VERB and not t & L.CATEGORY and s.toks[j].form & (L.PAST | L.S3) and not s.toks[j].glued \
                and j > i and not (low[j - 1] in ("'s", "'") or tags[j - 1] & L.DET):
            break
        j += 1
    return start, j, head, False


def _is_data_request(s: Sentence, start: int, head: int, b: int) -> bool:
    """A request for user data: not removal / takedown / comment requests, not sales orders."""
    tags, low = s.tags, s.low
    for j in range(start, head):
        if tags[j] & L.REMOVAL or (tags[j] & L.NONDATA and not (j + 1 < s.n and tags[j + 1] & L.DATA_N)):
            return False
    k = head + 1
    for j in range(k, min(s.n, k + 8)):
        if s.breaks[j] or low[j] == ",":
            break
        verb = j + 2 if j + 2 < s.n and low[j + 1].endswith("ly") else j + 1  # "requests to fully shut off"
        if low[j] == "to" and verb < s.n and s.tags[verb] & (L.REMOVAL | L.NONDATA | L.CEASE_V) and not \
                s.tags[verb] & (L.DISCLOSE_V | L.HANDLE_V):
            return False  # "requests to remove content", "a request from X to shut down accounts"
    if k < b and low[k] in ("into", "about"):
        return False  # "its inquiry into Facebook"
    if k < b and low[k] == "for" and k + 1 < s.n and low[k + 1] in ("comment", "comments", "removal"):
        return False  # "requests for comment", "requests for removal"
    if k + 1 < b and low[k] in ("from", "by"):
        src = _group(s, k + 1, b)[2]
        if src >= 0 and s.tags[src] & L.NONDATA and not s.tags[src] & L.AUTH_N:
            return False  # "orders from Russian customers"
    if low[head] in ("order", "orders", "application", "applications", "query", "queries", "petition",
                     "petitions", "search", "searches", "ask", "asks"):
        # weak request nouns need a sign that they come from authorities or ask for data
        return s.has(L.AUTH_N | L.DATA_N, start, min(b, head + 8)) or bool(s.places_in(start, min(b, head + 6)))
    return True


def _modifiers_start(s: Sentence, a: int, head: int) -> int:
    """Where the modifiers of a noun begin ('takedown requests', 'Hong Kong government data requests')."""
    j = head
    while j > a and not (s.tags[j - 1] & (L.PREP | L.CONJ | L.VERB) and not s.tags[j - 1] & L.CATEGORY) \
            and s.low[j - 1] not in ",;:":
        j -= 1
    return j


def _counted(s: Sentence, start: int, head: int) -> bool:
    for j in range(max(0, start - 3), head):
        if (s.tags[j] & L.NUMBER and not s.low[j].startswith(_YEARS)) or s.low[j] in (
                "percent", "%", "per cent", "few", "fewer", "half", "dozens", "hundreds", "thousands", "none",
            "portion", "share", "fraction", "proportion", "majority", "minority", "most"):
            return True
    return False


def _oneoff(s: Sentence, start: int, head: int) -> bool:
    """'the request', 'a Russian court order', 'that request': one request, not a standing policy."""
    if not s.toks[head].form & L.SG or s.low[head] in ("legal process", "data", "information"):
        return False
    # back over the noun's modifiers ("a federal magistrate's order") to its determiner
    for j in range(head - 1, max(-1, min(start, head) - 5), -1):
        if s.tags[j] & L.ARTICLE or s.low[j] in ("the", "that", "this"):
            return True
        if s.low[j] in ("all", "any", "every", "each", "no") or s.breaks[j] or (s.tags[j] & (L.PREP | L.VERB) and \
                not s.tags[j] & L.CATEGORY):
            return False
    return False


def _complement(s: Sentence, head: int, b: int, lemma: str, tags_head: int) -> str | None:
    """The kind of object a handling head makes with what follows it, or None."""
    tags = s.tags
    a = head + 1
    _, ge, gh = _group(s, a, b)
    if gh < 0 and ge < b and s.low[ge:ge + 1] in (["with"], ["to"]):
        # "share with the government the encryption keys": the object follows the phrase
        k = ge + 1
        while k < b and not s.tags[k] & (L.DET | L.PREP) and s.low[k] not in ",;":
            k += 1
        if k < b and s.tags[k] & L.DET:
            gh = _group(s, k, b)[2]
    auth = s.has(L.AUTH_N, a, b) or s.has(L.AUTH_N, max(0, head - 3), head) or any(
        p.last + 1 < s.n and s.tags[p.last + 1] & L.REQ_V for p in s.places_in(a, b))  # "when Russia asks"
    req = s.find(L.REQ_N, a, b)
    req_ok = req >= 0 and _is_data_request(s, _modifiers_start(s, a, req), req, b)
    if not req_ok:
        # a request noun as a modifier before the head: "law enforcement request handling"
        k = s.find(L.REQ_N, max(0, head - 4), head)
        req_ok = k >= 0
    data = s.has(L.DATA_N, a, b) or s.has(L.DATA_N, max(0, head - 3), head) or "data" in lemma
    if tags_head & L.COOP and not tags_head & L.DISCLOSE_V:
        partner = next((j for j in range(a, min(b, a + 3)) if s.low[j] in ("with", "to")), -1)
        if partner >= 0:
            ph = _group(s, partner + 1, b)[2]
            partner_auth = (ph >= 0 and bool(tags[ph] & L.AUTH_N)) or bool(s.places_in(partner + 1, partner + 3))
            if partner_auth or req_ok:
                return "coop"
            return None
        if auth or req_ok:
            return "coop"
        return "implicit" if ge <= a or gh < 0 else None
    if tags_head & L.ENABLE_V:
        # "allowing police to request footage" (not "allow requests from X to impact users")
        party = next((j for j in range(a, min(b, a + 4)) if tags[j] & L.AUTH_N), -1)
        if party >= 0 and (s.has(L.REQ_V | L.REQ_N, party + 1, b) or "into" in s.low[party + 1:b]):
            return "channel"
        if gh >= 0 and tags[gh] & L.REQ_N and _is_data_request(s, a, gh, b) and s.low[gh + 1:gh + 2] == ["for"] \
                and s.has(L.DATA_N, gh + 2, min(b, gh + 6)):
            return "channel"  # "no longer allows private requests for footage"
        return None
    if tags_head & (L.DISCLOSE_V) or lemma in _STRONG_DISCLOSE or lemma in (
            "provision", "sharing", "delivery", "release", "extraction", "data sharing"):
        if lemma in _NEEDS_OVER and not any(s.low[j] == "over" for j in range(a, min(b, a + 8))) and not (
                data and auth):
            return None
        if any(s.low[j] == "requested" and s.low[j - 1] == "the" for j in range(a, min(b, a + 3))):
            return None  # "the requested information": one request
        if gh >= 0 and tags[gh] & L.NONDATA and not tags[gh] & L.DATA_N:
            return None  # "providing new services to ..."
        if gh >= 0 and tags[gh] & L.HANDLE_N and gh != head:
            return _complement(s, gh, b, s.toks[gh].lemma, tags[gh])  # "perform ... data extractions"
        if lemma in _AUTH_ONLY:
            return "handling" if auth else None
        if req_ok:
            return "handling"
        if (data or (gh < 0 and auth)) and (auth or lemma in _STRONG_DISCLOSE):
            return "handling"
        return None
    if req_ok:
        return "handling"
    return None


def _object(s: Sentence, a: int, b: int, depth: int = 0) -> _Obj | None:
    """Evaluate the phrase [a, b) governed by an action."""
    if a >= b or depth > 3:
        return None
    tags, low = s.tags, s.low
    start, end, head, verbal = _phrase(s, a, b)
    if head < 0:
        return None
    if any(low[j] in ("planned", "proposed", "potential", "possible", "hypothetical") for j in range(start, head)):
        return None  # "terminated its planned partnership": nothing that was in place
    t = tags[head]
    lemma = s.toks[head].lemma
    # partitive heads: "the use of the tool", "elements of the feature", "the vast majority of requests"
    if t & L.PASSTHRU and not t & (L.REQ_N | L.DATA_N | L.HANDLE_N) and end < b and low[end] in ("of", "for"):
        inner = _object(s, end + 1, b, depth + 1)
        if inner is not None or not t & L.CHANNEL_N:
            return inner
    if t & L.NONDATA and not t & (L.REQ_N | L.DATA_N | L.HANDLE_N | L.CHANNEL_N | L.COOP | L.CEASE_N) and not (
            t & L.VERB and s.toks[head].form & L.GER):
        return None
    if verbal:
        if t & L.NONDATA and not t & (L.HANDLE_V | L.DISCLOSE_V | L.COOP | L.ENABLE_V):
            return None
        if t & (L.HANDLE_V | L.DISCLOSE_V | L.ENABLE_V):
            kind = _complement(s, head, b, lemma, t)
            if kind is None and t & L.HANDLE_V and _pronoun_object(s, head, b):
                return _Obj("handling", head, b, anaphoric=True)
            return _Obj(kind, head, b) if kind else None
        if t & L.CEASE_V and head == start:
            return None
    chan = next((j for j in range(start, head) if tags[j] & L.CHANNEL_N and not tags[j] & L.PASSTHRU), -1)
    if chan >= 0 and not tags[head] & (L.REQ_N | L.DATA_N | L.CHANNEL_N | L.HANDLE_N):
        return _channel(s, start, chan, b)
    if t & L.CEASE_N and not t & L.HANDLE_N:
        inner_start = end + 1 if end < b and low[end] in ("of", "on", "to", "in", "for") else end
        inner = _object(s, inner_start, b, depth + 1)
        if inner is not None and inner.kind != "cessation":
            return _Obj("cessation", head, b)
        if inner is None and _group(s, inner_start, b)[2] < 0 and s.places_in(inner_start, b) and \
                lemma in ("pause", "suspension", "moratorium", "hold", "freeze", "halt"):
            return _Obj("cessation", head, b)  # "the pause on Hong Kong"
        return None
    if t & L.REQ_N and not t & L.HANDLE_N:
        named = next((j for j in range(head + 1, min(b, head + 5)) if tags[j] & L.CHANNEL_N), -1)
        if named > 0 and not any(low[j] in ("from", "by", "to", "in") for j in range(head + 1, named)):
            return _channel(s, start, named, b)  # "the Request for Assistance tool"
        if not _is_data_request(s, start, head, b):
            return None
        return _Obj("request", head, b, counted=_counted(s, start, head), oneoff=_oneoff(s, start, head),
                    anaphoric=s.has(L.ANAPHOR, start, head))
    if t & (L.HANDLE_N | L.COOP):
        for j in range(start, head):
            if tags[j] & L.NONDATA and not (j + 1 < s.n and tags[j + 1] & L.DATA_N) and not tags[j] & L.AUTH_N:
                return None  # "business relationships"
        kind = _complement(s, head, b, lemma, t | (L.DISCLOSE_V if lemma in _DISCLOSE_NOUNS else 0))
        if kind is None and tags[head] & L.HANDLE_N and s.has(L.AUTH_N | L.DATA_N, start, head) and \
                s.has(L.REQ_N | L.DATA_N | L.AUTH_N, start, head + 1) and lemma not in ("review", "answer", "reply"):
            kind = "handling"  # "law enforcement data sharing", "police cooperation"
        if kind is None and head > 0 and low[head - 1] in ("such", "these", "those") and \
                lemma in ("review", "processing", "response", "handling", "disclosure", "production", "cooperation"):
            return _Obj("handling", head, b, anaphoric=True)  # "pausing such reviews": named before
        if kind is None:
            return None
        return _Obj(kind, head, b, anaphoric=s.has(L.ANAPHOR, head + 1, min(b, head + 4)))
    if t & L.CHANNEL_N:
        return _channel(s, start, head, b)
    if t & L.DATA_N:
        if s.has(L.AUTH_N, head + 1, b):
            return _Obj("data", head, b)
        return None
    return None


def _pronoun_object(s: Sentence, head: int, b: int) -> bool:
    """'respond to them', 'answer these': requests named earlier in the sentence."""
    j = head + 1
    if j < b and s.low[j] in ("to", "with", "on"):
        j += 1
    return j < b and s.low[j] in ("them", "these", "those", "it") and s.has(L.REQ_N, 0, head) and \
        _is_data_request(s, 0, s.find(L.REQ_N, 0, head), head)


def _verb_object(s: Sentence, i: int, b: int) -> _Obj | None:
    """The phrase of a handling verb used as the trigger itself ('will no longer *respond* to ...')."""
    kind = _complement(s, i, b, s.toks[i].lemma, s.tags[i])
    if kind is None and s.tags[i] & L.HANDLE_V and _pronoun_object(s, i, b):
        return _Obj("handling", i, b, anaphoric=True)
    if kind is None:
        return None
    req = s.find(L.REQ_N, i + 1, b)
    if req >= 0 and "without" in s.low[max(i + 1, req - 3):req]:
        req = -1  # "with or without a warrant" is how, not what
    if req >= 0:
        start = _modifiers_start(s, i + 1, req)
        return _Obj(kind, i, b, counted=_counted(s, start, req), oneoff=_oneoff(s, start, req),
                    anaphoric=s.has(L.ANAPHOR, i + 1, req + 1))
    return _Obj(kind, i, b, anaphoric=s.has(L.ANAPHOR, i + 1, min(b, i + 5)))


def _channel(s: Sentence, start: int, head: int, b: int) -> _Obj | None:
    """A tool, feature or access through which authorities ask for data."""
    # the channel's description may run on in a relative or purpose clause
    ext = head + 1
    limit = min(s.n, head + 24)
    while ext < limit and s.low[ext] not in (";", ":", "?", "!", "—", "–", "(", ")") and not (
            s.tags[ext] & L.REPORT and not s.tags[ext] & L.DET):
        ext += 1
    near_req = s.has(L.REQ_N, start, min(ext, head + 5))
    auth = s.has(L.AUTH_N, start, ext)
    asks = s.has(L.REQ_V | L.REQ_N, head + 1, ext)
    data = s.has(L.DATA_N, start, ext)
    access = any(s.toks[j].lemma == "access" for j in range(start, head + 1)) and (
        s.has(L.AUTH_N, start, head) or (head + 2 < s.n and s.low[head + 1] in ("for", "by") and
        s.has(L.AUTH_N, head + 2, min(ext, head + 5))))
    if near_req or (auth and (asks or data)) or access or (asks and data):
        return _Obj("channel", head, max(b, ext))
    return None


# ---------------------------------------------------------------------------------------------
# Modifiers shared by the rules
# ---------------------------------------------------------------------------------------------


def _irrealis(s: Sentence, vg: _VG, trigger: int) -> bool:
    """Modal, intended, urged, ordered, considered: the action is not asserted."""
    for j in range(vg.start - 1, max(-1, vg.start - 10), -1):
        if s.low[j] in (".", ";", ":", "?", "!"):
            break
        if s.tags[j] & L.DELIB or s.low[j] == "whether":
            return True
        if s.low[j] in ("mean", "means") and j and s.low[j - 1] in ("not", "n't", "never"):
            return True  # "this doesn't mean your data is inaccessible to police"
    if vg.has(L.NEG) and any(w in ("intend", "intends", "plan", "plans", "want", "wants", "expect", "expects")
                             for w in vg.lows):
        return False  # "does not intend to process": a refusal, the negation is the caller's
    if vg.lows and vg.lows[-1] in ("plan", "plans", "proposal", "decision") and vg.start >= 2 and \
            s.low[vg.start - 1] in ("a", "its", "the", "their") and s.tags[vg.start - 2] & (L.REPORT | L.ASSERT):
        return False  # "announced a plan to cease", "revealed its decision to terminate"
    if "would" in vg.lows and "have" in vg.lows:
        return True  # "would have marked a return": counterfactual
    modal = (vg.has(L.MODAL) and not (vg.has(L.CAPABILITY) and vg.has(L.NEG))) or (
        vg.has(L.IRREALIS) and not vg.has(L.ASSERT)) or vg.has(L.DELIB)
    # "able" after "no longer"/"not": an ability taken away is asserted
    if modal and not ("able" in vg.lows and (vg.no_longer or vg.negated) and not vg.has(L.MODAL)):
        return True
    if vg.has(L.IRREALIS) and vg.has(L.ASSERT):
        # "announced a plan to", "decided to": the later word governs
        for low in vg.lows:  # lows run right to left
            entry = L.lookup(low)
            if entry and entry.tags & L.ASSERT:
                break
            if entry and entry.tags & L.IRREALIS:
                return True
    # object control: "urged Google to stop", "ordered X to halt", "called on Zoom to suspend"
    if "to" in vg.lows:
        low = s.low
        if vg.start >= 1 and low[vg.start] == "to" and s.tags[vg.start - 1] & L.REQ_N:
            return True  # "rebuffs requests to stop working with Russia", "calls to suspend": asked for, not done
        for j in range(vg.start - 1, max(-1, vg.start - 9), -1):
            if low[j] in (",", ";", ":", "that") or (s.breaks[j] and not s.tags[j] & L.IRREALIS):
                break
            noun = s.tags[j] & (L.REQ_N | L.DATA_N) and j and s.low[j - 1] in _NOUN_DETS
            if s.tags[j] & L.IRREALIS and not s.tags[j] & L.ASSERT and not noun:
                # ... unless it is "announced a plan to cease"
                return not (low[j] in ("plan", "plans", "proposal") and j > 1 and low[j - 1] in ("a", "its", "the")
                            and s.tags[j - 2] & (L.REPORT | L.ASSERT))
    # "still assessing the decision", "no decision"
    for j in range(max(0, trigger - 6), trigger):
        if s.low[j] in ("decision", "decisions") and any(s.low[k] == "still" for k in range(max(0, j - 4), j)):
            return True
    return False


def _conditional(s: Sentence, vg: _VG, trigger: int) -> bool:
    low, n = s.low, s.n
    marks = []
    for j in range(n):
        w = low[j]
        if w == "if":
            prev = low[j - 1] if j else ""
            if prev in ("even", "only", "as"):
                if prev == "even" and j + 1 < n and low[j + 1] in _CONDITION_VERBS:
                    marks.append(j)
                continue
            marks.append(j)
        elif low[j:j + 3] == ["in", "the", "event"] or (
                w == "were" and j + 2 < n and s.tags[j + 1] & L.PRON and low[j + 2] == "to") or (
                w == "should" and j + 1 < n and s.tags[j + 1] & (L.PRON | L.DET)) or (
                w in ("when", "once") and j + 1 < n and low[j + 1] in _CONDITION_VERBS):
            marks.append(j)  # "in the event", "were we to", "should they", "when asked"
    if not marks:
        return False
    if marks[0] <= 1 and marks[0] < trigger:
        return True  # "If a chat is end-to-end encrypted, we will no longer be able to provide ..."
    cs = s.clause_start(trigger)
    for m in marks:
        if m < trigger and not any(s.low[k] in (",", ";") for k in range(m, cs)) and m >= cs - 1:
            return True  # the trigger is inside the if-clause
    return vg.has(L.WOULD | L.MODAL)


def _history(s: Sentence, cs: int, trigger: int, end: int) -> bool:
    """History that is over: 'previously paused', 'paused ... until 2021', 'before resuming'."""
    low = s.low
    if cs > 0 and low[cs - 1] == "," and s.clause_start(cs - 1) == 0:  # a fronted "In the past, ..."
        cs = 0
    if s.has(L.HISTORY, cs, end):
        return True
    for j in range(trigger, min(s.n, end + 6)):
        if low[j] in ("until", "till", "through") and j + 1 < s.n and (
                low[j + 1].startswith(_YEARS) or low[j + 1] in _MONTHS):
            return True
        if low[j] == "before" and j + 1 < s.n and s.tags[j + 1] & L.LIFT_V:
            return True
        if low[j] == "later" and j + 1 < s.n and s.tags[j + 1] & L.LIFT_V:
            return True
    for j in range(cs, trigger):
        if low[j] in ("from", "between") and j + 1 < s.n and low[j + 1].startswith(_YEARS) and j + 2 < s.n and \
                low[j + 2] in ("to", "until", "and", "through"):
            return True
    return False


def _subject(s: Sentence, vg: _VG) -> tuple[int, int]:
    return s.clause_start(vg.start), vg.start


def _other_actor(s: Sentence, vg: _VG, trigger: int) -> bool:
    """The subject is a government, court, police force or official, or a bare country: not the company."""
    a, b = _subject(s, vg)
    tags = s.tags
    while a < b and (tags[a] & (L.DET | L.ADV | L.CONJ) and not tags[a] & L.CATEGORY):
        a += 1
    if a >= b:
        return False
    start, end, head = _group(s, a, b)
    end = max(end, a + 1)
    if any(tags[j] & L.PRON for j in range(start, end)):
        return _sayer_is_authority(s, s.clause_start(vg.start))
    if any(tags[j] & L.COMPANY_N for j in range(start, end)):
        return False
    if head >= 0 and tags[head] & (L.AUTH_N | L.ACTOR_N):
        return True
    # a bare country as the subject ("China has stopped ..."), not a modifier ("Norway's Telenor")
    return any(not p.excluded and start <= p.first < end <= p.last + 1 for p in s.places)


def _sayer_is_authority(s: Sentence, cs: int) -> bool:
    """'Hong Kong authorities said they would suspend ...': a pronoun subject after an authority's report."""
    report = next((j for j in range(cs - 1, max(-1, cs - 8), -1) if s.tags[j] & L.REPORT and not s.tags[j] & L.DET),
                  -1)
    if report < 0:
        return False
    for j in range(report - 1, max(-1, report - 6), -1):
        if s.tags[j] & (L.ADV | L.DET) or s.low[j] in ("'s", "'"):
            continue
        return bool(s.tags[j] & L.AUTH_N and not s.tags[j] & L.COMPANY_N)
    return False


def _by_authority(s: Sentence, after: int, end: int) -> bool:
    return after < s.n and s.low[after] == "by" and s.has(L.AUTH_N, after + 1, min(end, after + 5))


def _change_marked(s: Sentence, vg: _VG, cs: int, end: int) -> bool:
    """A negation is a change (a pause), not a standing policy: 'no longer', 'will not', 'would not'
    (reported), 'for now', 'at this time', 'until ...', 'since March 2022', 'is not processing'."""
    if vg.no_longer or vg.has(L.FUTURE | L.WOULD | L.CHANGE):
        return True
    if any(w in _COMMISSIVE for w in vg.lows):
        return True  # "vows not to honor warrants", "decided not to process"
    after = vg.start + len(vg.lows)
    if after < s.n and s.toks[after].form & L.GER and any(w in ("is", "are", "am", "'re", "'m", "being")
                                                            for w in vg.lows):
        return True  # "we are not processing": the present state
    low = s.low
    if cs > 0 and low[cs - 1] == ",":
        cs = max(0, s.clause_start(cs - 1) - 1)
    for j in range(cs, min(s.n, end + 8)):
        if s.tags[j] & L.CHANGE or low[j] in ("until", "till", "anymore"):
            return True
        if low[j] == "since" and j + 1 < s.n and (low[j + 1] in _MONTHS or low[j + 1].startswith(_YEARS) or
                                                    s.tags[j + 1] & L.DET or low[j + 1] == "then"):
            return True
        if low[j] == "new" and j + 1 < s.n and s.tags[j + 1] & (L.REQ_N | L.DATA_N):
            return True
    return False


def _assurance(s: Sentence, vg: _VG) -> bool:
    """'has not and will not provide': an assurance about past and future, not a change."""
    return "and" in vg.lows and (vg.has(L.HAVE | L.DO) and vg.has(L.FUTURE | L.WOULD))


def _manner(s: Sentence, a: int, b: int) -> bool:
    return s.has(L.MANNER, a, b)


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

RULES: list[Rule] = []
_FINDERS: list[Callable[[Sentence], Iterator[_Cand]]] = []


def rule(name: str, kind: str, summary: str, *examples: str) -> None:
    RULES.append(Rule(name, kind, summary, examples))


def finder(fn: Callable[[Sentence], Iterator[_Cand]]) -> Callable[[Sentence], Iterator[_Cand]]:
    _FINDERS.append(fn)
    return fn


def _is_verb_use(s: Sentence, i: int) -> bool:
    """A verb, not the noun of the same spelling ('a pause on' vs 'we pause')."""
    tok = s.toks[i]
    if tok.form & L.PPART and i and (s.tags[i - 1] & L.DET or s.low[i - 1] in ("'s", "'")) and \
            i + 1 < s.n and s.tags[i + 1] & (L.CATEGORY | L.REQ_N) and s.low[i - 1] not in ("that",):
        return False  # "Ring's discontinued feature": an adjective
    if tok.form & (L.PAST | L.PPART | L.GER | L.S3) and tok.form & (L.SG | L.PL):
        # "stops"/"ends"/"halts": a noun after a determiner or before "of", else a verb
        if i and (s.tags[i - 1] & L.DET or s.low[i - 1] in ("'s", "'")):
            return False
        return not (i + 1 < s.n and s.low[i + 1] in ("of", "on", "to", "in", "for"))
    if tok.form & (L.PAST | L.PPART | L.GER | L.S3) and not tok.form & (L.SG | L.PL):
        return not (i and s.tags[i - 1] & L.DET and s.low[i - 1] not in ("that", "'s") and tok.form & L.GER
                    and i + 1 < s.n and s.low[i + 1] == "of")
    if i and (s.tags[i - 1] & (L.AUX | L.NEG | L.NO_LONGER | L.PRON | L.ADV) or s.low[i - 1] == "to"):
        return True
    if tok.form & L.BASE and not tok.form & (L.SG | L.PL):
        return not (i and s.tags[i - 1] & L.DET)
    if i and (s.toks[i - 1].text[:1].isupper() or (s.tags[i - 1] & L.COMPANY_N and s.toks[i - 1].form & L.PL)) and \
            not (i > 1 and s.tags[i - 2] & L.DET) and i + 1 < s.n and s.low[i + 1] not in ("of", "on", "to", "in"):
        return True  # a headline's verb after its subject: "Facebook, Zoom pause Hong Kong's requests"
    return i == 0 and s.n > 1 and s.low[1] not in ("of", "on", "to")


rule("stop+handling", PAUSE,
     "A verb that stops (pause, suspend, halt, stop, freeze, end, sunset, kill, block ...) with an object that is "
     "the handling of requests, requests, data given to authorities, cooperation with them, or a request channel.",
     "We have paused processing any data requests from, and related to, Hong Kong SAR.",
     "The doorbell company is sunsetting the tool that police used to request video from its users.",
     "Twitter paused all data requests immediately when the law went into effect.")
rule("end-of-pause", LIFT,
     "A verb that ends (lift, end, remove, rescind) a pause of the handling of requests.",
     "Google has lifted the pause on requests from Russian authorities.")
rule("no-longer-pausing", LIFT, "A pause that is said to be no longer in place.",
     "We are no longer pausing requests from Russian authorities.")
rule("reversal-of-pause", LIFT,
     "A decision to stop or limit the handling of requests, reversed: 'reverses its decision to discontinue the "
     "police request tool', 'a shift from its decision to limit police access'.",
     "The company reversed its 2024 decision to end the tool that police used to request videos.",
     "This marks a shift from the company's previous decision to limit police access to user footage.")


def _nominalized(s: Sentence, i: int) -> bool:
    """'the consequence of refusing orders', 'after removing a feature', 'by refusing to cooperate': an
    event named, not a policy asserted."""
    return bool(s.toks[i].form & L.GER and i and s.low[i - 1] in ("of", "after", "before", "for", "without",
                                                                   "upon", "on", "from", "against"))


def _skip_particle(s: Sentence, i: int) -> int:
    return i + 1 if i < s.n and s.low[i] in _PARTICLES else i


@finder
def _stop_verbs(s: Sentence) -> Iterator[_Cand]:
    for i in range(s.n):
        if s.low[i] in ("limit", "restrict", "curb", "reduce") and _reversed_decision(s, i):
            b = s.scope_end(i)
            if s.has(L.AUTH_N, i + 1, b) and s.has(L.DATA_N | L.REQ_N | L.CHANNEL_N, i + 1, b):
                yield _Cand(LIFT, "reversal-of-pause", i, [(i + 1, b)])
            continue
        if not s.tags[i] & L.CEASE_V or not _is_verb_use(s, i) or _nominalized(s, i):
            continue
        tok = s.toks[i]
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if tok.form & L.PPART and vg.has(L.BE) and not tok.form & L.GER:
            continue  # passive: _passive
        if tok.lemma in ("can", "stop", "block", "keep", "bar") and i + 1 < s.n and s.low[i + 1] != "to" and \
                _prevent_shape(s, i):
            continue  # "stopped police from requesting": _authority_cannot
        a = _skip_particle(s, i + 1)
        b = _scope_with_when(s, i)
        obj = _object(s, a, b)
        if obj is None or (obj.kind == "implicit" and not _antecedent(s, i)):
            continue
        if any(s.tags[j] & L.DELIB and not s.toks[j].form & L.GER for j in range(i + 1, min(s.n, b + 5))):
            continue  # "ending the pause ... is under review"
        if obj.kind == "cessation":
            if vg.negated or _irrealis(s, vg, i) or _other_actor(s, vg, i):
                continue
            yield _Cand(LIFT, "end-of-pause", i, [(a, b)])
            continue
        if _reversed_decision(s, i):
            yield _Cand(LIFT, "reversal-of-pause", i, [(a, b)])
            continue
        if vg.negated or _irrealis(s, vg, i) or _conditional(s, vg, i) or _other_actor(s, vg, i):
            continue
        if _manner(s, a, obj.head + 1) or obj.oneoff:
            continue
        if vg.no_longer:
            yield _Cand(LIFT, "no-longer-pausing", i, [(a, b)])
            continue
        if _history(s, cs, i, b) or (vg.has(L.STILL) and "refuse" not in vg.lows and not tok.form & L.GER):
            continue
        yield _Cand(PAUSE, "stop+handling", i, [(a, b)], back=obj.anaphoric or obj.kind == "implicit")


_REVERSAL = frozenset({"reverse", "reverses", "reversed", "reversing", "reversal", "shift", "departure", "u turn",
                       "undo", "undoes", "undid", "undoing", "overturn", "overturns", "overturned", "abandon",
                       "abandons", "abandoned", "walk back", "walked back", "walks back", "backtrack",
                       "backtracks", "backtracked", "backtracking"})
_DECISION = frozenset({"decision", "decisions", "commitment", "commitments", "pledge", "pledges", "promise",
                       "promises", "policy", "move", "plan", "choice"})
_LIMIT = frozenset({"limit", "restrict", "curb", "curtail", "reduce", "end", "stop", "discontinue", "pause",
                    "suspend", "halt", "eliminate", "sunset", "terminate", "cut", "scale back"})


def _reversed_decision(s: Sentence, i: int) -> bool:
    """'reverses a decision made in 2024 to discontinue the tool', 'a shift from its decision to limit police
    access': undoing a stop is a lift."""
    if s.toks[i].lemma not in _LIMIT or i < 2 or s.low[i - 1] != "to":
        return False
    decision = next((j for j in range(i - 2, max(-1, i - 8), -1) if s.low[j] in _DECISION), -1)
    if decision < 0 or any(s.low[k] in (".", ";", ":") for k in range(decision, i)):
        return False
    return any(s.low[k] in _REVERSAL for k in range(max(0, decision - 6), decision))


def _prevent_shape(s: Sentence, i: int) -> bool:
    """'stop X from doing', 'bar X from': the object is prevented, the verb is not a pause of it."""
    for j in range(i + 1, min(s.n, i + 9)):
        if s.low[j] == "from":
            return j + 1 < s.n and bool(s.toks[j + 1].form & L.GER)
        if s.breaks[j]:
            return False
    return False


def _antecedent(s: Sentence, before: int) -> bool:
    """An implicit object ('stop cooperating', 'do so') needs requests named earlier in the sentence."""
    return s.has(L.REQ_N, 0, before) or (s.has(L.AUTH_N, 0, before) and s.has(L.REQ_V | L.DATA_N, 0, before))


_FINITE = frozenset({"is", "are", "was", "were", "has", "have", "had", "did", "does", "could", "would"})


def _clause_follows(s: Sentence, a: int, b: int) -> bool:
    """'[denied] the warrants were used': a subject and a finite verb, a clause without 'that'."""
    for k in range(a + 1, b):
        if s.low[k] in _FINITE:
            return not (s.tags[k - 1] & L.REL or s.low[k - 1] in ("that", "which", "who"))
    return False


rule("refuse+handling", PAUSE,
     "A refusal (refuse, decline, deny, reject, withhold, ignore, turn down) of requests or of handing data over.",
     "For now, the messenger refuses to hand over any user data to the Hong Kong police.",
     "The company will deny government requests for user data from Belarus while it studies the new decree.")


@finder
def _refusals(s: Sentence) -> Iterator[_Cand]:
    for i in range(s.n):
        if not s.tags[i] & L.REFUSE_V or not _is_verb_use(s, i) or _nominalized(s, i):
            continue
        tok = s.toks[i]
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if tok.form & L.PPART and vg.has(L.BE):
            continue  # passive: _passive
        a = _skip_particle(s, i + 1)
        if tok.lemma == "deny" and a < s.n and (s.low[a] in ("that", "reports", "claims", "allegations", "it", "any",
                                                              "having") or s.toks[a].form & L.GER):
            continue  # a denial, not a refusal
        b = s.scope_end(i)
        if tok.lemma == "deny" and _clause_follows(s, a, b):
            continue  # "denied the warrants were used to monitor chats": a denial of a fact
        obj = _object(s, a, b)
        if obj is None or obj.kind in ("cessation", "implicit"):
            continue
        if obj.kind in ("data", "channel") and s.low[a] != "to":
            continue  # "withheld the data" is one case; "refuses to share data with X" is a policy
        if vg.negated or vg.no_longer or _irrealis(s, vg, i) or _conditional(s, vg, i) or _other_actor(s, vg, i):
            continue
        if obj.counted or obj.oneoff or _restrictive(s, obj):
            continue
        if _history(s, cs, i, b):
            continue
        yield _Cand(PAUSE, "refuse+handling", i, [(a, b)], back=obj.anaphoric)


def _restrictive(s: Sentence, obj: _Obj) -> bool:
    """'requests that do not meet ...', 'requests which go against our policies', 'overly broad requests',
    'requests submitted by non-law enforcement officials': a policy for some requests, not a pause."""
    low = s.low
    for j in range(max(0, obj.head - 3), min(s.n, obj.head + 12)):
        if low[j] in ("broad", "improper", "invalid", "unlawful", "illegitimate", "unreasonable", "excessive",
                      "overbroad", "deficient", "defective", "inappropriate", "lacking", "unless", "except",
                      "non", "incomplete", "unverified", "fraudulent", "fake", "unauthorized", "unauthorised"):
            return True
        if j > obj.head and (s.tags[j] & L.REL or low[j] == "that") and j + 1 < s.n:
            clause_end = s.scope_end(j + 1)
            return bool(s.has(L.NEG | L.MODAL | L.WOULD, j + 1, min(clause_end, j + 4))) or low[j + 1] in (
                "do", "does", "fail", "fails", "lack", "lacks", "go", "goes", "violate", "violates", "seek", "seeks",
                "concern", "concerns", "target", "targets", "involve", "involves", "relate", "relates", "affect",
                "affects", "conflict", "conflicts", "contravene")
        if s.breaks[j] and j > obj.head + 1:
            break
    return False


def _exception(s: Sentence, a: int, b: int) -> bool:
    """'will not be released to law enforcement except in response to legal process': a standing rule."""
    for j in range(a, min(s.n, b + 3)):
        if s.low[j] in ("except", "unless", "other than", "save", "without", "outside", "absent", "only"):
            if j and s.low[j - 1] in ("or", "even"):
                continue  # "with or without a warrant"
            return True
        if s.low[j] == "other" and s.low[j + 1:j + 2] == ["than"]:
            return True
    return False


rule("no-longer+handling", PAUSE,
     "A negated handling verb that marks a change (no longer, will not, for now, until, since ...): "
     "'will no longer process', 'won't respond to', 'is not accepting', 'not to process ... for the time being'.",
     "Microsoft will no longer respond to data requests from the Belarusian KGB.",
     "The app will no longer share customer videos with police departments.")


def _made_impossible(s: Sentence, vg: _VG) -> bool:
    """'is making it impossible for the company to turn over data': the company removed its own ability."""
    if "to" not in vg.lows:
        return False
    for j in range(vg.start - 1, max(0, vg.start - 9), -1):
        if s.low[j] == "impossible":
            return j >= 2 and s.low[j - 1] == "it" and s.low[j - 2] in ("making", "make", "makes", "made")
    return False


def _do_so(s: Sentence, i: int) -> Iterator[_Cand]:
    """'but will no longer do so': the negation takes up a handling of requests told just before."""
    cs = s.clause_start(i)
    vg = _verb_group(s, i, cs)
    if not (vg.no_longer or (vg.negated and vg.has(L.FUTURE))) or "never" in vg.lows:
        return
    before = s.clause_start(vg.start)
    contrast = any(s.low[j] in ("but", "however") for j in range(max(0, before - 2), vg.start)) or (
        s.n and s.low[0] in ("but", "however"))
    if not contrast or s.has(L.NEG, 0, max(0, before - 1)):
        return  # "had not handed over any data and would not do so": an assurance
    told = _antecedent(s, before) or (s.has(L.DISCLOSE_V | L.HANDLE_V, 0, before) and s.has(L.AUTH_N, 0, before))
    if (told or s.low[0] in ("but", "however")) and not (_irrealis(s, vg, i) or _conditional(s, vg, i)):
        yield _Cand(PAUSE, "no-longer+handling", i, [(0, before)], back=True)


@finder
def _negated_handling(s: Sentence) -> Iterator[_Cand]:
    for i in range(s.n):
        t = s.tags[i]
        if s.low[i] == "do" and s.low[i + 1:i + 2] == ["so"]:
            yield from _do_so(s, i)
            continue
        if not t & (L.HANDLE_V | L.DISCLOSE_V | L.ENABLE_V) or t & L.DET:
            continue
        tok = s.toks[i]
        if tok.form & (L.SG | L.PL) and not tok.form & (L.BASE | L.GER | L.PAST | L.PPART | L.S3):
            continue
        if not tok.form & (L.BASE | L.GER | L.S3 | L.PAST | L.PPART):
            continue
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if _made_impossible(s, vg):
            vg = _VG(vg.start, vg.flags | L.NO_LONGER | L.NEG, [*vg.lows, "no longer"])
        if not (vg.negated or vg.no_longer) or "never" in vg.lows or (vg.refused and not vg.no_longer):
            continue
        if (vg.has(L.CAPABILITY) and not vg.no_longer) or "able" in vg.lows or "unable" in vg.lows:
            continue  # inability is not a decision
        if tok.form & L.PPART and vg.has(L.BE) and not tok.form & L.BASE:
            continue  # passive: _passive
        a = _skip_particle(s, i + 1)
        b = _scope_with_when(s, i)
        obj = _verb_object(s, i, b)
        if obj is None or obj.kind in ("cessation",):
            continue
        if obj.kind == "implicit" and not _antecedent(s, i):
            continue
        if obj.kind == "data" and vg.has(L.DO | L.HAVE) and not vg.no_longer and not _change_marked(s, vg, cs, b):
            continue
        if _irrealis(s, vg, i) or _conditional(s, vg, i) or _other_actor(s, vg, i) or _assurance(s, vg):
            continue
        if not _change_marked(s, vg, cs, b):
            continue  # "we do not share data with ...": a standing policy, not a change
        if (vg.has(L.DO) and "did" in vg.lows) or "didn't" in vg.lows:
            continue  # "did not comply": one past event
        if obj.oneoff or obj.counted or _restrictive(s, obj) or s.has(L.AGAIN, vg.start, b):
            continue
        if _exception(s, i, b) and not s.places_in(i, b):
            continue  # "we will not disclose ... without a warrant": how requests are answered
        if _history(s, cs, i, b) and not vg.has(L.FUTURE):
            continue
        yield _Cand(PAUSE, "no-longer+handling", i, [(a, b)], back=obj.anaphoric or obj.kind == "implicit")


def _scope_with_when(s: Sentence, i: int) -> int:
    """An object, plus a following 'when the police ask' (the authority asking is part of it)."""
    b = s.scope_end(i)
    if b >= s.n or s.low[b] not in ("when", "whenever", "if"):
        return b
    window = min(s.n, b + 8)  # "when the police ask", "when requested by Hong Kong authorities"
    if s.has(L.REQ_V, b + 1, min(s.n, b + 6)) and (s.has(L.AUTH_N, b + 1, window) or s.places_in(b + 1, window)):
        return window
    return b


rule("pause-noun", PAUSE,
     "A noun of stopping (suspension, pause, moratorium, halt, refusal ...) of the handling of requests.",
     "Telegram announced a moratorium on data requests from Hong Kong courts until the situation is clearer.",
     "The pause applies to all requests from Russian and Belarusian authorities.")


@finder
def _pause_nouns(s: Sentence) -> Iterator[_Cand]:
    for i in range(s.n):
        if not s.tags[i] & L.CEASE_N or (_is_verb_use(s, i) and not (i and s.tags[i - 1] & L.DET)):
            continue
        low = s.low
        j = i + 1
        if j < s.n and low[j] in ("applies", "apply", "extends", "covers", "affects"):
            j += 1
        if j < s.n and low[j] in ("of", "on", "to", "in", "for"):
            j += 1
        elif _premodified(s, i):
            yield from _premodified_pause(s, i)
            continue
        elif s.toks[i].lemma not in ("refusal", "denial", "rejection", "halt", "suspension", "moratorium"):
            continue
        b = s.scope_end(i)
        if s.toks[i].lemma in ("refusal", "denial", "rejection") and j < s.n and low[j] == "to":
            obj = _object(s, j, b)  # "its refusal to hand over data"
        else:
            obj = _object(s, j, b)
        if obj is None or obj.kind in ("cessation", "implicit"):
            continue
        before = low[max(0, i - 3):i]
        if "no" in before or "not" in before or "without" in before or ("any" in before and i and \
                s.tags[i - 1] & L.NEG):
            continue
        if i and low[i - 1] in ("'s", "'") and i > 1 and (s.tags[i - 2] & L.AUTH_N or _place_at(s, i - 2)):
            continue  # the government's suspension of ...
        if (i and s.tags[i - 1] & (L.CEASE_V | L.LIFT_V)) or (i > 1 and s.tags[i - 2] & (L.CEASE_V | L.LIFT_V) and \
                s.tags[i - 1] & L.DET):
            continue  # "lifted the pause on": a lift
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if _irrealis(s, vg, i) or _conditional(s, vg, i) or _history(s, cs, i, b) or _manner(s, j, obj.head):
            continue
        if s.has(L.NEG, max(cs, i - 6), i) and not s.has(L.NO_LONGER, max(cs, i - 6), i):
            continue
        if _pause_over_after(s, i, b):
            continue  # "the suspension ... has ended": _passive makes the lift
        if s.has(L.MODAL | L.IRREALIS | L.WOULD, b, min(s.n, b + 4)):
            continue  # "a refusal to comply may be difficult"
        if obj.counted or obj.oneoff:
            continue
        yield _Cand(PAUSE, "pause-noun", i, [(j, b)], back=obj.anaphoric)


def _premodified(s: Sentence, i: int) -> bool:
    """'the Hong Kong data pause', 'a police request freeze': what is paused comes before the noun."""
    return i > 0 and s.toks[i].lemma in ("pause", "suspension", "freeze", "halt", "moratorium", "hold") and \
        s.has(L.DATA_N | L.REQ_N, max(0, i - 3), i) and not s.has(L.PREP | L.REPORT, max(0, i - 3), i)


def _premodified_pause(s: Sentence, i: int) -> Iterator[_Cand]:
    a = i
    while a > 0 and not s.breaks[a - 1] and s.low[a - 1] not in (",",) and \
            (s.tags[a - 1] & (L.DATA_N | L.REQ_N | L.AUTH_N) or _place_at(s, a - 1) or s.low[a - 1] in ("'s", "'")):
        a -= 1
    cs = s.clause_start(a)
    vg = _verb_group(s, a, cs)
    if s.has(L.NEG, max(cs, a - 4), a) or _irrealis(s, vg, a) or _conditional(s, vg, a) or \
            s.has(L.REMOVAL | L.NONDATA, a, i):
        return
    yield _Cand(PAUSE, "pause-noun", i, [(a, i)])


def _place_at(s: Sentence, j: int) -> bool:
    return any(p.first <= j <= p.last for p in s.places)


def _pause_over_after(s: Sentence, i: int, b: int) -> bool:
    return any(s.low[j] in _OVER or s.tags[j] & L.NO_LONGER for j in range(i + 1, min(s.n, b + 9)))


rule("passive-pause", PAUSE,
     "Requests, their handling or data for authorities as the subject of a paused state: 'are on hold', "
     "'have been suspended', 'will not be shared with police', 'has become unavailable to law enforcement'.",
     "All data requests from Russian investigators are being ignored until further notice.",
     "From Monday, recordings from the cameras will not be shared with police when they ask for them.")
rule("pause-ended", LIFT,
     "A pause as the subject of an ending: 'the suspension ... has ended', '... is no longer in effect', or "
     "requests that are 'no longer paused'.",
     "The suspension of data requests from Hong Kong has ended.",
     "Requests from Hong Kong authorities are no longer paused.")


@finder
def _passive(s: Sentence) -> Iterator[_Cand]:
    low, tags = s.low, s.tags
    for i in range(s.n):
        t = tags[i]
        tok = s.toks[i]
        participle = bool(t & (L.CEASE_V | L.REFUSE_V) and tok.form & L.PPART)
        held = bool(t & (L.HELD | L.UNAVAILABLE))
        negated_give = bool(t & (L.DISCLOSE_V | L.HANDLE_V) and tok.form & L.PPART) or low[i] in _AVAILABLE
        over = low[i] in _OVER or low[i] == "over"
        if t & L.PREVENT_V and tok.form & L.PPART and low[i + 1:i + 2] == ["from"]:
            yield from _prevented(s, i)
            continue
        in_place = low[i] in ("place", "effect", "force") and i and low[i - 1] == "in"
        if not (participle or held or negated_give or over or in_place):
            continue
        k = i - 1 if not in_place else i - 2
        cs = s.clause_start(k + 1)
        vg = _verb_group(s, k + 1, cs)
        if (participle or held) and k > 0 and low[k] in (":", "-", "—", "–") and cs == k + 1:
            # a label: "Requests from Hong Kong authorities: paused since July 2020"
            vg = _VG(k, L.BE, ["is"])
            cs = s.clause_start(k)
        predicate = vg.has(L.BE) or (held and k >= 0 and low[k] in _PUT) or (
            in_place and vg.has(L.BE | L.HAVE)) or (over and (vg.has(L.BE | L.HAVE) or tok.form & L.PAST)) or (
            held and any(w in _PUT for w in vg.lows))
        if not predicate:
            continue
        subj_a, subj_b = _subject_span(s, vg, cs)
        if subj_b <= subj_a:
            continue
        obj = _object(s, subj_a, subj_b)
        tail_end = s.scope_end(i)
        if obj is None:
            # "GEDMatch has become unavailable for use by law enforcement"
            if t & L.UNAVAILABLE and s.has(L.AUTH_N, i + 1, tail_end):
                obj = _Obj("channel", i, tail_end)
            elif negated_give and (vg.negated or vg.no_longer) and s.has(L.DATA_N, subj_a, subj_b) and \
                    s.has(L.AUTH_N, i + 1, tail_end):
                obj = _Obj("data", i, tail_end)  # "the footage ... will not be shared with police"
            else:
                continue
        if _irrealis(s, vg, i) or _conditional(s, vg, i) or _by_authority(s, i + 1, tail_end):
            continue
        spans = [(subj_a, subj_b), (i + 1, tail_end)]
        cessation = obj.kind == "cessation"
        if over or (in_place and cessation):
            if not cessation:
                continue
            if in_place:
                if vg.negated and not vg.no_longer:
                    continue
                kind = LIFT if vg.no_longer else PAUSE
                yield _Cand(kind, "pause-ended" if kind == LIFT else "passive-pause", i, spans)
            elif not vg.negated:
                yield _Cand(LIFT, "pause-ended", i, spans)
            continue
        if cessation:
            continue
        if negated_give and not (participle or held):
            # "will not be processed", "no longer available to the government"
            if not (vg.negated or vg.no_longer) or not _change_marked(s, vg, cs, tail_end):
                continue
            if low[i] in _AVAILABLE and obj.kind != "channel" and not s.has(L.AUTH_N, max(subj_a, 0), tail_end):
                continue
            if obj.kind == "data" and not s.has(L.AUTH_N, i + 1, tail_end):
                continue
            if obj.oneoff or obj.counted or _restrictive(s, obj) or (_exception(s, i, tail_end) and \
                    not s.places_in(subj_a, tail_end)):
                continue
            yield _Cand(PAUSE, "passive-pause", i, spans, back=obj.anaphoric)
            continue
        if vg.no_longer:
            yield _Cand(LIFT, "pause-ended", i, spans)
            continue
        if vg.negated:
            continue
        if t & L.REFUSE_V and not (vg.has(L.FUTURE) or "being" in vg.lows or "now" in vg.lows):
            continue  # "requests were rejected": a statistic, not a rule
        if obj.counted or obj.oneoff or _history(s, cs, i, tail_end) or _restrictive(s, obj):
            continue
        if obj.kind == "channel" and low[i] in ("suspended",) and s.has(L.NONDATA, subj_a, subj_b):
            continue
        yield _Cand(PAUSE, "passive-pause", i, spans, back=obj.anaphoric)


rule("put-on-hold", PAUSE, "Requests or their handling put (placed, kept) on hold.",
     "Apple has put on hold all requests for customer data from Russian authorities.",
     "Google has put all Hong Kong data requests on hold.")


@finder
def _put_on_hold(s: Sentence) -> Iterator[_Cand]:
    for i in range(s.n):
        if s.low[i] not in _PUT or s.tags[i] & L.BE:
            continue
        b = s.scope_end(i)
        held = next((j for j in range(i + 1, b) if s.tags[j] & L.HELD), -1)
        if held < 0:
            continue
        span = (i + 1, held) if held > i + 1 else (held + 1, b)
        obj = _object(s, *span)
        if obj is None or obj.kind in ("cessation", "implicit", "data"):
            continue
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if vg.negated or _irrealis(s, vg, i) or _conditional(s, vg, i) or _other_actor(s, vg, i):
            continue
        if vg.no_longer:
            yield _Cand(LIFT, "no-longer-pausing", i, [span])
        elif not _history(s, cs, i, b) and not obj.counted:
            yield _Cand(PAUSE, "put-on-hold", i, [span], back=obj.anaphoric)


def _prevented(s: Sentence, i: int) -> Iterator[_Cand]:
    """'users were excluded from law-enforcement searches', 'data is barred from police requests'."""
    cs = s.clause_start(i)
    vg = _verb_group(s, i, cs)
    if not vg.has(L.BE) or vg.negated or _irrealis(s, vg, i) or _conditional(s, vg, i):
        return
    b = s.scope_end(i + 1)
    start, _, head = _group(s, i + 2, b)
    if head >= 0 and s.tags[head] & L.REQ_N and s.has(L.AUTH_N, start, head):
        yield _Cand(PAUSE, "passive-pause", i, [(cs, vg.start), (i + 2, b)])


def _subject_span(s: Sentence, vg: _VG, cs: int) -> tuple[int, int]:
    """The subject before a verb group, stepping back over a relative clause
    ('Data requests from X, which the company had fulfilled, are now refused')."""
    a, b = cs, vg.start
    for _ in range(3):
        if s.has(L.CATEGORY, a, b) or a == 0:
            break
        marker = a - 1
        if s.low[marker] == ",":
            # a parenthetical between commas: "The pause ..., in place since July 2020, has been lifted"
            k = next((j for j in range(marker - 1, max(-1, marker - 10), -1) if s.low[j] == ","), -1)
            if k > 0:
                a, b = s.clause_start(k), k
                continue
        prev = s.clause_start(marker)
        relative = s.tags[marker] & L.REL or s.low[marker] in ("that", ",") or (
            prev > 0 and (s.tags[prev - 1] & L.REL or s.low[prev - 1] == "that"))
        if not relative:
            break
        a, b = prev, marker
        while b > a and (s.tags[b - 1] & L.REL or s.low[b - 1] in ("that", ",")):
            b -= 1
    return a, b


rule("authority-cannot-request", PAUSE,
     "Authorities who can no longer ask for data: 'police will no longer be able to request video', "
     "'preventing police from requesting footage', 'no longer allows police to request videos'.",
     "From next week, police departments won't be able to make such requests in the app.",
     "The company is preventing police from requesting customer videos through its portal.")


def _authority_subject(s: Sentence, a: int, b: int) -> bool:
    """The subject [a, b) is authorities, or 'they' after authorities named earlier in the sentence
    ('agencies can post publicly; they will no longer be able to send private requests')."""
    return s.has(L.AUTH_N, a, b) or (b - a == 1 and s.low[a] == "they" and s.has(L.AUTH_N, 0, a))


@finder
def _authority_cannot(s: Sentence) -> Iterator[_Cand]:
    low, tags = s.low, s.tags
    for i in range(s.n):
        t = tags[i]
        tok = s.toks[i]
        if t & L.PREVENT_V and tok.form & (L.GER | L.PAST | L.S3 | L.BASE | L.PPART) and _prevent_shape(s, i):
            # "preventing police from requesting footage"
            frm = next(j for j in range(i + 1, min(s.n, i + 9)) if low[j] == "from")
            if not s.has(L.AUTH_N, i + 1, frm) or not tags[frm + 1] & L.REQ_V:
                continue
            if s.toks[frm + 1].lemma in ("use", "get", "collect") and not s.has(L.DATA_N | L.REQ_N, frm + 2,
                                                                                  s.scope_end(frm + 1)):
                continue  # "block police from using its facial recognition tool": a product
            cs = s.clause_start(i)
            vg = _verb_group(s, i, cs)
            if vg.negated or _irrealis(s, vg, i) or _conditional(s, vg, i) or _other_actor(s, vg, i):
                continue
            if s.has(L.LAW | L.ACTOR_N, max(0, cs - 8), i) and not s.has(L.COMPANY_N, max(0, cs - 8), i):
                continue  # a law or an official prevents it
            yield _Cand(PAUSE, "authority-cannot-request", i, [(i + 1, s.scope_end(frm + 1))])
            continue
        if not t & L.REQ_V or t & L.DET:
            continue
        if not tok.form & (L.BASE | L.GER):
            continue
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        negated = vg.negated or vg.no_longer
        if i >= 3 and low[i - 1] == "to" and low[i - 2] == "not" and low[i - 3] == "but":
            # "police will still be able to use the app to share tips, but not to request videos"
            b = s.scope_end(i)
            if s.has(L.AUTH_N, 0, i - 3) and s.has(L.FUTURE | L.NO_LONGER | L.CHANGE, 0, i - 3) and \
                    s.has(L.DATA_N | L.REQ_N, i, b) and not _conditional(s, vg, i):
                yield _Cand(PAUSE, "authority-cannot-request", i, [(i + 1, b)])
            continue
        if not negated and "able" in vg.lows and not vg.has(L.STILL):
            subj_a, subj_b = _subject_span(s, vg, cs)
            b = s.scope_end(i)
            news = any(low[j] in ("new", "newly") for j in range(0, i)) or vg.has(L.AGAIN) or "now" in vg.lows
            if s.has(L.AUTH_N, subj_a, subj_b) and news and s.has(L.DATA_N | L.REQ_N, i, b) and \
                    vg.has(L.FUTURE | L.CHANGE) and not _conditional(s, vg, i) and not s.has(L.STILL, 0, s.n):
                yield _Cand(LIFT, "enable-requests", i, [(i + 1, b)])
            continue
        if not negated or "never" in vg.lows:
            continue
        subj_a, subj_b = _subject_span(s, vg, cs)
        if not _authority_subject(s, subj_a, subj_b):
            continue
        b = s.scope_end(i)
        obj_ok = s.has(L.DATA_N | L.REQ_N, i, b) or tok.lemma == "request" or (
            tok.lemma in ("make", "file", "submit") and s.has(L.REQ_N, i, b))
        if not obj_ok:
            continue
        if not (vg.no_longer or vg.has(L.FUTURE | L.CHANGE | L.WOULD) or _change_marked(s, vg, cs, b)):
            continue
        if vg.has(L.STILL) or s.has(L.STILL, vg.start, i) or _conditional(s, vg, i):
            continue
        if vg.has(L.MODAL) and not vg.no_longer and not vg.has(L.FUTURE):
            continue
        yield _Cand(PAUSE, "authority-cannot-request", i, [(i + 1, b)])
    # "they lose the ability to request footage", "police lost access to the videos"
    for i in range(s.n):
        if low[i] not in ("lose", "loses", "lost", "losing"):
            continue
        b = s.scope_end(i)
        ability = next((j for j in range(i + 1, min(b, i + 4)) if low[j] in ("ability", "access", "option")), -1)
        if ability < 0 or not (s.has(L.REQ_V, ability + 1, b) or s.has(L.DATA_N | L.REQ_N, ability + 1, b)):
            continue
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if vg.negated or vg.has(L.STILL) or _irrealis(s, vg, i) or _conditional(s, vg, i):
            continue
        subj_a, subj_b = _subject_span(s, vg, cs)
        if _authority_subject(s, subj_a, subj_b):
            yield _Cand(PAUSE, "authority-cannot-request", i, [(subj_a, subj_b), (ability + 1, b)], back=True)
    # "agencies won't be able to make such requests", "will not have access to the videos"
    for i in range(s.n):
        if low[i] not in ("make", "have", "submit", "file", "send") or not (i + 1 < s.n):
            continue
        b = s.scope_end(i)
        if not (s.has(L.REQ_N, i + 1, b) or (low[i] == "have" and s.toks[i + 1].lemma == "access" and
                s.has(L.DATA_N, i + 1, b))):
            continue
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if not (vg.negated or vg.no_longer) or "never" in vg.lows or vg.has(L.STILL):
            continue
        subj_a, subj_b = _subject_span(s, vg, cs)
        if not s.has(L.AUTH_N, subj_a, subj_b):
            continue
        if not (vg.no_longer or vg.has(L.FUTURE | L.CHANGE | L.WOULD)):
            continue
        yield _Cand(PAUSE, "authority-cannot-request", i, [(subj_a, subj_b), (i + 1, b)], back=True)


rule("mlat-redirect", PAUSE,
     "Requests redirected from now on to the Mutual Legal Assistance Treaty process: the company stopped "
     "answering that jurisdiction directly.",
     "The company told Hong Kong police it would instead route all requests for user data through the mutual "
     "legal assistance treaty process.")


@finder
def _mlat(s: Sentence) -> Iterator[_Cand]:
    mlat = s.find(L.MLAT, 0, s.n)
    if mlat < 0:
        return
    low = s.low
    if not any(low[j] in ("instead", "only", "henceforth") or s.tags[j] & (L.NO_LONGER | L.CHANGE)
               for j in range(s.n)):
        return
    if any(low[j] in ("always", "long", "usual", "continues", "continue") for j in range(s.n)):
        return
    verb = -1
    for j in range(mlat):
        if s.tags[j] & L.REDIRECT_V and (not s.tags[j] & L.DET or _is_verb_use(s, j)):
            verb = j
    if verb < 0 or not s.has(L.REQ_N, verb, mlat):
        return
    cs = s.clause_start(verb)
    vg = _verb_group(s, verb, cs)
    if vg.negated or _irrealis(s, vg, verb) or _other_actor(s, vg, verb):
        return
    yield _Cand(PAUSE, "mlat-redirect", verb, [(0, mlat)])


rule("resume+handling", LIFT,
     "A verb of resuming (resume, restore, reinstate, re-enable, revive, reintroduce) with the handling of "
     "requests, cooperation with authorities, or a request channel as its object.",
     "We have resumed processing data requests from Hong Kong authorities.",
     "The company has resumed allowing police to request doorbell footage from users.")
rule("resumed-intransitive", LIFT,
     "The handling of requests as the subject of 'has resumed', or a paused thing taken up again by pronoun.",
     "Our review of data requests from Hong Kong has resumed.",
     "In 2020 we paused requests from Hong Kong; we resumed them in 2022.")


@finder
def _resumptions(s: Sentence) -> Iterator[_Cand]:
    low, tags = s.low, s.tags
    for i in range(s.n):
        t = tags[i]
        tok = s.toks[i]
        if not t & (L.LIFT_V | L.LIFT_N):
            continue
        noun = bool(t & L.LIFT_N) and not (t & L.LIFT_V and _is_verb_use(s, i))
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if vg.negated or "never" in vg.lows or _irrealis(s, vg, i) or _conditional(s, vg, i):
            continue
        b = s.scope_end(i)
        a = i + 1
        if noun:
            if a < s.n and low[a] in ("of", "to", "in"):
                a += 1
            elif not (low[i] == "reversal" or tok.lemma in ("u turn",)):
                continue
        else:
            a = _skip_particle(s, a)
            if tok.form & L.PPART and vg.has(L.BE):
                # "requests ... are being processed again" is _again; "has been restored": subject
                subj_a, subj_b = _subject_span(s, vg, cs)
                obj = _object(s, subj_a, subj_b)
                if obj is not None and obj.kind in ("handling", "coop", "channel") and not _other_actor(s, vg, i):
                    yield _Cand(LIFT, "resume+handling", i, [(subj_a, subj_b), (a, b)])
                continue
        if low[i] in ("reversal",) or tok.lemma == "u turn":
            continue  # which way a reversal goes is in its object: _stop_verbs ("reverses a decision to end")
        obj = _object(s, a, b)
        if obj is not None and obj.kind not in ("data", "cessation", "implicit"):
            if _other_actor(s, vg, i) or (_history(s, cs, i, b) and not s.has(L.AGAIN, cs, b)):
                continue
            if obj.kind == "request" and not noun and tok.lemma not in ("resume", "restart", "reinstate"):
                continue  # "restored requests" is odd; "resumed data requests" is a lift
            yield _Cand(LIFT, "resume+handling", i, [(a, b)], back=obj.anaphoric)
            continue
        if noun:
            continue
        if a < s.n and low[a] in ("them", "it", "those", "these", "this", "that"):
            if _other_actor(s, vg, i):
                continue
            if _antecedent(s, cs) or s.has(L.CEASE_V, 0, cs):
                yield _Cand(LIFT, "resumed-intransitive", i, [(0, vg.start)])
            continue
        intransitive = a >= s.n or low[a] in ("now", "again", "today", "in", "on", "since", "as", "from", "after",
                                              "with", "effective", "last", "this", "for", ".", ",", ";") or \
            tags[a] & L.NUMBER or s.breaks[a]
        if not intransitive:
            continue
        subj_a, subj_b = _subject_span(s, vg, cs)
        obj = _object(s, subj_a, subj_b)
        if obj is not None and obj.kind in ("handling", "coop"):
            yield _Cand(LIFT, "resumed-intransitive", i, [(subj_a, subj_b)])
        elif s.has(L.PRON, subj_a, subj_b) and s.has(L.CEASE_V, 0, subj_a) and _antecedent(s, subj_a):
            yield _Cand(LIFT, "resumed-intransitive", i, [(0, subj_a)])  # "...; it resumed in 2021"


rule("again+handling", LIFT,
     "Handling requests again: 'will again respond to', 'is once again accepting', 'are being processed again'.",
     "Google will once again respond to data requests from Hong Kong authorities.",
     "Data requests from Hong Kong are being processed again.")


@finder
def _again(s: Sentence) -> Iterator[_Cand]:
    if s.find(L.AGAIN, 0, s.n) < 0:
        return
    for i in range(s.n):
        t = s.tags[i]
        if not t & (L.HANDLE_V | L.DISCLOSE_V) or t & L.DET:
            continue
        tok = s.toks[i]
        if not tok.form & (L.BASE | L.GER | L.S3 | L.PAST | L.PPART):
            continue
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        b = s.scope_end(i)
        if not (vg.has(L.AGAIN) or s.has(L.AGAIN, i + 1, b + 2)):
            continue
        if vg.negated or vg.no_longer or _irrealis(s, vg, i) or _conditional(s, vg, i) or _other_actor(s, vg, i):
            continue
        if tok.form & L.PPART and vg.has(L.BE):
            subj_a, subj_b = _subject_span(s, vg, cs)
            if s.has(L.REQ_N, subj_a, subj_b):
                yield _Cand(LIFT, "again+handling", i, [(subj_a, subj_b), (i + 1, b)])
            continue
        obj = _verb_object(s, i, b)
        if obj is None or obj.kind not in ("handling", "coop"):
            continue
        if not s.has(L.REQ_N, i, b) and not vg.has(L.FUTURE):
            continue  # "again shared data with the police" tells of one event
        yield _Cand(LIFT, "again+handling", i, [(i + 1, b)], back=obj.anaphoric)


rule("enable-requests", LIFT,
     "Authorities newly allowed to ask for data: 'is now letting law enforcement request video footage', "
     "'the new partnership will enable police to request video'.",
     "After years of restrictions, the doorbell maker is now letting police request camera footage again.")


@finder
def _enable(s: Sentence) -> Iterator[_Cand]:
    low, tags = s.low, s.tags
    for i in range(s.n):
        if not tags[i] & L.ENABLE_V or tags[i] & L.DET:
            continue
        b = s.scope_end(i)
        obj = _verb_object(s, i, b)
        if obj is None or obj.kind != "channel":
            continue
        cs = s.clause_start(i)
        vg = _verb_group(s, i, cs)
        if vg.negated or vg.no_longer or vg.has(L.STILL) or _irrealis(s, vg, i) or _conditional(s, vg, i):
            continue
        if _other_actor(s, vg, i) or s.has(L.STILL, cs, b):
            continue
        marked = vg.has(L.AGAIN) or "now" in vg.lows or any(low[j] in ("new", "newly") for j in range(0, i)) or \
            s.has(L.AGAIN, i, b) or (not s.toks[i].form & L.PAST and _new_arrangement(s, cs, vg.start))
        if not marked:
            continue
        if any(low[j] in ("start", "started", "starting", "begin", "began") for j in range(cs, i)) and \
                not vg.has(L.AGAIN):
            continue
        yield _Cand(LIFT, "enable-requests", i, [(i + 1, b)])


_ARRANGEMENTS = frozenset({"collaboration", "partnership", "integration", "arrangement", "deal", "agreement",
                           "alliance", "tie-up"})


def _new_arrangement(s: Sentence, a: int, b: int) -> bool:
    """'This collaboration', 'the new integration': a subject that is the news itself."""
    for j in range(a, b):
        if s.low[j] in _ARRANGEMENTS or s.toks[j].lemma in _ARRANGEMENTS:
            return any(s.low[k] in ("this", "new", "these") for k in range(max(a, j - 3), j))
    return False


rule("opt-in-required", PAUSE,
     "Users' data taken out of reach of authorities by default: 'users must opt in to make their profiles "
     "available to law enforcement', 'accounts have been opted out of police matching'.",
     "From today, members must opt in before their DNA profiles can be used in police investigations.")

_OPT_REQUIRED = frozenset({"must", "required", "requires", "require", "only", "now", "need", "needs"})
_OPT_DEFAULT = frozenset({"automatically", "default", "been", "were", "was", "be", "are", "is"})
_OPT_USE = frozenset({"available", "matching", "match", "searches", "search", "investigations", "assist", "included",
                      "access", "use", "used", "uploaded", "purposes"})


@finder
def _opt_in(s: Sentence) -> Iterator[_Cand]:
    """Police access to user data made opt-in: a channel through which authorities get data, closed by default."""
    low = s.low
    for i in range(s.n - 1):
        if low[i] not in ("opt", "opts", "opted", "opting") or low[i + 1] not in ("in", "out", "into"):
            continue
        if not s.has(L.AUTH_N, 0, s.n) or not (s.has(L.DATA_N, 0, s.n) or any(w in _OPT_USE for w in low)):
            return
        before = low[max(0, i - 6):i]
        marked = any(w in _OPT_REQUIRED for w in before) if low[i + 1] != "out" else any(
            w in _OPT_DEFAULT for w in before)
        vg = _verb_group(s, i, s.clause_start(i))
        if not marked or vg.negated or "can" in vg.lows or "may" in vg.lows or _conditional(s, vg, i):
            return
        yield _Cand(PAUSE, "opt-in-required", i, [])
        return


# ---------------------------------------------------------------------------------------------
# Sentence -> assertions
# ---------------------------------------------------------------------------------------------

_DENY_FORMS = frozenset({"deny", "denies", "denied", "denying", "dismissed", "dismisses", "rejected", "rejects"})


def _denied(s: Sentence) -> bool:
    """A correction or denial anywhere in the sentence: 'reports that we suspended ... are false'."""
    if s.find(L.DENIAL, 0, s.n) >= 0:
        return True
    for j in range(s.n - 1):
        if s.low[j] in _DENY_FORMS and (s.low[j + 1] in ("that", "reports", "claims", "allegations", "having",
                                                         "suggestions", "rumours", "rumors", "any", "it")
                                        or (s.toks[j + 1].form & L.GER and s.tags[j + 1] & L.VERB)):
            return True
    return False


def _question(s: Sentence) -> bool:
    return s.n > 0 and (s.low[-1] == "?" or "?" in s.low[-3:])


def _codes(s: Sentence, cand: _Cand) -> tuple[list[str], str]:
    """Jurisdictions of a candidate and where they came from."""
    codes: list[str] = []
    for a, b in cand.spans:
        for p in s.places_in(a, _before_cause(s, a, b)):
            if p.code not in codes:
                codes.append(p.code)
    if codes:
        return codes, "sentence"
    # "In Hong Kong, we have paused ..."
    if s.n > 2 and s.low[0] in ("in", "for", "regarding", "concerning", "as", "with"):
        comma = next((j for j in range(1, min(s.n, 8)) if s.low[j] == ","), -1)
        if comma > 0 and comma < cand.trigger:
            fronted = [p.code for p in s.places_in(0, comma)]
            if len(fronted) == 1:
                return fronted, "fronted"
    # "Hong Kong: we have paused ...", a label before a colon
    colon = next((j for j in range(0, min(s.n, 6)) if s.low[j] == ":"), -1)
    if 0 < colon < cand.trigger:
        label = [p.code for p in s.places_in(0, colon, targets_only=False) if not p.excluded or p.in_law]
        if len(label) == 1:
            return label, "fronted"
    if cand.back or any(s.has(L.ANAPHOR, a, b) for a, b in cand.spans):
        found = _antecedent_place(s, cand)
        if found:
            return [found], "anaphor"
    # "told Hong Kong police that it won't respond to user data requests": whose authorities are named
    named = {p.code for p in s.places if p.last + 1 < s.n and s.tags[p.last + 1] & L.AUTH_N
             and not p.excluded and not p.in_law and _addressed(s, p.first)}
    if len(named) == 1:
        return [named.pop()], "authority"
    return [], ""


_TOLD = frozenset({"told", "tell", "tells", "informed", "informs", "notified", "notifies", "wrote", "letter",
                   "letters", "message", "replied", "responded", "explained"})


def _addressed(s: Sentence, first: int) -> bool:
    """A place named as the addressee: 'told Hong Kong police', 'wrote to the Russian authorities'."""
    return any(s.low[j] in _TOLD for j in range(max(0, first - 3), first))


_CAUSES = (("in", "response", "to"), ("in", "reaction", "to"), ("as", "a", "result", "of"), ("because", "of"),
           ("due", "to"), ("following",), ("amid",), ("after",))


def _before_cause(s: Sentence, a: int, b: int) -> int:
    """Where a cause after a comma starts in [a, b) ('..., in response to China's new law'), else b: the
    place a cause names is not the one whose requests are paused."""
    for j in range(a + 1, b - 1):
        if s.low[j] == "," and any(tuple(s.low[j + 1:j + 1 + len(c)]) == c for c in _CAUSES):
            return j if s.places_in(a, j) else b
    return b


def _antecedent_place(s: Sentence, cand: _Cand) -> str | None:
    """'these requests', 'the city's authorities', 'local government requests': the place named before."""
    words = {s.low[j] for a, b in cand.spans for j in range(a, b)}
    # "the city" may be one named in passing ("Hong Kong app stores"); "such requests" never points to a
    # company's nationality ("the US tech giant ... such requests")
    kind_word = bool(words & {"city", "territory", "island", "country", "nation"})
    before = [p for p in s.places if p.last < cand.trigger and (not p.excluded or p.in_law or kind_word)]
    if not before:
        return None
    non_law = [p for p in before if not p.in_law]
    if not non_law:
        return None
    if words & {"city", "territory", "island"}:
        city = [p for p in non_law if p.code in _CITY_CODES] or [p for p in before if p.code in _CITY_CODES]
        if city:
            return city[-1].code
    if words & {"country", "nation"}:
        country = [p for p in non_law if p.code not in _CITY_CODES]
        if country:
            return country[-1].code
    return non_law[-1].code


def explain(sentence: str, company: str | None = None) -> list[Assertion]:
    """Every rule that fires on a sentence, before one finding per jurisdiction is kept (for tests, docs
    and `classify --explain`)."""
    out: list[Assertion] = []
    found = _words(sentence)
    if found.isdisjoint(_ACTIONS) and (found.isdisjoint(_NEGATIONS) or found.isdisjoint(_HANDLING)) and (
            found.isdisjoint(_ENABLERS) or found.isdisjoint(_AUTHORITIES)):
        return out  # most sentences of a page: nothing here can start a rule
    for s in analyse(sentence):
        if s.n == 0 or _question(s) or _denied(s):
            continue
        for fn in _FINDERS:
            for cand in fn(s):
                if _counterfactual(s, cand.trigger):
                    continue
                codes, how = _codes(s, cand)
                pos = s.toks[cand.trigger].start
                out.extend(Assertion(cand.kind, code, cand.rule, pos, how) for code in codes or [None])
    return out


def _counterfactual(s: Sentence, trigger: int) -> bool:
    """'would have marked a return', 'could have refused': in the trigger's clause, nothing that happened."""
    for j in range(s.clause_start(trigger), trigger):
        if s.low[j] in ("would", "could", "might") and j + 1 < trigger and s.low[j + 1] == "have":
            return True
    return False


def assess(sentence: str, company: str | None = None) -> list[Assertion]:
    """Pause / lift assertions in one sentence, one per jurisdiction (None when it names none), in order of
    the trigger. A jurisdiction with both a pause and a lift in the sentence gets the lift only."""
    assertions = explain(sentence, company)
    if not assertions:  # most sentences
        return assertions
    found: dict[str | None, Assertion] = {}
    for a in assertions:
        prev = found.get(a.jurisdiction)
        if prev is None or (prev.kind == PAUSE and a.kind == LIFT):
            found[a.jurisdiction] = a
    if None in found and len(found) > 1:
        # a sentence that names a jurisdiction for one finding does not add an unspecified twin of it
        unnamed = found[None]
        if any(a.kind == unnamed.kind for code, a in found.items() if code is not None):
            del found[None]
    return sorted(found.values(), key=lambda a: (a.pos, a.jurisdiction or ""))


_ACTIONS, _NEGATIONS, _HANDLING, _ENABLERS, _AUTHORITIES = L.trigger_words()
# Every byte but a-z becomes a space (a character beyond ASCII is first one "?").
_NOT_AZ = bytes(c if 97 <= c <= 122 else 32 for c in range(256))


def _words(sentence: str) -> set[str]:
    """The runs of a-z in the lowercased sentence (what re.findall("[a-z]+") finds), by C passes
    over the whole sentence: this prefilter sees every sentence of every page classified."""
    return set(sentence.lower().encode("ascii", "replace").translate(_NOT_AZ).decode("ascii").split())


def rule_names() -> list[str]:
    return [r.name for r in RULES]
