"""`reextract` after a selector fix: a new baseline from the stored raw body, and no alert."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.check import check_page
from monitor.pageserver import PageServer
from monitor.reextract import reextract_pages
from tests.conftest import run_cli

PAGE = """<html><body><main>
<h1>Government requests</h1>
<p>We require a valid legal process for every request.</p>
<div class="promo">Visitors today: {n}. Try our new app!</div>
<p>We notify users unless prohibited by law.</p>
</main></body></html>"""


def test_selector_fix_then_reextract_gives_no_change(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any], tmp_path: Path
) -> None:
    server.set("/p", PAGE.format(n=101))
    server.set("/control", PAGE.format(n=101), etag=False)  # no 304: the body is extracted again
    pages = [{"id": "p", "url": server.url("/p")}, {"id": "control", "url": server.url("/control")}]
    config = write_config(pages, alerts=[{"url": "json://127.0.0.1:9/hook", "name": "hook"}])
    assert run_cli("check", "--config", str(config)).returncode == 0
    # The fix: drop the noisy block from both pages. Only `p` is re-extracted.
    config = write_config([{**page, "remove": [".promo"]} for page in pages],
                          alerts=[{"url": "json://127.0.0.1:9/hook", "name": "hook"}])
    result = run_cli("reextract", "p", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "p: new baseline snapshot" in result.stdout and "+0 -1 lines" in result.stdout
    assert "Traceback" not in result.stderr

    rt = runtime_for(config)
    snaps = rt.store.snapshots("p")
    assert [s.origin for s in snaps] == ["fetch", "reextract"]
    assert "Visitors today" not in snaps[-1].text and snaps[-1].raw_hash == snaps[0].raw_hash
    checks = rt.store.last_checks()
    assert checks["p"].status == "reextracted"
    assert rt.store.events() == [] and rt.store.changes() == []

    # The same served page, and then new noise inside the removed block: no change, no event.
    assert check_page(rt, rt.config.page("p")).status in ("unchanged", "not_modified")
    server.set("/p", PAGE.format(n=9999))
    assert check_page(rt, rt.config.page("p")).status == "unchanged"
    assert rt.store.events(page_id="p") == [] and rt.store.changes("p") == []
    # The control page, not re-extracted, reports the rule change as a change of the page.
    assert check_page(rt, rt.config.page("control")).status == "changed"
    assert [e.kind for e in rt.store.events(page_id="control")] == ["changed"]

    # Re-running is a no-op; --all covers every page; a real edit is still a change.
    again = run_cli("reextract", "--all", "--config", str(config))
    assert again.returncode == 0 and "is the same under the current rules" in again.stdout
    assert len(rt.store.snapshots("p")) == 2
    server.set("/p", PAGE.format(n=5).replace("every request", "every request, in writing"))
    assert check_page(rt, rt.config.page("p")).status == "changed"


def test_reextract_keeps_the_charset_and_reports_problems(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    body = "<p>Запросы правительства</p><p>Счётчик: 1</p>".encode("koi8-r")
    server.set("/ru", body, content_type="text/html; charset=koi8-r")
    config = write_config([{"id": "ru", "url": server.url("/ru")}, {"id": "never", "url": server.url("/none")}])
    rt = runtime_for(config)
    check_page(rt, rt.config.page("ru"))
    rt.close()
    config = write_config([{"id": "ru", "url": server.url("/ru"), "ignore": ["^Счётчик"]},
                           {"id": "never", "url": server.url("/none")}])
    rt = runtime_for(config)
    assert reextract_pages(rt, ["ru", "never"]) == 0
    assert rt.store.snapshots("ru")[-1].text == "Запросы правительства"
    server.set("/ru", body.replace(b"1", b"2"), content_type="text/html; charset=koi8-r")
    assert check_page(rt, rt.config.page("ru")).status == "unchanged"
    # A select that no longer matches: exit 1 with the reason, nothing recorded.
    config = write_config([{"id": "ru", "url": server.url("/ru"), "select": ["#gone"]}])
    result = run_cli("reextract", "ru", "--config", str(config))
    assert result.returncode == 1 and "matched nothing" in result.stdout and "Traceback" not in result.stderr
    assert run_cli("reextract", "--config", str(config)).returncode == 2
