"""Real alert receivers on 127.0.0.1 for the alert tests: an SMTP server and a webhook server."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- SMTP ----------------------------------------------------------------------------------------


class SMTPReceiver:
    """aiosmtpd with AUTH (LOGIN/PLAIN over plain text, as a local relay would allow)."""

    def __init__(self, user: str, password: str, port: int | None = None):
        self.user, self.password = user, password
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, bool]] = []
        self.port = port or free_port()
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                receiver.messages.append(message)  # type: ignore[arg-type]
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
            receiver.logins.append((mechanism, ok))
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                     auth_require_tls=False)

    def url(self, password: str | None = None) -> str:
        return (f"mailto://{self.user}:{password or self.password}@127.0.0.1:{self.port}"
                "?mode=insecure&from=monitor@example.org&to=newsroom@example.org")

    def bodies(self) -> list[tuple[str, str]]:
        out = []
        for message in self.messages:
            part = message.get_body(preferencelist=("plain", "html"))
            out.append((str(message["Subject"]), part.get_content() if part else ""))
        return out

    def __enter__(self) -> SMTPReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# -- webhooks ------------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def data(self) -> dict[str, Any]:
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(self.body)
        return dict(parse_qsl(self.body.decode()))


@dataclass
class WebhookReceiver:
    """HTTP server recording POSTs. mode: 'ok' (200), 'error' (503) or 'hang' (no answer until
    `release` is set or `hang_for` seconds pass). `delay` slows every answer."""

    port: int = 0
    mode: str = "ok"
    delay: float = 0.0
    hang_for: float = 60.0
    received: list[Request] = field(default_factory=list)  # answered with 200
    arrived: list[Request] = field(default_factory=list)  # every request, answered or not
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.path, dict(self.headers.items()), self.rfile.read(length))
                with receiver.lock:
                    receiver.arrived.append(request)
                    mode = receiver.mode
                if mode == "hang":
                    receiver.release.wait(receiver.hang_for)
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = 200 if mode == "ok" else 503
                if status == 200:
                    with receiver.lock:
                        receiver.received.append(request)
                body = b"ok" if status == 200 else b"unavailable"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread: threading.Thread | None = None

    def url(self, scheme: str = "json", path: str = "/hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [request.data for request in self.received]

    def __enter__(self) -> WebhookReceiver:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
