"""Feeds people subscribe to (per company, per jurisdiction, pauses), capped with RFC 5005
archives, and the incremental rebuild: the same bytes as a full one, touching only what changed."""

from __future__ import annotations

import filecmp
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import lxml.html

from monitor.feeds import ATOM, FEED_ENTRIES, HISTORY, company_slug
from monitor.models import Event
from monitor.pageserver import PageServer
from monitor.report import PAGE_ROWS, STATE_FILE, build_report
from monitor.store import CheckRecord, EventDraft, Store, Version, sha256
from tests.conftest import run_cli, wait_for
from tests.test_report import scenario

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HK_PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
A = "{" + ATOM + "}"


def record(store: Store, page_id: str, company: str, text: str, when: datetime,
           events: list[EventDraft] | None = None) -> None:
    """One version of a page through the real record stage (a change, unless it is the first)."""
    state = store.page_state(page_id)
    first = state.snapshot_id is None
    drafts = [] if first else [EventDraft("changed", quote=text.splitlines()[-1]), *(events or [])]
    store.record(CheckRecord(
        page_id=page_id, company=company, url=f"https://{company_slug(company)}.example/{page_id}",
        status="baseline" if first else "changed", started_at=when, finished_at=when,
        version=Version(text=text, text_hash=sha256(text), extract_sig=""), previous_snapshot_id=state.snapshot_id,
        added=0 if first else 1, removed=0 if first else 1, events=drafts,
    ))


def _text(n: int, extra: str = "") -> str:
    return "\n".join(["Government requests", "We review every request.", f"Version {n}.", extra]).strip()


def check_atom(path: Path, root_dir: Path) -> feedparser.FeedParserDict:
    """RFC 4287 essentials (feedparser is lenient), then feedparser itself."""
    doc = ET.parse(path).getroot()
    assert doc.tag == A + "feed", path
    for tag in ("id", "title", "updated"):
        assert (doc.findtext(A + tag) or "").strip(), (path, tag)
    assert doc.find(f"{A}author/{A}name") is not None, path
    [self_link] = [link for link in doc.findall(A + "link") if link.get("rel") == "self"]
    assert (path.parent / self_link.get("href", "")).resolve() == path.resolve()
    for element in doc.iter():
        if element.tag in (A + "updated", A + "published"):
            datetime.strptime(element.text or "", "%Y-%m-%dT%H:%M:%SZ")
    for link in doc.findall(A + "link"):
        if link.get("rel") in ("alternate", "current", "prev-archive"):
            assert (path.parent / link.get("href", "")).is_file(), (path, link.attrib)
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    assert parsed.version == "atom10", path
    ids = [entry.id for entry in parsed.entries]
    assert len(ids) == len(set(ids)), path
    for entry in parsed.entries:
        assert entry.title and entry.updated
        assert (path.parent / entry.link).resolve().is_file(), (path, entry.link)
        assert str((path.parent / entry.link).resolve()).startswith(str(root_dir.resolve()))
    return parsed


def all_feeds(out: Path) -> list[Path]:
    return [out / "feed.xml", *sorted((out / "feeds").rglob("*.xml"))]


def read_feed(out: Path, path: str) -> list[str]:
    """Every entry id of a feed and its archives (RFC 5005: follow prev-archive to the first)."""
    ids: list[str] = []
    current = out / path
    while True:
        doc = ET.parse(current).getroot()
        ids.extend(entry.findtext(A + "id") or "" for entry in doc.findall(A + "entry"))
        previous = [link.get("href", "") for link in doc.findall(A + "link") if link.get("rel") == "prev-archive"]
        if not previous:
            return ids
        current = (current.parent / previous[0]).resolve()


