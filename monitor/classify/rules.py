"""Sentence-level rules: does this sentence assert a pause (or a lift of a pause) of government /
law-enforcement data requests, and for which jurisdictions?

This is shallow parsing with lexicons, not keyword spotting. For each trigger (a pause verb, a
negated request-handling verb, a pause noun, a lift verb, ...) we look at:

* the object window: the text after the trigger up to a clause boundary. It must be about
  requests / data handed to authorities ("processing of data requests", "responding to requests",
  "the disclosure of user data to the Hong Kong government"), not about sales, ads, service,
  accounts or "use of personal data". Jurisdictions are taken from this window only, so a dateline,
  "China's new law" or "a treaty with the United States" elsewhere in the sentence is not a target.
* the verb group just before the trigger (auxiliaries, adverbs, negation, modals, control verbs):
  negated pauses, modal or conditional ones ("may pause", "if ... we would suspend") and denials
  are not assertions.
* the subject of the clause: a government, court, police force or a bare country as the actor
  ("Hong Kong police stopped sending requests") is another actor's pause, not the company's.

A sentence that both tells of a pause and of its end for a jurisdiction is a lift only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .jurisdictions import mentions

PAUSE, LIFT = "pause", "lift"


@dataclass(frozen=True)
class Assertion:
    kind: str  # PAUSE | LIFT
    jurisdiction: str
    rule: str
    pos: int  # offset of the trigger in the normalized sentence (for ordering)


def _rx(pattern: str) -> re.Pattern[str]:
    # Rules run on a lowercased copy of the sentence (same offsets): lowercase case-sensitive
    # patterns are several times faster than re.IGNORECASE, and we need thousands a second.
    return re.compile(pattern)


# ---------------------------------------------------------------------------------------------
# Lexicons
# ---------------------------------------------------------------------------------------------

# Verbs that stop something. Classes decide what object they accept.
_PAUSE_VERB = _rx(
    r"\b(paus(?:e|es|ed|ing)|suspend(?:s|ed|ing)?|halt(?:s|ed|ing)?|stop(?:s|ped|ping)?|"
    r"freez(?:e|es|ing)|froze(?:n)?|ceas(?:e|es|ed|ing)|discontinu(?:e|es|ed|ing)|"
    r"terminat(?:e|es|ed|ing)|end(?:s|ed|ing)?|refus(?:e|es|ed|ing)|declin(?:e|es|ed|ing)|"
    r"reject(?:s|ed|ing)?|den(?:y|ies|ied|ying)|withh(?:old|olds|eld|olding)|turn(?:s|ed|ing)?\s+down)\b"
)
_PARTICIPLES = frozenset({
    "paused", "suspended", "halted", "stopped", "frozen", "ceased", "discontinued", "terminated",
    "ended", "refused", "declined", "rejected", "denied", "withheld", "turned down",
})


def _verb_class(verb: str) -> str:
    v = verb.lower()
    if v.startswith(("refus", "declin")):
        return "refuse"  # refuse to hand over / refuse requests
    if v.startswith(("reject", "den", "turn")):
        return "reject"  # reject / deny requests (a request object only)
    return "pause"


# Verbs for handling a request; negated ("will no longer process") they are a refusal.
_HANDLING_VERB = _rx(
    r"\b(process(?:es|ed|ing)?|respond(?:s|ed|ing)?|repl(?:y|ies|ied|ying)|answer(?:s|ed|ing)?|"
    r"review(?:s|ed|ing)?|consider(?:s|ed|ing)?|produc(?:e|es|ed|ing)|provid(?:e|es|ed|ing)|"
    r"disclos(?:e|es|ed|ing)|shar(?:e|es|ed|ing)|hand(?:s|ed|ing)?\s+over|turn(?:s|ed|ing)?\s+over|"
    r"giv(?:e|es|en|ing)|gave|suppl(?:y|ies|ied|ying)|releas(?:e|es|ed|ing)|compl(?:y|ies|ied|ying)|"
    r"hono(?:u)?r(?:s|ed|ing)?|fulfil(?:l)?(?:s|ed|led|ing|ling)?|accept(?:s|ed|ing)?|"
    r"entertain(?:s|ed|ing)?|act(?:s|ed|ing)?\s+on|co-?operat(?:e|es|ed|ing)|assist(?:s|ed|ing)?|"
    r"yield(?:s|ed|ing)?|grant(?:s|ed|ing)?|execut(?:e|es|ed|ing)|action(?:s|ed|ing)?|"
    r"work(?:s|ed|ing)?\s+with|engag(?:e|es|ed|ing)\s+with|deal(?:s|t|ing)?\s+with|"
    r"accommodat(?:e|es|ed|ing)|reveal(?:s|ed|ing)?|pass(?:es|ed|ing)?\s+on|transfer(?:s|red|ring)?)\b"
)
_HANDLING_BASE = (
    r"(?:process|respond|reply|answer|review|consider|produce|provide|disclose|share|hand\s+over|"
    r"hand|turn\s+over|give|supply|release|comply|honou?r|fulfill?|accept|entertain|act\s+on|"
    r"co-?operate|assist|yield|grant|execute|action|work\s+with|engage\s+with|deal\s+with|"
    r"accommodate|reveal|pass\s+on|transfer|allow|let|permit)"
)
_HANDLING_HEAD = (
    # up to three modifiers ("law enforcement data sharing", "data-sharing"), no preposition among them
    r"(?:(?!(?:of|to|for|from|in|on|at|by|with|that|which|and)\b)[\w']+(?:\s+|-))?"
    r"(?:(?!(?:of|to|for|from|in|on|at|by|with|that|which|and)\b)[\w']+(?:\s+|-))?"
    r"(?:(?!(?:of|to|for|from|in|on|at|by|with|that|which|and)\b)[\w']+(?:\s+|-))?"
    r"(processing|responding|replying|answering|reviewing|considering|producing|providing|"
    r"disclosing|sharing|handing(?:\s+over)?|turning\s+over|giving|supplying|releasing|complying|"
    r"honou?ring|fulfill?ing|accepting|entertaining|acting\s+on|co-?operating|assisting|yielding|"
    r"granting|executing|actioning|working\s+with|engaging\s+with|dealing\s+with|accommodating|"
    r"allowing|letting|permitting|production|reviews?|consideration|responses?|disclosures?|"
    r"compliance|co-?operation|collaboration|engagement|provision|handling|fulfil(?:l)?ment|"
    r"acceptance|assistance|handover|hand-over)\b"
)
_HANDLING_HEAD_RE = _rx(r"\b" + _HANDLING_HEAD)
# "their mechanisms to process data requests", "efforts to respond to ...".
_NOUN_TO_HANDLING = _rx(r"(?:[\w'-]+\s+){1,2}?to\s+(?:\w+ly\s+)?(" + _HANDLING_BASE + r")\b")
# Heads that by themselves mean a legal hand-over (so "data" needs no authority word beside it).
_STRONG = re.compile(r"^(?:hand|turn|produc|handover|hand-over|disclos)")
# Heads that are about dealing with authorities (so an authority word is enough of an object).
_COOP = re.compile(r"^(?:co-?operat|collaborat|engag|assist|work|deal|accommodat)")

_REQUEST_WORD = _rx(
    r"\b(requests?|request(?=\s+(?:user|account|customer|video|footage|data|information|records))|"
    r"demands?|subpoenas?|warrants?|orders|directives?|inquir(?:y|ies)|enquir(?:y|ies)|"
    r"legal\s+process(?:es)?|production\s+orders?)\b"
)
_DATA_WORD = _rx(
    r"\b(data(?!\s+(?:cent(?:er|re)s?|transfers?|locali[sz]ation|storage|protection|privacy|breach(?:es)?|"
    r"collection|processing\s+agreement))|information|info|records?|footage|videos?|recordings?|"
    r"(?:user|account|customer|stored|private)\s+content|content\s+of\s+(?:communications|messages|accounts)|"
    r"communications|messages|details|ip\s+addresses|phone\s+numbers|subscriber|metadata|materials?|"
    r"user\s+files|(?:connection|access|server|usage|activity)\s+logs|logs)\b"
)
_AUTH_WORD = _rx(
    r"\b(governments?|authorit(?:y|ies)|police|law\s+enforcement|courts?|judges?|officials|"
    r"regulators?|ministr(?:y|ies)|prosecutors?|agenc(?:y|ies)|security\s+services|"
    r"intelligence|military|junta|state(?![\s-](?:owned|run|backed|media|controlled|affiliated|sponsored))|"
    r"states|investigators|fsb|kremlin|tatmadaw|"
    r"roskomnadzor|officers)\b"
)
# Requests that are not for user data (content removal, customer service, ...).
_NON_DATA_REQUEST = _rx(
    r"\b(take-?down|removal|remove|delisting|deletion|erasure|customer\s+service|subject\s+access|"
    r"data\s+subject|(?:refund|support|feature|friend|follow|purchase|payment|withdrawal|media|press|"
    r"interview|access)\s+(?:requests?|inquiries)|for\s+comment|"
    r"(?:to|that\s+we)\s+(?:remove|delete|take\s+down|block|censor|restrict|ban|unlock|decrypt|shut\s+down|"
    r"suspend|close|disable|geo-?block|deactivate|unmask|store|keep|host|locali[sz]e|relocate|move))\b"
)
# "the requested information": one request, not a standing refusal.
_ONE_OFF = _rx(r"\bthe\s+requested\b|\bthat\s+request\b|\bthis\s+request\b")
# "has not and will not provide ...": an assurance about the past and future, not a change.
_ASSURANCE = _rx(r"\b(?:has|have|had|did|do|does)(?:\s+not|n't|\s+never)\s+and\s+$")
# A count right before the request noun ("358 requests", "40% of requests"), not a year.
_NUMBER_BEFORE = _rx(r"(?:\b(?!(?:19|20)\d\d\b)\d[\d,.]*|\b(?:one|two|three|four|five|six|seven|eight|nine|"
                     r"ten|dozens?|hundreds?|thousands?|several|many|most|some|half|percent|per\s+cent)\b|%)"
                     r"(?:\s+[\w'-]+){0,4}\s+$")
# "requests that do not meet ...": a policy for some requests, not a pause.
_RESTRICTIVE = _rx(
    r"\b(?:that|which)\s+(?:do|does|are|is|fail|lack)(?:\s+not|n't)?\b(?:\s+(?:meet|comply|have|"
    r"satisfy|follow|include))?|\bunless\b|\bexcept\b|\bwithout\s+(?:a\s+|any\s+)?(?:valid|proper|"
    r"legal|lawful)|\boverly\s+broad|\bimproper|\binvalid|\bunlawful|\billegitimate|\bnot\s+valid|"
    r"\blacking\b|\bdo(?:es)?\s+not\s+meet|\bfail\s+to\s+meet|\binconsistent\s+with"
)
_SINGULAR_REQUEST = _rx(
    r"^(?:a|an|the|this|that|its|their|his|her|one)\s+(?:[\w'-]+\s+){0,3}?"
    r"(?:request|order|demand|subpoena|warrant|directive|inquiry|enquiry)\b(?!s)"
)

# Leading determiners / adverbs / quantifiers to skip before the object head.
_LEAD = _rx(
    r"(?:(?:the|all|any|our|its|their|new|further|incoming|future|pending|such|these|those|some|"
    r"every|each|direct|also|too|now|immediately|temporarily|effectively|indefinitely|completely|"
    r"entirely|fully|formally|officially|quietly|reportedly|voluntarily|altogether|again|"
    r"until\s+further\s+notice|for\s+now|for\s+the\s+time\s+being|at\s+present|at\s+this\s+time|"
    r"(?:the\s+)?vast\s+majority\s+of|(?:most|all|some|much|part|many)\s+of|"
    r"(?:the\s+)?(?:bulk|majority)\s+of)\s+)*"
)
# A request noun phrase at the object head: up to five modifiers without a preposition or a verb.
_REQ_NP = _rx(
    r"(?:(?!(?:of|to|for|from|in|on|at|by|with|that|which|who|is|are|was|were|has|have)\b)"
    r"[\w'-]+,?\s+){0,5}?(?:requests?|demands?|subpoenas?|warrants?|orders|directives|inquiries|"
    r"enquiries|legal\s+process(?:es)?)\b"
)

# ---------------------------------------------------------------------------------------------
# Clause structure
# ---------------------------------------------------------------------------------------------

# Where an object window ends.
_BOUNDARY = _rx(
    r"\s*[;:!?(]|\s\|\s|\s[—–]\s|\s-\s|"
    r",\s*(?:which|who|whose|while|whereas|as|after|before|because|since|following|pending|but|though|"
    r"although|according|said|says|told|citing|amid|amidst|when|until|unless|if|so|saying|adding|"
    r"noting|a|an|the\s+company|the\s+firm|despite|even|and\s+(?:we|it|they|he|she|the\s+company|said|"
    r"that|will|would|is|are|has|have|had|also|then))\b|"
    r"\s(?:while|whilst|whereas|after|before|because|following|pending|until|till|unless|instead|"
    r"amid|amidst|despite|though|although|when|whenever|since|citing|saying|which|if|whether|"
    r"said|says|told|stated|announced|reported|(?<!such\s)(?<!as\swell\s)as(?!\s+(?:well|such|of|"
    r"part))|in\s+the\s+wake\s+of|in\s+light\s+of|due\s+to|so\s+that|in\s+order\s+to|"
    r"and\s+(?:we|it|they|he|she|the\s+company|said|that|will|would|is|are|has|have|had|also|then)|"
    r"but|imposed|enacted|passed|took\s+effect|went\s+into\s+effect|came\s+into\s+(?:force|effect)|"
    r"entered\s+into\s+force|entry\s+into\s+force|to\s+(?:review|assess|evaluate|study|examine|"
    r"consider|protect|ensure|allow|determine|understand|address|avoid|monitor|see|conduct|"
    r"comply\s+with\s+(?:the|a|its))|the\s+company\s+(?:said|told|confirmed))\b"
)
# Where the clause holding a trigger starts (its subject follows).
_CLAUSE_START = _rx(
    r"[;:,(\[]|\s[—–-]\s|\b(?:that|which|who|said|says|told|announced|stated|confirmed|confirming|"
    r"revealed|noted|added|explained|wrote|reported|notified|informed|while|when|after|because|but|"
    r"if|unless|whereas|although|though|saying|and(?=\s+(?:we|it|they|he|she|the\s+company)\b)|"
    r"(?:and|or)(?=\s+(?:\w+ly\s+)?(?:does|did|do|has|have|had|will|would|is|are|was|were|won't|"
    r"doesn't|don't|didn't|hasn't|haven't|isn't|aren't|no\s+longer|not|also|now|then|since)\b)|"
    r"as(?=\s+(?:we|it|they)\b))\b"
)
_RELATIVE = re.compile(r"\b(?:which|who|whom|whose|that)\b")
_PARENTHETICAL = re.compile(r",\s[^,;:]{1,40},\s*$")
_TOKEN = re.compile(r"[\w-]+(?='(?:ll|d|ve|re|m)\b)|'(?:ll|d|ve|re|m)\b|[\w'-]+|[^\w\s]")
# Words that can stand between a subject and its verb.
_AUX = frozenset({
    "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do",
    "does", "did", "will", "would", "shall", "should", "can", "could", "may", "might", "must", "'ll",
    "'d", "'ve", "'re", "'m", "won't", "wouldn't", "don't", "doesn't", "didn't", "isn't", "aren't",
    "wasn't", "weren't", "haven't", "hasn't", "hadn't", "can't", "cannot", "couldn't", "shouldn't",
    "mustn't", "shan't", "remain", "remains", "remained", "stay", "stays", "stayed", "get", "gets",
    "got", "not", "never", "no", "longer", "to", "going", "gone",
})
_VG_ADVERBS = frozenset({
    "also", "too", "now", "already", "immediately", "temporarily", "effectively", "currently",
    "indefinitely", "completely", "entirely", "fully", "formally", "officially", "quietly",
    "reportedly", "further", "still", "directly", "voluntarily", "largely", "just", "then", "recently",
    "promptly", "swiftly", "subsequently", "therefore", "thus", "actually", "essentially",
    "automatically", "simply", "generally", "actively", "instead", "again", "even", "yet", "ever",
    "presently", "since", "once", "all", "both", "each", "so", "far", "until", "notice",
    "decided", "decide", "decides", "agreed", "agree", "agrees", "chose", "chosen", "choose", "opted",
    "begun", "began", "begin", "started", "start", "continue", "continues", "continued", "plan",
    "plans", "planned", "planning", "intend", "intends", "intended", "considering", "consider",
    "considered", "threatened", "threaten", "threatens", "expected", "likely", "prepared", "ready",
    "want", "wants", "wanted", "hope", "hopes", "seek", "seeks", "sought", "try", "tries", "tried",
    "attempt", "attempts", "attempted", "able", "unable", "forced", "need", "needs", "needed",
    "promised", "pledged", "vowed", "moved", "elected", "set", "poised", "determined", "quick",
    "quickly", "publicly", "mostly", "partially", "partly", "broadly", "in", "turn",
    "reluctantly", "ultimately", "finally", "first", "initially", "later", "soon", "shortly",
    "today", "previously", "formerly", "altogether", "outright", "unilaterally", "globally",
})
_NEG = frozenset({
    "refuse", "refuses", "refused", "refusing", "decline", "declines", "declined", "declining",  # "refused to stop"
    "not", "never", "won't", "wouldn't", "don't", "doesn't", "didn't", "isn't", "aren't", "wasn't",
    "weren't", "haven't", "hasn't", "hadn't", "can't", "cannot", "couldn't", "shouldn't", "mustn't",
    "shan't", "unable",
})
_MODAL = frozenset({"may", "might", "could", "should", "must", "can", "couldn't", "shouldn't", "mustn't"})
_IRREALIS_VG = frozenset({
    "plan", "plans", "planned", "planning", "intend", "intends", "intended", "considering", "consider",
    "considered", "threatened", "threaten", "threatens", "expected", "likely", "prepared", "ready",
    "want", "wants", "wanted", "hope", "hopes", "seek", "seeks", "sought", "try", "tries", "tried",
    "attempt", "attempts", "attempted", "able", "unable", "need", "needs", "needed", "poised",
})
_BE = frozenset({"am", "is", "are", "was", "were", "be", "been", "being", "'re", "'m", "isn't", "aren't",
                 "wasn't", "weren't", "remain", "remains", "remained", "stay", "stays", "stayed", "get",
                 "gets", "got"})
_FUTURE = frozenset({"will", "'ll", "shall", "won't", "shan't", "going"})
_WOULD = frozenset({"would", "'d", "wouldn't"})
_DO = frozenset({"do", "does", "did", "don't", "doesn't", "didn't"})
_PERFECT = frozenset({"have", "has", "had", "'ve", "haven't", "hasn't", "hadn't"})
_PAST_AUX = frozenset({"was", "were", "did", "wasn't", "weren't", "didn't"})

# Irrealis context before a trigger: orders, appeals, plans, conditions.
_IRREALIS = _rx(
    r"\b(?:may(?!\s+\d)|might|could|should|must|would\s+rather|consider(?:s|ed|ing)?|"
    r"plan(?:s|ned|ning)?\s+to|intend(?:s|ed|ing)?\s+to|threaten(?:s|ed|ing)?\s+to|"
    r"propos(?:e|es|ed|ing)\s+to|expected\s+to|likely\s+to|prepared\s+to|ready\s+to|"
    r"reserves?\s+the\s+right|(?:want|expect|need|wish)(?:s|ed)?\s+(?:[\w'-]+\s+){0,3}to|"
    r"hop(?:e|es|ed|ing)\s+to|seek(?:s|ing)?\s+to|(?:would|'d)\s+like\s+(?:[\w'-]+\s+){0,3}to|"
    r"sought\s+to|tr(?:y|ies|ied|ying)\s+to|attempt(?:s|ed|ing)?\s+to|urg(?:e|es|ed|ing)|"
    r"call(?:s|ed|ing)?\s+(?:on|for|upon)|ask(?:s|ed|ing)?\s+(?:[\w'-]+\s+){0,3}to|"
    r"press(?:ed|ing|ured?|uring)?\s+(?:[\w'-]+\s+){0,3}to|demand(?:s|ed|ing)?\s+that|"
    r"order(?:s|ed|ing)?\s+(?:[\w'-]+\s+){0,3}to|forc(?:e|es|ed|ing)\s+(?:[\w'-]+\s+){0,3}to|"
    r"requir(?:e|es|ed|ing)\s+(?:[\w'-]+\s+){0,3}to|whether|encourag\w+|if|in\s+case|"
    r"in\s+the\s+event|rumou?rs?|speculat\w+)\b"
)
# "even if they are valid" is no condition on the pause; "even if asked" makes it hypothetical.
_CONDITIONAL = _rx(r"\b(?:(?<!even\s)(?<!as\s)(?<!only\s)if|in\s+the\s+event|were\s+(?:we|they|it)\s+to|"
                   r"if\s+(?:asked|requested|ordered|compelled|required|pressed)|when\s+asked)\b|"
                   r"\bshould\s+(?:we|they|it|the\s+\w+)\s+(?:be|receive|become|ask)")
_DENIAL = _rx(
    r"\b(?:den(?:y|ies|ied|ying)\s+(?:that|having|reports?|claims?|it|any)|denial|refut\w+|rebut\w+|"
    r"(?:dismiss|reject)(?:s|ed|ing)?\s+(?:reports?|claims?|allegations?|suggestions?|rumou?rs?)|"
    r"false|untrue|not\s+true|no\s+truth|inaccurate|misleading|no\s+plans?|no\s+intention|"
    r"no\s+decision|never\s+(?:said|announced)|not\s+(?:aware|correct))\b"
)
# A pause told as history that is over.
_HISTORY = _rx(
    r"\b(?:previously|formerly|used\s+to|at\s+one\s+point|once\s+had|"
    r"until\s+(?:early\s+|late\s+|mid-?)?(?:(?:19|20)\d\d|january|february|march|april|june|july|"
    r"august|september|october|november|december|last\s+(?:year|month|week))|"
    r"from\s+(?:\w+\s+)?(?:19|20)\d\d\s+(?:to|until|through|till)\b|"
    r"between\s+(?:\w+\s+)?(?:19|20)\d\d\s+and\b|before\s+resuming|later\s+resumed)"
)

_WE = re.compile(r"\b(?:[Ww]e|WE|[Oo]urs?|OURS?|us)\b")  # not "US" (the country)
_PRONOUN = _rx(r"^(?:it|they|he|she|this|which|who|that)$")
_AUTH_ACTOR = _rx(
    r"\b(?:governments?|authorit(?:y|ies)|police|law\s+enforcement|courts?|judges?|regulators?|"
    r"ministr(?:y|ies)|minister|officials|prosecutors?|agenc(?:y|ies)|lawmakers|legislators?|"
    r"legislature|parliament|congress|kremlin|beijing|moscow|watchdog|commissioner|pcpd|military|"
    r"junta|security\s+services|fsb|cbp|fbi|doj|department|bureau|administration|investigators|"
    r"the\s+(?:city|country|territory|state|region)|cyberspace|censors?)\b"
)
_COMPANY_ACTOR = _rx(
    r"\b(?:compan(?:y|ies)|firms?|platforms?|apps?|providers?|giants?|startups?|messengers?|"
    r"networks?|operators?|owners?|spokes(?:person|man|woman)|representatives?|executives?|inc|ltd|"
    r"corp|llc|tech|maker|makers|developers?|social\s+media|search\s+engine)\b"
)
_BARE_SUBJECT_FILLER = _rx(r"\b(?:the|'s|s|and|or|too|also|itself|in|turn)\b|[,'’]")
# A short fronted adverbial to skip when looking for the sentence's subject ("On Monday, ...").
_FRONTED = _rx(r"^(?:[^,]{0,60}?,\s+)?")
_FRONTED_OPENER = _rx(r"(?:in|on|at|after|following|last|this|since|earlier|today|meanwhile|however)\b")
_REPORTING = _rx(
    r"\b(?:said|says|told|announced|stated|confirmed|revealed|noted|added|explained|wrote|reported|"
    r"notified|informed|claimed|argued|insisted|that)\b|[—–]|\s-\s"
)
_DEICTIC = _rx(r"\b(?:local|there|the\s+city|the\s+territory|the\s+country|the\s+region|that\s+country|"
               r"domestic|its\s+authorities)\b")
_FRONT_JUR = _rx(r"^(?:in|for|regarding|concerning|with\s+(?:respect|regard)\s+to|as\s+(?:for|to|regards)|"
                 r"in\s+relation\s+to)\s+(?:the\s+)?$")
_BASED = _rx(r"-?\s?(?:based|headquartered|owned|backed|born|made|listed|registered)\b")

# Triggers beyond the verb lexicons above.
_PAUSE_NOUN = _rx(r"\b(suspension|pause|halt|freeze|moratorium|hold|cessation|stop)\s+"
                  r"(?:of|on|in|to|(?:applies|apply|extends|covers|affects|remains\s+in\s+place\s+for)(?:\s+to)?)\b")
_ON_HOLD = _rx(r"\bon\s+hold\b")
_PUT = _rx(r"\b(?:put|puts|putting|placed|places|placing|place)\b")
_LIFT_VERB = _rx(
    r"\b(resum(?:e|es|ed|ing)|restart(?:s|ed|ing)?|reinstat(?:e|es|ed|ing)|restor(?:e|es|ed|ing)|"
    r"recommenc(?:e|es|ed|ing)|reviv(?:e|es|ed|ing)|reopen(?:s|ed|ing)?|unpaus(?:e|es|ed|ing)|"
    r"unfreez(?:e|es|ing)|unfroze(?:n)?)\b"
)
_LIFT_OF_PAUSE = _rx(
    r"\b(lift(?:s|ed|ing)?|end(?:s|ed|ing)?|remov(?:e|es|ed|ing)|rescind(?:s|ed|ing)?|"
    r"revers(?:e|es|ed|ing)|revok(?:e|es|ed|ing)|drop(?:s|ped|ping)?|withdr(?:aw|aws|ew|awn|awing)|"
    r"conclud(?:e|es|ed|ing)|(?:brought|bring|brings|bringing|put|puts|putting)\s+an\s+end\s+to)\s+"
    r"(?:[\w'-]+\s+){0,4}?(pause|suspension|hold|freeze|moratorium|halt|restrictions?)\b"
)
_PAUSE_OVER = _rx(
    r"\b(pause|suspension|hold|freeze|moratorium|halt)\b([^.;]{0,160}?)\b(?:(?:has|have|had|was|were|is|"
    r"are|now|since|been|officially|formally|finally)\s+)*(ended|lifted|expired|over|concluded|removed|"
    r"rescinded|no\s+longer\s+(?:in\s+(?:effect|place|force)|applies|apply))\b"
)
_NEG_NEAR = _rx(r"\b(?:not|n't|never|yet\s+to)\b|n't\b")
_AGAIN = _rx(r"\b(?:again|once\s+more|anew)\b")
_MLAT = _rx(r"\b(?:mutual\s+legal\s+assistance|mlats?)\b")
_MLAT_VERB = _rx(
    r"\b(?:direct(?:s|ed|ing)?|redirect(?:s|ed|ing)?|rout(?:e|es|ed|ing)|refer(?:s|red|ring)?|"
    r"send(?:s|ing)?|sent|point(?:s|ed|ing)?|channel(?:s|led|ling)?|requir(?:e|es|ed|ing)|"
    r"insist(?:s|ed|ing)?)\b"
)
_MLAT_CHANGE = _rx(r"\b(?:instead|no\s+longer|from\s+now\s+on|going\s+forward|henceforth|only)\b")
_MLAT_HABIT = _rx(r"\b(?:always|has\s+long|have\s+long|continues?\s+to|as\s+usual)\b")

# Cheap prefilter: a sentence without any of these cannot match a rule.
_TRIGGER = _rx(
    r"n't|\b(?:paus|suspen|halt|stop|turn|freez|froze|ceas|discontinu|terminat|end|refus|declin|reject|"
    r"den[iy]|withh|not\b|never|no\s+longer|hold|moratorium|resum|restart|reinstat|restor|recommenc|"
    r"reviv|reopen|lift|again|once\s+more|anew|mutual\s+legal|mlat|remov|rescind|revers|revok|drop|"
    r"withdr|conclud|expired|over\b|cannot)"
)

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
                         "\u00a0": " ", "\u2009": " ", "\u202f": " "})
_WS = re.compile(r"\s+")
_FANCY = re.compile("[’‘“”„«»\u00a0\u2009\u202f]")


def _lower(s: str) -> str:
    """Lowercase without changing offsets (a few characters lowercase to two)."""
    low = s.lower()
    if len(low) == len(s):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in s)


def normalize(sentence: str) -> str:
    """The form rules run on: straight apostrophes, no double quotes, single spaces."""
    if _FANCY.search(sentence):
        sentence = sentence.translate(_QUOTES)
    sentence = sentence.replace('"', "")
    if "  " in sentence or "\t" in sentence or "\n" in sentence or "\r" in sentence:
        sentence = _WS.sub(" ", sentence)
    return sentence.strip()


# ---------------------------------------------------------------------------------------------
# Analysis of one sentence
# ---------------------------------------------------------------------------------------------


def _negated_intent(words: list[str]) -> bool:
    """'does not intend to', 'has no plans to': negation before an intention word."""
    return any(w in _NEG and any(x in _IRREALIS_VG for x in words[i + 1:]) for i, w in enumerate(words))


@dataclass
class _VerbGroup:
    start: int  # where the verb group (auxiliaries, adverbs, ...) begins
    words: list[str]

    def has(self, words: frozenset[str]) -> bool:
        return any(w in words for w in self.words)

    @property
    def negated(self) -> bool:
        return self.has(_NEG) or "n't" in self.words

    @property
    def no_longer(self) -> bool:
        return any(a == "no" and b == "longer" for a, b in zip(self.words, self.words[1:], strict=False))

    @property
    def never(self) -> bool:
        return "never" in self.words


def _verb_group(s: str, verb_start: int, floor: int) -> _VerbGroup:
    """Auxiliaries / adverbs / negation / control verbs right before a verb (back to `floor`)."""
    toks = [(m.group(0), m.start()) for m in _TOKEN.finditer(s, max(floor, verb_start - 120), verb_start)]
    words: list[str] = []
    start = verb_start
    for tok, pos in reversed(toks):
        low = tok.lower()
        if pos < floor or not (low in _AUX or low in _VG_ADVERBS or low in _NEG):
            break
        words.append(low)
        start = pos
    words.reverse()
    # "we have not, at this time, paused": look through a short parenthetical.
    paren = _PARENTHETICAL.search(s, max(0, start - 60), start)
    if paren and start - paren.end() < 2:
        inner = _verb_group(s, paren.start(), 0)
        if inner.words:
            return _VerbGroup(inner.start, inner.words + words)
    return _VerbGroup(start, words)


class _Sentence:
    """One normalized sentence with the lookups the rules share."""

    def __init__(self, s: str, company: str | None) -> None:
        self.s = s  # original case: jurisdiction names, "US" vs "us"
        self.low = _lower(s)  # same offsets, for the rule regexes
        self.company = company.lower() if company else None
        self.mentions = mentions(s)
        self.clause_starts = [m.end() for m in _CLAUSE_START.finditer(self.low)]
        self.conditional = bool(_CONDITIONAL.search(self.low))
        self._any_history = bool(_HISTORY.search(self.low))

    # -- structure --
    def clause_start(self, pos: int) -> int:
        best = 0
        for cs in self.clause_starts:
            if cs <= pos:
                best = cs
            else:
                break
        return best

    def window_end(self, pos: int, limit: int = 260) -> int:
        m = _BOUNDARY.search(self.low, pos, min(len(self.low), pos + limit))
        return m.start() if m else min(len(self.low), pos + limit)

    def jurisdictions_in(self, start: int, end: int) -> list[str]:
        out: list[str] = []
        for m in self.mentions:
            if start <= m.start and m.end <= end and not _BASED.match(self.low, m.end) and m.code not in out:
                out.append(m.code)
        return out

    def fallback_jurisdictions(self, win_start: int, win_end: int) -> list[str]:
        """No jurisdiction in the object: 'local requests' points back to the nearest named place;
        a fronted 'In Hong Kong, we have paused ...' names it before the subject."""
        if _DEICTIC.search(self.low, win_start, win_end):
            before = [m for m in self.mentions if m.end <= win_start and not _BASED.match(self.low, m.end)]
            if before:
                return [before[-1].code]
        for m in self.mentions:
            if _FRONT_JUR.match(self.low[: m.start]) and re.match(r"[\w\s'-]{0,30},", self.low[m.end:]):
                return [m.code]
        return []

    # -- guards --
    def history(self, start: int, end: int) -> bool:
        """A pause told as history that is over ("previously", "until 2021"), in this clause."""
        return self._any_history and bool(_HISTORY.search(self.low, start, min(len(self.low), end + 40)))

    def modal(self, vg: _VerbGroup, verb_start: int, refusal: bool = False) -> bool:
        """May/could/should, plans and appeals, and would/will under a condition. For a refusal
        ('does not intend to process'), a negated intention is the refusal itself, not a plan."""
        if vg.has(_MODAL) and not (vg.no_longer and vg.has(frozenset({"can", "could"}))):
            return True
        negated_intent = refusal and _negated_intent(vg.words)
        if vg.has(_IRREALIS_VG) and not negated_intent:
            return True
        cs = self.clause_start(vg.start)
        # Look into the previous clause only through a complementizer: "urged that ...".
        # (The boundary word itself counts: "it is unclear if / whether ...".)
        region = max(0, cs - 40) if self.low.endswith(("that", "that "), 0, cs) else max(0, cs - 9)
        if _IRREALIS.search(self.low, region, vg.start if negated_intent else verb_start):
            return True
        if self.conditional and (vg.has(_WOULD) or vg.has(_FUTURE)):
            return True
        return vg.has(_WOULD) and vg.never

    def denied(self, pos: int) -> bool:
        return bool(_DENIAL.search(self.low, 0, pos))

    def other_actor(self, vg: _VerbGroup) -> bool:
        """Is the subject of this clause someone other than a company (a government, a court, a
        police force, a country)?"""
        cs = self.clause_start(vg.start)
        # The subject is at the head of the clause; an authority further on is an object of
        # something else ("X has never shared data with the authorities and ...").
        subject = " ".join(self.s[cs:vg.start].strip(" ,").split()[:6])
        low = subject.lower()
        if self.company and self.company in low:
            return False
        if _WE.search(subject):
            return False
        if not subject or _PRONOUN.match(low):
            if low in ("which", "who", "that"):
                return False
            subject = self.main_subject()
            low = subject.lower()
            if _WE.search(subject) or (self.company and self.company in low):
                return False
        return self._authority_np(subject)

    def main_subject(self) -> str:
        low = self.low
        start = _FRONTED.match(low).end() if _FRONTED_OPENER.match(low) else 0
        end_m = _REPORTING.search(low, start)
        end = end_m.start() if end_m else len(low)
        return " ".join(self.s[start:end].split()[:8])

    def _authority_np(self, text: str) -> bool:
        if not text:
            return False
        low = _lower(text)
        if _AUTH_ACTOR.search(low) and not _COMPANY_ACTOR.search(low):
            return True
        rest = text
        for m in mentions(text):
            rest = rest.replace(m.text, " ")
        # A bare country as actor: "Russia stopped ...".
        return rest != text and not _BARE_SUBJECT_FILLER.sub(" ", rest).strip()


def _strip_lead(s: str, pos: int, end: int) -> int:
    """Skip determiners/adverbs after a verb; returns the position of the object head."""
    while pos < end and s[pos] == " ":
        pos += 1
    m = _LEAD.match(s, pos, end)
    return m.end() if m else pos


def _qualifies(s: str, head: str, start: int, end: int) -> bool:
    """Is the window [start, end) about government requests for / hand-over of user data?"""
    window = s[start:end]
    if _ONE_OFF.search(window):
        return False
    req = None
    for r in _REQUEST_WORD.finditer(window):
        # "orders", "demands", "directives" are as often about blocking content: only with data.
        if r.group(1).startswith(("order", "demand", "directive")) and not _DATA_WORD.search(window):
            continue
        req = r
        break
    if req:
        if _NON_DATA_REQUEST.search(window):
            return False
        if _NUMBER_BEFORE.search(window[:req.start()]):
            return False  # "rejected 40 requests": statistics
        # "requests that do not meet ...": a policy for some requests, not a pause.
        return not _RESTRICTIVE.search(window)
    has_auth = bool(_AUTH_WORD.search(window))
    if _DATA_WORD.search(window) and (has_auth or _STRONG.match(head)):
        return not _RESTRICTIVE.search(window)
    return bool(head and _COOP.match(head) and has_auth)


def _object(sent: _Sentence, pos: int, vclass: str) -> tuple[str, int, int] | None:
    """The object of a pause/lift verb starting at `pos`: (rule, window start, window end) if it is
    about government data requests."""
    s = sent.low
    end = sent.window_end(pos)
    head_pos = _strip_lead(s, pos, end)
    if head_pos >= end:
        return None
    raw = s[pos:end].lstrip()
    if _SINGULAR_REQUEST.match(raw) and vclass in ("refuse", "reject"):
        return None  # refusing one request is not a pause
    if vclass == "refuse":
        m = re.match(r"to\s+(?:(?:\w+ly|even|then|also)\s+)*(" + _HANDLING_BASE + r")\b", s[head_pos:end])
        if m and _qualifies(s, m.group(1), head_pos, end):
            return "refuse+handling-object", pos, end
    if vclass in ("pause", "lift"):
        m = re.match(_HANDLING_HEAD, s[head_pos:end]) or _NOUN_TO_HANDLING.match(s, head_pos, end)
        if m and _qualifies(s, m.group(1), head_pos, end):
            return f"{vclass}-verb+handling-object", pos, end
    m = _REQ_NP.match(s, head_pos, end)
    if m and _qualifies(s, "request", head_pos, end):
        return f"{vclass}-verb+request-object", pos, end
    return None


def _subject_window_qualifies(sent: _Sentence, start: int, end: int) -> bool:
    """For passives and intransitives ('requests from X were paused', '..., has now resumed')."""
    s = sent.low
    window = s[start:end]
    head = re.search(_HANDLING_HEAD, window)
    return _qualifies(s, head.group(1) if head else "", start, end)


def _bare_jurisdiction_object(sent: _Sentence, start: int, end: int) -> bool:
    """'lifted the pause for Hong Kong': nothing but places, authorities and function words."""
    if not sent.jurisdictions_in(start, end):
        return False
    chars = list(sent.low[start:end])
    for m in sent.mentions:
        if start <= m.start and m.end <= end:
            chars[m.start - start:m.end - start] = " " * (m.end - m.start)
    rest = _AUTH_WORD.sub(" ", "".join(chars))
    rest = re.sub(r"\b(?:on|of|in|for|to|affecting|regarding|concerning|covering|the|all|any|"
                  r"requests?|from|related|and|our|its)\b|[,.]", " ", rest)
    return not rest.strip()


def _assert_all(kind: str, rule: str, pos: int, codes: list[str]) -> Iterator[Assertion]:
    for code in codes:
        yield Assertion(kind, code, rule, pos)


def _targets(sent: _Sentence, start: int, end: int) -> list[str]:
    return sent.jurisdictions_in(start, end) or sent.fallback_jurisdictions(start, end)


def _pause_verbs(sent: _Sentence) -> Iterator[Assertion]:
    s = sent.low
    for m in _PAUSE_VERB.finditer(s):
        verb = m.group(1).lower()
        prev = s[max(0, m.start() - 12):m.start()].lower().split()
        if prev and prev[-1] in ("a", "an", "the", "this", "that", "our", "its", "their", "temporary", "no"):
            continue  # a noun ("the pause on ..."): the noun rules handle it
        vclass = _verb_class(verb)
        cs = sent.clause_start(m.start())
        vg = _verb_group(s, m.start(), cs)
        passive = verb in _PARTICIPLES and vg.has(_BE)
        after = s[m.end():m.end() + 30].lstrip()
        # Headline / table style: "Requests from Hong Kong authorities: paused since July 2020".
        label_cs = sent.clause_start(cs - 1) if cs and not s[cs:m.start()].strip() else cs
        participial = (verb in _PARTICIPLES and not vg.words and not passive
                       and (not after or re.match(r"(?:in|on|since|from|until|as|at|for|after|by|pending|"
                                                  r"effective|[.,;:|])", after))
                       and _REQUEST_WORD.search(s, label_cs, m.start()) is not None
                       and not _WE.search(s[label_cs:m.start()]))
        if passive or participial:
            yield from _passive_pause(sent, m, vg, vclass, label_cs if participial else None)
            continue
        obj = _object(sent, m.end(), vclass)
        if obj is None:
            continue
        rule, ws, we = obj
        if vg.never or sent.modal(vg, m.start()) or sent.denied(vg.start) or sent.other_actor(vg):
            continue
        if vg.negated:
            continue  # "we have not paused"
        kind = PAUSE
        if vg.no_longer:
            kind, rule = LIFT, "no-longer-pausing"
        elif sent.history(cs, we):
            continue
        yield from _assert_all(kind, rule, m.start(), _targets(sent, ws, we))


def _passive_pause(sent: _Sentence, m: re.Match[str], vg: _VerbGroup, vclass: str,
                   subject_start: int | None = None) -> Iterator[Assertion]:
    s = sent.low
    cs = own_cs = sent.clause_start(vg.start) if subject_start is None else subject_start
    # The subject may sit before a relative clause: "Requests from X, which we had answered, are
    # now refused". Step back over such clauses (only when a relative pronoun is in between).
    for _ in range(4):
        if _subject_window_qualifies(sent, cs, vg.start):
            break
        prev = sent.clause_start(cs - 1) if cs else 0
        if cs == 0 or not _RELATIVE.search(s, max(0, prev - 8), vg.start):
            return
        cs = prev
    else:
        return
    tail_end = sent.window_end(m.end())
    tail = s[m.end():tail_end]
    if re.match(r"\s*by\s+(?:the\s+)?(?:[\w'-]+\s+){0,3}?(?:government|authorities|police|court|regulator|"
                r"officials|state|ministry)", tail):
        return  # paused by the authorities themselves
    if sent.modal(vg, m.start()) or sent.denied(vg.start) or vg.never:
        return
    # "requests were rejected" is usually a statistic; only a standing rule counts.
    if vclass in ("reject", "refuse") and not (vg.has(_FUTURE) or "being" in vg.words or "now" in vg.words):
        return
    if vg.no_longer:
        kind, rule = LIFT, "no-longer-paused"
    elif vg.negated or sent.history(own_cs, tail_end):
        return
    else:
        kind, rule = PAUSE, "passive-pause+request-subject"
    codes = sent.jurisdictions_in(cs, vg.start)
    if re.match(r"\s*(?:for|from|in|to|with|regarding|concerning|involving|related|relating|originating)\b",
                tail):
        codes += [c for c in sent.jurisdictions_in(m.end(), tail_end) if c not in codes]
    yield from _assert_all(kind, rule, m.start(), codes or sent.fallback_jurisdictions(cs, tail_end))


def _negated_handling(sent: _Sentence) -> Iterator[Assertion]:
    """'will no longer process', 'won't process', 'would not comply with', 'are not accepting'."""
    s = sent.low
    for m in _HANDLING_VERB.finditer(s):
        cs = sent.clause_start(m.start())
        vg = _verb_group(s, m.start(), cs)
        if not (vg.negated or vg.no_longer) or vg.never:
            continue
        if vg.has(frozenset({"can't", "cannot", "couldn't", "unable", "can", "could"})) and not vg.no_longer:
            continue  # inability is not a decision
        verb = m.group(1).lower()
        first = verb.split()[0]
        passive = vg.has(_BE) and (first.endswith(("ed", "en")) or first == "dealt")
        if passive:
            if not (vg.no_longer or vg.has(_FUTURE) or "being" in vg.words
                    or vg.has(frozenset({"are", "is", "aren't", "isn't"}))):
                continue  # "it was not fulfilled": one request, not a rule
            if not _subject_window_qualifies(sent, cs, vg.start):
                continue
            ws, we = cs, sent.window_end(m.end())
            has_request = True
        else:
            we = sent.window_end(m.end())
            ws = m.end()
            window = s[ws:we]
            has_request = bool(_REQUEST_WORD.search(window))
            if not _qualifies(s, verb, ws, we):
                continue
            if not has_request:
                # Data without a request: "will not / no longer share data with the police" refuses;
                # "we do not share data with any government" is an assurance, not a change.
                if vg.has(_DO | _PERFECT) and not vg.no_longer:
                    continue
            elif vg.has(_PAST_AUX) and not vg.no_longer:
                continue  # "did not comply with the request": one past event
            if sent.other_actor(vg):
                continue
        if sent.modal(vg, m.start(), refusal=True) or sent.denied(vg.start):
            continue
        if _ASSURANCE.search(s, max(0, vg.start - 24), vg.start):
            continue
        if sent.history(cs, we) and not vg.has(_FUTURE):
            continue
        if _AGAIN.search(s, vg.start, m.start()):
            continue
        yield from _assert_all(PAUSE, "negated-handling+request-object", m.start(), _targets(sent, ws, we))


