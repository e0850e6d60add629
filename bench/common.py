"""Shared benchmark parts: generated pages served from a separate process, the peer
(urlwatch, in its own venv) and resource measurement of child processes.

The page server runs in its own process so its CPU never counts against the checker's.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import Event, Process
from pathlib import Path
from typing import Any, ClassVar
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / "bench" / ".peer-venv"
_WORDS = [
    "government", "law", "enforcement", "request", "data", "user", "account", "disclose", "legal", "process",
    "valid", "court", "order", "emergency", "review", "policy", "transparency", "report", "country",
    "jurisdiction", "respond", "notify", "require",
]


def page_paragraphs(index: int, size: int) -> list[str]:
    rng = random.Random(index)
    paragraphs, total = [], 0
    while total < size:
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(30, 80))).capitalize() + "."
        paragraphs.append(text)
        total += len(text) + 7
    return paragraphs


class _State:
    # unchanged | noisy | changing (noisy, and 10 % change text) | edits (10 % change text, no noise)
    mode = "unchanged"
    round = 0
    validators = True  # False: no ETag, every fetch a 200 with the whole body (a CMS-rendered page)
    counter = 0
    pages: ClassVar[list[list[str]]] = []


def render(index: int, state: type[_State]) -> bytes:
    paragraphs = state.pages[index]
    version = state.round if state.mode in ("changing", "edits") and index % 10 == 0 else 0
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    if version:
        body += f"<p>Amendment number {version} to this policy.</p>"
    nonce = state.counter if state.mode in ("noisy", "changing") else 0
    return (f"<!doctype html><html><head><title>Page {index}</title><script>var nonce={nonce};</script></head>"
            f"<body><nav>menu</nav><main><h1>Page {index}</h1>{body}</main>"
            f"<input type=hidden value=\"{nonce}\"></body></html>").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/_set/"):
            _, _, mode, rnd, validators = self.path.split("/")
            _State.mode, _State.round, _State.validators = mode, int(rnd), validators == "1"
            self._send(200, b"ok", None)
            return
        try:
            index = int(self.path.strip("/").split("/")[-1])
        except ValueError:
            self._send(404, b"no", None)
            return
        _State.counter += 1
        body = render(index, _State)
        etag = '"' + hashlib.md5(body).hexdigest() + '"' if _State.validators else None
        if etag and self.headers.get("If-None-Match") == etag:
            self._send(304, b"", etag)
        else:
            self._send(200, body, etag)

    def _send(self, status: int, body: bytes, etag: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(port: int, pages: int, size: int, ready: Any) -> None:
    _State.pages = [page_paragraphs(i, size) for i in range(pages)]
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    ready.set()
    server.serve_forever()


@dataclass
class Served:
    port: int
    process: Process

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port}/page/{index}"

    def set(self, mode: str, rnd: int, validators: bool = True) -> None:
        with urlopen(f"http://127.0.0.1:{self.port}/_set/{mode}/{rnd}/{int(validators)}", timeout=10) as response:
            response.read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


def serve_pages(pages: int, size: int = 100_000, port: int = 0) -> Served:
    if port == 0:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    ready = Event()
    process = Process(target=_serve, args=(port, pages, size, ready), daemon=True)
    process.start()
    if not ready.wait(120):
        raise RuntimeError("page server did not start")
    return Served(port, process)


@dataclass
class Usage:
    wall: float
    cpu: float
    max_rss_mb: float
    returncode: int


def measure(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Usage:
    """Run a command; its own CPU time (user+sys) and peak RSS via wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read() if proc.stderr else b""))
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.stderr.write(b"".join(stderr).decode(errors="replace")[-2000:])
    return Usage(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                 proc.returncode)


def compile_package() -> None:
    """Bytecode for the checkout's own modules, as pip writes it for an installed package (and
    for the peer). Without it, an environment that sets PYTHONDONTWRITEBYTECODE (as this one does)
    has every process compile the package again, and start-up measures the compiler."""
    import compileall

    compileall.compile_dir(ROOT / "monitor", quiet=1)


def library_floor(modules: str, runs: int = 5) -> float:
    """Median CPU seconds of a fresh interpreter that only imports `modules`."""
    cpus = [measure([sys.executable, "-c", f"import {modules}"]).cpu for _ in range(runs)]
    return sorted(cpus)[len(cpus) // 2]


def ensure_urlwatch() -> Path | None:
    """urlwatch from PyPI in bench/.peer-venv (created on first use); None if it cannot be had."""
    exe = PEER_VENV / "bin" / "urlwatch"
    if exe.exists():
        return exe
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", "urlwatch"], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"urlwatch unavailable: {exc}", file=sys.stderr)
        return None
    return exe if exe.exists() else None


def write_urlwatch_files(workdir: Path, urls: list[str], text_filter: bool = True) -> list[str]:
    """Jobs, config and cache for urlwatch; returns the command line (reports to nowhere)."""
    jobs = "\n---\n".join(f"url: {u}\n" + ("filter:\n  - html2text\n" if text_filter else "") for u in urls)
    (workdir / "urls.yaml").write_text(jobs + "\n")
    (workdir / "urlwatch.yaml").write_text(
        "display:\n  new: true\n  error: true\n  unchanged: false\n"
        "report:\n  text:\n    details: true\n    footer: false\n    line_length: 75\n    minimal: false\n"
        "    separate: false\n  stdout:\n    enabled: true\n    color: false\n"
        "  email:\n    enabled: false\n"
        "job_defaults:\n  all: {}\n  shell: {}\n  url: {}\n  browser: {}\n"
    )
    exe = PEER_VENV / "bin" / "urlwatch"
    return [str(exe), "--urls", str(workdir / "urls.yaml"), "--config", str(workdir / "urlwatch.yaml"),
            "--cache", str(workdir / "cache.db")]
