"""`policy-monitor demo`: an offline scenario through the real pipeline.

Serves three company pages on 127.0.0.1 that change between rounds (noise only, a new
pause of Hong Kong data requests, pauses for two more jurisdictions, the pause lifted),
checks them with `check_page` against a throwaway SQLite file, and prints what it found.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from monitor.check import Runtime, check_page
from monitor.config import load_config
from monitor.pageserver import PageServer
from monitor.render import event_line

_PAGE = """<!doctype html><html><head><title>{title}</title>
<script>window.__build = "{build}";</script><style>.x{{color:red}}</style></head>
<body><nav><a href="/">Home</a> <a href="/trust">Trust</a></nav>
<div class="cookie-banner">We use cookies. <button>Accept</button></div>
<main><h1>{title}</h1>
<p class="updated">Last updated: {updated}</p>
{body}
</main><footer>© {company}</footer></body></html>"""

_ZOOM_BASE = """<h2>How we handle government requests</h2>
<p>Zoom carefully reviews every government request for user data to make sure it is legally valid.</p>
<p>We notify users of requests for their data unless prohibited by law.</p>
<ul><li>Requests must be in writing.</li><li>Requests must come from an authorized official.</li></ul>"""
_ZOOM_PAUSE = _ZOOM_BASE + """
<h2>Hong Kong</h2><p>We have paused processing any data requests from, and related to, Hong Kong SAR.</p>"""
_ZOOM_LIFT = _ZOOM_BASE + """
<h2>Hong Kong</h2><p>Our review is complete: we have resumed processing data requests from Hong Kong SAR
under the process described above.</p>"""

_REPORT_BASE = """<h2>Law enforcement requests, January to June</h2>
<table><tr><th>Country</th><th>Requests</th><th>Disclosed</th></tr>
<tr><td>Germany</td><td>1,204</td><td>61%</td></tr><tr><td>Russia</td><td>88</td><td>0%</td></tr></table>
<p>We publish this report twice a year.</p>"""
_REPORT_PAUSE = _REPORT_BASE + """
<p>Effective immediately, Example Cloud has suspended responses to law enforcement requests for user
data from the Russian Federation and Belarus.</p>"""

_PRIVACY = """<h2>Your data</h2><p>We collect the information you give us.</p>
<p>We paused our advertising sales in Hong Kong last year.</p>"""

# (zoom body, report body, privacy body, what the round shows)
_ROUNDS = [
    (_ZOOM_BASE, _REPORT_BASE, _PRIVACY, "first look: baselines are recorded, no events"),
    (_ZOOM_BASE, _REPORT_BASE, _PRIVACY, "only scripts, build ids and the 'Last updated' line change: no events"),
    (_ZOOM_PAUSE, _REPORT_BASE, _PRIVACY, "Zoom's page now says it paused Hong Kong data requests"),
    (_ZOOM_PAUSE, _REPORT_PAUSE, _PRIVACY, "the cloud report adds a pause for Russia and Belarus"),
    (_ZOOM_LIFT, _REPORT_PAUSE, _PRIVACY, "Zoom says the Hong Kong pause is over"),
]


def _config_text(server: PageServer, database: Path) -> str:
    pages = [
        ("demo-zoom-government-requests", "Zoom", "/zoom/government-requests"),
        ("demo-example-cloud-transparency", "Example Cloud", "/example-cloud/transparency"),
        ("demo-example-privacy", "Example Social", "/example-social/privacy"),
    ]
    out = [
        "[monitor]",
        f'database = "sqlite:///{database}"',
        'allow_private_addresses = ["127.0.0.0/8"]',
        "retries = 0",
        'confirm_delay = "0s"',
    ]
    for page_id, company, path in pages:
        out += ["", "[[pages]]", f'id = "{page_id}"', f'company = "{company}"', f'url = "{server.url(path)}"',
                'select = ["main"]', 'remove = [".cookie-banner"]', "ignore = ['^Last updated: .*$']"]
    return "\n".join(out) + "\n"


def _serve_round(server: PageServer, index: int) -> None:
    zoom, report, privacy = _ROUNDS[index][:3]
    stamp = f"2026-11-{index + 1:02d}"
    for path, title, company, body in (
        ("/zoom/government-requests", "Government Requests Guide", "Zoom", zoom),
        ("/example-cloud/transparency", "Transparency Report", "Example Cloud", report),
        ("/example-social/privacy", "Privacy Policy", "Example Social", privacy),
    ):
        html = _PAGE.format(title=title, build=f"b{index}-{hash(path) % 997}", updated=stamp, body=body,
                            company=company)
        server.set(path, html)


def run_demo(keep: str | None = None, rounds: int = 4) -> int:
    import logging

    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("monitor.check").setLevel(logging.ERROR)  # the demo prints the events itself
    rounds = max(1, min(rounds + 1, len(_ROUNDS)))
    with tempfile.TemporaryDirectory(prefix="policy-monitor-demo-") as tmp:
        workdir = Path(keep).resolve() if keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with PageServer() as server:
            config_path = workdir / "demo.toml"
            config_path.write_text(_config_text(server, workdir / "demo.db"))
            rt = Runtime.open(load_config(config_path))
            total = 0
            try:
                for index in range(rounds):
                    _serve_round(server, index)
                    print(f"\n== round {index}: {_ROUNDS[index][3]}")
                    for page in rt.config.pages:
                        outcome = check_page(rt, page)
                        detail = f" ({outcome.error})" if outcome.error else ""
                        print(f"   {page.id}: {outcome.status}{detail}")
                    new_events = [e for e in rt.store.events() if e.id and e.id > total]
                    for event in new_events:
                        print("   " + event_line(event).replace("\n", "\n   "))
                    total = max([total, *[e.id or 0 for e in new_events]])
            finally:
                rt.close()
        print(f"\n{total} events recorded in {workdir / 'demo.db' if keep else 'a throwaway database'}.")
        if keep:
            print(f"Explore: policy-monitor events --config {config_path}")
    return 0
