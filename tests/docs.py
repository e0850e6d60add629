"""Test documents: real OTA versions rendered as HTML pages, and a minimal real PDF."""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests.conftest import DATA

OTA = DATA / "ota"
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def ota_text(name: str) -> str:
    return (OTA / name).read_text(encoding="utf-8")


def markdown_to_html(markdown: str, noise: str = "") -> str:
    """Enough Markdown for OTA versions: headings, list items, paragraphs, links, bold."""
    out = ["<!doctype html><html><head><title>t</title>", f"<script>var token='{noise}';</script></head><body>",
           f'<nav>Menu {noise}</nav><main id="content">']
    in_list = False
    for line in markdown.splitlines():
        stripped = line.strip()
        text = html.escape(_LINK.sub(r"\1", stripped)).replace("**", "")
        item = re.match(r"^[*-]\s+(.*)$", text)
        if item and not in_list:
            out.append("<ul>")
            in_list = True
        if not item and in_list:
            out.append("</ul>")
            in_list = False
        if not stripped:
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", text)
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{heading.group(2)}</h{level}>")
        elif item:
            out.append(f"<li>{item.group(1)}</li>")
        else:
            out.append(f"<p>{text}</p>")
    if in_list:
        out.append("</ul>")
    out.append(f"</main><!-- build {noise} --></body></html>")
    return "\n".join(out)


def make_pdf(lines: list[str]) -> bytes:
    """A small valid PDF (one page, Helvetica) showing `lines`, with a correct xref table."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 72 740 Td 14 TL " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def corpus_available() -> bool:
    return Path(OTA).is_dir()
