"""import-archive against a fake web archive on 127.0.0.1 (CDX JSON and raw captures), with a
real SQLite file (and PostgreSQL), a real webhook receiver and, for live checks, a real page server."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from monitor.check import Runtime, check_page
from monitor.config import load_config
from monitor.models import Change, Event, Snapshot
from monitor.pageserver import PageServer
from monitor.store import Store
from tests.alert_receivers import WebhookReceiver
from tests.conftest import ROOT, run_cli, wait_for
from tests.fake_archive import FakeArchive, Hiccup
from tests.pg import db_url  # noqa: F401  (fixture: SQLite and PostgreSQL)

URL = "https://zoom.example/docs/en-us/government-requests.html"
PAGE = {"id": "zoom-government-requests", "company": "Zoom", "url": URL, "select": ["main"]}
P1 = ("Zoom responds to requests for user data from government and law-enforcement agencies only when they "
      "are made through valid legal process.")
P2 = "We review every request to determine whether it is legally valid, and we narrow or reject overbroad ones."
P3 = "We publish the number of government requests we receive in our transparency report."
PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
P4 = "Requests must be submitted through our law-enforcement portal."
P5 = "We notify users of requests for their data unless the law forbids it."


def zoom_html(*paragraphs: str, nonce: str = "a") -> str:
    """The page as its site served it: scripts and navigation around the <main> that is watched."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>Government Requests Guide</title><script>var build = '{nonce}';</script></head>"
            f"<body><nav>Products Pricing Sign in</nav><main><h1>Government Requests Guide</h1>{body}</main>"
            f"<footer>Copyright Zoom</footer></body></html>")


V1, V2 = zoom_html(P1, P2), zoom_html(P1, P2, P3, nonce="b")
V3 = zoom_html(P1, PAUSE, P2, P3, nonce="c")
V4 = zoom_html(P1, PAUSE, P2, P3, P4, nonce="e")
LIVE = zoom_html(P1, P2, P3, P4, P5, nonce="live")  # today: the pause statement is gone
SOFT_ERROR = "<html><body><main><h1>Access denied</h1><p>Please sign in to continue.</p></main></body></html>"
OLD_LAYOUT = "<html><body><div id='content'><p>Zoom Video Communications, Inc.</p></div></body></html>"
HISTORY = [  # (timestamp, body, extra)
    ("20181201000000", OLD_LAYOUT, {}),  # before <main>: skipped with a note
    ("20190301101500", V1, {}),
    ("20190910080000", V1, {}),  # the same bytes again: collapsed, not fetched
    ("20200115093000", V2, {}),
    ("20200501120000", SOFT_ERROR, {}),  # a login wall the crawler saw: skipped
    ("20200706120000", V3, {}),  # the pause statement appears
    ("20200720000000", zoom_html(P1, PAUSE, P2, P3, nonce="d"), {}),  # other bytes, same text
    ("20210201000000", "", {"status": 302, "location": "https://zoom.example/signin"}),  # skipped
    ("20220301000000", V4, {}),
]
EXPECTED_SNAPSHOTS = [  # (time, text contains)
    ("2019-03-01T10:15:00Z", P2), ("2020-01-15T09:30:00Z", P3), ("2020-07-06T12:00:00Z", PAUSE),
    ("2022-03-01T00:00:00Z", P4),
]
EXPECTED_EVENTS = [  # (kind, jurisdiction, detected_at)
    ("changed", None, "2020-01-15T09:30:00Z"), ("changed", None, "2020-07-06T12:00:00Z"),
    ("pause_started", "HK", "2020-07-06T12:00:00Z"), ("changed", None, "2022-03-01T00:00:00Z"),
]


def zoom_archive(archive: FakeArchive, url: str = URL) -> FakeArchive:
    for timestamp, body, extra in HISTORY:
        archive.add(url, timestamp, body, **extra)
    return archive


@pytest.fixture
def archive() -> Iterator[FakeArchive]:
    with FakeArchive() as fake:
        yield zoom_archive(fake)


