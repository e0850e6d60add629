"""`policy-monitor run`: APScheduler 3 drives `check_page` for every page, forever.

One interval job per page (jitter, coalescing, max_instances=1) on a bounded worker pool.
The first run of each page follows from its last check in the database, so a restart does
not re-check everything at once, while overdue and never-checked pages run within seconds.
SIGTERM/SIGINT stop taking work and let in-flight checks finish within a bound; SIGHUP
reloads the config (a broken one is reported and the old one kept).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import random
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger

from monitor.check import Runtime
from monitor.config import Config, ConfigError, PageConfig, load_config
from monitor.coordinate import Refused, alive_within, check_claimed, heartbeat_every
from monitor.metrics import TICK, Health, Metrics, MetricsServer, make_app
from monitor.redact import redact_database_url
from monitor.sdnotify import Notifier
from monitor.store import StoreError, worker_name
from monitor.vocabulary import CheckStatus

log = logging.getLogger("monitor.daemon")

STOP_GRACE = 30.0  # seconds in-flight checks get to finish after SIGTERM
_DATABASE_WAITS = 60.0  # a check may wait out SQLite's busy timeout (30 s) to claim and to record
_DUE_SPREAD = 10.0  # overdue pages start within this many seconds, spread out
# ...or, when many are due (first start with 10,000 pages), over as long as it takes to start
# this many per second per worker: a backlog queued all at once holds memory for every page.
_START_RATE = 20.0
_PAGE_PREFIX = "page:"


def first_run(last_checked: datetime | None, interval: float, now: datetime,
              spread_max: float = _DUE_SPREAD) -> datetime:
    """When a page's first check after (re)start should run."""
    spread = timedelta(seconds=random.uniform(0.5, min(spread_max, max(interval, 1.0))))
    if last_checked is None:
        return now + spread
    due = last_checked + timedelta(seconds=interval)
    return max(due, now + spread)


