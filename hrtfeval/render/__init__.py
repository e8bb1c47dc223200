"""Render score documents as a rich table, JSON, CSV, Markdown or JUnit XML. Pure: document in,
text out.

Every format is made from the same document (:mod:`hrtfeval.results`), so a table and the JSON
written from one run always hold the same numbers (the table rounds to 6 significant digits; JSON
keeps full float precision). Modules: :mod:`.common` (numbers, names, Markdown, plain text),
:mod:`.pair` (a single pair), :mod:`.batch` and :mod:`.stream` (batch documents, JSON lines,
progress), :mod:`.compare`, :mod:`.analyses` (bands, regions), :mod:`.junit`.
"""

from __future__ import annotations

from .common import (
    LOW_MATCHED_FRACTION,
    WARNING_STYLE,
    csv_value,
    fmt,
    low_coverage,
    markdown_lines,
    markdown_table,
    matched_fraction,
    printable,
    table_to_text,
    to_json,
    verdict,
)
from .pair import (
    pair_csv,
    pair_header_lines,
    pair_markdown,
    pair_table,
    render_text,
    replaced_thresholds,
)

__all__ = [
    "csv_value",
    "fmt",
    "low_coverage",
    "LOW_MATCHED_FRACTION",
    "markdown_lines",
    "markdown_table",
    "matched_fraction",
    "pair_csv",
    "pair_header_lines",
    "pair_markdown",
    "pair_table",
    "printable",
    "render_text",
    "replaced_thresholds",
    "table_to_text",
    "to_json",
    "verdict",
    "WARNING_STYLE",
]
