"""The alert stage: drain the outbox through Apprise, so that no alert is ever lost.

`Store.record` writes one `Delivery` row per (event, sink) in the same transaction as the
event, so an event is never recorded without its alerts. `deliver_pending` then sends what
is due:

* claim: a row goes pending -> sending with a conditional UPDATE (`claimed_by`,
  `claim_expires`); only the process whose UPDATE changed the row sends it, so two processes
  (cron `check` and a daemon, or several daemons on PostgreSQL) never send the same row twice.
* send: one Apprise plugin per sink and pass (Apprise's per-service rate limits hold), with the
  config's `timeout` as socket timeouts and a hard wall-clock bound on top.
* outcome: sent; or pending again with exponential backoff (jitter, capped) while younger than
  `alert_retry_for` (default 24h); or failed, with an ERROR log line. `alerts retry` requeues.
* isolation: sinks are sent to concurrently (a small thread pool); after a failure the pass
  skips that sink's other rows and defers them to the same retry time, so a sink that is down
  costs one timeout per pass and never delays the others.
* order: per sink, alerts go out in event order; a newer one never overtakes an older one
  still pending or being sent (one sender per sink at a time, across processes). New traffic
  for a sink whose oldest alert waits out its backoff retries that oldest one at once, so a
  sink that recovered is flushed oldest first ("paused" before "lifted").

Delivery is at-least-once. The edges: a process that dies after the receiver accepted a
message but before `sent` was committed leaves the row 'sending'; once its claim expires it is
pending again and is sent a second time. And a send that outlives its wall-clock bound is
counted as failed and retried, although the stuck request may still reach the receiver.

Webhook payloads: for `json://` (and `jsons://`) sinks Apprise's own payload
(`version`, `title`, `message`, `type`, ...) is extended with the event object's fields at
the top level (the webhook payload is the event object: docs/events.md), through the plugin's
payload extras (the same mechanism as `:key=value` in the URL, which still wins on a clash).
`form://` sinks get `kind`, `page`, `jurisdiction`, `event_id` and `event` (the JSON text).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.config import DOCUMENT_ID, AlertSink, Config
from monitor.errors import SendError
from monitor.models import Delivery, Event, utcnow
from monitor.redact import redact
from monitor.render import jurisdiction_label
from monitor.store import Store, worker_name
from monitor.vocabulary import PAUSE_KINDS, EventKind

if TYPE_CHECKING:
    from monitor.check import Runtime

log = logging.getLogger("monitor.alerts")

BACKOFF_FIRST = 30.0  # seconds before the first retry
BACKOFF_MAX = 3600.0  # retries are never further apart than this
MAX_SEND_THREADS = 4
_FIELD_SEP = " "


@dataclass
class DeliverySummary:
    """One `deliver_pending` pass. `failed`: deliveries whose send failed in this pass (retried
    later or given up, see `gave_up`), the count behind exit status 1 of `check`."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    gave_up: int = 0
    # (sink key, outcome) -> attempts in this pass; outcome: sent | retry | failed (given up)
    by_sink: dict[tuple[str, str], int] = field(default_factory=dict)

    def count(self, sink: str, outcome: str) -> None:
        self.by_sink[(sink, outcome)] = self.by_sink.get((sink, outcome), 0) + 1


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    payload: dict[str, Any]  # machine-readable fields for json:// and form:// webhooks


# -- messages ------------------------------------------------------------------------------------


_DOCUMENT_WORDS = {"report", "policy", "guidelines", "guide", "terms", "page", "principles", "statement", "faq",
                   "notice", "faqs", "handbook", "standards", "transparency"}


def page_label(page_id: str, company: str) -> str:
    """'microsoft-law-enforcement-report', 'Microsoft' -> 'law enforcement report'; a document
    followed from a page (monitor.documents) -> 'document linked from its law enforcement report'."""
    if DOCUMENT_ID.search(page_id):
        return f"document linked from its {page_label(DOCUMENT_ID.sub('', page_id), company)}"
    words = page_id.replace("_", "-").replace(".", "-").split("-")
    company_words = company.lower().split()
    if words[: len(company_words)] == company_words and len(words) > len(company_words):
        words = words[len(company_words):]
    label = " ".join(word for word in words if word)
    return label if words and words[-1] in _DOCUMENT_WORDS else f"{label} page"


# An alert's title per kind: {company}, {label} (what the page is), {where} (" from Hong Kong (HK)",
# or that the pause names no jurisdiction), {about} (how many changed sentences are about requests).
_TITLES = {
    EventKind.PAUSE_STARTED: "{company} paused government data requests{where}",
    EventKind.PAUSE_LIFTED: "{company} lifted its pause on government data requests{where}",
    EventKind.PAGE_GONE: "{company} {label} is gone",
    EventKind.PAGE_RESTORED: "{company} {label} is back",
    EventKind.CHANGED: "{company} {label} changed{about}",
}


