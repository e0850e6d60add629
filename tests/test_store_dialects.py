"""Every store query and the record transaction, on SQLite and on PostgreSQL alike.

Each test runs twice (the `db_url` fixture): on a fresh SQLite file and on a fresh
`pm_test_*` PostgreSQL database. Races are forced, not hoped for: a third connection holds
the lock the code under test must wait for, then lets go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from monitor.check import Runtime, check_page
from monitor.config import load_config
from monitor.models import utcnow
from monitor.pageserver import PageServer
from monitor.store import CheckRecord, EventDraft, Store, Version, sha256, worker_name

BASE = ("<html><body><main><h1>Government requests</h1><p>Zoom responds to valid legal process.</p>{extra}"
        "</main></body></html>")
HK = "<p>We have paused processing any data requests from, and related to, Hong Kong SAR.</p>"
HK_QUOTE = "We have paused processing any data requests from, and related to, Hong Kong SAR."


def _runtime(write_config: Callable[..., Path], db_url: str, pages: list[dict[str, Any]]) -> Runtime:
    return Runtime.open(load_config(write_config(pages, database=db_url)))


def test_pipeline_queries_give_the_same_answers(
    db_url: str, server: PageServer, write_config: Callable[..., Path]
) -> None:
    server.set("/a", BASE.format(extra=""))
    server.set("/b", BASE.format(extra=""))  # byte-identical body: one raw_body row for both pages
    server.set("/nul", "<main><p>Before\x00after: control characters must not break PostgreSQL.</p></main>")
    rt = _runtime(write_config, db_url, [{"id": "a", "url": server.url("/a"), "company": "Zoom"},
                                         {"id": "b", "url": server.url("/b"), "company": "Zoom"},
                                         {"id": "nul", "url": server.url("/nul")}])
    try:
        a, b, nul = (rt.config.page(pid) for pid in ("a", "b", "nul"))
        assert [check_page(rt, p).status for p in (a, b, nul)] == ["baseline", "baseline", "baseline"]
        assert check_page(rt, a).status == "not_modified"
        server.set("/a", BASE.format(extra=HK))
        changed = check_page(rt, a)
        assert changed.status == "changed", changed
        assert [(e.kind, e.jurisdiction) for e in changed.events] == [("changed", None), ("pause_started", "HK")]

        store = rt.store
        snaps = store.snapshots("a")
        assert [s.origin for s in snaps] == ["fetch", "fetch"] and HK_QUOTE in snaps[-1].text
        assert snaps[0].created_at.tzinfo is not None and snaps[0].created_at < snaps[1].created_at
        assert store.snapshot(snaps[1].id).text == snaps[1].text  # type: ignore[arg-type, union-attr]
        assert store.snapshots("b")[0].raw_hash == snaps[0].raw_hash
        body, ctype = store.raw_body(snaps[0].raw_hash)  # type: ignore[arg-type, misc]
        assert body == BASE.format(extra="").encode() and ctype.startswith("text/html")
        assert "\x00" not in store.snapshots("nul")[0].text

        state = store.page_state("a")
        assert (state.snapshot_id, state.failures, state.gone) == (snaps[1].id, 0, False)
        assert state.etag and state.last_checked_at and state.last_checked_at.tzinfo is not None
        assert [p.id for p in store.pages()] == ["a", "b", "nul"]
        assert {pid: c.status for pid, c in store.last_checks().items()} == {
            "a": "changed", "b": "baseline", "nul": "baseline"}
        assert store.counts("a") == {"checks": 3, "snapshots": 2, "changes": 1}
        assert [(c.page_id, c.previous_snapshot_id) for c in store.changes()] == [("a", snaps[0].id)]

        events = store.events()
        assert [(e.kind, e.jurisdiction, e.quote) for e in events][1:] == [("pause_started", "HK", HK_QUOTE)]
        event = events[1]
        assert event.as_json()["detected_at"].endswith("Z") and event.detected_at.tzinfo is not None
        assert [e.kind for e in store.events(kind="pause_started")] == ["pause_started"]
        assert store.events(since=event.detected_at + timedelta(seconds=1)) == []
        assert len(store.events(since=event.detected_at - timedelta(seconds=1), page_id="a")) == 2
        assert store.events(page_id="b") == []
    finally:
        rt.close()


def _version(body: str) -> Version:
    return Version(text=body, text_hash=sha256(body), extract_sig="sig", raw=body.encode(),
                   raw_hash=sha256(body.encode()), content_type="text/html")


def _rec(page_id: str, previous: int | None, body: str, status: str = "changed", **kw: Any) -> CheckRecord:
    now = utcnow()
    events = [EventDraft(kind="changed", quote=body)] if status == "changed" else []
    return CheckRecord(page_id=page_id, company="Co", url="http://127.0.0.1/", status=status, started_at=now,
                       finished_at=now, version=_version(body), previous_snapshot_id=previous, events=events, **kw)


class _Holder:
    """A separate connection that takes the page row's write lock and keeps it until `release`."""

    def __init__(self, url: str, page_id: str):
        self.store = Store(url)
        self.conn = self.store.engine.connect()
        self.tx = self.conn.begin()  # SQLite: BEGIN IMMEDIATE already locks every writer out
        self.conn.execute(text("SELECT id FROM page WHERE id = :id" +
                               (" FOR UPDATE" if self.store.dialect == "postgresql" else "")), {"id": page_id})

    def release(self) -> None:
        self.tx.commit()
        self.conn.close()
        self.store.close()


