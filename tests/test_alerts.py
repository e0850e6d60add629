"""Alerts end to end: real pages on 127.0.0.1, a real SMTP server, real webhook receivers."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    backoff,
    build_message,
    deliver_pending,
    page_label,
    title_for,
)
from monitor.check import check_page
from monitor.models import Event, utcnow
from monitor.pageserver import PageServer
from tests.alert_receivers import SMTPReceiver, WebhookReceiver, free_port
from tests.conftest import ROOT, run_cli, wait_for
from tests.pg import db_url  # noqa: F401  (fixture: SQLite and PostgreSQL)

PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
BEFORE = """<html><body><main>
<h1>Government requests</h1>
<p>We review every request for legal validity before we respond.</p>
<p>We publish the number of requests twice a year.</p>
</main></body></html>"""
AFTER = BEFORE.replace("</main>", f"<p>{PAUSE}</p></main>")
PASSWORD = "Sm7p-pa55w0rd-Zq"
TOKEN = "T0KEN-hook-5ecret-8842"
ZOOM = {"id": "zoom-government-requests", "company": "Zoom"}


def _zoom(server: PageServer) -> dict[str, Any]:
    return {**ZOOM, "url": server.url("/zoom")}


def _changed(server: PageServer, rt: Any) -> None:
    """Baseline, then the pause statement appears: one `changed` and one `pause_started` event."""
    page = rt.config.page("zoom-government-requests")
    server.set("/zoom", BEFORE)
    assert check_page(rt, page).status == "baseline"
    server.set("/zoom", AFTER)
    outcome = check_page(rt, page)
    assert outcome.status == "changed"
    assert [(e.kind, e.jurisdiction) for e in outcome.events] == [("changed", None), ("pause_started", "HK")]


def _delivery_states(rt: Any) -> Counter[str]:
    return Counter(d.status for d, _ in rt.store.deliveries(("pending", "sending", "sent", "failed")))


def test_a_change_is_mailed_and_posted_with_a_readable_title_and_a_parseable_last_line(
    server: PageServer, write_config: Callable[..., Path]
) -> None:
    with SMTPReceiver("alice", PASSWORD) as smtp, WebhookReceiver() as hook, WebhookReceiver() as form:
        config = write_config(
            [_zoom(server)],
            alerts=[
                {"url": smtp.url(password="${SMTP_PASSWORD}"), "kinds": ["pause_started", "pause_lifted"]},
                {"url": hook.url(path=f"/hooks/{TOKEN}"), "name": "newsroom-webhook"},
                {"url": form.url("form"), "kinds": ["pause_started"]},
            ],
        )
        env = {"SMTP_PASSWORD": PASSWORD}
        server.set("/zoom", BEFORE)
        first = run_cli("check", "--config", str(config), env=env)
        assert first.returncode == 0, first.stderr
        assert not smtp.messages and not hook.received  # a baseline is not news
        server.set("/zoom", AFTER)
        second = run_cli("check", "--config", str(config), env=env)
        assert second.returncode == 0, second.stderr

        # Mail: only the pause (kinds filter), a title a person understands, the quote, the URL, the diff.
        assert smtp.logins == [("LOGIN", True)] or smtp.logins == [("PLAIN", True)]
        [(subject, body)] = smtp.bodies()
        assert subject == "Zoom paused government data requests from Hong Kong (HK)"
        lines = body.strip().splitlines()
        assert lines[-1] == "pause_started zoom-government-requests HK"
        assert f"“{PAUSE}”" in lines[0]
        assert f"Page: {server.url('/zoom')}" in body
        assert "Detected: " in body and " UTC" in body
        assert f"+ {PAUSE}" in body  # the short diff

        # JSON webhook: both events, each with Apprise's title/message and the event object's fields.
        payloads = sorted(hook.payloads(), key=lambda p: p["id"])
        assert [p["kind"] for p in payloads] == ["changed", "pause_started"]
        # the title counts the changed sentences about government requests; the body lists them first
        assert payloads[0]["title"] == "Zoom government requests page changed (1 relevant sentence)"
        assert payloads[0]["relevant"] == [f"+ {PAUSE}"]
        assert payloads[0]["message"].splitlines()[:2] == ["About government data requests:", f"+ {PAUSE}"]
        assert payloads[0]["message"].splitlines()[-1] == "changed zoom-government-requests -"
        pause = payloads[1]
        assert pause["title"] == "Zoom paused government data requests from Hong Kong (HK)"
        assert pause["message"].splitlines()[-1] == "pause_started zoom-government-requests HK"
        events = [json.loads(line) for line in
                  run_cli("events", "--json", "--config", str(config), env=env).stdout.splitlines()]
        assert {k: pause[k] for k in events[1]} == events[1]  # the payload carries the event object verbatim
        assert pause["jurisdiction"] == "HK" and pause["quote"] == PAUSE and pause["page"] == ZOOM["id"]
        assert hook.received[0].path == f"/hooks/{TOKEN}"

        # form:// webhook: flat fields plus the event as JSON text.
        [form_data] = form.payloads()
        assert form_data["kind"] == "pause_started" and form_data["jurisdiction"] == "HK"
        assert json.loads(form_data["event"])["quote"] == PAUSE

        for output in (first.stdout, first.stderr, second.stdout, second.stderr):
            assert PASSWORD not in output and TOKEN not in output
        assert PASSWORD.encode() not in (config.parent / "monitor.db").read_bytes()


def test_a_sink_that_is_down_gets_the_alert_exactly_once_after_it_comes_back(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
    db_url: str,  # noqa: F811  (the fixture imported above)
) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    config = write_config([_zoom(server)], alerts=[{"url": f"json://127.0.0.1:{port}/hook", "name": "late"}],
                          database=db_url)
    rt = runtime_for(config)
    _changed(server, rt)
    summary = deliver_pending(rt)
    assert (summary.sent, summary.failed, summary.pending) == (0, 1, 2)  # one try; the other row deferred
    assert _delivery_states(rt) == {"pending": 2}
    [(delivery, _), _] = rt.store.deliveries(("pending",))
    assert delivery.attempts == 1 and delivery.last_error
    assert delivery.next_attempt_at > utcnow() + timedelta(seconds=BACKOFF_FIRST * 0.7)

    listed = run_cli("alerts", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert "pending" in listed.stdout and "late" in listed.stdout and "2 pending" in listed.stdout

    with WebhookReceiver(port=port) as hook:
        # Backoff is respected: nothing is due yet, so nothing is sent.
        assert deliver_pending(rt).sent == 0 and hook.arrived == []
        # A fresh process (a restart) once the retry is due: both alerts arrive, each once.
        later = runtime_for(config)
        summary = deliver_pending(later, now=utcnow() + timedelta(seconds=BACKOFF_FIRST * 2))
        assert (summary.sent, summary.failed, summary.pending) == (2, 0, 0)
        for hours in (1, 5, 30):
            assert deliver_pending(later, now=utcnow() + timedelta(hours=hours)).sent == 0
        assert sorted(p["kind"] for p in hook.payloads()) == ["changed", "pause_started"]
        assert len(hook.arrived) == 2
    assert _delivery_states(rt) == {"sent": 2}


def test_deliveries_pending_when_a_check_process_is_killed_are_sent_after_restart(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    with WebhookReceiver(mode="hang") as hook:
        config = write_config([_zoom(server)], alerts=[{"url": hook.url(), "name": "hook"}], timeout=30)
        server.set("/zoom", BEFORE)
        assert run_cli("check", "--config", str(config)).returncode == 0
        server.set("/zoom", AFTER)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("JOURNAL_STREAM", None)
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "check", "--config", str(config)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # The check recorded the events and is now waiting on the receiver: kill it there.
            assert wait_for(lambda: len(hook.arrived) == 1, timeout=60)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        hook.release.set()
        hook.mode = "ok"

        rt = runtime_for(config)
        assert _delivery_states(rt) == {"sending": 1, "pending": 1}  # one in flight, one not reached
        # The dead process's claim is still valid: the claimed row waits, and so does the pending
        # one, which must not overtake it (alerts to a sink go out in event order).
        summary = deliver_pending(rt)
        assert summary.sent == 0 and _delivery_states(rt) == {"sending": 1, "pending": 1}
        # Once the claim has expired (it outlives the longest send), both go, in event order.
        summary = deliver_pending(rt, now=utcnow() + timedelta(seconds=30 * 2 + 5 + 31))
        assert summary.sent == 2 and _delivery_states(rt) == {"sent": 2}
        assert [p["kind"] for p in hook.payloads()] == ["changed", "pause_started"]


def test_a_failing_sink_does_not_delay_another(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    with WebhookReceiver(mode="hang") as slow, WebhookReceiver() as fast:
        config = write_config([_zoom(server)], timeout=2,
                              alerts=[{"url": slow.url(), "name": "slow"}, {"url": fast.url(), "name": "fast"}])
        rt = runtime_for(config)
        _changed(server, rt)
        started = time.monotonic()
        result: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: result.update(summary=deliver_pending(rt)))
        worker.start()
        assert wait_for(lambda: len(fast.received) == 2, timeout=5)
        fast_done = time.monotonic() - started
        worker.join(30)
        elapsed = time.monotonic() - started
        summary = result["summary"]
        assert fast_done < 1.5, f"the healthy sink waited {fast_done:.2f}s"
        assert elapsed >= 2.0  # the hanging sink cost its timeout, in parallel
        assert (summary.sent, summary.failed, summary.pending) == (2, 1, 2)
        assert len(slow.arrived) == 1  # after one failure the pass skips the sink's other rows
        pending = rt.store.deliveries(("pending",))
        assert {d.sink for d, _ in pending} == {"slow"}
        assert len({d.next_attempt_at for d, _ in pending}) == 1  # deferred together
        assert "(after 2." in (pending[0][0].last_error or "")  # it waited for the configured timeout


def test_two_processes_never_send_the_same_delivery(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
    db_url: str,  # noqa: F811  (the fixture imported above)
) -> None:
    with WebhookReceiver(delay=0.05) as hook:
        config = write_config([_zoom(server)], alerts=[{"url": hook.url(), "name": f"hook{n}"} for n in range(3)],
                              database=db_url)
        rt = runtime_for(config)
        page = rt.config.page("zoom-government-requests")
        text = BEFORE
        for n in range(4):  # 4 changes -> 4 `changed` events (one also pause_started) x 3 sinks
            text = text.replace("</main>", f"<p>Update number {n} to our process.</p></main>")
            server.set("/zoom", text)
            check_page(rt, page)
        total = len(rt.store.deliveries(("pending",)))
        assert total >= 9
        others = [runtime_for(config) for _ in range(3)]
        threads = [threading.Thread(target=deliver_pending, args=(r,)) for r in [rt, *others]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        keys = Counter((r.path, r.headers.get("Content-Length"), r.data["id"], r.data["title"]) for r in hook.received)
        assert len(hook.received) == total
        assert _delivery_states(rt) == {"sent": total}
        assert max(keys.values()) <= 3  # same event to three sinks, never twice to one
        per_event = Counter(r.data["id"] for r in hook.received)
        assert set(per_event.values()) == {3}


def test_credentials_never_appear_in_output_or_logs(
    server: PageServer, write_config: Callable[..., Path]
) -> None:
    with SMTPReceiver("alice", "the-right-password-1") as smtp, WebhookReceiver(mode="error") as hook:
        # Wrong password and a webhook that answers 503: both fail, and errors get logged.
        config = write_config([_zoom(server)], alerts=[
            {"url": smtp.url(password="${SMTP_PASSWORD}")},
            {"url": hook.url(path=f"/hooks/{TOKEN}?token={TOKEN}")},
        ])
        env = {"SMTP_PASSWORD": PASSWORD}
        server.set("/zoom", BEFORE)
        outputs = [run_cli("check", "--config", str(config), env=env)]
        server.set("/zoom", AFTER)
        for fmt in ("text", "json"):
            outputs.append(run_cli("check", "--log-format", fmt, "--log-level", "debug", "--config", str(config),
                                   env=env))
            server.set("/zoom", AFTER.replace("twice", f"three times ({fmt})"))
        outputs.append(run_cli("alerts", "--config", str(config), env=env))
        outputs.append(run_cli("alerts", "test", "--config", str(config), env=env))
        outputs.append(run_cli("alerts", "retry", "--config", str(config), env=env))
        outputs.append(run_cli("config-check", "--config", str(config), env=env))
        assert outputs[1].returncode == 1  # the deliveries failed
        assert smtp.logins and not any(ok for _, ok in smtp.logins)
        assert hook.arrived
        combined = "\n".join(o.stdout + o.stderr for o in outputs)
        assert "alert delivery failed" in combined  # the failures were logged...
        assert PASSWORD not in combined and TOKEN not in combined  # ...without the secrets
        assert "FAIL" in outputs[4].stdout


def test_alerts_retry_requeues_failed_deliveries(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    port = free_port()
    config = write_config([_zoom(server)], alert_retry_for="0s",
                          alerts=[{"url": f"json://127.0.0.1:{port}/hook", "kinds": ["pause_started"]}])
    rt = runtime_for(config)
    server.set("/zoom", BEFORE)
    assert run_cli("check", "--config", str(config)).returncode == 0
    server.set("/zoom", AFTER)
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1  # a delivery failed (the check itself is recorded)
    assert "alert delivery failed for good after 1 attempts" in result.stderr
    assert " error " in result.stderr or "error   monitor.alerts" in result.stderr
    assert _delivery_states(rt) == {"failed": 1}
    listed = run_cli("alerts", "--config", str(config))
    assert "failed" in listed.stdout and "pause_started HK" in listed.stdout and "1 failed" in listed.stdout
    with WebhookReceiver(port=port) as hook:
        retry = run_cli("alerts", "retry", "--config", str(config))
        assert retry.returncode == 0, retry.stdout + retry.stderr
        assert "requeued 1 failed delivery" in retry.stdout and "sent 1" in retry.stdout
        assert [p["kind"] for p in hook.payloads()] == ["pause_started"]
    assert _delivery_states(rt) == {"sent": 1}
    assert run_cli("alerts", "--config", str(config)).stdout.strip() == "no pending or failed deliveries"
    again = run_cli("alerts", "retry", "--config", str(config))
    assert again.returncode == 0 and "requeued 0" in again.stdout


def test_an_unnamed_sink_keeps_its_pending_alerts_when_its_url_changes(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    down = free_port()  # the old address: nothing listens
    config = write_config([_zoom(server)], alerts=[{"url": f"json://127.0.0.1:{down}/hook"}])
    rt = runtime_for(config)
    _changed(server, rt)
    assert deliver_pending(rt).sent == 0 and _delivery_states(rt) == {"pending": 2}
    with WebhookReceiver() as hook:
        # The operator points the sink somewhere else (no `name`: its key is its URL).
        moved = write_config([_zoom(server)], alerts=[{"url": hook.url()}])
        later = runtime_for(moved)
        summary = deliver_pending(later, now=utcnow() + timedelta(seconds=BACKOFF_FIRST * 2))
        assert (summary.sent, summary.failed) == (2, 0)
        assert sorted(p["kind"] for p in hook.payloads()) == ["changed", "pause_started"]
    assert _delivery_states(rt) == {"sent": 2}


def test_pending_alerts_of_a_removed_sink_fail_when_no_new_sink_is_clearly_it(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    down = free_port()
    config = write_config([_zoom(server)], alerts=[{"url": f"json://127.0.0.1:{down}/hook"}])
    rt = runtime_for(config)
    _changed(server, rt)
    assert deliver_pending(rt).sent == 0
    with WebhookReceiver() as one, WebhookReceiver() as two:
        # Two new sinks: which one the old one became cannot be told, so nothing is guessed.
        moved = write_config([_zoom(server)], alerts=[{"url": one.url()}, {"url": two.url()}])
        summary = deliver_pending(runtime_for(moved), now=utcnow() + timedelta(seconds=BACKOFF_FIRST * 2))
        assert summary.sent == 0 and one.arrived == [] and two.arrived == []
    assert _delivery_states(rt) == {"failed": 2}
    [(delivery, _), _] = rt.store.deliveries(("failed",))
    assert "no longer in the config" in (delivery.last_error or "") and "`name`" in (delivery.last_error or "")


def test_alerts_test_reports_each_sink(server: PageServer, write_config: Callable[..., Path]) -> None:
    down = free_port()
    with SMTPReceiver("alice", PASSWORD) as smtp, WebhookReceiver() as hook:
        good = [{"url": smtp.url(), "name": "mail"}, {"url": hook.url(), "name": "team-hook"}]
        config = write_config([_zoom(server)], alerts=[*good, {"url": f"json://127.0.0.1:{down}/x", "name": "gone"}])
        result = run_cli("alerts", "test", "--config", str(config))
        assert result.returncode == 1
        lines = result.stdout.splitlines()
        assert "ok   mail (mailto)" in lines and "ok   team-hook (json)" in lines
        assert any(line.startswith("FAIL gone (json): ") for line in lines)
        assert lines[-1] == "2 of 3 sinks reached"
        [(subject, body)] = smtp.bodies()
        assert subject == "policy-monitor test message" and body.strip().splitlines()[-1] == "test - -"
        assert hook.payloads()[0]["kind"] == "test"
        assert PASSWORD not in result.stdout + result.stderr

        ok = run_cli("alerts", "test", "--config", str(write_config([_zoom(server)], alerts=good, name="ok.toml")))
        assert ok.returncode == 0 and ok.stdout.splitlines()[-1] == "2 of 2 sinks reached"


def test_titles_name_the_company_the_jurisdiction_and_the_page() -> None:
    def event(kind: str, page: str, company: str, jurisdiction: str | None = None) -> Event:
        return Event(id=1, page_id=page, company=company, url="https://example.org/", kind=kind,
                     jurisdiction=jurisdiction, detected_at=utcnow())

    assert title_for(event("pause_lifted", "zoom-government-requests", "Zoom", "HK")) == \
        "Zoom lifted its pause on government data requests from Hong Kong (HK)"
    assert title_for(event("pause_started", "x", "Microsoft", "RU")) == \
        "Microsoft paused government data requests from Russia (RU)"
    assert title_for(event("changed", "microsoft-law-enforcement-report", "Microsoft")) == \
        "Microsoft law enforcement report changed"
    assert title_for(event("page_gone", "telegram-privacy-policy", "Telegram")) == "Telegram privacy policy is gone"
    assert page_label("google-transparency", "Google LLC") == "google transparency"
    assert title_for(event("pause_started", "ring-neighbors-policy", "Ring")) == \
        "Ring paused government data requests (jurisdiction unspecified)"


def test_a_change_message_shows_the_relevant_sentences_first() -> None:
    relevant = ["- We review every request from Hong Kong police.",
                "+ We have paused our review of requests from Hong Kong police."]
    changed = Event(id=3, page_id="zoom-government-requests", company="Zoom", url="https://example.org/",
                    kind="changed", quote="Hong Kong", detected_at=utcnow(), relevant=json.dumps(relevant))
    message = build_message(changed, "Hong Kong\nold", "Hong Kong\nnew")
    assert message.title == "Zoom government requests page changed (2 relevant sentences)"
    lines = message.body.splitlines()
    assert lines[:3] == ["About government data requests:", *relevant]
    assert lines[-1] == "changed zoom-government-requests -"
    assert message.payload["relevant"] == relevant
    typed = Event(id=4, page_id="zoom-government-requests", company="Zoom", url="https://example.org/",
                  kind="pause_started", jurisdiction="HK", quote="We have paused our review of these requests.",
                  context="Hong Kong SAR", evidence="stated", rule="stop+handling", detected_at=utcnow())
    body = build_message(typed, None, None).body
    assert "Jurisdiction from: “Hong Kong SAR”" in body
    assert build_message(typed, None, None).payload["context"] == "Hong Kong SAR"


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    import random

    rng = random.Random(4)
    delays = [backoff(n, rng) for n in range(1, 12)]
    assert BACKOFF_FIRST * 0.8 <= delays[0] <= BACKOFF_FIRST * 1.2
    assert all(b > a for a, b in itertools.pairwise(delays[:6]))
    assert all(d <= BACKOFF_MAX * 1.2 for d in delays) and delays[-1] >= BACKOFF_MAX * 0.8
    assert len({round(backoff(3, rng), 3) for _ in range(20)}) > 10  # jitter spreads retries


@pytest.mark.parametrize("bad_url", ["nosuchscheme://whatever/abc", "json://"])
def test_an_unusable_sink_url_fails_its_deliveries_without_blocking(
    bad_url: str, server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    with WebhookReceiver() as hook:
        config = write_config([_zoom(server)], alerts=[{"url": bad_url, "name": "bad"},
                                                       {"url": hook.url(), "name": "good"}])
        rt = runtime_for(config)
        _changed(server, rt)
        summary = deliver_pending(rt)
        assert summary.sent == 2 and summary.failed == 2 and summary.gave_up == 2
        assert len(hook.received) == 2
        failed = rt.store.deliveries(("failed",))
        assert {d.sink for d, _ in failed} == {"bad"}
        assert all("Apprise URL" in (d.last_error or "") for d, _ in failed)


def test_secret_parts_of_sink_urls_are_masked_but_addresses_are_not() -> None:
    from monitor.redact import redact, register_secret_url

    urls = {
        "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123456": ["AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"],
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ": ["TIiajkdnlazkcOXrIdevi7FQ", "A1BRTD4JD"],
        "mailtos://reporter:n0t-in-logs@mail.example.org:587": ["n0t-in-logs"],
        "json://10.1.2.3:8080/hooks/abc?token=Zz9-very-secret": ["Zz9-very-secret"],
    }
    for url in urls:
        register_secret_url(url)
    for url, secrets in urls.items():
        line = redact(f"failed to send via {url} (see {url.split('://', 1)[1]})")
        assert all(secret not in line for secret in secrets), line
    # Where a page or a mail server is stays readable in logs.
    assert redact("fetch http://10.1.2.3:8080/page failed; mail.example.org:587 down") == \
        "fetch http://10.1.2.3:8080/page failed; mail.example.org:587 down"
