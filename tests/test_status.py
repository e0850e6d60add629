"""What each page says now: statements recorded with every snapshot, the status board and `status`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from monitor import status
from monitor.check import check_page
from monitor.models import Delivery, Event, Snapshot
from monitor.pageserver import PageServer
from monitor.reextract import reextract_page
from tests.conftest import run_cli

HK = "We have paused processing any data requests from, and related to, Hong Kong SAR."
LIFT = "We have resumed processing data requests from Hong Kong authorities."


def _page(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><body><main><h1>Government requests guide</h1>{body}</main></body></html>"


def _status(config: Path) -> list[dict[str, Any]]:
    result = run_cli("status", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_page_that_already_says_paused_at_its_first_check(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    """Reproduces the issue: a baseline makes no event and no alert, but the board says paused."""
    server.set("/zoom", _page("Zoom only produces user data in response to valid requests.", HK))
    config = write_config([{"id": "zoom", "company": "Zoom", "url": server.url("/zoom")}],
                          alerts=[{"url": "json://127.0.0.1:9/hook", "name": "hook"}])
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    rt = runtime_for(config)
    with Session(rt.store.engine) as session:
        assert session.exec(select(Event)).all() == []
        assert session.exec(select(Delivery)).all() == []
    [row] = _status(config)
    assert {k: row[k] for k in ("page", "company", "jurisdiction", "state", "quote", "evidence", "event")} == {
        "page": "zoom", "company": "Zoom", "jurisdiction": "HK", "state": "paused", "quote": HK,
        "evidence": "stated", "event": None}
    assert row["at_first_check"] is True
    text = run_cli("status", "--config", str(config))
    assert "Zoom (zoom)  Hong Kong (HK): paused at first check" in text.stdout


def test_board_follows_the_latest_snapshot(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/p", _page("We review every request."))
    config = write_config([{"id": "p", "company": "Acme", "url": server.url("/p")}])
    rt = runtime_for(config)
    page = rt.config.page("p")
    assert check_page(rt, page).status == "baseline"
    assert status.board(rt.store) == []

    server.set("/p", _page("We review every request.", HK))
    outcome = check_page(rt, page)
    [started] = [e for e in rt.store.events() if e.kind == "pause_started"]
    [row] = status.board(rt.store)
    assert (row.jurisdiction, row.state, row.event_id, row.at_first_check) == ("HK", "paused", started.id, False)
    assert row.since == started.detected_at and outcome.event_ids

    # an unrelated edit keeps "since"
    server.set("/p", _page("We review every request carefully.", HK))
    assert check_page(rt, page).status == "changed"
    [row] = status.board(rt.store)
    assert (row.state, row.event_id, row.since) == ("paused", started.id, started.detected_at)

    # a stated lift
    server.set("/p", _page("We review every request carefully.", LIFT))
    check_page(rt, page)
    [lifted] = [e for e in rt.store.events() if e.kind == "pause_lifted"]
    [row] = status.board(rt.store)
    assert (row.state, row.event_id, row.evidence, row.quote) == ("lifted", lifted.id, "stated", LIFT)

    # the lift statement goes too: the page no longer says anything about Hong Kong
    server.set("/p", _page("We review every request carefully."))
    check_page(rt, page)
    [row] = status.board(rt.store)
    assert (row.state, row.evidence, row.quote, row.event_id) == ("unspecified", "statement_removed", LIFT, None)


def test_removed_pause_statement_is_unspecified_since_its_event(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/p", _page("Intro.", HK))
    config = write_config([{"id": "p", "company": "Acme", "url": server.url("/p")}])
    rt = runtime_for(config)
    page = rt.config.page("p")
    check_page(rt, page)
    server.set("/p", _page("Intro."))
    check_page(rt, page)
    [gone] = [e for e in rt.store.events() if e.kind == "pause_lifted"]
    assert gone.evidence == "statement_removed"
    [row] = status.board(rt.store)
    assert (row.state, row.jurisdiction, row.event_id, row.quote) == ("unspecified", "HK", gone.id, HK)
    # and it stays so while the page stays silent
    server.set("/p", _page("Intro, reworded."))
    check_page(rt, page)
    [row] = status.board(rt.store)
    assert (row.state, row.event_id) == ("unspecified", gone.id)


def test_unnamed_jurisdiction_and_context_on_the_board(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    html = ("<html><body><main><h2>Hong Kong SAR</h2><p>We have paused our review of these requests.</p>"
            "<h2>Video requests</h2><p>Police will no longer be able to request footage through the app.</p>"
            "</main></body></html>")
    server.set("/p", "<html><body><main><p>Nothing yet.</p></main></body></html>")
    config = write_config([{"id": "p", "company": "Acme", "url": server.url("/p")}])
    rt = runtime_for(config)
    page = rt.config.page("p")
    check_page(rt, page)
    server.set("/p", html)
    check_page(rt, page)
    typed = [(e.kind, e.jurisdiction, e.context) for e in rt.store.events() if e.kind != "changed"]
    assert typed == [("pause_started", "HK", "Hong Kong SAR"), ("pause_started", None, None)]
    rows = _status(config)
    assert [(r["jurisdiction"], r["state"], r["context"]) for r in rows] == [
        ("HK", "paused", "Hong Kong SAR"), (None, "paused", None)]
    events = run_cli("events", "--config", str(config))
    assert "pause_started unspecified  Acme (p)" in events.stdout
    assert 'context: "Hong Kong SAR"' in events.stdout
    [changed] = [json.loads(line) for line in run_cli("events", "--json", "--kind", "changed", "--config",
                                                      str(config)).stdout.splitlines()]
    assert changed["relevant"] == ["+ We have paused our review of these requests.",
                                   "+ Police will no longer be able to request footage through the app."]


def test_reextract_and_rule_changes_update_the_board_without_events(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/p", "<html><body><main><p>Intro.</p><div class='old'><p>" + HK + "</p></div></main></body></html>")
    config = write_config([{"id": "p", "company": "Acme", "url": server.url("/p")}])
    rt = runtime_for(config)
    check_page(rt, rt.config.page("p"))
    [row] = status.board(rt.store)
    assert row.state == "paused" and row.at_first_check

    # a selector fix that drops the pause statement: the board follows, no event
    config = write_config([{"id": "p", "company": "Acme", "url": server.url("/p"), "remove": [".old"]}])
    rt = runtime_for(config)
    ok, _ = reextract_page(rt, "p")
    assert ok
    [row] = status.board(rt.store)
    assert (row.state, row.evidence) == ("unspecified", "statement_removed")
    assert rt.store.events() == []

    # rows made by other rules (or before statements existed) are recomputed from the text
    with Session(rt.store.engine) as session:
        session.execute(update(Snapshot).values(statements_sig=None))
        session.commit()
    assert status.refresh(rt.store) == 1
    assert status.refresh(rt.store) == 0
    assert rt.store.events() == []
