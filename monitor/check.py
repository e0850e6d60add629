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
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.budget import UNLIMITED, Budget, WorkBudgetExceeded
from monitor.config import Config, MonitorSettings, PageConfig
from monitor.errors import SourceUnavailable
from monitor.extract import ExtractError, Rules, extract
from monitor.fetch import Fetcher, FetchError, FetchResult, policy_from_settings
from monitor.fetchmode import fetch_page
from monitor.models import utcnow
from monitor.store import CheckRecord, EventDraft, PageState, Recorded, Said, Store, StoreError, Version, sha256
from monitor.terminal import printable

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

    def close(self) -> None:
        if self.shared_browser is not None:
            self.shared_browser.close()
        self.fetcher.close()
        self.store.close()


@dataclass(frozen=True)
class Source:
    """Where a check's bytes come from: the live page (`live_source`, the default) or an
    archived capture (monitor.archive). `fetch(state, rules, conditional)` is the fetch stage
    (conditional: with the stored validators); `origin`, `url` (provenance) and `at` (when the
    bytes were seen; None: now) are recorded with what the other stages make of them."""

    fetch: Callable[[PageState, Rules, bool], FetchResult]
    origin: str = "fetch"
    url: str | None = None
    at: datetime | None = None
    confirm_delay: float = 0.0  # before the second fetch that confirms a suspicious change

    @property
    def live(self) -> bool:
        return self.origin == "fetch"


def live_source(rt: Runtime, page: PageConfig) -> Source:
    """The page itself, plainly or in the browser as its `fetch` mode says (monitor.fetchmode)."""

    def fetch(state: PageState, rules: Rules, conditional: bool) -> FetchResult:
        try:
            return fetch_page(rt, page, state, rules, conditional)
        finally:
            # The body is read: the host's other pages need not wait for what this one costs now.
            rt.fetcher.leave_host(page.url)

    return Source(fetch, confirm_delay=rt.config.monitor.confirm_delay)


@dataclass
class CheckOutcome:
    page_id: str
    status: str  # baseline | unchanged | not_modified | changed | unconfirmed | failed | raced
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
        return self.status == "failed"

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
    return sha256(again), "the previous text" if sha256(again) == state.text_hash else "yet another text"


def _fetch(source: Source, state: PageState, rules: Rules, budget: Budget, conditional: bool = True) -> FetchResult:
    """The fetch stage (plainly, in the browser, or an archived capture: the source says)."""
    budget.enter("fetch")
    return source.fetch(state, rules, conditional)


def _text_of(result: FetchResult, state: PageState, rules: Rules, budget: Budget) -> tuple[str | None, str | None]:
    """(text, raw hash); the text is None when the raw body is the stored one (no work needed)."""
    if result.not_modified:
        return None, None
    raw_hash = sha256(result.body)
    if raw_hash == state.raw_hash and state.extract_sig == rules.signature() and (
            rules.links == "none" or state.url == result.url):
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
    events = [EventDraft(kind="changed", quote=first or None, relevant=relevant)]
    new_state = text_state(new_text, company, budget=budget)
    if old_state is None:
        old_state = text_state(old_text, company, budget=budget)
    events.extend(EventDraft(kind=f.kind, jurisdiction=f.jurisdiction, quote=f.quote, evidence=f.evidence,
                             rule=f.rule, context=f.context) for f in compare_states(old_state, new_state))
    budget.check()
    return Comparison(diff_stats, events, said_of(new_state))


def _failure(exc: Exception, stage: str, page_id: str) -> tuple[str, int | None]:
    """A failed check's one-line reason (and HTTP status). Expected failures say why; anything
    else is a bug or a case not foreseen, so its traceback goes to the log (once)."""
    if isinstance(exc, FetchError):
        reason, status = exc.reason, exc.http_status
    elif isinstance(exc, ExtractError | WorkBudgetExceeded):
        reason, status = str(exc), None
    else:
        reason, status = f"internal error in {stage}: {type(exc).__name__}: {exc}", None
        log.error("%s: unexpected error in %s", page_id, stage, exc_info=exc)
        return _one_line(reason), status
    log.debug("%s: check failed in %s", page_id, stage, exc_info=exc)
    return _one_line(reason), status


