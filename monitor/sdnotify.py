"""A small sd_notify(3) client, standard library only.

systemd passes a unix datagram socket in ``$NOTIFY_SOCKET`` (a path, or an abstract
name written with a leading ``@``); each message is one datagram of ``KEY=VALUE`` lines.
Without ``$NOTIFY_SOCKET`` (not run by systemd, or not ``Type=notify``) every call is a
no-op. Sending never raises: a service must not die because its supervisor is gone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

__all__ = ["Notifier"]


def _parse_address(raw: str) -> str | None:
    """The socket address for ``$NOTIFY_SOCKET``, or None if unset or unsupported."""
    if not raw:
        return None
    if raw.startswith("@"):
        # Abstract namespace: the kernel name starts with a NUL byte.
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # e.g. "vsock:..." (systemd >= 254, for VMs): not supported here.
    log.debug("sd_notify: unsupported NOTIFY_SOCKET %r, notifications disabled", raw)
    return None


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment inside the datagram.
    return " ".join(text.splitlines())


class Notifier:
    """Send service state to systemd. Safe to share between threads."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _parse_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """True when systemd gave us a notification socket."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one datagram; True if it was sent."""
        if self._address is None or not assignments:
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock = self._sock
            sock.sendto(data, self._address)
        except OSError as exc:
            log.debug("sd_notify: sending %r failed: %s", data, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is complete."""
        if status is None:
            return self.notify("READY=1")
        return self.notify("READY=1", "STATUS=" + _one_line(status))

    def status(self, text: str) -> bool:
        """Free-form status line, shown by ``systemctl status``."""
        return self.notify("STATUS=" + _one_line(text))

    def watchdog(self) -> bool:
        """Keep-alive ping; must come at least every WatchdogSec."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """Shutdown has begun."""
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """A config reload has begun; send ``ready()`` when it is done.

        systemd >= 253 (Type=notify-reload) wants the CLOCK_MONOTONIC time of the
        reload request with it, to tell this reload from an earlier one.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WatchdogSec), or None if not wanted."""
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        if usec <= 0:
            return None
        if self._watchdog_pid:
            # The watchdog is meant for another process (e.g. we are a child).
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        return usec / 2 / 1_000_000

    def close(self) -> None:
        """Close the socket; later calls reopen it."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