def _pause_nouns(sent: _Sentence) -> Iterator[Assertion]:
    """'announced the suspension of processing requests ...', 'a pause on requests from ...'."""
    s = sent.low
    for m in _PAUSE_NOUN.finditer(s):
        before = s[max(0, m.start() - 40):m.start()].lower()
        if re.search(r"\b(?:no|not\s+a|without|any)\s+(?:\w+\s+)?$", before):
            continue
        if _LIFT_OF_PAUSE.search(s, max(0, m.start() - 60), m.end()) or _PAUSE_OVER.match(s, m.start()):
            continue  # lifted / ended: the lift rules handle it
        if re.search(r"\b(?:government|authorities|police|court|regulator)'s\s+(?:\w+\s+)?$", before):
            continue
        noun = m.group(1).lower()
        if noun in ("hold", "stop", "halt") and not re.search(r"\b(?:a|the|put|placed|temporary|its|our)\s+$",
                                                             before):
            continue  # "hold on to", "stop on ..." are not the noun
        obj = _object(sent, m.end(), "pause")
        if obj is None:
            continue
        cs = sent.clause_start(m.start())
        vg = _verb_group(s, m.start(), cs)
        if sent.modal(vg, m.start()) or sent.denied(m.start()) or sent.history(cs, obj[2]):
            continue
        if _NEG_NEAR.search(s, max(cs, m.start() - 30), m.start()):
            continue
        if sent.other_actor(_VerbGroup(m.start(), [])):
            continue
        _, ws, we = obj
        yield from _assert_all(PAUSE, "pause-noun+request-object", m.start(), _targets(sent, ws, we))


