"""One check of one page: fetch -> extract -> compare -> diff -> classify -> record.

`check_page` is the only path through the pipeline; the daemon, the CLI, the demo and the
tests all call it. Stages are pure functions (extract, diff, classify) with I/O at the ends
(fetch, record).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from monitor.classify import classify
from monitor.config import Config, MonitorSettings, PageConfig
from monitor.diff import diff_lines, stats
from monitor.documents import followed_pages
from monitor.extract import ExtractError, Rules, extract
from monitor.fetch import Fetcher, FetchError, FetchResult, policy_from_settings
from monitor.models import utcnow
from monitor.store import CheckRecord, EventDraft, PageState, Store, StoreError, Version, sha256

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
    """What a check needs: config, database and a shared fetcher (per-host politeness)."""

    config: Config
    store: Store
    fetcher: Fetcher

    @classmethod
    def open(cls, config: Config, store: Store | None = None, fetcher: Fetcher | None = None) -> Runtime:
        store = store or Store(config.monitor.database)
        store.sync_pages(config.pages)
        return cls(config, store, fetcher or Fetcher(policy_from_settings(config.monitor)))

    def close(self) -> None:
        self.fetcher.close()
        self.store.close()


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


def _second_look(rt: Runtime, page: PageConfig, state: PageState, rules: Rules) -> tuple[str | None, str]:
    """The hash of the text a fresh fetch shows now (None if it failed), and a word for the log."""
    try:
        _, again, _ = _fetch_text(rt, page, state, rules, conditional=False)
    except (FetchError, ExtractError) as exc:
        return None, f"a failure ({exc})"
    if again is None:  # byte-identical to the stored body: the previous text
        return state.text_hash, "the previous text"
    if soft_error(again):
        return None, "an error page"
    return sha256(again), "the previous text" if sha256(again) == state.text_hash else "yet another text"


def _fetch_text(rt: Runtime, page: PageConfig, state: PageState, rules: Rules,
                conditional: bool = True) -> tuple[FetchResult, str | None, str | None]:
    """Fetch and extract; the text is None when the raw body is the stored one (no work needed)."""
    result = rt.fetcher.fetch(
        page.url,
        etag=state.etag if conditional and state.snapshot_id else None,
        last_modified=state.last_modified if conditional and state.snapshot_id else None,
    )
    if result.not_modified:
        return result, None, None
    raw_hash = sha256(result.body)
    if raw_hash == state.raw_hash and state.extract_sig == rules.signature() and (
            rules.links == "none" or state.url == result.url):
        return result, None, raw_hash  # byte-identical body, same rules (and base for links): same text
    text = extract(result.body, content_type=result.content_type, charset=result.charset, rules=rules,
                   url=result.url)
    return result, text, raw_hash


def check_page(rt: Runtime, page: PageConfig, state: PageState | None = None, *,
               follow: bool = True) -> CheckOutcome:
    """Check one page now and record the outcome; never raises for a bad page or server.

    `state`: the page's stored state when the caller has just read it (a claim returns it).
    A page with `follow` then has its document links checked the same way, each as a page of
    its own (`outcome.documents`; monitor.documents), unless `follow` is False: a caller that
    holds the page's host turn checks them with `check_documents` once it has let the turn go.
    """
    started = utcnow()
    clock = time.monotonic()
    settings = rt.config.monitor
    sinks = rt.config.alerts
    if state is None:
        state = rt.store.page_state(page.id)
    rules = Rules.of(page)
    rec = CheckRecord(page_id=page.id, company=page.company, url=page.url, status="failed",
                      started_at=started, finished_at=started, etag=state.etag,
                      last_modified=state.last_modified, previous_snapshot_id=state.snapshot_id,
                      sinks=sinks, failures=state.failures, gone=state.gone, pending_hash=state.pending_hash)
    old_text: str | None = None
    try:
        result, text, raw_hash = _fetch_text(rt, page, state, rules)
        rec.http_status = result.status
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
                                                                  else ""))
            if state.snapshot_id is None:
                rec.status, rec.version = "baseline", version
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
                    time.sleep(settings.confirm_delay)
                    seen, what = _second_look(rt, page, state, rules)
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
                    ops = diff_lines(old_text, text)
                    diff_stats = stats(ops)
                    rec.status, rec.version = "changed", version
                    rec.added, rec.removed, rec.first_line = diff_stats.added, diff_stats.removed, diff_stats.first_line
                    rec.pending_hash = None
                    rec.events.append(EventDraft(kind="changed", quote=diff_stats.first_line[2:] or None))
                    rec.events.extend(
                        EventDraft(kind=f.kind, jurisdiction=f.jurisdiction, quote=f.quote, evidence=f.evidence,
                                   rule=f.rule)
                        for f in classify(old_text, text, page.company)
                    )
        if rec.gone:
            rec.events.append(EventDraft(kind="page_restored", quote=f"{page.url} answers again"))
        rec.failures, rec.gone = 0, False
    except (FetchError, ExtractError) as exc:
        rec.status = "failed"
        rec.error = exc.reason if isinstance(exc, FetchError) else str(exc)
        rec.http_status = exc.http_status if isinstance(exc, FetchError) else rec.http_status
        rec.failures = state.failures + 1
        rec.version = None
        rec.events = []
        if not state.gone and rec.failures >= settings.gone_after:
            rec.gone = True
            rec.events.append(EventDraft(
                kind="page_gone",
                quote=f"{rec.failures} consecutive failed checks; last: {rec.error}",
            ))
    rec.finished_at = utcnow()
    try:
        recorded = rt.store.record(rec)
    except StoreError as exc:
        log.error("%s: check not recorded: %s", page.id, exc)
        return CheckOutcome(page.id, "failed", error=str(exc), seconds=time.monotonic() - clock)
    outcome = CheckOutcome(
        page_id=page.id, status="raced" if recorded.raced else rec.status, error=rec.error,
        http_status=rec.http_status, snapshot_id=recorded.snapshot_id, change_id=recorded.change_id,
        events=rec.events if not recorded.raced else [], event_ids=recorded.event_ids,
        added=rec.added, removed=rec.removed, seconds=time.monotonic() - clock,
    )
    _log_outcome(page, outcome, rec)
    if page.follows and outcome.status in _FOLLOW_AFTER:
        text = rec.version.text if rec.version is not None else _stored_text(rt, state.snapshot_id)
        outcome.follow = followed_pages(page, text)
    return check_documents(rt, outcome) if follow else outcome


def check_documents(rt: Runtime, outcome: CheckOutcome) -> CheckOutcome:
    """Check the documents a page's check found to follow, each with `check_page`."""
    outcome.documents = [check_page(rt, document) for document in outcome.follow]
    return outcome


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
        where = f" {event.jurisdiction}" if event.jurisdiction else ""
        how = f" [{event.evidence}, rule {event.rule}]" if event.rule else ""
        log.warning("%s: event %s%s #%d%s: %s", page.id, event.kind, where, event_id, how, (event.quote or "")[:300],
                    extra={**extra, "event": event.kind, "jurisdiction": event.jurisdiction})


def check_all(rt: Runtime, page_ids: list[str] | None = None) -> list[CheckOutcome]:
    pages = [rt.config.page(pid) for pid in page_ids] if page_ids else [p for p in rt.config.pages if p.enabled]
    return [check_page(rt, page) for page in pages]


def now() -> datetime:
    return utcnow()