def test_feeds_per_company_jurisdiction_and_pauses(server: PageServer, write_config: Callable[..., Path],
                                                   runtime_for: Callable[[Path], Any], tmp_path: Path) -> None:
    config, rt = scenario(server, write_config, runtime_for)
    # An upcoming classifier change: pause events whose jurisdiction is null ("unspecified").
    record(rt.store, "acme-guidelines", "Acme", _text(9, "We have paused all data requests."), T0,
           [EventDraft("pause_started", None, "We have paused all data requests.", "stated", "test")])
    # Page text may hold characters XML cannot carry (extraction keeps `&#1;`): the feeds stay valid.
    record(rt.store, "acme-guidelines", "Acme", _text(10, "Control \x01 and \ufffe characters."), T0)
    # ... and a line of a megabyte: entries are cut, a feed stays small.
    record(rt.store, "acme-guidelines", "Acme", _text(11, "Requests " * 120_000), T0)
    out = tmp_path / "site"
    result = run_cli("report", "--out", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    events = rt.store.events()

    feeds = {str(path.relative_to(out)): check_atom(path, out) for path in all_feeds(out)}
    assert set(feeds) == {"feed.xml", "feeds/pauses.xml", "feeds/company/zoom.xml", "feeds/company/microsoft.xml",
                          "feeds/company/acme.xml", "feeds/jurisdiction/HK.xml", "feeds/jurisdiction/RU.xml"}

    def titles(name: str) -> list[str]:
        return [entry.title for entry in feeds[name].entries]

    from monitor.alerts import title_for

    assert (out / "feed.xml").stat().st_size < 100_000
    assert max(len(entry.summary) for entry in feeds["feed.xml"].entries) <= 1000
    newest_first = list(reversed(sorted(events, key=lambda e: e.id or 0)))
    assert titles("feed.xml") == [title_for(e) for e in newest_first]
    assert titles("feeds/company/microsoft.xml") == [title_for(e) for e in newest_first if e.company == "Microsoft"]
    assert titles("feeds/jurisdiction/HK.xml") == ["Zoom paused government data requests from Hong Kong (HK)"]
    assert titles("feeds/jurisdiction/RU.xml") == [title_for(e) for e in newest_first if e.jurisdiction == "RU"]
    pauses = [e for e in newest_first if e.kind in ("pause_started", "pause_lifted")]
    assert titles("feeds/pauses.xml") == [title_for(e) for e in pauses]
    # The unspecified pause: in the pause, company and main feeds, in no jurisdiction feed.
    unspecified = title_for(next(e for e in events if e.kind == "pause_started" and e.jurisdiction is None))
    assert unspecified in titles("feeds/pauses.xml") and unspecified in titles("feeds/company/acme.xml")
    assert not list((out / "feeds" / "jurisdiction").glob("*[!A-Z].xml"))
    # One event (its change, kind and jurisdiction), one entry id, in every feed it is in.
    ids: dict[tuple[str, ...], set[str]] = {}
    for name, feed in feeds.items():
        for entry in feed.entries:
            target = str(((out / name).parent / entry.link).resolve())
            ids.setdefault((target, *sorted(tag.term for tag in entry.tags)), set()).add(entry.id)
    assert len(ids) == len(events)
    assert all(len(entry_ids) == 1 for entry_ids in ids.values())

    # The report pages link the feeds (<link rel="alternate">, for feed readers to discover).
    def alternates(page: Path) -> set[str]:
        doc = lxml.html.parse(str(page)).getroot()
        return {str((page.parent / href).resolve().relative_to(out.resolve()))
                for href in doc.xpath('//link[@rel="alternate"][@type="application/atom+xml"]/@href')}

    assert alternates(out / "index.html") == set(feeds)
    assert alternates(out / "pages" / "zoom-government-requests.html") == {
        "feed.xml", "feeds/pauses.xml", "feeds/company/zoom.xml"}
    [hk] = [e for e in events if e.jurisdiction == "HK"]
    assert alternates(out / "changes" / f"{hk.change_id}.html") == {
        "feed.xml", "feeds/pauses.xml", "feeds/company/zoom.xml", "feeds/jurisdiction/HK.xml"}

    # Stable ids: a rebuild from scratch gives every entry the id it had.
    before = {name: [entry.id for entry in feed.entries] for name, feed in feeds.items()}
    again = tmp_path / "again"
    build_report(rt.store, rt.config, again, full=True)
    assert {str(p.relative_to(again)): [e.id for e in feedparser.parse(p.read_bytes()).entries]
            for p in all_feeds(again)} == before


def _history(store: Store, changes: int, pause_every: int) -> None:
    for n in range(changes + 1):
        when = T0 + timedelta(hours=n)
        extra = [EventDraft("pause_started" if n % 2 else "pause_lifted", "RU" if n % 3 else None,
                            f"Statement {n} about Russian requests.", "stated", "test")] if n % pause_every == 0 else []
        record(store, "busy-page", "Busy Co", _text(n), when, extra)
        if n % 10 == 0:
            record(store, "quiet-page", "Quiet Co", _text(n), when)


def test_feeds_are_capped_and_archived(write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
                                       tmp_path: Path) -> None:
    rt = runtime_for(write_config([{"id": "busy-page", "company": "Busy Co", "url": "http://127.0.0.1:9/b"},
                                   {"id": "quiet-page", "company": "Quiet Co", "url": "http://127.0.0.1:9/q"}]))
    _history(rt.store, 2 * FEED_ENTRIES + 20, pause_every=4)
    out = tmp_path / "site"
    build_report(rt.store, rt.config, out)
    for path in all_feeds(out):
        check_atom(path, out)
    main = ET.parse(out / "feed.xml").getroot()
    assert len(main.findall(A + "entry")) == FEED_ENTRIES
    total = len(rt.store.events())
    archives = sorted((out / "feeds" / "archive" / "all").glob("*.xml"), key=lambda p: int(p.stem))
    assert [p.name for p in archives] == [f"{n}.xml" for n in range(1, total // FEED_ENTRIES + 1)]
    for path in archives:
        doc = ET.parse(path).getroot()
        assert doc.find(f"{{{HISTORY}}}archive") is not None and len(doc.findall(A + "entry")) == FEED_ENTRIES
    # The feed and its archives together hold every event: as many distinct entry ids as events.
    events: list[Event] = rt.store.events()
    assert len(set(read_feed(out, "feed.xml"))) == len(events)
    assert len(set(read_feed(out, "feeds/company/busy-co.xml"))) == sum(e.company == "Busy Co" for e in events)
    assert len(set(read_feed(out, "feeds/jurisdiction/RU.xml"))) == sum(e.jurisdiction == "RU" for e in events)
    # A page's history is paged the same way: the latest rows, then complete parts, oldest first.
    page = lxml.html.parse(str(out / "pages" / "busy-page.html")).getroot()
    snapshots = [snap.id for snap in rt.store.snapshots("busy-page")]
    assert [int(v) for v in page.xpath("//table[@class='history']/tbody/tr/@data-snapshot-id")] == \
        snapshots[::-1][:PAGE_ROWS]
    [part] = page.xpath("//p[@data-archive='snapshots']/a/@href")
    archived = lxml.html.parse(str(out / "pages" / part)).getroot()
    assert [int(v) for v in archived.xpath("//tr/@data-snapshot-id")] == snapshots[:PAGE_ROWS][::-1]


def _tree(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*"))
            if path.is_file() and path.name != ".report.lock"}


def test_incremental_rebuild_is_byte_identical_to_a_full_one(
        write_config: Callable[..., Path], runtime_for: Callable[[Path], Any], tmp_path: Path) -> None:
    config = write_config([{"id": "busy-page", "company": "Busy Co", "url": "http://127.0.0.1:9/b"},
                           {"id": "quiet-page", "company": "Quiet Co", "url": "http://127.0.0.1:9/q"}])
    rt = runtime_for(config)
    _history(rt.store, FEED_ENTRIES - 5, pause_every=5)
    out = tmp_path / "incremental"
    build_report(rt.store, rt.config, out)
    quiet_page = out / "pages" / "quiet-page.html"
    quiet_stamp = quiet_page.stat().st_mtime_ns
    # Change after change, rebuilt after each (as the daemon does), across the first archive
    # boundaries of the feeds and of the page's history, with new companies and jurisdictions.
    n = FEED_ENTRIES
    while len(rt.store.snapshots("busy-page")) <= PAGE_ROWS + 2:
        n += 1
        extra = [EventDraft("pause_started", "HK", "We have paused requests from Hong Kong.", "stated", "t")] \
            if n % 7 == 0 else []
        record(rt.store, "busy-page", "Busy Co", _text(n), T0 + timedelta(days=10, hours=n), extra)
        if n == FEED_ENTRIES + 3:
            record(rt.store, "new-page", "Brand New Inc.", _text(n), T0 + timedelta(days=10, hours=n))
            record(rt.store, "new-page", "Brand New Inc.", _text(n + 1), T0 + timedelta(days=10, hours=n))
        build_report(rt.store, rt.config, out)
    assert quiet_page.stat().st_mtime_ns == quiet_stamp  # untouched by changes of other pages
    assert (out / "feeds" / "archive" / "all" / "2.xml").is_file()
    assert (out / "pages" / "busy-page" / "snapshots-1.html").is_file()
    assert (out / "feeds" / "company" / "brand-new-inc.xml").is_file()

    full = tmp_path / "full"
    result = run_cli("report", "--out", str(full), "--full", "--config", str(config))
    assert result.returncode == 0, result.stderr
    incremental, fresh = _tree(out), _tree(full)
    assert set(incremental) == set(fresh)
    assert [name for name in fresh if incremental[name] != fresh[name]] == []
    assert filecmp.cmp(out / STATE_FILE, full / STATE_FILE, shallow=False)


def test_a_late_commit_under_an_older_id_rebuilds_everything(
        write_config: Callable[..., Path], runtime_for: Callable[[Path], Any], tmp_path: Path) -> None:
    rt = runtime_for(write_config([{"id": "busy-page", "company": "Busy Co", "url": "http://127.0.0.1:9/b"}]))
    _history(rt.store, 5, pause_every=100)
    latest = max(e.id or 0 for e in rt.store.events())
    # Another writer's id, handed out before ours but committed after our build (PostgreSQL).
    with rt.store.engine.begin() as conn:
        conn.execute(Event.__table__.insert().values(  # type: ignore[attr-defined]
            id=latest + 2, page_id="busy-page", company="Busy Co", url="https://b.example", kind="page_gone",
            quote="gone", detected_at=T0 + timedelta(days=2)))
    out = tmp_path / "site"
    build_report(rt.store, rt.config, out)
    with rt.store.engine.begin() as conn:
        conn.execute(Event.__table__.insert().values(  # type: ignore[attr-defined]
            id=latest + 1, page_id="busy-page", company="Busy Co", url="https://b.example", kind="page_restored",
            quote="back", detected_at=T0 + timedelta(days=3)))
    build_report(rt.store, rt.config, out)
    full = tmp_path / "full"
    build_report(rt.store, rt.config, full, full=True)
    assert _tree(out) == _tree(full)
    assert "back" in (out / "pages" / "busy-page.html").read_text()


def test_the_daemon_keeps_the_report_and_feeds_up_to_date(server: PageServer, write_config: Callable[..., Path],
                                                          tmp_path: Path) -> None:
    """`run` with [report] out: each change rebuilds the site, and a followed PDF is a page too."""
    from tests.docs import make_pdf
    from tests.test_daemon import _start, _stop
    from tests.test_documents import _page, _report_link

    out = tmp_path / "site"
    server.set("/r.pdf", make_pdf(["Government requests", "We review every request."]),
               content_type="application/pdf")
    server.set("/t", _page("Our report", _report_link("/r.pdf", "Report H1 2026")))
    config = write_config([{"id": "acme-transparency", "company": "Acme", "url": server.url("/t"),
                            "interval": "2s", "links": "documents", "follow": True}], report={"out": str(out)})
    proc = _start(config)
    try:
        assert wait_for(lambda: (out / "index.html").is_file() or server.hits.get("/r.pdf", 0) >= 1, 30)
        server.set("/t", _page("Our report", _report_link("/r.pdf", "Report H1 2026"),
                               _report_link("/r2.pdf", "Report H2 2026")))
        assert wait_for(lambda: (out / "changes" / "1.html").is_file(), 30), "no report after the first change"
        first_change = (out / "changes" / "1.html").stat().st_mtime_ns
        server.set("/r.pdf", make_pdf(["Government requests", "We review every request.", HK_PAUSE]),
                   content_type="application/pdf")
        assert wait_for(lambda: (out / "feeds" / "jurisdiction" / "HK.xml").is_file(), 30), "no HK feed"
    finally:
        output = _stop(proc)
    assert proc.returncode == 0 and "Traceback" not in output, output
    assert (out / "changes" / "1.html").stat().st_mtime_ns == first_change  # written once
    for path in all_feeds(out):
        check_atom(path, out)
    [hk] = feedparser.parse((out / "feeds" / "jurisdiction" / "HK.xml").read_bytes()).entries
    assert hk.title == "Acme paused government data requests from Hong Kong (HK)"
    assert "pause_started acme-transparency.doc-" in hk.content[0].value  # found in the followed PDF
    assert (out / "feeds" / "jurisdiction" / hk.link).resolve().is_file()
    index = (out / "index.html").read_text()
    assert "document linked from" in index and "Report H2 2026" in (out / "changes" / "1.html").read_text()
