"""The static report and Atom feeds, built from a real pipeline run; opened in headless Chromium."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest

from monitor.alerts import title_for
from monitor.check import check_page
from monitor.pageserver import PageServer
from monitor.report import build_report
from tests.conftest import run_cli
from tests.pg import db_url  # noqa: F401  (fixture: SQLite and PostgreSQL)

CHROMIUM = "/usr/bin/chromium"
HK_PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
RU_PAUSE = "We have suspended processing of data requests from Russian authorities."
HOSTILE = "Example: <script>document.title='pwned'</script> and <img src=x onerror=alert(1)> stay text."
FILLER = "".join(f"<p>Section {n}: how we review requests, notify users and publish numbers.</p>" for n in range(8))


def _page(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>t</title></head><body><main><h1>Government requests</h1>{FILLER}{body}"
            "</main></body></html>")


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def scenario(server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
             report_dir: Path | None = None) -> tuple[Path, Any]:
    """Zoom pauses Hong Kong (and its page shows markup as text); Microsoft pauses Russia, then lifts."""
    pages = [
        {"id": "zoom-government-requests", "company": "Zoom", "url": server.url("/zoom")},
        {"id": "microsoft-law-enforcement-report", "company": "Microsoft", "url": server.url("/ms")},
        {"id": "acme-guidelines", "company": "Acme", "url": server.url("/acme")},
    ]
    config = write_config(pages, report={"out": str(report_dir)} if report_dir else None)
    rt = runtime_for(config)
    zoom, ms, acme = (rt.config.page(p["id"]) for p in pages)
    steps = [
        ("/zoom", zoom, _page("We review every request for legal validity.")),
        ("/ms", ms, _page("We respond to lawful requests.")),
        ("/acme", acme, _page("Acme answers requests.")),
        ("/zoom", zoom, _page("We review every single request for legal validity.", HK_PAUSE, _escape(HOSTILE))),
        ("/ms", ms, _page("We respond to lawful requests.", RU_PAUSE)),
        ("/ms", ms, _page("We respond to lawful requests.", "Numbers are published twice a year.")),
    ]
    for path, page, body in steps:
        server.set(path, body)
        assert check_page(rt, page).status in ("baseline", "changed")
    kinds = [(e.company, e.kind, e.jurisdiction) for e in rt.store.events() if e.kind != "changed"]
    assert kinds == [("Zoom", "pause_started", "HK"), ("Microsoft", "pause_started", "RU"),
                     ("Microsoft", "pause_lifted", "RU")]
    return config, rt


def _cell(doc: Any, company: str, code: str) -> Any:
    [cell] = doc.xpath(f'//table[@id="status-board"]//td[@data-company="{company}"][@data-jurisdiction="{code}"]')
    return cell


def test_report_site_and_feed(server: PageServer, write_config: Callable[..., Path],
                              runtime_for: Callable[[Path], Any], tmp_path: Path) -> None:
    config, rt = scenario(server, write_config, runtime_for)
    out = tmp_path / "site"
    result = run_cli("report", "--out", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report written to {out / 'index.html'}"

    index = lxml.html.parse(str(out / "index.html")).getroot()
    zoom_hk = _cell(index, "Zoom", "HK")
    assert zoom_hk.get("data-state") == "paused" and "paused" in zoom_hk.text_content()
    assert "since" in zoom_hk.text_content()
    # the pause statement is gone from the page: it no longer says (the removal is the evidence)
    ms_ru = _cell(index, "Microsoft", "RU")
    assert ms_ru.get("data-state") == "unspecified" and "statement removed" in ms_ru.text_content()
    assert _cell(index, "Microsoft", "HK").get("data-state") == "none"
    assert _cell(index, "Acme", "RU").get("data-state") == "none"
    headers = [th.text_content() for th in index.xpath('//table[@id="status-board"]//th[@class="jur"]')]
    assert headers == ["Hong Kong (HK)", "Russia (RU)"]

    # The board links to the evidence: the change whose diff adds the pause statement.
    [href] = zoom_hk.xpath(".//a/@href")
    change = lxml.html.parse(str(out / href)).getroot()
    assert HK_PAUSE in " ".join(ins.text_content() for ins in change.xpath('//table[@id="diff"]//ins'))
    assert "pause started" in change.text_content() and "Hong Kong (HK)" in change.text_content()
    words = [ins.text_content() for ins in change.xpath('//tr[@class="changed"]//ins')]
    assert "single" in " ".join(words)  # word-level detail inside a changed line

    # Page text is text: the hostile paragraph is shown, never run.
    for html_file in out.rglob("*.html"):
        doc = lxml.html.parse(str(html_file)).getroot()
        assert doc.xpath("//script") == [] and doc.xpath("//img") == [], html_file
        assert not doc.xpath("//@onerror")
    assert HOSTILE in change.text_content()
    assert "&lt;script&gt;document.title" in (out / href).read_text()

    events = rt.store.events()
    latest = index.xpath('//table[@id="latest-events"]//tr[@data-event-id]')
    assert len(latest) == len(events)
    history = lxml.html.parse(str(out / "pages" / "microsoft-law-enforcement-report.html")).getroot()
    assert len(history.xpath("//table[@class='history']/tbody/tr")) == 3
    assert len(list((out / "changes").glob("*.html"))) == len(rt.store.changes()) == 3

    feed = feedparser.parse((out / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert len(feed.entries) == len(events) == 6
    assert [entry.title for entry in feed.entries] == [title_for(e) for e in reversed(events)]
    assert len({entry.id for entry in feed.entries}) == len(events)
    for entry in feed.entries:
        assert (out / entry.link).is_file()
    hk = next(entry for entry in feed.entries if "Hong Kong" in entry.title)
    assert hk.summary == HK_PAUSE and "pause_started zoom-government-requests HK" in hk.content[0].value
    assert {tag.term for tag in hk.tags} == {"pause_started", "HK"}

    # A rebuild rewrites the index but not the (immutable) change pages.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "changes").glob("*.html")}
    index_before = (out / "index.html").stat().st_mtime_ns
    build_report(rt.store, rt.config, out)
    assert {p: p.stat().st_mtime_ns for p in (out / "changes").glob("*.html")} == stamps
    assert (out / "index.html").stat().st_mtime_ns != index_before
    assert not list(out.rglob(".*.tmp"))


def test_report_of_an_empty_database(write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
                                     tmp_path: Path) -> None:
    rt = runtime_for(write_config([{"id": "a", "company": "A", "url": "http://127.0.0.1:9/a"}]))
    index = build_report(rt.store, rt.config, tmp_path / "empty")
    doc = lxml.html.parse(str(index)).getroot()
    assert "No pause statements" in doc.get_element_by_id("status-board").text_content()
    feed = feedparser.parse((tmp_path / "empty" / "feed.xml").read_bytes())
    assert not feed.bozo and feed.entries == []


def test_report_without_out_is_a_usage_error(write_config: Callable[..., Path]) -> None:
    result = run_cli("report", "--config", str(write_config([])))
    assert result.returncode == 2 and "--out" in result.stderr


def test_report_into_a_place_it_cannot_write_is_one_line(write_config: Callable[..., Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("report", "--out", str(blocker / "site"), "--config", str(write_config([])))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"policy-monitor: report: cannot write {blocker / 'site'}: Not a directory"


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{CHROMIUM} is missing on CI: install Debian's chromium (see .ci/run)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it")


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_in_headless_chromium(server: PageServer, write_config: Callable[..., Path],
                                     runtime_for: Callable[[Path], Any], tmp_path: Path) -> None:
    binary = _chromium()
    _, rt = scenario(server, write_config, runtime_for)
    out = tmp_path / "site"
    index = build_report(rt.store, rt.config, out)
    profile = tmp_path / "chromium-profile"

    dom = _run_chromium(binary, profile, "--dump-dom", index.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    doc = lxml.html.fromstring(dom.stdout)
    assert doc.findtext(".//title") == "policy-monitor: status"
    states = {(td.get("data-company"), td.get("data-jurisdiction")): td.get("data-state")
              for td in doc.xpath('//table[@id="status-board"]//td[@data-state]')}
    assert states == {("Zoom", "HK"): "paused", ("Zoom", "RU"): "none", ("Microsoft", "HK"): "none",
                      ("Microsoft", "RU"): "unspecified", ("Acme", "HK"): "none", ("Acme", "RU"): "none"}
    # Feed readers find every feed from the index: <link rel="alternate"> in the rendered head.
    links = {link.get("href"): link.get("title") for link in
             doc.xpath('//head/link[@rel="alternate"][@type="application/atom+xml"]')}
    assert set(links) == {"feed.xml", "feeds/pauses.xml", "feeds/company/zoom.xml", "feeds/company/microsoft.xml",
                          "feeds/company/acme.xml", "feeds/jurisdiction/HK.xml", "feeds/jurisdiction/RU.xml"}
    assert links["feeds/jurisdiction/HK.xml"] == "policy-monitor: Hong Kong (HK) events"
    assert all((out / href).is_file() for href in links)
    assert {a.get("href") for a in doc.xpath('//ul[@class="feeds"]//a')} == set(links)

    [zoom_change] = [e.change_id for e in rt.store.events() if e.kind == "pause_started" and e.jurisdiction == "HK"]
    change_file = out / "changes" / f"{zoom_change}.html"
    dom = _run_chromium(binary, profile, "--dump-dom", change_file.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    doc = lxml.html.fromstring(dom.stdout)
    inserted = [ins.text_content() for ins in doc.xpath('//table[@id="diff"]//ins')]
    assert HK_PAUSE in inserted and "single" in " ".join(inserted)
    assert doc.xpath('//table[@id="diff"]//del') == [] or all(d.text_content() for d in doc.xpath("//del"))
    # The hostile text was not executed: the title is ours and the DOM has no script or img.
    assert doc.findtext(".//title").startswith("Zoom: change")
    assert doc.xpath("//script") == [] and doc.xpath("//img") == []
    assert HOSTILE in doc.text_content()

    for name, target in (("index", index), ("change", change_file)):
        shot = tmp_path / f"{name}.png"
        result = _run_chromium(binary, profile, f"--screenshot={shot}", "--window-size=1280,900", target.as_uri())
        assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
        assert _png_size(shot) == (1280, 900)
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    keep = os.environ.get("REPORT_SCREENSHOTS")
    if keep:  # for a person to look at
        for shot in tmp_path.glob("*.png"):
            shutil.copy(shot, Path(keep) / shot.name)


def test_snapshot_lists_page_in_time_order_over_archived_and_live_parts(db_url: str) -> None:  # noqa: F811
    """A page's snapshots, archived ones recorded in two imports between live checks: every way
    the report reads them (the newest N, parts by offset, parts after the last row of the part
    before) gives one order, archived first, each part by id."""
    from datetime import UTC, datetime

    from monitor.models import Page, Snapshot
    from monitor.report import _chunks
    from monitor.store import Store

    store = Store(db_url)
    try:
        origins = ["fetch"] * 3 + ["archive"] * 4 + ["fetch"] * 2 + ["archive"] * 3 + ["fetch"]
        with store.engine.begin() as conn:
            conn.execute(Page.__table__.insert().values(id="p", company="A", url="https://example.org/",
                                                        failures=0, gone=False))
            for n, origin in enumerate(origins):
                conn.execute(Snapshot.__table__.insert().values(
                    page_id="p", created_at=datetime(2026, 1, 1, tzinfo=UTC), text_hash=f"{n:064x}",
                    text="line\n" * n, origin=origin))
        ids = list(range(1, len(origins) + 1))
        expected = [i for i in ids if origins[i - 1] == "archive"] + [i for i in ids if origins[i - 1] != "archive"]
        for newest in (1, 3, 6, 7, 13, 20):
            assert [r.id for r in store.snapshot_rows("p", newest=newest)] == expected[::-1][:newest]
        for size in (1, 2, 3, 4, 5, 7, 13):
            for first in range(len(ids) // size + 1):
                parts = list(_chunks(lambda **kw: store.snapshot_rows("p", **kw), first, len(ids) // size + 1, size))
                assert [r.id for _, rows in parts for r in rows] == expected[first * size:], (size, first)
        assert [r.lines for r in store.snapshot_rows("p", newest=1)] == [len(origins)]  # line counts still read
    finally:
        store.close()
