"""The browser half of the fetch stage: a page rendered by headless Chromium, driven by Playwright.

`Browser.render(url, options)` returns the rendered DOM as a `FetchResult`, which then goes
through the same extract, compare, diff and classify stages as a plain body (monitor.fetchmode
decides when to render). The guarantees are the plain fetcher's:

* every connection the page opens (document, frames, scripts, XHR, fetch, WebSockets, workers)
  goes through a SOCKS5 endpoint of ours, one per render, that resolves the host, applies the
  plain fetcher's address check (`monitor.fetch.vetted_addresses`) and connects to the checked
  address itself: private, loopback and link-local targets are refused unless allowed, on
  every redirect hop, with no window for DNS rebinding. Chromium sends loopback through it too
  (`<-loopback>`), and gets no UDP (no QUIC; WebRTC only through the proxy, i.e. not at all);
* images, media and fonts are never requested; downloads, pop-ups, permission prompts and
  service workers are refused; each check gets a fresh browser context (no cookies, storage or
  cache from earlier checks unless the page sets `keep_storage`);
* the whole render (start-up included) runs within the fetch `deadline`; a page that never
  settles or loops forever in JavaScript ends as a failed check, naming the stage it was in;
  the DOM is capped at `max_bytes`, the bytes a page may pull at `_TRANSFER_SHARE` x that;
* one browser per process, started on first use and reused; restarted when it crashed or hung;
  at most `browser_renders` pages at once; the browser's processes together may use
  `browser_memory` MB, past which the biggest renderer is killed (its check fails);
* V8 runs without a JIT (`--jitless`, in the renderers and in Playwright's Node.js driver), so
  the browser works under `MemoryDenyWriteExecute=yes` (systemd/policy-monitor.service).

Playwright's API is asyncio and bound to one event loop: the browser lives in one thread of
its own that runs that loop; check threads hand it renders and wait for the answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.fetch import FetchError, FetchResult, Resolver, _content_type, system_resolver, vetted_addresses

if TYPE_CHECKING:  # Playwright is imported when a page is first rendered, not with this module
    from playwright.async_api import Browser as Chromium
    from playwright.async_api import BrowserContext, Page, Playwright, Request, Route

log = logging.getLogger(__name__)

# Chromium's headless shell first (Debian: chromium-headless-shell): the browser without its
# user interface, about 150 MB less per render than full Chromium in headless mode. Debian's
# /usr/bin/chromium is a shell script that sources /etc/chromium.d (extensions, API keys, flags
# for desktops); the binaries behind the scripts are used directly.
_CANDIDATES = ("/usr/lib/chromium/chromium-headless-shell", "chromium-headless-shell", "/usr/lib/chromium/chromium",
               "chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
INSTALL_HINT = ("install Chromium (Debian: `apt-get install chromium-headless-shell`, or `chromium`; Ubuntu: the "
                "`chromium-browser` snap), "
                "or set [monitor] browser_path to a Chromium or Chrome binary")

_FLAGS = (
    "--disable-gpu",  # no GPU process: SwiftShader's JIT would not run under MemoryDenyWriteExecute
    "--disable-software-rasterizer",
    "--in-process-gpu",  # what is left of the GPU process (compositing) as a thread: one process and ~40 MB less
    "--disable-quic",  # no UDP: every connection goes through the guard
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--proxy-bypass-list=<-loopback>",  # Chromium bypasses proxies for loopback unless told not to
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-browser-signin=false",  # no account look-ups at accounts.google.com for each context
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-first-run",
    "--no-default-browser-check",
    "--deny-permission-prompts",
    "--mute-audio",
    # No zygote: its children drop capabilities with capset(), which the unit's system-call filter
    # (~@privileged) refuses, and Chromium aborts on that. Renderers start by fork and exec instead.
    "--no-zygote",
    # Chromium keeps only the last --disable-features and --enable-features: Playwright's own
    # lists (http stays http, no calls to Google at start, ...) and ours. Ours: each new window
    # (one per check) would preload the omnibox pop-up's WebUI, a renderer of its own that cost
    # 1.1 s of CPU per check, two thirds of a render; no spare renderer kept waiting (90 MB);
    # the network service in the browser process (one process and 20 MB less).
    "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
    "HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,"
    "AvoidCorsURLLoaderRestartOnRedirect,OptimizationHints,NetworkTimeServiceQuerying,AimEnabled,"
    "PreconnectToSearch,WebUIOmniboxPopup,WebUIOmniboxAimPopup,SpareRendererForSitePerProcess",
    "--enable-features=CDPScreenshotNewSurface,SkipListAccountsWithoutGaiaCookies,NetworkServiceInProcess2",
)
# Playwright defaults that do not suit us: SwiftShader (a JIT) and a disabled pop-up blocker.
_IGNORED_DEFAULTS = ["--enable-unsafe-swiftshader", "--disable-popup-blocking"]
_BLOCKED_TYPES = frozenset({"image", "media", "font"})
_TRANSFER_SHARE = 5  # a render may receive at most this many times max_bytes over all its connections
_SETTLE_QUIET = 0.5  # seconds without requests and without changes to the page's text: settled
_WAIT_FOR_QUIET = 0.3  # after wait_for matched: this long without text changes, 1 s at most
_CLOSE_GRACE = 5.0  # seconds to close a page's context before the browser counts as hung
_STATE_MAX = 1_000_000  # bytes of kept cookies and storage per page (keep_storage)
_MEMORY_POLL = 0.5
# A browser left idle this long is stopped (its ~270 MB back); the next page starts it again
# (about a second). Pages are checked every few hours: the browser need not wait in between.
_IDLE_STOP = 120.0
_SOCKS_OK, _SOCKS_REFUSED, _SOCKS_UNREACHABLE = 0x00, 0x02, 0x04

# Runs first in every frame: counts pending short timers and notes when the text last changed,
# so that "settled" can mean "nothing left to do" rather than a fixed sleep.
_SETTLE_SCRIPT = """(() => {
  if (window.__pmSettle) return;
  const pending = new Set(), set = window.setTimeout, clear = window.clearTimeout;
  let changed = performance.now();
  window.setTimeout = function (fn, delay, ...args) {
    if (typeof fn !== "function" || Number(delay) > 5000) return set.call(this, fn, delay, ...args);
    const id = set.call(this, function () { pending.delete(id); return fn.apply(this, arguments); }, delay, ...args);
    pending.add(id);
    return id;
  };
  window.clearTimeout = function (id) { pending.delete(id); return clear.call(this, id); };
  new MutationObserver(() => { changed = performance.now(); })
    .observe(document, {childList: true, subtree: true, characterData: true});
  Object.defineProperty(window, "__pmSettle", {value: () => [pending.size, (performance.now() - changed) / 1000]});
})();"""
# Chromium's pop-up blocker refuses window.open without a user gesture, and a render has none;
# the headless shell has no pop-up blocker, so the answer a blocked pop-up gets is given here
# (and _route refuses whatever another page would load, should one open anyway).
_NO_POPUPS = "Object.defineProperty(window, 'open', {value: () => null, writable: false, configurable: false});"
_PROBE = "() => window.__pmSettle ? window.__pmSettle() : [0, 1e9]"
_SERIALIZE = """(max) => {
  const root = document.documentElement;
  if (!root) return [0, ""];
  const html = root.outerHTML;
  return html.length > max ? [html.length, null] : [html.length, html];
}"""


def find_chromium(path: str = "") -> str | None:
    """The Chromium binary to use: `path` if given (and executable), else the first candidate found."""
    if path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_reason(path: str = "") -> str | None:
    """Why pages cannot be rendered on this machine (with how to fix it), or None."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright)"
    if find_chromium(path) is None:
        where = f"browser_path {path!r} is not an executable file" if path else "Chromium was not found"
        return f"{where}: {INSTALL_HINT}"
    return None


