"""The house rules that keep the code base walkable: one error tree, one vocabulary, a cheap
command line start.

- every exception class the monitor defines is a MonitorError, and errors.py's docstring draws
  every class of the tree;
- the recorded words keep their values (the database, JSON, CSV and feeds carry them);
- importing the command line, or a command's module, loads none of the heavy libraries that
  other commands need;
- a MonitorError that ends a command is one line on stderr with its exit status.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import socket
import subprocess
import sys
from pathlib import Path

import monitor
from monitor import errors
from monitor.errors import MonitorError
from monitor.vocabulary import CheckStatus, DeliveryStatus, EventKind, StatementState
from tests.conftest import ROOT, run_cli

HEAVY = ("rich", "jinja2", "apprise", "prometheus_client", "playwright", "alembic", "pypdf", "monitor.classify",
         "sqlalchemy", "requests", "lxml")


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(monitor.__path__, "monitor."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue  # alembic's env.py runs only under alembic; __main__ runs the CLI
        names.append(info.name)
    return names


def test_every_exception_class_is_in_the_tree() -> None:
    strays = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name \
                    and not issubclass(value, MonitorError):
                strays.append(f"{name}.{attr}")
    assert not strays, f"exception classes outside the MonitorError tree: {strays}"


def test_the_docstring_draws_every_class_of_the_tree() -> None:
    classes = [value for value in vars(errors).values() if inspect.isclass(value) and issubclass(value, MonitorError)]
    assert len(classes) >= 10
    drawn = errors.__doc__ or ""
    for cls in classes:
        assert f" {cls.__name__} " in drawn, f"monitor/errors.py: {cls.__name__} is not in the drawing"
        parent = cls.__mro__[1].__name__
        if cls is not MonitorError:  # drawn under its parent: the parent's line comes first
            assert drawn.index(f" {parent} ") < drawn.index(f" {cls.__name__} ")


def test_library_errors_can_be_caught_where_they_were_defined() -> None:
    from monitor.budget import WorkBudgetExceeded
    from monitor.config import ConfigError
    from monitor.extract import ExtractError
    from monitor.fetch import FetchError
    from monitor.store import StoreError

    assert FetchError is errors.FetchError and StoreError is errors.StoreError and ConfigError is errors.ConfigError
    assert issubclass(ExtractError, errors.PageError) and issubclass(WorkBudgetExceeded, errors.PageError)
    assert FetchError("HTTP 410", http_status=410).gone


def test_recorded_words_keep_their_values() -> None:
    # What the database, `check --json`, `events --json`, CSV and the feeds hold: docs/design.md, docs/events.md.
    assert [s.value for s in CheckStatus] == ["baseline", "unchanged", "not_modified", "changed", "unconfirmed",
                                              "failed", "raced", "busy", "reextracted"]
    assert [k.value for k in EventKind] == ["changed", "pause_started", "pause_lifted", "page_gone", "page_restored"]
    assert [s.value for s in StatementState] == ["paused", "lifted", "unspecified"]
    assert [s.value for s in DeliveryStatus] == ["pending", "sending", "sent", "failed"]
    assert json.dumps({"kind": EventKind.PAUSE_LIFTED}) == '{"kind": "pause_lifted"}'
    assert EventKind.PAGE_GONE.label == "page gone" and f"{CheckStatus.NOT_MODIFIED}" == "not_modified"


def test_check_statuses_are_the_documented_ones() -> None:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    table = text.split("## Check statuses", 1)[1].split("\n## ", 1)[0]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert documented == {s.value for s in CheckStatus}


def test_the_command_line_starts_without_heavy_libraries() -> None:
    # A command's module loads what the command needs (for `check`: tests/test_check_imports.py).
    module = "monitor.cli"
    code = (f"import sys, {module}\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.strip() == "[]", f"{module} imports at start: {loaded.stdout.strip()}"


def test_a_monitor_error_ends_a_command_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(f'[monitor]\ndatabase = "sqlite:///{tmp_path / "m.db"}"\n\n[[pages]]\nid = "a"\ncompany = "A"\n'
                      'url = "https://example.org/"\n', encoding="utf-8")
    usage = run_cli("history", "nope", "--config", str(config))
    assert usage.returncode == 2
    assert usage.stderr.strip().splitlines()[-1] == \
        "policy-monitor: unknown page id(s): nope (see `policy-monitor pages`)"
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config.write_text(config.read_text(encoding="utf-8").replace(
        f"sqlite:///{tmp_path / 'm.db'}", f"postgresql+psycopg://monitor:secret@127.0.0.1:{port}/monitor"),
        encoding="utf-8")
    broken = run_cli("events", "--config", str(config))
    assert broken.returncode == 1
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("policy-monitor: database error: "), broken.stderr
    assert "secret" not in broken.stderr
