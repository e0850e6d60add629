"""The extract stage: a fetched body -> normalized text (pure; the same input, the same text).

Normalized text is one block per line (heading, paragraph, list item, table row with cells
joined by " | "), Unicode NFKC, whitespace collapsed, invisible things dropped. Everything a
reader cannot see (scripts, styles, comments, attributes, hidden inputs, head, whitespace
reflow) disappears here, which is what makes "no change" mean "no change a person can see".
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin

from lxml import etree
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector

# Bump when the extraction logic changes, so stored snapshots are not taken as comparable.
EXTRACTOR_VERSION = "1"

DROP_TAGS = (
    "head", "script", "style", "noscript", "template", "nav", "svg", "canvas", "iframe",
    "object", "embed", "audio", "video", "map", "dialog",
)
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", "option", "menu",
})
_CELL = "\x1f"
_BREAK = "\x1e"  # a block boundary; newlines inside text are just whitespace
# Zero-width and formatting characters that never show but often churn between builds.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


class ExtractError(Exception):
    """The body cannot be turned into text; the message names the problem."""


@dataclass(frozen=True)
class Rules:
    """Per-page extraction settings."""

    select: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    type: str = "auto"
    links: str = "none"  # "documents": document links become lines of the text (monitor.documents)
    documents: tuple[str, ...] = ()  # URL patterns of links that are documents too (`follow`)

    @classmethod
    def of(cls, page: object) -> Rules:
        return cls(
            select=tuple(getattr(page, "select", ()) or ()),
            remove=tuple(getattr(page, "remove", ()) or ()),
            ignore=tuple(getattr(page, "ignore", ()) or ()),
            type=getattr(page, "type", "auto") or "auto",
            links=getattr(page, "links", "none") or "none",
            documents=tuple(getattr(page, "follow_patterns", ()) or ()),
        )

    def signature(self) -> str:
        """Identifies the text these rules produce from a given body."""
        parts: list[object] = [EXTRACTOR_VERSION, self.type, self.select, self.remove, self.ignore]
        if self.links != "none":  # only then: the signatures of every other page stay as they were
            parts += [self.links, self.documents]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@lru_cache(maxsize=512)
def _selector(css: str) -> CSSSelector:
    return CSSSelector(css)


@lru_cache(maxsize=512)
def _ignore_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def detect_type(body: bytes, content_type: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    head = body[:1024].lstrip()
    if content_type == "application/pdf" or head.startswith(b"%PDF-"):
        return "pdf"
    if content_type in ("text/plain", "text/markdown"):
        return "text"
    return "html"



def normalize_text(raw: str, ignore: tuple[str, ...] = ()) -> str:
    """Blocks separated by _BREAK (cells by _CELL) -> normalized lines.

    NFKC and invisible characters are handled on the whole text at once; per-character
    Python or regex work is what makes extraction slow on big pages.
    """
    text = unicodedata.normalize("NFKC", raw).translate(_INVISIBLE)
    regex = _ignore_regex(ignore)
    out: list[str] = []
    # str.split() collapses every kind of Unicode whitespace in C; it also treats our
    # \x1e/\x1f markers as whitespace, so lines and cells are split off first.
    for block in text.split(_BREAK):
        if _CELL in block:
            line = " | ".join(cell for cell in (" ".join(c.split()) for c in block.split(_CELL)) if cell)
        else:
            line = " ".join(block.split())
        if line and not (regex and regex.search(line)):
            out.append(line)
    return "\n".join(out)


def normalize_lines(lines: Sequence[str], ignore: tuple[str, ...] = ()) -> str:
    return normalize_text(_BREAK.join(lines), ignore)


def decode(body: bytes, charset: str | None) -> str:
    """Header charset, then BOM, then <meta charset>, then UTF-8, then Windows-1252."""
    candidates: list[str] = []
    if body.startswith(b"\xef\xbb\xbf"):
        candidates.append("utf-8-sig")
    elif body.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates.append("utf-16")
    if charset:
        candidates.append(charset)
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "replace"))
    for encoding in candidates:
        try:
            return body.decode(_canonical_encoding(encoding))
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _canonical_encoding(name: str) -> str:
    # WHATWG: pages labelled latin-1/ascii are really decoded as windows-1252.
    return "cp1252" if name.lower() in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii") else name


_UNREADABLE = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")


def _check_textual(text: str) -> None:
    sample = text[:20000]
    bad = len(_UNREADABLE.findall(sample))
    if bad > len(sample) * 0.1:
        raise ExtractError(f"body looks binary, not text ({bad} of {len(sample)} characters unreadable)")


def html_text(root: etree._Element) -> str:
    """Text of an element with block boundaries marked; iterwalk keeps deep trees off the C stack."""
    parts: list[str] = []
    append = parts.append
    blocks = BLOCK_TAGS
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag
        if not isinstance(tag, str):
            continue
        if event == "start":
            if tag in blocks or tag == "br":
                append(_BREAK)
            elif tag in ("td", "th"):
                append(_CELL)
            elif tag == "img" and element.get("alt"):
                append(f" {element.get('alt')} ")
            if element.text:
                append(element.text.replace("\n", _BREAK if tag == "pre" else " "))
        else:
            if tag in blocks:
                append(_BREAK)
            if element.tail and element is not root:
                append(element.tail.replace("\n", " "))
    return "".join(parts)


def _parse_html(text: str) -> etree._Element:
    text = _XML_DECL.sub("", text, count=1).replace("\x00", "")
    parser = lxml_html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, huge_tree=True)
    try:
        root = lxml_html.document_fromstring(text or "<html></html>", parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractError(f"HTML could not be parsed: {exc}") from None
    # libxml2 silently drops content nested deeper than its limit; losing text without a
    # word would make a later, saner version look like a big change.
    for entry in parser.error_log:
        if "Excessive depth" in entry.message:
            raise ExtractError("HTML nests elements too deeply to extract reliably (libxml2 depth limit)")
    return root


def extract_html(body: bytes, charset: str | None, rules: Rules, url: str = "") -> str:
    text = decode(body, charset)
    _check_textual(text)
    root = _parse_html(text)
    base = _base_url(root, url) if rules.links == "documents" else url
    etree.strip_elements(root, *DROP_TAGS, with_tail=False)
    for element in root.xpath("//input[@type='hidden' or @type='HIDDEN'] | //*[@hidden] | //*[@aria-hidden='true']"):
        _drop(element)
    for css in rules.remove:
        for element in _selector(css)(root):
            _drop(element)
    if rules.select:
        chosen: list[etree._Element] = []
        for css in rules.select:
            matched = _selector(css)(root)
            if not matched:
                raise ExtractError(f"select {css!r} matched nothing on the page")
            chosen.extend(matched)
        # Document order, and never the same element twice (nested matches).
        if len(rules.select) > 1:
            positions = {el: index for index, el in enumerate(root.iter())}
            chosen = sorted(set(chosen), key=positions.__getitem__)
        members = set(chosen)
        kept = [el for el in chosen if not any(anc in members for anc in el.iterancestors())]
    else:
        kept = [root]
    raw = _BREAK.join(html_text(element) for element in kept)
    if rules.links == "documents":
        from monitor.documents import document_lines

        raw += _BREAK + _BREAK.join(document_lines(kept, base, rules.documents))
    return normalize_text(raw, rules.ignore)


def _base_url(root: etree._Element, url: str) -> str:
    """What relative links resolve against: the page's own URL, or its <base href>."""
    for base in root.iter("base"):
        href = base.get("href")
        if href:
            try:
                return urljoin(url, href.strip())
            except ValueError:  # a malformed <base>: links resolve against the page as if it were absent
                return url
    return url


