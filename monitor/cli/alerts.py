"""`alerts [list|retry|test]`: the outbox's pending and failed deliveries, requeue, ping every sink."""

from __future__ import annotations

import argparse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from monitor.cli.common import EXIT_FAILED, EXIT_OK, console, runtime
from monitor.redact import redact
from monitor.render import timestamp
from monitor.terminal import printable
from monitor.vocabulary import DeliveryStatus

if TYPE_CHECKING:
    from monitor.check import Runtime
    from monitor.config import AlertSink


def cmd_alerts(args: argparse.Namespace) -> int:
    rt = runtime(args)
    try:
        if args.action == "retry":
            return _retry(rt)
        if args.action == "test":
            return _test(rt)
        return _list(rt)
    finally:
        rt.close()


def _list(rt: Runtime) -> int:
    from rich.table import Table
    from rich.text import Text

    rows = rt.store.deliveries((DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED))
    if not rows:
        print("no pending or failed deliveries")
        return EXIT_OK
    table = Table(box=None, pad_edge=False)
    for column in ("delivery", "status", "event", "sink", "attempts", "next attempt", "last error"):
        table.add_column(column, overflow="fold")
    for delivery, event in rows:
        where = f" {event.jurisdiction}" if event.jurisdiction else ""
        cells = (str(delivery.id), delivery.status, f"#{event.id} {event.kind}{where} {event.page_id}",
                 delivery.sink, str(delivery.attempts),
                 timestamp(delivery.next_attempt_at) if delivery.status == DeliveryStatus.PENDING else "-",
                 redact(delivery.last_error or ""))
        table.add_row(*(Text(printable(cell)) for cell in cells))  # Text: error text is not rich markup
    console(width=200).print(table)
    counts: dict[str, int] = defaultdict(int)
    for delivery, _ in rows:
        counts[delivery.status] += 1
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return EXIT_OK


def _retry(rt: Runtime) -> int:
    from monitor.alerts import deliver_pending
    from monitor.models import utcnow

    count = rt.store.requeue_failed_deliveries(utcnow())
    print(f"requeued {count} failed deliver{'y' if count == 1 else 'ies'}")
    if not count:
        return EXIT_OK
    summary = deliver_pending(rt)
    print(f"sent {summary.sent}, failed {summary.failed}, still pending {summary.pending}")
    return EXIT_FAILED if summary.failed else EXIT_OK


def _test(rt: Runtime) -> int:
    from monitor.alerts import MAX_SEND_THREADS, Sender, test_message
    from monitor.errors import SendError

    sinks = rt.config.alerts
    if not sinks:
        print("no alert sinks configured ([[alerts]] in the config)")
        return EXIT_OK
    timeout = float(rt.config.monitor.timeout)

    def one(sink: AlertSink) -> str | None:
        try:
            Sender(sink, timeout).send(test_message(sink))
        except SendError as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=min(MAX_SEND_THREADS, len(sinks)), thread_name_prefix="alert") as pool:
        results = list(pool.map(one, sinks))
    for sink, error in zip(sinks, results, strict=True):
        scheme = sink.url.split("://", 1)[0]
        filters = f" kinds={','.join(sink.kinds)}" if sink.kinds else ""
        print(redact(f"{'ok  ' if error is None else 'FAIL'} {sink.key} ({scheme}){filters}"
                     + (f": {error}" if error else "")))
    failed = sum(error is not None for error in results)
    print(f"{len(sinks) - failed} of {len(sinks)} sinks reached")
    return EXIT_FAILED if failed else EXIT_OK