def _on_hold(sent: _Sentence) -> Iterator[Assertion]:
    s = sent.low
    for m in _ON_HOLD.finditer(s):
        cs = sent.clause_start(m.start())
        put = None
        for p in _PUT.finditer(s, cs, m.start()):
            put = p
        if put is not None:
            between = (put.end(), m.start())
            if s[between[0]:between[1]].strip():
                ok = _subject_window_qualifies(sent, *between)
                ws, we = between
            else:
                obj = _object(sent, m.end(), "pause")
                ok = obj is not None
                ws, we = (obj[1], obj[2]) if obj else (0, 0)
            vg = _verb_group(s, put.start(), cs)
            if not ok or vg.negated or sent.modal(vg, put.start()) or sent.other_actor(vg):
                continue
            kind, rule = (LIFT, "no-longer-on-hold") if vg.no_longer else (PAUSE, "put-on-hold")
            if kind == PAUSE and (sent.history(cs, we) or sent.denied(put.start())):
                continue
            yield from _assert_all(kind, rule, put.start(), _targets(sent, ws, we))
        else:
            vg = _verb_group(s, m.start(), cs)
            if not vg.has(_BE) or not _subject_window_qualifies(sent, cs, vg.start):
                continue
            if sent.modal(vg, m.start()) or sent.denied(vg.start):
                continue
            if vg.no_longer:
                kind, rule = LIFT, "no-longer-on-hold"
            elif vg.negated or sent.history(cs, sent.window_end(m.end())):
                continue
            else:
                kind, rule = PAUSE, "on-hold"
            yield from _assert_all(kind, rule, m.start(), sent.jurisdictions_in(cs, sent.window_end(m.end())))


