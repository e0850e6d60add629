"""The whole pipeline against a real HTTP server on 127.0.0.1 and a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.check import check_page
from monitor.models import Change, Check, Event, Snapshot
from monitor.pageserver import PageServer
from tests.conftest import run_cli
from tests.test_extract import BASE, NOISE_VARIANTS

RULES = {"select": ["main"], "remove": [".cookie-banner"], "ignore": ["^Last updated: .*$"]}


def _count(rt: Any, model: type) -> int:
    from sqlmodel import func, select

    with rt.store.session() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _events(rt: Any) -> list[tuple[str, str | None]]:
    return [(e.kind, e.jurisdiction) for e in rt.store.events()]


def test_noise_gives_no_change_and_a_real_edit_exactly_one(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/guide", BASE)
    rt = runtime_for(write_config([{"id": "guide", "url": server.url("/guide"), **RULES}]))
    page = rt.config.page("guide")
    assert check_page(rt, page).status == "baseline"
    assert check_page(rt, page).status == "not_modified"  # ETag + If-None-Match
    configured_noise = {
        "cookie banner": BASE.replace("We use cookies", "Cookies? Accept all!"),
        "ignored line": BASE.replace("1 May 2026", "9 June 2026"),
    }
    for name, html in {**NOISE_VARIANTS, **configured_noise}.items():
        server.set("/guide", html)
        outcome = check_page(rt, page)
        assert outcome.status == "unchanged", f"{name}: {outcome}"
    assert _count(rt, Change) == 0 and _count(rt, Event) == 0 and _count(rt, Snapshot) == 1
    server.set("/guide", BASE.replace("in writing", "in writing and signed by a judge"))
    outcome = check_page(rt, page)
    assert outcome.status == "changed" and (outcome.added, outcome.removed) == (1, 1)
    assert _events(rt) == [("changed", None)]
    assert check_page(rt, page).status == "not_modified"
    assert _events(rt) == [("changed", None)]
    event = rt.store.events()[0]
    # the change's summary is the first changed sentence about government requests (a judge is an authority)
    assert event.quote == "Requests must be in writing and signed by a judge."
    assert event.as_json()["relevant"] == ["+ Requests must be in writing and signed by a judge."]
    assert event.snapshot_id == outcome.snapshot_id and event.previous_snapshot_id is not None


def test_unchanged_raw_body_skips_extraction_but_rules_change_does_not(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/p", BASE, etag=False)
    rt = runtime_for(write_config([{"id": "p", "url": server.url("/p"), **RULES}]))
    page = rt.config.page("p")
    check_page(rt, page)
    assert check_page(rt, page).status == "unchanged"
    assert "If-None-Match" not in server.requests[-1][1]


def test_server_error_is_a_failed_check_without_events(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/p", BASE)
    config = write_config([{"id": "p", "url": server.url("/p"), **RULES}])
    assert run_cli("check", "--config", str(config)).returncode == 0
    server.set("/p", "<h1>oops</h1>", status=500)
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1, result.stderr
    assert "HTTP 500" in result.stderr and "Traceback" not in result.stderr
    rt = runtime_for(config)
    assert _count(rt, Snapshot) == 1 and _count(rt, Event) == 0 and _count(rt, Change) == 0
    with rt.store.session() as session:
        from sqlmodel import select

        last = session.exec(select(Check).order_by(Check.id.desc())).first()  # type: ignore[union-attr]
    assert last is not None and last.status == "failed" and last.http_status == 500
    assert last.error is not None and "HTTP 500" in last.error


def test_cli_commands_end_to_end(server: PageServer, write_config: Callable[..., Path]) -> None:
    server.set("/a", "<main><h1>Guide</h1><p>We review every request.</p></main>")
    server.set("/b", "<main><p>Transparency report</p></main>")
    config = write_config([{"id": "a", "url": server.url("/a"), "select": ["main"]},
                           {"id": "b", "url": server.url("/b"), "company": "Other"}])
    first = run_cli("check", "--config", str(config), "--json")
    assert first.returncode == 0, first.stderr
    statuses = {json.loads(line)["page"]: json.loads(line)["status"] for line in first.stdout.splitlines()}
    assert statuses == {"a": "baseline", "b": "baseline"}
    server.set("/a", "<main><h1>Guide</h1><p>We review every request carefully.</p><p>New rule.</p></main>")
    second = run_cli("check", "a", "--config", str(config), "--json")
    result = json.loads(second.stdout)
    assert result["status"] == "changed" and result["events"][0]["kind"] == "changed"
    events = [json.loads(line) for line in run_cli("events", "--json", "--config", str(config)).stdout.splitlines()]
    assert len(events) == 1
    assert {"id", "page", "company", "url", "kind", "jurisdiction", "quote", "detected_at", "snapshot",
            "previous_snapshot"} <= set(events[0])
    assert events[0]["page"] == "a" and events[0]["detected_at"].endswith("Z")
    assert run_cli("events", "--json", "--kind", "pause_started", "--config", str(config)).stdout == ""
    future = run_cli("events", "--json", "--since", "2999-01-01", "--config", str(config))
    assert future.returncode == 0 and future.stdout == ""
    assert run_cli("events", "--kind", "bogus", "--config", str(config)).returncode == 2
    history = run_cli("history", "a", "--config", str(config))
    assert history.returncode == 0 and "baseline" in history.stdout and "+2 -1" in history.stdout
    diff = run_cli("diff", "a", "--config", str(config))
    assert diff.returncode == 0
    assert "- We review every request." in diff.stdout and "+ We review every request carefully." in diff.stdout
    assert "\x1b[" not in diff.stdout  # plain when piped
    pages = run_cli("pages", "--config", str(config))
    assert pages.returncode == 0 and "changed" in pages.stdout and "Other" in pages.stdout
    assert run_cli("check", "nope", "--config", str(config)).returncode == 2
    assert run_cli("history", "nope", "--config", str(config)).returncode == 2
    # Piped, `check` prints one tab-separated line per page (in config order), then a summary.
    server.set("/b", "<main><p>Transparency report 2026</p></main>")
    plain = run_cli("check", "--config", str(config))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == ["a\tnot_modified\t", "b\tchanged\t+1 -1 lines", "1 changed, 1 not_modified"]


def test_integrity_after_checks(server: PageServer, write_config: Callable[..., Path],
                                runtime_for: Callable[[Path], Any], tmp_path: Path) -> None:
    server.set("/p", "<p>one</p>")
    rt = runtime_for(write_config([{"id": "p", "url": server.url("/p")}]))
    page = rt.config.page("p")
    for i in range(5):
        server.set("/p", f"<p>version {i}</p>")
        check_page(rt, page)
    con = sqlite3.connect(tmp_path / "monitor.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT count(*) FROM raw_body").fetchone()[0] == 5
    con.close()


@pytest.mark.parametrize("shape", ["html", "pdf"])
def test_pause_statement_appears_and_disappears(
    shape: str, server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    from tests.docs import make_pdf

    base = ["Government Requests Guide", "We carefully review every government request for user data."]
    pause = "We have paused processing any data requests from, and related to, Hong Kong SAR."

    def serve(lines: list[str]) -> None:
        if shape == "pdf":
            server.set("/z", make_pdf(lines), content_type="application/pdf")
        else:
            server.set("/z", "<main>" + "".join(f"<p>{line}</p>" for line in lines) + "</main>")

    serve(base)
    rt = runtime_for(write_config([{"id": "zoom", "company": "Zoom", "url": server.url("/z")}]))
    page = rt.config.page("zoom")
    check_page(rt, page)
    serve([*base, pause])
    outcome = check_page(rt, page)
    assert outcome.status == "changed"
    started = [e for e in rt.store.events() if e.kind == "pause_started"]
    assert [(e.kind, e.jurisdiction, e.evidence) for e in started] == [("pause_started", "HK", "stated")]
    assert started[0].quote == pause and started[0].rule
    assert started[0].change_id == outcome.change_id
    serve([*base, pause.replace("We have paused", "We paused")])  # reworded: no typed event
    check_page(rt, page)
    assert len([e for e in rt.store.events() if e.kind != "changed"]) == 1
    serve(base)
    check_page(rt, page)
    lifted = [e for e in rt.store.events() if e.kind == "pause_lifted"]
    assert [(e.jurisdiction, e.evidence) for e in lifted] == [("HK", "statement_removed")]


def test_two_jurisdictions_in_one_sentence(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/g", "<p>How we handle requests.</p>")
    rt = runtime_for(write_config([{"id": "g", "company": "Google", "url": server.url("/g")}]))
    page = rt.config.page("g")
    check_page(rt, page)
    server.set("/g", "<p>How we handle requests.</p><p>Google has paused producing data in response to new "
                     "requests from authorities in Hong Kong and mainland China.</p>")
    check_page(rt, page)
    typed = sorted((e.kind, e.jurisdiction) for e in rt.store.events() if e.kind != "changed")
    assert typed == [("pause_started", "CN"), ("pause_started", "HK")]
