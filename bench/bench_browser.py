"""A rendered check against a plain one, and the daemon's memory and tasks with the browser up.

1. `policy-monitor check` over N pages on loopback, plainly (server-rendered HTML) and rendered
   (the same text written by scripts after an XHR, fetch = "browser"), each as its own process
   in a cgroup of its own (CPU of every process it starts: Playwright's driver and Chromium's
   processes too); process start-up, measured with no pages, is subtracted. Medians of --repeat.
2. `policy-monitor run` with --pages rendered pages (and as many plain ones) checked every
   --interval seconds for --seconds: memory of the whole tree (daemon + driver + Chromium) as
   systemd's MemoryMax= would count it (the cgroup's peak), the summed proportional set size
   (PSS) of its processes, and its tasks (threads, what TasksMax= counts).

Needs root for the cgroups (cgroup v1 controllers cpuacct, memory, pids, or v2); without, CPU
comes from wait4 and memory from /proc only.

    python bench/bench_browser.py [--pages 20] [--repeat 3] [--seconds 90]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import Event, Process
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.browser import _cmdline, _descendants, _smaps_kb

PARAGRAPH = "We respond to valid legal process from government agencies for user data in {n} ways. "
PLAIN = "<!doctype html><html><body><main><h1>Page {i}</h1>{body}</main></body></html>"
SCRIPTED = """<!doctype html><html><body><main id="app">Loading</main><script>
var x = new XMLHttpRequest(); x.open("GET", "/data/{i}");
x.onload = function () {{ document.getElementById("app").innerHTML = x.responseText; }}; x.send();
</script></body></html>"""


def _serve(port: int, pages: int, ready: Any) -> None:
    from monitor.pageserver import PageServer

    server = PageServer(port=port)
    for i in range(pages):
        body = "".join(f"<p>{PARAGRAPH.format(n=i * 100 + k)}</p>" for k in range(60))
        server.set(f"/plain/{i}", PLAIN.format(i=i, body=body))
        server.set(f"/scripted/{i}", SCRIPTED.format(i=i))
        server.set(f"/data/{i}", f"<h1>Page {i}</h1>{body}")
    server.start()
    ready.set()
    while True:
        time.sleep(3600)


def serve(pages: int) -> tuple[int, Process]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ready = Event()
    process = Process(target=_serve, args=(port, pages, ready), daemon=True)
    process.start()
    ready.wait(60)
    return port, process


def write_config(path: Path, port: int, pages: int, mode: str, interval: str = "1h", extra_plain: int = 0) -> None:
    lines = ["[monitor]", f'database = "sqlite:///{path.parent / "pm.db"}"', "allow_private_addresses = true",
             "retries = 0", "workers = 4", f'interval = "{interval}"', 'jitter = "0s"', "deadline = 60"]
    for i in range(pages):
        path_ = f"/scripted/{i}" if mode == "browser" else f"/plain/{i}"
        lines += ["", "[[pages]]", f'id = "{mode}{i}"', 'company = "Bench"', f'url = "http://127.0.0.1:{port}{path_}"',
                  f'fetch = "{mode}"', 'select = ["main"]']
    for i in range(extra_plain):
        lines += ["", "[[pages]]", f'id = "plain{i}"', 'company = "Bench"',
                  f'url = "http://127.0.0.1:{port}/plain/{i}"', 'select = ["main"]']
    path.write_text("\n".join(lines) + "\n")


# -- cgroups: everything a command starts, counted as systemd would ---------------------------


class Group:
    """A cgroup (v1 cpuacct+memory+pids, or v2) for one command; None-safe readings."""

    def __init__(self, name: str):
        self.dirs: dict[str, Path] = {}
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        roots = {"v2": Path("/sys/fs/cgroup")} if v2.exists() else {
            c: Path(f"/sys/fs/cgroup/{c}") for c in ("cpuacct", "memory", "pids")}
        for controller, root in roots.items():
            try:
                path = root / name
                path.mkdir(exist_ok=True)
                self.dirs[controller] = path
            except OSError:
                pass

    def prefix(self) -> list[str]:
        """A shell prefix that moves the command into the group before it starts."""
        moves = "; ".join(f"echo $$ > {d}/cgroup.procs" for d in self.dirs.values())
        return ["sh", "-c", f"{moves}; exec \"$@\"", "sh"] if moves else []

    def _read(self, controller: str, *files: str) -> int | None:
        d = self.dirs.get(controller) or self.dirs.get("v2")
        for file in files:
            try:
                text = (d / file).read_text() if d else ""
            except OSError:
                continue
            if file == "cpu.stat":
                return int(text.split()[1]) * 1000  # usage_usec -> ns
            return int(text.split()[0])
        return None

    def cpu_seconds(self) -> float | None:
        ns = self._read("cpuacct", "cpuacct.usage", "cpu.stat")
        return ns / 1e9 if ns is not None else None

    def memory_peak_mb(self) -> float | None:
        peak = self._read("memory", "memory.max_usage_in_bytes", "memory.peak")
        return peak / 2**20 if peak is not None else None

    def tasks(self) -> int | None:
        return self._read("pids", "pids.current")

    def remove(self) -> None:
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def kind_of(pid: int, daemon: int) -> str:
    """What a process of the daemon's tree is: the daemon, Playwright's driver, or a Chromium process by its type."""
    if pid == daemon:
        return "daemon"
    args = _cmdline(pid)
    joined = " ".join(args)
    if "--type=" in joined:
        kind = joined.split("--type=", 1)[1].split()[0]
        if kind == "utility" and "--utility-sub-type=" in joined:
            kind += ":" + joined.split("--utility-sub-type=", 1)[1].split()[0].rsplit(".", 1)[-1]
        return f"chromium {kind}"
    name = Path(args[0]).name if args else "?"
    if name == "node":
        return "driver (node)"
    return "chromium browser" if "chrom" in name else name


def run_check(config: Path, tag: str) -> tuple[float, float]:
    """(CPU seconds of everything the command started, wall seconds)."""
    group = Group(f"pm-bench-{os.getpid()}-{tag}")
    start = time.perf_counter()
    proc = subprocess.run([*group.prefix(), sys.executable, "-m", "monitor", "check", "-q", "--config", str(config)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr[-2000:])
    cpu = group.cpu_seconds()
    group.remove()
    if cpu is None:
        cpu = float("nan")
    return cpu, wall


def bench_checks(port: int, pages: int, repeat: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {"empty": [], "plain": [], "browser": []}
    with tempfile.TemporaryDirectory(prefix="pm-bench-browser-") as tmp:
        for round_ in range(repeat):
            for mode in results:
                work = Path(tmp) / f"{mode}{round_}"
                work.mkdir()
                config = work / "monitor.toml"
                write_config(config, port, 0 if mode == "empty" else pages, "plain" if mode == "empty" else mode)
                results[mode].append(run_check(config, f"{mode}{round_}"))
    start_cpu = statistics.median(c for c, _ in results["empty"])
    start_wall = statistics.median(w for _, w in results["empty"])
    per = {mode: (statistics.median((c - start_cpu) / pages for c, _ in runs),
                  statistics.median((w - start_wall) / pages for _, w in runs))
           for mode, runs in results.items() if mode != "empty"}
    print(f"check of {pages} pages, first check (baseline), medians of {repeat}; start-up "
          f"({start_cpu:.2f}s CPU, {start_wall:.2f}s wall) subtracted:")
    for mode, (cpu, wall) in per.items():
        print(f"  {mode:8} {cpu * 1000:7.1f} ms CPU/page  {wall * 1000:7.1f} ms wall/page")
    print(f"  rendered/plain: {per['browser'][0] / per['plain'][0]:.1f}x CPU, "
          f"{per['browser'][1] / per['plain'][1]:.1f}x wall (browser start-up included, over {pages} pages)")


def bench_daemon(port: int, pages: int, seconds: float, interval: float) -> None:
    group = Group(f"pm-bench-{os.getpid()}-daemon")
    with tempfile.TemporaryDirectory(prefix="pm-bench-daemon-") as tmp:
        config = Path(tmp) / "monitor.toml"
        write_config(config, port, pages, "browser", interval=f"{interval:g}s", extra_plain=pages)
        proc = subprocess.Popen([*group.prefix(), sys.executable, "-m", "monitor", "run", "-q", "--config",
                                 str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else ""))
        reader.start()
        peak = {"pss": 0, "anon": 0, "rss": 0, "threads": 0, "processes": 0, "tasks": 0}
        daemon_pss = 0
        breakdown: dict[str, list[int]] = {}
        until = time.monotonic() + seconds
        while time.monotonic() < until and proc.poll() is None:
            tree = [proc.pid, *_descendants(proc.pid)]
            # Pss_Anon: proportional anonymous memory, what the kernel cannot drop and re-read from a file.
            memory = {pid: _smaps_kb(pid, ("Pss", "Pss_Anon")) for pid in tree}
            pss = sum(pss_kb for pss_kb, _ in memory.values())
            anon = sum(anon_kb for _, anon_kb in memory.values())
            rss = threads = 0
            for pid in tree:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                rss += int(fields.get("VmRSS", "0 kB").split()[0])
                threads += int(fields.get("Threads", "0"))
            daemon_pss = max(daemon_pss, memory[proc.pid][0])
            if pss > peak["pss"]:
                breakdown = {}
                for pid in tree:
                    row = breakdown.setdefault(kind_of(pid, proc.pid), [0, 0, 0])
                    row[0] += 1
                    row[1] += memory[pid][0]
                    row[2] += memory[pid][1]
            sample = {"pss": pss, "anon": anon, "rss": rss, "threads": threads, "processes": len(tree),
                      "tasks": group.tasks() or 0}
            peak.update({key: max(peak[key], value) for key, value in sample.items()})
            time.sleep(0.25)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        reader.join()
    memory_peak = group.memory_peak_mb()
    group.remove()
    print(f"run: {pages} rendered + {pages} plain pages every {interval:g}s for {seconds:g}s, one browser:")
    print(f"  peak PSS of the tree {peak['pss'] / 1024:.0f} MB (the daemon process alone {daemon_pss / 1024:.0f} MB); "
          f"summed RSS {peak['rss'] / 1024:.0f} MB (counts shared pages once per process)")
    print(f"  peak anonymous memory of the tree {peak['anon'] / 1024:.0f} MB (the rest of the PSS is clean file pages: "
          f"the Chromium and Node.js binaries, which the kernel can drop and re-read)")
    if memory_peak is not None:
        print(f"  cgroup memory peak (what MemoryMax= counts, page cache included) {memory_peak:.0f} MB")
    print(f"  peak tasks {max(peak['threads'], peak['tasks'])} (threads of {peak['processes']} processes)")
    print("  at the peak, by process (count, PSS, anonymous):")
    for kind, (count, pss_kb, anon) in sorted(breakdown.items(), key=lambda item: -item[1][1]):
        print(f"    {kind:28} {count:2}  {pss_kb / 1024:6.0f} MB  {anon / 1024:6.0f} MB")
    if proc.returncode != 0:
        print(f"  run exited {proc.returncode}: {''.join(err)[-1000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--interval", type=float, default=20)
    parser.add_argument("--daemon-pages", type=int, default=4)
    parser.add_argument("--only", choices=("check", "run"), help="run one of the two parts")
    args = parser.parse_args()
    port, server = serve(max(args.pages, args.daemon_pages))
    try:
        if args.only != "run":
            bench_checks(port, args.pages, args.repeat)
        if args.only != "check":
            bench_daemon(port, args.daemon_pages, args.seconds, args.interval)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
