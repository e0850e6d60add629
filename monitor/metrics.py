"""Operators' view of `run`: Prometheus metrics at /metrics and a health answer at /healthz.

On only with `[metrics]` in the config; loopback addresses only unless `allow_remote = true`.

Two kinds of series:

* process series: what this process did since it started (checks by page and status, fetch
  time and body bytes, changes, events by kind, alert deliveries by sink and outcome, checks
  running, build info). With several `run` processes on one database each exports its own,
  and a sum over the processes is the whole.
* database series, labelled `source="database"`: what the shared database says (outbox rows
  by status, each page's time since its last successful check, failing and gone pages, claims
  held by each worker, live workers). Any process could read them, and a sum over processes
  would count them once per process; so exactly one exports them, the *exporter*: the live
  worker (fresh heartbeat in table `worker`) with the smallest name. Each process says whether
  it is the one in `policy_monitor_database_exporter`.

The database series are read with the heartbeat (every min(30 s, lease / 3)), never while
serving a request: a scrape costs no database work and cannot hang on a database that does
not answer. Label values are page ids, sink names (or hashed sink keys), worker names and
fixed words: no page text and no secret ever reaches a series or a health answer.

Per check the daemon adds a few counter increments and one histogram observation (a few µs
against a 1-5 ms re-check; bench/bench_metrics.py measures it).
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.config import Config, parse_listen
from monitor.models import utcnow
from monitor.redact import redact
from monitor.vocabulary import EVENT_KINDS, CheckStatus, DeliveryStatus

if TYPE_CHECKING:
    from monitor.alerts import DeliverySummary
    from monitor.check import CheckOutcome
    from monitor.store import Store

log = logging.getLogger("monitor.metrics")

PREFIX = "policy_monitor_"
TICK = 5.0  # seconds between the scheduler's health ticks
_TICK_GRACE = 6 * TICK  # a busy 2-core host can delay a tick; a stuck scheduler misses several
_DB_BUSY = 35.0  # SQLite's busy timeout (30 s) and a margin: a write may legitimately wait this long
_FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_DELIVERY_OUTCOMES = ("sent", "retry", "failed")
_MAX_CONNECTIONS = 16  # concurrent HTTP connections; more are closed at once
_REQUEST_TIMEOUT = 10.0  # seconds a connection may take to send its request


def version() -> str:
    try:
        return importlib.metadata.version("policy-monitor")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def one_line(text: str, limit: int = 300) -> str:
    """A reason fit for a one-line health answer: no secrets, no line breaks, bounded."""
    return redact(" ".join(str(text).split()))[:limit]


# -- health ----------------------------------------------------------------------------------


@dataclass
class Health:
    """What /healthz judges by. Monotonic times, updated by the daemon's threads."""

    tick_at: float = field(default_factory=time.monotonic)  # the scheduler's last health tick
    db_ok_at: float = field(default_factory=time.monotonic)  # the last database write that worked
    db_error: str | None = None  # the last database write failed with this (cleared by one that works)
    in_flight: int = 0  # page jobs running
    # When a check last finished, or when checks started running after an idle spell.
    progress_at: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tick(self) -> None:
        self.tick_at = time.monotonic()

    def check_started(self) -> None:
        with self.lock:
            if self.in_flight == 0:
                self.progress_at = time.monotonic()
            self.in_flight += 1

    def check_finished(self) -> None:
        with self.lock:
            self.in_flight -= 1
            self.progress_at = time.monotonic()

    def database_ok(self) -> None:
        self.db_ok_at = time.monotonic()
        self.db_error = None

    def database_failed(self, reason: str) -> None:
        self.db_error = one_line(reason)

    def problem(self, *, now: float, stopping: bool, scheduler_running: bool, stall_after: float,
                write_every: float) -> str | None:
        """Why this process is not healthy, in one line; None when it is.

        `write_every`: the longest a healthy daemon goes between database writes (its heartbeat).
        """
        if stopping:
            return "stopping"
        if not scheduler_running:
            return "scheduler not running"
        if now - self.tick_at > _TICK_GRACE:
            return f"scheduler stuck: no tick for {now - self.tick_at:.0f}s"
        if self.db_error:
            return f"database: {self.db_error}"
        silent = now - self.db_ok_at
        if silent > 3 * write_every + _DB_BUSY:
            return f"database: no successful write for {silent:.0f}s"
        with self.lock:
            running, since = self.in_flight, now - self.progress_at
        if running > 0 and since > stall_after:
            return f"checks stalled: {running} running, none finished for {since:.0f}s (limit {stall_after:.0f}s)"
        return None


# -- database series -------------------------------------------------------------------------


@dataclass
class _DatabaseView:
    """One read of the database's gauges, made by the exporter."""

    last_success: dict[str, float]  # page -> wall-clock start of its last successful check
    failing: int
    gone: int
    deliveries: dict[str, int]
    claims: dict[str, int]  # worker -> live claims
    workers: int


