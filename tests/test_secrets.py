"""Every ${VAR} value of the config is a secret: never printed, logged or stored, whatever it looks
like (an ntfy topic is a plain word, and it is the topic's only protection). A database URL is
never echoed with its password.

Real receivers on 127.0.0.1 (an ntfy-style server and a JSON webhook), the real command line, the
real SQLite file and PostgreSQL server.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from monitor.config import load_config
from monitor.logs import setup_logging
from monitor.pageserver import PageServer
from tests.alert_receivers import WebhookReceiver
from tests.conftest import ROOT, run_cli, wait_for
from tests.pg import pg_url  # noqa: F401  (fixture: a throwaway PostgreSQL database)
from tests.test_alerts import AFTER, BEFORE, ZOOM
from tests.test_logs import root_logging  # noqa: F401  (fixture: the root logger restored after the test)

TOPIC = "quietotter"  # short, no digit: the old rule (8+ characters with a digit) let it through
HOOK_TOKEN = "letmein"
DB_PASSWORD = "heronsleeps"


def _leaks(text: str) -> list[str]:
    return [secret for secret in (TOPIC, HOOK_TOKEN, DB_PASSWORD) if secret in text]


def test_secrets_from_env_never_reach_output_logs_or_the_database(
    server: PageServer, write_config: Callable[..., Path]
) -> None:
    with WebhookReceiver(mode="error") as ntfy, WebhookReceiver(mode="error") as hook:
        config = write_config([{**ZOOM, "url": server.url("/zoom")}], alerts=[
            {"url": f"ntfy://127.0.0.1:{ntfy.port}/${{NTFY_TOPIC}}", "name": "newsdesk"},
            {"url": f"json://127.0.0.1:{hook.port}/hooks/${{HOOK_TOKEN}}"},
        ])
        env = {"NTFY_TOPIC": TOPIC, "HOOK_TOKEN": HOOK_TOKEN}
        cfg = ["--config", str(config)]
        server.set("/zoom", BEFORE)
        outputs = [run_cli("check", *cfg, env=env)]
        for fmt in ("text", "json"):
            server.set("/zoom", AFTER if fmt == "text" else BEFORE)
            outputs.append(run_cli("check", "--log-format", fmt, "--log-level", "debug", *cfg, env=env))
        for command in (["alerts"], ["alerts", "test"], ["alerts", "retry"], ["config-check"], ["pages"],
                        ["events", "--json"]):
            outputs.append(run_cli(*command, "--log-level", "debug", *cfg, env=env))
        # The secrets were used: the receivers got the topic and the token...
        assert {request.data.get("topic") for request in ntfy.arrived} == {TOPIC}
        assert {request.path for request in hook.arrived} == {f"/hooks/{HOOK_TOKEN}"}
    # ...and the failures were reported, with the topic ntfy's error message names masked.
    combined = "\n".join(o.stdout + o.stderr for o in outputs)
    assert "alert delivery failed" in combined and "Failed to send ntfy notification to topic '***'" in combined
    assert "FAIL newsdesk (ntfy)" in outputs[4].stdout
    assert "last error" in outputs[3].stdout and "pending" in outputs[3].stdout
    assert _leaks(combined) == []
    database = (config.parent / "monitor.db").read_bytes()
    assert b"Failed to send" in database  # the delivery's last_error is stored...
    assert TOPIC.encode() not in database and HOOK_TOKEN.encode() not in database  # ...redacted


def test_json_log_extra_fields_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    root_logging: None,  # noqa: F811  (the fixture imported above)
) -> None:
    monkeypatch.setenv("NTFY_TOPIC", TOPIC)
    path = tmp_path / "m.toml"
    path.write_text('[[alerts]]\nurl = "ntfys://ntfy.sh/${NTFY_TOPIC}"\n')
    url = load_config(path).alerts[0].url  # loading the config registers its secrets
    stream = io.StringIO()
    setup_logging("json", "INFO", stream=stream)
    logging.getLogger("monitor.test").warning(
        "posting", extra={"url": url, "error": f"topic '{TOPIC}' refused", "detail": {"topic": TOPIC}, "n": 3})
    record = json.loads(stream.getvalue())
    assert "***" in record["url"] and record["error"] == "topic '***' refused" and "***" in record["detail"]
    assert record["n"] == 3 and _leaks(stream.getvalue()) == []


def _pg_with_password(url: str, database: str | None = None, in_query: bool = False) -> str:
    """The test server's URL with ${PG_PASSWORD} as the password (trust auth ignores it)."""
    parts = make_url(url)
    host = f"{parts.host}:{parts.port or 5432}"
    name = database or parts.database
    if in_query:
        return f"{parts.drivername}://{parts.username}@{host}/{name}?password=${{PG_PASSWORD}}"
    return f"{parts.drivername}://{parts.username}:${{PG_PASSWORD}}@{host}/{name}"


