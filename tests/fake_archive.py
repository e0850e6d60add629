"""A small web archive on 127.0.0.1 that answers like the Wayback Machine: the CDX API
(`/cdx/search/cdx?url=...&output=json`, with `fl`, `from`, `to` and, when `page_rows` is set,
`limit`/`showResumeKey`/`resumeKey` paging) and raw captures (`/web/<timestamp>id_/<url>`).

Every request is recorded with its arrival time; `hiccups` makes paths answer with errors
first (429 with Retry-After, 503) to exercise backoff.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.pageserver import PageServer


@dataclass
class Capture:
    timestamp: str
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    location: str | None = None  # a 3xx capture's target
    # Playback redirects to this path of the archive instead of serving the capture.
    playback_redirect: str | None = None

    @property
    def digest(self) -> str:
        return base64.b32encode(hashlib.sha1(self.body).digest()).decode()


@dataclass
class Hiccup:
    status: int
    retry_after: str | None = None


@dataclass
class FakeArchive:
    page_rows: int | None = None  # None: one answer with every row, whatever `limit` says
    captures: dict[str, list[Capture]] = field(default_factory=dict)
    requests: list[tuple[str, float]] = field(default_factory=list)  # (path with query, arrival)
    hiccups: dict[str, list[Hiccup]] = field(default_factory=dict)  # path prefix -> answers to give first
    cdx_override: bytes | None = None  # answer every CDX request with this body
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = PageServer(fallback=self._answer)

    @property
    def url(self) -> str:
        return self.server.url("")

    def add(self, url: str, timestamp: str, body: bytes | str, **kwargs: Any) -> Capture:
        capture = Capture(timestamp, body.encode() if isinstance(body, str) else body, **kwargs)
        self.captures.setdefault(url, []).append(capture)
        return capture

    def capture_requests(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.requests if path.startswith("/web/")]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        send = handler._send  # type: ignore[attr-defined]
        with self.lock:
            self.requests.append((handler.path, time.time()))
            hiccup = next((queue.pop(0) for prefix, queue in self.hiccups.items()
                           if handler.path.startswith(prefix) and queue), None)
        if hiccup is not None:
            headers = {"Retry-After": hiccup.retry_after} if hiccup.retry_after else {}
            send(hiccup.status, b"busy", "text/plain", headers)
        elif handler.path.startswith("/cdx/search/cdx"):
            send(200, self.cdx(handler.path), "application/json", {})
        elif handler.path.startswith("/web/"):
            self.playback(handler)
        else:
            send(404, b"not found", "text/plain", {})

    def cdx(self, path: str) -> bytes:
        if self.cdx_override is not None:
            return self.cdx_override
        query = {key: values[0] for key, values in parse_qs(urlsplit(path).query).items()}
        fields = query.get("fl", "urlkey,timestamp,original,mimetype,statuscode,digest,length").split(",")
        rows = sorted(self.captures.get(query.get("url", ""), []), key=lambda c: c.timestamp)
        # CDX compares timestamp prefixes: from=2020 means 2020 onwards, to=2020 up to 2020's end.
        if "from" in query:
            rows = [c for c in rows if c.timestamp >= query["from"].ljust(14, "0")]
        if "to" in query:
            rows = [c for c in rows if c.timestamp <= query["to"].ljust(14, "9")]
        start = int(query.get("resumeKey", "0"))
        paged = self.page_rows is not None and query.get("showResumeKey") == "true"
        chosen = rows[start:start + self.page_rows] if paged and self.page_rows else rows[start:]

        def value(capture: Capture, name: str) -> str:
            return {"urlkey": "key", "timestamp": capture.timestamp, "original": query["url"],
                    "mimetype": capture.content_type.split(";")[0], "statuscode": str(capture.status),
                    "digest": capture.digest, "length": str(len(capture.body))}[name]

        out: list[list[str]] = [fields, *([value(c, name) for name in fields] for c in chosen)]
        if paged and start + len(chosen) < len(rows):
            out += [[], [str(start + len(chosen))]]
        return json.dumps(out).encode() if chosen or start else b"[]"

    def playback(self, handler: BaseHTTPRequestHandler) -> None:
        head, _, original = handler.path[len("/web/"):].partition("/")
        timestamp = head.removesuffix("id_")
        capture = next((c for c in self.captures.get(original, []) if c.timestamp == timestamp), None)
        send = handler._send  # type: ignore[attr-defined]
        if capture is None:
            send(404, b"<h1>Wayback Machine has not archived that URL.</h1>", "text/html", {})
        elif capture.playback_redirect:
            send(302, b"", "text/html", {"Location": capture.playback_redirect})
        elif capture.location:
            send(capture.status, b"", "text/html", {"Location": f"/web/{timestamp}id_/{capture.location}"})
        else:
            send(capture.status, capture.body, capture.content_type, {"Memento-Datetime": timestamp})

    def __enter__(self) -> FakeArchive:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