class Daemon:
    def __init__(self, config_path: Path | None, config: Config, notifier: Notifier | None = None):
        self.config_path = config_path
        self.worker = worker_name()
        # No other live process on the database (as of the last heartbeat): claims need no pre-read.
        self.alone = False
        self.health = Health()
        self.metrics: Metrics | None = None
        self.server: MetricsServer | None = None
        if config.metrics is not None:
            dialect = "postgresql" if config.monitor.database.startswith("postgresql") else "sqlite"
            self.metrics = Metrics(self.worker, dialect, self.health, lambda: self.health_problem() is None)
            self.metrics.configure(config)
            # Bound before anything else: a taken port is a start-up error, like a bad config.
            try:
                self.server = MetricsServer(config.metrics.listen, make_app(self.metrics.registry,
                                                                            self.health_problem))
            except OSError as exc:
                raise ConfigError([f"key 'metrics.listen': {exc}"]) from None
        self.rt = Runtime.open(config)
        if self.metrics is not None:
            self.rt.fetcher.observer = self.metrics.observe_fetch
        self.notifier = notifier or Notifier()
        self.stop_event = threading.Event()
        self.reload_requested = threading.Event()
        self.wake = threading.Event()
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(config.monitor.workers),
                # Alerts and the watchdog never wait behind slow page checks.
                "service": ThreadPoolExecutor(2),
                # The health tick never waits behind a database that does not answer.
                "health": ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self.checks_done = 0
        # Page jobs running right now; shutdown waits for them to reach 0 (see shutdown()).
        self._in_flight = 0
        self._idle = threading.Condition()
        # When each worker thread's page job started (the watchdog tells progress from a hang).
        self._running: dict[int, float] = {}
        self._workers = config.monitor.workers
        self.stuck_after = check_bound(config, self.rt.fetcher.policy.longest_fetch)
        self.started_at = datetime.now(UTC)
        self.last_change: str | None = None
        self._report_lock = threading.Lock()
        self._report_wanted = False  # a change came after the running rebuild read the database
        self._report_running = False
        # APScheduler warns once per skipped run; under overload that is a line per page per
        # interval. We count skips and say it once a minute instead.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        self._skipped = 0
        self._skipped_since = time.monotonic()
        self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)

    # -- jobs ----------------------------------------------------------------------------------

    def _check_job(self, page_id: str) -> None:
        # Counted before the stop test: a job that saw no stop is one that shutdown waits for.
        with self._idle:
            self._in_flight += 1
            self._running[threading.get_ident()] = time.monotonic()
        self.health.check_started()
        try:
            self._check_page(page_id)
        finally:
            self.health.check_finished()
            with self._idle:
                self._in_flight -= 1
                self._running.pop(threading.get_ident(), None)
                self._idle.notify_all()

    def _check_page(self, page_id: str) -> None:
        if self.stop_event.is_set():
            return  # queued behind a backlog when SIGTERM came: shutdown must not run it
        try:
            page = self.rt.config.page(page_id)
        except KeyError:
            return  # removed by a reload while queued
        try:
            # Claimed first: with several processes on one database, only one checks a page
            # per interval (monitor.coordinate); a refused claim re-aims this job instead.
            outcome = check_claimed(self.rt, page, self.worker, self.alone)
            if isinstance(outcome, Refused):
                self._reaim(page, outcome.due)
                return
        except StoreError as exc:
            log.error("%s: cannot claim the page: %s", page_id, exc)
            self.health.database_failed(str(exc))
            if self.metrics:
                self.metrics.record_check(page_id, "error")
            return
        except Exception:  # a bug must not kill the daemon; it is logged with its traceback
            log.exception("%s: unexpected error during check", page_id)
            if self.metrics:
                self.metrics.record_check(page_id, "error")
            return
        self.checks_done += 1
        if outcome.unrecorded:
            self.health.database_failed(outcome.error or "check not recorded")
        else:
            self.health.database_ok()
        if self.metrics:
            self.metrics.record_check(page_id, outcome.status, outcome)
        if any(checked.status == CheckStatus.CHANGED for checked in outcome.with_documents()):
            self.last_change = f"{page_id} at {datetime.now(UTC):%Y-%m-%d %H:%M}Z"
            self._deliver()
            self._rebuild_report()

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        if not str(event.job_id).startswith(_PAGE_PREFIX):
            return
        self._skipped += 1
        elapsed = time.monotonic() - self._skipped_since
        if elapsed >= 60:
            log.warning("%d page checks skipped in the last %.0fs because the previous check of the same page "
                        "was still running: too few workers (%d) for these intervals, or slow servers",
                        self._skipped, elapsed, self.rt.config.monitor.workers)
            self._skipped, self._skipped_since = 0, time.monotonic()

    def _reaim(self, page: PageConfig, due: datetime) -> None:
        """Next try when the page falls due (or its claim lapses), in phase with its real last check."""
        with contextlib.suppress(JobLookupError):  # removed by a reload meanwhile
            self.scheduler.modify_job(_PAGE_PREFIX + page.id, next_run_time=due)

    def _heartbeat_job(self) -> None:
        try:
            self.rt.store.heartbeat(self.worker, self.started_at, self.checks_done)
            self.health.database_ok()
            self.alone = self._alone()
        except Exception as exc:  # a database hiccup must not stop the scheduler's service jobs
            log.warning("heartbeat not recorded: %s", exc)
            self.health.database_failed(str(getattr(exc, "orig", None) or exc))  # the driver's words, not the SQL
            return
        if self.metrics:
            try:
                self.metrics.database.refresh(self.rt.store, alive_within(self.rt.config.monitor.lease))
            except Exception as exc:
                self.metrics.database.view = None
                log.warning("database metrics not read: %s", exc)

    def _alone(self) -> bool:
        """Whether no other process has shown a heartbeat within the liveness window. One that
        starts meanwhile is safe: a claim is one conditional UPDATE either way (monitor.coordinate)."""
        since = datetime.now(UTC) - timedelta(seconds=alive_within(self.rt.config.monitor.lease))
        return not any(w.name != self.worker and w.seen_at > since for w in self.rt.store.workers())

    def _tick_job(self) -> None:
        self.health.tick()

    def health_problem(self) -> str | None:
        """Why /healthz answers 503, or None for 200."""
        config = self.rt.config
        return self.health.problem(now=time.monotonic(), stopping=self.stop_event.is_set(),
                                   scheduler_running=self.scheduler.state == STATE_RUNNING,
                                   stall_after=config.stall_after(),
                                   write_every=heartbeat_every(config.monitor.lease))

    def _deliver(self) -> None:
        from monitor.alerts import deliver_pending

        try:
            summary = deliver_pending(self.rt)
            if self.metrics:
                self.metrics.record_deliveries(summary)
        except StoreError as exc:
            log.error("alert delivery: %s", exc)
        except Exception:
            log.exception("alert delivery failed unexpectedly")

    def _rebuild_report(self) -> None:
        """Bring the report up to date. A rebuild is incremental (monitor.report), but the first
        one after an upgrade rebuilds everything: a worker that finds one running leaves its
        change to it (one more pass) and goes back to checking pages instead of queueing."""
        if self.rt.config.report is None:
            return
        from monitor.report import build_report

        with self._report_lock:
            self._report_wanted = True
            if self._report_running:
                return
            self._report_running = True
        try:
            while True:
                with self._report_lock:
                    if not self._report_wanted or self.stop_event.is_set():
                        return
                    self._report_wanted = False
                report = self.rt.config.report
                try:
                    if report is not None:
                        build_report(self.rt.store, self.rt.config, Path(report.out))
                except Exception:
                    log.exception("report rebuild failed")
        finally:
            with self._report_lock:
                self._report_running = False

    def _refresh_statements(self) -> None:
        """After an upgrade of the classifier: recompute what each page says (no events), off the check path."""
        from monitor.status import refresh

        try:
            done = refresh(self.rt.store, {page.id: page.company for page in self.rt.config.pages})
            if done:
                log.info("status board: recomputed what %d pages say under the current classifier rules", done)
        except Exception:
            log.exception("status board refresh failed")

    def _watchdog_job(self) -> None:
        # Runs inside the scheduler: if the scheduler's loop hangs, pets stop and systemd restarts
        # us. So do they when every worker hangs in a check: the loop alone is no progress.
        stuck = self._stuck_workers()
        if stuck:
            log.error("every worker (%d) has been in one page check for more than %.0fs, longer than any check "
                      "can take: not telling systemd the service is alive, so that it restarts it",
                      stuck, self.stuck_after)
            return
        self.notifier.watchdog()
        self.notifier.status(self._status_text())

    def _stuck_workers(self) -> int:
        """How many workers hang, if all of them do (0 while any worker is free or within bounds)."""
        now = time.monotonic()
        with self._idle:
            started = list(self._running.values())
        if len(started) < self._workers or any(now - t <= self.stuck_after for t in started):
            return 0
        return len(started)

    def _status_text(self) -> str:
        pages = len([p for p in self.rt.config.pages if p.enabled])
        last = f"; last change {self.last_change}" if self.last_change else ""
        return f"{pages} pages, {self.checks_done} checks since start{last}"

    # -- schedule ------------------------------------------------------------------------------

    def _page_job_args(self, page: PageConfig) -> dict[str, Any]:
        config = self.rt.config
        return {"interval": config.interval_of(page), "jitter": config.jitter_of(page)}

    def _schedule_page(self, page: PageConfig, last_checked: datetime | None, now: datetime,
                       spread: float = _DUE_SPREAD) -> None:
        spec = self._page_job_args(page)
        start = first_run(last_checked, spec["interval"], now, spread)
        trigger = IntervalTrigger(seconds=spec["interval"], start_date=start,
                                  jitter=int(spec["jitter"]) or None, timezone=UTC)
        # next_run_time explicitly: jobs added before scheduler.start() get their first run
        # computed at start, and a start_date that passed meanwhile (building 10,000 jobs takes
        # seconds) would skip a whole interval; a past next_run_time simply runs at once.
        self.scheduler.add_job(self._check_job, trigger, args=[page.id], id=_PAGE_PREFIX + page.id,
                               name=page.id, replace_existing=True, next_run_time=start)

    def build_schedule(self) -> None:
        now = datetime.now(UTC)
        config = self.rt.config
        last = self.rt.store.last_checked()
        pages = [page for page in config.pages if page.enabled]
        due = sum(1 for p in pages if last.get(p.id) is None
                  or last[p.id] + timedelta(seconds=config.interval_of(p)) <= now)  # type: ignore[operator]
        spread = max(_DUE_SPREAD, due / (_START_RATE * config.monitor.workers))
        for page in pages:
            self._schedule_page(page, last.get(page.id), now, spread)
        self.scheduler.add_job(self._deliver, "interval", seconds=self.rt.config.monitor.alert_interval,
                               id="deliver", executor="service", replace_existing=True)
        self.scheduler.add_job(self._refresh_statements, id="statements", executor="service", replace_existing=True,
                               next_run_time=now)
        self.scheduler.add_job(self._heartbeat_job, "interval", seconds=heartbeat_every(self.rt.config.monitor.lease),
                               id="heartbeat", executor="service", replace_existing=True, next_run_time=now)
        self.scheduler.add_job(self._tick_job, "interval", seconds=TICK, id="health-tick", executor="health",
                               replace_existing=True, next_run_time=now)
        pet = self.notifier.watchdog_interval()
        if pet:
            self.scheduler.add_job(self._watchdog_job, "interval", seconds=pet, id="watchdog",
                                   executor="service", replace_existing=True, next_run_time=now)

    def reload(self) -> None:
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused, keeping the running config: %s", problem)
            self.notifier.ready(self._status_text())
            return
        old = self.rt.config
        if new.monitor.database != old.monitor.database:
            log.warning("reload: a new database URL needs a restart; keeping %s", "the current database")
            new = new.model_copy(update={"monitor": new.monitor.model_copy(
                update={"database": old.monitor.database})})
        if new.metrics != old.metrics:
            log.warning("reload: a change to [metrics] needs a restart; keeping the current one")
            new = new.model_copy(update={"metrics": old.metrics})
        from monitor.redact import register_secret_url

        for sink in new.alerts:
            register_secret_url(sink.url)
        self.rt.store.sync_pages(new.pages)
        _report_browser_problems(new)
        old_pages = {p.id: p for p in old.pages if p.enabled}
        new_pages = {p.id: p for p in new.pages if p.enabled}
        self.rt.config = new
        if self.metrics:
            self.metrics.configure(new)
        self.stuck_after = check_bound(new, self.rt.fetcher.policy.longest_fetch)
        now = datetime.now(UTC)
        last = self.rt.store.last_checked()
        added = removed = changed = 0
        for pid in old_pages.keys() - new_pages.keys():
            self.scheduler.remove_job(_PAGE_PREFIX + pid)
            removed += 1
        for pid, page in new_pages.items():
            before = old_pages.get(pid)
            if before is None:
                added += 1
            elif (old.interval_of(before), old.jitter_of(before)) != (new.interval_of(page), new.jitter_of(page)):
                changed += 1
            else:
                continue  # same schedule; the job reads the new page settings at run time
            self._schedule_page(page, last.get(pid), now)
        log.info("config reloaded: %d pages (%d added, %d removed, %d rescheduled)",
                 len(new_pages), added, removed, changed)
        self.notifier.ready(self._status_text())

    # -- lifecycle -----------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        self.stop_event.set()
        self.wake.set()

    def request_reload(self, *_: Any) -> None:
        self.reload_requested.set()
        self.wake.set()

    def run(self) -> int:
        _report_browser_problems(self.rt.config)
        self.build_schedule()
        self.scheduler.start()
        pages = len([p for p in self.rt.config.pages if p.enabled])
        log.info("policy-monitor running: %d pages, database %s", pages,
                 redact_database_url(self.rt.config.monitor.database))
        if self.server:
            self.server.start()
            log.info("metrics on %s/metrics, health on %s/healthz", self.server.url, self.server.url)
        self.notifier.ready(self._status_text())
        while not self.stop_event.is_set():
            self.wake.wait(timeout=60)
            self.wake.clear()
            if self.reload_requested.is_set() and not self.stop_event.is_set():
                self.reload_requested.clear()
                self.reload()
        return self.shutdown()

    def shutdown(self) -> int:
        log.info("stopping: no new checks; waiting up to %.0fs for checks in flight", STOP_GRACE)
        self.notifier.stopping()
        self.stop_event.set()  # jobs still queued return at once, without touching the scheduler
        self.scheduler.pause()
        give_up = time.monotonic() + STOP_GRACE
        # Page checks in flight are waited for here, not by scheduler.shutdown(wait=True): that
        # holds the scheduler's job store lock while it waits, and a check refused meanwhile
        # re-aims its job (modify_job takes that same lock), so both would hang until STOP_GRACE.
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=STOP_GRACE)
        done = threading.Event()

        def _wait() -> None:
            self.scheduler.shutdown(wait=True)  # now only service jobs (alerts) can be running
            done.set()

        threading.Thread(target=_wait, daemon=True, name="shutdown").start()
        finished = done.wait(max(give_up - time.monotonic(), 0.0))
        if not finished:
            # Each check records in one transaction, so abandoning one mid-way loses nothing.
            log.warning("checks still running after %.0fs; exiting without them", STOP_GRACE)
        try:
            # Claims of checks abandoned above go back now instead of after the lease.
            self.rt.store.release_claims(self.worker)
            self.rt.store.remove_worker(self.worker)
        except Exception as exc:
            log.warning("could not release claims: %s", exc)
        try:
            self.rt.close()
        except Exception:
            log.exception("error while closing")
        if self.server:
            self.server.close()  # last: /healthz said "stopping" (503) while checks drained
        log.info("stopped")
        logging.shutdown()
        if not finished:
            os._exit(0)
        return 0


