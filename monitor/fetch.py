"""The fetch stage: one polite, bounded, conditional HTTP GET.

Every way a server can misbehave ends in a `FetchError` with a reason a person can read,
within the deadline and the byte cap; the caller never sees a traceback. Guarantees:

* connect/read timeouts per socket operation, plus a total deadline enforced by shutting the
  socket down from a timer (a server dripping a byte a second defeats read timeouts alone);
* `max_bytes` counted after decompression, which we do ourselves with a bounded zlib
  (urllib3 would inflate a whole gzip bomb chunk at once);
* redirects followed by hand: at most N hops, http/https only, each hop re-checked;
* private/loopback/link-local targets refused *before* connecting, unless allowed: each host
  name is resolved once, every address vetted (IPv6 forms embedding an IPv4 address judged by
  that address), and the socket connects to the vetted address itself, so neither a redirect
  nor a DNS answer that changes between lookups reaches internal services;
* bounded retries with backoff on connection errors, 5xx and 429, honouring Retry-After up
  to a cap; one request at a time per host.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import heapq
import ipaddress
import logging
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection

from monitor.errors import FetchError

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]
_CHUNK = 64 * 1024
_HOST_WAIT_DEADLINES = 4  # how many fetch deadlines a request may queue for its host


@dataclass
class FetchResult:
    url: str
    status: int
    body: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    elapsed: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "plain"  # plain | browser: how the body was had (monitor.fetchmode)
    text: str | None = None  # its normalized text, when the fetch stage already extracted it

    @cached_property
    def body_hash(self) -> str:
        """SHA-256 of the body (hex, as the store keys raw bodies): hashed once, though an `auto`
        page's judgement and the check both compare it with the stored one."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float = 30.0
    deadline: float = 120.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    retries: int = 2
    retry_after_cap: float = 120.0
    backoff: float = 1.0
    user_agent: str = "policy-monitor/0.1"
    # False: refuse non-public addresses; True: allow all; a list: allow these networks only.
    allow_private: bool | tuple[str, ...] = False

    @property
    def longest_fetch(self) -> float:
        """The longest one `Fetcher.fetch` may take: waiting for its turn at the host, then its deadline."""
        return self.deadline * (_HOST_WAIT_DEADLINES + 1)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, in getaddrinfo's order of preference (RFC 6724)."""
    try:
        infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"DNS lookup failed for {host}: {exc.strerror}") from None
    except UnicodeError as exc:  # a label the IDNA codec refuses (empty, longer than 63)
        raise FetchError(f"invalid host name {host[:100]!r}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# -- per-thread fetch context: sockets to kill at the deadline, the address policy ----------

_local = threading.local()


@dataclass
class _Context:
    policy: FetchPolicy
    resolver: Resolver
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def track(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self.lock:
            if self.expired:
                _shutdown(sock)
            self.sockets.append(sock)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                _shutdown(sock)


class _DeadlineWatcher:
    """One thread that fires expired fetch deadlines (a threading.Timer per fetch would
    start a thread per request, which costs more than the 304 it guards)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._actions: dict[int, Callable[[], None]] = {}  # live (not yet cancelled or fired)
        self._cond = threading.Condition()
        self._counter = 0
        self._thread: threading.Thread | None = None

    def add(self, when: float, action: Callable[[], None]) -> int:
        with self._cond:
            self._counter += 1
            self._actions[self._counter] = action
            if len(self._heap) > 2 * len(self._actions) + 1024:  # mostly cancelled entries: drop them
                self._heap = [entry for entry in self._heap if entry[1] in self._actions]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (when, self._counter))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][1] == self._counter:
                # Only a new earliest deadline needs the watcher awake now; otherwise it wakes
                # at the head's time anyway (a thread switch per fetch was 5 % of a 304 check).
                self._cond.notify()
            return self._counter

    def cancel(self, token: int) -> None:
        with self._cond:
            self._actions.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._actions:
                    heapq.heappop(self._heap)  # cancelled
                if not self._heap:
                    self._cond.wait()
                    continue
                when, token = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                action = self._actions.pop(token)
            try:
                action()
            except Exception:  # a failing shutdown must not stop the watcher
                log.debug("deadline action failed", exc_info=True)


_DEADLINES = _DeadlineWatcher()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# IPv6 forms that carry an IPv4 address a packet ends up at (besides IPv4-mapped, 6to4 and
# Teredo, which `ipaddress` decodes itself). Judged by the IPv4 address, or ::127.0.0.1 would
# pass as "global".
_EMBEDDING = (
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64, well-known prefix (RFC 6052)
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated, RFC 4291)
)
# Never public whatever follows: local-use NAT64 (RFC 8215) translates to the operator's own network.
_LOCAL_ONLY = (ipaddress.ip_network("64:ff9b:1::/48"),)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address embeds, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client, where the packet is delivered
    if any(ip in net for net in _EMBEDDING):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str, allow: bool | tuple[str, ...]) -> bool:
    """May the fetcher connect to `address`? Public addresses always; others only if allowed
    (True: all; a tuple: those networks). An IPv6 address embedding an IPv4 one is judged by
    the IPv4 address (or allowed when the IPv6 form itself is listed)."""
    if allow is True:
        return True
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    forms = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            ip = inner
            forms.append(inner)
    local_only = any(form in net for form in forms for net in _LOCAL_ONLY)
    if ip.is_global and not ip.is_multicast and not local_only:
        return True
    if allow is False:
        return False
    networks = [ipaddress.ip_network(net, strict=False) for net in allow]
    return any(form in net for form in forms for net in networks)


def vetted_addresses(host: str, port: int, resolver: Resolver, allow: bool | tuple[str, ...]) -> list[str]:
    """Resolve `host` once and return its addresses, all of them allowed; refuse the host if any
    is not (a name that also points inside must not be fetched by luck of the order)."""
    try:
        addresses = resolver(host, port)
    except (UnicodeError, ValueError) as exc:  # a name no resolver can even ask for
        raise FetchError(f"invalid host name {host[:100]!r}: {exc}") from None
    if not addresses:
        raise FetchError(f"DNS lookup for {host} returned no address")
    for address in addresses:
        if not address_allowed(address, allow):
            raise FetchError(f"refused: {host} resolves to non-public address {address} "
                             "(set allow_private_addresses to permit)")
    return addresses


class _GuardedConnectionMixin:
    """Connects to the addresses that were vetted, never to a second answer of DNS.

    urllib3 would look the name up again in `create_connection`, and a name whose answer changed
    in between (DNS rebinding) would reach a private address; only the peer check after the
    connection (or the TLS handshake) would notice. Here the name is resolved once, each address
    is vetted, and the socket connects to those address literals. The Host header, the TLS SNI
    and the certificate check still use the name (urllib3 takes them from `host`, untouched).
    """

    host: str
    port: int
    sock: socket.socket | None
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        ctx: _Context | None = getattr(_local, "ctx", None)
        if ctx is None:
            return super()._new_conn()  # type: ignore[misc,no-any-return]
        last: OSError | None = None
        name = getattr(self, "_dns_host", self.host).strip("[]")  # as urllib3 would look it up
        for address in vetted_addresses(name, self.port, ctx.resolver, ctx.policy.allow_private):
            if ctx.expired:
                break
            try:
                return create_connection((address, self.port), self.timeout, source_address=self.source_address,
                                         socket_options=self.socket_options)
            except OSError as exc:  # that address is unreachable: the next one, as getaddrinfo order goes
                last = exc
        if isinstance(last, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {last or 'deadline exceeded'}")

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        ctx: _Context | None = getattr(_local, "ctx", None)
        if ctx is not None and self.sock is not None:
            peer = self.sock.getpeername()[0]
            if not address_allowed(peer, ctx.policy.allow_private):  # cannot happen: a second line of defence
                self.sock.close()
                raise FetchError(f"refused: connected to non-public address {peer}")
            ctx.track(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        ctx: _Context | None = getattr(_local, "ctx", None)
        if ctx is not None and self.sock is not None:  # a reused keep-alive socket
            ctx.track(self.sock)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# -- helpers ---------------------------------------------------------------------------------


def header_int(value: str | None) -> int | None:
    """A header's non-negative integer, or None. ASCII digits only: str.isdigit() is true for
    '²' and '¹', which int() and float() refuse."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    seconds = header_int(value)
    if seconds is not None:
        return float(min(seconds, 10**9))  # "Retry-After: 10**400" is a very long wait, not a float overflow
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
        return max(0.0, when.timestamp() - (now if now is not None else time.time()))
    except (TypeError, ValueError, OverflowError, IndexError):  # not a date a server could mean
        return None


def _decoder(encoding: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise FetchError(f"unsupported Content-Encoding {encoding!r}")


def _inflate(decoder: Any, chunk: bytes) -> Iterator[bytes]:
    """A compressed chunk's output in pieces of at most _CHUNK bytes, so the caller can stop
    a bomb at its cap (and zlib never gets an output limit too large for a C integer)."""
    while chunk:
        piece = decoder.decompress(chunk, _CHUNK)
        yield piece
        chunk = decoder.unconsumed_tail


def _read_body(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    """Stream the raw body, decompress within the cap, stop at the deadline."""
    encodings = [e for e in response.headers.get("Content-Encoding", "").split(",") if e.strip()]
    if len(encodings) > 1:
        raise FetchError(f"unsupported stacked Content-Encoding {response.headers['Content-Encoding']!r}")
    decoder = _decoder(encodings[0]) if encodings else None
    declared = header_int(response.headers.get("Content-Length"))
    if decoder is None and declared is not None and declared > max_bytes:
        raise FetchError(f"body too large: Content-Length {declared} exceeds max_bytes {max_bytes}")
    parts: list[bytes] = []
    size = 0
    raw = response.raw
    try:
        while True:
            chunk = raw.read(_CHUNK, decode_content=False)
            if _expired(deadline):  # the timer's shutdown reads as EOF: not a complete body
                raise FetchError("deadline exceeded while reading the body")
            if not chunk:
                break
            for piece in _inflate(decoder, chunk) if decoder is not None else (chunk,):
                size += len(piece)
                if size > max_bytes:
                    raise FetchError(f"body too large{' after decompression' if decoder else ''}: more than "
                                     f"max_bytes {max_bytes}")
                parts.append(piece)
        if decoder is not None:
            tail = decoder.flush()
            size += len(tail)
            if size > max_bytes:
                raise FetchError(f"body too large after decompression (max_bytes {max_bytes})")
            parts.append(tail)
    except zlib.error as exc:
        raise FetchError(f"corrupt compressed body: {exc}") from None
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        if _expired(deadline):
            raise FetchError("deadline exceeded while reading the body") from None
        raise FetchError(f"connection broken while reading the body: {_short(exc)}", retryable=True) from None
    return b"".join(parts)


def _expired(deadline: float) -> bool:
    # The timer may fire a hair before the clock passes `deadline`; trust either.
    ctx: _Context | None = getattr(_local, "ctx", None)
    return time.monotonic() > deadline or (ctx is not None and ctx.expired)


def _short(exc: BaseException) -> str:
    """The innermost cause, readable: requests and urllib3 nest the real error two or three
    levels deep inside long reprs ("('Connection aborted.', RemoteDisconnected(...))")."""
    inner = exc
    for _ in range(8):
        nested = getattr(inner, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((arg for arg in inner.args if isinstance(arg, BaseException)), None)
        if nested is None:
            break
        inner = nested
    text = " ".join(str(inner).split())  # a hostile status line may carry CR/LF into the log
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text, name = text.strip("'\" ")[:300], type(inner).__name__
    if not text or text.startswith(name):
        return text or name
    return f"{text} ({name})"


def _content_type(header: str) -> tuple[str, str | None]:
    mime, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip("\"' ").lower()
    return mime.strip().lower(), charset


# -- the fetcher -----------------------------------------------------------------------------


class _Turn:
    """One hold of a host's lock, released once, by its `with` or early by `leave_host`."""

    __slots__ = ("held", "lock")

    def __init__(self, lock: threading.RLock, held: bool):
        self.lock = lock
        self.held = held

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()


class Fetcher:
    def __init__(self, policy: FetchPolicy, resolver: Resolver = system_resolver, ca_bundle: str | None = None):
        """`resolver`: host name -> addresses (DNS by default); `ca_bundle`: a PEM file of the
        certificate authorities to trust instead of the bundled ones."""
        self.policy = policy
        self.resolver = resolver
        self.verify: bool | str = ca_bundle or True
        self.session = requests.Session()
        adapter = _GuardedAdapter(pool_connections=16, pool_maxsize=4, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({
            "User-Agent": policy.user_agent,
            "Accept": "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        })
        self.session.trust_env = False  # no proxies or netrc from the environment
        self._adapter = adapter
        self._host_locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        # Told (seconds, body bytes) after every fetch that ran, failed ones with 0 bytes: the
        # daemon's metrics (monitor.metrics). None costs nothing.
        self.observer: Callable[[float, int], None] | None = None
        self._turns = threading.local()  # this thread's open host turns: list of (host, _Turn)

    def close(self) -> None:
        self.session.close()

    @contextlib.contextmanager
    def host_turn(self, url: str) -> Iterator[bool]:
        """This thread's turn at the URL's host: no other request of this fetcher goes there
        meanwhile. Re-entrant, so a caller can hold the turn across a whole check (claim, fetch,
        a confirming second fetch). Yields False if the turn did not come within the bound.

        Queueing behind other pages of a slow host is politeness, not this page's fault: the
        wait gets its own bound, several fetch deadlines long.
        """
        host = host_of(url)
        with self._locks_guard:
            lock = self._host_locks.setdefault(host, threading.RLock())
        turn = _Turn(lock, lock.acquire(timeout=self.policy.deadline * _HOST_WAIT_DEADLINES))
        turns: list[tuple[str, _Turn]] = self._turns.__dict__.setdefault("open", [])
        turns.append((host, turn))
        try:
            yield turn.held
        finally:
            turns.remove((host, turn))
            turn.release()

    def leave_host(self, url: str) -> None:
        """This thread is done with the URL's host for now (its body is read): end the turns it
        holds there, so the host's other pages are fetched while this one is worked on. A later
        request of this thread waits for a turn again."""
        host = host_of(url)
        for turn_host, turn in getattr(self._turns, "open", ()):
            if turn_host == host:
                turn.release()

    def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        with self.host_turn(url) as mine:
            if not mine:
                raise FetchError(f"timed out waiting for other requests to {urlsplit(url).hostname} to finish")
            start = time.monotonic()  # the deadline starts once it is our turn
            if self.observer is None:
                return self._fetch_with_retries(url, etag, last_modified, start, start + self.policy.deadline)
            try:
                result = self._fetch_with_retries(url, etag, last_modified, start, start + self.policy.deadline)
            except FetchError:
                self.observer(time.monotonic() - start, 0)
                raise
            self.observer(result.elapsed, len(result.body))
            return result

    def _fetch_with_retries(self, url: str, etag: str | None, last_modified: str | None,
                            start: float, deadline: float) -> FetchResult:
        attempt = 0
        while True:
            try:
                result = self._fetch_once(url, etag, last_modified, deadline)
                result.elapsed = time.monotonic() - start
                return result
            except FetchError as exc:
                attempt += 1
                if not exc.retryable or attempt > self.policy.retries:
                    raise
                if exc.retry_after is not None:
                    if exc.retry_after > self.policy.retry_after_cap:
                        raise FetchError(f"{exc.reason}; Retry-After {exc.retry_after:.0f}s exceeds the cap of "
                                         f"{self.policy.retry_after_cap:.0f}s", http_status=exc.http_status) from None
                    wait = exc.retry_after
                else:
                    wait = self.policy.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
                if time.monotonic() + wait >= deadline:
                    raise FetchError(f"{exc.reason}; no time left to retry before the deadline",
                                     http_status=exc.http_status) from None
                log.debug("retrying %s in %.1fs after: %s", url, wait, exc.reason)
                time.sleep(wait)

    def _fetch_once(self, url: str, etag: str | None, last_modified: str | None, deadline: float) -> FetchResult:
        ctx = _Context(self.policy, self.resolver)
        _local.ctx = ctx
        remaining = deadline - time.monotonic()
        timer = _DEADLINES.add(time.monotonic() + max(remaining, 0.001), ctx.expire)
        try:
            return self._follow(url, etag, last_modified, deadline)
        except FetchError:
            raise
        except requests.exceptions.SSLError as exc:
            raise FetchError(f"TLS error: {_short(exc)}") from None
        except requests.exceptions.ConnectTimeout:
            raise FetchError("connect timeout", retryable=True) from None
        except requests.exceptions.ReadTimeout:
            raise FetchError("read timeout", retryable=True) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            inner = exc
            while inner.__context__ is not None and not isinstance(inner, FetchError):
                inner = inner.__context__  # type: ignore[assignment]
            if isinstance(inner, FetchError):  # raised inside the connection guard
                raise inner from None
            if ctx.expired:
                raise FetchError("deadline exceeded") from None
            raise FetchError(f"connection failed: {_short(exc)}", retryable=True) from None
        finally:
            _DEADLINES.cancel(timer)
            _local.ctx = None

    def _follow(self, url: str, etag: str | None, last_modified: str | None, deadline: float) -> FetchResult:
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        seen: list[str] = []
        jar: RequestsCookieJar | None = None
        for _hop in range(self.policy.max_redirects + 1):
            _check_target(url)
            seen.append(url)
            request = self._prepare(url, headers, jar)
            response = self._adapter.send(request, stream=True, timeout=(self.policy.timeout, self.policy.timeout),
                                          verify=self.verify)
            reusable = False
            try:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    if not location:
                        raise FetchError(f"HTTP {response.status_code} redirect without Location",
                                         http_status=response.status_code)
                    if "Set-Cookie" in response.headers:  # e.g. a cookie check that redirects back
                        jar = jar if jar is not None else RequestsCookieJar()
                        extract_cookies_to_jar(jar, request, response.raw)
                    try:
                        url = urljoin(url, location)
                    except ValueError as exc:  # e.g. "http://[::1" (Invalid IPv6 URL)
                        raise FetchError(f"redirect to a malformed URL {location[:200]!r}: {exc}",
                                         http_status=response.status_code) from None
                    if url in seen:
                        raise FetchError(f"redirect loop at {url[:200]}", http_status=response.status_code)
                    continue
                result = self._finish(url, response, deadline)
                # The body was read to its end (or there is none, as for 304): the connection
                # can serve the next request to this host. Anything else is closed.
                reusable = True
                return result
            finally:
                if reusable:
                    response.raw.release_conn()
                else:
                    response.close()
        raise FetchError(f"too many redirects (more than {self.policy.max_redirects})")

    def _prepare(self, url: str, headers: dict[str, str], jar: RequestsCookieJar | None) -> PreparedRequest:
        """A GET for the session's adapter, prepared here rather than by Session.request.

        Session.request merges environment settings, the session's cookie jar and hooks, none
        of which a fetch uses, at a third of the CPU of a whole 304 check. Cookies live only
        within one redirect chain: every check fetches the page as a first-time visitor would,
        so what it sees does not depend on what earlier checks were told.
        """
        request = PreparedRequest()
        request.prepare_method("GET")
        try:
            request.prepare_url(url, None)
        except (requests.RequestException, ValueError) as exc:  # InvalidURL, e.g. a bad IDNA label
            raise FetchError(f"malformed URL {url[:200]!r}: {_short(exc)}") from None
        request.prepare_headers({**self.session.headers, **headers})
        if jar is not None:
            request.prepare_cookies(jar)
        return request

    def _finish(self, url: str, response: requests.Response, deadline: float) -> FetchResult:
        status = response.status_code
        if _expired(deadline):  # EOF forced by the timer can look like the end of the headers
            raise FetchError("deadline exceeded before the response headers were complete")
        if 300 <= status < 400 and status != 304 and not response.headers.get("Location"):
            raise FetchError(f"HTTP {status} redirect without Location", http_status=status)
        if status == 304:
            return FetchResult(url=url, status=304, not_modified=True,
                               etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"))
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise FetchError(f"HTTP {status} {response.reason or ''}".strip(), http_status=status,
                             retryable=True, retry_after=retry_after)
        if status >= 400:
            raise FetchError(f"HTTP {status} {response.reason or ''}".strip(), http_status=status)
        if status != 200:
            raise FetchError(f"unexpected HTTP status {status}", http_status=status)
        body = _read_body(response, self.policy.max_bytes, deadline)
        mime, charset = _content_type(response.headers.get("Content-Type", ""))
        return FetchResult(
            url=url, status=status, body=body, content_type=mime, charset=charset,
            etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
            headers={k: v for k, v in response.headers.items() if k.lower() in ("content-type", "etag")},
        )


def _check_target(url: str) -> None:
    """Raise FetchError unless `url` is an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parses the port: ValueError if it is not a number or out of range)
    except ValueError as exc:
        raise FetchError(f"malformed URL {url[:200]!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"refused redirect to non-HTTP URL {url[:200]!r}")
    if not parts.hostname:
        raise FetchError(f"malformed URL {url[:200]!r}: no host")


def policy_from_settings(settings: Any) -> FetchPolicy:
    allow = settings.allow_private_addresses
    return FetchPolicy(
        timeout=settings.timeout,
        deadline=settings.deadline,
        max_bytes=settings.max_bytes,
        max_redirects=settings.max_redirects,
        retries=settings.retries,
        retry_after_cap=settings.retry_after_cap,
        user_agent=settings.user_agent,
        allow_private=allow if isinstance(allow, bool) else tuple(allow),
    )


def host_of(url: str) -> str:
    """The host a URL's requests go to: the unit of politeness (one request at a time)."""
    return (urlsplit(url).hostname or "").lower()
