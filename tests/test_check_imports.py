"""What a `check` process loads: only what the command needs (its start-up is most of the CPU
of a pass over unchanged pages), and an unchanged pass without validators is one cheap write."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from monitor.pageserver import PageServer
from tests.conftest import ROOT

PAGE = "<html><body><main><h1>Privacy</h1>" + "<p>We review every government request for user data.</p>" * 50 + \
    "</main></body></html>"
# Never needed by a `check` of plain pages whose text did not change.
NEVER = ("monitor.browser", "playwright", "monitor.metrics", "prometheus_client", "apprise", "jinja2", "alembic",
         "rich", "pypdf", "monitor.report", "monitor.feeds", "monitor.archive", "monitor.export", "apscheduler")
# Needed only for a new or changed text (classify, diff) or a followed document.
ONLY_FOR_NEW_TEXT = ("monitor.classify", "monitor.diff", "monitor.documents", "monitor.status")

_PROBE = """
import json, runpy, sys
sys.argv = ["monitor", *sys.argv[2:]]
try:
    runpy.run_module("monitor", run_name="__main__")
except SystemExit:
    pass
with open(OUT, "w") as out:
    json.dump(sorted(sys.modules), out)
"""


def _modules_of_check(config: Path, out: Path) -> set[str]:
    """The modules loaded by the end of a real `check -q` process (piped, as from cron)."""
    code = f"OUT = {str(out)!r}\n" + _PROBE
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-c", code, "-", "check", "-q", "--config", str(config)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_check_loads_what_it_needs(server: PageServer, write_config: Callable[..., Path], tmp_path: Path) -> None:
    server.set("/p", PAGE, etag=False)  # no validators: every check downloads the whole page
    config = write_config([{"id": "p", "url": server.url("/p"), "select": ["main"]}])
    first = _modules_of_check(config, tmp_path / "first.json")
    # The first run makes the schema, with Alembic (monitor.migrate); later runs only read its revision.
    assert _loaded(first, NEVER) == _loaded(first, ("alembic",))
    assert "monitor.classify" in first  # the baseline's statements: the probe sees real imports
    again = _modules_of_check(config, tmp_path / "again.json")
    assert _loaded(again, NEVER) == []
    assert _loaded(again, ONLY_FOR_NEW_TEXT) == []
    db = sqlite3.connect(tmp_path / "monitor.db")
    try:
        statuses = [row[0] for row in db.execute('SELECT status FROM "check" ORDER BY id')]
        # the unchanged check stored nothing but its check row: one snapshot, one raw body
        counts = [db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("snapshot", "raw_body")]
    finally:
        db.close()
    assert statuses == ["baseline", "unchanged"]
    assert counts == [1, 1]