@pytest.mark.postgres
def test_database_url_is_never_echoed_with_its_password(
    pg_url: str,  # noqa: F811  (the fixture imported above)
    server: PageServer, write_config: Callable[..., Path],
) -> None:
    server.set("/zoom", BEFORE)
    env = {"PG_PASSWORD": DB_PASSWORD}
    host = f"{make_url(pg_url).host}:{make_url(pg_url).port or 5432}"
    outputs = []
    for in_query in (False, True):
        config = write_config([{**ZOOM, "url": server.url("/zoom")}],
                              database=_pg_with_password(pg_url, in_query=in_query))
        cfg = ["--config", str(config)]
        checked = run_cli("config-check", *cfg, env=env)
        assert checked.returncode == 0, checked.stderr
        shown = "?password=***" if in_query else f"database postgresql+psycopg://***:***@{host}/"
        assert shown in checked.stdout, checked.stdout
        outputs += [checked, run_cli("migrate", *cfg, env=env), run_cli("check", "--log-level", "debug", *cfg, env=env)]
        assert outputs[-1].returncode == 0, outputs[-1].stderr
    daemon = _daemon_start_lines(cfg, env)
    assert f"database postgresql+psycopg://***:***@{host}/" in daemon or "password=***" in daemon, daemon
    # A database that cannot be opened: the error names it, not its password.
    broken = write_config([{**ZOOM, "url": server.url("/zoom")}], name="broken.toml",
                          database=_pg_with_password(pg_url, database="pm_no_such_database"))
    failed = run_cli("pages", "--config", str(broken), env=env)
    assert failed.returncode == 1 and "pm_no_such_database" in failed.stderr
    unsupported = write_config([], name="mysql.toml", database="mysql://monitor:${PG_PASSWORD}@db.example/monitor")
    refused = run_cli("config-check", "--config", str(unsupported), env=env)
    assert refused.returncode == 2 and "unsupported database URL 'mysql://***:***@db.example/monitor'" in refused.stderr
    combined = "\n".join(o.stdout + o.stderr for o in [*outputs, failed, refused]) + daemon
    assert _leaks(combined) == []


def _daemon_start_lines(cfg: list[str], env: dict[str, str]) -> str:
    """What `run` logs until it says it is running (then it is stopped)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    full_env.pop("NOTIFY_SOCKET", None)
    full_env.pop("JOURNAL_STREAM", None)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", *cfg], cwd=ROOT, text=True, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: any("policy-monitor running" in line for line in list(lines)), timeout=60), lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        reader.join(10)
    return "".join(lines)


def test_a_sink_key_is_not_derived_from_its_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is stored and listed; a short hash of a URL holding a short topic could be reversed
    by trying candidate topics. It comes from the URL as written, so a rotated secret keeps it."""
    path = tmp_path / "m.toml"
    path.write_text('[[alerts]]\nurl = "ntfys://ntfy.sh/${NTFY_TOPIC}"\n\n[[alerts]]\nurl = "ntfys://ntfy.sh/open"\n')
    keys = []
    for topic in (TOPIC, "anotherotter"):
        monkeypatch.setenv("NTFY_TOPIC", topic)
        config = load_config(path)
        keys.append(config.alerts[0].key)
        expanded = "sink-" + hashlib.sha256(f"ntfys://ntfy.sh/{topic}".encode()).hexdigest()[:12]
        assert config.alerts[0].keys == (keys[-1], expanded)  # rows recorded by earlier versions still go
    assert keys[0] == keys[1] == "sink-" + hashlib.sha256(b"ntfys://ntfy.sh/${NTFY_TOPIC}").hexdigest()[:12]
    assert config.alerts[1].keys == ("sink-" + hashlib.sha256(b"ntfys://ntfy.sh/open").hexdigest()[:12],)


def test_alerts_recorded_under_the_earlier_key_of_a_sink_are_still_sent(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import update

    from monitor.alerts import deliver_pending
    from monitor.check import check_page
    from monitor.models import Delivery

    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
    with WebhookReceiver() as hook:
        config = write_config([{**ZOOM, "url": server.url("/zoom")}],
                              alerts=[{"url": f"json://127.0.0.1:{hook.port}/hooks/${{HOOK_TOKEN}}"}])
        rt = runtime_for(config)
        sink = rt.config.alerts[0]
        for text in (BEFORE, AFTER):
            server.set("/zoom", text)
            check_page(rt, rt.config.page(ZOOM["id"]))
        with rt.store.engine.begin() as conn:  # as an earlier version recorded them
            conn.execute(update(Delivery).values(sink=sink.keys[1]))
        assert deliver_pending(rt).sent == 2
        assert [p["kind"] for p in hook.payloads()] == ["changed", "pause_started"]
