"""`policy-monitor report --out DIR`: a static site people can read, and an Atom feed.

index.html    status board (company x jurisdiction, from pause_started / pause_lifted events),
              the latest events and the pages
pages/ID.html one page's snapshots, changes and events
changes/N.html one change: its events and a side-by-side diff with word-level highlighting
feed.xml      Atom, one entry per event, newest first
events.json, events.csv  every event, the fields of `events --json` (monitor.export)

Every piece of page text goes through Jinja2's autoescaping (the feed through ElementTree),
so a page that contains `<script>` shows that text and never runs it. Files are written to a
temporary name and renamed, so a web server never serves half a page. Change pages are
immutable; one already written by the same templates is not rendered again.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitor.config import Config
from monitor.diff import DELETE, INSERT, diff_lines, rows, split_lines
from monitor.export import write_event_files
from monitor.models import Change, Event, utcnow
from monitor.status import BoardRow, board, refresh
from monitor.store import Store

ASSETS = Path(__file__).with_name("report_assets")
ATOM = "http://www.w3.org/2005/Atom"
LATEST_EVENTS = 100
PAUSE_KINDS = ("pause_started", "pause_lifted")
KIND_LABELS = {
    "changed": "changed",
    "pause_started": "pause started",
    "pause_lifted": "pause lifted",
    "page_gone": "page gone",
    "page_restored": "page restored",
}


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(ASSETS), autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["ts"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"
    env.filters["iso"] = lambda value: value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""
    env.filters["day"] = lambda value: value.strftime("%Y-%m-%d") if value else "–"
    env.globals["kind_label"] = lambda kind: KIND_LABELS.get(kind, kind)
    env.globals["jurisdiction_name"] = _jurisdiction_name
    return env


def _jurisdiction_name(code: str | None) -> str:
    if not code or code == UNSPECIFIED:
        return "unspecified" if code else ""
    from monitor.classify import jurisdiction_name

    return jurisdiction_name(code)


def _signature() -> str:
    """Changes when the templates (or this module) change: stale change pages are re-rendered."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(ASSETS.glob("*.j2")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- data for the templates ----------------------------------------------------------------------


@dataclass
class Cell:
    """What one company's pages say now about one jurisdiction (their latest snapshots decide)."""

    state: str  # 'paused' | 'lifted' | 'unspecified'
    since: datetime
    quote: str
    href: str
    note: str  # "since 2020-07-06", "at first check (2026-11-28)", "since 2020-07-06 (archive)"


@dataclass
class Board:
    companies: list[str]
    jurisdictions: list[str]  # ISO codes, then "unspecified" for pauses that name none
    cells: dict[tuple[str, str], Cell]


UNSPECIFIED = "unspecified"
_STATE_ORDER = {"paused": 0, "lifted": 1, "unspecified": 2}


def event_href(event: Event, prefix: str = "") -> str:
    return f"{prefix}changes/{event.change_id}.html" if event.change_id else f"{prefix}pages/{event.page_id}.html"


def status_board(rows: list[BoardRow], companies: list[str], change_of_event: dict[int, int]) -> Board:
    """Company x jurisdiction from each page's latest snapshot. When a company's pages disagree, a page
    that says 'paused' wins over one that says 'lifted', which wins over one that no longer says."""
    cells: dict[tuple[str, str], Cell] = {}
    for row in rows:
        key = (row.company, row.jurisdiction or UNSPECIFIED)
        change = change_of_event.get(row.event_id or 0)
        href = f"changes/{change}.html" if change else f"pages/{row.page}.html"
        cell = Cell(row.state, row.since, row.quote, href, row.since_text())
        current = cells.get(key)
        if current is None or (_STATE_ORDER[cell.state], cell.since) < (_STATE_ORDER[current.state], current.since):
            cells[key] = cell
    names = list(dict.fromkeys([*companies, *(company for company, _ in cells)]))
    codes = sorted({code for _, code in cells if code != UNSPECIFIED})
    if any(code == UNSPECIFIED for _, code in cells):
        codes.append(UNSPECIFIED)
    return Board(names, codes, cells)


