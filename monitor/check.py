"""One check of one page: fetch -> extract -> compare -> diff -> classify -> record.

`check_page` is the only path through the pipeline; the daemon, the CLI, the demo and the
tests all call it. Stages are pure functions (extract, diff, classify) with I/O at the ends
(fetch, record).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.budget import UNLIMITED, Budget
from monitor.config import FOLLOW_MAX_LIMIT, Config, MonitorSettings, PageConfig
from monitor.errors import PageError, SourceUnavailable
from monitor.extract import ExtractError, Rules, extract
from monitor.fetch import Fetcher, FetchError, FetchResult, policy_from_settings
from monitor.fetchmode import fetch_page, same_body
from monitor.models import utcnow
from monitor.render import UNSPECIFIED
from monitor.store import CheckRecord, EventDraft, PageState, Recorded, Said, Store, StoreError, Version, sha256
from monitor.terminal import printable
from monitor.vocabulary import CheckStatus, EventKind

# The classifier, the differ, the document links and the browser are imported where a check
# first needs them (a new or changed text, a followed document, a rendered page): a process
# whose pages are unchanged never loads them, and their import was a third of its start-up.
if TYPE_CHECKING:
    from monitor.browser import Browser
    from monitor.classify import TextState
    from monitor.diff import Stats

log = logging.getLogger("monitor.check")

# A short 200 page that says one of these is an error or login page, not a new version.
_SOFT_ERROR = re.compile(
    r"\b(page not found|404 not found|not found|access denied|forbidden|sign in to continue|log ?in to continue|"
    r"please (?:sign|log) ?in|are you a robot|verify you are human|captcha|service unavailable|"
    r"temporarily unavailable|too many requests|something went wrong|an error occurred)\b",
    re.I,
)
_SOFT_ERROR_MAX_CHARS = 1500


@dataclass
class Runtime:
    """What a check needs: config, database, a shared fetcher (per-host politeness) and the
    process's browser (started only when a page is first rendered)."""

    config: Config
    store: Store
    fetcher: Fetcher
    shared_browser: Browser | None = None  # another Runtime's browser to use; else made on first use
    _browser_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, config: Config, store: Store | None = None, fetcher: Fetcher | None = None) -> Runtime:
        store = store or Store(config.monitor.database)
        store.sync_pages(config.pages)
        fetcher = fetcher or Fetcher(policy_from_settings(config.monitor))
        return cls(config, store, fetcher)

    @property
    def browser(self) -> Browser:
        """The process's browser (which starts Chromium only when it first renders a page)."""
        with self._browser_lock:
            if self.shared_browser is None:
                from monitor.browser import Browser

                settings = self.config.monitor
                self.shared_browser = Browser(settings.browser_path, settings.browser_renders, settings.browser_memory,
                                              self.fetcher.resolver)
            return self.shared_browser

    def stored_document_links(self, snapshot_id: int | None) -> tuple[str, ...]:
        """The document links of a stored snapshot's text. Snapshots never change, and a page that
        follows documents needs them at every check, unchanged ones included: read once per process."""
        if snapshot_id is None:
            return ()
        return self._document_links(snapshot_id)

    def __post_init__(self) -> None:
        # Keyed by snapshot: a page's latest one is asked for again and again. Only as many links
        # as a page may follow are kept (a text may list thousands). The store, not the Runtime,
        # in the closure: no reference cycle keeps a closed Runtime alive.
        store = self.store

        @functools.lru_cache(maxsize=256)
        def links(snapshot_id: int) -> tuple[str, ...]:
            from monitor.documents import document_urls

            snapshot = store.snapshot(snapshot_id)
            return tuple(document_urls(snapshot.text)[:FOLLOW_MAX_LIMIT]) if snapshot else ()

        self._document_links = links

    def close(self) -> None:
        if self.shared_browser is not None:
            self.shared_browser.close()
        self.fetcher.close()
        self.store.close()