def _lift_verbs(sent: _Sentence) -> Iterator[Assertion]:
    """'resumed processing requests from ...', '... which we paused in July 2020, has now resumed'."""
    s = sent.low
    for m in _LIFT_VERB.finditer(s):
        cs = sent.clause_start(m.start())
        vg = _verb_group(s, m.start(), cs)
        if vg.negated or vg.never or sent.modal(vg, m.start()) or sent.denied(vg.start):
            continue
        obj = _object(sent, m.end(), "lift")
        if obj is not None:
            if sent.other_actor(vg):
                continue
            _, ws, we = obj
            yield from _assert_all(LIFT, "lift-verb+request-object", m.start(), _targets(sent, ws, we))
            continue
        after = s[m.end():m.end() + 40].lstrip()
        if re.match(r"(?:them|it|those|these|this|that)\b", after) and not sent.other_actor(vg):
            # "we paused requests from Hong Kong; we resumed them in 2022": the antecedent precedes.
            if _subject_window_qualifies(sent, 0, vg.start):
                yield from _assert_all(LIFT, "lift-verb+pronoun-object", m.start(),
                                       sent.jurisdictions_in(0, vg.start))
            continue
        intransitive = (not after or vg.has(_BE) or re.match(
            r"(?:now|again|today|in|on|since|as|from|after|with|effective|last|this|for|[.,;:|]|\d)",
            after))
        # "Our processing of requests ... has resumed" (a handling noun: ours) or "we paused requests
        # from X; it resumed in 2021". "Requests from X have resumed" alone could be the authorities
        # sending again, so it is not enough.
        if (intransitive and (_HANDLING_HEAD_RE.search(s, 0, vg.start) or _PAUSE_VERB.search(s, 0, vg.start))
                and _subject_window_qualifies(sent, 0, vg.start)):
            yield from _assert_all(LIFT, "lift-verb-intransitive", m.start(), sent.jurisdictions_in(0, vg.start))


