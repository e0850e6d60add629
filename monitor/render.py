"""How recorded things read to a person: times, jurisdictions, event kinds, an event as text.

One home for the words the command line, the alerts, the status board, the report and the
feeds share, so that they say the same thing the same way. Machine formats (JSON lines, CSV,
Atom) take `iso_time`; what a person reads on a terminal takes `timestamp`. Terminal tables
themselves are the command line's (monitor.cli).

Cheap to import: the classifier (for jurisdiction names) is loaded when a name is first asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.terminal import printable
from monitor.vocabulary import KIND_LABELS, PAUSE_KINDS, EventKind

if TYPE_CHECKING:
    from monitor.models import Event

UNSPECIFIED = "unspecified"  # a pause that names no jurisdiction


def timestamp(value: datetime | None) -> str:
    """A time for a terminal: `2026-11-28 11:24:20Z`; `-` for none."""
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def iso_time(value: datetime) -> str:
    """A UTC time for machines (JSON, CSV, Atom): `2026-11-28T11:24:20Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def kind_label(kind: str) -> str:
    """`pause_started` -> `pause started`; an unknown kind (a newer database) as it is."""
    return KIND_LABELS.get(kind, kind)


def jurisdiction_name(code: str | None) -> str:
    """'HK' -> 'Hong Kong'; '' for none; an unknown code as it is."""
    if not code:
        return ""
    from monitor.classify import jurisdiction_name as name_of

    return name_of(code)


def jurisdiction_label(code: str) -> str:
    """'HK' -> 'Hong Kong (HK)'; an unknown code as it is."""
    name = jurisdiction_name(code)
    return f"{name} ({code})" if name and name != code else code


def event_labels(events: Iterable[Any]) -> list[str]:
    """The typed events among `events` (recorded or drafts) as "kind jurisdiction", in order;
    the plain `changed` is left out."""
    return [f"{e.kind} {e.jurisdiction}" if e.jurisdiction else str(e.kind)
            for e in events if e.kind != EventKind.CHANGED]


def event_line(event: Event) -> str:
    """An event for a person on a terminal (recorded text may hold control characters)."""
    typed = event.kind in PAUSE_KINDS
    where = f" {event.jurisdiction or UNSPECIFIED}" if typed or event.jurisdiction else ""
    line = f"{timestamp(event.detected_at)}  #{event.id} {event.kind}{where}  {event.company} ({event.page_id})"
    if event.kind != EventKind.CHANGED and event.quote:
        line += f'\n    "{event.quote}"'
    if typed and event.context:
        line += f'\n    context: "{event.context}"'
    if event.rule:
        line += f"\n    evidence: {event.evidence}; rule: {event.rule}"
    elif event.kind == EventKind.CHANGED:
        relevant = event.relevant_sentences
        for sentence in relevant[:10]:
            line += f"\n    {sentence[:300]}"
        if len(relevant) > 10:
            line += f"\n    ... {len(relevant) - 10} more about government requests"
        if not relevant and event.quote:
            line += f"\n    first change: {event.quote[:200]}"
    return printable(line)
