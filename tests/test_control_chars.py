"""Control characters: normalization strips them from page text; whatever still holds them (a
server's status line, events recorded by an earlier version) is printed escaped, and the Atom
feed stays well-formed XML whatever an event quotes."""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import feedparser

from monitor.check import check_page
from monitor.logs import LineFormatter
from monitor.models import utcnow
from monitor.pageserver import PageServer
from monitor.store import CheckRecord, EventDraft, Version, sha256
from tests.conftest import run_cli

CONTROLS = "".join(chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)))
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what must never reach a terminal raw (newline and tab may)
INTRO = "<h1>Government requests</h1>" + "".join(f"<p>Section {n}: how we review requests.</p>" for n in range(6))


def _html(*paragraphs: str) -> str:
    return f"<html><body><main>{INTRO}{''.join(f'<p>{p}</p>' for p in paragraphs)}</main></body></html>"


def _status_line(reason: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.wfile.write(b"HTTP/1.1 500 " + reason + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    return handle


def test_normalized_text_has_no_control_characters(server: PageServer, write_config: Callable[..., Path],
                                                   runtime_for: Callable[[Path], Any]) -> None:
    server.set("/p", _html("Nothing paused."))
    rt = runtime_for(write_config([{"id": "p", "url": server.url("/p")}], retries=0))
    page = rt.config.page("p")
    assert check_page(rt, page).status == "baseline"
    sentence = "We have paused processing any data requests from Hong Kong authorities."
    # Inside a word: every control character but the four HTML counts as white space.
    inside = "".join(c for c in CONTROLS if c not in "\t\n\r\f")
    server.set("/p", _html("Nothing paused.", sentence.replace("paused", f"pau{inside}sed")))
    outcome = check_page(rt, page)
    assert outcome.status == "changed"
    text = rt.store.snapshot(outcome.snapshot_id).text
    assert not RAW.search(text) and "\t" not in text
    assert "We have paused processing" in text  # the characters are gone, the words are whole
    assert all(not RAW.search(e.quote or "") for e in outcome.events)


def _legacy_event(rt: Any, page_id: str, url: str) -> None:
    """An event and a snapshot as an earlier version could have recorded them: raw controls."""
    state = rt.store.page_state(page_id)
    text = f"Government requests\nWe have paused requests from Hong Kong.{CONTROLS}\x1b[2J\x1b]0;pwned\x07"
    now = utcnow()
    rt.store.record(CheckRecord(
        page_id=page_id, company="Example\x1b[31m", url=url, status="changed", started_at=now, finished_at=now,
        previous_snapshot_id=state.snapshot_id, added=1, removed=0, first_line="+ x",
        version=Version(text=text, text_hash=sha256(text), extract_sig="legacy", raw=None, raw_hash=None,
                        content_type="text/html"),
        events=[EventDraft(kind="changed", quote=f"first{CONTROLS}"),
                EventDraft(kind="pause_started", jurisdiction="HK", quote=f"We have paused{CONTROLS}HK.",
                           evidence="stated", rule="legacy")],
    ))


def test_recorded_controls_are_printed_escaped_and_the_feed_stays_well_formed(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any], tmp_path: Path,
) -> None:
    server.set("/p", _html("Nothing paused."))
    server.set("/bad", handler=_status_line(b"Oops \x1b[2J\x1b]0;pwned\x07 \x9b31m\x08\x08"))
    config = write_config([{"id": "p", "url": server.url("/p")}, {"id": "bad", "url": server.url("/bad")}],
                          retries=0, gone_after=1)
    rt = runtime_for(config)
    assert check_page(rt, rt.config.page("p")).status == "baseline"
    _legacy_event(rt, "p", server.url("/p"))

    checked = run_cli("check", "bad", "--config", str(config))
    assert checked.returncode == 1
    for output in (checked.stdout, checked.stderr):
        assert not RAW.search(output), output  # the status line's ESC, BEL, CSI and BS are shown, not sent
    assert "\\x1b[2J" in checked.stdout and "bad: check failed: HTTP 500 Oops \\x1b[2J" in checked.stderr
    as_json = run_cli("check", "bad", "--json", "--config", str(config))
    assert not RAW.search(as_json.stdout)
    assert "\x1b[2J" in json.loads(as_json.stdout)["error"] or "\\x1b[2J" in json.loads(as_json.stdout)["error"]

    for args in (["events"], ["events", "--json"], ["history", "p"], ["diff", "p", "--color", "always"],
                 ["diff", "p"], ["pages"]):
        result = run_cli(*args, "--config", str(config))
        assert result.returncode == 0, (args, result.stderr)
        shown = result.stdout
        if "--color" in args:  # our own colour codes are the only escapes
            shown = re.sub(r"\x1b\[[0-9;]*m", "", shown)
        assert not RAW.search(shown), (args, shown[-500:])
    events = run_cli("events", "--config", str(config)).stdout
    assert "We have paused\\x00\\x01" in events and "HTTP 500 Oops \\x1b[2J\\x1b]0;pwned\\x07" in events
    quotes = [json.loads(line)["quote"] for line in run_cli("events", "--json", "--config", str(config)).stdout
              .splitlines()]
    assert f"We have paused{CONTROLS}HK." in quotes, "JSON keeps the recorded text exactly, escaped"

    out = tmp_path / "site"
    assert run_cli("report", "--out", str(out), "--config", str(config)).returncode == 0
    feed_bytes = (out / "feed.xml").read_bytes()
    root = ET.fromstring(feed_bytes)  # expat: fails on a single character XML forbids
    summaries = [e.text or "" for e in root.iter("{http://www.w3.org/2005/Atom}summary")]
    assert any(s.startswith("We have paused") and s.endswith("HK.") for s in summaries)
    assert any("HTTP 500 Oops" in s for s in summaries), "the page_gone event quotes the status line"
    parsed = feedparser.parse(feed_bytes)
    assert not parsed.bozo and len(parsed.entries) == len(summaries)


def test_text_logs_escape_controls_and_json_logs_stay_parseable() -> None:
    record = logging.makeLogRecord({"msg": "page: event pause_started: %s", "args": ("a\x1b[2Jb\x9b1m\x07",),
                                    "levelno": logging.WARNING, "levelname": "WARNING", "name": "monitor.check"})
    text = LineFormatter("text").format(record)
    assert not RAW.search(text) and "a\\x1b[2Jb\\x9b1m\\x07" in text
    line = LineFormatter("json").format(record)
    assert not RAW.search(line) and json.loads(line)["msg"].endswith("a\x1b[2Jb\x9b1m\x07")
