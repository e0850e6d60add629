"""Linked documents: a page whose only change is a link to a PDF changes; followed PDFs are pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import title_for
from monitor.check import check_page
from monitor.config import ConfigError, PageConfig, parse_config
from monitor.documents import (
    MAX_EXAMINED,
    MAX_LINKS,
    absolute_url,
    document_page_id,
    document_urls,
    followed_pages,
    parent_of,
)
from monitor.extract import Rules, extract
from monitor.pageserver import PageServer
from tests.conftest import run_cli
from tests.docs import make_pdf

HK_PAUSE = "We have paused processing any data requests from, and related to, Hong Kong SAR."
REPORT = "Transparency report H1 2026"


def _page(*items: str) -> str:
    body = "".join(f"<li>{item}</li>" for item in items)
    return (f"<html><head><title>t</title></head><body><nav><a href='/nav.pdf'>Menu PDF</a></nav><main>"
            f"<h1>Transparency</h1><p>We publish a report on government requests every six months.</p>"
            f"<ul>{body}</ul></main></body></html>")


def _report_link(href: str, text: str = REPORT) -> str:
    return f'<a href="{href}">{text}</a>'


def test_a_new_link_to_a_pdf_is_a_changed_event_whose_diff_shows_the_link(
        server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]) -> None:
    # The same page twice: with `links = "documents"`, and without (where the link is invisible).
    config = write_config([
        {"id": "acme-transparency", "company": "Acme", "url": server.url("/t"), "links": "documents",
         "select": ["main"]},
        {"id": "acme-text-only", "company": "Acme", "url": server.url("/t")},
    ])
    rt = runtime_for(config)
    linked, plain = rt.config.page("acme-transparency"), rt.config.page("acme-text-only")
    server.set("/t", _page(REPORT, "Transparency report H2 2025"))
    assert check_page(rt, linked).status == check_page(rt, plain).status == "baseline"

    # The only change: the existing words become a link to the new report's PDF.
    server.set("/t", _page(_report_link("reports/h1-2026.pdf"), "Transparency report H2 2025"))
    assert check_page(rt, plain).status == "unchanged"
    outcome = check_page(rt, linked)
    assert outcome.status == "changed", outcome.error
    line = f"[document] {REPORT} <{server.url('/reports/h1-2026.pdf')}>"
    [event] = [e for e in rt.store.events(page_id=linked.id) if e.kind == "changed"]
    assert event.quote == line
    diff = run_cli("diff", linked.id, "--color", "never", "--config", str(config))
    assert diff.returncode == 0, diff.stderr
    assert f"+ {line}" in diff.stdout.splitlines()
    # The navigation's PDF is outside `select`: not part of the page's text.
    assert "nav.pdf" not in rt.store.snapshot(outcome.snapshot_id).text

    # A second link to the same target (another spelling, with a fragment): nothing new.
    server.set("/t", _page(_report_link("reports/h1-2026.pdf"),
                           _report_link("/reports/./h1-2026.pdf#page=3", "Transparency report H2 2025")))
    assert check_page(rt, linked).status == "unchanged"

    # The document moves: the diff shows the old and the new address.
    server.set("/t", _page(_report_link("https://127.0.0.1:" + str(server.port) + "/archive/h1-2026.pdf"),
                           "Transparency report H2 2025"))
    moved = check_page(rt, linked)
    assert moved.status == "changed"
    diff = run_cli("diff", linked.id, "--color", "never", "--config", str(config))
    lines = diff.stdout.splitlines()
    assert f"- {line}" in lines
    assert f"+ [document] {REPORT} <https://127.0.0.1:{server.port}/archive/h1-2026.pdf>" in lines


def test_an_auto_page_that_stays_plain_keeps_its_document_links_and_is_judged_once_per_body(
        server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` extracts the plain page to judge it; that text is the page's text, so relative links
    resolve against the page as they do for a plain page. A body judged once is not judged again."""
    import monitor.fetchmode

    judged: list[str] = []
    judge = monitor.fetchmode.shell_reason
    monkeypatch.setattr(monitor.fetchmode, "shell_reason", lambda result, *rest: judged.append(result.url)
                        or judge(result, *rest))
    config = write_config([{"id": f"acme-{mode}", "company": "Acme", "url": server.url("/t"), "links": "documents",
                            "select": ["main"], "fetch": mode} for mode in ("plain", "auto")])
    rt = runtime_for(config)
    # No validators, as most CMS pages: every check gets the whole body.
    server.set("/t", _page(_report_link("reports/h1-2026.pdf"), "Transparency report H2 2025"), etag=False)
    texts = {}
    for mode in ("plain", "auto"):
        outcome = check_page(rt, rt.config.page(f"acme-{mode}"))
        assert outcome.status == "baseline" and outcome.fetch_mode == "plain", outcome
        texts[mode] = rt.store.snapshot(outcome.snapshot_id).text
    assert f"[document] {REPORT} <{server.url('/reports/h1-2026.pdf')}>" in texts["auto"].splitlines()
    assert texts["auto"] == texts["plain"]
    assert len(judged) == 1
    assert check_page(rt, rt.config.page("acme-auto")).status == "unchanged"
    assert len(judged) == 1  # the same body: already known not to be a shell
    server.set("/t", _page(_report_link("reports/h2-2026.pdf"), "Transparency report H2 2025"), etag=False)
    assert check_page(rt, rt.config.page("acme-auto")).status == "changed"
    assert len(judged) == 2


