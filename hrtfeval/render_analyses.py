"""Render the optional analysis blocks of a pair document (``bands``, ``regions``): extra
rich tables and Markdown tables below the main one. Pure: document in, text/console out."""

from __future__ import annotations

from typing import Any

from .render import fmt, markdown_table


def _hz(value: float) -> str:
    """Hz without an exponent: whole Hz from 100 Hz up, 3 significant digits below."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def band_rows(block: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    metrics = block["metrics"]
    head = ["Centre Hz", "Edges Hz", "Bins"]
    for m in metrics:
        head += [f"{m} L", f"{m} R", m]
    rows = []
    for b in block["bands"]:
        row = [_hz(b["centre_hz"]), f"{_hz(b['lower_hz'])}-{_hz(b['upper_hz'])}", str(b["bins"])]
        for m in metrics:
            s = b["scores"][m]
            row += [fmt(s["left"], 4), fmt(s["right"], 4), fmt(s["overall"], 4)]
        rows.append(row)
    return head, rows


def region_rows(block: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    metrics = list(next(iter(block.values()))["scores"]) if block else []
    head = ["Region", "Dirs"] + metrics
    rows = []
    for name, r in block.items():
        rows.append(
            [name, str(r["directions"])]
            + [fmt(r["scores"][m]["overall"]) if m in r["scores"] else "-" for m in metrics]
        )
    return head, rows


def _notes(doc: dict[str, Any]) -> list[str]:
    out = []
    if "bands" in doc:
        out += [f"bands: {n}" for n in doc["bands"]["notes"]]
    return out


def extra_tables(doc: dict[str, Any], console) -> None:
    """Print the ``regions`` and ``bands`` blocks of a pair document as rich tables."""
    from rich.table import Table
    from rich.text import Text

    blocks = []
    if doc.get("regions"):
        blocks.append(("regions (overall values; per ear in the JSON)", region_rows(doc["regions"])))
    if doc.get("bands") and doc["bands"]["bands"]:
        blocks.append((f"{doc['bands']['kind']} bands (dB)", band_rows(doc["bands"])))
    for title, (head, rows) in blocks:
        table = Table(title=title, show_edge=True, header_style="bold", title_justify="left")
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in _notes(doc):
        console.print(Text(line, style="dim"))


def extra_markdown(doc: dict[str, Any]) -> str:
    """The ``regions`` and ``bands`` blocks as Markdown tables ('' when there are none)."""
    parts = []
    if doc.get("regions"):
        parts.append("**Regions**\n\n" + markdown_table(*region_rows(doc["regions"])))
    if doc.get("bands") and doc["bands"]["bands"]:
        parts.append(
            f"**{doc['bands']['kind']} bands (dB)**\n\n" + markdown_table(*band_rows(doc["bands"]))
        )
    parts += [f"{line}  \n" for line in _notes(doc)]
    return "\n".join(parts)