def _one_line(text: str, limit: int = 300) -> str:
    # A server's status line or a parser's message may quote control characters: shown, not kept.
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fail(rec: CheckRecord, state: PageState, settings: MonitorSettings, source: Source, error: str,
          http_status: int | None) -> None:
    """Turn `rec` into a failed check: nothing recorded but the check, and page_gone in time."""
    rec.status = "failed"
    rec.error = error
    rec.http_status = http_status if http_status is not None else rec.http_status
    rec.failures = state.failures + 1
    rec.version = None
    rec.said = None
    rec.added = rec.removed = 0
    rec.first_line = ""
    rec.events = []
    rec.gone = state.gone
    rec.pending_hash = state.pending_hash
    # The stored validators stay: with the new ones, the next check would get a 304 and never
    # look at the body this check could not handle.
    rec.etag, rec.last_modified, rec.keep_validators = state.etag, state.last_modified, True
    if source.live and not state.gone and rec.failures >= settings.gone_after:
        rec.gone = True
        rec.events.append(EventDraft(
            kind="page_gone",
            quote=f"{rec.failures} consecutive failed checks; last: {rec.error}",
        ))


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
    """
    source = source or live_source(rt, page)
    started = source.at or utcnow()
    clock = time.monotonic()
    settings = rt.config.monitor
    sinks = rt.config.alerts
    try:
        if state is None:
            state = rt.store.page_state(page.id)
    except StoreError as exc:
        log.error("%s: check not recorded: %s", page.id, exc)
        return CheckOutcome(page.id, "failed", error=str(exc), seconds=time.monotonic() - clock, unrecorded=True)
    budget = Budget(rt.config.work_budget_of(page))
    rules = Rules.of(page)
    rec = CheckRecord(page_id=page.id, company=page.company, url=page.url, status="failed",
                      started_at=started, finished_at=started, etag=state.etag,
                      last_modified=state.last_modified, previous_snapshot_id=state.snapshot_id,
                      sinks=sinks, failures=state.failures, gone=state.gone, pending_hash=state.pending_hash,
                      origin=source.origin, source=source.url)
    old_text: str | None = None
    try:
        result = _fetch(source, state, rules, budget)
        rec.http_status, rec.fetch_mode = result.status, result.mode
        text, raw_hash = _text_of(result, state, rules, budget)
        if result.not_modified or text is None:
            rec.status = "not_modified" if result.not_modified else "unchanged"
            rec.pending_hash = None  # the page shows its recorded text again: nothing pending
            rec.keep_validators = result.not_modified
            rec.etag, rec.last_modified = (result.etag or state.etag, result.last_modified or state.last_modified)
        else:
            reason = soft_error(text)
            if reason:
                raise ExtractError(reason)
            rec.etag, rec.last_modified = result.etag, result.last_modified
            text_hash = sha256(text)
            version = Version(text=text, text_hash=text_hash, extract_sig=rules.signature(), raw=result.body,
                              raw_hash=raw_hash, url=result.url,
                              # with the header's charset, so `reextract` decodes the body as this check did
                              content_type=result.content_type + (f"; charset={result.charset}" if result.charset
                                                                  else ""), origin=source.origin,
                              fetch_mode=result.mode)
            if state.snapshot_id is None:
                with budget.paused():
                    _load_text_stages()
                from monitor.classify import rules_version
                from monitor.classify import state as text_state
                from monitor.status import said_of

                rec.status, rec.version = "baseline", version
                # what the page says from the start: the status board has it, without an event
                budget.enter("classify")
                rec.said, rec.said_sig = said_of(text_state(text, page.company, budget=budget)), rules_version()
            elif text_hash == state.text_hash:
                rec.status, rec.pending_hash = "unchanged", None
                if raw_hash != state.raw_hash and state.extract_sig != rules.signature():
                    rec.version = None  # same text under new rules: nothing to store
            else:
                snap = rt.store.snapshot(state.snapshot_id)
                old_text = snap.text if snap else ""
                why = _confirm_reason(page, settings, old_text, text)
                # A page that suddenly lost most of its text is often a broken deploy or an error
                # page; one that flips between variants is an A/B test. Believe the new text only
                # when two fetches in a row show it: a fresh fetch now, or (pending_hash) the
                # last fetch of the previous check.
                if why and state.pending_hash != text_hash:
                    time.sleep(source.confirm_delay)
                    seen, what = _second_look(source, state, rules, budget)
                    if seen != text_hash:
                        rec.status = "unconfirmed"
                        # What the page showed last, unless that is the recorded text again.
                        rec.pending_hash = text_hash if seen is None else (None if seen == state.text_hash else seen)
                        # Keep the old validators, or a 304 would hide the new text from the next check.
                        rec.keep_validators = True
                        rec.etag, rec.last_modified = state.etag, state.last_modified
                        log.warning("%s: text %s but a second fetch showed %s; not recorded until confirmed",
                                    page.id, why, what)
                        text = None
                if text is not None:
                    with budget.paused():
                        _load_text_stages()
                    from monitor.classify import rules_version
                    from monitor.status import snapshot_state

                    found = compare(old_text, text, page.company,
                                    snapshot_state(rt.store, state.snapshot_id, old_text, page.company), budget)
                    rec.status, rec.version, rec.events = "changed", version, found.events
                    rec.added, rec.removed, rec.first_line = found.stats.added, found.stats.removed, \
                        found.stats.first_line
                    rec.pending_hash = None
                    rec.said, rec.said_sig = found.said, rules_version()
        if rec.gone:
            rec.events.append(EventDraft(kind="page_restored", quote=f"{page.url} answers again"))
        rec.failures, rec.gone = 0, False
    except StoreError as exc:  # reading the previous snapshot: the database's fault, not the page's
        log.error("%s: check not recorded: %s", page.id, exc)
        return CheckOutcome(page.id, "failed", error=str(exc), seconds=time.monotonic() - clock, unrecorded=True)
    except SourceUnavailable:
        raise
    except Exception as exc:  # the one error boundary of a check (see _failure)
        _fail(rec, state, settings, source, *_failure(exc, budget.stage, page.id))
    rec.finished_at = source.at or utcnow()
    try:
        recorded = _record(rt, rec, state, settings, source)
    except StoreError as exc:
        log.error("%s: check not recorded: %s", page.id, exc)
        return CheckOutcome(page.id, "failed", error=str(exc), seconds=time.monotonic() - clock, unrecorded=True)
    outcome = CheckOutcome(
        page_id=page.id, status="raced" if recorded.raced else rec.status, error=rec.error,
        http_status=rec.http_status, snapshot_id=recorded.snapshot_id, change_id=recorded.change_id,
        events=rec.events if not recorded.raced else [], event_ids=recorded.event_ids,
        added=rec.added, removed=rec.removed, seconds=time.monotonic() - clock,
        fetch_mode=rec.fetch_mode if rec.status != "failed" else None,
    )
    _log_outcome(page, outcome, rec)
    if page.follows and source.live and outcome.status in _FOLLOW_AFTER:
        from monitor.documents import followed_pages

        text = rec.version.text if rec.version is not None else _stored_text(rt, state.snapshot_id)
        outcome.follow = followed_pages(page, text)
    return check_documents(rt, outcome) if follow else outcome


def check_documents(rt: Runtime, outcome: CheckOutcome) -> CheckOutcome:
    """Check the documents a page's check found to follow, each with `check_page`."""
    outcome.documents = [check_page(rt, document) for document in outcome.follow]
    return outcome


