"""Page text made safe to print: control characters are shown, never obeyed.

Normalization strips control characters from new text, but snapshots, events and errors
recorded earlier (or reasons a server wrote into a status line) may still hold ESC, BS, CR
or C1 codes, which a terminal would take as commands (move the cursor, rewrite the line,
set the title). Everything the command line and the text log print from a page goes
through `printable`; JSON output through `json_line`.
"""

from __future__ import annotations

import json
from typing import Any

# C0 (but newline and tab), DEL and C1.
_CONTROLS = [c for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in "\n\t"]
_SHOWN = {c: f"\\x{c:02x}" for c in _CONTROLS}
# json.dumps escapes C0 itself; DEL and C1 pass through unless ensure_ascii, which would
# also escape every accented letter.
_JSON = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0))}


def printable(text: str) -> str:
    """`text` with every control character but newline and tab written as `\\xNN`."""
    return text.translate(_SHOWN)


def json_line(value: Any) -> str:
    """One line of JSON that reads the same to a parser and is inert on a terminal."""
    return json.dumps(value, ensure_ascii=False).translate(_JSON)
