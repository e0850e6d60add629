"""A catalogue of misbehaving servers, for the fetch/check robustness tests.

Each `Case` installs one route on a real `PageServer` on 127.0.0.1 (most are handler
callables that write raw bytes, so they can break HTTP itself) and says what a check of it
must end in: a failure whose reason matches `reason`, or success. Some routes redirect to
addresses that must never be contacted; `ConnectionLog` records every socket connect in
this process (a `socket.connect` audit hook), so a test can prove no packet left for them.

Only 127.0.0.1 is ever connected to. Names other than 127.0.0.1 are answered by
`fake_resolver`, never by real DNS.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from typing import Any

from monitor.fetch import FetchError
from monitor.pageserver import PageServer

# Settings the hostile tests run under: short enough to keep the suite fast, long enough that
# only the total deadline (not the per-read timeout) can stop a server dripping a byte a second.
TIMEOUT = 2.0
DEADLINE = 4.0
MAX_BYTES = 1_000_000
SLACK = 3.0  # scheduling and recording overhead on a loaded 2-core machine

# Names the fake resolver knows; everything else is NXDOMAIN.
FAKE_DNS = {"intranet.example": ["10.1.2.3"], "mixed.example": ["127.0.0.1", "192.168.1.20"]}


def fake_resolver(host: str, port: int) -> list[str]:
    """Resolve without DNS: IP literals (including inet_aton's odd forms) and FAKE_DNS only.
    Like getaddrinfo, it first encodes the name with IDNA (a label over 63 characters fails)."""
    host = host.strip("[]")
    host.encode("idna")
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:  # '2130706433', '0x7f.1', '10.1' ...: what getaddrinfo would accept without a query
        return [socket.inet_ntoa(socket.inet_aton(host))]
    except OSError:
        pass
    if host in FAKE_DNS:
        return list(FAKE_DNS[host])
    raise FetchError(f"DNS lookup failed for {host}: Name or service not known")


class ConnectionLog:
    """Every `socket.connect` made by this process while recording (audit hooks cannot be removed,
    so one hook is installed per process and switched on and off)."""

    _installed = False
    _active: list[tuple[Any, ...]] | None = None
    _lock = threading.Lock()

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect" and cls._active is not None:
            address = args[1]
            with cls._lock:
                if cls._active is not None:
                    cls._active.append(address if isinstance(address, tuple) else (address,))

    @classmethod
    @contextmanager
    def recording(cls) -> Iterator[list[tuple[Any, ...]]]:
        if not cls._installed:
            sys.addaudithook(cls._hook)
            cls._installed = True
        seen: list[tuple[Any, ...]] = []
        cls._active = seen
        try:
            yield seen
        finally:
            cls._active = None


# -- raw-response helpers ------------------------------------------------------------------------

_stop = threading.Event()  # set when a test is over: dripping handlers give up


def _raw(h: BaseHTTPRequestHandler, data: bytes) -> None:
    h.wfile.write(data)
    h.wfile.flush()


def _head(h: BaseHTTPRequestHandler, status: str = "200 OK", headers: dict[str, str] | None = None) -> None:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    _raw(h, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _send(h: BaseHTTPRequestHandler, body: bytes, status: str = "200 OK", content_type: str = "text/html",
          extra: dict[str, str] | None = None) -> None:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close", **(extra or {})}
    _head(h, status, headers)
    _raw(h, body)


def _sleep(seconds: float) -> bool:
    """Sleep unless the test is over; False when it is."""
    return not _stop.wait(seconds)


def _reset(h: BaseHTTPRequestHandler) -> None:
    # SO_LINGER 0: close() sends RST instead of FIN, a "connection reset by peer" for the client.
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()


def guarded(handler: Callable[[BaseHTTPRequestHandler], None]) -> Callable[[BaseHTTPRequestHandler], None]:
    """Run a handler; the client hanging up on it is expected, not an error to print."""

    def run(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        with suppress(OSError):
            handler(h)

    return run


# -- bodies ----------------------------------------------------------------------------------------

PAGE = ("<html><head><title>Law enforcement guidelines</title></head><body><main>"
        "<h1>Government requests for user data</h1>"
        + "".join(f"<p>Paragraph {i}: we review every request for legal validity.</p>" for i in range(20))
        + "</main></body></html>").encode()


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~100 MB of zeros in ~100 KB of gzip."""
    return gzip.compress(b"\0" * 100_000_000, compresslevel=9)


@lru_cache(maxsize=1)
def deflate_bomb() -> bytes:
    return zlib.compress(b"\0" * 100_000_000, 9)


@lru_cache(maxsize=1)
def brotli_bomb() -> bytes:
    import brotli

    return bytes(brotli.compress(b"\0" * 100_000_000, quality=5))


def _garbage(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


# -- the catalogue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    ok: bool  # True: the check must succeed (a server that is odd but readable)
    reason: str = ""  # regex the failure reason must match
    # Addresses (host strings) that must never be connected to.
    forbidden: tuple[str, ...] = ()
    max_seconds: float = DEADLINE + SLACK

    @property
    def path(self) -> str:
        return f"/h/{self.name}"


def _status(code: int, reason: str, extra: dict[str, str] | None = None) -> Callable[[BaseHTTPRequestHandler], None]:
    body = f"<html><body><h1>{code} {reason}</h1></body></html>".encode()
    return lambda h: _send(h, body, f"{code} {reason}", extra=extra)


def _redirect(location: str, code: int = 302) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda h: _send(h, b"", f"{code} Found", extra={"Location": location})


def install(server: PageServer) -> list[Case]:
    """Install every misbehaviour on `server`; returns the cases (route = case.path)."""
    port = server.port
    cases: list[Case] = []
    _stop.clear()

    def add(case: Case, handler: Callable[[BaseHTTPRequestHandler], None]) -> None:
        server.set(case.path, handler=guarded(handler))
        cases.append(case)

    # --- size -----------------------------------------------------------------------------------
    def declared_too_large(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Content-Length": "50000000"})
        _raw(h, b"<p>" * 1000)

    add(Case("declared-too-large", False, r"Content-Length 50000000 exceeds max_bytes"), declared_too_large)

    def undeclared_too_large(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Connection": "close"})
        for _ in range(40):  # 2.6 MB, no length: read until close
            _raw(h, b"<p>lots of text</p>" * 3500)

    add(Case("undeclared-too-large", False, r"body too large"), undeclared_too_large)

    def endless_chunked(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Transfer-Encoding": "chunked"})
        chunk = b"<p>more</p>" * 6000
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while not _stop.is_set():
            _raw(h, frame)

    add(Case("endless-chunked", False, r"body too large"), endless_chunked)

    def lying_short_length(h: BaseHTTPRequestHandler) -> None:
        # Content-Length smaller than what follows: the client must read only what was declared.
        _head(h, headers={"Content-Type": "text/html", "Content-Length": str(len(PAGE)), "Connection": "close"})
        _raw(h, PAGE + b"<p>trailing junk</p>" * 50_000)

    add(Case("length-shorter-than-body", True), lying_short_length)

    # --- time -----------------------------------------------------------------------------------
    def drip_body(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Content-Length": "100000"})
        while _sleep(1.0):
            _raw(h, b"x")

    add(Case("drip-body", False, r"deadline exceeded"), drip_body)

    def drip_headers(h: BaseHTTPRequestHandler) -> None:  # headers that never end
        _raw(h, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: ")
        while _sleep(1.0):
            _raw(h, b"a")

    add(Case("headers-never-end", False, r"deadline exceeded"), drip_headers)

    def drip_chunks(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Transfer-Encoding": "chunked"})
        while _sleep(0.7):
            _raw(h, b"1\r\nx\r\n")

    add(Case("drip-chunked", False, r"deadline exceeded"), drip_chunks)

    def never_headers(h: BaseHTTPRequestHandler) -> None:  # accepts, reads the request, says nothing
        _stop.wait(60)

    # The read timeout (2 s) ends the first attempt; the retry then runs into the deadline.
    add(Case("no-headers-ever", False, r"read timeout|deadline exceeded"), never_headers)

    def drip_until_close(h: BaseHTTPRequestHandler) -> None:  # no length: the body ends at close
        _head(h, headers={"Content-Type": "text/html", "Connection": "close"})
        _raw(h, PAGE[:200])
        while _sleep(1.0):
            _raw(h, b"x")

    # The deadline timer's shutdown looks like a normal end of a close-delimited body; it must
    # not be taken for a complete (truncated) page.
    add(Case("drip-close-delimited", False, r"deadline exceeded"), drip_until_close)

    # --- compression ----------------------------------------------------------------------------
    def encoded(body: Callable[[], bytes], encoding: str) -> Callable[[BaseHTTPRequestHandler], None]:
        return lambda h: _send(h, body(), extra={"Content-Encoding": encoding})

    add(Case("gzip-bomb", False, r"too large after decompression"), encoded(gzip_bomb, "gzip"))
    add(Case("deflate-bomb", False, r"too large after decompression"), encoded(deflate_bomb, "deflate"))
    add(Case("brotli-bomb", False, r"unsupported Content-Encoding 'br'"), encoded(brotli_bomb, "br"))
    add(Case("double-gzip", False, r"unsupported stacked Content-Encoding"),
        encoded(lambda: gzip.compress(gzip.compress(PAGE)), "gzip, gzip"))
    add(Case("gzip-corrupt", False, r"corrupt compressed body"), encoded(lambda: _garbage(20_000), "gzip"))
    add(Case("gzip-ok", True), encoded(lambda: gzip.compress(PAGE), "gzip"))

    # --- redirects ------------------------------------------------------------------------------
    server.set("/h/loop-b", handler=guarded(_redirect("/h/redirect-loop")))
    add(Case("redirect-loop", False, r"redirect loop"), _redirect("/h/loop-b"))
    add(Case("redirect-self", False, r"redirect loop"), _redirect("/h/redirect-self", 301))
    for hop in range(1, 8):
        server.set(f"/h/chain/{hop}", handler=guarded(_redirect(f"/h/chain/{hop + 1}" if hop < 7 else "/h/final")))
    server.set("/h/final", PAGE)
    add(Case("redirect-chain-7", False, r"too many redirects \(more than 5\)"), _redirect("/h/chain/1"))
    server.set("/h/short/1", handler=guarded(_redirect("/h/short/2", 307)))
    server.set("/h/short/2", handler=guarded(_redirect(f"http://127.0.0.1:{port}/h/final", 308)))
    add(Case("redirect-chain-3", True), _redirect("/h/short/1", 301))
    for name, target in [("file", "file:///etc/passwd"), ("ftp", "ftp://127.0.0.1/pub/"),
                         ("gopher", "gopher://127.0.0.1:70/1"), ("javascript", "javascript:alert(1)"),
                         ("data", "data:text/html,<p>hi</p>")]:
        add(Case(f"redirect-{name}", False, r"refused redirect to non-HTTP URL"), _redirect(target))
    private = [
        ("private-10", "http://10.0.0.1/", "10.0.0.1"),
        ("metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("ipv6-loopback", f"http://[::1]:{port}/h/final", "::1"),
        ("zero", f"http://0.0.0.0:{port}/h/final", "0.0.0.0"),
        ("decimal-private", "http://167772161/", "10.0.0.1"),
        ("intranet-name", "http://intranet.example/", "10.1.2.3"),
        ("mixed-name", f"http://mixed.example:{port}/h/final", "192.168.1.20"),
    ]
    for name, target, address in private:
        add(Case(f"redirect-{name}", False, rf"refused: .* non-public address {address}", forbidden=(address,)),
            _redirect(target))
    add(Case("redirect-nxdomain", False, r"DNS lookup failed for nxdomain\.invalid"),
        _redirect("http://nxdomain.invalid/"))
    add(Case("redirect-no-location", False, r"redirect without Location"),
        lambda h: _send(h, b"", "302 Found"))
    add(Case("redirect-malformed-ipv6", False, r"malformed URL 'http://\[::1'"), _redirect("http://[::1"))
    add(Case("redirect-bad-port", False, r"malformed URL .*Port"), _redirect(f"http://127.0.0.1:{port}99999/"))
    add(Case("redirect-long-label", False, r"invalid host name 'a{64}\.example'.*label"),
        _redirect("http://" + "a" * 64 + ".example/"))

    # --- content --------------------------------------------------------------------------------
    add(Case("binary-garbage", False, r"body looks binary"), lambda h: _send(h, _garbage(50_000)))
    add(Case("wrong-charset", True),  # says UTF-8, is Windows-1252: decodable, must not fail
        lambda h: _send(h, "<p>Caf\u00e9 policy \u2013 requests</p>".encode("cp1252"),
                        content_type="text/html; charset=utf-8"))
    add(Case("unknown-charset", True),
        lambda h: _send(h, "<p>Caf\u00e9 policy</p>".encode(), content_type="text/html; charset=x-klingon"))
    # Labels Python knows as codecs but no browser as a charset: ignored, the body decodes anyway.
    add(Case("meta-charset-undefined", True),  # "undefined" raises UnicodeError, not UnicodeDecodeError
        lambda h: _send(h, b'<html><head><meta charset="undefined"></head><body><p>Caf\xc3\xa9</p></body></html>',
                        content_type="text/html"))
    add(Case("charset-punycode", True),  # ASCII, so it gets as far as punycode's own UnicodeError
        lambda h: _send(h, b"<p>Cafe policy</p>", content_type="text/html; charset=punycode"))
    add(Case("empty-200", False, r"empty body"), lambda h: _send(h, b""))
    add(Case("no-visible-text", False, r"no text left after extraction"),
        lambda h: _send(h, b"<html><head><script>var a=1;</script></head><body><nav>x</nav></body></html>"))

    def truncated(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Content-Length": "10000"})
        _raw(h, PAGE[:500])

    add(Case("truncated-body", False, r"connection broken while reading the body"), truncated)

    def reset_mid_body(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Content-Length": "100000"})
        _raw(h, PAGE[:1000])
        time.sleep(0.05)
        _reset(h)

    add(Case("reset-mid-body", False, r"connection broken while reading the body"), reset_mid_body)
    add(Case("reset-before-response", False, r"connection failed"), _reset)
    add(Case("close-before-response", False, r"connection failed: .*(closed|aborted|disconnected)"),
        lambda h: h.connection.shutdown(socket.SHUT_RDWR))
    add(Case("garbage-status-line", False, r"connection failed"),
        lambda h: _raw(h, b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))

    def endless_headers(h: BaseHTTPRequestHandler) -> None:
        _raw(h, b"HTTP/1.1 200 OK\r\n")
        n = 0
        while not _stop.is_set():
            _raw(h, f"X-Header-{n}: {'v' * 50}\r\n".encode())
            n += 1

    add(Case("endless-headers", False, r"connection failed: .*more than 100 headers"), endless_headers)
    add(Case("huge-header-line", False, r"connection failed"),
        lambda h: _raw(h, b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"))

    add(Case("conflicting-lengths", False, r"connection failed"),
        lambda h: _raw(h, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n" + PAGE[:20]))

    def bad_chunk(h: BaseHTTPRequestHandler) -> None:
        _head(h, headers={"Content-Type": "text/html", "Transfer-Encoding": "chunked"})
        _raw(h, b"zz\r\nnot a chunk\r\n")

    add(Case("bad-chunk-size", False, r"connection broken while reading the body"), bad_chunk)

    # --- status codes ---------------------------------------------------------------------------
    add(Case("http-500", False, r"HTTP 500"), _status(500, "Internal Server Error"))
    add(Case("http-502", False, r"HTTP 502"), _status(502, "Bad Gateway"))
    add(Case("http-503-retry-small", False, r"HTTP 503"), _status(503, "Service Unavailable", {"Retry-After": "1"}))
    add(Case("http-503-retry-over-cap", False, r"Retry-After 3600s exceeds the cap", max_seconds=1.5),
        _status(503, "Service Unavailable", {"Retry-After": "3600"}))
    add(Case("http-429", False, r"HTTP 429"), _status(429, "Too Many Requests", {"Retry-After": "1"}))
    add(Case("http-404", False, r"HTTP 404"), _status(404, "Not Found"))
    add(Case("http-410", False, r"HTTP 410"), _status(410, "Gone"))
    add(Case("http-206", False, r"unexpected HTTP status 206"), _status(206, "Partial Content"))
    # "¹".isdigit() is true, but int() and float() refuse it: a digit to no one but str.isdigit.
    add(Case("http-503-retry-superscript", False, r"HTTP 503"),
        _status(503, "Service Unavailable", {"Retry-After": "\u00b9"}))
    add(Case("content-length-superscript", True),
        lambda h: _send(h, PAGE, extra={"Content-Length": "\u00b2"}))

    flaky = {"n": 0}

    def unavailable_once(h: BaseHTTPRequestHandler) -> None:  # 503 + Retry-After, then fine
        flaky["n"] += 1
        if flaky["n"] % 2:
            _status(503, "Service Unavailable", {"Retry-After": "1"})(h)
        else:
            _send(h, PAGE)

    add(Case("http-503-then-ok", True), unavailable_once)

    # --- documents ------------------------------------------------------------------------------
    add(Case("pdf-not-pdf", False, r"not a PDF"), lambda h: _send(h, PAGE, content_type="application/pdf"))
    add(Case("pdf-broken", False, r"PDF could not be read|no text left"),
        lambda h: _send(h, b"%PDF-1.7\n" + _garbage(5000), content_type="application/pdf"))
    # Past libxml2's depth limit text would be silently dropped, so extraction refuses.
    deep = b"<html><body>" + b"<div>" * 20_000 + b"deep text" + b"</div>" * 20_000 + b"</body></html>"
    add(Case("deep-nesting-20000", False, r"nests elements too deeply"), lambda h: _send(h, deep))
    unclosed = b"<html><body>" + b"<span><b><i>" * 20_000 + b"never closed"
    add(Case("unclosed-nesting-60000", False, r"nests elements too deeply"), lambda h: _send(h, unclosed))
    fair = b"<html><body>" + b"<div>" * 200 + b"deep text" + b"</div>" * 200 + b"</body></html>"
    add(Case("deep-nesting-200", True), lambda h: _send(h, fair))
    add(Case("nul-bytes", True), lambda h: _send(h, PAGE.replace(b"<p>", b"<p>\x00").replace(b"we ", b"we\x00 ")))
    add(Case("mostly-nul", False, r"body looks binary"), lambda h: _send(h, b"<p>x</p>" + b"\x00" * 5000))
    add(Case("soft-error-login", False, r"looks like an error or login page"),
        lambda h: _send(h, b"<html><body><h1>Please sign in to continue</h1></body></html>"))
    return cases


class _Names:
    """Stands in for a server to list the catalogue without opening a socket."""

    port = 0

    def __init__(self) -> None:
        self.paths: list[str] = []

    def set(self, path: str, *args: Any, **kwargs: Any) -> None:
        self.paths.append(path)


def case_names() -> list[str]:
    return [case.name for case in install(_Names())]  # type: ignore[arg-type]


def stop_handlers() -> None:
    """Tell dripping and endless handlers to give up (call before stopping the server)."""
    _stop.set()


def tls_server() -> tuple[PageServer, str]:
    """An HTTPS server on 127.0.0.1 with a certificate from a CA nobody trusts (trustme)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = PageServer()
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.set("/page", PAGE)
    server.start()
    return server, f"https://127.0.0.1:{server.port}/page"