class DatabaseGauges(Collector):
    """The `source="database"` series, from the last `refresh` (None: not the exporter)."""

    def __init__(self, worker: str):
        self.worker = worker
        self.view: _DatabaseView | None = None
        self.pages: frozenset[str] = frozenset()  # configured, enabled: the only page labels
        # This process's successful checks since the last read: the age of a page it has just
        # checked drops at once, not at the next heartbeat.
        self.recent: dict[str, float] = {}

    def refresh(self, store: Store, alive_within: float) -> None:
        now = utcnow()
        alive = sorted(w.name for w in store.workers() if (now - w.seen_at).total_seconds() <= alive_within)
        if not alive or alive[0] != self.worker:
            self.view = None
            return
        failing = gone = 0
        last_success: dict[str, float] = {}
        claims: dict[str, int] = {}
        for page_id, success_at, failures, is_gone, holder, until in store.page_gauges():
            if holder and until and until > now:
                claims[holder] = claims.get(holder, 0) + 1
            if page_id not in self.pages:
                continue
            failing += failures > 0
            gone += is_gone
            if success_at is not None:
                last_success[page_id] = success_at.timestamp()
        waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)
        deliveries = {status.value: 0 for status in waiting}
        deliveries.update(store.delivery_counts())
        self.view = _DatabaseView(last_success, failing, gone, deliveries, claims, len(alive))

    def saw_success(self, page_id: str, started: float) -> None:
        self.recent[page_id] = started

    def configure(self, pages: frozenset[str]) -> None:
        self.pages = pages
        for page_id in [p for p in self.recent if p not in pages]:
            del self.recent[page_id]

    def describe(self) -> list[Any]:
        return []  # collect() is cheap, but registering must not depend on a first read

    def collect(self) -> Iterator[Any]:
        view = self.view
        exporter = GaugeMetricFamily(PREFIX + "database_exporter",
                                     "1 if this process exports the source=\"database\" series (the live worker "
                                     "with the smallest name), else 0")
        exporter.add_metric([], 1.0 if view else 0.0)
        yield exporter
        if view is None:
            return
        src = ["database"]
        gauge = GaugeMetricFamily(PREFIX + "deliveries", "Alert outbox rows by status (pending, sending, failed)",
                                  labels=["status", "source"])
        for status, count in sorted(view.deliveries.items()):
            gauge.add_metric([status, *src], count)
        yield gauge
        now = time.time()
        ages = GaugeMetricFamily(PREFIX + "page_last_success_age_seconds",
                                 "Seconds since the start of the page's last successful check (pages never "
                                 "checked successfully have no series)", labels=["page", "source"])
        recent = self.recent
        for page_id in sorted(self.pages):
            seen = max(view.last_success.get(page_id, 0.0), recent.get(page_id, 0.0))
            if seen:
                ages.add_metric([page_id, *src], max(0.0, now - seen))
        yield ages
        for name, value, text in (("pages_failing", view.failing, "Configured pages whose last check failed"),
                                  ("pages_gone", view.gone, "Configured pages in the page_gone state"),
                                  ("workers_alive", view.workers, "run processes with a fresh heartbeat")):
            family = GaugeMetricFamily(PREFIX + name, text, labels=["source"])
            family.add_metric(src, value)
            yield family
        claims = GaugeMetricFamily(PREFIX + "claims_held", "Live page claims, by the worker holding them",
                                   labels=["worker", "source"])
        for worker, count in sorted(view.claims.items()):
            claims.add_metric([worker, *src], count)
        yield claims


# -- process series --------------------------------------------------------------------------


