"""Pages rendered by the real Chromium (fetch = "browser" / "auto"), served on 127.0.0.1.

Every test drives `check_page` (or the CLI) against real servers: one for the page, and a
second on 127.0.0.2, an address the config refuses, that must never see a request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from monitor.browser import find_chromium
from monitor.check import check_page
from monitor.pageserver import PageServer
from tests.chromium import chromium  # noqa: F401  (the fixture: skip without Chromium, fail under CI=true)
from tests.conftest import count_checks, run_cli, wait_for
from tests.test_daemon import _start as start_daemon
from tests.test_daemon import _stop as stop_daemon

pytestmark = pytest.mark.usefixtures("chromium")
ONLY_LOOPBACK_ONE = ["127.0.0.1/32"]  # the page's server is allowed; 127.0.0.2 is not

DELAYED_AND_XHR = """<!doctype html><html><head><title>Guidelines</title></head><body>
<main id="app"><p>Loading...</p></main>
<noscript>Please enable JavaScript to view this page.</noscript>
<script>
  setTimeout(function () {
    document.getElementById("app").innerHTML =
      "<h1>Law enforcement guidelines</h1><p>We have paused processing any data requests from Hong Kong SAR.</p>";
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/api/numbers");
    xhr.onload = function () {
      var p = document.createElement("p");
      p.className = "numbers";
      p.textContent = JSON.parse(xhr.responseText).line;
      document.getElementById("app").appendChild(p);
    };
    xhr.send();
  }, 1200);