def title_for(event: Event) -> str:
    count = len(event.relevant_sentences)
    return _TITLES.get(event.kind, _TITLES[EventKind.CHANGED]).format(  # an unknown kind (a newer database): changed
        company=event.company or event.page_id,
        label=page_label(event.page_id, event.company),
        where=f" from {jurisdiction_label(event.jurisdiction)}" if event.jurisdiction
        else " (jurisdiction unspecified)",
        about=f" ({count} relevant sentence{'s' if count != 1 else ''})" if count else "",
    )


def last_line(event: Event) -> str:
    """Machine-greppable last line: kind, page id, jurisdiction ('-' when there is none)."""
    return _FIELD_SEP.join((event.kind, event.page_id, event.jurisdiction or "-"))


def build_message(event: Event, old_text: str | None, new_text: str | None) -> Message:
    from monitor.diff import diff_lines, short_diff

    parts: list[str] = []
    relevant = event.relevant_sentences if event.kind == EventKind.CHANGED else []
    if relevant:
        # what a reader needs first: the added (+) and removed (-) sentences about government requests
        parts.append("About government data requests:\n" + "\n".join(relevant))
    elif event.quote and event.kind == EventKind.CHANGED:
        parts.append(f"First change: {event.quote}")
    elif event.quote and event.evidence == "statement_removed":
        parts.append(f"The page no longer says: “{event.quote}”")
    elif event.quote:
        parts.append(f"“{event.quote}”")
    if event.context and event.kind in PAUSE_KINDS:
        parts.append(f"Jurisdiction from: “{event.context}”")
    parts.append(f"Page: {event.url}")
    parts.append(f"Detected: {event.detected_at:%Y-%m-%d %H:%M:%S} UTC")
    if event.evidence:
        parts.append(f"Evidence: {event.evidence}" + (f" (rule {event.rule})" if event.rule else ""))
    if new_text is not None and old_text is not None and old_text != new_text:
        diff = short_diff(diff_lines(old_text, new_text))
        if diff:
            parts.append("Diff:\n" + diff)
    parts.append(last_line(event))
    return Message(title_for(event), "\n".join(parts), event.as_json())


def test_message(sink: AlertSink) -> Message:
    body = (f"Test message from policy-monitor on {socket.gethostname()} for sink {sink.key}.\n"
            "If you can read this, alerts to this sink work.\n"
            f"test{_FIELD_SEP}-{_FIELD_SEP}-")
    return Message("policy-monitor test message", body, {"kind": "test", "sink": sink.key})


# -- sending -------------------------------------------------------------------------------------


