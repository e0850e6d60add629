"""What each page says now: the statements of its latest snapshot, per jurisdiction.

Every recorded snapshot carries the pauses and lifts its text asserts (`statement` rows, written
with the snapshot by `Store.record`), so the status board is a read of the latest snapshots, not a
replay of events: a page that already said "We have paused ... Hong Kong" at its first check is
`paused` "at first check", without an event or an alert. Rows made by older classifier rules are
recomputed from the snapshot's text (`refresh`), again without events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from monitor.budget import UNLIMITED, Budget
from monitor.classify import LIFT, PAUSE, Statement, TextState, rules_version
from monitor.classify import state as text_state_of
from monitor.models import Event, Page
from monitor.models import Statement as StatementRow
from monitor.render import day, iso_time, jurisdiction_label
from monitor.store import Said, Store
from monitor.vocabulary import StatementState


def said_of(state: TextState) -> list[Said]:
    """A text's state as the rows to store with its snapshot."""
    return [Said("paused" if st.kind == PAUSE else "lifted", st.jurisdiction, st.quote, st.context, st.rule, st.index)
            for st in state.statements()]


def _state_of(rows: list[StatementRow]) -> TextState:
    found = [Statement(PAUSE if row.state == "paused" else LIFT, row.jurisdiction, row.quote, row.rule or "",
                       row.context, row.position, 0)
             for row in rows if row.state in ("paused", "lifted")]
    return TextState.of(found)


def snapshot_state(store: Store, snapshot_id: int | None, text: str, company: str | None,
                   budget: Budget = UNLIMITED) -> TextState:
    """A stored snapshot's state: its rows when these rules made them, else computed from its text
    (within `budget`, a check's: the old text may be as large as any)."""
    if snapshot_id is not None:
        rows = store.statements_of(snapshot_id, rules_version())
        if rows is not None:
            return _state_of(rows)
    return text_state_of(text, company, budget)


def refresh(store: Store, companies: dict[str, str] | None = None) -> int:
    """Recompute the statements of latest snapshots made under other rules; returns how many."""
    sig = rules_version()
    stale = store.stale_latest_snapshots(sig)
    for snap in stale:
        company = (companies or {}).get(snap.page_id)
        store.replace_statements(snap, said_of(text_state_of(snap.text, company)), sig)
    return len(stale)


@dataclass(frozen=True)
class BoardRow:
    page: str
    company: str
    url: str
    jurisdiction: str | None
    state: str  # paused | lifted | unspecified
    since: datetime
    at_first_check: bool
    quote: str
    evidence: str
    context: str | None
    event_id: int | None
    origin: str | None  # "archive" when the event that made it so came from an archived capture
    change_id: int | None = None  # the change whose event made it so (None: at first check, or no change)

    def as_json(self) -> dict[str, object]:
        return {
            "page": self.page, "company": self.company, "jurisdiction": self.jurisdiction, "state": self.state,
            "since": iso_time(self.since), "at_first_check": self.at_first_check,
            "quote": self.quote, "evidence": self.evidence, "context": self.context, "event": self.event_id,
            "url": self.url,
        }

    def since_text(self) -> str:
        when = day(self.since)
        if self.at_first_check:
            return f"at first check ({when})"
        return f"since {when}" + (" (archive)" if self.origin == "archive" else "")


def board(store: Store) -> list[BoardRow]:
    return [_row(st, page, ev) for st, page, ev in store.board()]


def _row(st: StatementRow, page: Page, ev: Event | None) -> BoardRow:
    return BoardRow(
        page=page.id, company=page.company, url=page.url, jurisdiction=st.jurisdiction, state=st.state,
        since=st.since_at, at_first_check=st.since_baseline, quote=st.quote, evidence=st.evidence,
        context=st.context, event_id=st.since_event_id, origin=getattr(ev, "origin", None) if ev else None,
        change_id=ev.change_id if ev else None,
    )


def board_lines(rows: list[BoardRow]) -> list[str]:
    """The board for a terminal: one line per page and jurisdiction, the quote under it."""
    out = []
    for row in rows:
        where = jurisdiction_label(row.jurisdiction) if row.jurisdiction else StatementState.UNSPECIFIED
        event = f" #{row.event_id}" if row.event_id else ""
        out.append(f"{row.company} ({row.page})  {where}: {row.state} {row.since_text()}{event}")
        said = "no longer says" if row.state == StatementState.UNSPECIFIED else "says"
        out.append(f"    {said}: {json.dumps(row.quote, ensure_ascii=False)}")
        if row.context:
            out.append(f"    context: {json.dumps(row.context, ensure_ascii=False)}")
    return out