</script></body></html>"""
SERVER_RENDERED = ("<!doctype html><html><body><main><h1>Transparency report</h1>"
                   + "<p>We received 1,234 requests for user data in the second half of the year.</p>" * 8
                   + "</main></body></html>")


@pytest.fixture
def refused() -> Iterator[PageServer]:
    """A server on 127.0.0.2: loopback, so refused by allow_private_addresses = ["127.0.0.1/32"]."""
    with PageServer(host="127.0.0.2") as srv:
        srv.set("/secret", "<p>internal secret</p>")
        yield srv


def _navigations(server: PageServer, path: str) -> int:
    """Requests for `path` made by a browser (Sec-Fetch-* headers), not by the plain fetcher."""
    with server.lock:
        return sum(1 for p, headers in server.requests if p == path and "Sec-Fetch-Mode" in headers)


def _plain_gets(server: PageServer, path: str) -> int:
    with server.lock:
        return sum(1 for p, headers in server.requests if p == path and "Sec-Fetch-Mode" not in headers)


def test_text_written_by_scripts_after_a_delay_and_from_an_xhr(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/guidelines", DELAYED_AND_XHR)
    server.set("/api/numbers", '{"line": "Requests received: 42."}', content_type="application/json")
    rt = runtime_for(write_config([{"id": "g", "url": server.url("/guidelines"), "fetch": "browser",
                                    "select": ["main"]}]))
    outcome = check_page(rt, rt.config.page("g"))
    assert outcome.status == "baseline", outcome.error
    snap = rt.store.snapshot(outcome.snapshot_id)
    assert snap.text.splitlines() == ["Law enforcement guidelines",
                                      "We have paused processing any data requests from Hong Kong SAR.",
                                      "Requests received: 42."]
    assert snap.fetch_mode == "browser" and outcome.fetch_mode == "browser"
    assert rt.store.page_state("g").fetch_mode == "browser"
    # The same rendered text again: unchanged, whatever the markup's scripts look like.
    assert check_page(rt, rt.config.page("g")).status == "unchanged"
    # A real edit behind the XHR goes through compare, diff and classify like a plain change.
    server.set("/api/numbers", '{"line": "Requests received: 43."}', content_type="application/json")
    changed = check_page(rt, rt.config.page("g"))
    assert changed.status == "changed" and (changed.added, changed.removed) == (1, 1)
    assert [e.kind for e in rt.store.events()] == ["changed"]


def test_auto_renders_a_shell_and_remembers_it(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/guidelines", DELAYED_AND_XHR)
    server.set("/api/numbers", '{"line": "Requests received: 42."}', content_type="application/json")
    rt = runtime_for(write_config([{"id": "g", "url": server.url("/guidelines"), "fetch": "auto",
                                    "select": ["main h1"]}]))
    page = rt.config.page("g")
    first = check_page(rt, page)
    assert first.status == "baseline", first.error
    assert first.fetch_mode == "browser"
    assert rt.store.snapshot(first.snapshot_id).text == "Law enforcement guidelines"
    assert _plain_gets(server, "/guidelines") == 1 and _navigations(server, "/guidelines") == 1
    assert rt.store.page_state("g").fetch_mode == "browser"
    # Remembered: the next check renders at once, without a plain fetch first.
    assert check_page(rt, page).status == "unchanged"
    assert _plain_gets(server, "/guidelines") == 1 and _navigations(server, "/guidelines") == 2
    out = run_cli("pages", "--config", str(rt.config.path))
    assert "auto (browser)" in out.stdout, out.stdout + out.stderr
    history = run_cli("history", "g", "--config", str(rt.config.path))
    assert "browser" in history.stdout


@pytest.mark.parametrize("shell, why", [
    ('<html><body><div id="root"></div><script src="/app.js"></script></body></html>', "no text"),
    ("<html><body><header>TikTok</header><div class='content'></div>"
     "<noscript>You need to enable JavaScript to run this app.</noscript><script src='/app.js'></script>"
     "</body></html>", "too little text"),
], ids=["empty", "notice"])
def test_auto_recognises_shells(
    shell: str, why: str, server: PageServer, write_config: Callable[..., Path],
    runtime_for: Callable[[Path], Any],
) -> None:
    server.set("/spa", shell)
    server.set("/app.js", "document.getElementById('root') && (document.getElementById('root').innerHTML = "
                          "'<p>' + 'Rendered by the application. '.repeat(20) + '</p>');"
                          "document.querySelector('.content') && (document.querySelector('.content').textContent = "
                          "'Rendered content. '.repeat(20));", content_type="text/javascript")
    rt = runtime_for(write_config([{"id": "spa", "url": server.url("/spa"), "fetch": "auto"}]))
    outcome = check_page(rt, rt.config.page("spa"))
    assert outcome.status == "baseline", (why, outcome.error)
    assert outcome.fetch_mode == "browser", why
    assert "Rendered" in rt.store.snapshot(outcome.snapshot_id).text


def test_auto_stays_plain_when_the_page_needs_no_scripts(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/report", SERVER_RENDERED)
    rt = runtime_for(write_config([{"id": "r", "url": server.url("/report"), "fetch": "auto", "select": ["main"]}]))
    page = rt.config.page("r")
    first = check_page(rt, page)
    assert first.status == "baseline" and first.fetch_mode == "plain"
    assert rt.store.snapshot(first.snapshot_id).fetch_mode == "plain"
    assert check_page(rt, page).status == "not_modified"  # still a conditional GET
    assert _navigations(server, "/report") == 0 and rt.browser.pids() == []  # no browser was even started
    assert rt.store.page_state("r").fetch_mode == "plain"


def test_scripts_cannot_reach_a_refused_address(
    server: PageServer, refused: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    secret = refused.url("/secret")
    ws = secret.replace("http://", "ws://")
    server.set("/hop", b"", status=302, headers={"Location": secret}, etag=False)
    server.set("/page", f"""<!doctype html><html><body><main><h1>Public page</h1><p id="out">start</p></main>
<link rel="prefetch" href="{secret}?prefetch">
<script>
  function note(what) {{ document.getElementById("out").textContent += " " + what; }}
  fetch("{secret}?fetch").then(function () {{ note("fetch-ok"); }}, function () {{ note("fetch-refused"); }});
  fetch("/hop").then(function () {{ note("hop-ok"); }}, function () {{ note("hop-refused"); }});
  var xhr = new XMLHttpRequest(); xhr.open("GET", "{secret}?xhr");
  xhr.onload = function () {{ note("xhr-ok"); }}; xhr.onerror = function () {{ note("xhr-refused"); }}; xhr.send();
  var socket = new WebSocket("{ws}?ws"); socket.onerror = function () {{ note("ws-refused"); }};
  navigator.sendBeacon("{secret}?beacon", "x");
  var frame = document.createElement("iframe"); frame.src = "{secret}?frame"; document.body.appendChild(frame);
  var script = document.createElement("script"); script.src = "{secret}?script"; document.body.appendChild(script);
  new Worker(URL.createObjectURL(new Blob(["fetch('{secret}?worker')"])));
