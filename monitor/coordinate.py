"""Several processes, one database: claim a page, check it, let the claim go.

Every `run` process schedules every page; before a check it claims the page row
(`Store.claim_page`), and the claim fails when another process holds a live claim or checked
the page within most of its interval. So each page is checked by one process per interval,
whichever fires first, and when a process dies its pages are taken over: at once for pages
it had finished (they fall due and others claim them), after the lease for a page it was
checking. `record` clears the claim in the check's own transaction.

The CLI's `check` is an explicit request, so it ignores the interval, but it does respect a
live claim: it waits (at most one fetch deadline) for the other process's check to finish,
then checks; if the claim is still held after that, it reports the page as `busy`.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.check import CheckOutcome, Runtime, check_documents, check_page
from monitor.config import PageConfig
from monitor.models import utcnow
from monitor.store import PageState, Store, StoreError, worker_name
from monitor.vocabulary import CheckStatus

# A page whose last check started less than this share of its interval ago is fresh: skipped.
# Below 1 so that a process's own next run still claims it when that run starts a little
# earlier relative to its schedule than the last one did (queueing in the worker pool).
FRESH_SHARE = 0.95
_POLL = 0.25  # seconds between claim attempts of a waiting `check`


def heartbeat_every(lease: float) -> float:
    """Seconds between a `run` process's heartbeats (its row in table `worker`)."""
    return min(30.0, lease / 3)


def alive_within(lease: float) -> float:
    """A worker whose last heartbeat is older than this (three missed ones) is not alive."""
    return 3 * heartbeat_every(lease)


def min_age(interval: float, jitter: float) -> float:
    """How old the last check must be before a scheduled run may check the page again.

    APScheduler 3 adds 0..jitter to each run, so two runs of one job can be as little as
    interval - jitter apart; the margin keeps a process's own schedule from being refused.
    """
    return FRESH_SHARE * max(interval - jitter, 0.0)


def holder_is_dead(holder: str) -> bool:
    """True for a claim by a process of this host that no longer exists (SIGKILLed, OOM-killed).

    Its lease would otherwise block the page for minutes after a crash: a `check` right after
    would wait and report it busy. Only same-host claims can be judged; a reused PID looks alive,
    and then the lease decides, as for other hosts.
    """
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, under another user
        return False
    return False


def _claim(store: Store, page_id: str, worker: str, lease: float, min_age: float) -> PageState | None:
    """The page's state if this worker now holds its claim, else None."""
    state = store.claim_page(page_id, worker, lease, min_age)
    if state is not None:
        return state
    _, holder, _ = store.claim_info(page_id)
    if holder and holder != worker and holder_is_dead(holder):
        store.release_claim(page_id, holder)  # conditional on the dead holder: no race with a live one
        return store.claim_page(page_id, worker, lease, min_age)
    return None


ClaimInfo = tuple[datetime | None, str | None, datetime | None]  # last check, holder, claim expiry


@dataclass(frozen=True)
class Refused:
    """The page was not claimed (another process has it, or has just checked it): retry at `due`."""

    due: datetime


def check_claimed(rt: Runtime, page: PageConfig, worker: str | None = None,
                  alone: bool = False) -> CheckOutcome | Refused:
    """The daemon's check: claim (fresh pages and live claims refuse), check, release.

    With N processes each page is refused N - 1 times per interval, so a refusal costs one
    read: the claim row is looked at first, and only a page that looks free gets the
    (authoritative) conditional UPDATE. A process that is `alone` on its database is hardly
    ever refused: it goes straight to the UPDATE, whose outcome is the same, and saves the read.
    """
    worker = worker or worker_name()
    settings = rt.config.monitor
    interval = rt.config.interval_of(page)
    age = min_age(interval, rt.config.jitter_of(page))
    if not alone:
        now = utcnow()
        info = rt.store.claim_info(page.id)
        last, holder, until = info
        held = bool(holder and until and until > now)
        fresh = last is not None and last > now - timedelta(seconds=age)
        if (held and not holder_is_dead(holder or "")) or (fresh and not held):
            return Refused(due_after_refusal(info, interval, settings.lease, now))
    # The fetcher lets one request at a time go to a host. Were the page claimed (and the check
    # started: its last_checked_at) before queueing for that turn, the fetches of a slow host's
    # pages would drift up to (pages - 1) fetch times from their interval, so a page could be
    # fetched again well within one; and the lease would run down while waiting. So the turn
    # comes first: start, claim and fetch go together, and a host's pages settle into distinct
    # phases where nobody waits. Meanwhile another process may have checked the page: then the
    # claim is refused, and this job follows that check. If the turn does not come within the
    # fetcher's bound, the check goes ahead and its fetch reports the busy host.
    with rt.fetcher.host_turn(page.url):
        state = _claim(rt.store, page.id, worker, settings.lease, age)
        if state is None:
            return Refused(next_due(rt.store, page, interval, settings.lease))
        outcome = _check_and_release(rt, page, worker, state, follow=False)
    # Documents linked from the page are checked after its host's turn is given back: they may
    # live on other hosts, whose turns must never be waited for while holding this one.
    return check_documents(rt, outcome)


def check_now(rt: Runtime, page: PageConfig) -> CheckOutcome:
    """The CLI's check: no interval condition, but never at the same time as another process."""
    worker = worker_name()
    settings = rt.config.monitor
    give_up = time.monotonic() + settings.deadline + settings.timeout
    while (state := _claim(rt.store, page.id, worker, settings.lease, 0.0)) is None:
        if time.monotonic() >= give_up:
            _, holder, until = rt.store.claim_info(page.id)
            return CheckOutcome(page.id, CheckStatus.BUSY, error=f"being checked by {holder or 'another process'}"
                                f"{f' (claim until {until:%H:%M:%SZ})' if until else ''}")
        time.sleep(_POLL)
    return _check_and_release(rt, page, worker, state)


def _check_and_release(rt: Runtime, page: PageConfig, worker: str, state: PageState,
                       follow: bool = True) -> CheckOutcome:
    outcome: CheckOutcome | None = None
    try:
        outcome = check_page(rt, page, state, follow=follow)
        return outcome
    finally:
        # record() cleared the claim if it committed; otherwise give it back now rather than
        # make everyone wait for the lease.
        if outcome is None or outcome.failed:
            with contextlib.suppress(StoreError):  # failing that, the lease ends it
                rt.store.release_claim(page.id, worker)


def next_due(store: Store, page: PageConfig, interval: float, lease: float, now: datetime | None = None) -> datetime:
    """When this process should next try a page that it could not claim.

    Fresh page: one interval after its last check (start). Live claim: one interval after the
    claim was taken, which is when the holder's check will fall due again; if that moment
    has passed and the claim is still live, the holder is presumably dead: when it lapses.
    Plus a little spread (at most 1 s or 2 % of the interval) so that processes do not all
    collide. Aiming every process at the page's real schedule is what lets a survivor take
    over a dead process's pages within one interval (plus the lease for one it was checking).
    """
    return due_after_refusal(store.claim_info(page.id), interval, lease, now or utcnow())


def due_after_refusal(info: ClaimInfo, interval: float, lease: float, now: datetime) -> datetime:
    """`next_due` from a claim row already read."""
    last, holder, until = info
    if holder and until and until > now:
        claimed_at = until - timedelta(seconds=lease)
        due = claimed_at + timedelta(seconds=interval)
        if due <= now:
            due = until
    else:
        due = (last + timedelta(seconds=interval)) if last else now
    return max(due, now) + timedelta(seconds=random.uniform(0, min(1.0, 0.02 * interval)))