@dataclass(frozen=True)
class RenderOptions:
    """One render's limits (from [monitor]) and the page's own settings."""

    deadline: float = 120.0
    timeout: float = 30.0
    max_bytes: int = 10_000_000
    allow_private: bool | tuple[str, ...] = False
    user_agent: str = "policy-monitor/0.1"
    wait_for: str | None = None
    storage_key: str | None = None  # keep cookies and storage under this key (the page id)


# -- the guard: a SOCKS5 endpoint per render -------------------------------------------------


@dataclass
class _Guard:
    """Where one render's browser context connects to: resolves, checks and connects for it.

    Chromium gives SOCKS5 the host name (no DNS of its own), so the address that is checked is
    the address that is connected to. Only processes of our own user may use the endpoint.
    """

    resolver: Resolver
    allow: bool | tuple[str, ...] | None  # None: refuse everything (the browser's own traffic)
    timeout: float
    budget: int  # bytes all connections together may receive
    refused: list[str] = field(default_factory=list)
    received: int = 0
    server: asyncio.AbstractServer | None = None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"socks5://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            peer = writer.get_extra_info("peername")
            if not peer or _owner_uid(peer[0], peer[1]) != os.geteuid():
                return
            host, port = await asyncio.wait_for(_socks_request(reader, writer), self.timeout)
            loop = asyncio.get_running_loop()
            try:
                if self.allow is None:
                    raise FetchError("the browser's own traffic")
                addresses = await loop.run_in_executor(None, vetted_addresses, host, port, self.resolver, self.allow)
            except FetchError as exc:
                self.refused.append(f"{host}:{port} ({exc.reason})")
                log.debug("browser: refused a connection to %s:%s: %s", host, port, exc.reason)
                await _socks_reply(writer, _SOCKS_REFUSED)
                return
            up_reader, upstream = await self._connect(addresses, port)
            if upstream is None:
                await _socks_reply(writer, _SOCKS_UNREACHABLE)
                return
            self.writers.add(upstream)
            await _socks_reply(writer, _SOCKS_OK)
            # Either side closing ends the connection (the finally below closes both).
            pumps = [asyncio.ensure_future(self._pump(reader, upstream, count=False)),
                     asyncio.ensure_future(self._pump(up_reader, writer, count=True))]
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pending:
                pump.cancel()
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            pass
        finally:
            for end in (writer, upstream):
                if end is not None:
                    self.writers.discard(end)
                    end.transport.abort()

    async def _connect(self, addresses: list[str],
                       port: int) -> tuple[asyncio.StreamReader | None, asyncio.StreamWriter | None]:
        for address in addresses:
            with contextlib.suppress(OSError, TimeoutError):
                return await asyncio.wait_for(asyncio.open_connection(address, port), self.timeout)
        return None, None

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, count: bool) -> None:
        # The read timeout is the server's (`count`: the direction towards the page): a browser
        # waiting in silence for a slow answer is not idle.
        with contextlib.suppress(OSError, TimeoutError):
            while data := await asyncio.wait_for(source.read(65536), self.timeout if count else None):
                if count:
                    self.received += len(data)
                    if self.received > self.budget:
                        self.refused.append(f"more than its transfer budget of {self.budget} bytes")
                        return
                sink.write(data)
                await sink.drain()