def _lift_of_pause(sent: _Sentence) -> Iterator[Assertion]:
    """'we have lifted the pause on requests from ...', 'ended the suspension of ...'."""
    s = sent.low
    for m in _LIFT_OF_PAUSE.finditer(s):
        cs = sent.clause_start(m.start())
        vg = _verb_group(s, m.start(), cs)
        if vg.negated or sent.modal(vg, m.start()) or sent.denied(vg.start) or sent.other_actor(vg):
            continue
        ws, we = m.end(), sent.window_end(m.end())
        obj = re.match(r"\s*(?:on|of|in|for|to|affecting|regarding|covering)?\s*", s[ws:we])
        obj_start = ws + (obj.end() if obj else 0)
        qualifies = _object(sent, obj_start, "pause") is not None or _bare_jurisdiction_object(sent, ws, we)
        if not qualifies:
            continue
        codes = sent.jurisdictions_in(m.start(), we)
        yield from _assert_all(LIFT, "lift-of-pause", m.start(), codes)


def _pause_over(sent: _Sentence) -> Iterator[Assertion]:
    """'the pause on Hong Kong requests has ended', '... suspension was lifted'."""
    s = sent.low
    for m in _PAUSE_OVER.finditer(s):
        mid_start, mid_end = m.start(2), m.end(2)
        if _NEG_NEAR.search(s, mid_start, m.start(3)) or _IRREALIS.search(s, mid_start, m.start(3)):
            continue
        if sent.denied(m.start()):
            continue
        obj = re.match(r"\s*(?:on|of|in|for|to|affecting|regarding|covering)?\s*", s[mid_start:mid_end])
        obj_start = mid_start + (obj.end() if obj else 0)
        ok = (_qualifies(s, "", obj_start, mid_end)
              or bool(re.match(_HANDLING_HEAD, s[_strip_lead(s, obj_start, mid_end):mid_end])
                      and _qualifies(s, "processing", obj_start, mid_end))
              or _bare_jurisdiction_object(sent, mid_start, mid_end))
        if not ok:
            continue
        yield from _assert_all(LIFT, "pause-ended", m.start(3), sent.jurisdictions_in(m.start(), mid_end))


