"""The words policy-monitor records and prints, each listed once.

Every member is a `StrEnum`: it *is* its string value (`CheckStatus.CHANGED == "changed"`), so
the database, the JSON lines, CSV and feeds carry the same words as before, and code that still
compares with plain strings keeps working. The values are part of the public contract
(docs/events.md, docs/design.md): renaming one is a schema change, not a refactoring.
"""

from __future__ import annotations

from enum import StrEnum


class CheckStatus(StrEnum):
    """What one check of a page came to (`check.status`, `page.last_status`, `check --json`)."""

    BASELINE = "baseline"  # the page's first text
    UNCHANGED = "unchanged"  # the same text as the last snapshot
    NOT_MODIFIED = "not_modified"  # the server answered 304 to the stored validators
    CHANGED = "changed"  # a new snapshot, its change and events
    UNCONFIRMED = "unconfirmed"  # a suspicious change a second fetch did not confirm: not recorded as one
    FAILED = "failed"  # the fetch, extract or a later stage failed; `error` says why
    RACED = "raced"  # another process recorded this page meanwhile; this check's result was dropped
    BUSY = "busy"  # `check` gave up waiting for another process's claim on the page (not recorded)
    REEXTRACTED = "reextracted"  # `reextract` derived a new text from a stored raw body


class EventKind(StrEnum):
    """What an event says happened (`event.kind`; the config's `alerts.kinds`; `events --kind`)."""

    CHANGED = "changed"
    PAUSE_STARTED = "pause_started"
    PAUSE_LIFTED = "pause_lifted"
    PAGE_GONE = "page_gone"
    PAGE_RESTORED = "page_restored"

    @property
    def label(self) -> str:
        """For people: "pause started"."""
        return self.value.replace("_", " ")

    @property
    def is_pause(self) -> bool:
        """A typed event about a pause of government data requests (it has a jurisdiction, or says it has none)."""
        return self in PAUSE_KINDS


EVENT_KINDS = tuple(EventKind)
PAUSE_KINDS = (EventKind.PAUSE_STARTED, EventKind.PAUSE_LIFTED)
KIND_LABELS = {kind.value: kind.label for kind in EventKind}


class StatementState(StrEnum):
    """What a page says now about one jurisdiction (the status board, `statement.state`)."""

    PAUSED = "paused"
    LIFTED = "lifted"
    UNSPECIFIED = "unspecified"  # a statement that was removed from the page


class DeliveryStatus(StrEnum):
    """Where one alert to one sink is (`delivery.status`)."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a process that is sending it
    SENT = "sent"
    FAILED = "failed"  # gave up after `max_attempts`; `alerts retry` requeues it
