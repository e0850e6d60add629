"""sd_notify client against a real unix datagram socket, as systemd would bind it."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.sdnotify import Notifier


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test run itself may be under systemd; never talk to the real manager.
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _recv(sock: socket.socket) -> bytes:
    return sock.recv(4096)


def _assert_nothing_pending(sock: socket.socket) -> None:
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_messages_are_exact_datagrams(receiver: socket.socket) -> None:
    n = Notifier()
    assert n.enabled
    assert n.ready() is True
    assert _recv(receiver) == b"READY=1"
    assert n.ready("watching 12 pages") is True
    assert _recv(receiver) == b"READY=1\nSTATUS=watching 12 pages"
    assert n.status("checking zoom-government-requests") is True
    assert _recv(receiver) == b"STATUS=checking zoom-government-requests"
    assert n.watchdog() is True
    assert _recv(receiver) == b"WATCHDOG=1"
    assert n.stopping() is True
    assert _recv(receiver) == b"STOPPING=1"
    assert n.notify("EXTEND_TIMEOUT_USEC=5000000") is True
    assert _recv(receiver) == b"EXTEND_TIMEOUT_USEC=5000000"
    _assert_nothing_pending(receiver)
    n.close()


def test_reloading_carries_monotonic_usec(receiver: socket.socket) -> None:
    n = Notifier()
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = _recv(receiver).split(b"\n")
    assert first == b"RELOADING=1"
    key, _, value = second.partition(b"=")
    assert key == b"MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_status_text_stays_on_one_line(receiver: socket.socket) -> None:
    n = Notifier()
    n.status("line one\nREADY=1")
    assert _recv(receiver) == b"STATUS=line one READY=1"
    n.ready("a\r\nb")
    assert _recv(receiver) == b"READY=1\nSTATUS=a b"


def test_utf8_status(receiver: socket.socket) -> None:
    Notifier().status("Zoom: pause_started (HK) — “paused”")
    assert _recv(receiver) == "STATUS=Zoom: pause_started (HK) — “paused”".encode()


def test_abstract_socket_name(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"policy-monitor-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        n = Notifier()
        assert n.enabled
        assert n.ready("up") is True
        assert _recv(sock) == b"READY=1\nSTATUS=up"
        assert n.watchdog() is True
        assert _recv(sock) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_noop_when_unset() -> None:
    n = Notifier()
    assert not n.enabled
    assert n.ready("x") is False
    assert n.status("x") is False
    assert n.watchdog() is False
    assert n.stopping() is False
    assert n.reloading() is False
    assert n.watchdog_interval() is None
    n.close()


def test_empty_or_unsupported_socket_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert not Notifier().enabled
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    n = Notifier()
    assert not n.enabled
    assert n.ready() is False


def test_send_failure_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    n = Notifier()
    assert n.enabled
    with caplog.at_level(logging.DEBUG, logger="monitor.sdnotify"):
        assert n.ready() is False
        assert n.watchdog() is False
    assert any("sd_notify" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_receiver_gone_midway(receiver: socket.socket, tmp_path: Path) -> None:
    n = Notifier()
    assert n.watchdog() is True
    receiver.close()
    (tmp_path / "notify.sock").unlink()
    assert n.watchdog() is False


def test_explicit_environ_mapping(receiver: socket.socket) -> None:
    n = Notifier({"WATCHDOG_USEC": "10000000"})
    assert not n.enabled  # NOTIFY_SOCKET comes only from the mapping given
    assert n.watchdog_interval() == 5.0


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("60000000", None, 30.0),
        ("60000000", "self", 30.0),
        ("60000000", "other", None),
        ("1500000", None, 0.75),
        ("0", None, None),
        ("-5", None, None),
        ("sixty", None, None),
        ("60000000", "not-a-pid", None),
        (None, None, None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    if usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid == "self":
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    elif pid == "other":
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    elif pid is not None:
        monkeypatch.setenv("WATCHDOG_PID", pid)
    assert Notifier().watchdog_interval() == expected
