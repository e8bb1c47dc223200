"""Shared pieces of every renderer: numbers and names for people, JSON, Markdown, plain-text
tables."""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

from ..results import Spec

#: Below this fraction of the reference directions matched (``--allow-missing``), the table
#: shows the matched fraction in a warning colour.
LOW_MATCHED_FRACTION = 0.9
WARNING_STYLE = "bold yellow"


def matched_fraction(spec: dict[str, Any] | Spec) -> float | None:
    """``spec.directions.matched_fraction`` (matched / reference directions), or None."""
    return (spec if isinstance(spec, Spec) else Spec(spec)).matched_fraction


def low_coverage(spec: dict[str, Any] | Spec) -> bool:
    """True when fewer than :data:`LOW_MATCHED_FRACTION` of the reference directions matched."""
    fraction = matched_fraction(spec)
    return fraction is not None and fraction < LOW_MATCHED_FRACTION


def fmt(value: float | None, digits: int = 6) -> str:
    """A number for people: ``digits`` significant digits, ``-`` for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def printable(text: str, keep_whitespace: bool = False) -> str:
    """``text`` safe to print on a terminal: control characters (ESC, BEL, C1 codes, ...) and
    undecodable bytes of file names are written as ``\\x1b``-style escapes.

    With ``keep_whitespace`` newlines and tabs stay (a caller joins the lines itself).
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if keep_whitespace and ch in "\n\t\r":
            out.append(ch)
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def verdict(passed: bool | None) -> str:
    return "-" if passed is None else ("pass" if passed else "FAIL")


def to_json(document: dict[str, Any]) -> str:
    """Stable, strict JSON (no NaN/Infinity tokens) with a trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def csv_value(v) -> str:
    """A cell of a CSV output: empty for None, ``true``/``false``, full-precision floats."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    lines = [
        "| " + " | ".join(esc(h) for h in head) + " |",
        "|" + "|".join("---:" if i >= 2 else "---" for i in range(len(head))) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_lines(lines: list[str]) -> str:
    """Context lines as visible Markdown (a CI job summary hides HTML comments): special
    characters escaped, one hard line break per line."""
    special = re.compile(r"([\\`*_\[\]<>#|~])")
    return "  \n".join(special.sub(r"\\\1", line) for line in lines)


def table_to_text(draw, width: int = 120) -> str:
    """Render a rich drawing function to plain text (for ``--output FILE`` with table format)."""
    from rich.console import Console

    buf = io.StringIO()
    plain: dict[str, Any] = {"no_color": True, "color_system": None, "force_terminal": False}
    draw(Console(file=buf, width=width, highlight=False, **plain))
    return buf.getvalue()


def print_verdict(console, passed: bool | None, good: str, bad: str) -> None:
    """The closing line of a table: ``good`` in green when ``passed``, ``bad`` in bold red when
    not, nothing when there was no check."""
    from rich.text import Text

    if passed is not None:
        console.print(Text(good if passed else bad, style="green" if passed else "bold red"))


def markdown_section(lines: list[str], head: list[str], rows: list[list[str]]) -> str:
    """Context lines (:func:`markdown_lines`), a blank line, then the table."""
    return markdown_lines(lines) + "\n\n" + markdown_table(head, rows)


def render_as(fmt_name: str, renderers: dict[str, Any], what: str) -> str:
    """The text of the renderer (a function of no argument) for ``fmt_name``; ``what`` names the
    document (and the formats) in the error for any other format."""
    if fmt_name not in renderers:
        raise ValueError(f"unknown format {fmt_name!r}{what}")
    return renderers[fmt_name]()