def _record(rt: Runtime, rec: CheckRecord, state: PageState, settings: MonitorSettings, source: Source) -> Recorded:
    """Record the check; if what it found cannot be recorded for a reason other than the
    database (StoreError), record it as a failed check instead."""
    try:
        return rt.store.record(rec)
    except StoreError:
        raise
    except Exception as exc:
        if rec.status == "failed" and rec.version is None:
            raise  # nothing left to leave out
        _fail(rec, state, settings, source, *_failure(exc, "record", rec.page_id))
        return rt.store.record(rec)


# After these outcomes the page's document links are known (from the new text or the stored one);
# after a failure or a lost race they are not checked: the next check of the page does it.
_FOLLOW_AFTER = frozenset({"baseline", "changed", "unchanged", "not_modified", "unconfirmed"})


def _stored_text(rt: Runtime, snapshot_id: int | None) -> str:
    snapshot = rt.store.snapshot(snapshot_id) if snapshot_id is not None else None
    return snapshot.text if snapshot else ""


def _log_outcome(page: PageConfig, outcome: CheckOutcome, rec: CheckRecord) -> None:
    extra = {"page": page.id, "status": outcome.status}
    if outcome.failed:
        log.warning("%s: check failed: %s", page.id, outcome.error, extra=extra)
    elif outcome.status == "changed":
        log.info("%s: %s page changed: +%d -%d lines; first: %s", page.id, page.company, outcome.added,
                 outcome.removed, rec.first_line[:200], extra=extra)
    else:
        log.info("%s: %s", page.id, outcome.status, extra=extra)
    for event, event_id in zip(outcome.events, outcome.event_ids, strict=False):
        if event.kind == "changed":
            continue
        where = f" {event.jurisdiction or 'unspecified'}"
        how = f" [{event.evidence}, rule {event.rule}]" if event.rule else ""
        log.warning("%s: event %s%s #%d%s: %s", page.id, event.kind, where, event_id, how, (event.quote or "")[:300],
                    extra={**extra, "event": event.kind, "jurisdiction": event.jurisdiction})


def check_all(rt: Runtime, page_ids: list[str] | None = None) -> list[CheckOutcome]:
    pages = [rt.config.page(pid) for pid in page_ids] if page_ids else [p for p in rt.config.pages if p.enabled]
    return [check_page(rt, page) for page in pages]


def now() -> datetime:
    return utcnow()
