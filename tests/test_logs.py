"""Log lines: one per check outcome, change, event and delivery; JSON for machines; journald priorities."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.logs import LineFormatter, setup_logging
from monitor.pageserver import PageServer
from monitor.redact import register_secret_url
from tests.alert_receivers import WebhookReceiver, free_port
from tests.conftest import ROOT, run_cli

PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
PAGE = "<html><body><main><h1>Government requests</h1><p>We review every request.</p>{extra}</main></body></html>"


def _journald_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Like run_cli, but as under systemd: JOURNAL_STREAM is set (run_cli removes it)."""
    env = {**os.environ, "JOURNAL_STREAM": "8:123456", "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


def _pages(server: PageServer) -> list[dict[str, Any]]:
    return [{"id": "zoom-government-requests", "company": "Zoom", "url": server.url("/zoom")},
            {"id": "acme-guidelines", "company": "Acme", "url": server.url("/acme")}]


def test_json_logs_have_one_line_per_outcome_change_event_and_delivery(
    server: PageServer, write_config: Callable[..., Path]
) -> None:
    server.set("/zoom", PAGE.format(extra=""))
    server.set("/acme", PAGE.format(extra="<p>Acme.</p>"))
    with WebhookReceiver() as hook:
        config = write_config(_pages(server), alerts=[{"url": hook.url(), "name": "hook", "kinds": ["pause_started"]}])
        first = run_cli("check", "--log-format", "json", "--config", str(config))
        assert first.returncode == 0, first.stderr
        server.set("/zoom", PAGE.format(extra=f"<p>{PAUSE}</p>"))
        second = run_cli("check", "--log-format", "json", "--config", str(config))
        assert second.returncode == 0, second.stderr

    for run in (first, second):
        for line in run.stderr.splitlines():
            record = json.loads(line)  # every line is one JSON object
            assert {"ts", "level", "logger", "msg"} <= record.keys()
            assert record["ts"].endswith("Z")

    def lines(run: subprocess.CompletedProcess[str], logger: str) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, run.stderr.splitlines()) if r["logger"] == logger]

    baseline = lines(first, "monitor.check")
    assert sorted((r["page"], r["status"], r["level"]) for r in baseline) == [
        ("acme-guidelines", "baseline", "info"), ("zoom-government-requests", "baseline", "info")]

    checks = lines(second, "monitor.check")
    outcomes = [r for r in checks if "event" not in r]
    events = [r for r in checks if "event" in r]
    assert sorted((r["page"], r["status"]) for r in outcomes) == [
        ("acme-guidelines", "not_modified"), ("zoom-government-requests", "changed")]
    [change] = [r for r in outcomes if r["status"] == "changed"]
    assert "Zoom page changed: +1 -0 lines" in change["msg"] and PAUSE in change["msg"]
    [event] = events  # the `changed` event is the change line itself; typed events get their own line
    assert (event["level"], event["event"], event["jurisdiction"], event["page"]) == (
        "warning", "pause_started", "HK", "zoom-government-requests")
    assert PAUSE in event["msg"]
    [sent] = lines(second, "monitor.alerts")
    assert sent["level"] == "info" and sent["sink"] == "hook" and sent["event"] == "pause_started"
    assert "alert sent: event #2 pause_started HK" in sent["msg"]


def test_under_journald_every_line_carries_its_syslog_priority(
    server: PageServer, write_config: Callable[..., Path]
) -> None:
    server.set("/zoom", PAGE.format(extra=""))
    server.set("/acme", PAGE.format(extra=""))
    config = write_config(_pages(server), alert_retry_for="0s",
                          alerts=[{"url": f"json://127.0.0.1:{free_port()}/down", "name": "down",
                                    "kinds": ["pause_started"]}])
    assert _journald_cli("check", "--config", str(config)).returncode == 0
    server.set("/zoom", PAGE.format(extra=f"<p>{PAUSE}</p>"))
    server.remove("/acme")  # 404: a failed check
    result = _journald_cli("check", "--config", str(config))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines and all(line[:3] in ("<3>", "<4>", "<6>") for line in lines), lines

    def prio(fragment: str) -> str:
        [line] = [line for line in lines if fragment in line]
        return line[:3]

    assert prio("zoom-government-requests: Zoom page changed") == "<6>"  # info
    assert prio("event pause_started HK") == "<4>"  # warning
    assert prio("acme-guidelines: check failed") == "<4>"
    assert prio("alert delivery failed for good after 1 attempts: event #2") == "<3>"  # error
    assert not [line for line in lines if " apprise: " in line]  # Apprise's own line is folded into ours
    # journald adds its own timestamp: the text after the prefix starts with the level.
    assert lines[0][3:].split(" ", 1)[0] in ("error", "warning", "info")

    as_json = _journald_cli("events", "--log-format", "json", "--log-level", "debug", "--config", str(config))
    assert as_json.returncode == 0


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_formatter_one_line_redacted_with_priorities(root_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_url = "json://hooks.example.org/services/T0K3N-abc-99887766?key=s3cretKEY42"
    register_secret_url(secret_url)
    monkeypatch.setenv("JOURNAL_STREAM", "8:1")
    stream = io.StringIO()
    setup_logging("text", "DEBUG", stream=stream)
    log = logging.getLogger("monitor.test")
    log.debug("debug %s", "detail")
    log.info("sending to %s", secret_url)
    log.warning("multi\nline\nmessage")
    try:
        raise RuntimeError(f"boom while posting to {secret_url} as mailto://bob:hunter2pass@mail.example.org")
    except RuntimeError:
        log.exception("delivery crashed")
    log.critical("fatal")
    lines = stream.getvalue().splitlines()
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<2>"]
    assert lines[2] == "<4>warning monitor.test: multi line message"
    assert "Traceback" in lines[3] and "RuntimeError" in lines[3]  # the traceback stays on its line
    text = stream.getvalue()
    for secret in ("T0K3N-abc-99887766", "s3cretKEY42", "hunter2pass"):
        assert secret not in text
    assert "***" in lines[1]

    monkeypatch.delenv("JOURNAL_STREAM")
    stream = io.StringIO()
    setup_logging("json", "INFO", stream=stream)
    logging.getLogger("monitor.test").debug("hidden at INFO")
    logging.getLogger("monitor.test").warning("to %s", secret_url, extra={"page": "p1", "count": 3, "obj": [1]})
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["page"] == "p1" and record["count"] == 3
    assert record["obj"] == "[1]" and "T0K3N" not in line and not line.startswith("<")


def test_quiet_keeps_warnings_only(server: PageServer, write_config: Callable[..., Path]) -> None:
    server.set("/zoom", PAGE.format(extra=""))
    server.set("/acme", PAGE.format(extra=""))
    config = write_config(_pages(server))
    result = run_cli("-q", "check", "--config", str(config))
    assert result.returncode == 0 and result.stderr == ""
    server.remove("/acme")
    failed = run_cli("check", "-q", "--config", str(config))
    assert failed.returncode == 1
    assert [line.split()[1] for line in failed.stderr.splitlines()] == ["warning"]


def test_formatter_text_lines_have_time_level_and_logger() -> None:
    record = logging.LogRecord("monitor.check", logging.INFO, __file__, 1, "a: %s", ("baseline",), None)
    line = LineFormatter("text").format(record)
    stamp, level, logger, message = line.split(None, 3)
    assert stamp.endswith("Z") and "T" in stamp
    assert (level, logger, message) == ("info", "monitor.check:", "a: baseline")
