"""Bounded work after the fetch: any body within `max_bytes` ends its check, recorded, within
`deadline + work_budget`; each stage is linear or capped, and past the budget a check fails with
a reason naming the stage. Timings here are behaviour bounds with wide margins (the machine is
shared), not benchmarks: `bench/bench_bounded.py` has the figures.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector

from monitor.budget import UNLIMITED, Budget, WorkBudgetExceeded
from monitor.check import Runtime, check_page
from monitor.config import ConfigError, load_config
from monitor.coordinate import check_claimed
from monitor.diff import DELETE, EQUAL, INSERT, WORD_DIFF_MAX_TOKENS, diff_chars, diff_lines, rows, stats
from monitor.extract import PDF_MAX_PAGES, ExtractError, Rules, extract
from monitor.pageserver import PageServer
from monitor.select import Selector
from tests import heavy
from tests.conftest import render_config

DEADLINE = 4.0
WORK_BUDGET = 2.0
# Wall time on a loaded 2-core machine: the budget counts CPU seconds, and the check shares
# the machine with others; the bodies are served and recorded in the same process.
LIMIT = DEADLINE + 3 * WORK_BUDGET + 8.0
SETTINGS = {"database": "sqlite:///monitor.db", "allow_private_addresses": True, "interval": "1h",
            "jitter": "0s", "timeout": 2, "deadline": DEADLINE, "retries": 0, "confirm": "never",
            "max_bytes": 4_000_000, "work_budget": WORK_BUDGET, "gone_after": 100}


def _runtime(tmp: Path, pages: list[dict[str, Any]], **settings: Any) -> Runtime:
    path = tmp / "monitor.toml"
    path.write_text(render_config({**SETTINGS, **settings}, pages))
    return Runtime.open(load_config(path))


def _sides(ops: list[Any]) -> tuple[str, str]:
    old = "\n".join(line for op in ops if op.tag != INSERT for line in op.lines)
    new = "\n".join(line for op in ops if op.tag != DELETE for line in op.lines)
    return old, new


# -- every costly body of the catalogue, scaled to 1 MB, through check_page -----------------------

@pytest.mark.parametrize("name", list(heavy.CASES))
def test_costly_body_ends_as_a_recorded_check_within_deadline_plus_budget(
    name: str, server: PageServer, tmp_path: Path,
) -> None:
    case = heavy.CASES[name](heavy.MB)
    server.set("/p", case.old.data, content_type=case.old.content_type)
    rt = _runtime(tmp_path, [{"id": "p", "company": "Example", "url": server.url("/p"), **case.page}])
    try:
        page = rt.config.page("p")
        for body in (case.old, case.new):
            server.set("/p", body.data, content_type=body.content_type)
            checks = rt.store.counts("p")["checks"]
            started = time.monotonic()
            outcome = check_page(rt, page)
            elapsed = time.monotonic() - started
            assert rt.store.counts("p")["checks"] == checks + 1, "the check is recorded"
            assert elapsed < LIMIT, f"{name}: {elapsed:.1f}s ({outcome.status}: {outcome.error})"
            if outcome.failed:  # allowed: a named reason, never a crash
                assert outcome.error and "\n" not in outcome.error
                assert outcome.error.startswith(("work budget exceeded", "PDF")), outcome.error
    finally:
        rt.close()


def test_past_the_budget_the_check_fails_naming_the_stage_and_keeps_validators(
    server: PageServer, tmp_path: Path,
) -> None:
    case = heavy.CASES["select-deep-many"](heavy.MB)
    server.set("/p", "<main>start</main>")
    rt = _runtime(tmp_path, [{"id": "p", "company": "X", "url": server.url("/p"), "select": ["main"],
                              "work_budget": "0.05s"}])
    try:
        page = rt.config.page("p")
        assert check_page(rt, page).status == "baseline"
        server.set("/p", case.new.data)  # served with an ETag: a kept validator would give 304 next
        for _ in range(2):
            outcome = check_page(rt, page)
            assert outcome.status == "failed" and outcome.http_status == 200
            assert outcome.error == "work budget exceeded: more than 0.05s of CPU time (work_budget) in extract"
        assert rt.store.counts("p")["snapshots"] == 1
    finally:
        rt.close()


def test_budget_counts_cpu_and_names_the_stage() -> None:
    now = [0.0]
    budget = Budget(1.0, clock=lambda: now[0])
    budget.enter("extract")
    now[0] = 0.9
    for _ in range(2000):
        budget.tick()
    now[0] = 1.1
    with pytest.raises(WorkBudgetExceeded, match=r"more than 1s of CPU time \(work_budget\) in extract"):
        budget.enter("diff")  # the stage that spent it is named
    budget.stage = "diff"
    with pytest.raises(WorkBudgetExceeded, match="in diff"):  # a loop's checkpoint sees it within a few hundred ticks
        for _ in range(1000):
            budget.tick()
    UNLIMITED.enter("anything")
    assert UNLIMITED.spent() == 0.0


def test_time_a_budget_pauses_for_is_not_charged() -> None:
    """Loading the classifier on a process's first new text is not work on the page's text."""
    from monitor.budget import Budget, WorkBudgetExceeded

    now = [0.0]
    budget = Budget(1.0, clock=lambda: now[0])
    with budget.paused():
        now[0] = 5.0
    now[0] = 5.9
    budget.check()  # 0.9 s charged
    now[0] = 6.1
    with pytest.raises(WorkBudgetExceeded):
        budget.check()


def test_work_budget_config() -> None:
    from monitor.config import parse_config

    config = parse_config({"monitor": {"work_budget": "3s"},
                           "pages": [{"id": "a", "company": "X", "url": "http://x.example/"},
                                     {"id": "b", "company": "X", "url": "http://x.example/", "work_budget": 10}]})
    assert (config.work_budget_of(config.page("a")), config.work_budget_of(config.page("b"))) == (3.0, 10.0)
    for bad in ("0s", "nan", "2h", -1):
        with pytest.raises(ConfigError, match="work_budget"):
            parse_config({"monitor": {"work_budget": bad}})


# -- the diff: exact within an allowance, then coarse but still a correct edit script -------------


def test_diff_of_alternating_repeated_lines_is_correct_and_deterministic() -> None:
    rows_ = 32_000  # about 1 MB of text on each side
    old = "\n".join(x for i in range(rows_) for x in ("0", f"old row {i}"))
    new = "\n".join(x for i in range(rows_) for x in ("0", f"new row {i}"))
    ops = diff_lines(old, new)
    assert _sides(ops) == (old, new)
    assert (stats(ops).added, stats(ops).removed) == (rows_, rows_), "the zeros are matched, the rows replaced"
    again = diff_lines(old + "", new + "")  # equal texts, other objects: the same script
    assert again == ops


@pytest.mark.parametrize("seed", range(20))
def test_diff_without_exact_allowance_is_a_correct_script(seed: int) -> None:
    rng = random.Random(seed)
    vocab = "abcdefgh"
    a = "".join(rng.choice(vocab) for _ in range(rng.randint(0, 400)))
    b = "".join(c if rng.random() > 0.3 else rng.choice(vocab) for c in a) + "".join(rng.choice(vocab) for _ in
                                                                                    range(rng.randint(0, 50)))
    exact, coarse = diff_chars(a, b), diff_chars(a, b, work=0)
    for diffs in (exact, coarse):
        assert "".join(t for tag, t in diffs if tag != INSERT) == a
        assert "".join(t for tag, t in diffs if tag != DELETE) == b

    def edits(diffs: list[tuple[int, str]]) -> int:
        return sum(len(t) for tag, t in diffs if tag != EQUAL)

    assert edits(exact) <= edits(coarse)


def test_word_detail_is_skipped_on_huge_lines() -> None:
    old = " ".join(f"w{i % 50}" for i in range(WORD_DIFF_MAX_TOKENS * 2))
    new = old.replace("w7 ", "w7x ", 3)
    (row,) = [r for r in rows(diff_lines(old, new)) if r.kind == "changed"]
    assert row.words() == [(DELETE, old), (INSERT, new)]
    short_old, short_new = "We review requests.", "We have paused requests."
    (row,) = [r for r in rows(diff_lines(short_old, short_new)) if r.kind == "changed"]
    assert (INSERT, "have paused") in row.words()


# -- selectors: one walk, the same elements as lxml's CSSSelector --------------------------------

_TAGS = ["div", "p", "span", "main", "ul", "li"]
_SELECTORS = ["div", "div p", "div > p", "p + span", "p ~ span", "div p > li", "li:nth-child(2)", "li:nth-child(2n+1)",
              "p:first-child", "p:last-child", "span:only-child", "p:first-of-type", "p:nth-last-of-type(2)", ".x",
              "div.x p", "#k", "*", ":root", "div:empty", "ul li.x:not(.y)", "p, span", "div div div",
              "main ~ p + span", "p:nth-last-child(3n)", "li:only-of-type", "* > *", "div:not(:first-child) span",
              "[title^='a/b']", "div:is(.x, .y) p"]


@st.composite
def _documents(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(_TAGS))
    attrs = draw(st.sampled_from(["", ' class="x"', ' class="y x"', ' id="k"', ' title="a/b"']))
    children = draw(st.lists(_documents(depth + 1), max_size=0 if depth > 3 else 4)) if depth <= 3 else []
    return f"<{tag}{attrs}>t{''.join(children)}</{tag}>"


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(body=st.lists(_documents(), min_size=1, max_size=4))
def test_selector_walk_matches_lxml_cssselect(body: list[str]) -> None:
    root = lxml_html.document_fromstring("<html><body>" + "".join(body) + "</body></html>")
    for css in _SELECTORS:
        assert Selector(css)(root) == CSSSelector(css)(root), css


def test_selectors_that_read_other_elements_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(render_config(SETTINGS, [{"id": "a", "company": "X", "url": "http://x.example/",
                                              "select": ["div:has(p)"], "remove": ["p:contains('x')"]}]))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert len(problems) == 2 and all("page 'a' (pages[0])" in p and "not supported" in p for p in problems)


# -- user regexes: RE2, linear in the line -------------------------------------------------------


def test_ignore_patterns_run_in_linear_time() -> None:
    rules = Rules(ignore=(r"^Last updated: (\w+\s?)+$",))
    line = "Last updated: " + "a" * 200_000 + "!"  # a backtracking engine would never finish
    text = extract(f"<p>{line}</p><p>Last updated: May 2026</p><p>Policy.</p>".encode(), content_type="text/html",
                   rules=rules)
    assert text.splitlines() == [line, "Policy."]


def test_ignore_patterns_are_validated_as_re2(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(render_config(SETTINGS, [{"id": "a", "company": "X", "url": "http://x.example/",
                                              "ignore": [r"^(\w+) \1$"]}]))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert "page 'a' (pages[0]): key 'ignore': invalid regex" in problem and "RE2 syntax" in problem


# -- PDF caps --------------------------------------------------------------------------------------


def test_pdf_with_too_many_pages_fails_with_a_named_reason() -> None:
    pdf = heavy._pdf(PDF_MAX_PAGES + 1, 10)
    with pytest.raises(ExtractError, match=rf"PDF has {PDF_MAX_PAGES + 1} pages; at most 2,000"):
        extract(pdf.data, content_type="application/pdf")


def test_pdf_extraction_stops_at_the_budget() -> None:
    pdf = heavy._pdf(200, 30_000)  # each page draws one 1 MB content stream: minutes of work
    budget = Budget(0.5)
    budget.enter("extract")
    with pytest.raises(WorkBudgetExceeded, match="in extract"):
        extract(pdf.data, content_type="application/pdf", budget=budget)
    assert budget.spent() < 0.5 + 5, "past the budget by at most one content stream's parse"


# -- the host is free once the body is read ------------------------------------------------------


@pytest.fixture
def two_pages(server: PageServer, tmp_path: Path) -> Iterator[Runtime]:
    server.set("/a", "<p>" + "We review every request for user data. " * 200 + "</p>")
    server.set("/b", "<p>Other page of the same host.</p>")
    rt = _runtime(tmp_path, [{"id": "a", "company": "X", "url": server.url("/a"), "confirm": "always",
                              "interval": "1s"},
                             {"id": "b", "company": "X", "url": server.url("/b")}], confirm_delay="3s")
    yield rt
    rt.close()


def test_the_host_is_not_held_while_a_page_is_worked_on(server: PageServer, two_pages: Runtime) -> None:
    """Page a's check pauses 3 s between its fetch and a confirming second fetch (after it has
    extracted the first): page b of the same host is fetched meanwhile, not after."""
    rt = two_pages
    assert check_page(rt, rt.config.page("a")).status == "baseline"
    server.set("/a", "<p>" + "We review every request for user data in writing. " * 200 + "</p>")
    time.sleep(1.1)  # a's interval: the daemon's claim would refuse a page checked just now
    finished: dict[str, float] = {}
    outcomes: dict[str, Any] = {}

    def run(page_id: str) -> None:
        outcomes[page_id] = check_claimed(rt, rt.config.page(page_id), worker=f"w-{page_id}")
        finished[page_id] = time.monotonic()

    first = threading.Thread(target=run, args=("a",))
    first.start()
    time.sleep(0.8)  # a has fetched and is waiting for its second look
    second = threading.Thread(target=run, args=("b",))
    second.start()
    first.join(30)
    second.join(30)
    assert getattr(outcomes["a"], "status", None) == "changed" and getattr(outcomes["b"], "status", None) == "baseline"
    assert finished["b"] < finished["a"], "page b waited for page a's whole check"
    assert [p for p, _ in server.requests].count("/a") == 3  # baseline, first and second look


def test_an_old_text_classified_again_stops_at_the_budget(tmp_path: Path) -> None:
    """A change whose old snapshot has no statements under the current rules classifies the old
    text again: inside the check's budget, at every sentence, like the new text."""
    from monitor.status import snapshot_state
    from monitor.store import Store

    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        clock = [0.0]

        def ticking() -> float:
            clock[0] += 0.001  # each look at the clock: a millisecond of work
            return clock[0]

        text = "\n".join(f"We received {n} requests from police in Hong Kong." for n in range(100_000))
        with pytest.raises(WorkBudgetExceeded, match="in classify"):
            budget = Budget(0.05, clock=ticking)
            budget.enter("classify")
            snapshot_state(store, None, text, "Acme", budget)
        assert snapshot_state(store, None, text[:200], "Acme").paused == {}
    finally:
        store.close()
