"""Extraction: invisible and configured noise give the same text; real documents extract well."""

from __future__ import annotations

import pytest

from monitor.extract import ExtractError, Rules, decode, extract, extract_file
from tests.docs import corpus_available, make_pdf, markdown_to_html, ota_text

BASE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="csrf" content="abc123">
<title>Guide</title><style>p { color: red }</style><script>var t = 1;</script></head>
<body class="home"><nav><a href="/">Home</a></nav>
<div class="cookie-banner">We use cookies</div>
<main><h1 id="top" class="title">Government requests</h1>
<p>We review every request for user data.</p>
<p>Requests must be <b>in writing</b>.</p>
<ul><li>Legal process</li><li>Emergency requests</li></ul>
<table><tr><th>Country</th><th>Requests</th></tr><tr><td>Germany</td><td>1,204</td></tr></table>
<p class="updated">Last updated: 1 May 2026</p>
<input type="hidden" name="token" value="tok-1"></main></body></html>"""

NOISE_VARIANTS = {
    "script": BASE.replace("var t = 1;", "var t = 2; track('x');"),
    "style": BASE.replace("color: red", "color: blue; margin: 0"),
    "comment": BASE.replace("<main>", "<main><!-- build 4711 -->"),
    "attributes": BASE.replace('class="title"', 'class="title big" data-x="9"'),
    "reordered attributes": BASE.replace('id="top" class="title"', 'class="title" id="top"'),
    "hidden input": BASE.replace("tok-1", "tok-2"),
    "meta token": BASE.replace("abc123", "zzz999"),
    "whitespace reflow": BASE.replace("<p>We review every request for user data.</p>",
                                      "<p>We   review\n every\trequest for\n\nuser data.</p>"),
    "nbsp and zero-width": BASE.replace("every request", "every\u00a0request\u200b"),
    "noscript and template": BASE.replace("</main>", "<noscript>Enable JS</noscript><template>x</template></main>"),
    "hidden attribute": BASE.replace("</main>", '<div hidden>secret promo</div></main>'),
}


def test_normalized_text_shape() -> None:
    text = extract(BASE.encode(), content_type="text/html")
    assert text.splitlines() == [
        "We use cookies",
        "Government requests",
        "We review every request for user data.",
        "Requests must be in writing.",
        "Legal process",
        "Emergency requests",
        "Country | Requests",
        "Germany | 1,204",
        "Last updated: 1 May 2026",
    ]


@pytest.mark.parametrize("variant", sorted(NOISE_VARIANTS))
def test_invisible_noise_gives_same_text(variant: str) -> None:
    assert extract(NOISE_VARIANTS[variant].encode(), content_type="text/html") == extract(
        BASE.encode(), content_type="text/html")


def test_configured_noise_select_remove_ignore() -> None:
    rules = Rules(select=("main",), remove=(".cookie-banner",), ignore=(r"^Last updated: .*$",))
    base = extract(BASE.encode(), content_type="text/html", rules=rules)
    assert "We use cookies" not in base and "Last updated" not in base
    changed = BASE.replace("1 May 2026", "2 June 2026").replace("We use cookies", "Cookies! Accept all")
    assert extract(changed.encode(), content_type="text/html", rules=rules) == base
    real = BASE.replace("in writing", "in writing and signed")
    assert extract(real.encode(), content_type="text/html", rules=rules) != base


def test_select_keeps_document_order_and_no_duplicates() -> None:
    rules = Rules(select=("table", "h1", "main"))
    text = extract(BASE.encode(), content_type="text/html", rules=rules)
    assert text.count("Government requests") == 1
    assert text.index("Government requests") < text.index("Country | Requests")


def test_selector_matching_nothing_is_an_error() -> None:
    with pytest.raises(ExtractError, match="select '#nope' matched nothing"):
        extract(BASE.encode(), content_type="text/html", rules=Rules(select=("#nope",)))


def test_deterministic() -> None:
    results = {extract(BASE.encode(), content_type="text/html") for _ in range(5)}
    assert len(results) == 1


def test_nfkc_and_entities() -> None:
    html = "<p>ﬁle &amp; Ｆｕｌｌｗｉｄｔｈ&nbsp;text &#8212; done</p>"
    assert extract(html.encode(), content_type="text/html") == "file & Fullwidth text — done"


@pytest.mark.parametrize(("body", "charset", "expected"), [
    ("Grüße".encode(), None, "Grüße"),
    ("Grüße".encode("cp1252"), None, "Grüße"),  # not UTF-8: Windows-1252 fallback
    ("Grüße".encode("iso-8859-1"), "iso-8859-1", "Grüße"),
    ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
    ("Grüße".encode(), "no-such-charset", "Grüße"),  # unknown label: fall back, don't fail
    (b"\xef\xbb\xbfBOM", "cp1252", "BOM"),
])
def test_decoding(body: bytes, charset: str | None, expected: str) -> None:
    assert decode(body, charset) == expected


def test_meta_charset() -> None:
    body = '<html><head><meta charset="windows-1251"></head><body><p>Привет</p></body></html>'.encode("cp1251")
    assert extract(body, content_type="text/html") == "Привет"


def test_plain_text_and_pdf() -> None:
    assert extract(b"  one \r\n\r\n two  ", content_type="text/plain") == "one\ntwo"
    pdf = make_pdf(["Law Enforcement Guidelines", "We require valid legal process."])
    text = extract(pdf, content_type="application/pdf")
    assert "Law Enforcement Guidelines" in text and "We require valid legal process." in text
    with pytest.raises(ExtractError, match="not a PDF"):
        extract(b"<html>oops</html>", content_type="text/html", rules=Rules(type="pdf"))


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty body"),
    (b"   \n ", "empty body"),
    (bytes(range(256)) * 40, "binary"),
    (b"<html><body><script>only()</script></body></html>", "no text"),
])
def test_bad_bodies(body: bytes, message: str) -> None:
    with pytest.raises(ExtractError, match=message):
        extract(body, content_type="text/html")


def test_pathological_html() -> None:
    deep = "<div>" * 20000 + "deep text" + "</div>" * 20000
    with pytest.raises(ExtractError, match="nests elements too deeply"):
        extract(deep.encode(), content_type="text/html")
    fine = "<div>" * 200 + "deep text" + "</div>" * 200
    assert extract(fine.encode(), content_type="text/html") == "deep text"
    assert extract(b"<p>a\x00b</p>", content_type="text/html") == "ab"


def test_extract_file_kinds() -> None:
    assert extract_file(b"", "empty.html") == ""
    assert extract_file(b"<p>Hi</p>", "x.html") == "Hi"
    assert extract_file(b"just text", "notes.txt") == "just text"
    assert "Hello PDF" in extract_file(make_pdf(["Hello PDF"]), "x.pdf")


needs_corpus = pytest.mark.skipif(not corpus_available(), reason="tests/data/ota not found")


@needs_corpus
@pytest.mark.parametrize(("doc", "old", "new"), [
    ("x-twitter__law-enforcement-guidelines", "2025-05-19", "2025-09-23"),
    ("facebook__law-enforcement-guidelines", "2025-09-02", "2025-10-23"),
])
def test_ota_technical_upgrades_are_not_changes(doc: str, old: str, new: str) -> None:
    """OTA recorded list-marker spacing churn as versions; normalized text must not differ."""
    a, b = ota_text(f"{doc}/{old}.md"), ota_text(f"{doc}/{new}.md")
    assert a != b
    as_text = [extract(x.encode(), content_type="text/plain") for x in (a, b)]
    as_html = [extract(markdown_to_html(x, noise=n).encode(), content_type="text/html",
                       rules=Rules(select=("main",))) for x, n in ((a, "n1"), (b, "n2"))]
    assert as_html[0] == as_html[1]
    # As plain text only the list marker remains, and "*   x" collapses to "* x".
    assert as_text[0] == as_text[1]


@needs_corpus
def test_ota_html_rendering_keeps_the_words() -> None:
    text = extract(markdown_to_html(ota_text("telegram__privacy-policy/2024-09-23.md")).encode(),
                   content_type="text/html", rules=Rules(select=("main",)))
    assert "Law Enforcement Authorities" in text
    assert "quarterly transparency report" in text.lower() or "transparency report" in text.lower()
    assert "Menu" not in text  # nav is outside main