class _ErrorCapture(logging.Filter):
    """Apprise's plugins log why a send failed and return False. On the 'apprise' logger, this
    filter takes those lines from the threads that are sending (they become the delivery's
    error, logged once by us) and lets every other apprise line through."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        lines: list[str] | None = getattr(self.local, "lines", None)
        if lines is None:
            return True
        text = record.getMessage().strip().splitlines()
        if text and record.levelno >= logging.WARNING:
            lines.append(text[0][:300])
        return False

    def start(self) -> None:
        self.local.lines = []

    def take(self) -> list[str]:
        lines: list[str] = getattr(self.local, "lines", None) or []
        self.local.lines = None
        return lines


_capture = _ErrorCapture()
logging.getLogger("apprise").addFilter(_capture)


class Sender:
    """One Apprise plugin for one sink, reused for the rows of one pass."""

    def __init__(self, sink: AlertSink, timeout: float):
        import apprise

        self.sink = sink
        self.timeout = timeout
        try:
            plugin = apprise.Apprise.instantiate(sink.url, suppress_exceptions=False)
        except Exception as exc:
            raise SendError(f"not a usable Apprise URL: {redact(str(exc))}") from None
        if plugin is None:
            raise SendError("not a usable Apprise URL (unknown scheme or bad format)")
        # Apprise's defaults (4s connect, 4s read) suit chat services; honour the configured timeout.
        for attr in ("socket_connect_timeout", "socket_read_timeout"):
            if hasattr(plugin, attr):
                setattr(plugin, attr, float(timeout))
        self.plugin = plugin
        self.base_extras = dict(getattr(plugin, "payload_extras", None) or {})
        self.kind = type(plugin).__name__

    def send(self, message: Message) -> None:
        from apprise import NotifyFormat, NotifyType

        self._extras(message.payload)
        urgent = message.payload.get("kind") in (EventKind.PAUSE_STARTED, EventKind.PAGE_GONE)
        notify_type = NotifyType.WARNING if urgent else NotifyType.INFO
        result: dict[str, Any] = {}

        def run() -> None:
            _capture.start()
            try:
                result["ok"] = self.plugin.notify(body=message.body, title=message.title,
                                                  notify_type=notify_type, body_format=NotifyFormat.TEXT)
            except Exception as exc:  # a plugin bug is this sink's failure, not the pass's
                result["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                result["log"] = _capture.take()

        # Socket timeouts bound each I/O; this bounds the whole send (DNS, TLS, slow drip).
        thread = threading.Thread(target=run, daemon=True, name=f"send-{self.sink.key}")
        started = time.monotonic()
        thread.start()
        thread.join(self.timeout * 2 + 5)
        if thread.is_alive():
            raise SendError(f"no answer within {self.timeout * 2 + 5:.0f}s")
        if result.get("ok"):
            return
        detail = result.get("error") or "; ".join(result.get("log") or []) or "the service refused the message"
        # Apprise's warnings do not say "timed out"; the time taken tells a timeout from a refusal.
        raise SendError(redact(f"{detail} (after {time.monotonic() - started:.1f}s)"))

    def _extras(self, payload: dict[str, Any]) -> None:
        if not hasattr(self.plugin, "payload_extras"):
            return
        if self.kind == "NotifyJSON":
            # The user's own `:key=value` extras (renames included) win over the event's fields.
            self.plugin.payload_extras = {**payload, **self.base_extras}
        elif self.kind == "NotifyForm":
            import json

            flat = {"kind": payload.get("kind") or "", "page": payload.get("page") or "",
                    "jurisdiction": payload.get("jurisdiction") or "", "event_id": str(payload.get("id") or ""),
                    "event": json.dumps(payload, ensure_ascii=False)}
            self.plugin.payload_extras = {**flat, **self.base_extras}


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds until the next try after `attempts` failed ones: 30s, 1m, 2m, ... capped at 1h, ±20%."""
    base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))
    return base * (rng or random).uniform(0.8, 1.2)


def _texts(store: Store, event: Event, cache: dict[int, str]) -> tuple[str | None, str | None]:
    def text(snapshot_id: int | None) -> str | None:
        if snapshot_id is None:
            return None
        if snapshot_id not in cache:
            snap = store.snapshot(snapshot_id)
            cache[snapshot_id] = snap.text if snap else ""
        return cache[snapshot_id]

    if event.previous_snapshot_id is None:
        return None, None
    return text(event.previous_snapshot_id), text(event.snapshot_id)


def _describe(delivery: Delivery, event: Event) -> str:
    where = f" {event.jurisdiction}" if event.jurisdiction else ""
    return f"event #{event.id} {event.kind}{where} ({event.page_id}) to {delivery.sink}"