@dataclass
class DiffRow:
    kind: str
    old_no: int | None
    new_no: int | None
    old: list[tuple[str, str]]  # (css class or '', text) segments
    new: list[tuple[str, str]]
    skipped: int = 0


def diff_rows(old_text: str, new_text: str, context: int = 3) -> list[DiffRow]:
    out: list[DiffRow] = []
    all_rows = list(rows(diff_lines(old_text, new_text), context))
    old_lines = len(split_lines(old_text))
    for index, row in enumerate(all_rows):
        if row.kind == "skip":
            # What follows a skip is the equal context after it, or nothing (end of text).
            following = all_rows[index + 1] if index + 1 < len(all_rows) else None
            end = following.old_no if following and following.old_no is not None else old_lines + 1
            out.append(DiffRow("skip", row.old_no, row.new_no, [], [], skipped=max(0, end - (row.old_no or 0))))
        elif row.kind == "changed":
            words = row.words()
            old = [("del" if tag == DELETE else "", text) for tag, text in words if tag != INSERT]
            new = [("ins" if tag == INSERT else "", text) for tag, text in words if tag != DELETE]
            out.append(DiffRow("changed", row.old_no, row.new_no, old, new))
        elif row.kind == "added":
            out.append(DiffRow("added", None, row.new_no, [], [("ins", row.new or "")]))
        elif row.kind == "removed":
            out.append(DiffRow("removed", row.old_no, None, [("del", row.old or "")], []))
        else:
            out.append(DiffRow("equal", row.old_no, row.new_no, [("", row.old or "")], [("", row.new or "")]))
    return out


# -- the feed ------------------------------------------------------------------------------------


