"""Soft failures against a real server: pages that shrink for a moment, login pages served
with 200, A/B variants flipping on every fetch, and pages that go away and come back."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.check import check_page
from monitor.models import Delivery
from monitor.pageserver import PageServer

LONG = "<html><body><main><h1>Law enforcement guidelines</h1>" + "".join(
    f"<p>Section {i}: requests must name the account and the legal basis, and we review each.</p>"
    for i in range(12)) + "</main></body></html>"
SHORT = "<html><body><main><h1>Law enforcement guidelines</h1><p>Coming soon.</p></main></body></html>"
_H1 = "<h1>Law enforcement guidelines</h1>"
VARIANT_A = LONG.replace(_H1, _H1 + "<p>Try our new app!</p>")
VARIANT_B = LONG.replace(_H1, _H1 + "<p>Now with dark mode.</p>")
SERVER_ERROR = "!500"  # a Script entry that answers HTTP 500


class Script:
    """A route that serves the given bodies in turn (the last one repeats), with strong ETags
    and If-None-Match, like a real server whose content moves under us."""

    def __init__(self, *bodies: str):
        self.bodies = list(bodies)
        self.lock = threading.Lock()
        self.if_none_match: list[str | None] = []

    def then(self, *bodies: str) -> None:
        with self.lock:
            self.bodies = list(bodies)

    def __call__(self, h: Any) -> None:
        with self.lock:
            body = (self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]).encode()
            self.if_none_match.append(h.headers.get("If-None-Match"))
        if body == SERVER_ERROR.encode():
            h.send_response(500)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        tag = etag(body)
        if h.headers.get("If-None-Match") == tag:
            h.send_response(304)
            h.send_header("ETag", tag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("ETag", tag)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def etag(body: bytes | str) -> str:
    data = body.encode() if isinstance(body, str) else body
    return '"' + hashlib.sha1(data).hexdigest()[:16] + '"'


def _counts(rt: Any, page_id: str) -> tuple[int, int, int]:
    counts = rt.store.counts(page_id)
    return counts["snapshots"], counts["changes"], len(rt.store.events(page_id=page_id))


@pytest.fixture
def scripted(server: PageServer, write_config: Callable[..., Path],
             runtime_for: Callable[[Path], Any]) -> Callable[..., tuple[Any, Any, Script]]:
    def make(*bodies: str, alerts: list[dict[str, Any]] = (), gone_after: int = 3,
             **page: Any) -> tuple[Any, Any, Script]:
        script = Script(*bodies)
        server.set("/p", handler=script)
        rt = runtime_for(write_config([{"id": "p", "url": server.url("/p"), **page}], alerts=alerts,
                                      gone_after=gone_after))
        return rt, rt.config.page("p"), script

    return make


def test_sudden_shrink_needs_a_second_fetch_that_agrees(
    scripted: Callable[..., tuple[Any, Any, Script]], server: PageServer, caplog: pytest.LogCaptureFixture
) -> None:
    rt, page, script = scripted(LONG)
    assert check_page(rt, page).status == "baseline"
    # A broken deploy: one fetch shows a stub, the confirming fetch the real page again.
    script.then(SHORT, LONG)
    caplog.set_level(logging.WARNING)
    outcome = check_page(rt, page)
    assert outcome.status == "unconfirmed" and not outcome.failed
    assert _counts(rt, "p") == (1, 0, 0), "no snapshot, change or event for an unconfirmed shrink"
    assert "shrank from" in caplog.text and "second fetch showed the previous text" in caplog.text
    # The stub's ETag must not be kept: the next check asks with the recorded page's validator,
    # or a 304 would hide the stub for good once it is real.
    assert check_page(rt, page).status == "not_modified"
    assert script.if_none_match[-1] == etag(LONG)
    # Now the shrink is real: both fetches show it, so it is recorded, once.
    script.then(SHORT)
    outcome = check_page(rt, page)
    assert outcome.status == "changed" and outcome.removed >= 10
    assert _counts(rt, "p") == (2, 1, 1)
    assert [e.kind for e in rt.store.events(page_id="p")] == ["changed"]
    assert check_page(rt, page).status == "not_modified"
    assert _counts(rt, "p") == (2, 1, 1)


def test_shrink_seen_again_by_the_next_check_is_recorded(
    scripted: Callable[..., tuple[Any, Any, Script]], server: PageServer
) -> None:
    rt, page, script = scripted(LONG)
    check_page(rt, page)
    script.then(SHORT, SERVER_ERROR)  # the confirming fetch fails: no evidence either way
    assert check_page(rt, page).status == "unconfirmed"
    hits = server.hits["/p"]
    script.then(SHORT)
    outcome = check_page(rt, page)
    # Two fetches in a row (the last of the previous check, the first of this one) showed it.
    assert outcome.status == "changed"
    assert server.hits["/p"] == hits + 1, "no second look needed when the previous check already saw it"


def test_login_page_served_with_200_is_a_failure_not_a_change(
    scripted: Callable[..., tuple[Any, Any, Script]], caplog: pytest.LogCaptureFixture
) -> None:
    rt, page, script = scripted(LONG)
    check_page(rt, page)
    caplog.set_level(logging.WARNING)
    for login in ("<html><body><form><h1>Please sign in to continue</h1><input name=u></form></body></html>",
                  "<html><body><h1>Access denied</h1><p>Are you a robot?</p></body></html>"):
        script.then(login)
        outcome = check_page(rt, page)
        assert outcome.failed and "looks like an error or login page" in (outcome.error or "")
    assert _counts(rt, "p") == (1, 0, 0)
    assert "p: check failed: page looks like an error or login page" in caplog.text
    script.then(LONG)
    assert check_page(rt, page).status in ("unchanged", "not_modified")
    assert _counts(rt, "p") == (1, 0, 0)
    assert rt.store.page_state("p").failures == 0


@pytest.mark.parametrize("flip", ["per request", "per check"])
def test_ab_variants_do_not_alert_on_every_flip(
    flip: str, scripted: Callable[..., tuple[Any, Any, Script]], caplog: pytest.LogCaptureFixture
) -> None:
    rt, page, script = scripted(VARIANT_A, confirm="always")
    assert check_page(rt, page).status == "baseline"
    statuses = []
    for n in range(10):
        if flip == "per request":
            script.then(VARIANT_B, VARIANT_A)  # every fetch flips
        else:
            script.then(VARIANT_B if n % 2 == 0 else VARIANT_A, VARIANT_A)
        statuses.append(check_page(rt, page).status)
    assert _counts(rt, "p") == (1, 0, 0), statuses
    assert set(statuses) <= {"unconfirmed", "unchanged", "not_modified"} and "unconfirmed" in statuses
    # A real edit is still recorded under confirm = "always": both fetches agree.
    script.then(VARIANT_A.replace("we review each", "we review each within 48 hours"))
    outcome = check_page(rt, page)
    assert outcome.status == "changed"
    assert _counts(rt, "p") == (2, 1, 1)


def test_ab_variants_without_confirmation_alert_every_flip(
    scripted: Callable[..., tuple[Any, Any, Script]]
) -> None:
    """The control for the test above: same server, default mode (variants are the same length)."""
    rt, page, script = scripted(VARIANT_A)
    check_page(rt, page)
    for n in range(4):
        script.then(VARIANT_B if n % 2 == 0 else VARIANT_A)
        check_page(rt, page)
    assert _counts(rt, "p")[1] == 4


def test_confirm_is_validated(write_config: Callable[..., Path]) -> None:
    from monitor.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="confirm"):
        load_config(write_config([{"id": "p", "url": "http://127.0.0.1:1/", "confirm": "sometimes"}]))
    assert load_config(write_config([], confirm="always")).monitor.confirm == "always"


def test_page_gone_after_the_grace_and_restored_when_back(
    scripted: Callable[..., tuple[Any, Any, Script]], server: PageServer
) -> None:
    rt, page, _ = scripted(LONG, gone_after=3, alerts=[{"url": "json://127.0.0.1:9/hook", "name": "hook"}])
    check_page(rt, page)
    server.set("/p", "<h1>Not Found</h1>", status=404)
    outcomes = [check_page(rt, page) for _ in range(5)]
    assert all(o.failed and o.http_status == 404 for o in outcomes)
    kinds = [[e.kind for e in o.events] for o in outcomes]
    assert kinds == [[], [], ["page_gone"], [], []], "page_gone once, on the third failure, never again"
    state = rt.store.page_state("p")
    assert state.gone and state.failures == 5
    server.set("/p", LONG)
    back = check_page(rt, page)
    assert back.status in ("unchanged", "not_modified") and [e.kind for e in back.events] == ["page_restored"]
    assert check_page(rt, page).events == []
    events = rt.store.events(page_id="p")
    assert [e.kind for e in events] == ["page_gone", "page_restored"]
    assert "3 consecutive failed checks; last: HTTP 404" in (events[0].quote or "")
    with rt.store.session() as session:
        sinks = session.exec(select(Delivery.event_id, Delivery.sink)).all()
    assert sorted(sinks) == [(events[0].id, "hook"), (events[1].id, "hook")]
    assert rt.store.counts("p")["changes"] == 0
