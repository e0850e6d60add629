"""The extract stage: a fetched body -> normalized text (pure; the same input, the same text).

Normalized text is one block per line (heading, paragraph, list item, table row with cells
joined by " | "), Unicode NFKC, whitespace collapsed, invisible things dropped. Everything a
reader cannot see (scripts, styles, comments, attributes, hidden inputs, head, whitespace
reflow) disappears here, which is what makes "no change" mean "no change a person can see".
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin

import re2
from lxml import etree
from lxml import html as lxml_html

from monitor.budget import UNLIMITED, Budget
from monitor.errors import ExtractError
from monitor.regex import union
from monitor.select import Selector

# Bump when the extraction logic changes, so stored snapshots are not taken as comparable.
# 2: control characters stripped, combining-mark runs capped, `ignore` patterns run by RE2.
EXTRACTOR_VERSION = "2"

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
# Control characters (C0, DEL, C1) a page has no business sending and a terminal would obey;
# tab, newline, CR and form feed are kept as the whitespace HTML takes them for. Stripped from
# the page's text before our block markers (two of them) go in.
_CONTROLS = dict.fromkeys((c for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in "\t\n\r\f"), None)
# Zero-width and formatting characters that never show but often churn between builds, any
# control character left, and lone surrogates, which no encoder can write.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_INVISIBLE.update((c, None) for c in _CONTROLS if chr(c) not in (_CELL, _BREAK))
_INVISIBLE.update(dict.fromkeys(range(0xD800, 0xE000), None))
# No text stacks more than a few combining marks on one letter; a run of thousands makes
# Unicode normalization quadratic (it sorts each run). Unicode's stream-safe format allows 30.
_MARK_RUN = re2.compile(r"(\pM{30})\pM+")
# Python codecs that are no web charset and that decode in more than linear time, or not text.
_NOT_CHARSETS = frozenset({"punycode", "idna", "undefined", "unicode-escape", "raw-unicode-escape"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


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
        return _signature(self)


@lru_cache(maxsize=1024)  # a few per check, of the same few rules
def _signature(rules: Rules) -> str:
    parts: list[object] = [EXTRACTOR_VERSION, rules.type, rules.select, rules.remove, rules.ignore]
    if rules.links != "none":  # only then: the signatures of every other page stay as they were
        parts += [rules.links, rules.documents]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@lru_cache(maxsize=512)
def _selector(css: str) -> Selector:
    return Selector(css)


def detect_type(body: bytes, content_type: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    head = body[:1024].lstrip()
    if content_type == "application/pdf" or head.startswith(b"%PDF-"):
        return "pdf"
    if content_type in ("text/plain", "text/markdown"):
        return "text"
    return "html"



def normalize_text(raw: str, ignore: tuple[str, ...] = (), *, budget: Budget = UNLIMITED) -> str:
    """Blocks separated by _BREAK (cells by _CELL) -> normalized lines.

    NFKC and invisible characters are handled on the whole text at once; per-character
    Python or regex work is what makes extraction slow on big pages.
    """
    text = unicodedata.normalize("NFKC", _MARK_RUN.sub(r"\1", raw)).translate(_INVISIBLE)
    budget.check()
    regex = union(ignore)
    out: list[str] = []
    # str.split() collapses every kind of Unicode whitespace in C; it also treats our
    # \x1e/\x1f markers as whitespace, so lines and cells are split off first.
    for block in text.split(_BREAK):
        budget.tick()
        if _CELL in block:
            line = " | ".join(cell for cell in (" ".join(c.split()) for c in block.split(_CELL)) if cell)
        else:
            line = " ".join(block.split())
        if line and not (regex and regex.search(line)):
            out.append(line)
    return "\n".join(out)


def normalize_lines(lines: Sequence[str], ignore: tuple[str, ...] = (), *, budget: Budget = UNLIMITED) -> str:
    return normalize_text(_BREAK.join(lines), ignore, budget=budget)


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
        codec = _charset(encoding)
        if codec is None:
            continue
        try:
            return body.decode(codec)
        except UnicodeError:  # not only UnicodeDecodeError: e.g. "undefined" raises its base class
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _charset(label: str) -> str | None:
    """The Python codec for a charset label a server or page gave, or None to ignore the label."""
    # WHATWG: pages labelled latin-1/ascii are really decoded as windows-1252.
    if label.lower() in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
        return "cp1252"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # unknown, or a label with a NUL in it
        return None
    if info.name in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


_UNREADABLE = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")


def _check_textual(text: str) -> None:
    sample = text[:20000]
    bad = len(_UNREADABLE.findall(sample))
    if bad > len(sample) * 0.1:
        raise ExtractError(f"body looks binary, not text ({bad} of {len(sample)} characters unreadable)")


def html_text(root: etree._Element, *, budget: Budget = UNLIMITED) -> str:
    """Text of an element with block boundaries marked; iterwalk keeps deep trees off the C stack."""
    parts: list[str] = []
    append = parts.append
    blocks = BLOCK_TAGS
    tick = budget.tick
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tick()
        tag = element.tag
        if not isinstance(tag, str):
            continue
        if event == "start":
            if tag in blocks or tag == "br":
                append(_BREAK)
            elif tag in ("td", "th"):
                append(_CELL)
            elif tag == "img" and element.get("alt"):
                append(f" {element.get('alt').translate(_CONTROLS)} ")
            if element.text:
                append(element.text.translate(_CONTROLS).replace("\n", _BREAK if tag == "pre" else " "))
        else:
            if tag in blocks:
                append(_BREAK)
            if element.tail and element is not root:
                append(element.tail.translate(_CONTROLS).replace("\n", " "))
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


def extract_html(body: bytes, charset: str | None, rules: Rules, budget: Budget = UNLIMITED, url: str = "") -> str:
    text = decode(body, charset)
    _check_textual(text)
    root = _parse_html(text)
    budget.check()
    base = _base_url(root, url) if rules.links == "documents" else url
    etree.strip_elements(root, *DROP_TAGS, with_tail=False)
    for element in root.xpath("//input[@type='hidden' or @type='HIDDEN'] | //*[@hidden] | //*[@aria-hidden='true']"):
        _drop(element)
    for css in rules.remove:
        budget.check()
        for element in _selector(css)(root, budget):
            budget.tick()
            _drop(element)
    if rules.select:
        chosen: set[etree._Element] = set()
        for css in rules.select:
            budget.check()
            matched = _selector(css)(root, budget)
            if not matched:
                raise ExtractError(f"select {css!r} matched nothing on the page")
            chosen.update(matched)
        kept = _outermost(root, chosen, budget)
    else:
        kept = [root]
    raw = _BREAK.join(html_text(element, budget=budget) for element in kept)
    if rules.links == "documents":
        from monitor.documents import document_lines

        raw += _BREAK + _BREAK.join(document_lines(kept, base, rules.documents, budget))
    return normalize_text(raw, rules.ignore, budget=budget)


def _outermost(root: etree._Element, chosen: set[etree._Element], budget: Budget) -> list[etree._Element]:
    """The chosen elements not inside another chosen one, in document order: one walk of the
    tree (asking each match for its ancestors would cost matches x depth)."""
    if len(chosen) == 1:  # the common `select` of one element: nothing to be inside of
        return list(chosen)
    kept: list[etree._Element] = []
    inside = 0  # how many chosen elements the walk is in
    for event, element in etree.iterwalk(root, events=("start", "end")):
        budget.tick()
        if element in chosen:
            if event == "start":
                if not inside:
                    kept.append(element)
                inside += 1
            else:
                inside -= 1
    return kept


def noscript_text(body: bytes, charset: str | None) -> str:
    """The text of the page's <noscript> elements (which `extract` drops): what it shows a
    reader without JavaScript, such as "please enable JavaScript"."""
    root = _parse_html(decode(body, charset))
    return normalize_lines([html_text(element) for element in root.iter("noscript")])


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


# What a policy document needs, far short of what a small hostile PDF can make pypdf do.
PDF_MAX_PAGES = 2_000
PDF_MAX_CHARS = 5_000_000
# pypdf parses a page's whole content stream before its text is extracted, and no checkpoint
# can interrupt that: at most this many operands and operators per stream (about 2 s here).
_PDF_STREAM_PARSE_MAX = 500_000


def extract_pdf(body: bytes, rules: Rules, budget: Budget = UNLIMITED) -> str:
    import logging

    from pypdf import PdfReader, apply_configuration

    from monitor.budget import WorkBudgetExceeded

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not body.lstrip()[:1024].startswith(b"%PDF-"):
        raise ExtractError("not a PDF: the body does not start with %PDF-")

    def checkpoint(*_: object) -> None:  # called by pypdf before every content-stream operator
        budget.tick()

    lines: list[str] = []
    chars = 0
    try:
        with apply_configuration(stream_parsing_work_maximum_count=_PDF_STREAM_PARSE_MAX,
                                 page_tree_maximum_page_entries=10 * PDF_MAX_PAGES):
            reader = PdfReader(io.BytesIO(body), strict=False)
            if len(reader.pages) > PDF_MAX_PAGES:
                raise ExtractError(f"PDF has {len(reader.pages)} pages; at most {PDF_MAX_PAGES:,} are extracted")
            for page in reader.pages:
                budget.check()
                text = page.extract_text(visitor_operand_before=checkpoint) or ""
                chars += len(text)
                if chars > PDF_MAX_CHARS:
                    raise ExtractError(f"PDF text longer than {PDF_MAX_CHARS:,} characters")
                lines.extend(text.translate(_CONTROLS).splitlines())
    except (ExtractError, WorkBudgetExceeded):
        raise
    except Exception as exc:  # pypdf parses hostile input: whatever it raises, the PDF is unreadable
        raise ExtractError(f"PDF could not be read: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") \
            from None
    return normalize_lines(lines, rules.ignore, budget=budget)


def extract_text(body: bytes, charset: str | None, rules: Rules, budget: Budget = UNLIMITED) -> str:
    text = decode(body, charset)
    _check_textual(text)
    return normalize_text(_BREAK.join(text.translate(_CONTROLS).splitlines()), rules.ignore, budget=budget)


def extract(body: bytes, *, content_type: str = "", charset: str | None = None, rules: Rules = Rules(),
            budget: Budget = UNLIMITED, url: str = "") -> str:
    """Turn a body into normalized text; raises ExtractError with a readable reason (and
    WorkBudgetExceeded past the budget).

    `url`: where the body came from (after redirects), for the absolute form of document links.
    """
    if not body.strip():
        raise ExtractError("empty body")
    kind = detect_type(body, content_type, rules.type)
    if kind == "pdf":
        text = extract_pdf(body, rules, budget)
    elif kind == "text":
        text = extract_text(body, charset, rules, budget)
    else:
        text = extract_html(body, charset, rules, budget, url)
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