def archive_config(write_config: Callable[..., Path], archive: FakeArchive, pages: list[dict[str, Any]] | None = None,
                   rate: float = 50, backoff: str = "0.05s", alerts: list[dict[str, Any]] = (), **monitor: Any) -> Path:
    path = write_config(pages or [PAGE], alerts=alerts, **monitor)
    with path.open("a") as handle:
        handle.write(f'\n[archive]\nurl = "{archive.url}"\nrate = {rate}\nbackoff = "{backoff}"\n')
    return path


def import_cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli("import-archive", *args, "--config", str(config), timeout=timeout)


def events_json(config: Path) -> list[dict[str, Any]]:
    result = run_cli("events", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What an import leaves in the database, comparable between databases (times, texts,
    provenance, the chain of snapshots; ids as they are, since runs must agree on them too)."""
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return {
                "snapshots": [tuple(r) for r in conn.execute(text(
                    "SELECT id, created_at, text_hash, raw_hash, origin, source FROM snapshot ORDER BY id"))],
                "changes": [tuple(r) for r in conn.execute(text(
                    "SELECT id, snapshot_id, previous_snapshot_id, detected_at, added, removed, first_line "
                    "FROM change ORDER BY id"))],
                "events": [tuple(r) for r in conn.execute(text(
                    "SELECT id, change_id, kind, jurisdiction, quote, evidence, rule, detected_at, snapshot_id, "
                    "previous_snapshot_id, origin, source FROM event ORDER BY id"))],
                "raw": [tuple(r) for r in conn.execute(text("SELECT hash, size FROM raw_body ORDER BY hash"))],
                "page": [tuple(r) for r in conn.execute(text(
                    "SELECT id, archive_until, archive_pending, last_checked_at, last_status, etag FROM page"))],
                "outbox": [tuple(r) for r in conn.execute(text("SELECT id FROM delivery"))],
                "checks": [tuple(r) for r in conn.execute(text('SELECT count(*) FROM "check"'))],
            }
    finally:
        store.close()


def db_of(config: Path) -> str:
    return load_config(config).monitor.database


# -- the whole history, once ---------------------------------------------------------------------


def test_import_builds_the_dated_history_without_alerts_and_a_second_run_adds_nothing(
    archive: FakeArchive, write_config: Callable[..., Path]
) -> None:
    with WebhookReceiver() as hook:
        config = archive_config(write_config, archive, alerts=[{"url": hook.url()}])
        result = import_cli(config, "zoom-government-requests")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        # One line per page: what was found, what was skipped and why.
        assert result.stdout.splitlines() == [
            "zoom-government-requests: 8 captures; 4 versions, 3 changes (pause_started HK 2020-07-06); "
            "skipped 2 (1 error or login page, 1 redirect); 1 without the selected part (older layout), skipped"
        ]

        events = events_json(config)
        assert [(e["kind"], e["jurisdiction"], e["detected_at"]) for e in events] == EXPECTED_EVENTS
        pause = events[2]
        assert pause["quote"] == PAUSE and pause["company"] == "Zoom" and pause["evidence"] == "stated"
        assert {e["origin"] for e in events} == {"archive"}
        assert pause["source"] == f"{archive.url}/web/20200706120000/{URL}"
        store = Store(db_of(config))
        try:
            snaps = store.snapshots("zoom-government-requests")
            assert [(s.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), want in s.text) for s, (_, want)
                    in zip(snaps, EXPECTED_SNAPSHOTS, strict=True)] == [(t, True) for t, _ in EXPECTED_SNAPSHOTS]
            assert {s.origin for s in snaps} == {"archive"}
            stamps = ("20190301101500", "20200115093000", "20200706120000", "20220301000000")
            assert [s.source for s in snaps] == [f"{archive.url}/web/{ts}/{URL}" for ts in stamps]
            assert "Sign in" not in snaps[0].text and "build" not in snaps[0].text  # the page's rules applied
            assert store.count_deliveries("pending") == 0
        finally:
            store.close()
        # Raw captures only (id_), each content fetched once; the redirect capture not at all.
        fetched = archive.capture_requests()
        assert all("id_/" in path for path in fetched)
        assert len(fetched) == len(set(fetched)) == 7
        assert not any("20190910080000" in path or "20210201000000" in path for path in fetched)

        # The status board dates the pause by the capture that first showed it.
        status = run_cli("status", "--json", "--config", str(config))
        [row] = [json.loads(line) for line in status.stdout.splitlines()]
        assert (row["jurisdiction"], row["state"], row["since"], row["event"]) == (
            "HK", "paused", "2020-07-06T12:00:00Z", pause["id"])
        assert "paused since 2020-07-06 (archive)" in run_cli("status", "--config", str(config)).stdout

        before = dump(db_of(config))
        again = import_cli(config, "--all")
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == "zoom-government-requests: no new captures"
        assert dump(db_of(config)) == before
        assert len(archive.capture_requests()) == 7  # nothing fetched again
        run_cli("alerts", "--config", str(config))  # would deliver anything pending
        assert hook.arrived == []  # a real receiver got nothing at all


def test_alert_option_delivers_the_imported_events(archive: FakeArchive, write_config: Callable[..., Path]) -> None:
    with WebhookReceiver() as hook:
        config = archive_config(write_config, archive, alerts=[{"url": hook.url(), "kinds": ["pause_started"]}])
        result = import_cli(config, "--all", "--alert")
        assert result.returncode == 0, result.stderr
        assert wait_for(lambda: len(hook.received) >= 1, timeout=30)
        payload = hook.payloads()[0]
        assert (payload["kind"], payload["jurisdiction"], payload["detected_at"]) == (
            "pause_started", "HK", "2020-07-06T12:00:00Z")
        assert payload["origin"] == "archive" and payload["source"].endswith(f"/web/20200706120000/{URL}")
        assert len(hook.received) == 1


def test_dates_bound_the_import_and_a_later_run_continues(archive: FakeArchive,
                                                          write_config: Callable[..., Path]) -> None:
    config = archive_config(write_config, archive)
    first = import_cli(config, "--all", "--to", "2020-06")
    assert first.returncode == 0, first.stderr
    assert [e["detected_at"] for e in events_json(config)] == ["2020-01-15T09:30:00Z"]
    rest = import_cli(config, "--all")
    assert rest.returncode == 0, rest.stderr
    assert [(e["kind"], e["jurisdiction"], e["detected_at"]) for e in events_json(config)] == EXPECTED_EVENTS
    assert "1 error or login page" not in rest.stdout  # that capture was dealt with by the first run

    late = archive_config(write_config, archive, database="sqlite:///late.db")
    assert import_cli(late, "--all", "--from", "2020-06-01").returncode == 0
    store = Store(db_of(late))
    try:
        snaps = [s.created_at.strftime("%Y-%m-%d") for s in store.snapshots("zoom-government-requests")]
    finally:
        store.close()
    assert snaps == ["2020-07-06", "2022-03-01"]  # the baseline: July 2020
    assert events_json(late)[0]["kind"] == "changed"  # no pause_started: the baseline already says it


# -- where the history goes: before the first live snapshot ---------------------------------------


def test_history_goes_before_the_first_live_snapshot_and_live_checks_carry_on(
    db_url: str,  # noqa: F811  (the fixture imported above)
    archive: FakeArchive, server: PageServer, write_config: Callable[..., Path],
) -> None:
    from monitor.archive import import_archive

    server.set("/gov", LIVE)
    live_url = server.url("/gov")
    zoom_archive(archive, live_url)
    with WebhookReceiver() as hook:
        config = archive_config(write_config, archive, pages=[{**PAGE, "url": live_url}], database=db_url,
                                alerts=[{"url": hook.url()}])
        rt = Runtime.open(load_config(config))
        try:
            page = rt.config.page("zoom-government-requests")
            assert check_page(rt, page).status == "baseline"  # the monitor started today
            live_id = rt.store.page_state(page.id).snapshot_id
            assert import_archive(rt, [page.id]) == 0

            snaps = rt.store.snapshots(page.id)
            assert [s.origin for s in snaps] == ["archive"] * 4 + ["fetch"]  # time order
            assert snaps[-1].id == live_id and all(s.id > live_id for s in snaps[:-1])
            assert rt.store.page_state(page.id).snapshot_id == live_id  # still the latest
            # The live baseline now follows the last capture: what changed in between, no alert.
            link = [c for c in rt.store.changes(page.id) if c.snapshot_id == live_id]
            assert len(link) == 1 and link[0].previous_snapshot_id == snaps[3].id
            linked = [(e.kind, e.jurisdiction, e.evidence) for e in rt.store.events(page_id=page.id)
                      if e.change_id == link[0].id]
            assert linked == [("changed", None, None), ("pause_lifted", "HK", "statement_removed")]
            assert {e.origin for e in rt.store.events()} == {"archive"}
            assert rt.store.count_deliveries("pending") == 0
            # The board: the live page no longer says what the archive showed, since the link's event.
            from monitor.status import board

            [row] = board(rt.store)
            [gone] = [e for e in rt.store.events(page_id=page.id) if e.kind == "pause_lifted"]
            assert (row.jurisdiction, row.state, row.event_id, row.at_first_check) == ("HK", "unspecified", gone.id,
                                                                                       False)

            # Live checks carry on from the live snapshot, and alert again.
            assert check_page(rt, page).status == "not_modified"
            server.set("/gov", LIVE.replace(P5, P5 + " We review this guide every year."))
            outcome = check_page(rt, page)
            assert outcome.status == "changed"
            change = rt.store.changes(page.id)[-1]
            assert change.previous_snapshot_id == live_id
            assert rt.store.count_deliveries("pending") == 1
            assert rt.store.events()[-1].origin == "fetch" and "origin" not in rt.store.events()[-1].as_json()

            before = _counts(rt)
            assert import_archive(rt, [page.id]) == 0  # idempotent
            assert _counts(rt) == before
        finally:
            rt.close()
        assert hook.arrived == []  # nothing was delivered by the import (the live change is still queued)


def test_history_up_to_an_earlier_date_is_not_joined_to_the_live_snapshot_yet(
    archive: FakeArchive, server: PageServer, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import archive as archive_module

    server.set("/gov", LIVE)
    zoom_archive(archive, server.url("/gov"))
    archive.page_rows = 2
    monkeypatch.setattr(archive_module, "MAX_CAPTURES", 4)  # a long list is imported over several runs
    rt = Runtime.open(load_config(archive_config(write_config, archive, pages=[{**PAGE, "url": server.url("/gov")}])))
    try:
        page = rt.config.page("zoom-government-requests")
        assert check_page(rt, page).status == "baseline"
        live_id = rt.store.page_state(page.id).snapshot_id
        assert archive_module.import_archive(rt, [page.id], end=datetime(2020, 6, 30, tzinfo=UTC)) == 0
        assert rt.store.changes(page.id)[-1].snapshot_id != live_id  # not joined: more history may come
        runs = 0
        while not rt.store.archive_state(page.id).head_linked:
            assert archive_module.import_archive(rt, [page.id]) == 0
            runs += 1
            assert runs < 5
        assert runs == 2  # 4 captures a run
        assert [e.detected_at.strftime("%Y-%m-%d") for e in rt.store.events() if e.kind == "changed"] == [
            "2020-01-15", "2020-07-06", "2022-03-01", datetime.now(UTC).strftime("%Y-%m-%d")]
        assert rt.store.changes(page.id)[-1].snapshot_id == live_id
    finally:
        rt.close()


def _counts(rt: Runtime) -> tuple[int, int, int]:
    from sqlmodel import func, select

    with rt.store.session() as session:
        return tuple(int(session.exec(select(func.count()).select_from(m)).one())  # type: ignore[return-value]
                     for m in (Snapshot, Change, Event))


def test_a_page_without_live_snapshots_continues_from_its_last_capture(
    archive: FakeArchive, server: PageServer, write_config: Callable[..., Path]
) -> None:
    server.set("/gov", V4)
    live_url = server.url("/gov")
    zoom_archive(archive, live_url)
    config = archive_config(write_config, archive, pages=[{**PAGE, "url": live_url}])
    assert import_cli(config, "--all").returncode == 0
    rt = Runtime.open(load_config(config))
    try:
        page = rt.config.page("zoom-government-requests")
        last = rt.store.snapshots(page.id)[-1]
        assert rt.store.page_state(page.id).snapshot_id == last.id
        assert check_page(rt, page).status == "unchanged"  # not a baseline: the history goes on
        server.set("/gov", LIVE)
        outcome = check_page(rt, page)
        assert outcome.status == "changed"
        assert [(e.kind, e.jurisdiction) for e in outcome.events] == [("changed", None), ("pause_lifted", "HK")]
        assert rt.store.changes(page.id)[-1].previous_snapshot_id == last.id
        assert rt.store.events()[-1].origin == "fetch"
    finally:
        rt.close()
    # An import now finds the history closed: live snapshots follow its last capture.
    again = import_cli(config, "--all")
    assert again.returncode == 0 and again.stdout.strip() == "zoom-government-requests: no new captures"


# -- kills, failures, politeness ---------------------------------------------------------------


def test_an_import_killed_halfway_and_run_again_ends_with_the_same_database(
    archive: FakeArchive, write_config: Callable[..., Path]
) -> None:
    reference = archive_config(write_config, archive, database="sqlite:///reference.db")
    assert import_cli(reference, "--all").returncode == 0
    expected = dump(db_of(reference))

    config = archive_config(write_config, archive, rate=6, name="killed.toml", database="sqlite:///killed.db")
    for kill_after in (3, 2):  # two kills at different places, then a run to the end
        seen = len(archive.capture_requests())
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "import-archive", "--all", "--config", str(config)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert wait_for(lambda n=seen + kill_after: len(archive.capture_requests()) >= n, timeout=60)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        partial = dump(db_of(config))
        assert partial["page"][0][1] is not None  # it recorded something before it died...
        assert partial != expected  # ...but not everything
    final = import_cli(config, "--all")
    assert final.returncode == 0, final.stderr
    assert dump(db_of(config)) == expected


def test_requests_are_paced_and_429_and_5xx_are_waited_out(archive: FakeArchive,
                                                           write_config: Callable[..., Path]) -> None:
    v3 = f"/web/20200706120000id_/{URL}"
    archive.hiccups[v3] = [Hiccup(429, retry_after="1"), Hiccup(503)]
    config = archive_config(write_config, archive, rate=5, backoff="0.1s")
    result = import_cli(config, "--all")
    assert result.returncode == 0, result.stderr
    assert [(e["kind"], e["jurisdiction"], e["detected_at"]) for e in events_json(config)] == EXPECTED_EVENTS
    times = [at for _, at in archive.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.2 - 0.02  # at most 5 requests a second
    answers = [at for path, at in archive.requests if path == v3]
    assert len(answers) == 3
    assert answers[1] - answers[0] >= 1.0 - 0.02  # Retry-After honoured
    assert "429" in result.stderr and "503" in result.stderr  # each wait is logged


def test_an_archive_that_keeps_failing_stops_the_page_and_a_later_run_resumes(
    archive: FakeArchive, write_config: Callable[..., Path]
) -> None:
    reference = archive_config(write_config, archive, database="sqlite:///reference.db")
    assert import_cli(reference, "--all").returncode == 0
    config = archive_config(write_config, archive, name="flaky.toml", database="sqlite:///flaky.db")

    archive.hiccups["/cdx/"] = [Hiccup(503)] * 4
    down = import_cli(config, "--all")
    assert down.returncode == 1
    assert "zoom-government-requests: no new captures; stopped: listing captures failed: HTTP 503" in down.stdout
    assert "4 attempts" in down.stdout and "Traceback" not in down.stderr
    assert dump(db_of(config))["snapshots"] == []

    archive.hiccups[f"/web/20200706120000id_/{URL}"] = [Hiccup(500)] * 4
    midway = import_cli(config, "--all")
    assert midway.returncode == 1 and "stopped: HTTP 500" in midway.stdout
    assert len(dump(db_of(config))["snapshots"]) == 2  # v1 and v2; nothing from July 2020 on
    store = Store(db_of(config))
    try:
        assert store.archive_state(PAGE["id"]).until == datetime(2020, 5, 1, 12, 0, tzinfo=UTC)  # the next one failed
    finally:
        store.close()

    assert import_cli(config, "--all").returncode == 0
    assert dump(db_of(config)) == dump(db_of(reference))


def test_bad_captures_are_skipped_within_the_byte_cap(write_config: Callable[..., Path]) -> None:
    with FakeArchive() as archive:
        archive.add(URL, "20190101000000", V1)
        archive.add(URL, "20190601000000", zoom_html(P1, P2, "x" * 60_000))  # over max_bytes
        archive.add(URL, "20190701000000", V2, playback_redirect="/web/20190701000000id_/https://zoom.example/")
        archive.add("https://zoom.example/", "20190701000000", "<main><p>Meet happy</p></main>")  # the home page
        archive.add(URL, "20190801000000", zoom_html())  # lost most of its text: once only
        archive.add(URL, "20190901000000", V2, status=404)
        archive.add(URL, "20200101000000", V3)
        config = archive_config(write_config, archive, max_bytes=50_000)
        result = import_cli(config, "--all")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "zoom-government-requests: 6 captures; 2 versions, 1 changes (pause_started HK 2020-01-01); skipped 4 "
        "(1 HTTP 404, 1 redirect, 1 unconfirmed (shrank; one capture only), 1 unreadable)")
    assert "body too large" in result.stderr


def test_a_shrunken_text_shown_by_two_captures_is_believed(write_config: Callable[..., Path]) -> None:
    short = zoom_html(P1)
    with FakeArchive() as archive:
        archive.add(URL, "20190101000000", V2)
        archive.add(URL, "20190601000000", short)  # the same bytes twice in a row: two captures agree
        archive.add(URL, "20190701000000", short)
        archive.add(URL, "20200101000000", V2)
        archive.add(URL, "20200601000000", zoom_html(P1, nonce="x"))  # once, then other bytes of that text
        archive.add(URL, "20200701000000", zoom_html(P1, nonce="y"))
        config = archive_config(write_config, archive)
        result = import_cli(config, "--all")
    assert result.returncode == 0, result.stderr
    dates = [e["detected_at"][:10] for e in events_json(config)]
    assert dates == ["2019-06-01", "2020-01-01", "2020-07-01"]  # the second one dated by its confirming capture
    assert "1 unconfirmed" in result.stdout


def test_paged_capture_lists_are_followed(write_config: Callable[..., Path]) -> None:
    with FakeArchive(page_rows=2) as archive:
        zoom_archive(archive)
        config = archive_config(write_config, archive)
        assert import_cli(config, "--all").returncode == 0
        listings = [path for path, _ in archive.requests if path.startswith("/cdx/")]
    assert len(listings) == 5  # 9 captures, 2 per answer
    assert "resumeKey=" in listings[-1]
    assert [(e["kind"], e["jurisdiction"], e["detected_at"]) for e in events_json(config)] == EXPECTED_EVENTS


@pytest.mark.parametrize("answer, expected", [
    (b"<html>Service unavailable</html>", "not JSON"),
    (b"[" * 200_000, "not JSON"),
    (b'{"captures": []}', "not CDX JSON"),
    (b'[["urlkey", "original"], ["a", "b"]]', "not CDX JSON"),
    (b'[[["timestamp"]], [1]]', "not CDX JSON"),
])
def test_a_malformed_capture_list_is_a_clear_error(answer: bytes, expected: str,
                                                  write_config: Callable[..., Path]) -> None:
    with FakeArchive(cdx_override=answer) as archive:
        config = archive_config(write_config, archive)
        result = import_cli(config, "--all")
    assert result.returncode == 1
    assert expected in result.stdout and "Traceback" not in result.stderr


def test_unreadable_rows_are_counted_and_the_rest_imported(write_config: Callable[..., Path]) -> None:
    rows = [["timestamp", "original", "statuscode", "digest"],
            ["20190101000000", URL, "200", "A"], ["2019", URL, "200", "B"], ["20191399000000", URL, "200", "C"],
            ["20190201000000", "javascript:alert(1)", "200", "D"], ["20190301000000", URL, "200"], [1, 2, 3, 4],
            "row", ["20200101000000", URL, "200", "E"]]
    with FakeArchive(cdx_override=json.dumps(rows).encode()) as archive:
        archive.add(URL, "20190101000000", V1)
        archive.add(URL, "20200101000000", V3)
        config = archive_config(write_config, archive)
        result = import_cli(config, "--all")
    assert result.returncode == 0, result.stderr
    assert "2 captures; 2 versions, 1 changes (pause_started HK 2020-01-01); skipped 6 (6 unreadable in the list)" \
        in result.stdout


def test_a_list_of_json_objects_one_a_line_is_read_too(write_config: Callable[..., Path],
                                                       runtime_for: Callable[[Path], Runtime]) -> None:
    from monitor.archive import import_archive

    lines = [{"urlkey": "example", "timestamp": "20190101000000", "url": URL, "status": "200", "digest": "A"},
             {"timestamp": "20200101000000", "url": URL, "status": "200", "digest": "B"}, {"timestamp": 2020}]
    with FakeArchive(cdx_override="\n".join(map(json.dumps, lines)).encode()) as archive:  # as pywb answers
        archive.add(URL, "20190101000000", V1)
        archive.add(URL, "20200101000000", V3)
        rt = runtime_for(archive_config(write_config, archive))
        assert import_archive(rt, [PAGE["id"]]) == 0
    assert [(e.kind, e.jurisdiction, e.detected_at.year) for e in rt.store.events()] == [
        ("changed", None, 2020), ("pause_started", "HK", 2020)]


def test_a_capture_list_over_the_byte_cap_is_refused(write_config: Callable[..., Path]) -> None:
    rows = [["timestamp", "original", "statuscode", "digest"]] + [
        [f"2019{m:02d}01000000", URL, "200", f"D{m}"] for m in range(1, 13)] * 500
    with FakeArchive(cdx_override=json.dumps(rows).encode()) as archive:
        config = archive_config(write_config, archive, max_bytes=100_000)
        result = import_cli(config, "--all")
        assert archive.capture_requests() == []
    assert result.returncode == 1 and "body too large" in result.stdout


def test_private_archive_addresses_are_refused_unless_allowed(archive: FakeArchive,
                                                              write_config: Callable[..., Path]) -> None:
    config = archive_config(write_config, archive, allow_private_addresses=False)
    result = import_cli(config, "--all")
    assert result.returncode == 1
    assert "refused: 127.0.0.1 resolves to non-public address" in result.stdout
    assert archive.requests == []


def test_usage_and_config_errors(archive: FakeArchive, write_config: Callable[..., Path]) -> None:
    config = archive_config(write_config, archive)
    for args, message in [((), "give PAGE_IDs or --all"), (("nope",), "unknown page id"),
                          (("--all", "--from", "yesterday"), "--from: not an ISO date"),
                          (("--all", "--from", "2021", "--to", "2020"), "--from is after --to"),
                          (("--all", "--to", "2020-02-30"), "--to: not a date")]:
        result = import_cli(config, *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    bad = write_config([PAGE], name="bad.toml")
    with bad.open("a") as handle:
        handle.write('\n[archive]\nurl = "ftp://archive.example"\nrate = 0\nspeed = 1\n')
    result = import_cli(bad, "--all")
    assert result.returncode == 2
    assert "key 'archive.url': not an http(s) URL" in result.stderr
    assert "key 'archive.rate'" in result.stderr and "key 'archive.speed': unknown key" in result.stderr
    assert archive.requests == []


def test_report_marks_archived_versions_and_links_their_captures(
    archive: FakeArchive, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    import feedparser

    config = archive_config(write_config, archive)
    assert import_cli(config, "--all").returncode == 0
    out = tmp_path / "site"
    assert run_cli("report", "--out", str(out), "--config", str(config)).returncode == 0
    capture = f"{archive.url}/web/20200706120000/{URL}"
    page = (out / "pages" / "zoom-government-requests.html").read_text()
    assert page.count("(archive: <a") == 4 + 4  # four snapshots, four events
    assert f'href="{capture}"' in page
    index = (out / "index.html").read_text()
    assert f'href="{capture}"' in index and "paused" in index and "2020-07-06" in index
    change = (out / "changes" / "2.html").read_text()
    assert "recorded from the web archive" in change and f'href="{capture}"' in change
    feed = feedparser.parse((out / "feed.xml").read_bytes())
    pause = next(e for e in feed.entries if "paused" in e.title)
    assert capture in [link.href for link in pause.links if link.rel == "via"]


def test_report_lists_a_live_page_s_imported_history_before_its_live_snapshots(
    archive: FakeArchive, server: PageServer, write_config: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Captures imported after the page was checked live get larger ids, but they are older: the
    report's snapshot lists put them first in time (last in the newest-first tables). An
    incremental rebuild after each step of the import (captures, then their link to the live
    snapshot, in a later run) writes what a full build writes, list parts included."""
    from monitor import report as report_module
    from monitor.archive import import_archive
    from monitor.report import build_report

    monkeypatch.setattr(report_module, "PAGE_ROWS", 2)  # list parts of two rows: three parts here
    server.set("/gov", LIVE)
    zoom_archive(archive, server.url("/gov"))
    rt = Runtime.open(load_config(archive_config(write_config, archive, pages=[{**PAGE, "url": server.url("/gov")}])))
    out, fresh = tmp_path / "site", tmp_path / "fresh"
    try:
        page = rt.config.page("zoom-government-requests")
        assert check_page(rt, page).status == "baseline"
        live_id = rt.store.page_state(page.id).snapshot_id
        for n in (1, 2):  # two live changes: the first live snapshot moves into a list part
            server.set("/gov", LIVE.replace(P5, P5 + f" Reviewed {n} times."))
            assert check_page(rt, page).status == "changed"
        build_report(rt.store, rt.config, out)
        assert import_archive(rt, [page.id], end=datetime(2023, 1, 1, tzinfo=UTC)) == 0  # captures, not joined
        build_report(rt.store, rt.config, out)
        assert import_archive(rt, [page.id]) == 0  # only the link to the live snapshot
        assert rt.store.changes(page.id)[-1].snapshot_id == live_id
        build_report(rt.store, rt.config, out)
        build_report(rt.store, rt.config, fresh)
    finally:
        rt.close()

    def table_ids(path: Path) -> list[int]:
        table = path.read_text().split('<table class="history">')[-1]
        return [int(i) for i in re.findall(r'data-snapshot-id="(\d+)"', table)]

    pages = out / "pages" / page.id
    assert live_id == 1
    assert table_ids(out / "pages" / f"{page.id}.html") == [3, 2]  # the newest two, both live
    # parts of the list, oldest first: the captures (ids 4-7, recorded last), then the first live one
    assert [table_ids(pages / f"snapshots-{n}.html") for n in (1, 2, 3)] == [[5, 4], [7, 6], [2, 1]]
    assert "changes/" in (pages / "snapshots-3.html").read_text().split('data-snapshot-id="1"')[1].split("</tr>")[0]
    for path in [out / "pages" / f"{page.id}.html", *sorted(pages.iterdir())]:
        assert path.read_text() == (fresh / path.relative_to(out)).read_text(), path.name