def _again(sent: _Sentence) -> Iterator[Assertion]:
    """'will again respond to requests from ...', 'accepting requests from ... again'."""
    s = sent.low
    if not _AGAIN.search(s):
        return
    for m in _HANDLING_VERB.finditer(s):
        cs = sent.clause_start(m.start())
        vg = _verb_group(s, m.start(), cs)
        we = sent.window_end(m.end())
        if not (_AGAIN.search(s, vg.start, m.start()) or _AGAIN.search(s, m.end(), we)):
            continue
        if vg.negated or vg.never or sent.modal(vg, m.start()) or sent.denied(vg.start):
            continue
        verb = m.group(1).lower()
        if vg.has(_BE) and verb.split()[0].endswith(("ed", "en")):
            # "Requests from X are being processed again": the requests are the subject.
            if _subject_window_qualifies(sent, cs, vg.start) and _REQUEST_WORD.search(s, cs, vg.start):
                yield from _assert_all(LIFT, "again+handling", m.start(), sent.jurisdictions_in(cs, we))
            continue
        if not _qualifies(s, verb, m.end(), we):
            continue
        if not _REQUEST_WORD.search(s, m.end(), we) and not vg.has(_FUTURE):
            continue  # "again shared data with the police" tells of one event
        if sent.other_actor(vg):
            continue
        yield from _assert_all(LIFT, "again+handling", m.start(), _targets(sent, m.end(), we))