</script></body></html>""")
    rt = runtime_for(write_config([{"id": "p", "url": server.url("/page"), "fetch": "browser", "select": ["main"]}],
                                  allow_private_addresses=ONLY_LOOPBACK_ONE))
    outcome = check_page(rt, rt.config.page("p"))
    assert outcome.status == "baseline", outcome.error
    text = rt.store.snapshot(outcome.snapshot_id).text
    assert text.startswith("Public page\nstart")
    for refused_kind in ("fetch-refused", "hop-refused", "xhr-refused", "ws-refused"):
        assert refused_kind in text, text
    assert "internal secret" not in text
    assert server.hits.get("/hop") == 1  # the allowed first hop happened; its redirect did not
    assert refused.hits == {}, f"a request reached the refused server: {refused.requests}"


def test_a_page_that_moves_itself_elsewhere_is_read_where_it_lands(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/start", "<html><body><p>Redirecting...</p><script>setTimeout(function () "
                         "{ location.replace('/en/final'); }, 300);</script></body></html>")
    server.set("/en/final", SERVER_RENDERED)
    rt = runtime_for(write_config([{"id": "m", "url": server.url("/start"), "fetch": "browser",
                                    "select": ["main"]}]))
    outcome = check_page(rt, rt.config.page("m"))
    assert outcome.status == "baseline", outcome.error
    assert rt.store.snapshot(outcome.snapshot_id).text.startswith("Transparency report\nWe received 1,234")


def test_a_page_that_navigates_to_a_refused_address_fails(
    server: PageServer, refused: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/away", f"<html><body><p>Moving...</p><script>location.href = '{refused.url('/secret')}';"
                        "</script></body></html>")
    rt = runtime_for(write_config([{"id": "a", "url": server.url("/away"), "fetch": "browser"}],
                                  allow_private_addresses=ONLY_LOOPBACK_ONE))
    outcome = check_page(rt, rt.config.page("a"))
    assert outcome.failed and "refused" in (outcome.error or ""), outcome
    assert refused.hits == {}


def test_the_page_itself_at_a_refused_address_is_refused_before_the_browser_starts(
    refused: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    rt = runtime_for(write_config([{"id": "s", "url": refused.url("/secret"), "fetch": "browser"}],
                                  allow_private_addresses=ONLY_LOOPBACK_ONE))
    outcome = check_page(rt, rt.config.page("s"))
    assert outcome.failed and "non-public address 127.0.0.2" in (outcome.error or ""), outcome
    assert refused.hits == {} and rt.browser.pids() == []


def _drip_forever(handler: BaseHTTPRequestHandler) -> None:
    """Headers, then a byte a second: a script that never finishes loading (at most a minute)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/javascript")
    handler.end_headers()
    for _ in range(60):
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(1)


