"""`policy-monitor report --out DIR`: a static site people can read, and Atom feeds.

index.html                status board (company x jurisdiction), the latest events, the pages, the feeds
pages/ID.html             one page: its latest PAGE_ROWS events and snapshots; the ones before in
                          pages/ID/events-N.html and pages/ID/snapshots-N.html, PAGE_ROWS each
changes/N.html            one change: its events and a side-by-side diff with word-level highlighting
feed.xml, feeds/...       Atom feeds, capped, with RFC 5005 archives (monitor.feeds)
events.json, events.csv   every event, the fields of `events --json` (monitor.export)

A rebuild touches only what changed. `.report-state.json` records what the site was built
from: the highest id and the count of events, snapshots and changes, the templates'
signature and the configured pages. The next build reads only the rows after those ids and
rewrites what they touch: their change pages, the pages and feeds of their events, archive
documents that just filled up, and the index. Whatever it cannot account for (no state, other
templates or config, another database, a row committed late under an older id) makes it
rebuild everything. Either way the files are the same bytes: nothing in them depends on when
or how they were built (no wall-clock time; lists are ordered by id). Archive documents and
change pages are complete when written and never change.

Every piece of page text goes through Jinja2's autoescaping (the feeds through ElementTree),
so a page that contains `<script>` shows that text and never runs it. Files are written to a
temporary name and renamed, so a web server never serves half a page; one build at a time
writes a directory (a lock file), and the index goes last.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitor.config import Config
from monitor.diff import DELETE, INSERT, diff_lines, rows, split_lines
from monitor.documents import parent_of
from monitor.export import write_event_files
from monitor.feeds import (
    FEED_ENTRIES,
    Feed,
    all_events_feed,
    company_feed,
    company_slug,
    event_href,
    feed_document,
    jurisdiction_code,
    jurisdiction_feed,
    pauses_feed,
)
from monitor.models import Change, Event
from monitor.render import UNSPECIFIED, day, iso_time, jurisdiction_name, kind_label
from monitor.status import BoardRow, board, refresh
from monitor.store import EventQuery, Store
from monitor.vocabulary import PAUSE_KINDS

ASSETS = Path(__file__).with_name("report_assets")
LATEST_EVENTS = 100
PAGE_ROWS = 100  # events and snapshots on a page's report page, and in each of its archive pages
STATE_FILE = ".report-state.json"
LOCK_FILE = ".report.lock"
_STATE_FORMAT = 1


@functools.cache
def _env() -> Environment:
    """One environment a process: its templates are compiled once, not at every rebuild."""
    env = Environment(loader=FileSystemLoader(ASSETS), autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False)
    env.filters["ts"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"
    env.filters["iso"] = lambda value: iso_time(value) if value else ""
    env.filters["day"] = lambda value: day(value) if value else "–"
    env.globals["kind_label"] = kind_label
    env.globals["jurisdiction_name"] = _jurisdiction_name
    return env


def _jurisdiction_name(code: str | None) -> str:
    return UNSPECIFIED if code == UNSPECIFIED else jurisdiction_name(code)


@functools.cache
def _signature() -> str:
    """Changes when the templates (or the modules that fill them) change: everything is rebuilt.
    Read once a process, like the templates themselves (the environment does not reload them)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(__file__).with_name("feeds.py").read_bytes())
    for path in sorted(ASSETS.glob("*.j2")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _write(path: Path, text: str | bytes) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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


_STATE_ORDER = {"paused": 0, "lifted": 1, "unspecified": 2}


def status_board(rows: list[BoardRow], companies: list[str]) -> Board:
    """Company x jurisdiction from each page's latest snapshot. When a company's pages disagree, a page
    that says 'paused' wins over one that says 'lifted', which wins over one that no longer says."""
    cells: dict[tuple[str, str], Cell] = {}
    for row in rows:
        key = (row.company, row.jurisdiction or UNSPECIFIED)
        href = f"changes/{row.change_id}.html" if row.change_id else f"pages/{row.page}.html"
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


# -- the site ------------------------------------------------------------------------------------


def build_report(store: Store, config: Config, out: Path, *, full: bool = False) -> Path:
    """Write (or bring up to date) the site under `out`; returns the path of index.html.

    `full`: render every file again, change pages included (otherwise a change page already
    written by the same templates is kept, even when everything else is rebuilt).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _build_lock(out):
        _Site(store, config, out).build(full)
    return out / "index.html"


@contextlib.contextmanager
def _build_lock(out: Path) -> Iterator[None]:
    """One build at a time writes a directory (two daemons, or a daemon and `report`)."""
    import fcntl

    with open(out / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _Delta:
    """What the database holds beyond what the site was built from."""

    events: list[Event]
    changes: list[Change]
    snapshots: dict[str, int]  # page id -> how many new snapshots
    # Pages whose earlier list parts changed: new archived snapshots (they go before the live
    # ones), or a change to a snapshot listed before (import-archive links its captures to the
    # first live snapshot after recording them).
    rewrite: set[str]


@dataclass
class _Tally:
    """What the index shows of the whole history, kept in the state and brought up to date
    from each delta, so a rebuild need not read the history: which company and jurisdiction
    feeds exist (every configured company, and every company and jurisdiction with events),
    and each page's number of changes and of pause events."""

    companies: dict[str, list[str]]  # slug -> the company names (spellings) it gathers, sorted
    jurisdictions: list[str]
    counts: dict[str, list[int]]  # page id -> [changes, pause events]

    def count(self, page_id: str, changes: int, pauses: int) -> None:
        counts = self.counts.setdefault(page_id, [0, 0])
        counts[0] += changes
        counts[1] += pauses

    def add_company(self, company: str) -> None:
        names = self.companies.setdefault(company_slug(company), [])
        if company not in names:
            names.append(company)
            names.sort()

    def add_jurisdiction(self, jurisdiction: str | None) -> None:
        code = jurisdiction_code(jurisdiction)
        if code and code not in self.jurisdictions:
            self.jurisdictions.append(code)
            self.jurisdictions.sort()


class _Site:
    def __init__(self, store: Store, config: Config, out: Path):
        self.store, self.config, self.out = store, config, out
        self.env = _env()
        self.signature = _signature()
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL,
                                    "policy-monitor:" + hashlib.sha256(store.url.encode()).hexdigest())
        self.rows = {row.id: row for row in store.pages()}
        self.configured = {page.id: page for page in config.pages}
        self.page_ids = list(dict.fromkeys([*self.configured, *self.rows]))
        self.follows = [page.id for page in config.pages if page.follows]
        # A company's feed is named after the first configured spelling of its slug.
        self.labels: dict[str, str] = {}
        for page in config.pages:
            self.labels.setdefault(company_slug(page.company), page.company)
        self.config_key = hashlib.sha256(json.dumps(
            [[page.id, page.company, page.url] for page in config.pages]).encode()).hexdigest()
        self.database_key = hashlib.sha256(store.url.encode()).hexdigest()

    # -- what to rebuild ---------------------------------------------------------------------

    def build(self, full: bool) -> None:
        state = self._read_state()
        marks = self.store.report_marks()
        delta = None if full else self._delta(state, marks)
        if delta is None or state is None:
            tally = self._build_everything(rerender=full)
        else:
            tally = self._build_delta(delta, state)
        write_event_files(self.store, self.out)  # events.json, events.csv: for spreadsheets and notebooks
        self._write_index(tally, marks["events"][1])  # last: whatever it links to is in place
        self._write_state(marks, tally)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads((self.out / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _write_state(self, marks: dict[str, tuple[int, int]], tally: _Tally) -> None:
        state = {"format": _STATE_FORMAT, "signature": self.signature, "config": self.config_key,
                 "database": self.database_key, "marks": {name: list(mark) for name, mark in marks.items()},
                 "pages": self.page_ids, "companies": tally.companies, "jurisdictions": tally.jurisdictions,
                 "counts": tally.counts}
        _write(self.out / STATE_FILE, json.dumps(state, sort_keys=True, indent=1) + "\n")

    def _delta(self, state: dict[str, Any] | None, marks: dict[str, tuple[int, int]]) -> _Delta | None:
        """The rows after those the site was built from; None when the state cannot say."""
        if state is None:
            return None
        try:
            if (state["format"], state["signature"], state["config"], state["database"]) != (
                    _STATE_FORMAT, self.signature, self.config_key, self.database_key):
                return None
            built = {name: (int(state["marks"][name][0]), int(state["marks"][name][1])) for name in marks}
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        changes = self.store.changes_after(built["changes"][0])
        snapshots, archived = self.store.snapshots_after(built["snapshots"][0])
        relinked = {change.page_id for change in changes if change.snapshot_id <= built["snapshots"][0]}
        delta = _Delta(self.store.events_after(built["events"][0]), changes, snapshots, archived | relinked)
        # Ids only grow and rows are never deleted, so more rows than the build's plus those
        # after its last id means a row committed late under an older id (PostgreSQL hands out
        # ids before commit), which the delta missed.
        news = {"events": len(delta.events), "changes": len(delta.changes), "snapshots": sum(delta.snapshots.values())}
        if any(marks[name][1] != built[name][1] + news[name] for name in built):
            return None
        return delta

    def _build_everything(self, rerender: bool) -> _Tally:
        by_change: dict[int, list[Event]] = defaultdict(list)
        for event in self.store.events_after(0):
            if event.change_id is not None:
                by_change[event.change_id].append(event)
        for change in self.store.changes():
            if rerender or not _current(self._change_path(change.id or 0), self.signature):
                self._write_change(change, by_change.get(change.id or 0, []))
        del by_change
        for page_id in self.page_ids:
            self._write_page(page_id, None)
        tally = _Tally({}, [], {page_id: list(pair) for page_id, pair in self.store.page_counts(PAUSE_KINDS).items()})
        for company in [*(page.company for page in self.config.pages), *self.store.event_values("company")]:
            tally.add_company(company)
        for code in self.store.event_values("jurisdiction"):
            tally.add_jurisdiction(code)
        for feed in self._feeds(tally):
            self._write_feed(feed, None)
        return tally

    def _build_delta(self, delta: _Delta, state: dict[str, Any]) -> _Tally:
        by_change: dict[int, list[Event]] = defaultdict(list)
        for event in delta.events:  # a change and its events are recorded together: all new
            if event.change_id is not None:
                by_change[event.change_id].append(event)
        for change in delta.changes:
            self._write_change(change, by_change.get(change.id or 0, []))

        new_events: dict[str, int] = defaultdict(int)
        for event in delta.events:
            new_events[event.page_id] += 1
        known = set(state.get("pages") or [])
        touched = {*new_events, *delta.snapshots, *(change.page_id for change in delta.changes)}
        for page_id in self.page_ids:
            if page_id not in known or page_id in delta.rewrite:
                self._write_page(page_id, None)
            elif page_id in touched:
                self._write_page(page_id, (new_events.get(page_id, 0), delta.snapshots.get(page_id, 0)))

        tally = _Tally({slug: list(names) for slug, names in (state.get("companies") or {}).items()},
                       list(state.get("jurisdictions") or []),
                       {page_id: list(pair) for page_id, pair in (state.get("counts") or {}).items()})
        for change in delta.changes:
            tally.count(change.page_id, 1, 0)
        added: dict[str, int] = defaultdict(int)  # feed key -> new entries
        for event in delta.events:
            tally.add_company(event.company)
            tally.add_jurisdiction(event.jurisdiction)
            if event.kind in PAUSE_KINDS:
                tally.count(event.page_id, 0, 1)
            for key in self._feed_keys(event):
                added[key] += 1
        existing = self._state_feed_keys(state)
        for feed in self._feeds(tally):
            if feed.key in added:
                self._write_feed(feed, added[feed.key])
            elif feed.key not in existing:
                self._write_feed(feed, None)
        return tally

    # -- feeds -------------------------------------------------------------------------------

    def _feeds(self, tally: _Tally) -> list[Feed]:
        out = [all_events_feed(), pauses_feed()]
        for slug, names in sorted(tally.companies.items()):
            out.append(company_feed(slug, names, self.labels.get(slug) or names[0]))
        out += [jurisdiction_feed(code, jurisdiction_name(code)) for code in tally.jurisdictions]
        return out

    @staticmethod
    def _feed_keys(event: Event) -> list[str]:
        """The feeds an event is an entry of (monitor.feeds)."""
        keys = ["all", f"company/{company_slug(event.company)}"]
        if event.kind in PAUSE_KINDS:
            keys.append("pauses")
        code = jurisdiction_code(event.jurisdiction)
        if code:
            keys.append(f"jurisdiction/{code}")
        return keys

    @staticmethod
    def _state_feed_keys(state: dict[str, Any]) -> set[str]:
        return {"all", "pauses", *(f"company/{slug}" for slug in state.get("companies") or {}),
                *(f"jurisdiction/{code}" for code in state.get("jurisdictions") or [])}

    def _write_feed(self, feed: Feed, added: int | None) -> None:
        """The feed's document, and its archive documents that are complete: all of them
        (`added` None), or those completed by its `added` latest entries."""
        count = self.store.count_events(feed.query)
        archives = count // FEED_ENTRIES
        first = 0 if added is None else max(count - added, 0) // FEED_ENTRIES
        fetch = functools.partial(self.store.event_slice, feed.query)
        for number, chunk in _chunks(fetch, first, archives, FEED_ENTRIES):
            _write(self.out / feed.archive_path(number),
                   feed_document(feed, chunk[::-1], self.namespace, archives=archives, archive=number))
        latest = self.store.event_slice(feed.query, newest=FEED_ENTRIES)
        _write(self.out / feed.path, feed_document(feed, latest, self.namespace, archives=archives))

    # -- pages -------------------------------------------------------------------------------

    def _page_info(self, page_id: str) -> dict[str, Any]:
        page, row = self.configured.get(page_id), self.rows.get(page_id)
        company = page.company if page else (row.company if row else "")
        return {"id": page_id, "company": company, "url": page.url if page else (row.url if row else ""),
                "row": row, "configured": page is not None, "parent": parent_of(page_id, self.follows),
                "feed": f"feeds/company/{company_slug(company)}.xml"}

    def _write_page(self, page_id: str, added: tuple[int, int] | None) -> None:
        """The page's report page, and its archive pages that are complete: all of them
        (`added` None), or those completed by (new events, new snapshots)."""
        info = self._page_info(page_id)
        feeds = [(info["feed"], f"{info['company']} events")]
        query = EventQuery(page_id=page_id)
        events_count = self.store.count_events(query)
        snapshots_count = self.store.count_snapshots(page_id)
        event_pages, snapshot_pages = events_count // PAGE_ROWS, snapshots_count // PAGE_ROWS
        new_events, new_snapshots = added if added is not None else (events_count, snapshots_count)
        template = self.env.get_template("page_archive.html.j2")
        parts = (("events", functools.partial(self.store.event_slice, query), events_count, new_events),
                 ("snapshots", functools.partial(self.store.snapshot_rows, page_id), snapshots_count, new_snapshots))
        for what, fetch, count, new in parts:
            for number, chunk in _chunks(fetch, max(count - new, 0) // PAGE_ROWS, count // PAGE_ROWS, PAGE_ROWS):
                _write(self.out / "pages" / page_id / f"{what}-{number}.html", template.render(
                    prefix="../../", page=info, what=what, number=number, rows=chunk[::-1],
                    signature=self.signature, feeds=feeds))
        _write(self.out / "pages" / f"{page_id}.html", self.env.get_template("page.html.j2").render(
            prefix="../", page=info, signature=self.signature, feeds=feeds,
            events=self.store.event_slice(query, newest=PAGE_ROWS), events_count=events_count,
            event_pages=event_pages, snapshots=self.store.snapshot_rows(page_id, newest=PAGE_ROWS),
            snapshots_count=snapshots_count, snapshot_pages=snapshot_pages,
        ))

    def _change_path(self, change_id: int) -> Path:
        return self.out / "changes" / f"{change_id}.html"

    def _write_change(self, change: Change, events: Sequence[Event]) -> None:
        info = self._page_info(change.page_id)
        new = self.store.snapshot(change.snapshot_id)
        old = self.store.snapshot(change.previous_snapshot_id) if change.previous_snapshot_id else None
        codes = sorted({code for code in (jurisdiction_code(e.jurisdiction) for e in events) if code})
        _write(self._change_path(change.id or 0), self.env.get_template("change.html.j2").render(
            prefix="../", change=change, company=info["company"], url=info["url"], events=events, old=old, new=new,
            rows=diff_rows(old.text if old else "", new.text if new else ""), signature=self.signature,
            feeds=[(info["feed"], f"{info['company']} events"),
                   *((f"feeds/jurisdiction/{code}.xml", f"{jurisdiction_name(code)} ({code}) events")
                     for code in codes)],
        ))

    # -- index -------------------------------------------------------------------------------

    def _write_index(self, tally: _Tally, total_events: int) -> None:
        pages = [{**self._page_info(pid), "changes": tally.counts.get(pid, (0, 0))[0],
                  "pauses": tally.counts.get(pid, (0, 0))[1]} for pid in self.page_ids]
        # What each page's latest snapshot says (recomputed first if the classifier's rules changed).
        refresh(self.store, {page.id: page.company for page in self.config.pages})
        status = status_board(board(self.store), list(dict.fromkeys(page.company for page in self.config.pages)))
        checked = [row.last_checked_at for row in self.rows.values() if row.last_checked_at]
        feed_list = self._feeds(tally)
        _write(self.out / "index.html", self.env.get_template("index.html.j2").render(
            prefix="", board=status, latest=self.store.latest_events(LATEST_EVENTS), total_events=total_events,
            pages=pages, href=event_href, signature=self.signature, last_check=max(checked, default=None),
            feed_list=feed_list, feeds=[(feed.path, feed.label) for feed in feed_list[2:]],
        ))


def _chunks(fetch: Callable[..., list[Any]], first: int, last: int, size: int) -> Iterator[tuple[int, list[Any]]]:
    """Parts first+1..last of a list `size` rows each, oldest first, from `fetch(after=, offset=,
    limit=)` (Store.event_slice, Store.snapshot_rows): one offset to find the first part, then
    after the last row of the part before, as an offset for every part would read the list again
    and again."""
    after: Any = None
    for index in range(first, last):
        chunk = fetch(after=after, offset=index * size, limit=size)
        after = chunk[-1] if chunk else after
        yield index + 1, chunk


def _current(path: Path, signature: str) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    return f'content="policy-monitor report {signature}"'.encode() in head
