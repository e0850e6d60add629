"""Jurisdiction names -> ISO 3166-1 alpha-2 codes.

The lookup is built once at import: every surface form (pycountry names plus the forms policy texts
and news reports actually use, adjectives and demonyms included) goes into one of two compiled
regexes. Case-insensitive forms are compiled as a character trie, so a sentence is scanned in one
pass without trying hundreds of alternatives at every position. Short acronyms and names that are
also ordinary words or first names ("US"/"us", "Turkey"/"turkey", "Chad", "Polish") are matched
case-sensitively. Overlaps are resolved longest-first, so "Papua New Guinea" is never "Guinea" and
"New Jersey" (a blocker mapping to nothing) is never "Jersey".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pycountry

# Short names for messages, where pycountry's name is long or formal.
_SHORT_NAMES: dict[str, str] = {
    "BO": "Bolivia", "BN": "Brunei", "CD": "DR Congo", "CG": "Congo", "FK": "Falkland Islands",
    "FM": "Micronesia", "GB": "the UK", "IR": "Iran", "KP": "North Korea", "KR": "South Korea",
    "LA": "Laos", "MD": "Moldova", "MF": "Saint Martin", "PS": "Palestine", "RU": "Russia",
    "SX": "Sint Maarten", "SY": "Syria", "TW": "Taiwan", "TZ": "Tanzania", "US": "the US",
    "VA": "Vatican City", "VE": "Venezuela", "VG": "British Virgin Islands", "VI": "US Virgin Islands",
    "VN": "Vietnam", "CC": "Cocos Islands", "BQ": "Caribbean Netherlands",
    "SH": "Saint Helena", "HK": "Hong Kong", "MO": "Macao", "CN": "China", "TR": "Türkiye",
}

# Forms used in policy texts and reporting that pycountry does not carry. Value None = a blocker:
# a longer phrase that contains a country name but is not that country.
_EXTRA: dict[str, str | None] = {
    # Hong Kong / Macao / China
    "Hong Kong SAR": "HK", "Hong Kong S.A.R.": "HK", "Hong Kong Special Administrative Region": "HK",
    "Hong Kong Special Administrative Region of the People's Republic of China": "HK",
    "Hong Kong, China": "HK", "Hong Kong Police Force": "HK", "Hongkong": "HK",
    "Macao SAR": "MO", "Macau SAR": "MO", "Macau": "MO", "Macao Special Administrative Region": "MO",
    "Macau Special Administrative Region": "MO", "Macao, China": "MO", "Macau, China": "MO",
    "Macanese": "MO",
    "mainland China": "CN", "Mainland China": "CN", "Mainland Chinese": "CN", "Chinese": "CN",
    "People's Republic of China": "CN",
    "Taiwan": "TW", "Taiwan, Province of China": "TW", "Republic of China": "TW", "Taiwanese": "TW",
    # Russia, Belarus, Myanmar, Türkiye and other frequent forms
    "Russia": "RU", "the Russian Federation": "RU", "Russian": "RU", "Kremlin": "RU",
    "Roskomnadzor": "RU",
    # Capitals used for their governments ("requests from Beijing"); "-based" uses are dropped by the rules.
    "Beijing": "CN", "Moscow": "RU", "Minsk": "BY", "Ankara": "TR", "Naypyidaw": "MM", "Nay Pyi Taw": "MM",
    "Belarusian": "BY", "Belarussian": "BY", "Byelorussian": "BY", "Belorussian": "BY",
    "Byelorussia": "BY",
    "Burma": "MM", "Burmese": "MM", "Tatmadaw": "MM",
    "Turkiye": "TR", "Türkiye": "TR", "Turkish": "TR",
    "South Korea": "KR", "Republic of Korea": "KR", "Korea": "KR", "Korean": "KR", "South Korean": "KR",
    "North Korea": "KP", "North Korean": "KP",
    "United Kingdom": "GB", "Great Britain": "GB", "Britain": "GB", "British": "GB", "England": "GB",
    "Scotland": "GB", "Northern Ireland": "GB", "Northern Irish": "GB",
    "United States": "US", "United States of America": "US", "America": "US", "American": "US",
    "Vietnam": "VN", "Viet Nam": "VN", "Iran": "IR", "Syria": "SY", "Laos": "LA", "Moldova": "MD",
    "Bolivia": "BO", "Venezuela": "VE", "Tanzania": "TZ", "Brunei": "BN", "Palestine": "PS",
    "Czech Republic": "CZ", "Holland": "NL", "Ivory Coast": "CI", "Cote d'Ivoire": "CI",
    "East Timor": "TL", "Swaziland": "SZ", "Macedonia": "MK", "Cape Verde": "CV", "Micronesia": "FM",
    "Democratic Republic of the Congo": "CD", "Democratic Republic of Congo": "CD", "DR Congo": "CD",
    "Republic of the Congo": "CG", "Congo-Brazzaville": "CG", "Vatican": "VA", "Vatican City": "VA",
    "Vatican City State": "VA", "Holy See": "VA", "Falkland Islands": "FK", "Cocos Islands": "CC",
    "The Gambia": "GM", "British Virgin Islands": "VG", "US Virgin Islands": "VI",
    "U.S. Virgin Islands": "VI", "Saint Martin": "MF", "Sint Maarten": "SX", "Saint Helena": "SH",
    "UAE": "AE", "Emirati": "AE", "Turkmen": "TM",
    # Blockers: contain a country name or adjective but are not that country.
    "New Jersey": None, "New Mexico": None, "New South Wales": None, "Latin America": None,
    "Latin American": None, "South America": None, "South American": None, "North America": None,
    "North American": None, "Central America": None, "Central American": None, "African American": None,
    "Native American": None, "Indian Ocean": None, "American Samoa": "AS", "British Columbia": None,
    "Hong Kong Free Press": None, "Guinea pig": None, "Georgia Tech": None,
    "Russian roulette": None, "Chinese New Year": None, "Turkish delight": None, "French fries": None,
}

# Adjective / demonym -> code (case-insensitive unless listed in _CASE_SENSITIVE).
_DEMONYMS: dict[str, str] = {
    "Afghan": "AF", "Albanian": "AL", "Algerian": "DZ", "Argentine": "AR", "Argentinian": "AR",
    "Armenian": "AM", "Australian": "AU", "Austrian": "AT", "Azerbaijani": "AZ", "Bahraini": "BH",
    "Bangladeshi": "BD", "Belgian": "BE", "Bosnian": "BA", "Brazilian": "BR", "Bulgarian": "BG",
    "Cambodian": "KH", "Cameroonian": "CM", "Canadian": "CA", "Chilean": "CL", "Colombian": "CO",
    "Croatian": "HR", "Cuban": "CU", "Cypriot": "CY", "Czech": "CZ", "Danish": "DK", "Dutch": "NL",
    "Ecuadorian": "EC", "Egyptian": "EG", "Eritrean": "ER", "Estonian": "EE", "Ethiopian": "ET",
    "Filipino": "PH", "Philippine": "PH", "Finnish": "FI", "French": "FR", "Georgian": "GE",
    "German": "DE", "Ghanaian": "GH", "Greek": "GR", "Guatemalan": "GT", "Honduran": "HN",
    "Hungarian": "HU", "Icelandic": "IS", "Indian": "IN", "Indonesian": "ID", "Iranian": "IR",
    "Iraqi": "IQ", "Irish": "IE", "Israeli": "IL", "Italian": "IT", "Ivorian": "CI", "Jamaican": "JM",
    "Japanese": "JP", "Jordanian": "JO", "Kazakh": "KZ", "Kazakhstani": "KZ", "Kenyan": "KE",
    "Kuwaiti": "KW", "Kyrgyz": "KG", "Laotian": "LA", "Latvian": "LV", "Lebanese": "LB",
    "Libyan": "LY", "Lithuanian": "LT", "Luxembourgish": "LU", "Malaysian": "MY", "Maltese": "MT",
    "Mexican": "MX", "Moldovan": "MD", "Mongolian": "MN", "Montenegrin": "ME", "Moroccan": "MA",
    "Nepalese": "NP", "Nepali": "NP", "Nicaraguan": "NI", "Nigerian": "NG", "Norwegian": "NO",
    "Omani": "OM", "Pakistani": "PK", "Palestinian": "PS", "Panamanian": "PA", "Paraguayan": "PY",
    "Peruvian": "PE", "Polish": "PL", "Portuguese": "PT", "Qatari": "QA", "Romanian": "RO",
    "Rwandan": "RW", "Saudi": "SA", "Senegalese": "SN", "Serbian": "RS", "Singaporean": "SG",
    "Slovak": "SK", "Slovenian": "SI", "Somali": "SO", "South African": "ZA", "Spanish": "ES",
    "Sri Lankan": "LK", "Sudanese": "SD", "South Sudanese": "SS", "Swedish": "SE", "Swiss": "CH",
    "Syrian": "SY", "Tajik": "TJ", "Tanzanian": "TZ", "Thai": "TH", "Tunisian": "TN", "Ugandan": "UG",
    "Ukrainian": "UA", "Uruguayan": "UY", "Uzbek": "UZ", "Venezuelan": "VE", "Vietnamese": "VN",
    "Yemeni": "YE", "Zambian": "ZM", "Zimbabwean": "ZW", "New Zealander": "NZ", "Salvadoran": "SV",
    "Bolivian": "BO", "Costa Rican": "CR", "Dominican": "DO", "Haitian": "HT", "Macedonian": "MK",
}

# Matched only as written (and in all caps): acronyms, and names that are also common words or
# first names.
_CASE_SENSITIVE: dict[str, str | None] = {
    "US": "US", "U.S.": "US", "U.S": "US", "USA": "US", "U.S.A.": "US", "UK": "GB", "U.K.": "GB",
    "PRC": "CN", "P.R.C.": "CN", "HKSAR": "HK", "HK": "HK", "DPRK": "KP", "ROK": "KR", "DRC": "CD", "FSB": "RU",
    "Chad": "TD", "Jordan": "JO", "Jersey": "JE", "Turkey": "TR", "Niger": "NE", "Mali": "ML",
    "Chile": "CL", "Polish": "PL", "Thai": "TH", "Panama": "PA", "Bermuda": "BM", "Wales": "GB",
    "Guinea": "GN", "Georgia": "GE", "Oman": "OM", "Swiss": "CH", "Saudi": "SA",
    "Czech": "CZ", "Greek": "GR", "Dutch": "NL", "French": "FR", "German": "DE", "Indian": "IN",
    "Irish": "IE", "Italian": "IT", "Spanish": "ES", "Danish": "DK", "Finnish": "FI", "Swedish": "SE",
    "Cuban": "CU", "Afghan": "AF", "Somali": "SO", "Kazakh": "KZ", "Uzbek": "UZ", "Tajik": "TJ",
}
# First-name countries: skipped when they look like part of a person's name ("Chad Smith").
_NAMEISH = frozenset({"Chad", "Jordan", "Georgia"})
# Words that may follow a country name without making it a person's name.
_AFTER_OK = frozenset({
    "Government", "Police", "Authorities", "Authority", "Ministry", "Courts", "Court", "State",
    "Republic", "Kingdom", "Law", "Federation", "SAR", "Special", "Police Force", "Officials", "Customs",
})


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    code: str
    text: str


def _ascii_fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def _pycountry_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if not value or "," in value:  # "Korea, Republic of": the useful forms come from _EXTRA
                continue
            value = re.sub(r"\s*\(.*?\)", "", value).strip()
            if value.lower().startswith("the "):
                value = value[4:]
            forms[value] = c.alpha_2
    return forms


def _trie_regex(words: list[str]) -> str:
    """A regex matching exactly `words` (already lowercased), factored as a prefix trie."""
    trie: dict[str, dict] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # An end here plus longer continuations: prefer the longer one (greedy '?').
        return f"(?:{body})?" if ends else body

    return emit(trie)


def _build() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, str | None], dict[str, str | None]]:
    ci: dict[str, str | None] = {}
    for form, code in _pycountry_forms().items():
        ci[form] = code
    for form, code in _DEMONYMS.items():
        ci[form] = code
    ci.update(_EXTRA)
    cs: dict[str, str | None] = {}
    for form, code in _CASE_SENSITIVE.items():
        cs[form] = code
        cs[form.upper()] = code
        ci.pop(form, None)
    for form, code in list(ci.items()):
        folded = _ascii_fold(form)
        if folded != form:
            ci.setdefault(folded, code)
        if "'" in form:  # typographic apostrophes: "People’s Republic of China"
            ci.setdefault(form.replace("'", "’"), code)
            ci.setdefault(folded.replace("'", "’"), code)
    ci_lower: dict[str, str | None] = {}
    for form, code in ci.items():
        ci_lower.setdefault(form.lower(), code)
    # Lookbehind/lookahead keep matches on word edges: "India" not in "Indiana", "Oman" not in "woman".
    # Matched against a lowercased copy of the text: much faster than re.IGNORECASE.
    ci_re = re.compile(r"(?<![\w'])(?:" + _trie_regex(sorted(ci_lower)) + r")(?![\w])")
    cs_forms = sorted(cs, key=len, reverse=True)
    cs_re = re.compile(r"(?<![\w.'])(?:" + "|".join(re.escape(f) for f in cs_forms) + r")(?![\w]|\.\w)")
    return ci_re, cs_re, ci_lower, cs


_CI_RE, _CS_RE, _CI_FORMS, _CS_FORMS = _build()
_CAPWORD = re.compile(r"\s+([A-Z][a-z]+)")
_PREV_CAPWORD = re.compile(r"([A-Z][a-z]+)\s+$")
_SENTENCE_STARTERS = frozenset({"The", "In", "From", "For", "To", "Of", "And", "With", "By", "On", "At"})


def _is_person_name(text: str, start: int, end: int) -> bool:
    after = _CAPWORD.match(text, end)
    if after and after.group(1) not in _AFTER_OK:
        return True
    before = _PREV_CAPWORD.search(text[max(0, start - 30):start])
    return bool(before and before.group(1) not in _SENTENCE_STARTERS)


def _shouting(text: str, start: int, end: int) -> bool:
    """'US' inside an all-caps run ('CONTACT US') is the pronoun, not the country."""
    left = re.search(r"([A-Z]{3,})[\s,]+$", text[max(0, start - 20):start])
    right = re.match(r"[\s,]+([A-Z]{3,})\b", text[end:end + 20])
    known = {"FBI", "DOJ", "NSA", "MLAT", "CLOUD", "DHS", "CBP", "ICE", "SEC", "FTC", "FISA"}
    return bool((left and left.group(1) not in known) or (right and right.group(1) not in known))


def mentions(text: str) -> list[Mention]:
    """All jurisdiction mentions in `text`, left to right, non-overlapping, longest match first."""
    found: list[tuple[int, int, str | None]] = []
    low = text.lower()
    if len(low) != len(text):  # keep offsets: a few characters lowercase to two
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    for m in _CI_RE.finditer(low):
        found.append((m.start(), m.end(), _CI_FORMS.get(m.group(0))))
    if _CS_RE.search(text):
        for m in _CS_RE.finditer(text):
            form = m.group(0)
            code = _CS_FORMS.get(form)
            if code and form in _NAMEISH and _is_person_name(text, m.start(), m.end()):
                code = None
            if code and form == "US" and _shouting(text, m.start(), m.end()):
                continue
            found.append((m.start(), m.end(), code))
        found.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    out: list[Mention] = []
    last_end = -1
    for start, end, code in found:
        if start < last_end:
            continue
        last_end = end
        if code:
            out.append(Mention(start, end, code, text[start:end]))
    return out


def find_jurisdictions(sentence: str) -> list[str]:
    """ISO codes of the jurisdictions a sentence names, in order of first mention, deduplicated."""
    seen: dict[str, None] = {}
    for m in mentions(sentence):
        seen.setdefault(m.code, None)
    return list(seen)


def jurisdiction_name(code: str) -> str:
    """A short common name for messages: 'HK' -> 'Hong Kong'; unknown codes come back unchanged."""
    code = code.upper()
    if code in _SHORT_NAMES:
        return _SHORT_NAMES[code]
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or re.sub(r"\s*\(.*?\)", "", country.name)
