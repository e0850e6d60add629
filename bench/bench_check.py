"""One `check` pass over N generated ~100 KB pages on loopback, policy-monitor vs urlwatch.

Scenarios (after a baseline pass that is not measured):
  unchanged  - same bytes, the server answers 304 to the stored ETag
  noisy      - the raw HTML changes on every fetch (script nonce, hidden input), the text does not
  changing   - noisy, and 10 % of the pages also change their text
Both tools run as separate processes; CPU (user+sys) and peak RSS come from wait4. Process
start-up (imports) is measured with an empty job list and subtracted for the per-page figure.
Also: diff time of a 1 MB document with 1 % and 20 % of sentences changed, against difflib
(which urlwatch uses), in this process.

    python bench/bench_check.py [--pages 500] [--no-peer]
"""

from __future__ import annotations

import argparse
import difflib
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Usage, ensure_urlwatch, measure, serve_pages, write_urlwatch_files


def write_config(path: Path, urls: list[str]) -> None:
    lines = ["[monitor]", f'database = "sqlite:///{path.parent / "pm.db"}"', "allow_private_addresses = true",
             "retries = 0", "workers = 4", 'interval = "1h"']
    for i, url in enumerate(urls):
        lines += ["", "[[pages]]", f'id = "p{i}"', 'company = "Bench"', f'url = "{url}"', 'select = ["main"]']
    path.write_text("\n".join(lines) + "\n")


def ours(config: Path) -> Usage:
    return measure([sys.executable, "-m", "monitor", "check", "-q", "--config", str(config)])


def report(name: str, n: int, pm: Usage, pm0: Usage, peer: Usage | None, peer0: Usage | None) -> dict[str, float]:
    pm_ms = (pm.cpu - pm0.cpu) * 1000 / n
    line = (f"{name:10} policy-monitor: {pm_ms:6.2f} ms CPU/page (raw {pm.cpu * 1000 / n:6.2f}), "
            f"wall {pm.wall:6.2f}s, peak RSS {pm.max_rss_mb:6.1f} MB")
    result = {"pm_ms": pm_ms, "pm_rss": pm.max_rss_mb}
    if peer and peer0:
        peer_ms = (peer.cpu - peer0.cpu) * 1000 / n
        line += (f" | urlwatch: {peer_ms:6.2f} ms CPU/page, wall {peer.wall:6.2f}s, RSS {peer.max_rss_mb:6.1f} MB"
                 f" | CPU ratio urlwatch/pm = {peer_ms / pm_ms if pm_ms > 0 else float('inf'):5.2f}x")
        result["peer_ms"] = peer_ms
    print(line, flush=True)
    return result


def bench_pass(n: int, use_peer: bool) -> None:
    served = serve_pages(n)
    peer_exe = ensure_urlwatch() if use_peer else None
    try:
        with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
            work = Path(tmp)
            urls = [served.url(i) for i in range(n)]
            (work / "pm").mkdir()
            (work / "pm0").mkdir()
            (work / "uw").mkdir()
            (work / "uw0").mkdir()
            config, config0 = work / "pm" / "monitor.toml", work / "pm0" / "monitor.toml"
            write_config(config, urls)
            write_config(config0, [])
            peer_cmd = write_urlwatch_files(work / "uw", urls) if peer_exe else None
            peer0_cmd = write_urlwatch_files(work / "uw0", []) if peer_exe else None
            pm0 = ours(config0)
            peer0 = measure(peer0_cmd) if peer0_cmd else None
            served.set("unchanged", 0)
            base = ours(config)
            print(f"{n} pages of ~100 KB; baseline pass: policy-monitor {base.wall:.1f}s wall, "
                  f"{base.cpu * 1000 / n:.2f} ms CPU/page (start-up {pm0.cpu * 1000:.0f} ms subtracted below)")
            if peer_cmd:
                measure(peer_cmd)
            for name, mode, rnd in (("unchanged", "unchanged", 0), ("noisy", "noisy", 0), ("changing", "changing", 1)):
                served.set(mode, rnd)
                pm = ours(config)
                served.set(mode, rnd)
                peer = measure(peer_cmd) if peer_cmd else None
                report(name, n, pm, pm0, peer, peer0)
    finally:
        served.stop()


def bench_diff() -> None:
    from monitor.diff import diff_lines, stats

    rng = random.Random(3)
    words = [
        "the", "data", "request", "government", "law", "enforcement", "we", "process", "review", "policy",
        "user", "court", "order",
    ]
    sentences = [" ".join(rng.choice(words) for _ in range(15)) + f" clause {i}." for i in range(10500)]
    doc = "\n".join(sentences)
    print(f"diff of a {len(doc) / 1e6:.2f} MB document ({len(sentences)} sentences):")
    for fraction in (0.01, 0.20):
        new_sentences = list(sentences)
        for i in rng.sample(range(len(sentences)), int(len(sentences) * fraction)):
            new_sentences[i] = new_sentences[i][:-1] + " as amended."
        new = "\n".join(new_sentences)
        best = peer_best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            ops = diff_lines(doc, new)
            best = min(best, time.perf_counter() - t0)
        for _ in range(2):
            t0 = time.perf_counter()
            list(difflib.unified_diff(sentences, new_sentences, lineterm=""))
            peer_best = min(peer_best, time.perf_counter() - t0)
        s = stats(ops)
        exact = s.added == s.removed == int(len(sentences) * fraction)
        print(f"  {fraction:4.0%} changed: {best * 1000:6.1f} ms (exact counts: {exact}, +{s.added} -{s.removed}); "
              f"difflib.unified_diff {peer_best * 1000:6.1f} ms; ratio {peer_best / best:4.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--no-peer", action="store_true", help="skip urlwatch")
    parser.add_argument("--diff-only", action="store_true")
    args = parser.parse_args()
    bench_diff()
    if not args.diff_only:
        bench_pass(args.pages, not args.no_peer)


if __name__ == "__main__":
    main()