class _Pass:
    """One run of the deliverer over the due rows."""

    def __init__(self, store: Store, config: Config, now: datetime):
        self.store = store
        self.config = config
        self.now = now
        self.worker = f"{worker_name()}:{uuid.uuid4().hex[:8]}"  # unique per pass
        self.timeout = float(config.monitor.timeout)
        # A claim outlives the longest possible send, so only a dead sender's claim expires.
        self.claim_for = timedelta(seconds=self.timeout * 2 + 5 + 30)
        self.retry_for = timedelta(seconds=config.monitor.alert_retry_for)
        self.summary = DeliverySummary()
        self.lock = threading.Lock()
        self.texts: dict[int, str] = {}

    def run(self) -> DeliverySummary:
        released = self.store.release_stale_deliveries(self.now)
        if released:
            log.warning("%d alert deliveries were left 'sending' by a process that stopped; sending them again "
                        "(a receiver may get such an alert twice)", released)
        sinks = {key: sink for sink in self.config.alerts for key in sink.keys}
        due = self.store.due_deliveries(self.now)  # in event order
        if any(delivery.sink not in sinks for delivery, _ in due) and self._adopt_orphans(sinks):
            due = self.store.due_deliveries(self.now)
        by_sink: dict[str, list[tuple[Delivery, Event]]] = defaultdict(list)
        orphans: list[tuple[Delivery, Event]] = []
        for delivery, event in due:
            sink = sinks.get(delivery.sink)
            if sink is None:
                orphans.append((delivery, event))
            else:
                by_sink[sink.key].append((delivery, event))
        for delivery, event in orphans:
            if self._claim(delivery):
                self._attempt_failed(delivery, event, "the sink is no longer in the config (a sink keeps its "
                                     "alerts across URL changes when it has a `name`)", final=True)
        work = [(sinks[key], rows) for key, rows in by_sink.items()]
        if work:
            with ThreadPoolExecutor(max_workers=min(MAX_SEND_THREADS, len(work)),
                                    thread_name_prefix="alert") as pool:
                for future in [pool.submit(self._sink_rows, sink, rows) for sink, rows in work]:
                    future.result()
        self.summary.pending = self.store.count_deliveries("pending")
        return self.summary

    def _adopt_orphans(self, sinks: dict[str, AlertSink]) -> bool:
        """A sink without a `name` is known by its URL, so a new URL makes it a new sink and its
        pending alerts orphans. When exactly one sink key with pending rows is gone from the
        config and exactly one unnamed sink is new to the outbox, they are the same sink: its
        rows follow it. Anything less clear is left alone (the rows fail, saying why)."""
        known = self.store.sink_keys()
        gone = self.store.sink_keys("pending") - set(sinks)
        new = [sink for sink in self.config.alerts if sink.name is None and not known.intersection(sink.keys)]
        if len(gone) != 1 or len(new) != 1:
            return False
        old = gone.pop()
        moved = self.store.rehome_deliveries(old, new[0].key)
        log.warning("%d pending alerts of sink %s, no longer in the config, go to sink %s, the one new sink "
                    "(its URL changed?); give sinks a `name` to keep their identity explicit", moved, old, new[0].key)
        return moved > 0

    def _sink_rows(self, sink: AlertSink, rows: list[tuple[Delivery, Event]]) -> None:
        try:
            sender = Sender(sink, self.timeout)
        except SendError as exc:
            for delivery, event in rows:
                if self._claim(delivery):
                    self._attempt_failed(delivery, event, str(exc), final=True)
            return
        for delivery, event in rows:
            if not self._claim(delivery):
                return  # another pass took it (and the sink's next rows: none may overtake it)
            old, new = _texts(self.store, event, self.texts)
            try:
                sender.send(build_message(event, old, new))
            except SendError as exc:
                until = self._attempt_failed(delivery, event, str(exc))
                if until is not None:
                    # The sink is down: its other rows wait for the same retry instead of each
                    # costing a timeout now (only new traffic brings the retry forward).
                    self.store.defer_sink(sink.keys, until)
                return
            if self.store.finish_delivery(delivery.id or 0, self.worker, status="sent", now=utcnow()):
                with self.lock:
                    self.summary.sent += 1
                    self.summary.count(delivery.sink, "sent")
                log.info("alert sent: %s", _describe(delivery, event),
                         extra={"page": event.page_id, "event": event.kind, "sink": delivery.sink})
            else:
                log.warning("alert sent but its claim was lost (too slow?): %s; it may be sent again",
                            _describe(delivery, event))

    def _attempt_failed(self, delivery: Delivery, event: Event, error: str, final: bool = False) -> datetime | None:
        """Record a failed attempt of a row this pass claimed: retry later, or give up.
        Returns the retry time, if any."""
        now = utcnow()
        error = redact(error)
        attempts = delivery.attempts + 1
        give_up = final or delivery.created_at + self.retry_for <= now
        until = None if give_up else now + timedelta(seconds=backoff(attempts))
        self.store.finish_delivery(delivery.id or 0, self.worker, status="failed" if give_up else "pending",
                                   now=now, error=error, next_attempt_at=until)
        with self.lock:
            self.summary.failed += 1
            self.summary.gave_up += int(give_up)
            self.summary.count(delivery.sink, "failed" if give_up else "retry")
        extra = {"page": event.page_id, "event": event.kind, "sink": delivery.sink}
        if give_up:
            log.error("alert delivery failed for good after %d attempts: %s: %s (`policy-monitor alerts retry` "
                      "requeues it)", attempts, _describe(delivery, event), error, extra=extra)
        else:
            log.warning("alert delivery failed (attempt %d, next at %s): %s: %s", attempts,
                        f"{until:%H:%M:%S}Z" if until else "-", _describe(delivery, event), error, extra=extra)
        return until

    def _claim(self, delivery: Delivery) -> bool:
        return self.store.claim_delivery(delivery.id or 0, self.worker, utcnow() + self.claim_for)


def deliver_pending(rt: Runtime, now: datetime | None = None) -> DeliverySummary:
    """Send every due outbox row once; never raises for a failing sink."""
    if not rt.config.alerts and rt.store.count_deliveries("pending") == 0:
        return DeliverySummary()
    return _Pass(rt.store, rt.config, now or utcnow()).run()
