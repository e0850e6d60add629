"""The daemon (`run`) delivers alerts from its own loop and rebuilds the report after a change."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import lxml.html

from monitor.pageserver import PageServer
from tests.alert_receivers import WebhookReceiver
from tests.conftest import ROOT, wait_for

PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
PAGE = "<html><body><main><h1>Government requests</h1><p>We review every request.</p>{extra}</main></body></html>"


def _board_state(index: Path) -> str | None:
    try:
        doc = lxml.html.parse(str(index)).getroot()
    except OSError:
        return None
    cells = doc.xpath('//td[@data-company="Zoom"][@data-jurisdiction="HK"]/@data-state')
    return cells[0] if cells else None


def test_daemon_sends_alerts_and_rebuilds_the_report(
    server: PageServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    server.set("/zoom", PAGE.format(extra=""))
    report = tmp_path / "report"
    with WebhookReceiver() as hook:
        config = write_config(
            [{"id": "zoom-government-requests", "company": "Zoom", "url": server.url("/zoom"), "interval": "2s"}],
            alerts=[{"url": hook.url(), "kinds": ["pause_started"]}], report={"out": str(report)},
            alert_interval="1s",
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("NOTIFY_SOCKET", None)
        env.pop("JOURNAL_STREAM", None)
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert wait_for(lambda: server.hits.get("/zoom", 0) >= 1, timeout=30), "no baseline check"
            server.set("/zoom", PAGE.format(extra=f"<p>{PAUSE}</p>"))
            assert wait_for(lambda: len(hook.received) == 1, timeout=30), "the daemon sent no alert"
            payload = hook.payloads()[0]
            assert payload["title"] == "Zoom paused government data requests from Hong Kong (HK)"
            assert wait_for(lambda: _board_state(report / "index.html") == "paused", timeout=30)
            assert (report / "feed.xml").is_file()
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert len(hook.received) == 1  # not re-sent by later passes
        assert "alert sent: event #2 pause_started HK" in out
