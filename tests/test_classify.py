"""Typed-event classifier: the data-driven case table plus unit tests of its parts."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.classify import (
    RULES,
    Finding,
    classify,
    find_jurisdictions,
    is_relevant,
    jurisdiction_name,
    relevant_changes,
    split_sentences,
    statements,
)
from monitor.classify.rules import explain

CASES: list[dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "classify_cases.toml").read_text(encoding="utf-8")
)["case"]


def _shape(findings: list[Finding], expect: list[list[str]]) -> list[list[str]]:
    """Findings as [kind, jurisdiction(, evidence)] lists, as long as each expected item ("" = unspecified)."""
    out = []
    for i, f in enumerate(findings):
        width = len(expect[i]) if i < len(expect) else 3
        out.append([f.kind, f.jurisdiction or "", f.evidence][:width])
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['text'][:50]}" for i, c in enumerate(CASES)])
def test_case_table(case: dict[str, Any]) -> None:
    findings = classify(case.get("old", ""), case["text"], case.get("company"))
    assert _shape(findings, case["expect"]) == case["expect"], case.get("why", "")


def test_every_rule_is_documented_and_its_examples_fire_it() -> None:
    """The rule table in the docs comes from RULES; each rule's own examples must produce that rule."""
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert rule.summary and rule.examples, rule.name
        for example in rule.examples:
            found = [(a.kind, a.rule) for a in explain(example)]
            assert (rule.kind, rule.name) in found, f"{rule.name}: {example!r} gave {found}"


def test_case_table_covers_every_rule() -> None:
    fired = {a.rule for c in CASES for line in c["text"].splitlines() for a in explain(line, c.get("company"))}
    assert fired == {r.name for r in RULES}, f"rules no case exercises: {sorted({r.name for r in RULES} - fired)}"


# ---- the finding itself -------------------------------------------------------------------------


def test_finding_fields_for_a_new_pause() -> None:
    quote = "We have paused processing any data requests from, and related to, Hong Kong SAR."
    [f] = classify("Government requests\nWe review every request.", f"Government requests\n{quote}", "Zoom")
    assert f == Finding("pause_started", "HK", quote, "stated", f.rule)
    assert f.rule == "stop+handling"


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
                "stop+handling")]


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


def test_split_whitespace_and_one_sentence_lines() -> None:
    # The paths that skip work (lines of lone spaces, lines without a boundary) give what the
    # full one does: every other whitespace collapses to one space, a line is stripped.
    text = ("  We paused requests\tfrom  Hong\u00a0Kong.\u2003It said so.  \n"
            "One sentence without a boundary before its end.\n- A list item\n \x0b \n"
            "Ends mid-word e.g. here\nWe stopped.")
    assert split_sentences(text) == ["We paused requests from Hong Kong.", "It said so.",
                                     "One sentence without a boundary before its end.", "A list item",
                                     "Ends mid-word e.g. here", "We stopped."]


def test_trigger_prefilter_words_are_the_ascii_letter_runs() -> None:
    import re

    from monitor.classify.rules import _words

    for sentence in ("Police REQUESTS, paused!", "café naïve İstanbul Kelvin \u212a ﬁle", "don't stop-gap 3rd",
                     "", "\ud800 lone surrogate"):
        assert _words(sentence) == set(re.findall("[a-z]+", sentence.lower()))


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


# ---- page context, unspecified jurisdictions, relevant sentences ---------------------------------


def test_jurisdiction_from_the_section_heading() -> None:
    text = "Government requests\nWe answer valid requests.\nHong Kong SAR\nWe have paused our review of these requests."
    [f] = classify("", text)
    assert (f.kind, f.jurisdiction, f.context) == ("pause_started", "HK", "Hong Kong SAR")
    assert f.quote == "We have paused our review of these requests."


def test_jurisdiction_from_the_previous_sentence_of_the_section() -> None:
    text = ("Requests from Russia\nWe have received few demands from Russian police in 2021. "
            "We are suspending our answers to such demands while we study the new decree.")
    [f] = classify("", text)
    assert (f.kind, f.jurisdiction) == ("pause_started", "RU")
    assert f.context == "We have received few demands from Russian police in 2021."


def test_previous_sentence_naming_two_places_is_no_context() -> None:
    text = "Requests from Russia and Belarus rose. We have paused processing these requests."
    [f] = classify("", text)
    assert (f.jurisdiction, f.context) == (None, None)