def _atom(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


# Characters XML 1.0 does not allow at all, not even as references: one of them in one quote
# would make the whole feed unreadable to every feed reader, for good.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str | None) -> str | None:
    """Text an XML document can hold: what XML forbids is shown as U+FFFD."""
    return _NOT_XML.sub("\ufffd", text) if text else text


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_feed(events: list[Event], namespace: uuid.UUID, updated: datetime) -> bytes:
    from monitor.alerts import build_message

    ET.register_namespace("", ATOM)
    feed = ET.Element(_atom("feed"))
    ET.SubElement(feed, _atom("id")).text = namespace.urn
    ET.SubElement(feed, _atom("title")).text = "policy-monitor: government data request policies"
    ET.SubElement(feed, _atom("subtitle")).text = "Changes and typed events on watched transparency pages"
    latest = max((event.detected_at for event in events), default=updated)
    ET.SubElement(feed, _atom("updated")).text = _iso(latest)
    ET.SubElement(ET.SubElement(feed, _atom("author")), _atom("name")).text = "policy-monitor"
    ET.SubElement(feed, _atom("link"), rel="self", href="feed.xml", type="application/atom+xml")
    ET.SubElement(feed, _atom("link"), rel="alternate", href="index.html", type="text/html")
    ET.SubElement(feed, _atom("generator")).text = "policy-monitor"
    for event in reversed(events):
        message = build_message(event, None, None)
        entry = ET.SubElement(feed, _atom("entry"))
        ET.SubElement(entry, _atom("id")).text = uuid.uuid5(namespace, f"event/{event.id}").urn
        ET.SubElement(entry, _atom("title")).text = _xml(message.title)
        ET.SubElement(entry, _atom("updated")).text = _iso(event.detected_at)
        ET.SubElement(entry, _atom("published")).text = _iso(event.detected_at)
        ET.SubElement(entry, _atom("link"), rel="alternate", href=event_href(event), type="text/html")
        ET.SubElement(entry, _atom("link"), rel="related", href=_xml(event.url))
        if event.source:  # an archived event: the capture it was found in
            ET.SubElement(entry, _atom("link"), rel="via", href=_xml(event.source))
        ET.SubElement(entry, _atom("category"), term=event.kind, label=KIND_LABELS.get(event.kind, event.kind))
        if event.jurisdiction:
            ET.SubElement(entry, _atom("category"), term=event.jurisdiction, scheme="urn:iso:std:iso:3166:-1",
                          label=_jurisdiction_name(event.jurisdiction))
        ET.SubElement(entry, _atom("summary"), type="text").text = _xml(event.quote or message.title)
        ET.SubElement(entry, _atom("content"), type="text").text = _xml(message.body)
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


# -- the site ------------------------------------------------------------------------------------


def build_report(store: Store, config: Config, out: Path) -> Path:
    """Write (or refresh) the site under `out`; returns the path of index.html."""
    out = Path(out)
    env = _env()
    signature = _signature()
    now = utcnow()
    events = store.events()
    changes = store.changes()
    page_rows = {row.id: row for row in store.pages()}
    configured = {page.id: page for page in config.pages}
    page_ids = list(dict.fromkeys([*configured, *page_rows]))
    by_change: dict[int, list[Event]] = defaultdict(list)
    by_page: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.change_id is not None:
            by_change[event.change_id].append(event)
        by_page[event.page_id].append(event)
    changes_by_page: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        changes_by_page[change.page_id].append(change)

    def company_of(page_id: str) -> str:
        page = configured.get(page_id)
        return page.company if page else (page_rows[page_id].company if page_id in page_rows else "")

    def url_of(page_id: str) -> str:
        page = configured.get(page_id)
        return page.url if page else (page_rows[page_id].url if page_id in page_rows else "")

    pages = [
        {"id": pid, "company": company_of(pid), "url": url_of(pid), "row": page_rows.get(pid),
         "changes": len(changes_by_page[pid]), "events": len(by_page[pid]),
         "pauses": sum(1 for e in by_page[pid] if e.kind in PAUSE_KINDS),
         "configured": pid in configured}
        for pid in page_ids
    ]
    refresh(store, {page.id: page.company for page in config.pages})
    change_of_event = {event.id: event.change_id for event in events if event.id and event.change_id}
    status = status_board(board(store), list(dict.fromkeys(page.company for page in config.pages)), change_of_event)
    common = {"generated": now, "signature": signature}

    for change in changes:
        path = out / "changes" / f"{change.id}.html"
        if _current(path, signature):
            continue
        new = store.snapshot(change.snapshot_id)
        old = store.snapshot(change.previous_snapshot_id) if change.previous_snapshot_id else None
        html = env.get_template("change.html.j2").render(
            prefix="../", change=change, company=company_of(change.page_id), url=url_of(change.page_id),
            events=by_change.get(change.id or 0, []), old=old, new=new,
            rows=diff_rows(old.text if old else "", new.text if new else ""), **common,
        )
        _write(path, html)

    for page in pages:
        pid = page["id"]
        snaps = store.snapshots(pid)
        change_of = {c.snapshot_id: c for c in changes_by_page[pid]}
        _write(out / "pages" / f"{pid}.html", env.get_template("page.html.j2").render(
            prefix="../", page=page, snapshots=list(reversed(snaps)), change_of=change_of,
            events=list(reversed(by_page[pid])), **common,
        ))

    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "policy-monitor:" + hashlib.sha256(store.url.encode()).hexdigest())
    _write_bytes(out / "feed.xml", build_feed(events, namespace, now))
    write_event_files(store, out)  # events.json, events.csv: the record for spreadsheets and notebooks
    # The index goes last: whatever it links to is already in place.
    latest = list(reversed(events))[:LATEST_EVENTS]
    _write(out / "index.html", env.get_template("index.html.j2").render(
        prefix="", board=status, latest=latest, total_events=len(events), pages=pages,
        href=event_href, **common,
    ))
    return out / "index.html"


def _write_bytes(path: Path, data: bytes) -> None:
    _write(path, data.decode("utf-8"))


def _current(path: Path, signature: str) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    return f'content="policy-monitor report {signature}"'.encode() in head