def test_followed_pdf_is_checked_as_its_own_page_and_classified(
        server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]) -> None:
    config = write_config([{"id": "acme-transparency", "company": "Acme", "url": server.url("/t"),
                            "links": "documents", "follow": True}])
    rt = runtime_for(config)
    page = rt.config.page("acme-transparency")
    pdf_url = server.url("/reports/h1-2026.pdf")
    server.set("/reports/h1-2026.pdf", make_pdf(["Government requests", "We review every request."]),
               content_type="application/pdf")
    server.set("/t", _page(_report_link("/reports/h1-2026.pdf")))

    first = check_page(rt, page)
    assert first.status == "baseline"
    [document] = first.documents
    doc_id = document_page_id(page.id, pdf_url)
    assert (document.page_id, document.status) == (doc_id, "baseline")
    assert "We review every request." in rt.store.snapshot(document.snapshot_id).text

    # The page stays the same; its PDF now says it pauses requests from Hong Kong.
    server.set("/reports/h1-2026.pdf", make_pdf(["Government requests", "We review every request.", HK_PAUSE]),
               content_type="application/pdf")
    second = check_page(rt, page)
    assert second.status == "not_modified"  # the page answered 304; its document was still checked
    [document] = second.documents
    assert document.page_id == doc_id and document.status == "changed"
    kinds = {(e.kind, e.jurisdiction) for e in rt.store.events(page_id=doc_id)}
    assert kinds == {("changed", None), ("pause_started", "HK")}
    [pause] = rt.store.events(page_id=doc_id, kind="pause_started")
    assert (pause.company, pause.url, pause.quote) == ("Acme", pdf_url, HK_PAUSE)
    [changed] = rt.store.events(page_id=doc_id, kind="changed")
    assert title_for(changed) == "Acme document linked from its transparency changed (1 relevant sentence)"

    # The command line shows the document after its page, and `history` knows its id.
    result = run_cli("check", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["page"] for line in result.stdout.splitlines()] == [page.id, doc_id]
    history = run_cli("history", doc_id, "--config", str(config))
    assert history.returncode == 0 and history.stdout.count("\n") >= 3, history.stderr


def test_follow_is_bounded_and_keeps_the_fetch_guards(
        server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]) -> None:
    # Loopback is allowed for the page's server only: a link to a private address is refused.
    config = write_config([{"id": "acme", "company": "Acme", "url": server.url("/t"), "links": "documents",
                            "follow": ["/download/"], "follow_max": 3}],
                          allow_private_addresses=["127.0.0.1/32"])
    rt = runtime_for(config)
    links = [_report_link("http://10.255.255.1/internal.pdf", "internal")]
    links += [_report_link(f"/download/{n}", f"file {n}") for n in range(6)]
    for n in range(6):
        server.set(f"/download/{n}", f"<html><body><p>Download {n} of our law enforcement guide.</p></body></html>")
    server.set("/t", _page(*links))
    outcome = check_page(rt, rt.config.page("acme"))
    assert outcome.status == "baseline"
    assert [d.status for d in outcome.documents] == ["failed", "baseline", "baseline"]
    assert "10.255.255.1" in (outcome.documents[0].error or "")
    assert sum(server.hits.get(f"/download/{n}", 0) for n in range(6)) == 2
    text = rt.store.snapshot(outcome.snapshot_id).text
    assert len(document_urls(text)) == 7  # listed: all of them; followed: the first three


def test_document_lines_are_stable_and_bounded() -> None:
    rules = Rules(links="documents")
    base = "https://Example.org/a/b.html"
    links = "".join(f'<a href="r{n % 700}.pdf">Report {n % 700}</a>' for n in range(5000))
    text = extract(f"<html><body><p>x</p>{links}</body></html>".encode(), rules=rules, url=base)
    urls = document_urls(text)
    assert len(urls) == MAX_LINKS and urls[0] == "https://example.org/a/r0.pdf"
    assert text.splitlines()[-1] == (f"[documents] 200 more links not examined (at most {MAX_LINKS} documents and "
                                     f"{MAX_EXAMINED} links a page)")
    # The same links in another markup: the same lines.
    again = extract(f"<html><body><div><p>x</p></div><section>{links}</section></body></html>".encode(),
                    rules=rules, url=base)
    assert document_urls(again) == urls
    assert Rules().signature() != rules.signature()