@pytest.mark.parametrize("name, body", [
    ("never finishes loading", "<html><body><p>Waiting</p><script src='/slow.js'></script></body></html>"),
    ("endless loop", "<html><body><p>Busy</p><script>while (true) {}</script></body></html>"),
    ("endless loop after load",
     "<html><body><p>Busy</p><script>setTimeout(function () { for (;;) {} }, 50)</script></body></html>"),
    ("never settles", "<html><body><p>Polling</p><script>setInterval(function () {"
                      "fetch('/poll?' + Math.random()); }, 200)</script></body></html>"),
])
def test_a_page_that_never_settles_fails_within_its_deadline_and_the_browser_goes_on(
    name: str, body: str, server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/page", body)
    server.set("/slow.js", handler=_drip_forever)
    server.set("/poll", "ok", content_type="text/plain")
    server.set("/fine", SERVER_RENDERED)
    deadline = 10  # short, for a quick test; long enough for the good page on a loaded machine
    rt = runtime_for(write_config([{"id": "bad", "url": server.url("/page"), "fetch": "browser"},
                                   {"id": "fine", "url": server.url("/fine"), "fetch": "browser"}],
                                  deadline=deadline))
    started = time.monotonic()
    outcome = check_page(rt, rt.config.page("bad"))
    took = time.monotonic() - started
    assert outcome.failed, (name, outcome)
    assert f"deadline of {deadline}s exceeded" in (outcome.error or ""), outcome.error
    assert took < deadline + 10, f"{name}: the failed check took {took:.1f}s"
    # The browser is still good for the next page.
    assert check_page(rt, rt.config.page("fine")).status == "baseline"


def test_a_page_that_eats_memory_fails_and_the_browser_goes_on(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/hog", "<html><body><p>Hungry</p><script>var keep = []; setInterval(function () {"
                       "for (var i = 0; i < 20000; i++) { keep.push(new Array(64).fill(i)); "
                       "var d = document.createElement('div'); d.textContent = 'x'.repeat(64) + i; "
                       "document.body.appendChild(d); } }, 0);</script></body></html>")
    server.set("/fine", SERVER_RENDERED)
    rt = runtime_for(write_config([{"id": "hog", "url": server.url("/hog"), "fetch": "browser"},
                                   {"id": "fine", "url": server.url("/fine"), "fetch": "browser"}],
                                  deadline=60, browser_memory=400))
    started = time.monotonic()
    outcome = check_page(rt, rt.config.page("hog"))
    assert outcome.failed and "memory" in (outcome.error or ""), outcome
    assert time.monotonic() - started < 60
    assert check_page(rt, rt.config.page("fine")).status == "baseline"


def test_the_rendered_dom_is_capped_at_max_bytes(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/big", "<html><body><p>Small</p><script>document.body.append('w '.repeat(200000));</script>"
                       "</body></html>")
    rt = runtime_for(write_config([{"id": "big", "url": server.url("/big"), "fetch": "browser"}],
                                  max_bytes=100_000))
    outcome = check_page(rt, rt.config.page("big"))
    assert outcome.failed and "rendered page too large" in (outcome.error or ""), outcome


def test_images_fonts_popups_permissions_and_service_workers_are_refused(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/page", """<!doctype html><html><head><style>
@font-face { font-family: F; src: url(/font.woff2); } body { font-family: F; }
</style></head><body><main><p id="out">Policy text.</p><img src="/img.png"><video src="/clip.mp4"></video></main>
<script>
  function note(what) { document.getElementById("out").textContent += " " + what; }
  note(window.open("/popup") ? "popup-opened" : "popup-blocked");
  navigator.geolocation.getCurrentPosition(function () { note("geolocation-given"); },
                                           function () { note("geolocation-denied"); });
  Promise.resolve(navigator.serviceWorker.register("/sw.js")).catch(function () {}).then(function () {
    return navigator.serviceWorker.getRegistrations();
  }).then(function (all) { note("service-workers-" + all.length); });
</script></body></html>""")
    for path in ("/font.woff2", "/img.png", "/clip.mp4", "/popup", "/sw.js"):
        server.set(path, "x", content_type="application/octet-stream")
    rt = runtime_for(write_config([{"id": "p", "url": server.url("/page"), "fetch": "browser", "select": ["main"]}]))
    outcome = check_page(rt, rt.config.page("p"))
    assert outcome.status == "baseline", outcome.error
    text = rt.store.snapshot(outcome.snapshot_id).text
    assert "popup-blocked" in text and "geolocation-denied" in text and "service-workers-0" in text, text
    assert all(server.hits.get(path, 0) == 0 for path in ("/font.woff2", "/img.png", "/clip.mp4", "/popup",
                                                          "/sw.js")), server.hits


STORAGE_PAGE = """<html><body><main><p id="out"></p></main><script>
  var seen = localStorage.getItem("visits") || "0";
  localStorage.setItem("visits", String(Number(seen) + 1));
  document.cookie = "c=1";
  document.getElementById("out").textContent = "visits before: " + seen + "; cookie: " + (document.cookie || "-");
</script></body></html>"""


BUILDS = {"headless shell": "/usr/lib/chromium/chromium-headless-shell", "full Chromium": "/usr/lib/chromium/chromium"}


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_both_chromium_builds_render_scripts_and_refuse_pop_ups(
    build: str, server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    """The headless shell is preferred (less memory); the full browser stays a working fallback."""
    path = BUILDS[build]
    if not os.access(path, os.X_OK):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {path} is missing (.ci/run installs both builds)", pytrace=False)
        pytest.skip(f"{path} is not installed")
    server.set("/guidelines", DELAYED_AND_XHR)
    server.set("/api/numbers", '{"line": "Requests received: 42."}', content_type="application/json")
    server.set("/popup-page", "<html><body><main><p id=o>Text.</p></main><script>"
                              "document.getElementById('o').textContent += "
                              "window.open('/popup') ? ' opened' : ' blocked';</script></body></html>")
    pages = [{"id": "g", "url": server.url("/guidelines"), "fetch": "browser", "select": ["main"]},
             {"id": "p", "url": server.url("/popup-page"), "fetch": "browser", "select": ["main"]}]
    rt = runtime_for(write_config(pages, browser_path=path))
    outcome = check_page(rt, rt.config.page("g"))
    assert outcome.status == "baseline", outcome.error
    assert "Requests received: 42." in rt.store.snapshot(outcome.snapshot_id).text
    outcome = check_page(rt, rt.config.page("p"))
    assert outcome.status == "baseline", outcome.error
    assert rt.store.snapshot(outcome.snapshot_id).text == "Text. blocked"
    assert server.hits.get("/popup", 0) == 0
    if build == "headless shell":
        assert find_chromium() == path  # preferred when both are installed


@pytest.mark.parametrize("keep", [False, True])
def test_each_check_is_a_first_visit_unless_the_page_keeps_its_storage(
    keep: bool, server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/s", STORAGE_PAGE)
    rt = runtime_for(write_config([{"id": "s", "url": server.url("/s"), "fetch": "browser", "select": ["main"],
                                    "keep_storage": keep}]))
    page = rt.config.page("s")
    first = check_page(rt, page)
    assert rt.store.snapshot(first.snapshot_id).text == "visits before: 0; cookie: c=1"
    second = check_page(rt, page)
    if keep:
        assert second.status == "changed"
        assert rt.store.snapshot(second.snapshot_id).text == "visits before: 1; cookie: c=1"
    else:
        assert second.status == "unchanged"
    with server.lock:
        cookies = [headers.get("Cookie") for path, headers in server.requests if path == "/s"]
    assert cookies == [None, "c=1" if keep else None]


def test_a_crashed_or_hung_browser_is_restarted(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    server.set("/fine", SERVER_RENDERED)
    rt = runtime_for(write_config([{"id": "fine", "url": server.url("/fine"), "fetch": "browser"}],
                                  deadline=12))
    page = rt.config.page("fine")
    assert check_page(rt, page).status == "baseline"
    first = rt.browser._browser_pid
    assert first and first in rt.browser.pids()
    os.kill(first, signal.SIGKILL)  # crashed
    assert check_page(rt, page).status == "unchanged"
    assert rt.browser.restarts == 1 and rt.browser._browser_pid not in (None, first)
    hung = rt.browser._browser_pid
    os.kill(hung, signal.SIGSTOP)  # hangs
    try:
        outcome = check_page(rt, page)
        assert outcome.failed and "deadline" in (outcome.error or ""), outcome
    finally:
        # Killed and reaped already, normally; never leave a stopped process behind.
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)
    assert rt.browser.restarts == 2
    assert check_page(rt, page).status == "unchanged"


def test_an_idle_browser_is_stopped_and_started_again_when_needed(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import monitor.browser

    monkeypatch.setattr(monitor.browser, "_IDLE_STOP", 1.0)
    server.set("/fine", SERVER_RENDERED)
    rt = runtime_for(write_config([{"id": "fine", "url": server.url("/fine"), "fetch": "browser"}]))
    page = rt.config.page("fine")
    assert check_page(rt, page).status == "baseline"
    processes = rt.browser.pids()
    assert len(processes) >= 2  # Playwright's driver and Chromium
    assert wait_for(lambda: rt.browser.pids() == [], 15), "the idle browser was not stopped"
    assert all(monitor.browser._dead(pid) for pid in processes), processes
    assert check_page(rt, page).status == "unchanged"  # started again for the next page
    assert rt.browser.pids()


def test_renders_at_once_are_bounded(
    server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]
) -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def slow_data(handler: BaseHTTPRequestHandler) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(1.0)
        with lock:
            active[0] -= 1
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", "4")
        handler.end_headers()
        handler.wfile.write(b"data")

    server.set("/data", handler=slow_data)
    pages = []
    for index in range(4):
        server.set(f"/p{index}", f"<html><body><p>Page {index}</p><script>fetch('/data').then(function (r) "
                                 "{ return r.text(); }).then(function (t) { document.body.append(t); });"
                                 "</script></body></html>")
        pages.append({"id": f"p{index}", "url": server.url(f"/p{index}"), "fetch": "browser"})
    rt = runtime_for(write_config(pages, browser_renders=2))
    # check_page would take one host's pages in turn; the bound under test is the browser's own,
    # for pages of many hosts: four threads render at once.
    from monitor.fetchmode import render_options

    results: list[Any] = []

    def render(page_id: str) -> None:
        page = rt.config.page(page_id)
        results.append(rt.browser.render(page.url, render_options(rt.config.monitor, page)))

    threads = [threading.Thread(target=render, args=(f"p{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4 and all(b"data" in r.body for r in results)
    assert peak[0] == 2, f"{peak[0]} pages rendered at once with browser_renders = 2"


def test_missing_chromium_names_the_page_and_how_to_install(
    server: PageServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    server.set("/plain", SERVER_RENDERED)
    server.set("/spa", DELAYED_AND_XHR)
    config = write_config([{"id": "plain-page", "url": server.url("/plain")},
                           {"id": "spa-page", "url": server.url("/spa"), "fetch": "browser"},
                           {"id": "auto-page", "url": server.url("/spa"), "fetch": "auto"}],
                          browser_path=str(tmp_path / "no-chromium-here"), interval="2s")
    checked = run_cli("config-check", "--config", str(config))
    assert checked.returncode == 1, checked
    assert "spa-page" in checked.stderr and "apt-get install chromium" in checked.stderr
    assert "warning: page 'auto-page'" in checked.stderr
    out = run_cli("check", "--json", "--config", str(config))
    assert out.returncode == 1
    lines = {line.split('"page": "')[1].split('"')[0]: line for line in out.stdout.splitlines()}
    assert '"status": "baseline"' in lines["plain-page"]
    assert '"status": "failed"' in lines["spa-page"] and "apt-get install chromium" in lines["spa-page"]
    # auto: the plain page is a shell, so it needs the browser it cannot have: a failed check, said why.
    assert '"status": "failed"' in lines["auto-page"] and "apt-get install chromium" in lines["auto-page"]
    # The daemon says so at start, and goes on checking the plain page.
    db = tmp_path / "monitor.db"
    before = count_checks(db, "plain-page")
    proc = start_daemon(config)
    try:
        assert wait_for(lambda: count_checks(db, "plain-page") > before, 30)
    finally:
        log = stop_daemon(proc)
    assert proc.returncode == 0, log
    assert "spa-page" in log and "apt-get install chromium" in log and "Traceback" not in log


def test_require_chromium_fails_under_ci_when_chromium_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.chromium as helper

    monkeypatch.setattr(helper, "missing_reason", lambda: "Chromium was not found")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but Chromium was not found"):
        helper.require_chromium()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="cannot render pages here: Chromium was not found"):
        helper.require_chromium()
