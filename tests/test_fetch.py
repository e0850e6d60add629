"""The fetch stage on its own: cookies within a redirect chain, the shared deadline watcher."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler

from monitor.fetch import Fetcher, FetchPolicy, _DeadlineWatcher
from monitor.pageserver import PageServer, Route


def _redirect(handler: BaseHTTPRequestHandler, location: str, cookie: str | None = None) -> None:
    handler.send_response(302)
    handler.send_header("Location", location)
    if cookie:
        handler.send_header("Set-Cookie", cookie)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def test_a_cookie_set_by_a_redirect_reaches_its_target_and_is_not_kept(server: PageServer) -> None:
    """A consent or session check that bounces through a cookie works; the next check starts
    as a first-time visitor again (what a check sees must not depend on earlier checks)."""

    def start(handler: BaseHTTPRequestHandler) -> None:
        _redirect(handler, "/target", "seen=1; Path=/")

    def target(handler: BaseHTTPRequestHandler) -> None:
        if "seen=1" not in (handler.headers.get("Cookie") or ""):
            _redirect(handler, "/start")  # without the cookie: a redirect loop
            return
        body = b"<p>the guide</p>"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.routes["/start"] = Route(handler=start)
    server.routes["/target"] = Route(handler=target)
    fetcher = Fetcher(FetchPolicy(allow_private=True, retries=0, timeout=5, deadline=10))
    try:
        for _ in range(2):
            result = fetcher.fetch(server.url("/start"))
            assert result.status == 200 and result.body == b"<p>the guide</p>"
            assert result.url == server.url("/target")
    finally:
        fetcher.close()
    starts = [headers for path, headers in server.requests if path == "/start"]
    assert len(starts) == 2 and all("Cookie" not in headers for headers in starts)


def test_deadline_fires_behind_an_earlier_cancelled_one() -> None:
    """The watcher is not woken for a later deadline; it must still fire it on time."""
    watcher = _DeadlineWatcher()
    fired: list[tuple[str, float]] = []
    done = threading.Event()
    start = time.monotonic()
    first = watcher.add(start + 0.3, lambda: fired.append(("first", time.monotonic() - start)))
    watcher.cancel(first)  # a fetch that finished in time
    watcher.add(start + 0.6, lambda: (fired.append(("second", time.monotonic() - start)), done.set()))
    assert done.wait(5)
    assert [name for name, _ in fired] == ["second"]
    assert 0.55 <= fired[0][1] < 2.0


def test_cancelled_deadlines_do_not_pile_up() -> None:
    watcher = _DeadlineWatcher()
    far = time.monotonic() + 3600
    for i in range(20_000):  # twenty thousand fetches that ended long before their deadline
        watcher.cancel(watcher.add(far + i, lambda: None))
    assert len(watcher._heap) <= 2 * len(watcher._actions) + 1025