def _drop(element: etree._Element) -> None:
    """Remove an element but keep its tail text, which belongs to the parent."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    previous = element.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def extract_pdf(body: bytes, rules: Rules) -> str:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not body.lstrip()[:1024].startswith(b"%PDF-"):
        raise ExtractError("not a PDF: the body does not start with %PDF-")
    try:
        reader = PdfReader(io.BytesIO(body), strict=False)
        lines: list[str] = []
        for page in reader.pages:
            lines.extend((page.extract_text() or "").splitlines())
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AssertionError, RecursionError) as exc:
        raise ExtractError(f"PDF could not be read: {type(exc).__name__}: {exc}") from None
    return normalize_lines(lines, rules.ignore)


def extract_text(body: bytes, charset: str | None, rules: Rules) -> str:
    text = decode(body, charset)
    _check_textual(text)
    return normalize_text(_BREAK.join(text.replace("\x00", "").splitlines()), rules.ignore)


def extract(body: bytes, *, content_type: str = "", charset: str | None = None, rules: Rules = Rules(),
            url: str = "") -> str:
    """Turn a body into normalized text; raises ExtractError with a readable reason.

    `url`: where the body came from (after redirects), for the absolute form of document links.
    """
    if not body.strip():
        raise ExtractError("empty body")
    kind = detect_type(body, content_type, rules.type)
    if kind == "pdf":
        text = extract_pdf(body, rules)
    elif kind == "text":
        text = extract_text(body, charset, rules)
    else:
        text = extract_html(body, charset, rules, url)
    if not text:
        raise ExtractError("no text left after extraction")
    return text


def extract_file(data: bytes, name: str = "") -> str:
    """Best-effort extraction of a local file for `classify` (empty allowed)."""
    if not data.strip():
        return ""
    lowered = name.lower()
    content_type = (
        "application/pdf" if lowered.endswith(".pdf")
        else "text/html" if lowered.endswith((".html", ".htm", ".xhtml"))
        else "text/plain" if lowered.endswith((".txt", ".md", ".text"))
        else ""
    )
    if not content_type:
        head = data[:2048].lstrip().lower()
        content_type = "text/html" if head.startswith((b"<!doctype html", b"<html", b"<")) else "text/plain"
    try:
        return extract(data, content_type=content_type)
    except ExtractError as exc:
        if str(exc) == "no text left after extraction":
            return ""
        raise
