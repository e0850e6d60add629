"""The event record as files for spreadsheets and notebooks: CSV and JSON.

Both carry exactly the objects of `events --json` (`Event.as_json`), oldest first:

* JSON: one array, one event object per line (`json.load` reads it whole; `jq -c '.[]'` too).
* CSV (RFC 4180, UTF-8, header row): one column per field, the known fields first in a fixed
  order, then any other field the events carry; a missing field or null is an empty cell, a
  list or object is its JSON text. A text that starts with `=`, `+`, `-`, `@`, a tab or a
  carriage return would be run as a formula by spreadsheet programs (a page author controls
  the quotes), so it gets a leading apostrophe; so does one that starts with an apostrophe,
  which keeps the rule reversible: drop one leading `'` from any cell that has one.

`report` writes `events.json` and `events.csv` with `write_event_files`, which appends the
events recorded since its last run instead of rewriting the record (events are never changed
once written), so a rebuild after one change costs one change's worth of writing plus a copy.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import IO, Any

from monitor.models import Event
from monitor.store import Store
from monitor.terminal import json_line as terminal_json_line

# The fields of Event.as_json, in the CSV's column order (evidence, rule and context only on typed
# events, relevant only on `changed` ones, origin and source only on archived ones).
FIELDS = ("id", "page", "company", "url", "kind", "jurisdiction", "quote", "detected_at", "snapshot",
          "previous_snapshot", "evidence", "rule", "context", "relevant", "origin", "source")
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")
JSON_NAME, CSV_NAME = "events.json", "events.csv"
_STATE_NAME = ".events-export.json"  # what the files hold, so the next run can append
_COPY_CHUNK = 1 << 20


def records(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [event.as_json() for event in events]


def json_line(record: dict[str, Any]) -> str:
    return terminal_json_line(record)  # one spelling of an event as JSON, inert on a terminal


def columns(recs: Iterable[dict[str, Any]]) -> list[str]:
    """FIELDS, then any other field in order of first appearance."""
    seen = dict.fromkeys(FIELDS)
    for rec in recs:
        for key in rec:
            seen.setdefault(key)
    return list(seen)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_writer(stream: IO[str]) -> Any:
    return csv.writer(stream, lineterminator="\r\n")


def write_csv(recs: Sequence[dict[str, Any]], stream: IO[str], cols: Sequence[str] | None = None,
              header: bool = True) -> list[str]:
    """Rows for `recs` (with the header row first); returns the columns used."""
    cols = list(cols) if cols is not None else columns(recs)
    writer = csv_writer(stream)
    if header:
        writer.writerow(cols)
    for rec in recs:
        writer.writerow([cell(rec.get(col)) for col in cols])
    return cols


# -- the report's files ----------------------------------------------------------------------


def write_event_files(store: Store, out: Path) -> None:
    """Bring `out/events.json` and `out/events.csv` up to date with the database."""
    out.mkdir(parents=True, exist_ok=True)
    # One writer at a time (the daemon's rebuild and a `report` command may overlap).
    with open(out / ".events-export.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        source = hashlib.sha256(store.url.encode()).hexdigest()[:16]
        state = _read_state(out, source)
        with contextlib.suppress(OSError):  # a file changed under us: rewrite both
            if state is not None and _append(store, out, state):
                return
        _rewrite(store, out, source)


def _read_state(out: Path, source: str) -> dict[str, Any] | None:
    """The state of the last run, if the files are still exactly what it wrote."""
    try:
        state = json.loads((out / _STATE_NAME).read_text(encoding="utf-8"))
        if state.get("source") != source or state.get("version") != 1:
            return None
        if (out / JSON_NAME).stat().st_size != state["json_size"] or \
                (out / CSV_NAME).stat().st_size != state["csv_size"]:
            return None  # changed behind our back (or a run died between the renames)
        return dict(state)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _append(store: Store, out: Path, state: dict[str, Any]) -> bool:
    """Append the events recorded since `state`; False when the files must be rewritten instead."""
    new = sorted(store.events_after(state["max_id"]), key=_key)  # in `events` order
    if store.count_events() != state["count"] + len(new):
        return False  # events went away (another database restored here): start over
    if not new:
        return True
    recs = records(new)
    # `events` lists by (detected_at, id): appending keeps that order only if every new event
    # comes after the last one written (an archive import or a slow writer's commit may not).
    if _key(new[0]) < tuple(state["last"]) or \
            any(set(rec) - set(state["columns"]) for rec in recs):
        return False
    json_head = state["json_size"] - (len("\n]\n") if state["count"] else len("]\n"))
    with _replacing(out / JSON_NAME) as handle:
        _copy_prefix(out / JSON_NAME, handle.buffer, json_head)
        handle.write(",\n" if state["count"] else "")
        _json_body(recs, handle)
    with _replacing(out / CSV_NAME) as handle:
        _copy_prefix(out / CSV_NAME, handle.buffer, state["csv_size"])
        write_csv(recs, handle, state["columns"], header=False)
    _write_state(out, {**state, "count": state["count"] + len(new), "last": _key(new[-1]),
                       "max_id": max(state["max_id"], *(event.id or 0 for event in new))})
    return True


def _rewrite(store: Store, out: Path, source: str) -> None:
    events = store.events()
    recs = records(events)
    cols = columns(recs)
    with _replacing(out / JSON_NAME) as handle:
        handle.write("[\n")
        _json_body(recs, handle)
    with _replacing(out / CSV_NAME) as handle:
        write_csv(recs, handle, cols)
    _write_state(out, {"version": 1, "source": source, "count": len(recs), "columns": cols,
                       "last": _key(events[-1]) if events else ("", 0),
                       "max_id": max((event.id or 0 for event in events), default=0)})


def _json_body(recs: Sequence[dict[str, Any]], handle: IO[str]) -> None:
    """The objects, one a line, and the end of the array."""
    for index, rec in enumerate(recs):
        handle.write(json_line(rec))
        handle.write(",\n" if index + 1 < len(recs) else "\n")
    handle.write("]\n")


def _key(event: Event) -> tuple[str, int]:
    """The event's place in `events` order: detected_at at full precision (sortable text), id."""
    return event.detected_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), event.id or 0


def _write_state(out: Path, state: dict[str, Any]) -> None:
    state["json_size"] = (out / JSON_NAME).stat().st_size
    state["csv_size"] = (out / CSV_NAME).stat().st_size
    with _replacing(out / _STATE_NAME) as handle:
        handle.write(json.dumps(state))


def _copy_prefix(src: Path, dst: IO[bytes], size: int) -> None:
    """The first `size` bytes of `src` into `dst`, in the kernel where it can (no trip through
    Python; a reflink on file systems that share extents)."""
    dst.flush()
    with open(src, "rb") as handle:
        left = size
        while left > 0:
            try:
                done = os.copy_file_range(handle.fileno(), dst.fileno(), min(left, 1 << 30))
            except OSError:  # not supported here (another file system, an old kernel): copy by hand
                done = len(chunk := handle.read(min(_COPY_CHUNK, left)))
                dst.write(chunk)
                dst.flush()
            if done == 0:
                raise OSError(f"{src} is shorter than expected")
            left -= done


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[io.TextIOWrapper]:
    """Write a new version of `path` beside it (UTF-8 text; `.buffer` for bytes) and rename it
    into place: readers (a web server) see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
