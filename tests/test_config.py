"""Config loading and validation: every problem named by page and key; exit 2 from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config, parse_duration
from tests.conftest import run_cli


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("6h", 21600), ("1d", 86400),
                                               (30, 30), ("1.5h", 5400), ("250ms", 0.25)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["6 hours", "h", "-5m", "", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_valid_config_resolves_database_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-t0ken")
    path = tmp_path / "sub" / "m.toml"
    path.parent.mkdir()
    path.write_text("""
[monitor]
database = "sqlite:///state/db.sqlite"
interval = "15m"

[[alerts]]
url = "json://127.0.0.1:9/hook/${HOOK_TOKEN}"
kinds = ["pause_started"]

[[pages]]
id = "zoom"
company = "Zoom"
url = "https://example.org/zoom"
interval = "1h"
select = ["main", "article > p"]
ignore = ['^Last updated: .*$']
""")
    config = load_config(path)
    assert config.monitor.database == f"sqlite:///{tmp_path / 'sub' / 'state' / 'db.sqlite'}"
    assert config.alerts[0].url.endswith("/hook/s3cr3t-t0ken")
    assert config.alerts[0].wants("pause_started") and not config.alerts[0].wants("changed")
    page = config.page("zoom")
    assert config.interval_of(page) == 3600
    assert config.jitter_of(page) == 300  # the [monitor] default


def test_every_problem_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("""
[monitor]
interval = "soon"
colour = "blue"

[[alerts]]
url = "mailto://u:${NOT_SET_ANYWHERE_12345}@example.org"

[[pages]]
id = "a"
company = "A"
url = "ftp://example.org/a"

[[pages]]
id = "b"
company = "B"
url = "https://example.org/b"
select = ["main["]
ignore = ["(unclosed"]
selct = ["main"]
""")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(info.value.problems)
    assert "key 'monitor.interval'" in text and "not a duration" in text
    assert "key 'monitor.colour': unknown key" in text
    assert "NOT_SET_ANYWHERE_12345" in text
    assert "page 'a' (pages[0]): key 'url'" in text
    assert "page 'b' (pages[1]): key 'select'" in text and "invalid CSS selector" in text
    assert "page 'b' (pages[1]): key 'ignore'" in text and "invalid regex" in text
    assert "page 'b' (pages[1]): key 'selct': unknown key" in text


def test_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "dup.toml"
    page = '[[pages]]\nid = "x"\ncompany = "X"\nurl = "https://example.org/"\n'
    path.write_text(page + "\n" + page)
    with pytest.raises(ConfigError, match=r"page 'x' \(pages\[1\]\): key 'id': duplicate of pages\[0\]"):
        load_config(path)


def test_config_check_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[[pages]]\nid = "x"\ncompany = "X"\nurl = "https://example.org/"\n')
    result = run_cli("config-check", "--config", str(good))
    assert result.returncode == 0, result.stderr
    assert "1 pages" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[pages]]\nid = "X Y"\ncompany = "X"\nurl = "notaurl"\n[oops]\n')
    result = run_cli("config-check", "--config", str(bad))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert len(lines) == 3, result.stderr
    assert "Traceback" not in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[monitor\n")
    result = run_cli("config-check", "--config", str(broken))
    assert result.returncode == 2 and "invalid TOML" in result.stderr
    result = run_cli("config-check", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2 and "cannot read config" in result.stderr


def test_env_config_path(tmp_path: Path) -> None:
    path = tmp_path / "env.toml"
    path.write_text('[[pages]]\nid = "x"\ncompany = "X"\nurl = "https://example.org/"\n')
    result = run_cli("config-check", env={"MONITOR_CONFIG": str(path)})
    assert result.returncode == 0 and str(path) in result.stdout


def test_fetch_mode_keys_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "fetch.toml"
    path.write_text("""
[monitor]
fetch = "headless"

[[pages]]
id = "a"
company = "A"
url = "https://example.org/a"
fetch = "plain"
wait_for = "main"

[[pages]]
id = "b"
company = "B"
url = "https://example.org/b"
fetch = "browser"
wait_for = "main["
""")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(info.value.problems)
    assert "key 'monitor.fetch'" in text
    assert "page 'b' (pages[1]): key 'wait_for'" in text and "invalid CSS selector" in text
    path.write_text(path.read_text().replace('fetch = "headless"', 'fetch = "auto"').replace('"main["', '"main"'))
    with pytest.raises(ConfigError, match=r"page 'a' \(pages\[0\]\): key 'wait_for': only used when the page is "
                                          r"rendered"):
        load_config(path)
    path.write_text(path.read_text().replace('fetch = "plain"\n', ""))
    config = load_config(path)  # page a now inherits "auto" from [monitor]
    assert [config.fetch_of(page) for page in config.pages] == ["auto", "browser"]


def test_shipped_config_renders_the_pages_that_need_scripts() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "config" / "monitor.toml")
    tiktok = config.page("tiktok-law-enforcement-guidelines")
    assert config.fetch_of(tiktok) == "browser" and tiktok.select == [".content"]
    assert config.fetch_of(config.page("x-law-enforcement-guidelines")) == "auto"
    assert config.fetch_of(config.page("telegram-privacy-policy")) == "plain"
