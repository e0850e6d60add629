"""Alerts to one sink arrive in event order: after an outage, "paused" is read before "lifted".

Real pages on 127.0.0.1, real webhook receivers that fail and recover, the real `check` command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.alerts import deliver_pending
from monitor.check import check_page
from monitor.pageserver import PageServer
from tests.alert_receivers import WebhookReceiver
from tests.conftest import run_cli, wait_for
from tests.pg import db_url  # noqa: F401  (fixture: SQLite and PostgreSQL)
from tests.test_alerts import AFTER, BEFORE, ZOOM

PAUSES = ["pause_started", "pause_lifted"]


def test_a_recovered_sink_gets_pause_started_before_pause_lifted(
    server: PageServer, write_config: Callable[..., Path]
) -> None:
    with WebhookReceiver(mode="error") as hook:
        config = write_config([{**ZOOM, "url": server.url("/zoom")}],
                              alerts=[{"url": hook.url(), "name": "newsroom", "kinds": PAUSES}])
        server.set("/zoom", BEFORE)
        assert run_cli("check", "--config", str(config)).returncode == 0  # baseline
        server.set("/zoom", AFTER)
        paused = run_cli("check", "--config", str(config))
        assert paused.returncode == 1, paused.stderr  # the receiver answered 503
        assert len(hook.arrived) == 1 and hook.received == []
        # The receiver is back; the pause statement is gone. The new `pause_lifted` alert must not
        # overtake the `pause_started` one waiting out its backoff (30 s): it brings it forward.
        hook.mode = "ok"
        server.set("/zoom", BEFORE)
        lifted = run_cli("check", "--config", str(config))
        assert lifted.returncode == 0, lifted.stderr
        assert [p["kind"] for p in hook.payloads()] == PAUSES
        assert all(p["jurisdiction"] == "HK" for p in hook.payloads())
        listed = run_cli("alerts", "--config", str(config))
        assert listed.stdout.strip() == "no pending or failed deliveries"


def test_a_sink_still_failing_keeps_the_newer_alert_behind_the_older(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
    db_url: str,  # noqa: F811  (the fixture imported above)
) -> None:
    with WebhookReceiver(mode="error") as hook:
        config = write_config([{**ZOOM, "url": server.url("/zoom")}], database=db_url,
                              alerts=[{"url": hook.url(), "name": "newsroom", "kinds": PAUSES}])
        rt = runtime_for(config)
        page = rt.config.page(ZOOM["id"])
        for text in (BEFORE, AFTER):
            server.set("/zoom", text)
            check_page(rt, page)
        assert deliver_pending(rt).failed == 1
        server.set("/zoom", BEFORE)
        assert [e.kind for e in check_page(rt, page).events] == ["changed", "pause_lifted"]
        # New traffic: the oldest alert is tried again at once (still 503), the newer one waits behind it.
        summary = deliver_pending(rt)
        assert (summary.sent, summary.failed, summary.pending) == (0, 1, 2)
        assert [request.data["kind"] for request in hook.arrived] == ["pause_started", "pause_started"]
        [(first, _), (second, _)] = rt.store.deliveries(("pending",))
        assert (first.attempts, second.attempts) == (2, 0)
        assert second.next_attempt_at == first.next_attempt_at  # deferred together


def test_a_newer_alert_waits_while_an_older_one_to_the_same_sink_is_being_sent(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
    db_url: str,  # noqa: F811  (the fixture imported above)
) -> None:
    with WebhookReceiver(delay=1.0) as hook:  # each answer takes a second
        config = write_config([{**ZOOM, "url": server.url("/zoom")}], database=db_url,
                              alerts=[{"url": hook.url(), "name": "newsroom"}])
        rt = runtime_for(config)
        page = rt.config.page(ZOOM["id"])
        for text in (BEFORE, AFTER):
            server.set("/zoom", text)
            check_page(rt, page)
        sending = threading.Thread(target=deliver_pending, args=(rt,))
        sending.start()
        try:
            assert wait_for(lambda: len(hook.arrived) == 1, timeout=10)
            # Another process's pass while the first alert is on the wire: it sends nothing.
            assert deliver_pending(runtime_for(config)).sent == 0
        finally:
            sending.join(30)
        assert [p["kind"] for p in hook.payloads()] == ["changed", "pause_started"]
        assert len(hook.arrived) == 2
