"""Linked documents: the links a page makes to documents, as lines of its text, and as pages.

A transparency page often changes only where it links: the new half-year's PDF report, a
guideline moved to a new address. Extraction keeps text only, so with `links = "documents"`
the extract stage appends one line per distinct document link of the (selected) content, in
document order:

    [document] Transparency report H1 2026 <https://example.com/reports/h1-2026.pdf>

A new, removed or re-targeted document link is then an ordinary line in the diff and a
`changed` event. A link is a document when its path ends in `.pdf`, it says
`type="application/pdf"`, or its absolute URL matches one of the page's `follow` patterns.

With `follow`, each check of the page also checks its first `follow_max` document links as
pages of their own (same fetch guards, extraction, classifier and record: `check_page`),
under an id derived from the page's id and the link, so a document keeps its history for as
long as the page links to it.

Everything here is pure and bounded: at most MAX_LINKS document lines and MAX_EXAMINED
resolved links per page (more are counted in one last line), URLs longer than MAX_URL
characters are ignored (they are also what a `follow` regex runs on), link titles are cut at
MAX_TITLE characters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from lxml import etree

from monitor.budget import UNLIMITED, Budget
from monitor.config import PageConfig
from monitor.regex import union

LINE_PREFIX = "[document]"
MAX_LINKS = 500  # document lines a page
MAX_EXAMINED = 10_000  # distinct links resolved a page (a URL costs ~20 µs in urllib)
MAX_URL = 2000
MAX_TITLE = 200
# What a browser drops from an href before resolving it (WHATWG URL: tab and newlines).
_URL_NOISE = re.compile(r"[\t\n\r]")
# Characters kept as they are in a path or query; everything else is percent-encoded, so a
# document URL is plain ASCII without spaces or angle brackets, whatever the page wrote.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_LINE = re.compile(r"^\[document\] (?:.* )?<(https?://[^\s<>]+)>$", re.M)


def absolute_url(base: str, href: str) -> str | None:
    """The stable absolute form of a link: http(s), lower-case host, no credentials, no
    fragment, percent-encoded; None for anything else (mailto:, javascript:, unresolvable)."""
    href = _URL_NOISE.sub("", href).strip()
    if not href or len(href) > MAX_URL:
        return None
    try:
        parts = urlsplit(urljoin(base, href))
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed port or IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    url = urlunsplit((scheme, host, quote(parts.path or "/", safe=_PATH_SAFE),
                      quote(parts.query, safe=_QUERY_SAFE), ""))
    return url if len(url) <= MAX_URL else None


def is_document(url: str, declared_type: str = "", patterns: tuple[str, ...] = ()) -> bool:
    if urlsplit(url).path.lower().endswith(".pdf") or declared_type.strip().lower().startswith("application/pdf"):
        return True
    regex = union(patterns)  # RE2: linear in the URL, whatever the pattern
    return bool(regex and regex.search(url))


def _title(link: etree._Element) -> str:
    title = " ".join("".join(link.itertext()).split())
    if not title:
        image = next(link.iter("img"), None)
        title = " ".join((link.get("title") or link.get("aria-label") or
                          (image.get("alt") if image is not None else "") or "").split())
    return title if len(title) <= MAX_TITLE else title[:MAX_TITLE - 1] + "…"


def document_lines(elements: Iterable[etree._Element], base: str, patterns: tuple[str, ...] = (),
                   budget: Budget = UNLIMITED) -> list[str]:
    """One `[document] title <url>` line per distinct document link, in document order."""
    lines: list[str] = []
    seen: set[str] = set()
    resolved: dict[str, str | None] = {}  # href -> absolute URL: pages repeat their links
    beyond: set[str] = set()  # past the cap, only counted (by href): no more URL work
    for element in elements:
        for link in element.iter("a", "area"):
            budget.tick()
            href = link.get("href")
            declared = link.get("type") or ""
            # Resolving a URL is the costly part; without patterns only a .pdf link can be a document.
            if not href or not (patterns or ".pdf" in href.lower() or "pdf" in declared.lower()):
                continue
            if len(lines) >= MAX_LINKS or (href not in resolved and len(resolved) >= MAX_EXAMINED):
                beyond.add(href)
                continue
            if href not in resolved:
                resolved[href] = absolute_url(base, href)
            url = resolved[href]
            if url is None or url in seen or not is_document(url, declared, patterns):
                continue
            seen.add(url)
            title = _title(link)
            lines.append(f"{LINE_PREFIX} {title} <{url}>" if title else f"{LINE_PREFIX} <{url}>")
    beyond.difference_update(resolved)
    if beyond:
        lines.append(f"[documents] {len(beyond)} more links not examined (at most {MAX_LINKS} documents "
                     f"and {MAX_EXAMINED} links a page)")
    return lines


def document_urls(text: str) -> list[str]:
    """The document links recorded in a normalized text, in their order."""
    if LINE_PREFIX not in text:
        return []
    return _LINE.findall(text)


def document_page_id(parent_id: str, url: str) -> str:
    """A stable page id for a document followed from `parent_id` (config ids cannot take this form)."""
    digest = hashlib.sha256(f"{parent_id}\n{url}".encode()).hexdigest()[:12]
    return f"{parent_id[:82]}.doc-{digest}"


def parent_of(page_id: str, parents: Iterable[str]) -> str | None:
    """Which of `parents` a followed document's page id was derived from (None: not a document)."""
    head, sep, _ = page_id.rpartition(".doc-")
    if not sep:
        return None
    return next((parent for parent in parents if parent[:82] == head), None)


def followed_pages(page: PageConfig, urls: Sequence[str]) -> list[PageConfig]:
    """The pages a check of `page` goes on to check: the first `follow_max` of its text's document
    links (`document_urls`)."""
    if not page.follows:
        return []
    return [
        PageConfig(id=document_page_id(page.id, url), company=page.company, url=url, interval=page.interval,
                   jitter=page.jitter, confirm=page.confirm, confirm_shrink=page.confirm_shrink,
                   work_budget=page.work_budget)
        for url in urls[:page.follow_max]
    ]
