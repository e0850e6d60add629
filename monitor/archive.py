"""`policy-monitor import-archive`: a page's history from web-archive captures (Wayback CDX).

For each page: list the captures of its URL with the archive's CDX API, collapse runs of
captures with the same content digest into their first one, and run each remaining capture,
oldest first, through `check_page` with the capture as the fetch step (`Source`): the raw
capture (the `id_` form, the bytes the archive received) is extracted, compared, diffed,
classified and recorded like a live fetch, with origin 'archive', the capture's time as the
time of its snapshot, change and events, and the capture's address as their source.

Where the history goes: before the page's first live snapshot. Captures are imported from
after the last one a previous run recorded (`page.archive_until`, written in the same
transaction as each capture's outcome, so a killed run resumes exactly where it stopped) up to
the first live snapshot; then the first live snapshot is compared with the last archived one
and what changed between them is recorded, without alerts. A page without live snapshots gets
its whole history, and its live checks continue from the last capture.

Bad captures fail the way a live check fails (error and login pages, redirects, bodies over
`max_bytes`; a text that lost most of its length is believed only once a second capture shows
it) and are skipped and counted; a capture in which the page's `select` matches nothing (an
older layout) is skipped with a note. The archive is asked at most `[archive] rate` times a
second; 429, 5xx and connection failures are retried after a doubling `[archive] backoff`, and
when they go on the page's import stops, to resume on the next run.

Why not EDGI's `wayback` package, made for these APIs: version 0.5 hardcodes
https://web.archive.org (its CDX endpoint is a module constant and `get_memento` parses only
web.archive.org memento URLs), so it cannot be pointed at `[archive] url` (a mirror, or the
test suite's fake archive); and it reads bodies through its own requests adapters, whole, so
our byte cap, fetch deadline and private-address refusal would not apply. The CDX API needs
little: one JSON document per request, and `monitor.fetch.Fetcher` brings the guards.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from monitor.check import CheckOutcome, Runtime, Source, check_page, compare, soft_error
from monitor.classify import rules_version
from monitor.config import ArchiveSettings, PageConfig
from monitor.errors import ArchiveError
from monitor.extract import ExtractError, Rules, extract
from monitor.fetch import Fetcher, FetchError, FetchPolicy, FetchResult, policy_from_settings
from monitor.logs import logs_to
from monitor.models import ARCHIVE
from monitor.render import event_labels
from monitor.status import snapshot_state
from monitor.store import ArchiveState, CheckRecord, PageState, StoreError
from monitor.vocabulary import CheckStatus

if TYPE_CHECKING:
    from rich.progress import Progress

    from monitor.budget import Budget

log = logging.getLogger("monitor.archive")

CDX_PAGE_ROWS = 5000  # rows per CDX request (the archive pages longer lists with a resume key)
MAX_CAPTURES = 50_000  # per page and run: a longer list is imported by the next runs
ATTEMPTS = 4  # per archive request, when it answers 429/5xx or the connection fails
BODY_CACHE_BYTES = 64 * 1024 * 1024  # bodies kept by digest, so content that returns is not fetched again
_TIMESTAMP = re.compile(r"^\d{14}$")
_FETCHABLE = ("200", "-")  # HTTP status at capture time ('-': not recorded, as for revisits)


@dataclass(frozen=True)
class Capture:
    timestamp: str  # 14 digits, UTC, as the archive spells it
    original: str  # the URL the archive captured
    status: str  # HTTP status at capture time
    digest: str  # of the captured body
    repeats: int = 1  # consecutive captures with this digest, collapsed into this first one

    @property
    def at(self) -> datetime:
        return datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _valid_timestamp(text: str) -> bool:
    try:
        return bool(_TIMESTAMP.match(text)) and datetime.strptime(text, "%Y%m%d%H%M%S") is not None
    except ValueError:
        return False


def cdx_timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_cdx(body: bytes, url: str) -> tuple[list[Capture], str | None, int]:
    """A CDX answer -> (captures, resume key, records that could not be read).

    The Wayback Machine's `output=json`: a header row naming the fields, one row per capture,
    and on a paged answer `[]` then `[resume key]`. pywb-style archives answer one JSON object
    per line instead; both are read."""
    if not body.strip():
        return [], None, 0
    try:
        data = json.loads(body)
    except ValueError:
        data = _json_lines(body)
    except RecursionError:
        raise ArchiveError("the archive's capture list is not JSON (nested too deeply)") from None
    if data == []:
        return [], None, 0
    records: list[Any] = []
    resume: str | None = None
    if isinstance(data, list) and isinstance(data[0], list):
        header = data[0]
        if not all(isinstance(name, str) for name in header):
            raise ArchiveError("the archive's capture list is not CDX JSON (its header row is not field names)")
        rows = iter(data[1:])
        for row in rows:
            if row == []:  # the resume key follows
                key = next(rows, None)
                resume = str(key[0]) if isinstance(key, list) and key and isinstance(key[0], str) else None
                break
            records.append(dict(zip(header, row, strict=True)) if isinstance(row, list) and len(row) == len(header)
                           else None)
        named = "timestamp" in header
    else:
        records = data if isinstance(data, list) else [data]
        named = any(isinstance(record, dict) and "timestamp" in record for record in records)
    if not named:
        raise ArchiveError("the archive's capture list is not CDX JSON (no 'timestamp' field)")
    captures = [capture for capture in map(partial(_capture, url=url), records) if capture is not None]
    return captures, resume, len(records) - len(captures)


def _json_lines(body: bytes) -> list[Any]:
    try:
        return [json.loads(line) for line in body.splitlines() if line.strip()]
    except (ValueError, RecursionError) as exc:
        why = str(exc)[:100] if isinstance(exc, ValueError) else "nested too deeply"
        raise ArchiveError(f"the archive's capture list is not JSON ({why})") from None


def _capture(record: Any, url: str) -> Capture | None:
    """One CDX record (field name -> value), or None when it cannot be used."""
    if not isinstance(record, dict):
        return None
    fields = (record.get("timestamp"), record.get("original", record.get("url", url)),
              # '-': not recorded (revisits); no digest: every capture counts as different content
              record.get("statuscode", record.get("status", "-")), record.get("digest", ""))
    if not all(isinstance(value, str) for value in fields):
        return None
    timestamp, original, status, digest = fields
    if not _valid_timestamp(timestamp) or not original.lower().startswith(("http://", "https://")):
        return None
    return Capture(timestamp, original, status, digest)


def collapse(captures: list[Capture]) -> list[Capture]:
    """Time order; a run of consecutive captures of one digest becomes its first capture (the
    content appeared then), remembering how many captures showed it."""
    out: list[Capture] = []
    for capture in sorted(captures, key=lambda c: c.timestamp):
        if out and capture.digest and capture.digest == out[-1].digest:
            out[-1] = replace(out[-1], repeats=out[-1].repeats + 1)
        else:
            out.append(capture)
    return out


class ArchiveClient:
    """The archive's CDX API and raw captures, through our guarded Fetcher: the same byte cap,
    deadline and address checks as a live fetch, at most `rate` requests a second, and a
    doubling backoff on 429, 5xx and connection failures."""

    def __init__(self, settings: ArchiveSettings, policy: FetchPolicy):
        self.base = settings.url
        self.fetcher = Fetcher(replace(policy, retries=0))  # retries are ours, with the archive's backoff
        self.interval = 1.0 / settings.rate
        self.backoff = settings.backoff
        self.retry_after_cap = policy.retry_after_cap
        self.requests = 0
        self._next = 0.0
        self._bodies: OrderedDict[str, FetchResult] = OrderedDict()
        self._cached = 0

    def close(self) -> None:
        self.fetcher.close()

    def raw_url(self, capture: Capture) -> str:
        return f"{self.base}/web/{capture.timestamp}id_/{capture.original}"

    def view_url(self, capture: Capture) -> str:
        """The capture's address for people (the archive shows it with its own navigation)."""
        return f"{self.base}/web/{capture.timestamp}/{capture.original}"

    def _pace(self) -> None:
        wait = self._next - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next = time.monotonic() + self.interval

    def _get(self, url: str) -> FetchResult:
        """One GET, paced; FetchError if the answer is bad, ArchiveError if the archive is unwell."""
        for attempt in range(1, ATTEMPTS + 1):
            self._pace()
            self.requests += 1
            try:
                return self.fetcher.fetch(url)
            except FetchError as exc:
                if not exc.retryable:
                    raise
                if attempt == ATTEMPTS:
                    raise ArchiveError(f"{exc.reason} ({ATTEMPTS} attempts)") from None
                wait = self.backoff * 2 ** (attempt - 1)
                if exc.retry_after is not None:
                    if exc.retry_after > self.retry_after_cap:
                        raise ArchiveError(f"{exc.reason}; Retry-After {exc.retry_after:.0f}s exceeds the cap of "
                                           f"{self.retry_after_cap:.0f}s") from None
                    wait = max(wait, exc.retry_after)
                log.warning("archive: %s; trying again in %.0fs", exc.reason, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def captures(self, url: str, start: datetime | None, end: datetime | None) -> tuple[list[Capture], int, bool]:
        """The captures of `url` between start and end (inclusive), the unreadable rows, and
        whether that is all of them (at most MAX_CAPTURES a run)."""
        captures: list[Capture] = []
        bad = 0
        resume: str | None = None
        while True:
            params = {"url": url, "output": "json", "fl": "timestamp,original,statuscode,digest",
                      "limit": str(CDX_PAGE_ROWS), "showResumeKey": "true"}
            if start is not None:
                params["from"] = cdx_timestamp(start)
            if end is not None:
                params["to"] = cdx_timestamp(end)
            if resume:
                params["resumeKey"] = resume
            try:
                result = self._get(f"{self.base}/cdx/search/cdx?{urlencode(params)}")
            except (FetchError, ArchiveError) as exc:
                raise ArchiveError(f"listing captures failed: {exc}") from None
            rows, resume, unreadable = parse_cdx(result.body, url)
            captures.extend(rows)
            bad += unreadable
            if not resume or not rows or len(captures) >= MAX_CAPTURES:
                return captures, bad, not (resume and rows)

    def fetch(self, capture: Capture) -> FetchResult:
        """The raw capture; content already fetched under the same digest is not asked for again."""
        cached = self._bodies.get(capture.digest) if capture.digest else None
        if cached is not None:
            self._bodies.move_to_end(capture.digest)
            return cached
        url = self.raw_url(capture)
        result = self._get(url)
        if result.url != url:
            raise FetchError(f"the archive redirected to {result.url[:200]} (another page or capture)")
        if capture.digest and len(result.body) <= BODY_CACHE_BYTES:
            self._bodies[capture.digest] = result
            self._cached += len(result.body)
            while self._cached > BODY_CACHE_BYTES:
                self._cached -= len(self._bodies.popitem(last=False)[1].body)
        return result


class _CaptureFetch:
    """The fetch stage of one archived capture. Asked a second time (to confirm a text that lost
    most of its length, as a live check re-fetches), it answers only when the archive holds
    several captures of these bytes; otherwise the text waits for a later capture to show it."""

    def __init__(self, client: ArchiveClient, capture: Capture):
        self.client, self.capture = client, capture
        self.calls = 0
        self.error: FetchError | None = None  # why the capture itself could not be had

    def __call__(self, _state: PageState, _rules: Rules, _conditional: bool, _budget: Budget) -> FetchResult:
        self.calls += 1
        if self.calls > 1 and self.capture.repeats < 2:
            raise FetchError("no second capture of these bytes")
        try:
            if self.capture.status not in _FETCHABLE:
                code = int(self.capture.status) if self.capture.status.isdigit() else None
                raise FetchError(f"captured as HTTP {self.capture.status}", http_status=code)
            return self.client.fetch(self.capture)
        except FetchError as exc:
            self.error = exc
            raise


@dataclass
class PageImport:
    """What one page's import did, for its summary line."""

    page_id: str
    listed: int = 0  # captures in the window
    snapshots: int = 0
    changes: int = 0
    events: list[str] = field(default_factory=list)  # "pause_started HK 2020-07-06"
    skipped: Counter[str] = field(default_factory=Counter)
    old_layout: int = 0  # captures where `select` matched nothing
    link: str = ""
    error: str | None = None

    def line(self) -> str:
        parts = [f"{self.listed} captures" if self.listed else "no new captures"]
        if self.snapshots:
            parts.append(f"{self.snapshots} versions, {self.changes} changes"
                         + (f" ({', '.join(self.events)})" if self.events else ""))
        if self.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            parts.append(f"skipped {sum(self.skipped.values())} ({reasons})")
        if self.old_layout:
            parts.append(f"{self.old_layout} without the selected part (older layout), skipped")
        if self.link:
            parts.append(self.link)
        if self.error:
            parts.append(f"stopped: {self.error}")
        return f"{self.page_id}: " + "; ".join(parts)


def _skip_reason(outcome: CheckOutcome, fetch: _CaptureFetch) -> str:
    if outcome.status == CheckStatus.UNCONFIRMED:
        return "unconfirmed (shrank; one capture only)"
    error = outcome.error or ""
    if fetch.error is not None:
        status = fetch.error.http_status
        if "redirect" in error or (status is not None and 300 <= status < 400):
            return "redirect"
        return f"HTTP {status}" if status else "unreadable"
    if "error or login page" in error:
        return "error or login page"
    return "unreadable"


def _window(arch: ArchiveState, start: datetime | None, end: datetime | None,
            ) -> tuple[datetime | None, datetime | None, Callable[[datetime], bool]]:
    """What to list (inclusive bounds for the archive) and which captures to take: after the
    last one recorded, before the first live snapshot, within --from/--to."""
    lo = max((t for t in (start, arch.until) if t is not None), default=None)
    hi = min((t for t in (end, arch.first_live_at) if t is not None), default=None)

    def wanted(at: datetime) -> bool:
        return ((start is None or at >= start) and (arch.until is None or at > arch.until)
                and (end is None or at <= end) and (arch.first_live_at is None or at < arch.first_live_at))

    return lo, hi, wanted


def import_page(rt: Runtime, client: ArchiveClient, page: PageConfig, start: datetime | None = None,
                end: datetime | None = None, progress: Progress | None = None) -> PageImport:
    """Import one page's captures; never raises for a bad archive or capture (see `error`)."""
    summary = PageImport(page.id)
    try:
        arch = rt.store.archive_state(page.id)
        if arch.head_linked:  # live snapshots follow the last capture: the history is closed
            return summary
        lo, hi, wanted = _window(arch, start, end)
        listed, unreadable, complete = client.captures(page.url, lo, hi)
        if unreadable:
            summary.skipped["unreadable in the list"] += unreadable
        captures = collapse([c for c in listed if wanted(c.at)])
        summary.listed = len(captures)
        task = progress.add_task(page.id, total=len(captures)) if progress is not None else None
        try:
            for capture in captures:
                arch = _import_capture(rt, client, page, arch, capture, summary)
                if progress is not None and task is not None:
                    progress.advance(task)
        finally:
            if progress is not None and task is not None:
                progress.remove_task(task)
        if not complete:
            summary.link = f"more than {MAX_CAPTURES} captures: run import-archive again for the rest"
        elif end is None or (arch.first_live_at is not None and end >= arch.first_live_at):
            # Only a history imported up to the first live snapshot is joined to it: once
            # joined, it is closed, and --to must not close it early.
            summary.link = _link_to_live(rt, page, arch)
    except (ArchiveError, StoreError) as exc:
        summary.error = str(exc)
    return summary


def _import_capture(rt: Runtime, client: ArchiveClient, page: PageConfig, arch: ArchiveState, capture: Capture,
                    summary: PageImport) -> ArchiveState:
    fetch = _CaptureFetch(client, capture)
    source = Source(fetch, origin=ARCHIVE, url=client.view_url(capture), at=capture.at)
    outcome = check_page(rt, page, arch.state, source)
    after = rt.store.archive_state(page.id)
    if outcome.status == "raced":
        raise ArchiveError("another process changed this page's history meanwhile; run import-archive again")
    if after.until != capture.at:  # every capture's outcome moves the mark with it
        raise ArchiveError(f"capture {capture.timestamp} not recorded: {outcome.error}")
    if outcome.snapshot_id is not None:
        summary.snapshots += 1
        summary.changes += outcome.change_id is not None
        summary.events.extend(f"{label} {capture.at:%Y-%m-%d}" for label in event_labels(outcome.events))
    elif outcome.failed and fetch.error is None and "matched nothing" in (outcome.error or ""):
        if _error_page(client, capture, page):
            summary.skipped["error or login page"] += 1
        else:
            summary.old_layout += 1
            log.info("%s: capture %s: %s (an older layout?); skipped", page.id, capture.timestamp, outcome.error)
    elif outcome.status in ("failed", "unconfirmed"):
        summary.skipped[_skip_reason(outcome, fetch)] += 1
    return after


def _error_page(client: ArchiveClient, capture: Capture, page: PageConfig) -> bool:
    """Whether a capture without the page's selected part is an error or login page rather than
    an older layout: the soft-error rule on its whole text (the body is still in the cache)."""
    try:
        result = client.fetch(capture)
        text = extract(result.body, content_type=result.content_type, charset=result.charset,
                       rules=replace(Rules.of(page), select=()))
    except (FetchError, ExtractError):
        return False
    return soft_error(text) is not None


def _link_to_live(rt: Runtime, page: PageConfig, arch: ArchiveState) -> str:
    """Record what changed between the last capture and the first live snapshot (no alerts)."""
    if (arch.first_live_id is None or arch.state.snapshot_id is None or arch.head_linked or arch.first_live_linked
            or arch.head_at is None or arch.first_live_at is None or arch.head_at >= arch.first_live_at):
        return ""
    old, new = rt.store.snapshot(arch.state.snapshot_id), rt.store.snapshot(arch.first_live_id)
    if old is None or new is None:
        return ""
    if old.text_hash == new.text_hash:
        return f"live snapshot {new.id} shows the last capture's text"
    found = compare(old.text, new.text, page.company, snapshot_state(rt.store, old.id, old.text, page.company))
    drafts = found.events
    diff_stats = found.stats
    recorded = rt.store.record(CheckRecord(
        page_id=page.id, company=page.company, url=page.url, status=CheckStatus.CHANGED, started_at=new.created_at,
        finished_at=new.created_at, previous_snapshot_id=old.id, to_snapshot_id=new.id, added=diff_stats.added,
        removed=diff_stats.removed, first_line=diff_stats.first_line, events=drafts, origin=ARCHIVE,
        source=old.source, said=found.said, said_sig=rules_version(),
    ))
    if recorded.raced:
        raise ArchiveError("another process changed this page's history meanwhile; run import-archive again")
    typed = event_labels(drafts)
    return (f"live snapshot {new.id}: +{diff_stats.added} -{diff_stats.removed} lines since the last capture"
            + (f" ({', '.join(typed)})" if typed else ""))


def import_archive(rt: Runtime, page_ids: list[str], start: datetime | None = None, end: datetime | None = None,
                   alert: bool = False, progress: bool = False) -> int:
    """Import each page in turn, one summary line each. Exit status: 0, or 1 if a page's import
    stopped early or an alert could not be delivered."""
    from monitor.alerts import deliver_pending

    # Without --alert nothing is queued for the sinks: archived events are history, not news.
    quiet = rt if alert else Runtime(rt.config.model_copy(update={"alerts": []}), rt.store, rt.fetcher, rt.browser)
    client = ArchiveClient(rt.config.archive, policy_from_settings(rt.config.monitor))
    failed = False
    try:
        with ExitStack() as stack:
            bar = None
            if progress:
                from rich.console import Console
                from rich.progress import Progress

                bar = stack.enter_context(Progress(console=Console(stderr=True), transient=True))
                stack.enter_context(logs_to(sys.stderr))  # now the bar's proxy
            for page_id in page_ids:
                summary = import_page(quiet, client, rt.config.page(page_id), start, end, bar)
                failed = failed or summary.error is not None
                print(summary.line(), flush=True)  # on a terminal, rich puts it above the bar
    finally:
        client.close()
    if alert:
        failed = deliver_pending(rt).failed > 0 or failed
    return 1 if failed else 0