def _mlat_redirect(sent: _Sentence) -> Iterator[Assertion]:
    """'... would instead direct officials to pursue any requests through the Mutual Legal Assistance
    Treaty': the company stopped answering that jurisdiction directly."""
    s = sent.low
    mlat = _MLAT.search(s)
    if not mlat or not _MLAT_CHANGE.search(s) or _MLAT_HABIT.search(s):
        return
    verb = None
    for v in _MLAT_VERB.finditer(s, 0, mlat.start()):
        verb = v
    if verb is None or not _REQUEST_WORD.search(s, verb.end(), mlat.start()):
        return
    cs = sent.clause_start(verb.start())
    vg = _verb_group(s, verb.start(), cs)
    if vg.negated or sent.modal(vg, verb.start()) or sent.other_actor(vg) or sent.denied(vg.start):
        return
    # The treaty partner ("a treaty with the United States") is not the paused jurisdiction.
    codes = [c for c in sent.jurisdictions_in(0, mlat.start())]
    yield from _assert_all(PAUSE, "mlat-redirect", verb.start(), codes)


_RULES = (_pause_verbs, _negated_handling, _pause_nouns, _on_hold, _lift_verbs, _lift_of_pause,
          _pause_over, _again, _mlat_redirect)


def assess(sentence: str, company: str | None = None) -> list[Assertion]:
    """Pause / lift assertions in one sentence, one per jurisdiction, in order of the trigger.
    A jurisdiction with both a pause and a lift in the sentence gets the lift only."""
    s = normalize(sentence)
    if not s or not _TRIGGER.search(_lower(s)):
        return []
    sent = _Sentence(s, company)
    if not sent.mentions:
        return []  # events are keyed by jurisdiction: nothing to report without one
    found: dict[str, Assertion] = {}
    for rule in _RULES:
        for a in rule(sent):
            prev = found.get(a.jurisdiction)
            if prev is None or (prev.kind == PAUSE and a.kind == LIFT):
                found[a.jurisdiction] = a
    return sorted(found.values(), key=lambda a: (a.pos, a.jurisdiction))
