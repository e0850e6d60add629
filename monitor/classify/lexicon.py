"""Word classes for the sentence analysis: every surface form -> (tags, lemma, form bits).

Rules never match strings; they ask a token what it is: a verb that stops something (CEASE_V), a
noun for a request (REQ_N), an authority (AUTH_N), a negation, a modal, ... Each class is listed by
lemma and inflected here (regular morphology plus a table of irregular forms), so "suspend" also
covers "suspends", "suspended" and "suspending", and a new synonym is one word in one list.
Multi-word expressions ("law enforcement", "no longer", "hand over" is not one: its particle may
move) are joined into one token by the tokenizer, longest first.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- tags (bit flags: a token may be several things, e.g. "requests" is a noun and a verb) ----
CEASE_V = 1 << 0  # pause, suspend, halt, stop, end, sunset, kill ...
REFUSE_V = 1 << 1  # refuse, decline, deny, reject, withhold, ignore ...
LIFT_V = 1 << 2  # resume, restore, reinstate, re-enable, revive ...
HANDLE_V = 1 << 3  # process, respond, review, comply ... (a request is handled)
DISCLOSE_V = 1 << 4  # provide, share, hand over, produce ... (data is given)
REQ_V = 1 << 5  # request, ask for, obtain, access ... (what an authority does)
ENABLE_V = 1 << 6  # allow, let, enable, permit
PREVENT_V = 1 << 7  # prevent, bar, prohibit, exclude
CEASE_N = 1 << 8  # pause, suspension, moratorium, halt, freeze, refusal ...
LIFT_N = 1 << 9  # resumption, restoration, reinstatement, reversal ...
HANDLE_N = 1 << 10  # processing, response, review, disclosure, cooperation ...
REQ_N = 1 << 11  # request, demand, order, subpoena, warrant ...
DATA_N = 1 << 12  # data, information, records, footage ...
AUTH_N = 1 << 13  # government, authorities, police, law enforcement ...
CHANNEL_N = 1 << 14  # tool, feature, program, portal, access, ability ...
NONDATA = 1 << 15  # sales, ads, sign-ups, service, accounts, AI training ... (and their verbs)
COOP = 1 << 16  # cooperate, cooperation, assist, work with (an authority is enough of an object)
UNAVAILABLE = 1 << 17  # unavailable, inaccessible (data no longer reachable by authorities)
NEG = 1 << 18  # not, n't, never, neither, nor, no
NO_LONGER = 1 << 19  # no longer, any longer, anymore
MODAL = 1 << 20  # may, might, could, should, must, can
FUTURE = 1 << 21  # will, shall, 'll
WOULD = 1 << 22  # would, 'd
BE = 1 << 23
HAVE = 1 << 24
DO = 1 << 25
ADV = 1 << 26  # adverbs that may sit inside a verb group
IRREALIS = 1 << 27  # plan, intend, consider, threaten, urge, want ... (the action is not asserted)
CHANGE = 1 << 28  # for now, until further notice, temporarily, henceforth ... (a negation is a change)
AGAIN = 1 << 29  # again, once again, anew
STILL = 1 << 30  # still, continue
HISTORY = 1 << 31  # previously, formerly, used to ... (a state that is over)
DENIAL = 1 << 32  # false, untrue, wrong, denied reports ...
DELIB = 1 << 33  # whether, considering, weighing, under review ...
MANNER = 1 << 34  # quietly, secretly (a change of manner, not of handling)
REPORT = 1 << 35  # said, told, announced ...
SUBORD = 1 << 36  # while, after, because, until, if ...
REL = 1 << 37  # which, who, whose
DET = 1 << 38  # the, a, all, any, its, new, such ...
PREP = 1 << 39
PRON = 1 << 40  # we, it, they, he, she (a subject that is the company, or its spokesperson)
ANAPHOR = 1 << 41  # these, those, such, them, the city ... (points back to a named place)
COMPANY_N = 1 << 42  # company, firm, platform, spokesperson ...
MLAT = 1 << 43  # mutual legal assistance (treaty)
NUMBER = 1 << 44
PASSTHRU = 1 << 45  # use, practice, remnants, elements, ability: look at the "of" complement
ASSERT = 1 << 46  # decide, agree, choose, begin, vow ... (control verbs that keep the action asserted)
CAPABILITY = 1 << 47  # can't, unable, impossible, not feasible (inability, not a decision)
PURPOSE = 1 << 48  # review, assess, protect ... after "to": a purpose clause ends an object
LAW = 1 << 49  # law, legislation, act, treaty: a place named in it is not a target
REDIRECT_V = 1 << 50  # direct, route, refer (requests to the MLAT process)
REMOVAL = 1 << 51  # takedown, removal, remove, block: requests that are not for user data
CONJ = 1 << 52  # and, or, but
ACTOR_N = 1 << 53  # lawmakers, activists, senators, critics: another actor speaking
ARTICLE = 1 << 54  # a, an (a singular request is a one-off or a hypothetical)
HELD = 1 << 55  # on hold, on pause (a paused state)
VERB = (CEASE_V | REFUSE_V | LIFT_V | HANDLE_V | DISCLOSE_V | REQ_V | ENABLE_V | PREVENT_V | REDIRECT_V)
AUX = MODAL | FUTURE | WOULD | BE | HAVE | DO
CATEGORY = (CEASE_N | LIFT_N | HANDLE_N | REQ_N | DATA_N | AUTH_N | CHANNEL_N | NONDATA | COOP)

# ---- forms ----
BASE, S3, PAST, PPART, GER, SG, PL = 1, 2, 4, 8, 16, 32, 64


@dataclass(frozen=True)
class Entry:
    tags: int
    lemma: str
    form: int = 0


# Irregular verbs: lemma -> (past, past participle).
_IRREGULAR = {
    "freeze": ("froze", "frozen"), "unfreeze": ("unfroze", "unfrozen"), "withhold": ("withheld", "withheld"),
    "give": ("gave", "given"), "deal": ("dealt", "dealt"), "shut": ("shut", "shut"), "cut": ("cut", "cut"),
    "let": ("let", "let"), "withdraw": ("withdrew", "withdrawn"), "hold": ("held", "held"),
    "put": ("put", "put"), "bring": ("brought", "brought"), "get": ("got", "gotten"), "see": ("saw", "seen"),
    "seek": ("sought", "sought"), "tell": ("told", "told"), "say": ("said", "said"), "send": ("sent", "sent"),
    "take": ("took", "taken"), "make": ("made", "made"), "keep": ("kept", "kept"), "quit": ("quit", "quit"),
    "undertake": ("undertook", "undertaken"), "forbid": ("forbade", "forbidden"), "sell": ("sold", "sold"),
    "begin": ("began", "begun"), "choose": ("chose", "chosen"), "write": ("wrote", "written"),
    "bar": ("barred", "barred"), "can": ("canned", "canned"), "set": ("set", "set"),
}
# Final consonant doubled before -ed / -ing.
_DOUBLE = frozenset({
    "stop", "drop", "scrap", "ban", "bar", "can", "plan", "submit", "transfer", "permit", "admit", "commit",
    "refer", "ship", "quit", "cut", "shut", "let", "put", "set", "get", "begin", "axe", "sunset", "nix",
    "unplug", "equip", "compel", "control", "annul", "fulfil", "channel", "signal",
})


def _verb_forms(lemma: str) -> dict[str, int]:
    forms: dict[str, int] = {lemma: BASE}
    last = lemma[-1]
    if lemma.endswith(("s", "sh", "ch", "x", "z", "o")):
        s3 = lemma + "es"
    elif last == "y" and lemma[-2] not in "aeiou":
        s3 = lemma[:-1] + "ies"
    else:
        s3 = lemma + "s"
    forms[s3] = forms.get(s3, 0) | S3
    if lemma in _IRREGULAR:
        past, ppart = _IRREGULAR[lemma]
    elif lemma in _DOUBLE and lemma not in ("axe", "sunset", "nix"):
        past = ppart = lemma + last + "ed"
    elif last == "e":
        past = ppart = lemma + "d"
    elif last == "y" and lemma[-2] not in "aeiou":
        past = ppart = lemma[:-1] + "ied"
    else:
        past = ppart = lemma + "ed"
    forms[past] = forms.get(past, 0) | PAST
    forms[ppart] = forms.get(ppart, 0) | PPART
    if lemma.endswith("ie"):
        ing = lemma[:-2] + "ying"
    elif last == "e" and not lemma.endswith(("ee", "ye", "oe")):
        ing = lemma[:-1] + "ing"
    elif lemma in _DOUBLE and lemma not in ("axe", "nix"):
        ing = lemma + last + "ing"
    else:
        ing = lemma + "ing"
    forms[ing] = forms.get(ing, 0) | GER
    if lemma == "sunset":
        forms["sunsetted"] = PAST | PPART
    if lemma == "fulfil":
        forms.update({"fulfill": BASE, "fulfills": S3, "fulfilled": PAST | PPART, "fulfilling": GER})
    return forms


def _noun_forms(lemma: str) -> dict[str, int]:
    if lemma.endswith(("s", "sh", "ch", "x", "z")):
        plural = lemma + "es"
    elif lemma.endswith("y") and lemma[-2] not in "aeiou":
        plural = lemma[:-1] + "ies"
    else:
        plural = lemma + "s"
    return {lemma: SG, plural: PL}


_TABLE: dict[str, Entry] = {}
_MWE: dict[tuple[str, ...], Entry] = {}


def _add(form: str, tags: int, lemma: str, bits: int = 0) -> None:
    if " " in form:
        key = tuple(form.split())
        old = _MWE.get(key)
        _MWE[key] = Entry(tags | (old.tags if old else 0), lemma, bits | (old.form if old else 0))
        return
    old = _TABLE.get(form)
    _TABLE[form] = Entry(tags | (old.tags if old else 0), old.lemma if old else lemma, bits | (old.form if old else 0))


def verbs(tags: int, *lemmas: str) -> None:
    for lemma in lemmas:
        parts = lemma.split()
        if parts[0] in ("re", "co", "un") and len(parts) == 2:  # re-enable: the verb is the last word
            for form, bits in _verb_forms(parts[1]).items():
                _add(f"{parts[0]} {form}", tags, lemma, bits)
            continue
        for form, bits in _verb_forms(parts[0]).items():
            _add(" ".join([form, *parts[1:]]), tags, lemma, bits)


def nouns(tags: int, *lemmas: str) -> None:
    for lemma in lemmas:
        words = lemma.split()
        for form, bits in _noun_forms(words[-1]).items():
            _add(" ".join([*words[:-1], form]), tags, lemma, bits)


def words(tags: int, *forms: str) -> None:
    for form in forms:
        _add(form, tags, form)


# ---- the action: stopping, refusing, resuming ------------------------------------------------
verbs(CEASE_V, "pause", "suspend", "halt", "stop", "freeze", "cease", "discontinue", "terminate", "end", "sunset",
      "eliminate", "kill", "scrap", "drop", "abandon", "dismantle", "shut", "disable", "deactivate", "withdraw",
      "block", "retire", "axe", "shelve", "ditch", "nix", "quit", "close", "remove", "cut", "shutter",
      "curtail", "switch off", "turn off", "wind down", "phase out", "put an end to", "lift", "rescind",
      "revoke", "reverse", "undo", "overturn", "expire", "conclude", "cut off", "shut down", "pull the plug on",
      "cancel", "abolish", "retract", "deprecate", "disband", "roll back", "scale back", "pull")
words(CEASE_V, "canned", "canning")  # not the modal "can"
verbs(REFUSE_V, "refuse", "decline", "deny", "reject", "withhold", "ignore", "rebuff", "spurn", "turn down",
      "snub", "resist", "boycott", "defy", "stonewall", "balk at", "push back on")
verbs(LIFT_V, "resume", "restore", "reinstate", "reenable", "re enable", "revive", "reintroduce", "restart",
      "reopen", "unpause", "unfreeze", "recommence", "relaunch", "reactivate", "reestablish", "re establish",
      "reinstitute", "bring back", "return to", "renew")
verbs(HANDLE_V | COOP, "cooperate", "co operate", "collaborate", "assist", "work with", "engage with", "help",
      "partner with")
verbs(HANDLE_V, "process", "respond", "reply", "answer", "review", "consider", "handle", "accept", "entertain",
      "action", "act on", "deal with", "honor", "honour", "fulfil", "execute", "grant", "comply", "yield",
      "accommodate", "approve", "obey", "heed", "accede to", "acquiesce to", "give effect to")
verbs(DISCLOSE_V, "hand", "turn", "produce", "disclose", "provide", "share", "supply", "give", "release",
      "deliver", "transfer", "pass", "submit", "reveal", "surrender", "furnish", "divulge", "unlock", "decrypt",
      "send", "extract", "perform", "relay", "forward", "leak", "make available", "transmit", "pass along",
      "open up")
verbs(DISCLOSE_V, "hand over", "turn over", "give up", "pass on", "hand out")
_add("hand over", HANDLE_N, "hand over", SG)
verbs(REQ_V, "request", "ask", "seek", "obtain", "access", "get", "receive", "search", "demand", "subpoena",
      "see", "view", "acquire", "collect", "query", "use", "tap")
verbs(ENABLE_V, "allow", "let", "enable", "permit", "authorize", "authorise", "empower")
verbs(PREVENT_V, "prevent", "bar", "prohibit", "exclude", "forbid", "ban", "stop", "block", "keep")
verbs(REDIRECT_V, "direct", "redirect", "route", "reroute", "refer", "send", "point", "channel", "require",
      "insist", "steer", "funnel")

nouns(CEASE_N, "pause", "suspension", "halt", "freeze", "moratorium", "cessation", "stop", "end", "termination",
      "discontinuation", "shutdown", "elimination", "hold", "withdrawal", "refusal", "denial", "rejection",
      "ban", "embargo", "blackout", "sunsetting", "sunset", "closure", "demise", "removal", "non-compliance",
      "noncompliance", "restriction", "block", "blockade", "limit", "prohibition", "retirement", "canning",
      "abandonment", "dismantling")
nouns(LIFT_N, "resumption", "restoration", "reinstatement", "reintroduction", "revival", "reversal", "return",
      "relaunch", "reactivation", "restart", "u turn", "reopening")

# ---- the object: handling requests, giving data, cooperating ---------------------------------
nouns(HANDLE_N, "processing", "response", "review", "assessment", "evaluation", "vetting", "scrutiny",
      "examination", "consideration", "handling", "acceptance", "compliance",
      "fulfilment", "fulfillment", "production", "provision", "disclosure", "sharing", "handover",
      "delivery", "release", "extraction", "answer", "reply", "disclosing", "data sharing", "data-sharing")
nouns(HANDLE_N | COOP, "cooperation", "co operation", "collaboration", "assistance", "engagement", "partnership",
      "help", "exchange", "data exchange",
      "relationship", "interaction", "ties")
nouns(REQ_N, "request", "demand", "order", "subpoena", "warrant", "inquiry", "enquiry", "legal process",
      "search warrant", "court order", "production order", "preservation request", "legal demand",
      "data request", "information request", "application", "query", "petition", "search", "summons",
      "requisition", "national security letter", "emergency request", "geofence warrant", "keyword warrant")
nouns(DATA_N, "data", "information", "info", "record", "footage", "video", "recording", "content",
      "communication", "message", "detail", "metadata", "log", "ip address", "phone number", "identity",
      "identification", "image", "photo", "picture", "contact", "email", "e mail", "file", "location",
      "user name", "username", "name", "chat", "evidence", "clip", "imagery", "material", "dna", "profile",
      "kit", "subscriber", "account data", "account information", "text", "post", "user data",
      "personal data", "personal information")
words(DATA_N, "data", "information", "footage", "metadata", "content", "dna", "info")
nouns(AUTH_N, "government", "authority", "police", "law enforcement", "court", "judge", "official", "officer",
      "agency", "prosecutor", "investigator", "intelligence", "security service", "military", "junta",
      "regulator", "ministry", "department", "bureau", "cop", "sheriff", "law enforcer", "tribunal",
      "magistrate", "state agency", "security agency", "public safety agency", "authorities", "detective",
      "procuracy", "procurator", "prosecution", "investigative body", "state body", "government body",
      "law enforcement body", "enforcement agency",
      "police force", "police department", "fire department", "government agency", "attorney general",
      "district attorney", "homeland security", "border patrol", "spy agency", "secret service",
      "sheriff's office", "security bureau", "interior ministry", "public prosecutor", "immigration agent",
      "immigration official", "customs official")
words(AUTH_N, "police", "fbi", "fsb", "kgb", "ice", "cbp", "nsa", "doj", "dhs", "tatmadaw", "kremlin",
      "roskomnadzor", "prc", "ccp", "authorities", "cops", "knpa")
nouns(CHANNEL_N, "tool", "feature", "program", "programme", "portal", "mechanism", "process", "integration",
      "access", "ability", "option", "capability", "channel", "function", "functionality", "pipeline",
      "arrangement", "system", "avenue", "request tool", "interface", "platform")
nouns(NONDATA, "sale", "advertising", "advertisement", "ad", "sign up", "sign-up", "signup", "registration",
      "membership", "member", "service", "operation", "business", "export", "product", "account",
      "subscription", "renewal", "hiring", "training", "monetization", "monetisation", "news", "page",
      "launch", "rollout", "roll out", "key", "encryption", "backdoor", "connectivity", "internet", "licence",
      "license", "approval", "visa", "transaction", "payment", "customer", "shipment", "investment",
      "research", "investigation", "censorship", "takedown", "take down", "deletion", "app", "apps",
      "data center", "data centre", "server", "transfer", "data transfer", "threat intelligence", "game",
      "recommendation", "traffic", "map", "store", "auto suggest", "auto-suggest", "search engine", "ban",
      "content moderation", "moderation", "comment", "partnership program", "office", "staff", "employee",
      "plan", "effort", "purpose", "privacy policy", "artificial intelligence", "notice", "notification",
      "law", "legislation")
verbs(NONDATA, "sell", "advertise", "train", "censor", "operate", "offer", "recommend", "monetize", "ship",
      "hire", "store", "host", "localize", "localise", "delete", "publish", "show", "launch", "roll", "open",
      "collect", "notify", "alert", "inform", "pay", "charge", "invest", "export", "list", "index", "display",
      "feature", "promote", "sign", "register")
words(REMOVAL, "takedown", "takedowns", "removal", "removals", "remove", "delete", "deletion", "block", "blocking",
      "censor", "censorship", "delisting", "delist", "erasure", "erase", "suspend", "restrict", "ban", "take",
      "unblock", "unban", "comment", "comments", "interview", "interviews", "refund", "refunds", "unmask",
      "geoblock", "geo-block", "deactivate", "close", "disable", "shut", "moderation", "lift")
# Partitive / generic heads: the qualifying noun is in their "of" complement.
words(PASSTHRU, "use", "practice", "remnants", "remnant", "elements", "element", "parts", "part", "rest", "bulk",
      "majority", "portion", "most", "all", "some", "any", "much", "many", "number", "handful", "ability", "policy",
      "process", "system", "version", "kind", "type", "types", "form", "forms", "category", "categories")

# ---- verb groups: auxiliaries, negation, modality, time ---------------------------------------
words(NEG, "not", "n't", "never", "neither", "nor", "no", "cannot", "fail", "fails", "failed", "failing")
_add("no longer", NEG | NO_LONGER, "no longer")
_add("short of", NEG, "short of")  # "stopped short of pausing"
_add("any longer", NO_LONGER | CHANGE, "any longer")
_add("anymore", NO_LONGER | CHANGE, "anymore")
_add("any more", NO_LONGER | CHANGE, "any more")
words(MODAL, "may", "might", "could", "should", "must", "can", "ca", "cannot", "ought")
words(CAPABILITY, "cannot", "ca", "unable", "impossible", "infeasible", "incapable", "can")
_add("not feasible", CAPABILITY, "not feasible")
_add("not possible", CAPABILITY, "not possible")
_add("technically feasible", CAPABILITY, "technically feasible")
words(FUTURE, "will", "'ll", "shall", "wo", "sha")
_add("going to", FUTURE, "going to")
_add("gon na", FUTURE, "going to")
words(WOULD, "would", "'d")
words(BE, "be", "is", "are", "was", "were", "been", "being", "am", "'re", "'m", "remain", "remains", "remained",
      "remaining", "stay", "stays", "stayed", "become", "becomes", "became", "get", "gets", "got")
words(HAVE, "have", "has", "had", "having", "'ve")
words(DO, "do", "does", "did")
words(ADV, "also", "too", "now", "already", "immediately", "temporarily", "effectively", "currently",
      "indefinitely", "completely", "entirely", "fully", "formally", "officially", "reportedly", "further",
      "directly", "voluntarily", "largely", "just", "then", "recently", "promptly", "swiftly", "subsequently",
      "therefore", "thus", "actually", "essentially", "simply", "generally", "actively", "instead", "even", "yet",
      "ever", "presently", "since", "all", "both", "each", "so", "publicly", "mostly", "partially", "partly",
      "broadly", "ultimately", "finally", "first", "initially", "later", "soon", "shortly", "today",
      "altogether", "outright", "unilaterally", "globally", "once", "really", "in turn", "explicitly",
      "abruptly", "suddenly", "silently", "quickly", "eventually", "categorically", "flatly", "firmly",
      "permanently", "fundamentally", "reluctantly", "openly", "again", "also", "likewise", "similarly",
      "as well", "not only", "only", "at least", "at present", "for now", "for the time being", "at this time",
      "at the moment", "largely", "increasingly", "widely", "already", "automatically", "collectively",
      "separately", "jointly", "apparently", "allegedly", "seemingly", "gradually", "slowly", "always")
words(CHANGE, "temporarily", "henceforth", "immediately", "currently", "presently", "anymore", "indefinitely",
      "pending", "permanently", "now", "newly")
for _phrase in ("for now", "for the time being", "at present", "at this time", "at the moment", "until further notice",
                "from now on", "going forward", "moving forward", "in the immediate future",
                "for the foreseeable future",
                "effective immediately", "with immediate effect", "as of today", "as of now", "until further",
                "in future", "in the future", "from today", "as of this week", "no more", "any more"):
    _add(_phrase, CHANGE, _phrase)
words(AGAIN, "again", "anew")
_add("once again", AGAIN, "once again")
_add("once more", AGAIN, "once more")
words(STILL, "still", "continue", "continues", "continued", "continuing", "keep", "keeps", "kept")
_add("as usual", STILL, "as usual")
_add("as before", STILL, "as before")
words(HISTORY, "previously", "formerly", "once", "earlier", "historically", "originally")
_add("used to", HISTORY, "used to")
_add("at one point", HISTORY, "at one point")
_add("in the past", HISTORY, "in the past")
_add("at the time", HISTORY, "at the time")
words(DENIAL, "false", "untrue", "wrong", "incorrect", "inaccurate", "misleading", "erroneous", "mistaken",
      "baseless", "unfounded", "refuted", "refutes", "refute", "rebutted", "rumour", "rumours", "rumor", "rumors",
      "speculation", "correction", "retracted", "fake", "bogus", "misreported", "misquoted")
_add("not true", DENIAL, "not true")
_add("no truth", DENIAL, "no truth")
_add("no plans", DENIAL, "no plans")
_add("no plan", DENIAL, "no plans")
_add("no intention", DENIAL, "no intention")
_add("no decision", DENIAL | DELIB, "no decision")
words(DELIB, "whether", "considering", "weighing", "mulling", "debating", "discussing", "deliberating",
      "contemplating", "pondering", "exploring", "deciding", "evaluating", "undecided")
for _phrase in ("under review", "under consideration", "being considered", "being reviewed", "being discussed",
                "yet to decide", "has yet to", "have yet to", "is reviewing whether", "not yet decided",
                "not decided", "up for discussion"):
    _add(_phrase, DELIB, _phrase)
words(MANNER, "quietly", "secretly", "silently", "covertly", "routinely", "informally", "automatically",
      "warrantlessly")
words(IRREALIS, "plan", "plans", "planned", "planning", "intend", "intends", "intended", "intending", "consider",
      "considers", "considered", "threaten", "threatens", "threatened", "threatening", "expect", "expects",
      "expected", "likely", "unlikely", "prepared", "ready", "want", "wants", "wanted", "hope", "hopes", "hoped",
      "seek", "seeks", "sought", "try", "tries", "tried", "attempt", "attempts", "attempted", "need", "needs",
      "needed", "poised", "propose", "proposes", "proposed", "proposal", "aim", "aims", "aimed", "urge", "urges",
      "urged", "urging", "ask", "asks", "asked", "asking", "call", "calls", "called", "calling", "demand",
      "demands", "demanded", "demanding", "order", "orders", "ordered", "ordering", "force", "forces", "forced",
      "forcing", "require", "requires", "required", "requiring", "press", "pressed", "pressing", "pressure",
      "pressured", "pressuring", "compel", "compelled", "encourage", "encouraged", "wish", "wishes", "would like",
      "petition", "petitioned", "lobby", "lobbied", "instruct", "instructed", "direct", "directed", "tell",
      "told", "oblige", "obliged", "obligated", "mandate", "mandated", "able", "supposed", "expected",
      "could", "might", "may", "should", "must", "if", "recommend", "recommended", "suggest", "suggested",
      "advise", "advised", "told", "possibly", "perhaps", "maybe", "potentially", "probably", "arguably",
      "conceivably", "seemingly")
words(ASSERT, "decide", "decides", "decided", "deciding", "decision", "agree", "agrees", "agreed", "choose",
      "vows", "vowing", "pledges", "pledging", "promises", "promising", "commits", "decides", "announces",
      "chose", "chosen", "opt", "opted", "elect", "elected", "move", "moved", "moving", "begin", "began", "begun",
      "start", "started", "starting", "vow", "vowed", "pledge", "pledged", "promise", "promised", "commit",
      "committed", "resolve", "resolved", "determined", "set", "going", "continue", "continues", "continued",
      "went", "proceed", "proceeded", "announce", "announced", "confirm", "confirmed", "say", "said", "says",
      "tell", "told", "claim", "claimed", "reveal", "revealed", "make", "made", "take", "took", "taken")
words(REPORT, "said", "says", "say", "saying", "told", "tells", "announced", "announces", "announce", "announcing",
      "stated", "states", "confirmed", "confirms", "confirming", "revealed", "reveals", "noted", "notes", "added",
      "adds", "explained", "explains", "wrote", "writes", "reported", "reports", "notified", "informed",
      "claimed", "claims", "argued", "insisted", "declared", "declares", "according", "clarified", "acknowledged",
      "admitted", "indicated", "indicates", "emphasized", "stressed", "reiterated", "reiterates", "posted",
      "tweeted", "replied", "responded", "answered", "commented", "remarked", "blogged", "asserted", "believes",
      "believe", "thinks", "suggests", "showed", "shows", "found", "finds")
words(SUBORD, "while", "whilst", "after", "because", "as", "until", "till", "pending", "following", "since",
      "when", "whenever", "although", "though", "if", "unless", "whereas", "amid", "amidst", "despite",
      "citing", "before", "whether", "where", "once", "so", "lest", "adding", "noting", "explaining",
      "prompting", "putting", "leaving", "making", "marking", "meaning", "sparking", "including")
for _phrase in ("in the wake of", "in light of", "due to", "so that", "in order to", "in contrast to",
                "even though", "even as", "in response to the", "on the grounds", "in protest", "ahead of",
                "as a result", "because of", "out of", "in the face of", "subject to", "in addition to"):
    _add(_phrase, SUBORD, _phrase)
words(REL, "which", "who", "whom", "whose")
words(CONJ, "and", "or", "but", "&")
words(DET, "the", "a", "an", "all", "any", "our", "its", "their", "his", "her", "my", "your", "this", "these",
      "those", "that", "such", "some", "every", "each", "no", "new", "further", "incoming", "future",
      "pending", "both", "many", "most", "several", "other", "certain", "more", "few", "fewer", "own",
      "additional", "subsequent", "remaining", "outstanding", "direct", "official", "formal", "routine",
      "similar", "last", "first", "latest", "current", "existing", "ongoing", "open", "standard", "normal",
      "usual", "regular", "controversial", "entire", "whole", "valid", "legal", "lawful", "legitimate",
      "local", "foreign", "domestic", "federal", "national", "emergency", "specific", "general", "relevant",
      "various", "numerous", "multiple", "'s", "'", "of")
words(ARTICLE, "a", "an", "one")
words(PREP, "of", "to", "for", "from", "in", "on", "at", "by", "with", "about", "regarding", "concerning",
      "involving", "related", "relating", "originating", "under", "into", "through", "via", "over", "against",
      "toward", "towards", "within", "without", "across", "per", "like", "including", "except", "than",
      "around", "inside", "outside", "upon", "onto", "among", "between", "behind", "beyond", "throughout",
      "affecting", "covering", "targeting", "linked", "tied", "connected", "coming", "issued", "sent", "made",
      "submitted", "received", "filed", "lodged")
words(PRON, "we", "it", "they", "he", "she", "i", "us", "them", "itself", "themselves")
words(ANAPHOR, "these", "those", "such", "them", "it", "they", "this", "that", "there", "local", "city",
      "territory", "region", "country", "nation", "island", "domestic", "its", "their", "same", "said")
nouns(COMPANY_N, "company", "firm", "platform", "app", "provider", "giant", "startup", "messenger", "network",
      "operator", "owner", "spokesperson", "spokesman", "spokeswoman", "representative", "executive",
      "maker", "developer", "service", "business", "corporation", "subsidiary", "parent", "ceo", "founder",
      "president", "statement", "website", "blog", "post", "report", "team", "carrier",
      "telecom", "portal", "site", "giants", "tech", "brand", "vendor", "manufacturer")
words(COMPANY_N, "inc", "ltd", "llc", "corp", "plc", "tech", "big")
nouns(ACTOR_N, "lawmaker", "legislator", "activist", "senator", "critic", "campaigner", "group", "advocate",
      "ngo", "rights group", "human rights group", "congressman", "congresswoman", "mp", "politician",
      "regulator", "watchdog", "commissioner", "minister", "governor", "parliament", "congress", "legislature",
      "administration", "lawmakers", "commission", "secretary", "ombudsman", "council",
      )
_add("mutual legal assistance", MLAT, "mlat")
words(MLAT, "mlat", "mlats")
words(PURPOSE, "review", "assess", "evaluate", "study", "examine", "consider", "protect", "ensure", "determine",
      "understand", "address", "avoid", "monitor", "conduct", "comply", "assure", "safeguard", "allow", "give",
      "reassess", "analyse", "analyze", "gauge", "weigh", "investigate", "clarify", "await", "wait")
nouns(LAW, "law", "legislation", "act", "treaty", "ordinance", "regulation", "rule", "statute", "decree",
      "bill", "constitution", "court ruling", "ruling", "election", "crackdown", "protest", "coup", "war",
      "invasion", "conflict", "sanction", "directive", "measure", "agreement", "deal")
_add("national security law", LAW, "law")
words(UNAVAILABLE, "unavailable", "inaccessible", "off-limits")
for _phrase in ("on hold", "on pause", "on ice", "in abeyance", "off limits", "off-limits"):
    _add(_phrase, HELD, _phrase)
_add("security law", LAW, "law")

MAX_MWE = max(len(k) for k in _MWE)


def lookup(word: str) -> Entry | None:
    return _TABLE.get(word)


def lookup_mwe(words_: tuple[str, ...]) -> Entry | None:
    return _MWE.get(words_)


def mwe_sizes() -> dict[str, tuple[int, ...]]:
    """First word of an expression -> the lengths of the expressions it starts, longest first."""
    sizes: dict[str, set[int]] = {}
    for key in _MWE:
        sizes.setdefault(key[0], set()).add(len(key))
    return {word: tuple(sorted(found, reverse=True)) for word, found in sizes.items()}


def mwe_second_words() -> frozenset[str]:
    return frozenset(key[1] for key in _MWE)


def trigger_words() -> tuple[frozenset[str], ...]:
    """Words a rule can start from: (actions, negations, what a negation must meet). A sentence with an
    action word, or with a negation and a handling word, may assert something; any other cannot."""

    def forms(tags: int) -> set[str]:
        out = {form for form, entry in _TABLE.items() if entry.tags & tags}
        for key, entry in _MWE.items():
            if entry.tags & tags:  # an expression's longest word: "on hold" is found by "hold", not "on"
                out.add(max(key, key=len))
        return out

    actions = forms(CEASE_V | REFUSE_V | LIFT_V | CEASE_N | LIFT_N | HELD | MLAT | AGAIN | UNAVAILABLE) | {
        "impossible", "opt", "opted", "opts", "opting", "shift", "departure", "mlat", "mlats", "hold"}
    negations = forms(NEG | NO_LONGER | CAPABILITY) | {"t"}  # "won't" lowercases to "won", "t"
    handling = forms(HANDLE_V | DISCLOSE_V | REQ_V) | {"so", "available", "accessible", "possible", "access"}
    # allow / let / prevent only matter with an authority named: "preventing police from requesting"
    enablers = (forms(ENABLE_V | PREVENT_V) | {"able"}) - actions
    authorities = forms(AUTH_N)

    def words(found: set[str]) -> frozenset[str]:
        return frozenset(w for w in found if w.isalpha())

    return words(actions), words(negations), words(handling), words(enablers), words(authorities)
