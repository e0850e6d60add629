"""SIGKILL at random moments: `check` and `run` processes are killed mid-flight across many
checks of pages that change; the database must stay whole and consistent, and the next check
must carry on from the last recorded snapshot."""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from monitor.pageserver import PageServer
from tests.alert_receivers import WebhookReceiver
from tests.conftest import ROOT

PAGES = 4
ROUNDS = 60  # 50 `check` processes and 10 `run` processes


def _body(page: int, revision: int) -> str:
    stable = "".join(f"<p>Page {page} rule {k}: requests need a valid legal process.</p>" for k in range(25))
    return f"<main><h1>Guide {page}</h1>{stable}<p>Revision {revision}: answers within {revision + 1} days.</p></main>"


def _spawn(command: str, config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen([sys.executable, "-m", "monitor", command, "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_at_random_moments_leaves_a_whole_consistent_database(
    server: PageServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261127")))
    revisions = [0] * PAGES
    for page in range(PAGES):
        server.set(f"/p{page}", _body(page, 0))
    with WebhookReceiver() as hook:
        config = write_config(
            [{"id": f"p{page}", "url": server.url(f"/p{page}"), "interval": "1s"} for page in range(PAGES)],
            alerts=[{"url": hook.url(), "name": "hook"}],
            # Short leases and deadlines: a killed process's page claim lapses within seconds.
            lease="3s", deadline="5s", timeout=2, alert_interval="1s",
        )
        db = tmp_path / "monitor.db"
        # How long a whole `check` takes here (start, 4 fetches, records, alerts), so that kills
        # land anywhere in it, on a fast machine or a loaded one; this run is also the baseline.
        assert _spawn("check", config).wait(timeout=120) == 0
        for page in range(PAGES):  # calibrate on a check with changes and alerts, the common case
            revisions[page] += 1
            server.set(f"/p{page}", _body(page, revisions[page]))
        started = time.monotonic()
        assert _spawn("check", config).wait(timeout=120) == 0
        full = time.monotonic() - started
        killed = completed = 0
        stderr: list[str] = []
        for round_ in range(ROUNDS):
            for page in rng.sample(range(PAGES), rng.randint(1, PAGES)):
                revisions[page] += 1
                server.set(f"/p{page}", _body(page, revisions[page]))
            command = "run" if round_ % 6 == 5 else "check"
            proc = _spawn(command, config)
            # The calibration can run on a quiet moment and a later round on a busy one: the
            # range reaches past `full` far enough that some rounds finish whatever the load.
            delay = rng.uniform(full, 4 * full) if command == "run" else rng.uniform(0.2, 2.5 * full)
            try:
                proc.wait(timeout=delay)
                completed += 1
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
            stderr.append(proc.stderr.read().decode() if proc.stderr else "")
            if proc.stderr:
                proc.stderr.close()
        assert killed >= 20 and completed >= 2, (killed, completed, full)
        assert not any("Traceback" in text for text in stderr), next(t for t in stderr if "Traceback" in t)

        # Restart: one clean check continues from what was recorded, and delivers what is due.
        final = _spawn("check", config)
        _, err = final.communicate(timeout=120)
        assert final.returncode in (0, 1), err
        assert "Traceback" not in err.decode()

    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        changes = con.execute("SELECT id, page_id, snapshot_id, previous_snapshot_id FROM change").fetchall()
        assert len(changes) >= 20, f"only {len(changes)} changes recorded; the scenario did not exercise much"
        # Every change has exactly one `changed` event, and every event its one outbox row.
        per_change = Counter(row[0] for row in con.execute(
            "SELECT change_id FROM event WHERE kind = 'changed'").fetchall())
        assert all(per_change[change[0]] == 1 for change in changes)
        assert sum(per_change.values()) == len(changes), "a `changed` event without its change"
        events = [row[0] for row in con.execute("SELECT id FROM event").fetchall()]
        per_event = Counter(row[0] for row in con.execute("SELECT event_id FROM delivery WHERE sink = 'hook'"))
        assert all(per_event[event] == 1 for event in events) and sum(per_event.values()) == len(events)
        # The snapshot chain has no gap and no repeat: each change moves from the page's
        # previous snapshot, consecutive snapshots differ, and nothing was recorded twice.
        for page in range(PAGES):
            snaps = con.execute("SELECT id, text_hash, text FROM snapshot WHERE page_id = ? ORDER BY id",
                                (f"p{page}",)).fetchall()
            page_changes = {row[2]: row[3] for row in changes if row[1] == f"p{page}"}
            assert len(page_changes) == len(snaps) - 1
            for before, after in itertools.pairwise(snaps):
                assert page_changes[after[0]] == before[0], f"p{page}: change to {after[0]} not from {before[0]}"
                assert before[1] != after[1], f"p{page}: snapshots {before[0]} and {after[0]} repeat a text"
            # ... and the final check brought every page up to what the server shows now.
            assert f"Revision {revisions[page]}:" in snaps[-1][2]
        statuses = dict(con.execute("SELECT status, count(*) FROM delivery GROUP BY status").fetchall())
        assert set(statuses) <= {"sent", "pending", "sending"}, statuses
        # Rows still 'sending' belong to killed processes; their claims lapse and they are resent.
        assert statuses.get("sending", 0) <= killed
        sent = {row[0] for row in con.execute("SELECT event_id FROM delivery WHERE status = 'sent'")}
    finally:
        con.close()
    received = Counter(payload.get("id") for payload in hook.payloads())
    print(f"crashes: {killed} killed, {completed} completed (a full check took {full:.1f}s); {len(changes)} changes, "
          f"{len(events)} events, deliveries {statuses}, {sum(n - 1 for n in received.values())} repeated alerts")
    assert sent <= set(received), "a delivery marked sent never reached the receiver"
    assert set(received) <= set(events), "an alert for an event that is not in the database"
    # At-least-once: only a kill between the receiver's 200 and the commit can repeat an alert.
    assert sum(n - 1 for n in received.values()) <= killed