@pytest.mark.parametrize(("href", "expected"), [
    ("report.pdf", "https://example.org/a/report.pdf"),
    ("  /x y.pdf?q=a b#p2 ", "https://example.org/x%20y.pdf?q=a%20b"),
    ("HTTPS://User:Secret@Example.ORG:443/r.pdf", "https://example.org/r.pdf"),
    ("http://example.org:8080/r.pdf", "http://example.org:8080/r.pdf"),
    ("//bücher.example/r.pdf", "https://xn--bcher-kva.example/r.pdf"),
    ("/r\n.pdf", "https://example.org/r.pdf"),
    ("<script>.pdf", "https://example.org/a/%3Cscript%3E.pdf"),
    ("mailto:a@example.org", None),
    ("javascript:alert(1)//.pdf", None),
    ("http://[::1:80/r.pdf", None),
    ("/" + "a" * 3000 + ".pdf", None),
])
def test_absolute_url(href: str, expected: str | None) -> None:
    assert absolute_url("https://example.org/a/b.html", href) == expected


def test_derived_ids_and_followed_pages() -> None:
    parent = "p" * 100
    page = PageConfig(id=parent, company="C", url="https://example.org/", links="documents", follow=True,
                      follow_max=2)
    text = "x\n[document] A <https://example.org/a.pdf>\n[document] <https://example.org/b.pdf>\n" \
           "[document] C <https://example.org/c.pdf>"
    pages = followed_pages(page, document_urls(text))
    assert [p.url for p in pages] == ["https://example.org/a.pdf", "https://example.org/b.pdf"]
    assert [p.id for p in pages] == [document_page_id(parent, p.url) for p in pages]
    assert all(len(p.id) <= 100 and p.company == "C" and not p.follows for p in pages)
    assert len({p.id for p in pages}) == 2
    assert parent_of(pages[0].id, ["other", parent]) == parent and parent_of(parent, [parent]) is None
    assert followed_pages(page.model_copy(update={"follow": False}), document_urls(text)) == []


@pytest.mark.parametrize(("keys", "problem"), [
    ({"follow": True}, "key 'follow': needs links = \"documents\""),
    ({"links": "documents", "follow": ["("]}, "key 'follow': invalid regex"),
    ({"links": "documents", "follow": ""}, "key 'follow': an empty pattern would match every link"),
    ({"links": "pdf"}, "key 'links'"),
    ({"links": "documents", "follow_max": 1000}, "key 'follow_max'"),
    ({"id": "a.doc-0123456789ab"}, "reserved for followed documents"),
])
def test_config_errors(keys: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"pages": [{"id": "a", "company": "A", "url": "https://example.org/", **keys}]})
    assert any(problem in line and line.startswith("page 'a") for line in caught.value.problems), caught.value


def test_the_daemon_checks_documents_after_giving_back_the_page_hosts_turn(
        server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]) -> None:
    """A document on another host is fetched while the page's host is free for other checks:
    holding one host's turn while waiting for another's could stall two checks on each other."""
    from http.server import BaseHTTPRequestHandler

    from monitor.coordinate import check_claimed

    with PageServer(host="127.0.0.2") as other:
        config = write_config([{"id": "acme", "company": "Acme", "url": server.url("/t"), "links": "documents",
                                "follow": True}])
        rt = runtime_for(config)
        page_host_free: list[bool] = []

        def serve_pdf(handler: BaseHTTPRequestHandler) -> None:
            lock = rt.fetcher._host_locks["127.0.0.1"]
            free = lock.acquire(blocking=False)
            if free:
                lock.release()
            page_host_free.append(free)
            body = make_pdf(["We review every request."])
            handler.send_response(200)
            handler.send_header("Content-Type", "application/pdf")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        other.set("/r.pdf", handler=serve_pdf)
        server.set("/t", _page(_report_link(f"http://127.0.0.2:{other.port}/r.pdf")))
        outcome = check_claimed(rt, rt.config.page("acme"), "worker-1")
        assert not isinstance(outcome, type(None)) and hasattr(outcome, "documents")
        assert [d.status for d in outcome.documents] == ["baseline"]  # type: ignore[union-attr]
        assert page_host_free == [True]


def test_adding_links_to_a_page_with_history_is_a_reextract_not_a_change(
        server: PageServer, write_config: Callable[..., Path], runtime_for: Callable[[Path], Any]) -> None:
    page = {"id": "acme", "company": "Acme", "url": server.url("/docs/t")}
    config = write_config([page])
    server.set("/docs/t", _page(_report_link("h1-2026.pdf")), etag=False)  # a 200 every time: compared
    assert check_page(runtime_for(config), runtime_for(config).config.page("acme")).status == "baseline"
    write_config([{**page, "links": "documents"}])
    result = run_cli("reextract", "acme", "--config", str(config))
    assert result.returncode == 0 and "new baseline snapshot" in result.stdout, result.stdout + result.stderr
    rt = runtime_for(config)
    assert check_page(rt, rt.config.page("acme")).status == "unchanged"
    assert [e.kind for e in rt.store.events()] == []
    line = f"[document] {REPORT} <{server.url('/docs/h1-2026.pdf')}>"  # relative to the page's address
    assert rt.store.snapshot(rt.store.page_state("acme").snapshot_id or 0).text.endswith(line)