def test_context_stops_at_the_next_heading() -> None:
    text = ("Hong Kong\nWe review requests from Hong Kong carefully.\n"
            "Police tools\nWe have ended our police request portal.")
    [f] = classify("", text)
    assert (f.kind, f.jurisdiction, f.context) == ("pause_started", None, None)


def test_unspecified_jurisdiction_in_a_lone_sentence() -> None:
    [f] = classify("", "The company said it has paused reviewing law-enforcement requests while it assesses the law.")
    assert (f.kind, f.jurisdiction, f.evidence) == ("pause_started", None, "stated")


def test_named_and_unnamed_pauses_in_one_text_are_separate_states() -> None:
    old = "Hong Kong\nWe have paused data requests from Hong Kong authorities."
    new = old + "\nVideo requests\nRing will no longer let police request videos through the Neighbors app."
    [f] = classify(old, new)
    assert (f.kind, f.jurisdiction) == ("pause_started", None)
    [gone] = classify(new, old)
    assert (gone.kind, gone.jurisdiction, gone.evidence) == ("pause_lifted", None, "statement_removed")


def test_statements_of_a_text() -> None:
    text = "Hong Kong\nWe have paused processing data requests from Hong Kong.\nWe resumed data requests from Russia."
    found = statements(text)
    assert [(s.kind, s.jurisdiction, s.index) for s in found] == [("pause", "HK", 1), ("lift", "RU", 2)]


@pytest.mark.parametrize(("sentence", "relevant"), [
    ("We received 358 requests for user data from Hong Kong authorities in 2019.", True),
    ("Police must submit a valid subpoena to obtain basic subscriber information.", True),
    ("We have paused processing data requests from Hong Kong.", True),
    ("Hong Kong", False),
    ("Our offices are closed on public holidays.", False),
    ("We updated the design of this page.", False),
    ("Apple paused product sales in Russia.", False),
])
def test_is_relevant(sentence: str, relevant: bool) -> None:
    assert is_relevant(sentence) is relevant


def test_relevant_changes_are_signed_sentences() -> None:
    old = "Hong Kong\nWe review all requests from Hong Kong police.\nLast updated: May."
    new = "Hong Kong\nWe have paused processing data requests from Hong Kong police.\nLast updated: July."
    assert relevant_changes(old, new) == [
        "- We review all requests from Hong Kong police.",
        "+ We have paused processing data requests from Hong Kong police.",
    ]
    assert relevant_changes(new, new) == []
    moved = "We have paused processing data requests from Hong Kong police.\nHong Kong\nLast updated: July."
    assert relevant_changes(new, moved) == []


def test_relevant_changes_see_sentences_not_lines() -> None:
    """Only lines that differ are split into sentences; sentences re-wrapped into other lines are
    no change, and a sentence that appears once more is one."""
    paused = "We have paused processing data requests from Hong Kong police."
    review = "We review every request from Russian police."
    old = f"Requests\n{paused} {review}\nLast updated: May.\n{review}"
    rewrapped = f"Requests\n{paused}\n{review}\nLast updated: May.\n{review}"
    assert relevant_changes(old, rewrapped) == []
    assert relevant_changes(old, rewrapped + f"\n{review}") == [f"+ {review}"]
    assert relevant_changes(old + f"\n{review}", rewrapped) == [f"- {review}"]
    assert relevant_changes(old, old.replace(paused, "We resumed processing data requests from Hong Kong police.")) == [
        f"- {paused}", "+ We resumed processing data requests from Hong Kong police."]


def test_relevant_changes_are_capped() -> None:
    new = "\n".join(f"We received {n} requests from Russian police." for n in range(500))
    found = relevant_changes("", new)
    assert len(found) == 40 and found[0] == "+ We received 0 requests from Russian police."


# ---- bounded work ------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_adversarial_text_is_linear() -> None:
    """A megabyte of trigger words in one 'sentence', or a megabyte of trigger sentences, stays linear."""
    classify("", "processing resumed " * 55_000 + "Hong Kong")
    classify("", "We have paused processing requests from Hong Kong and resumed them. " * 15_000)


def test_docs_rule_table_is_generated_from_the_rules() -> None:
    from monitor.classify import rules_markdown

    doc = (Path(__file__).parents[1] / "docs" / "events.md").read_text(encoding="utf-8")
    block = doc.split("<!-- rules:begin -->\n", 1)[1].split("\n<!-- rules:end -->", 1)[0]
    assert block == rules_markdown(), "docs/events.md is stale: run python -m monitor.classify docs/events.md"