def check_bound(config: Config, longest_fetch: float) -> float:
    """Seconds past which a page's job is hung, not slow. One check: two fetches (a confirming
    second look) with their waits for the host, the pause between them, the work budget twice (CPU
    seconds; the workers share the interpreter, so it can take that many times longer) and the
    database. A page that follows documents checks each of them in the same job, as a check of its
    own with the page's budget: up to `follow_max` more."""
    settings = config.monitor

    def one_check(budget: float) -> float:
        return 2 * longest_fetch + settings.confirm_delay + 2 * budget * settings.workers + _DATABASE_WAITS

    return max((one_check(config.work_budget_of(page)) * (1 + (page.follow_max if page.follows else 0))
                for page in config.pages), default=one_check(settings.work_budget))


def _report_browser_problems(config: Config) -> None:
    """Pages this machine cannot render, said at start and reload; the other pages run on."""
    from monitor.fetchmode import browser_problems

    errors, warnings = browser_problems(config)
    for problem in errors:
        log.error("%s; its checks fail until then", problem)
    for problem in warnings:
        log.warning("%s", problem)


def run_daemon(config_path: Path | None, log_format: str | None = None) -> int:
    config = load_config(config_path)
    if log_format is None and config.monitor.log_format != "text":
        from monitor.logs import setup_logging

        setup_logging(config.monitor.log_format, logging.getLogger().level)
    daemon = Daemon(config_path, config)
    # Modules, config and engine live as long as the daemon: frozen, the cyclic collector's
    # full collections (over months) no longer walk them.
    gc.freeze()
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGINT, daemon.request_stop)
    signal.signal(signal.SIGHUP, daemon.request_reload)
    return daemon.run()


