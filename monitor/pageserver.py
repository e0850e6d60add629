"""A small real HTTP server on 127.0.0.1 whose pages can change while it runs.

Used by `policy-monitor demo`, by the tests and by the benchmarks, so that all of them run
the real pipeline against real sockets. Pages get strong ETags and honour If-None-Match,
like a well-behaved server; a route can instead be a handler for misbehaviour tests.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True
    handler: Handler | None = None


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (40 ms on Linux), which would cap a keep-alive client at ~25 pages/s.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read their own output
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        owner = self.server.owner
        with owner.lock:
            route = owner.routes.get(path)
            owner.hits[path] = owner.hits.get(path, 0) + 1
            owner.hit_times.setdefault(path, []).append(time.time())
            owner.requests.append((path, dict(self.headers.items())))
        if route is None and owner.fallback is not None:
            owner.fallback(self)
            return
        if route is None:
            self._send(404, b"<html><body><h1>Not found</h1></body></html>", "text/html", {})
            return
        if route.handler is not None:
            route.handler(self)
            return
        headers = dict(route.headers)
        if route.etag and route.status == 200:
            tag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
            headers["ETag"] = tag
            if self.headers.get("If-None-Match") == tag:
                self._send(304, b"", None, headers)
                return
        self._send(route.status, route.body, route.content_type, headers)

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str]) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: PageServer


class PageServer:
    """`with PageServer() as srv: srv.set('/a', b'<p>hi</p>'); fetch(srv.url('/a'))`.

    `fallback` answers the paths no route names (a server whose paths are computed)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fallback: Handler | None = None):
        self.fallback = fallback
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        # Wall-clock arrival of every request per path: lets tests and benchmarks count how
        # often each page was fetched in a window (e.g. never twice per interval).
        self.hit_times: dict[str, list[float]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.httpd = _Server((host, port), _RequestHandler)
        self.httpd.owner = self
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.httpd.server_address[0]}:{self.port}{path}"

    def set(self, path: str, body: bytes | str = b"", **kwargs: Any) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.lock:
            self.routes[path] = Route(body=data, **kwargs)

    def remove(self, path: str) -> None:
        with self.lock:
            self.routes.pop(path, None)

    def start(self) -> PageServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True, name="pageserver")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
