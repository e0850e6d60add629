"""The outbox: one row per alert per sink, written with the event (monitor.store.recording) and
sent by monitor.alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import select

from monitor.models import Delivery, Event
from monitor.store.engine import Database
from monitor.vocabulary import DeliveryStatus

# Rows not sent yet (the gauges count them).
_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED)


class Outbox(Database):
    # -- outbox (alerts) -----------------------------------------------------------------------
    # A row is pending -> sending (claimed by one worker until claim_expires) -> sent, or back
    # to pending with a later next_attempt_at, or failed. Every transition is one conditional
    # UPDATE whose rowcount says whether this worker still owned the row.

    def release_stale_deliveries(self, now: datetime) -> int:
        """'sending' rows whose claim expired (their sender died) become pending again."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claim_expires < now)  # type: ignore[operator]
                .values(status=DeliveryStatus.PENDING, claimed_by=None, claim_expires=None, next_attempt_at=now)
            )
            return int(result.rowcount or 0)

    def due_deliveries(self, now: datetime, per_sink: int = 100) -> list[tuple[Delivery, Event]]:
        """The oldest pending rows (at most `per_sink`) of every sink that has one due, in event order.

        Per sink, alerts go out in event order. So a sink's rows come from its oldest: a row that
        is due (new traffic) brings the older ones waiting out their backoff along, to be tried
        first. A sink with a row being sent (by this process or another) is left out: its next
        row must not overtake that one. The cap per sink keeps one sink's backlog from crowding
        out the others; the rest follow in the next passes (a sink stays due until its newest
        due row is sent, and that goes after all older ones).
        """
        due = select(Delivery.sink).where(Delivery.status == DeliveryStatus.PENDING,  # type: ignore[arg-type]
                                          Delivery.next_attempt_at <= now)  # type: ignore[operator]
        busy = select(Delivery.sink).where(Delivery.status == DeliveryStatus.SENDING)  # type: ignore[arg-type]
        ranked = (
            select(Delivery.id, func.row_number().over(partition_by=Delivery.sink,
                                                       order_by=(Delivery.event_id, Delivery.id)).label("n"))
            .where(Delivery.status == DeliveryStatus.PENDING, Delivery.sink.in_(due),  # type: ignore[attr-defined]
                   Delivery.sink.not_in(busy))  # type: ignore[attr-defined]
            .subquery()
        )
        with self.session() as session:
            rows = session.exec(
                select(Delivery, Event)
                .join(Event, Event.id == Delivery.event_id)  # type: ignore[arg-type]
                .join(ranked, ranked.c.id == Delivery.id)
                .where(ranked.c.n <= per_sink)
                .order_by(Delivery.event_id, Delivery.id)  # type: ignore[arg-type]
            )
            return [(delivery, ev) for delivery, ev in rows]

    def claim_delivery(self, delivery_id: int, worker: str, until: datetime) -> bool:
        """Take a pending row for sending; False if another process got it first."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING)  # type: ignore[arg-type]
                .values(status=DeliveryStatus.SENDING, claimed_by=worker, claim_expires=until)
            )
            return result.rowcount == 1

    def finish_delivery(self, delivery_id: int, worker: str, *, status: str, now: datetime,
                        error: str | None = None, next_attempt_at: datetime | None = None) -> bool:
        """Record a send attempt of a row this worker claimed: 'sent', 'pending' (retry) or 'failed'."""
        values: dict[str, Any] = {
            "status": status, "attempts": Delivery.attempts + 1, "claimed_by": None, "claim_expires": None,
            "last_error": error,
        }
        if status == DeliveryStatus.SENT:
            values["sent_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.SENDING,  # type: ignore[arg-type]
                       Delivery.claimed_by == worker)
                .values(**values)
            )
            return result.rowcount == 1

    def defer_sink(self, sinks: Sequence[str], until: datetime) -> int:
        """Push a sink's pending rows (under any of its keys) to `until` at the earliest, without
        counting an attempt: the sink is down, and its next try is its oldest row's retry."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.sink.in_(sinks), Delivery.status == DeliveryStatus.PENDING,  # type: ignore[attr-defined]
                       Delivery.next_attempt_at < until)  # type: ignore[operator]
                .values(next_attempt_at=until)
            )
            return int(result.rowcount or 0)

    def deliveries(self, statuses: Sequence[str]) -> list[tuple[Delivery, Event]]:
        with self.session() as session:
            rows = session.exec(
                select(Delivery, Event)
                .join(Event, Event.id == Delivery.event_id)  # type: ignore[arg-type]
                .where(Delivery.status.in_(statuses))  # type: ignore[attr-defined]
                .order_by(Delivery.id)  # type: ignore[arg-type]
            )
            return [(delivery, ev) for delivery, ev in rows]

    def sink_keys(self, status: str | None = None) -> set[str]:
        """The sink keys the outbox has rows for (of one status, or any)."""
        query = select(Delivery.sink).distinct()  # type: ignore[call-overload]
        if status is not None:
            query = query.where(Delivery.status == status)
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(query)}

    def rehome_deliveries(self, old: str, new: str) -> int:
        """Give a sink's pending rows to another key (the same sink, whose URL changed)."""
        with self.engine.begin() as conn:
            result = conn.execute(update(Delivery).where(Delivery.sink == old,  # type: ignore[arg-type]
                                                         Delivery.status == DeliveryStatus.PENDING).values(sink=new))
            return int(result.rowcount or 0)

    def count_deliveries(self, status: str) -> int:
        with self.session() as session:
            return int(session.exec(select(func.count()).where(Delivery.status == status)).one())

    def requeue_failed_deliveries(self, now: datetime) -> int:
        """Failed rows become pending, due now; their retry window restarts (created_at = now)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Delivery)
                .where(Delivery.status == DeliveryStatus.FAILED)  # type: ignore[arg-type]
                .values(status=DeliveryStatus.PENDING, next_attempt_at=now, created_at=now, claimed_by=None,
                        claim_expires=None)
            )
            return int(result.rowcount or 0)

    def delivery_counts(self) -> dict[str, int]:
        """Outbox rows not yet sent, by status (pending, sending, failed): an index range, not a scan."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Delivery.status, func.count())  # type: ignore[call-overload]
                                .where(Delivery.status.in_(_WAITING))  # type: ignore[attr-defined]
                                .group_by(Delivery.status))
            return {str(status): int(count) for status, count in rows}