async def _socks_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
    """SOCKS5 greeting (no authentication) and CONNECT request -> (host, port)."""
    version, methods = await reader.readexactly(2)
    await reader.readexactly(methods)
    if version != 5:
        raise ValueError("not SOCKS5")
    writer.write(b"\x05\x00")
    version, command, _, kind = await reader.readexactly(4)
    if kind == 1:
        host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
    elif kind == 4:
        host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
    elif kind == 3:
        host = (await reader.readexactly((await reader.readexactly(1))[0])).decode("idna")
    else:
        raise ValueError("bad address type")
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    if version != 5 or command != 1:  # CONNECT only: no BIND, no UDP
        await _socks_reply(writer, 0x07)
        raise ValueError("not a CONNECT")
    return host, port


async def _socks_reply(writer: asyncio.StreamWriter, code: int) -> None:
    writer.write(bytes((5, code, 0, 1, 0, 0, 0, 0, 0, 0)))
    await writer.drain()


def _owner_uid(host: str, port: int) -> int | None:
    """The user owning the TCP socket at host:port (the client of our loopback endpoint), from
    /proc/self/net/tcp: so that another local user cannot use the endpoint as a proxy."""
    ip = ipaddress.ip_address(host)
    if ip.version != 4:
        return None
    local = f"{struct.unpack('=I', ip.packed)[0]:08X}:{port:04X}"
    try:
        with open("/proc/self/net/tcp", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 7 and fields[1] == local:
                    return int(fields[7])
    except OSError:
        log.warning("browser: /proc/self/net/tcp is unreadable; refusing connections to the guard")
    return None


# -- processes: the browser's, for its memory and for killing it -----------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as file:
                found.extend(int(child) for child in file.read().split())
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _memory_kb(pid: int) -> int:
    """Proportional set size (shared pages split between the processes that map them)."""
    return _smaps_kb(pid, ("Pss",))[0]


def _smaps_kb(pid: int, fields: tuple[str, ...]) -> list[int]:
    """The `fields` of /proc/PID/smaps_rollup in kB, in one read (zeros for a process that is gone)."""
    wanted = {f"{name}:": i for i, name in enumerate(fields)}
    values = [0] * len(fields)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            for line in file:
                key, _, rest = line.partition(" ")
                if key in wanted:
                    values[wanted[key]] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return values


def _dead(pid: int | None) -> bool:
    """A process we know of that is gone (or a zombie); False for an unknown one."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# -- the browser -----------------------------------------------------------------------------


class Browser:
    """One headless Chromium for this process, started on first use; thread-safe `render`."""

    def __init__(self, path: str = "", renders: int = 1, memory_mb: int = 768,
                 resolver: Resolver = system_resolver):
        self.path = path
        self.memory_mb = memory_mb
        self.resolver = resolver
        self._slots = threading.BoundedSemaphore(renders)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Owned by the loop thread:
        self._playwright: Playwright | None = None
        self._browser: Chromium | None = None
        self._driver_pid: int | None = None
        self._browser_pid: int | None = None
        self._launching: asyncio.Lock | None = None
        self._active = 0
        self._watcher: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._memory_kill_at = 0.0
        self._storage: dict[str, dict[str, Any]] = {}
        self.restarts = 0

    # -- the calling threads' side ---------------------------------------------------------

    def render(self, url: str, options: RenderOptions) -> FetchResult:
        """Render `url`; FetchError with a readable reason for anything that goes wrong."""
        reason = missing_reason(self.path)
        if reason:
            raise FetchError(f"this page is rendered in a browser, but {reason}")
        # Waiting for a free slot is not this page's fault: a bound of its own, as for a host's turn.
        if not self._slots.acquire(timeout=options.deadline * 4):
            raise FetchError("timed out waiting for a free browser slot (browser_renders)")
        try:
            future = asyncio.run_coroutine_threadsafe(self._render(url, options), self._ensure_loop())
            try:
                return future.result(timeout=options.deadline + _CLOSE_GRACE * 2)
            except concurrent.futures.TimeoutError:
                # The loop itself did not come back (a wedged driver): start everything anew.
                future.cancel()
                self._abandon()
                raise FetchError(f"browser did not answer within the deadline ({options.deadline:g}s); "
                                 "restarted") from None
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            future.result(timeout=10)
        except Exception as exc:  # a timeout included
            log.warning("browser: did not stop cleanly (%s); killing it", _first_line(exc))
            self._kill_everything()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    def pids(self) -> list[int]:
        """The browser's processes (Playwright's driver and Chromium's), for measurements."""
        driver = self._driver_pid
        return [driver, *_descendants(driver)] if driver else []

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="browser", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def _abandon(self) -> None:
        """Kill the browser and its driver and forget the loop; the next render starts afresh."""
        self._kill_everything()
        with self._lock:
            loop, self._loop, self._thread = self._loop, None, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        self._playwright = self._browser = None
        self._driver_pid = self._browser_pid = None
        self.restarts += 1

    def _kill_everything(self) -> None:
        _kill(list(reversed(self.pids())))

    # -- the loop thread's side -----------------------------------------------------------

    async def _shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        with contextlib.suppress(Exception):
            if self._browser is not None:
                await asyncio.wait_for(self._browser.close(), _CLOSE_GRACE)
        with contextlib.suppress(Exception):
            if self._playwright is not None:
                await asyncio.wait_for(self._playwright.stop(), _CLOSE_GRACE)
        self._browser = self._playwright = None
        self._driver_pid = self._browser_pid = None

    async def _stop_if_idle(self) -> None:
        if self._launching is None:
            self._launching = asyncio.Lock()
        async with self._launching:  # not while a render is starting the browser
            if self._active == 0 and self._playwright is not None:
                log.info("browser: idle for %.0fs; stopped until the next rendered page", _IDLE_STOP)
                await self._shutdown()

    async def _ensure_browser(self) -> Chromium:
        if self._launching is None:
            self._launching = asyncio.Lock()
        async with self._launching:
            if self._browser is not None and self._browser.is_connected() and not _dead(self._browser_pid):
                return self._browser
            if self._browser is not None:
                log.warning("browser: Chromium is gone (crashed or killed); starting it again")
                self._kill(self._browser_pid)
                self.restarts += 1
            if self._playwright is not None and _dead(self._driver_pid):
                self._playwright = None  # the driver died: a new one
            if self._playwright is None:
                self._playwright, self._driver_pid = await _start_playwright()
            executable = find_chromium(self.path)
            # A proxy for the browser's own traffic (none is wanted): a guard that allows nothing.
            nowhere = await _Guard(self.resolver, None, 1.0, 0).start()
            # Without Chromium's own sandbox (--no-sandbox; --no-zygote needs that too): it needs user
            # namespaces, which the unit forbids (RestrictNamespaces=yes), or root, which --no-sandbox
            # needs anyway. The service's sandbox holds the browser instead (docs/browser.md).
            self._browser = await self._playwright.chromium.launch(
                executable_path=executable, headless=True, chromium_sandbox=False,
                args=[*_FLAGS, f"--js-flags=--jitless --max-old-space-size={max(self.memory_mb // 2, 128)}"],
                ignore_default_args=_IGNORED_DEFAULTS, proxy={"server": nowhere}, timeout=30_000,
                handle_sigint=False, handle_sigterm=False, handle_sighup=False,
            )
            self._browser_pid = next((pid for pid in _children(self._driver_pid or 0)
                                      if _cmdline(pid)[:1] == [executable]), None)
            log.info("browser: started %s %s", executable, self._browser.version)
            return self._browser

    async def _went_away(self, browser: Chromium) -> bool:
        """After a call to `browser` failed: whether it is gone. A killed Chromium takes a moment to
        become a zombie, and Playwright to notice the closed connection, while the call already
        fails ('... has been closed'): either sign counts, within a second; so does a browser that
        another render has already replaced."""
        for _ in range(10):
            if browser is not self._browser or not browser.is_connected() or _dead(self._browser_pid):
                return True
            await asyncio.sleep(0.1)
        return False

    def _kill(self, pid: int | None) -> None:
        if pid:
            _kill([pid, *_descendants(pid)])

    async def _render(self, url: str, options: RenderOptions) -> FetchResult:
        guard = _Guard(self.resolver, options.allow_private, options.timeout,
                       options.max_bytes * _TRANSFER_SHARE)
        stage = ["starting the browser"]
        context: BrowserContext | None = None
        crashed: list[str] = []
        self._active += 1
        if self._idle is not None:
            self._idle.cancel()
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.ensure_future(self._watch_memory())
        started = time.monotonic()
        try:
            async with asyncio.timeout(options.deadline):
                # The page's own address first, refused in the plain fetcher's words.
                stage[0] = "resolving the page's host"
                await asyncio.get_running_loop().run_in_executor(None, vetted_addresses, *_host_port(url),
                                                                 self.resolver, options.allow_private)
                stage[0] = "starting the browser"
                proxy = await guard.start()
                browser = await self._ensure_browser()
                try:
                    context = await self._new_context(browser, proxy, options)
                except Exception:
                    if not await self._went_away(browser):
                        raise
                    # it died just now: a new one (another render may have started it already)
                    context = await self._new_context(await self._ensure_browser(), proxy, options)
                result = await self._load(context, url, options, stage, crashed, started)
            if guard.refused:
                log.info("browser: %s: refused %d connection(s) the page tried: %s", url, len(guard.refused),
                         "; ".join(guard.refused[:5]))
            return result
        except TimeoutError:
            if context is None and stage[0] != "resolving the page's host":
                # No context within the whole deadline: the browser itself does not answer.
                self._restart_hung("it did not open a page within the deadline")
            raise FetchError(f"deadline of {options.deadline:g}s exceeded while {stage[0]}"
                             + _refusals(guard)) from None
        except FetchError as exc:
            raise FetchError(exc.reason + _refusals(guard), http_status=exc.http_status) from None
        except Exception as exc:  # Playwright's errors: one readable line
            if crashed:
                raise FetchError(crashed[0] + _refusals(guard)) from None
            raise FetchError(f"browser error while {stage[0]}: {_first_line(exc)}" + _refusals(guard)) from None
        finally:
            self._active -= 1
            if context is not None:
                await self._close_context(context)
            await guard.close()
            if self._active == 0:
                loop = asyncio.get_running_loop()
                self._idle = loop.call_later(_IDLE_STOP, lambda: asyncio.ensure_future(self._stop_if_idle()))

    async def _new_context(self, browser: Chromium, proxy: str, options: RenderOptions) -> BrowserContext:
        return await browser.new_context(
            proxy={"server": proxy}, user_agent=options.user_agent, accept_downloads=False,
            service_workers="block", java_script_enabled=True, locale="en-US", timezone_id="UTC",
            viewport={"width": 1280, "height": 1024}, reduced_motion="reduce",
            storage_state=self._storage.get(options.storage_key or ""),
        )

    async def _load(self, context: BrowserContext, url: str, options: RenderOptions, stage: list[str],
                    crashed: list[str], started: float) -> FetchResult:
        # No Playwright timeouts of their own: the deadline (asyncio.timeout in _render) bounds all.
        context.set_default_timeout(0)
        context.set_default_navigation_timeout(0)
        await context.add_init_script(_SETTLE_SCRIPT)
        await context.add_init_script(_NO_POPUPS)
        tracker = _Traffic()
        page = await context.new_page()
        await context.route("**/*", lambda route: _route(route, page))
        context.on("page", lambda other: other is not page and asyncio.ensure_future(other.close()))  # pop-ups
        page.on("request", tracker.started)
        page.on("requestfinished", tracker.finished)
        page.on("requestfailed", tracker.finished)
        page.on("crash", lambda _page: crashed.append(self._crash_reason()))
        stage[0] = "loading the page"
        response = await page.goto(url, wait_until="commit")
        if response is None:
            raise FetchError("the browser got no response for the page")
        status = response.status
        if status >= 400:
            raise FetchError(f"HTTP {status} {response.status_text}".strip(), http_status=status)
        mime, _ = _content_type(await response.header_value("content-type") or "text/html")
        if mime not in ("text/html", "application/xhtml+xml"):
            raise FetchError(f'the page is {mime}, not HTML: fetch it with fetch = "plain"', http_status=status)
        stage[0] = "loading the page (a request or a script of it never finished)"
        await page.wait_for_load_state("load")
        if options.wait_for:
            stage[0] = f"waiting for wait_for {options.wait_for!r} to match"
            await page.wait_for_selector(options.wait_for, state="attached", timeout=0)
            stage[0] = "waiting for the page's scripts to finish"
            await _settle(page, tracker, _WAIT_FOR_QUIET, give_up=1.0)
        else:
            stage[0] = "waiting for the page to settle (requests still running or scripts still busy)"
            await _settle(page, tracker, _SETTLE_QUIET)
        stage[0] = "reading the page"
        if not page.url.startswith(("http://", "https://")):  # Chromium's error page, after a refused navigation
            raise FetchError(f"the page navigated to an address that was refused or did not answer ({page.url[:80]})",
                             http_status=status)
        size, html = await page.evaluate(_SERIALIZE, options.max_bytes)
        body = (html or "").encode("utf-8")
        if html is None or len(body) > options.max_bytes:
            raise FetchError(f"rendered page too large: more than max_bytes {options.max_bytes} "
                             f"({size} characters)", http_status=status)
        if options.storage_key:
            await self._keep_storage(context, options.storage_key)
        return FetchResult(url=page.url, status=status, body=body, content_type="text/html", charset="utf-8",
                           elapsed=time.monotonic() - started, mode="browser")

    async def _keep_storage(self, context: BrowserContext, key: str) -> None:
        state = await context.storage_state()
        if len(json.dumps(state)) > _STATE_MAX:
            log.warning("browser: %s: cookies and storage larger than %d bytes, not kept", key, _STATE_MAX)
            self._storage.pop(key, None)
        else:
            self._storage[key] = state

    async def _close_context(self, context: BrowserContext) -> None:
        try:
            await asyncio.wait_for(context.close(), _CLOSE_GRACE)
        except Exception as exc:
            # A context that cannot be closed means a browser that no longer answers.
            self._restart_hung(f"closing a page failed: {_first_line(exc)}")

    def _restart_hung(self, why: str) -> None:
        log.warning("browser: Chromium hangs (%s); killing it, the next page starts it again", why)
        self._kill(self._browser_pid)
        self._browser = None
        self._browser_pid = None
        self.restarts += 1

    def _crash_reason(self) -> str:
        if time.monotonic() - self._memory_kill_at < 5:
            return f"the page used too much memory (the browser's processes over browser_memory {self.memory_mb} MB)"
        return "the page's renderer crashed (out of memory, or killed)"

    async def _watch_memory(self) -> None:
        """While pages render: the browser's processes over browser_memory -> kill the biggest renderer."""
        limit_kb = self.memory_mb * 1024
        while self._active > 0:
            await asyncio.sleep(_MEMORY_POLL)
            if not self._browser_pid:
                continue
            processes = [self._browser_pid, *_descendants(self._browser_pid)]
            sizes = {pid: _memory_kb(pid) for pid in processes}
            if sum(sizes.values()) <= limit_kb:
                continue
            # Chromium rewrites its children's command lines into one string: a substring test.
            renderers = [pid for pid in processes if "--type=renderer" in " ".join(_cmdline(pid))]
            if not renderers:
                continue
            biggest = max(renderers, key=sizes.__getitem__)
            log.warning("browser: its processes use %d MB (browser_memory %d MB); killing the biggest renderer "
                        "(%d MB)", sum(sizes.values()) // 1024, self.memory_mb, sizes[biggest] // 1024)
            self._memory_kill_at = time.monotonic()
            _kill([biggest])


@dataclass
class _Traffic:
    """A page's requests in flight, and when the last one started or ended."""

    inflight: int = 0
    last: float = field(default_factory=time.monotonic)

    def started(self, _request: Request) -> None:
        self.inflight += 1
        self.last = time.monotonic()

    def finished(self, _request: Request) -> None:
        self.inflight = max(self.inflight - 1, 0)
        self.last = time.monotonic()


async def _settle(page: Page, traffic: _Traffic, quiet: float, give_up: float | None = None) -> None:
    """Until no request has run for `quiet` seconds, no short timer is pending and the text has
    not changed for `quiet` seconds (or, with `give_up`, that many seconds at most)."""
    until = time.monotonic() + give_up if give_up is not None else None
    while until is None or time.monotonic() < until:
        try:
            timers, unchanged = await page.evaluate(_PROBE)
        except Exception as exc:
            if "context was destroyed" not in str(exc):
                raise
            # A script sent the page elsewhere (location.replace to a localized URL...): the new
            # document settles in its turn, within the same deadline.
            await page.wait_for_load_state("load")
            continue
        idle = traffic.inflight == 0 and time.monotonic() - traffic.last >= quiet
        if (idle or give_up is not None) and timers == 0 and unchanged >= quiet:
            return
        await asyncio.sleep(0.1)


async def _route(route: Route, page: Page) -> None:
    """Images, media, fonts and anything a pop-up would load never leave the browser; the rest
    goes on, through the guard."""
    request = route.request
    try:
        elsewhere = request.frame.page is not page
    except Exception:  # a request without a frame (a worker's): judged by its type alone
        elsewhere = False
    if elsewhere or request.resource_type in _BLOCKED_TYPES:
        await route.abort("blockedbyclient")
    else:
        await route.fallback()


async def _start_playwright() -> tuple[Playwright, int | None]:
    """Playwright's Node.js driver, without a JIT (it too must run under MemoryDenyWriteExecute),
    and with a small young generation (its heap is most of its 100 MB)."""
    from playwright.async_api import async_playwright

    before = set(_children(os.getpid()))
    saved = os.environ.get("NODE_OPTIONS")
    os.environ["NODE_OPTIONS"] = f"{saved or ''} --jitless --max-semi-space-size=1".strip()
    try:
        playwright = await async_playwright().start()
    finally:
        if saved is None:
            os.environ.pop("NODE_OPTIONS", None)
        else:
            os.environ["NODE_OPTIONS"] = saved
    driver = next((pid for pid in _children(os.getpid()) if pid not in before and "run-driver" in _cmdline(pid)),
                  None)
    return playwright, driver


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _refusals(guard: _Guard) -> str:
    if not guard.refused:
        return ""
    more = f" and {len(guard.refused) - 1} more" if len(guard.refused) > 1 else ""
    return f" (the page was refused {guard.refused[0]}{more})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]