class Metrics:
    """This process's registry; the daemon calls the record_* methods after each piece of work."""

    def __init__(self, worker: str, dialect: str, health: Health, healthy: Callable[[], bool]):
        disable_created_metrics()  # a second series per counter, which nobody queries
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.checks = Counter(PREFIX + "checks", "Page checks by page and outcome (status: baseline, unchanged, "
                              "not_modified, changed, unconfirmed, failed, raced; error: no check ran)",
                              ["page", "status"], registry=registry)
        self.fetch_seconds = Histogram(PREFIX + "fetch_seconds", "Time of each fetch, from its host's turn to the "
                                       "end of the body (retries and redirects included; failed fetches too)",
                                       buckets=_FETCH_BUCKETS, registry=registry)
        self.fetched_bytes = Counter(PREFIX + "fetched_bytes", "Response body bytes fetched (after decoding)",
                                     registry=registry)
        self.changes = Counter(PREFIX + "changes", "Changes recorded", registry=registry)
        self.events = Counter(PREFIX + "events", "Events recorded, by kind", ["kind"], registry=registry)
        self.deliveries = Counter(PREFIX + "alert_deliveries", "Alert delivery attempts by sink and outcome "
                                  "(sent; retry: failed, retried later; failed: given up)", ["sink", "outcome"],
                                  registry=registry)
        in_flight = Gauge(PREFIX + "checks_in_flight", "Page jobs of this process running now (claims held "
                          "while they check)", registry=registry)
        in_flight.set_function(lambda: float(health.in_flight))
        Gauge(PREFIX + "healthy", "1 while /healthz answers 200", registry=registry).set_function(
            lambda: 1.0 if healthy() else 0.0)
        Info(PREFIX + "build", "Version of this process", registry=registry).info({
            "version": version(), "python": platform.python_version(), "database": dialect})
        self.database = DatabaseGauges(worker)
        registry.register(self.database)
        self._check_series: dict[tuple[str, str], Any] = {}
        self._event_series = {kind: self.events.labels(kind) for kind in EVENT_KINDS}
        self._sinks: frozenset[str] = frozenset()

    def configure(self, config: Config) -> None:
        """Follow the config: series of pages and sinks no longer in it go (bounded label sets)."""
        pages = frozenset(page.id for page in config.pages if page.enabled)
        for key in [key for key in self._check_series if key[0] not in pages]:
            self.checks.remove(*key)
            del self._check_series[key]
        sinks = frozenset(sink.key for sink in config.alerts)
        for sink in self._sinks - sinks:
            for outcome in _DELIVERY_OUTCOMES:
                self.deliveries.remove(sink, outcome)
        for sink in sinks - self._sinks:
            for outcome in _DELIVERY_OUTCOMES:
                self.deliveries.labels(sink, outcome)  # present at 0 from the start
        self._sinks = sinks
        self.database.configure(pages)

    # The hot path: one check. Children are looked up once; after that an increment is a lock
    # and an addition.

    def record_check(self, page_id: str, status: str, outcome: CheckOutcome | None = None) -> None:
        series = self._check_series.get((page_id, status))
        if series is None and page_id in self.database.pages:  # (not one removed during its check)
            series = self._check_series[(page_id, status)] = self.checks.labels(page_id, status)
        if series is not None:
            series.inc()
        if outcome is None:
            return
        if status == CheckStatus.CHANGED:
            self.changes.inc()
        for event in outcome.events:
            counter = self._event_series.get(event.kind)
            if counter is None:  # a kind added elsewhere later: still counted
                counter = self._event_series[event.kind] = self.events.labels(event.kind)
            counter.inc()
        if not outcome.failed and status != CheckStatus.RACED:
            self.database.saw_success(page_id, time.time() - outcome.seconds)

    def observe_fetch(self, seconds: float, size: int) -> None:
        self.fetch_seconds.observe(seconds)
        if size:
            self.fetched_bytes.inc(size)

    def record_deliveries(self, summary: DeliverySummary) -> None:
        for (sink, outcome), count in summary.by_sink.items():
            # A sink removed from the config keeps failing its old rows: one label for all such.
            self.deliveries.labels(sink if sink in self._sinks else "(removed)", outcome).inc(count)


# -- the HTTP side ---------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    timeout = _REQUEST_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds are not news


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily):
        self.address_family = family
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        super().__init__(address, _QuietHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can wait on DNS; not needed here.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # a flood of connections gets closed, not a thread each
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up is its own business; socketserver would print a
        # traceback to stderr for each.
        log.debug("metrics request from %s failed", client_address, exc_info=True)


def make_app(registry: CollectorRegistry, problem: Callable[[], str | None]) -> Callable[..., Iterable[bytes]]:
    """/metrics (Prometheus text format, or OpenMetrics if asked), /healthz, nothing else."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path not in ("/metrics", "/healthz"):
            return _reply(start_response, "404 Not Found", "not found: see /metrics and /healthz")
        if method not in ("GET", "HEAD"):
            return _reply(start_response, "405 Method Not Allowed", "use GET", [("Allow", "GET, HEAD")])
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        reason = problem()
        return _reply(start_response, "503 Service Unavailable" if reason else "200 OK", reason or "ok")

    return app


def _reply(start_response: Callable[..., Any], status: str, text: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = (text + "\n").encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"),
                            ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


class MetricsServer:
    """The listening socket is bound at construction (a taken port fails at start, not later)."""

    def __init__(self, listen: str, app: Callable[..., Iterable[bytes]]):
        host, port = parse_listen(listen)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            family, _, _, _, address = infos[0]
            self.server = _Server((str(address[0]), int(address[1])), family)
        except OSError as exc:
            raise OSError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        self.server.set_app(app)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{f'[{host}]' if ':' in str(host) else host}:{port}"

    def start(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                       name="metrics", daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
        self.server.server_close()
