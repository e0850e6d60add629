"""Config loading and validation: every problem named by page and key; exit 2 from the CLI."""

from __future__ import annotations

import json
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


def test_booleans_are_not_numbers_and_path_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "bools.toml"
    path.write_text('[monitor]\nmax_bytes = true\nworkers = false\nwork_budget = true\n'
                    '[[pages]]\nid = "a"\ncompany = "A"\nurl = "https://example.org/"\nfollow_max = true\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(info.value.problems)
    assert "key 'monitor.max_bytes': expected a number, got true" in text
    assert "key 'monitor.workers': expected a number, got false" in text
    assert "key 'monitor.work_budget'" in text
    assert "page 'a' (pages[0]): key 'follow_max': expected a number, got true" in text
    path.write_text('path = "/elsewhere/monitor.toml"\n')
    with pytest.raises(ConfigError, match="key 'path': unknown key"):
        load_config(path)


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


# -- values that would break the daemon: finite, with sane bounds, each error naming page and key --

BAD_VALUES = [  # (TOML line, section, key named in the error, what the error says)
    ('interval = "0s"', "monitor", "monitor.interval", "must be between 1s and 365d, got 0s"),
    ("interval = nan", "monitor", "monitor.interval", "not a finite duration"),
    ("interval = inf", "monitor", "monitor.interval", "not a finite duration"),
    ('interval = "400d"', "monitor", "monitor.interval", "must be between"),
    ("timeout = inf", "monitor", "monitor.timeout", "not a finite duration"),
    ("timeout = 0", "monitor", "monitor.timeout", "must be between 1s"),
    ("timeout = -nan", "monitor", "monitor.timeout", "not a finite duration"),
    ("deadline = inf", "monitor", "monitor.deadline", "not a finite duration"),
    ('deadline = "0.5s"', "monitor", "monitor.deadline", "must be between 1s"),
    ('jitter = "1e9d"', "monitor", "monitor.jitter", "not a duration"),
    ("jitter = 1e300", "monitor", "monitor.jitter", "must be between 0s and 7d"),
    ("retry_after_cap = inf", "monitor", "monitor.retry_after_cap", "not a finite duration"),
    ("confirm_delay = nan", "monitor", "monitor.confirm_delay", "not a finite duration"),
    ("alert_interval = 0", "monitor", "monitor.alert_interval", "must be between 1s"),
    ("alert_retry_for = inf", "monitor", "monitor.alert_retry_for", "not a finite duration"),
    ('lease = "0s"', "monitor", "monitor.lease", "must be between 1s"),
    ("confirm_shrink = nan", "monitor", "monitor.confirm_shrink", "finite"),
    ("max_bytes = 9223372036854775807", "monitor", "monitor.max_bytes", "less than or equal to 1073741824"),
    ("max_bytes = 0", "monitor", "monitor.max_bytes", "greater than or equal to 1"),
    ("gone_after = 9223372036854775807", "monitor", "monitor.gone_after", "less than or equal"),
    ('interval = "0s"', "page", "interval", "must be between 1s"),
    ("interval = nan", "page", "interval", "not a finite duration"),
    ("jitter = inf", "page", "jitter", "not a finite duration"),
    ("confirm_shrink = inf", "page", "confirm_shrink", "finite"),
]


def _config_with(line: str, section: str) -> str:
    monitor = line if section == "monitor" else ""
    page = line if section == "page" else ""
    return f'[monitor]\n{monitor}\n\n[[pages]]\nid = "zoom"\ncompany = "Zoom"\nurl = "https://example.org/"\n{page}\n'


@pytest.mark.parametrize(("line", "section", "key", "message"), BAD_VALUES)
def test_values_that_would_break_the_daemon_are_refused(
    tmp_path: Path, line: str, section: str, key: str, message: str
) -> None:
    path = tmp_path / "m.toml"
    path.write_text(_config_with(line, section))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    who = "page 'zoom' (pages[0]): " if section == "page" else ""
    assert f"{who}key '{key}': " in problem and message in problem, problem


def test_the_smallest_sane_values_stay_valid(tmp_path: Path) -> None:
    """Short intervals and timeouts against loopback servers are what the tests themselves use."""
    path = tmp_path / "m.toml"
    path.write_text('[monitor]\ninterval = "1s"\njitter = "0s"\ntimeout = 1\ndeadline = "1s"\nlease = "1s"\n'
                    'alert_interval = "1s"\nalert_retry_for = "0s"\nconfirm_delay = "0s"\nretry_after_cap = 0\n'
                    'max_bytes = 1\nconfirm_shrink = 0.0\n\n'
                    '[[pages]]\nid = "a"\ncompany = "A"\nurl = "http://127.0.0.1:8080/a"\ninterval = "5s"\n'
                    'jitter = "7d"\n')
    config = load_config(path)
    assert (config.monitor.interval, config.monitor.timeout, config.monitor.deadline) == (1, 1, 1)
    assert config.interval_of(config.page("a")) == 5 and config.jitter_of(config.page("a")) == 7 * 86400
    path.write_text('[monitor]\ntimeout = "2s"\ninterval = "5s"\n')
    assert load_config(path).monitor.timeout == 2


def test_run_refuses_a_config_that_would_break_it_with_exit_status_2(tmp_path: Path) -> None:
    """`interval = nan` crashed `run`, and systemd restarted it until its start limit."""
    path = tmp_path / "m.toml"
    path.write_text(_config_with("interval = nan", "page").replace("[monitor]\n",
                                                                      f'[monitor]\ndatabase = "sqlite:///{tmp_path}/m.db"'))
    for command in ("run", "check", "config-check"):
        result = run_cli(command, "--config", str(path), timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert "config error: " in result.stderr and "page 'zoom' (pages[0]): key 'interval'" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("url", "message"), [
    ("http://[::1", "not a valid URL 'http://[::1': Invalid IPv6 URL"),
    ("https://" + "a" * 64 + ".example/", "is 64 characters (1-63 allowed)"),
    ("https://" + ".".join(["abcdefgh"] * 30) + "/", "longer than 253 characters"),
    ("https://a..b.example/", "is 0 characters"),
    ("https://exa mple.org/", "characters a host name cannot have"),
    ("https://example.org:99999/", "Port out of range"),
    ("https://example.org:0/", "port 0"),
    ("https://☃.example/", "not a valid internationalized name"),
    ("https://example.org/a\r\nX-Injected: 1", "control characters"),
])
def test_config_check_refuses_urls_a_fetch_could_not_request(tmp_path: Path, url: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(f'[[pages]]\nid = "odd"\ncompany = "Odd"\nurl = {json.dumps(url)}\n')
    result = run_cli("config-check", "--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert "page 'odd' (pages[0]): key 'url': " in line and message in line, line


def test_config_check_accepts_ordinary_urls(tmp_path: Path) -> None:
    urls = ["https://example.org/", "http://127.0.0.1:8080/p", "http://[::1]:8080/p", "https://bücher.example/",
            "https://xn--bcher-kva.example/", "https://my_host.example./x?y=1", "https://" + "a" * 63 + ".example/"]
    path = tmp_path / "m.toml"
    path.write_text("".join(f'[[pages]]\nid = "p{n}"\ncompany = "P"\nurl = {json.dumps(url)}\n\n'
                            for n, url in enumerate(urls)))
    assert len(load_config(path).pages) == len(urls)


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
