"""Typed-event classifier: the data-driven case table plus unit tests of its parts."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.classify import Finding, classify, find_jurisdictions, jurisdiction_name, split_sentences

CASES: list[dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "classify_cases.toml").read_text(encoding="utf-8")
)["case"]


def _shape(findings: list[Finding], expect: list[list[str]]) -> list[list[str]]:
    """Findings as [kind, jurisdiction(, evidence)] lists, as long as each expected item."""
    out = []
    for i, f in enumerate(findings):
        width = len(expect[i]) if i < len(expect) else 3
        out.append([f.kind, f.jurisdiction, f.evidence][:width])
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['text'][:50]}" for i, c in enumerate(CASES)])
def test_case_table(case: dict[str, Any]) -> None:
    findings = classify(case.get("old", ""), case["text"], case.get("company"))
    assert _shape(findings, case["expect"]) == case["expect"], case.get("why", "")


def test_case_table_covers_every_rule() -> None:
    rules = {f.rule for c in CASES for f in classify(c.get("old", ""), c["text"], c.get("company"))}
    assert {
        "pause-verb+request-object", "pause-verb+handling-object", "refuse+handling-object",
        "reject-verb+request-object", "negated-handling+request-object", "passive-pause+request-subject",
        "pause-noun+request-object", "on-hold", "put-on-hold", "mlat-redirect", "lift-verb+request-object",
        "lift-verb-intransitive", "lift-verb+pronoun-object", "lift-of-pause", "pause-ended",
        "no-longer-paused", "again+handling",
    } <= rules


# ---- the finding itself -------------------------------------------------------------------------


def test_finding_fields_for_a_new_pause() -> None:
    quote = "We have paused processing any data requests from, and related to, Hong Kong SAR."
    [f] = classify("Government requests\nWe review every request.", f"Government requests\n{quote}", "Zoom")
    assert f == Finding("pause_started", "HK", quote, "stated", f.rule)
    assert f.rule.startswith("pause-verb")


def test_removed_statement_quotes_the_old_sentence() -> None:
    old = "Intro.\nWe have suspended processing of all data requests from and related to Hong Kong SAR."
    [f] = classify(old, "Intro.")
    assert (f.kind, f.jurisdiction, f.evidence) == ("pause_lifted", "HK", "statement_removed")
    assert f.quote == "We have suspended processing of all data requests from and related to Hong Kong SAR."


def test_reworded_pause_is_no_event() -> None:
    old = "We have paused processing any data requests from, and related to, Hong Kong SAR."
    new = "Data requests from the Hong Kong authorities remain on hold while we review the law."
    assert classify(old, new) == []
    assert classify(new, old) == []


def test_one_sentence_two_jurisdictions_two_events() -> None:
    found = classify("", "We are pausing all data requests from Hong Kong and mainland China.")
    assert [(f.kind, f.jurisdiction) for f in found] == [("pause_started", "CN"), ("pause_started", "HK")]
    assert found[0].quote == found[1].quote


def test_paused_then_resumed_in_one_sentence_is_a_lift_only() -> None:
    text = "Our processing of data requests from Hong Kong, which we paused in July 2020, has now resumed."
    assert [(f.kind, f.jurisdiction, f.evidence) for f in classify("", text)] == [
        ("pause_lifted", "HK", "stated")]
    # and against an old text that had the pause: the stated lift, not also "statement_removed"
    old = "We have paused data requests from Hong Kong authorities."
    assert [(f.kind, f.evidence) for f in classify(old, text)] == [("pause_lifted", "stated")]


def test_stated_lift_not_repeated_when_already_in_old_text() -> None:
    lift = "We have resumed processing data requests from Hong Kong authorities."
    assert classify(lift, lift + "\nOther text.") == []


def test_empty_and_blank_texts() -> None:
    assert classify("", "") == []
    assert classify("  \n\n ", "\n") == []
    assert classify("We paused data requests from Russia.", "") == [
        Finding("pause_lifted", "RU", "We paused data requests from Russia.", "statement_removed",
                "pause-verb+request-object")]


def test_output_is_deterministic_and_ordered() -> None:
    old = "We paused data requests from Belarus.\nWe paused data requests from Myanmar."
    new = ("We have stopped responding to requests from Russian authorities.\n"
           "Requests from Turkish and Chinese authorities are on hold.")
    first = classify(old, new)
    assert first == classify(old, new)
    assert [(f.kind, f.jurisdiction, f.evidence) for f in first] == [
        ("pause_started", "RU", "stated"), ("pause_started", "CN", "stated"), ("pause_started", "TR", "stated"),
        ("pause_lifted", "BY", "statement_removed"), ("pause_lifted", "MM", "statement_removed"),
    ]


def test_company_name_as_subject() -> None:
    text = "Acme Cloud has stopped processing data requests from the Hong Kong Police Force."
    assert [f.jurisdiction for f in classify("", text, "Acme Cloud")] == ["HK"]


# ---- segmentation -------------------------------------------------------------------------------


def test_split_keeps_abbreviations_inside_sentences() -> None:
    text = ("Requests from the U.S. Department of Justice, e.g. subpoenas, go to Acme Inc. legal. "
            "See No. 5 in the guide. Mr. Li said so.")
    assert split_sentences(text) == [
        "Requests from the U.S. Department of Justice, e.g. subpoenas, go to Acme Inc. legal.",
        "See No. 5 in the guide.",
        "Mr. Li said so.",
    ]


def test_split_after_initialism_when_a_sentence_starts() -> None:
    assert split_sentences("We operate in the U.S. We have paused requests from Hong Kong S.A.R. The end.") == [
        "We operate in the U.S.", "We have paused requests from Hong Kong S.A.R.", "The end."]
    assert split_sentences("Requests from Hong Kong SAR. We paused them.") == [
        "Requests from Hong Kong SAR.", "We paused them."]


def test_split_lines_are_blocks_and_never_merged() -> None:
    text = "Hong Kong\n- Paused since July 2020\n1. Russia: requests on hold\n\nTable | row | here"
    assert split_sentences(text) == ["Hong Kong", "Paused since July 2020", "Russia: requests on hold",
                                     "Table | row | here"]


def test_split_quotes() -> None:
    text = '"We have paused requests." The company said so. "Why?" she asked. It said: "We stopped."'
    assert split_sentences(text) == ['"We have paused requests."', "The company said so.",
                                     '"Why?" she asked.', 'It said: "We stopped."']
    text = "“We paused production on new requests,” a spokesperson said. “We’ll review the law.”"
    assert split_sentences(text) == ["“We paused production on new requests,” a spokesperson said.",
                                     "“We’ll review the law.”"]


def test_split_numbers_and_empty() -> None:
    assert split_sentences("Version 3.5 is out. 2021 was quiet.") == ["Version 3.5 is out.", "2021 was quiet."]
    assert split_sentences("") == []
    assert split_sentences(" \n \n") == []


# ---- jurisdictions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "codes"), [
    ("requests from Hong Kong SAR", ["HK"]),
    ("the HKSAR government and the Hong Kong Special Administrative Region", ["HK"]),
    ("the Hong Kong Police Force and Hong Kong authorities", ["HK"]),
    ("Macao SAR, Macau", ["MO"]),
    ("mainland China, the PRC, the People's Republic of China, the Chinese government", ["CN"]),
    ("People’s Republic of China", ["CN"]),
    ("the Russian Federation, Russian authorities, Russia", ["RU"]),
    ("Belarusian investigators and Belarus", ["BY"]),
    ("Burma, Myanmar, Burmese", ["MM"]),
    ("Türkiye, Turkiye, Turkey, Turkish law enforcement", ["TR"]),
    ("South Korea and North Korea", ["KR", "KP"]),
    ("the UK, the U.K., the United Kingdom, Britain", ["GB"]),
    ("the US, the U.S., the United States, USA", ["US"]),
    ("Papua New Guinea, not Guinea-Bissau", ["PG", "GW"]),
    ("New Jersey and Indiana", []),
    ("let us know; write to us", []),
    ("CONTACT US", []),
    ("Chad Smith met Michael Jordan", []),
    ("the government of Chad and Jordan", ["TD", "JO"]),
    ("Georgia", ["GE"]),
    ("a turkey dinner", []),
    ("Côte d'Ivoire and Ivory Coast", ["CI"]),
    ("", []),
])
def test_find_jurisdictions(text: str, codes: list[str]) -> None:
    assert find_jurisdictions(text) == codes


def test_jurisdiction_name() -> None:
    assert jurisdiction_name("HK") == "Hong Kong"
    assert jurisdiction_name("RU") == "Russia"
    assert jurisdiction_name("mm") == "Myanmar"
    assert jurisdiction_name("BY") == "Belarus"
    assert jurisdiction_name("KR") == "South Korea"
    assert jurisdiction_name("TW") == "Taiwan"
    assert jurisdiction_name("DE") == "Germany"
    assert jurisdiction_name("XX") == "XX"


# ---- speed (the benchmark is bench/bench_classify.py; this is a loose floor) -----------------------


def test_classification_is_fast() -> None:
    texts = [c["text"] for c in CASES if "\n" not in c["text"]]
    start = time.perf_counter()
    n = 0
    while n < 2000:
        for text in texts:
            classify("", text)
        n += len(texts)
    rate = n / (time.perf_counter() - start)
    assert rate > 1000, f"{rate:.0f} statements/s"