@dataclass(frozen=True)
class Source:
    """Where a check's bytes come from: the live page (`live_source`, the default) or an
    archived capture (monitor.archive). `fetch(state, rules, conditional, budget)` is the fetch
    stage (conditional: with the stored validators; budget: for work done on the body there);
    `origin`, `url` (provenance) and `at` (when the bytes were seen; None: now) are recorded with
    what the other stages make of them."""

    fetch: Callable[[PageState, Rules, bool, Budget], FetchResult]
    origin: str = "fetch"
    url: str | None = None
    at: datetime | None = None
    confirm_delay: float = 0.0  # before the second fetch that confirms a suspicious change

    @property
    def live(self) -> bool:
        return self.origin == "fetch"


def live_source(rt: Runtime, page: PageConfig) -> Source:
    """The page itself, plainly or in the browser as its `fetch` mode says (monitor.fetchmode)."""

    def fetch(state: PageState, rules: Rules, conditional: bool, budget: Budget) -> FetchResult:
        try:
            return fetch_page(rt, page, state, rules, conditional, budget)
        finally:
            # The body is read: the host's other pages need not wait for what this one costs now.
            rt.fetcher.leave_host(page.url)

    return Source(fetch, confirm_delay=rt.config.monitor.confirm_delay)


@dataclass
class CheckOutcome:
    page_id: str
    status: CheckStatus
    error: str | None = None
    http_status: int | None = None
    snapshot_id: int | None = None
    change_id: int | None = None
    events: list[EventDraft] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    seconds: float = 0.0
    unrecorded: bool = False  # the database refused the record: a database fault, not the page's
    fetch_mode: str | None = None  # plain | browser: how the page was had (None: not had)
    # The documents this page links to that are checked next (`follow`), and their checks.
    follow: list[PageConfig] = field(default_factory=list)
    documents: list[CheckOutcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == CheckStatus.FAILED

    def with_documents(self) -> list[CheckOutcome]:
        """This check and those of its followed documents, in order."""
        return [self, *self.documents]


def soft_error(text: str) -> str | None:
    """Why a short text looks like an error or login page rather than the document."""
    if len(text) > _SOFT_ERROR_MAX_CHARS:
        return None
    match = _SOFT_ERROR.search(text)
    return f"page looks like an error or login page ({match.group(0)!r})" if match else None


def _shrunk(old: str, new: str, threshold: float) -> bool:
    return threshold > 0 and len(old) > 200 and len(new) < len(old) * (1 - threshold)


def _confirm_reason(page: PageConfig, settings: MonitorSettings, old: str, new: str) -> str | None:
    """Why this change needs a second fetch that agrees before it is believed, or None."""
    mode = page.confirm or settings.confirm
    if mode == "always":
        return f"changed ({len(old)} -> {len(new)} characters)"
    threshold = page.confirm_shrink if page.confirm_shrink is not None else settings.confirm_shrink
    if mode == "shrink" and _shrunk(old, new, threshold):
        return f"shrank from {len(old)} to {len(new)} characters"
    return None


def _second_look(source: Source, state: PageState, rules: Rules, budget: Budget) -> tuple[str | None, str]:
    """The hash of the text a fresh fetch shows now (None if it failed), and a word for the log."""
    try:
        again, _ = _text_of(_fetch(source, state, rules, budget, conditional=False), state, rules, budget)
    except (FetchError, ExtractError) as exc:
        return None, f"a failure ({exc})"
    if again is None:  # byte-identical to the stored body: the previous text
        return state.text_hash, "the previous text"
    if soft_error(again):
        return None, "an error page"
    text_hash = sha256(again)
    return text_hash, "the previous text" if text_hash == state.text_hash else "yet another text"


def _fetch(source: Source, state: PageState, rules: Rules, budget: Budget, conditional: bool = True) -> FetchResult:
    """The fetch stage (plainly, in the browser, or an archived capture: the source says)."""
    budget.enter("fetch")
    return source.fetch(state, rules, conditional, budget)


def _text_of(result: FetchResult, state: PageState, rules: Rules, budget: Budget) -> tuple[str | None, str | None]:
    """(text, raw hash); the text is None when the raw body is the stored one (no work needed)."""
    if result.not_modified:
        return None, None
    raw_hash = result.body_hash
    if same_body(result, state, rules):
        return None, raw_hash  # byte-identical body, same rules (and base for links): same text
    budget.enter("extract")
    if result.text is not None:  # `auto` already extracted the plain page to judge it
        return result.text, raw_hash
    text = extract(result.body, content_type=result.content_type, charset=result.charset, rules=rules, budget=budget,
                   url=result.url)
    return text, raw_hash


@functools.cache
def _load_text_stages() -> None:
    """Import the classifier, the differ and the status helpers, once per process, when a first
    new text needs them; the caller keeps that out of the page's work budget, as it was when they
    were imported with this module."""
    import monitor.classify
    import monitor.diff
    import monitor.status  # noqa: F401


@dataclass(frozen=True)
class Comparison:
    """What the diff and classify stages make of two different texts."""

    stats: Stats
    events: list[EventDraft]  # the `changed` event, then the typed ones
    said: list[Said]  # what the new text says, for the statements of its snapshot


def compare(old_text: str, new_text: str, company: str, old_state: TextState | None = None,
            budget: Budget = UNLIMITED) -> Comparison:
    """Diff and classify two texts. `old_state`: what the old text says when known (stored with its
    snapshot), so that only the new text is analysed."""
    from monitor.classify import compare as compare_states
    from monitor.classify import relevant_changes
    from monitor.classify import state as text_state
    from monitor.diff import diff_lines, stats
    from monitor.status import said_of

    budget.enter("diff")
    diff_stats = stats(diff_lines(old_text, new_text))
    budget.enter("classify")
    relevant = relevant_changes(old_text, new_text, budget=budget)
    # the sentence a person should read first: about data requests if any changed
    first = relevant[0][2:] if relevant else diff_stats.first_line[2:]
    events = [EventDraft(kind=EventKind.CHANGED, quote=first or None, relevant=relevant)]
    new_state = text_state(new_text, company, budget=budget)
    if old_state is None:
        old_state = text_state(old_text, company, budget=budget)
    events.extend(EventDraft(kind=f.kind, jurisdiction=f.jurisdiction, quote=f.quote, evidence=f.evidence,
                             rule=f.rule, context=f.context) for f in compare_states(old_state, new_state))
    budget.check()
    return Comparison(diff_stats, events, said_of(new_state))


def _failure(exc: Exception, stage: str, page_id: str) -> tuple[str, int | None]:
    """A failed check's one-line reason (and HTTP status). Expected failures (a PageError) say
    why; anything else is a bug or a case not foreseen, so its traceback goes to the log (once)."""
    if isinstance(exc, PageError):
        log.debug("%s: check failed in %s", page_id, stage, exc_info=exc)
        return _one_line(str(exc)), exc.http_status if isinstance(exc, FetchError) else None
    log.error("%s: unexpected error in %s", page_id, stage, exc_info=exc)
    return _one_line(f"internal error in {stage}: {type(exc).__name__}: {exc}"), None


def _one_line(text: str, limit: int = 300) -> str:
    # A server's status line or a parser's message may quote control characters: shown, not kept.
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_page(rt: Runtime, page: PageConfig, state: PageState | None = None,
               source: Source | None = None, *, follow: bool = True) -> CheckOutcome:
    """Check one page now and record the outcome; never raises for a bad page or server.

    `state`: the page's stored state when the caller has just read it (a claim returns it).
    `source`: where the bytes come from (default: the live page).
    Whatever goes wrong between the fetch and the record ends as a recorded failed check with
    a one-line reason; the work after the fetch is bounded by the page's work budget.
    A live page with `follow` then has its document links checked the same way, each as a page
    of its own (`outcome.documents`; monitor.documents), unless `follow` is False: a caller that
    holds the page's host turn checks them with `check_documents` once it has let the turn go.

    The check itself is `_examine`: it fetches, then hands over to the step the result calls
    for (`_same_body`, `_new_text` and from there `_baseline` or `_changed`, which may end
    `_unconfirmed`), each returning the finished record; `_failed` is the record of any failure.
    """
    source = source or live_source(rt, page)
    started = source.at or utcnow()
    clock = time.monotonic()
    try:
        if state is None:
            state = rt.store.page_state(page.id)
        budget = Budget(rt.config.work_budget_of(page))
        check = _Check(rt, page, state, source, Rules.of(page), budget, started)
        rec, recorded = _record(check, _examine(check))
    except StoreError as exc:  # the database's fault, not the page's: nothing is recorded
        log.error("%s: check not recorded: %s", page.id, exc)
        return CheckOutcome(page.id, CheckStatus.FAILED, error=str(exc), seconds=time.monotonic() - clock,
                            unrecorded=True)
    outcome = CheckOutcome(
        page_id=page.id, status=CheckStatus.RACED if recorded.raced else CheckStatus(rec.status), error=rec.error,
        http_status=rec.http_status, snapshot_id=recorded.snapshot_id, change_id=recorded.change_id,
        events=rec.events if not recorded.raced else [], event_ids=recorded.event_ids,
        added=rec.added, removed=rec.removed, seconds=time.monotonic() - clock,
        fetch_mode=rec.fetch_mode if rec.status != CheckStatus.FAILED else None,
    )
    _log_outcome(page, outcome, rec)
    if page.follows and source.live and outcome.status in _FOLLOW_AFTER:
        from monitor.documents import document_urls, followed_pages

        urls = document_urls(rec.version.text) if rec.version is not None else \
            rt.stored_document_links(state.snapshot_id)
        outcome.follow = followed_pages(page, urls)
    return check_documents(rt, outcome) if follow else outcome


def check_documents(rt: Runtime, outcome: CheckOutcome) -> CheckOutcome:
    """Check the documents a page's check found to follow, each with `check_page`."""
    outcome.documents = [check_page(rt, document) for document in outcome.follow]
    return outcome


@dataclass(frozen=True)
class _Check:
    """One check under way: what its steps read. Nothing here changes while the check runs; each
    step returns the finished record (`finished` or `_failed` builds it) instead."""

    rt: Runtime
    page: PageConfig
    state: PageState
    source: Source
    rules: Rules
    budget: Budget
    started: datetime

    def record(self, status: CheckStatus, **found: Any) -> CheckRecord:
        """The record of this check with `status`; `found`: the CheckRecord fields the step sets."""
        page = self.page
        return CheckRecord(page_id=page.id, company=page.company, url=page.url, status=status,
                           started_at=self.started, finished_at=self.source.at or utcnow(),
                           previous_snapshot_id=self.state.snapshot_id, sinks=self.rt.config.alerts,
                           origin=self.source.origin, source=self.source.url, **found)

    def finished(self, result: FetchResult, status: CheckStatus, *, etag: str | None, last_modified: str | None,
                 keep_validators: bool = False, pending_hash: str | None = None, version: Version | None = None,
                 comparison: Comparison | None = None, said: list[Said] | None = None,
                 said_sig: str = "") -> CheckRecord:
        """The record of a check that had the page: its failure streak ends, and a page that was
        gone is restored. `etag`, `last_modified`: the validators the next check sends."""
        events = list(comparison.events) if comparison is not None else []
        if self.state.gone:
            events.append(EventDraft(kind=EventKind.PAGE_RESTORED, quote=f"{self.page.url} answers again"))
        diff_stats = comparison.stats if comparison is not None else None
        return self.record(
            status, http_status=result.status, fetch_mode=result.mode, etag=etag, last_modified=last_modified,
            keep_validators=keep_validators, pending_hash=pending_hash, version=version, events=events,
            said=said, said_sig=said_sig, failures=0, gone=False,
            added=diff_stats.added if diff_stats else 0, removed=diff_stats.removed if diff_stats else 0,
            first_line=diff_stats.first_line if diff_stats else "",
        )


def _examine(check: _Check) -> CheckRecord:
    """Fetch the page and hand the result to the step it calls for: the one error boundary of a
    check. Whatever goes wrong, but the database (StoreError) or the source itself
    (SourceUnavailable), ends as a failed check (see _failure)."""
    result: FetchResult | None = None
    try:
        result = _fetch(check.source, check.state, check.rules, check.budget)
        text, raw_hash = _text_of(result, check.state, check.rules, check.budget)
        if text is None:
            return _same_body(check, result)
        return _new_text(check, result, text, raw_hash)
    except (StoreError, SourceUnavailable):
        raise
    except Exception as exc:
        reason, http_status = _failure(exc, check.budget.stage, check.page.id)
        if http_status is None and result is not None:
            http_status = result.status  # the fetch went well: the failure came after it
        return _failed(check, reason, http_status)


def _same_body(check: _Check, result: FetchResult) -> CheckRecord:
    """A 304, or the very body (under the same rules) of the last snapshot: nothing to extract."""
    state = check.state
    # the page shows its recorded text again: nothing pending
    return check.finished(result, CheckStatus.NOT_MODIFIED if result.not_modified else CheckStatus.UNCHANGED,
                          etag=result.etag or state.etag, last_modified=result.last_modified or state.last_modified,
                          keep_validators=result.not_modified)


def _new_text(check: _Check, result: FetchResult, text: str, raw_hash: str | None) -> CheckRecord:
    """A body that had to be read: the page's first text, its text again, or a different one."""
    reason = soft_error(text)
    if reason:
        raise ExtractError(reason)
    text_hash = sha256(text)
    if check.state.snapshot_id is None:
        return _baseline(check, result, _version(check, result, text, text_hash, raw_hash))
    if text_hash == check.state.text_hash:  # a new body (or new rules) with the same text: nothing to store
        return check.finished(result, CheckStatus.UNCHANGED, etag=result.etag, last_modified=result.last_modified)
    return _changed(check, result, _version(check, result, text, text_hash, raw_hash))


def _version(check: _Check, result: FetchResult, text: str, text_hash: str, raw_hash: str | None) -> Version:
    return Version(text=text, text_hash=text_hash, extract_sig=check.rules.signature(), raw=result.body,
                   raw_hash=raw_hash, url=result.url,
                   # with the header's charset, so `reextract` decodes the body as this check did
                   content_type=result.content_type + (f"; charset={result.charset}" if result.charset else ""),
                   origin=check.source.origin, fetch_mode=result.mode)


def _baseline(check: _Check, result: FetchResult, version: Version) -> CheckRecord:
    """The page's first text: what it says from the start goes to the status board, without an event."""
    with check.budget.paused():
        _load_text_stages()
    from monitor.classify import rules_version
    from monitor.classify import state as text_state
    from monitor.status import said_of

    check.budget.enter("classify")
    said = said_of(text_state(version.text, check.page.company, budget=check.budget))
    return check.finished(result, CheckStatus.BASELINE, etag=result.etag, last_modified=result.last_modified,
                          pending_hash=check.state.pending_hash, version=version, said=said,
                          said_sig=rules_version())


def _changed(check: _Check, result: FetchResult, version: Version) -> CheckRecord:
    """A text unlike the last snapshot's: a change, once a second look confirms it if it is suspicious."""
    rt, page, state = check.rt, check.page, check.state
    snap = rt.store.snapshot(state.snapshot_id) if state.snapshot_id is not None else None
    old_text = snap.text if snap else ""
    why = _confirm_reason(page, rt.config.monitor, old_text, version.text)
    # A page that suddenly lost most of its text is often a broken deploy or an error
    # page; one that flips between variants is an A/B test. Believe the new text only
    # when two fetches in a row show it: a fresh fetch now, or (pending_hash) the
    # last fetch of the previous check.
    if why and state.pending_hash != version.text_hash:
        unconfirmed = _unconfirmed(check, result, version, why)
        if unconfirmed is not None:
            return unconfirmed
    with check.budget.paused():
        _load_text_stages()
    from monitor.classify import rules_version
    from monitor.status import snapshot_state

    check.budget.enter("classify")
    old_state = snapshot_state(rt.store, state.snapshot_id, old_text, page.company, check.budget)
    found = compare(old_text, version.text, page.company, old_state, check.budget)
    return check.finished(result, CheckStatus.CHANGED, etag=result.etag, last_modified=result.last_modified,
                          version=version, comparison=found, said=found.said, said_sig=rules_version())


def _unconfirmed(check: _Check, result: FetchResult, version: Version, why: str) -> CheckRecord | None:
    """Fetch again after the source's delay: None if the page shows the new text again (confirmed),
    else the record of a change not believed yet."""
    state = check.state
    time.sleep(check.source.confirm_delay)
    seen, what = _second_look(check.source, state, check.rules, check.budget)
    if seen == version.text_hash:
        return None
    log.warning("%s: text %s but a second fetch showed %s; not recorded until confirmed", check.page.id, why, what)
    # What the page showed last, unless that is the recorded text again. The old validators
    # stay, or a 304 would hide the new text from the next check.
    pending = version.text_hash if seen is None else (None if seen == state.text_hash else seen)
    return check.finished(result, CheckStatus.UNCONFIRMED, etag=state.etag, last_modified=state.last_modified,
                          keep_validators=True, pending_hash=pending)


def _failed(check: _Check, error: str, http_status: int | None) -> CheckRecord:
    """The record of a failed check: nothing recorded but the check, and page_gone in time.
    The stored validators stay: with new ones, the next check would get a 304 and never look at
    the body this check could not handle."""
    state = check.state
    failures = state.failures + 1
    gone_now = check.source.live and not state.gone and failures >= check.rt.config.monitor.gone_after
    events = [EventDraft(kind=EventKind.PAGE_GONE, quote=f"{failures} consecutive failed checks; last: {error}")] \
        if gone_now else []
    return check.record(CheckStatus.FAILED, error=error, http_status=http_status, failures=failures,
                        gone=state.gone or gone_now, events=events, pending_hash=state.pending_hash,
                        etag=state.etag, last_modified=state.last_modified, keep_validators=True)


def _record(check: _Check, rec: CheckRecord) -> tuple[CheckRecord, Recorded]:
    """Record the check (and return what was recorded); if what it found cannot be recorded for
    a reason other than the database (StoreError), record it as a failed check instead."""
    try:
        return rec, check.rt.store.record(rec)
    except StoreError:
        raise
    except Exception as exc:
        if rec.status == CheckStatus.FAILED:
            raise  # nothing left to leave out
        reason, http_status = _failure(exc, "record", rec.page_id)
        failed = replace(_failed(check, reason, http_status if http_status is not None else rec.http_status),
                         finished_at=rec.finished_at)
        return failed, check.rt.store.record(failed)


# After these outcomes the page's document links are known (from the new text or the stored one);
# after a failure or a lost race they are not checked: the next check of the page does it.
_FOLLOW_AFTER = frozenset({CheckStatus.BASELINE, CheckStatus.CHANGED, CheckStatus.UNCHANGED,
                           CheckStatus.NOT_MODIFIED, CheckStatus.UNCONFIRMED})


def _log_outcome(page: PageConfig, outcome: CheckOutcome, rec: CheckRecord) -> None:
    extra = {"page": page.id, "status": outcome.status}
    if outcome.failed:
        log.warning("%s: check failed: %s", page.id, outcome.error, extra=extra)
    elif outcome.status == CheckStatus.CHANGED:
        log.info("%s: %s page changed: +%d -%d lines; first: %s", page.id, page.company, outcome.added,
                 outcome.removed, rec.first_line[:200], extra=extra)
    else:
        log.info("%s: %s", page.id, outcome.status, extra=extra)
    for event, event_id in zip(outcome.events, outcome.event_ids, strict=False):
        if event.kind == EventKind.CHANGED:
            continue
        where = f" {event.jurisdiction or UNSPECIFIED}"
        how = f" [{event.evidence}, rule {event.rule}]" if event.rule else ""
        log.warning("%s: event %s%s #%d%s: %s", page.id, event.kind, where, event_id, how, (event.quote or "")[:300],
                    extra={**extra, "event": event.kind, "jurisdiction": event.jurisdiction})
