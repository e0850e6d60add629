"""Run a command under the process restrictions of systemd/policy-monitor.service, without systemd.

    python tests/unit_sandbox.py [--writable PATH ...] -- COMMAND ARGS...      (as root)

Where systemd cannot start a transient unit (no systemd as PID 1, as in containers and on the
development machines), this applies by hand the unit's settings that decide whether a browser
can run inside it, then execs COMMAND:

* ProtectSystem=strict     -> the whole file system read-only, but /tmp (the unit's PrivateTmp=
                             is writable) and the --writable paths (its StateDirectory=);
* ProtectProc=invisible, ProcSubset=pid -> a /proc of processes only (no /proc/cpuinfo,
                             /proc/meminfo, /proc/sys ...); both in a mount namespace of our own;
* CapabilityBoundingSet= (empty), AmbientCapabilities= -> no capability at all: the bounding set
                             emptied and the process's own sets cleared;
* NoNewPrivileges=yes      -> PR_SET_NO_NEW_PRIVS;
* MemoryDenyWriteExecute=yes -> PR_SET_MDWE (Linux 6.3+), which systemd 253+ itself uses;
* SystemCallFilter=@system-service, ~@privileged @resources, SystemCallErrorNumber=EPERM
                           -> a seccomp filter built from `systemd-analyze syscall-filter`;
* RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX, RestrictNamespaces=yes,
  SystemCallArchitectures=native -> the same seccomp filter.

Not applied: ProtectHome and DynamicUser, because the test's Python may live where only root
can read (pyenv under /root): the user stays root, stripped of every capability; a private /tmp
(the test's files live there); PrivateDevices, ProtectKernel*, ProtectClock and PrivateUsers,
which need systemd's own machinery and do not bear on a browser.
The settings are read from the unit file, so a change there changes what is applied here.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "policy-monitor.service"
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 24, 38, 65, 1
_CAPABILITY_VERSION_3 = 0x20080522
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 \
    | 0x00000080  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_FAMILIES = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}


def unit_settings() -> dict[str, list[str]]:
    """[Service] settings of the unit, every value of keys given more than once."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def syscall_groups() -> dict[str, list[str]]:
    """systemd's named system-call sets (`systemd-analyze syscall-filter`)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        if re.match(r"^@[\w-]+$", line):
            current = groups.setdefault(line, [])
        elif current is not None and line.startswith("    ") and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for name in names:
        out |= expand(groups[name], groups) if name.startswith("@") else {name}
    return out


def allowed_syscalls(settings: dict[str, list[str]]) -> set[str]:
    """SystemCallFilter lines as systemd reads them: a first allow-list, then `~` lines take away."""
    groups = syscall_groups()
    allowed: set[str] = set()
    for value in settings.get("SystemCallFilter", []):
        names = value.lstrip("~").split()
        if value.startswith("~"):
            allowed -= expand(names, groups)
        else:
            allowed |= expand(names, groups)
    return allowed


def load_filter(settings: dict[str, list[str]], allowed: set[str]) -> None:
    import pyseccomp as seccomp

    assert settings.get("SystemCallErrorNumber") == ["EPERM"], settings.get("SystemCallErrorNumber")
    assert settings.get("RestrictNamespaces") == ["yes"], settings.get("RestrictNamespaces")
    families = [_FAMILIES[name] for name in settings["RestrictAddressFamilies"][0].split()]
    allowed = allowed - {"socket", "clone", "clone3", "unshare", "setns"}
    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in sorted(allowed):
        with contextlib.suppress(RuntimeError, ValueError, OSError):  # a name unknown to this libseccomp
            rules.add_rule(seccomp.ALLOW, name)
    for family in families:
        rules.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
    rules.add_rule(seccomp.ALLOW, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _NAMESPACE_FLAGS, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # as systemd does: glibc falls back to clone
    rules.load()


def _mount(libc: ctypes.CDLL, source: str | None, target: str, kind: str | None, flags: int,
           data: str | None = None) -> None:
    def c(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    if libc.mount(c(source), c(target), c(kind), flags, c(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def confine_files(libc: ctypes.CDLL, settings: dict[str, list[str]], writable: list[str]) -> None:
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    if settings.get("ProtectSystem") == ["strict"]:
        for path in ["/tmp", *writable]:  # mounts of their own keep their write access
            _mount(libc, path, path, None, MS_BIND | MS_REC)
        _mount(libc, None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    if settings.get("ProtectProc") == ["invisible"] and settings.get("ProcSubset") == ["pid"]:
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid")


def drop_capabilities(libc: ctypes.CDLL) -> None:
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
            raise OSError(ctypes.get_errno(), f"PR_CAPBSET_DROP {cap}")
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: twice 32 bits, all zero
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def main(argv: list[str]) -> None:
    split = argv.index("--")
    command = argv[split + 1:]
    writable = [argv[i + 1] for i in range(1, split) if argv[i] == "--writable"]
    settings = unit_settings()
    allowed = allowed_syscalls(settings)  # asks systemd-analyze, before /proc and / are narrowed
    libc = ctypes.CDLL(None, use_errno=True)
    confine_files(libc, settings, writable)
    if settings.get("CapabilityBoundingSet") == [""] and settings.get("AmbientCapabilities") == [""]:
        drop_capabilities(libc)
    if settings.get("NoNewPrivileges") == ["yes"] and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if settings.get("MemoryDenyWriteExecute") == ["yes"] and \
            libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_MDWE (needs Linux 6.3)")
    load_filter(settings, allowed)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