def _in_threads(*calls: Callable[[], Any]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            results[i] = call()
        except Exception as exc:  # reported by the assertions on results
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    return threads, results


def test_record_race_keeps_one_version_and_marks_the_other_raced(db_url: str) -> None:
    """Two processes compared against the same snapshot: the later writer's version is dropped."""
    stores = [Store(db_url), Store(db_url)]
    try:
        stores[0].sync_pages([type("P", (), {"id": "p", "company": "Co", "url": "http://127.0.0.1/"})()])
        base = stores[0].record(_rec("p", None, "v0", status="baseline"))
        holder = _Holder(db_url, "p")
        threads, results = _in_threads(*(lambda s=s, i=i: s.record(_rec("p", base.snapshot_id, f"v{i + 1}"))
                                          for i, s in enumerate(stores)))
        time.sleep(0.7)
        assert all(t.is_alive() for t in threads), "record() did not wait for the page row lock"
        holder.release()
        for t in threads:
            t.join(30)
        assert not any(isinstance(r, Exception) for r in results), results
        assert sorted(r.raced for r in results) == [False, True]
        assert stores[0].counts("p") == {"checks": 3, "snapshots": 2, "changes": 1}
        assert [e.kind for e in stores[0].events()] == ["changed"]
        assert [c.status for c in _checks(stores[0])] == ["baseline", "changed", "raced"]
    finally:
        for s in stores:
            s.close()


def _checks(store: Store) -> list[Any]:
    from sqlmodel import select

    from monitor.models import Check

    with store.session() as session:
        return list(session.exec(select(Check).order_by(Check.id)))  # type: ignore[arg-type]


def test_same_raw_body_stored_concurrently_by_another_page(db_url: str) -> None:
    """Page locks do not cover raw_body (shared by hash): the insert must not conflict."""
    store = Store(db_url)
    other = Store(db_url)
    try:
        body = "identical body"
        conn = other.engine.connect()
        tx = conn.begin()
        conn.execute(text("INSERT INTO raw_body (hash, content_type, size, data, created_at) "
                          "VALUES (:h, 'text/html', 1, :d, :t)"),
                     {"h": sha256(body.encode()), "d": b"x", "t": utcnow().replace(tzinfo=None)
                      if store.dialect == "sqlite" else utcnow()})
        threads, results = _in_threads(lambda: store.record(_rec("q", None, body, status="baseline")))
        time.sleep(0.5)
        tx.commit()
        conn.close()
        threads[0].join(30)
        assert not isinstance(results[0], Exception), results[0]
        assert store.snapshots("q")[0].raw_hash == sha256(body.encode())
    finally:
        store.close()
        other.close()


def test_page_gone_is_recorded_once_when_two_checks_saw_it(db_url: str) -> None:
    store = Store(db_url)
    try:
        now = utcnow()

        def gone() -> CheckRecord:
            return CheckRecord(page_id="g", company="Co", url="http://127.0.0.1/", status="failed",
                               started_at=now, finished_at=now, error="404", failures=3, gone=True,
                               events=[EventDraft(kind="page_gone", quote="gone")])

        store.record(gone())
        store.record(gone())  # computed from the same not-yet-gone state
        assert [e.kind for e in store.events()] == ["page_gone"]
    finally:
        store.close()


def test_claims(db_url: str) -> None:
    store = Store(db_url)
    try:
        store.sync_pages([type("P", (), {"id": pid, "company": "Co", "url": "http://127.0.0.1/"})() for pid in "xy"])
        assert store.claim_page("x", "a:1", lease_s=60)
        assert not store.claim_page("x", "b:2", lease_s=60)  # live claim
        assert not store.claim_page("x", "a:1", lease_s=60)  # not even by its holder: one check at a time
        last, holder, until = store.claim_info("x")
        assert last is None and holder == "a:1" and until is not None and until > utcnow()
        store.release_claim("x", "b:2")  # not the holder: no effect
        assert store.claim_info("x")[1] == "a:1"
        store.release_claim("x", "a:1")
        assert store.claim_info("x")[1:] == (None, None)

        assert store.claim_page("y", "a:1", lease_s=0.2)
        time.sleep(0.4)
        assert store.claim_page("y", "b:2", lease_s=60)  # the holder died: lease expired

        # record() of the holder ends its claim; then the interval condition applies.
        rec = _rec("y", None, "body", status="baseline")
        rec_worker = worker_name()
        assert store.claim_info("y")[1] == "b:2"
        store.release_claim("y", "b:2")
        assert store.claim_page("y", rec_worker, lease_s=60)
        store.record(rec)
        assert store.claim_info("y")[1:] == (None, None)
        assert not store.claim_page("y", "c:3", lease_s=60, min_age_s=30)  # checked just now
        state = store.claim_page("y", "c:3", lease_s=60, min_age_s=0)
        # The claim hands back the state the check reads next, from the same transaction.
        assert state is not None and state.snapshot_id is not None and state == store.page_state("y")
        assert store.release_claims("c:3") == 1

        started = utcnow()
        store.heartbeat("host-a:42", started, 0)
        store.heartbeat("host-a:42", started, 7)
        (worker,) = store.workers()
        assert (worker.name, worker.host, worker.pid, worker.checks) == ("host-a:42", "host-a", 42, 7)
        store.remove_worker("host-a:42")
        assert store.workers() == []
    finally:
        store.close()


def test_only_one_of_many_simultaneous_claims_wins(db_url: str) -> None:
    stores = [Store(db_url) for _ in range(6)]
    try:
        stores[0].sync_pages([type("P", (), {"id": "z", "company": "Co", "url": "http://127.0.0.1/"})()])
        for _round in range(5):
            barrier = threading.Barrier(len(stores))

            def claim(i: int, barrier: threading.Barrier = barrier) -> bool:
                barrier.wait()
                return stores[i].claim_page("z", f"w:{i}", lease_s=60) is not None

            threads, results = _in_threads(*(lambda i=i: claim(i) for i in range(len(stores))))
            for t in threads:
                t.join(30)
            assert sorted(results) == [False] * (len(stores) - 1) + [True], results
            assert stores[0].release_claims(f"w:{results.index(True)}") == 1
    finally:
        for s in stores:
            s.close()


def test_processes_starting_together_sync_the_same_pages(db_url: str) -> None:
    """Daemons started at once on an empty database all insert the configured pages."""
    pages = [type("P", (), {"id": f"p{i}", "company": "Co", "url": f"http://127.0.0.1/{i}"})() for i in range(300)]
    stores = [Store(db_url) for _ in range(4)]
    try:
        barrier = threading.Barrier(len(stores))

        def sync(store: Store) -> None:
            barrier.wait()
            store.sync_pages(pages)

        threads, results = _in_threads(*(lambda s=s: sync(s) for s in stores))
        for t in threads:
            t.join(60)
        assert not any(isinstance(r, Exception) for r in results), results
        assert len(stores[0].pages()) == 300
        moved = [type("P", (), {"id": "p1", "company": "New Co", "url": "http://127.0.0.1/new"})()]
        stores[1].sync_pages(moved)
        row = next(p for p in stores[0].pages() if p.id == "p1")
        assert (row.company, row.url) == ("New Co", "http://127.0.0.1/new")
    finally:
        for s in stores:
            s.close()


def test_reextraction_does_not_make_a_page_look_freshly_checked(db_url: str) -> None:
    """Claims skip pages checked within their interval; a re-extraction fetched nothing."""
    store = Store(db_url)
    try:
        first = _rec("r", None, "v0", status="baseline")
        first.started_at = first.finished_at = utcnow() - timedelta(hours=2)
        store.record(first)
        again = _rec("r", store.page_state("r").snapshot_id, "v0 re-extracted", status="reextracted")
        store.record(again)
        assert store.claim_info("r")[0] == first.started_at
        assert store.claim_page("r", "w:1", lease_s=60, min_age_s=3600)
    finally:
        store.close()


class _Sink:
    def __init__(self, key: str):
        self.key = key

    def wants(self, kind: str) -> bool:
        return True


def test_outbox_queries(db_url: str) -> None:
    """The alert outbox's claim/finish/retry transitions, one conditional UPDATE each."""
    store = Store(db_url)
    try:
        rec = _rec("o", None, "v0", status="baseline")
        store.record(rec)
        changed = _rec("o", store.page_state("o").snapshot_id, "v1", sinks=[_Sink("ops"), _Sink("mail")])
        store.record(changed)
        now = utcnow()
        due = store.due_deliveries(now)
        assert sorted(d.sink for d, _ in due) == ["mail", "ops"] and {e.kind for _, e in due} == {"changed"}
        ops, mail = (next(d for d, _ in due if d.sink == name) for name in ("ops", "mail"))
        assert store.claim_delivery(ops.id, "a:1", now + timedelta(seconds=60))  # type: ignore[arg-type]
        assert not store.claim_delivery(ops.id, "b:2", now + timedelta(seconds=60))  # type: ignore[arg-type]
        assert not store.finish_delivery(ops.id, "b:2", status="sent", now=now)  # type: ignore[arg-type]
        assert store.finish_delivery(ops.id, "a:1", status="sent", now=now)  # type: ignore[arg-type]
        assert store.count_deliveries("sent") == 1
        assert store.defer_sink(["mail"], now + timedelta(hours=1)) == 1
        assert store.defer_sink(["mail"], now + timedelta(minutes=1)) == 0  # never brought forward
        assert store.due_deliveries(now) == []
        assert store.claim_delivery(mail.id, "a:1", now - timedelta(seconds=1))  # type: ignore[arg-type]
        assert store.release_stale_deliveries(now) == 1  # its sender died: the claim lapsed
        assert store.claim_delivery(mail.id, "b:2", now + timedelta(seconds=60))  # type: ignore[arg-type]
        assert store.finish_delivery(mail.id, "b:2", status="failed", now=now, error="refused")  # type: ignore[arg-type]
        assert [(d.sink, d.attempts, d.last_error) for d, _ in store.deliveries(["failed"])] == [("mail", 1, "refused")]
        assert store.requeue_failed_deliveries(now) == 1
        assert [d.sink for d, _ in store.due_deliveries(now)] == ["mail"]
    finally:
        store.close()


def test_due_deliveries_come_per_sink_oldest_first_and_capped(db_url: str) -> None:
    """A sink is due when any of its rows is; then its oldest rows come (the ones waiting out a
    backoff included), at most `per_sink`; a sink with a row being sent is left out."""
    store = Store(db_url)
    try:
        store.record(_rec("q", None, "v0", status="baseline"))
        for n in range(1, 5):  # four changes, each one row per sink
            store.record(_rec("q", store.page_state("q").snapshot_id, f"v{n}", sinks=[_Sink("down"), _Sink("up")]))
        now = utcnow()
        assert store.defer_sink(["down"], now + timedelta(minutes=5)) == 4
        rows = store.due_deliveries(now, per_sink=2)
        assert [d.sink for d, _ in rows] == ["up", "up"]  # "down" has nothing due
        assert [d.event_id for d, _ in rows] == sorted(d.event_id for d, _ in rows)
        store.record(_rec("q", store.page_state("q").snapshot_id, "v5", sinks=[_Sink("down")]))  # new traffic
        rows = store.due_deliveries(now + timedelta(seconds=1), per_sink=2)
        down = [d for d, _ in rows if d.sink == "down"]
        oldest = sorted(d.event_id for d, _ in store.deliveries(["pending"]) if d.sink == "down")[:2]
        assert [d.event_id for d in down] == oldest  # the oldest two, not the new one
        assert [d.event_id for d, _ in rows] == sorted(d.event_id for d, _ in rows)
        assert store.claim_delivery(down[0].id, "a:1", now + timedelta(seconds=60))  # type: ignore[arg-type]
        assert {d.sink for d, _ in store.due_deliveries(now + timedelta(seconds=1))} == {"up"}  # "down" is busy
    finally:
        store.close()
