"""Render the optional analysis blocks of a pair document (``bands``, ``regions``): extra
rich tables and Markdown tables below the main one. Pure: document in, text/console out."""

from __future__ import annotations

from typing import Any

from ..results import PairEntry, pair_entry
from .common import fmt, markdown_table, verdict


def _hz(value: float) -> str:
    """Hz without an exponent: whole Hz from 100 Hz up, 3 significant digits below."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def band_rows(block: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    metrics = block["metrics"]
    per_ear = len(metrics) == 1  # more metrics: overall values only, so the table fits 80 columns
    head = ["Centre Hz", "Edges Hz", "Bins"]
    for m in metrics:
        head += [f"{m} L", f"{m} R", m] if per_ear else [m]
    rows = []
    for b in block["bands"]:
        row = [_hz(b["centre_hz"]), f"{_hz(b['lower_hz'])}-{_hz(b['upper_hz'])}", str(b["bins"])]
        for m in metrics:
            s = b["scores"][m]
            row += (
                [fmt(s["left"], 4), fmt(s["right"], 4), fmt(s["overall"], 4)]
                if per_ear
                else [fmt(s["overall"], 4)]
            )
        rows.append(row)
    return head, rows


def region_rows(block: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    metrics: list[str] = []
    for r in block.values():
        metrics += [m for m in r["scores"] if m not in metrics]
    checked = any(
        s.get("threshold") is not None for r in block.values() for s in r["scores"].values()
    )
    head = ["Region", "Dirs"] + metrics + (["Checks"] if checked else [])
    rows = []
    for name, r in block.items():
        row = [name, str(r["directions"])] + [
            fmt(r["scores"][m]["overall"]) if m in r["scores"] else "-" for m in metrics
        ]
        if checked:
            row.append(
                ", ".join(
                    f"{m} <= {s['threshold']:g} {verdict(s['passed'])}"
                    for m, s in r["scores"].items()
                    if s.get("threshold") is not None
                )
                or "-"
            )
        rows.append(row)
    return head, rows


def _blocks(entry: PairEntry) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    """(title, (head, rows)) of the entry's ``regions`` and non-empty ``bands`` blocks."""
    blocks = []
    if entry.regions:
        blocks.append(("regions (overall values; per ear in the JSON)", region_rows(entry.regions)))
    if entry.bands and entry.bands["bands"]:
        blocks.append((f"{entry.bands['kind']} bands (dB)", band_rows(entry.bands)))
    return blocks


def _notes(entry: PairEntry) -> list[str]:
    return [f"bands: {n}" for n in entry.bands["notes"]] if entry.bands is not None else []


def extra_tables(doc: dict[str, Any] | PairEntry, console) -> None:
    """Print the ``regions`` and ``bands`` blocks of a pair document as rich tables."""
    from rich.table import Table
    from rich.text import Text

    entry = pair_entry(doc)
    for title, (head, rows) in _blocks(entry):
        table = Table(title=title, show_edge=True, header_style="bold", title_justify="left")
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in _notes(entry):
        console.print(Text(line, style="dim"))


def extra_markdown(doc: dict[str, Any] | PairEntry) -> str:
    """The ``regions`` and ``bands`` blocks as Markdown tables ('' when there are none)."""
    entry = pair_entry(doc)
    titles = {"regions (overall values; per ear in the JSON)": "Regions"}
    parts = [
        f"**{titles.get(title, title)}**\n\n" + markdown_table(*table)
        for title, table in _blocks(entry)
    ]
    parts += [f"{line}  \n" for line in _notes(entry)]
    return "\n".join(parts)


def region_aggregate_lines(block: dict[str, Any]) -> list[str]:
    """One line per region of a batch's ``region_aggregate``: mean (median, min-max) per metric."""
    lines = []
    for name, r in block.items():
        dirs = r["directions"]
        n = (
            f"{fmt(dirs['mean'], 4)}"
            if dirs["min"] == dirs["max"]
            else (f"{fmt(dirs['min'], 4)}-{fmt(dirs['max'], 4)}")
        )
        parts = [
            f"{m} mean {fmt(a['mean'], 4)} (median {fmt(a['median'], 4)}, "
            f"{fmt(a['min'], 4)}-{fmt(a['max'], 4)}) {a['unit'] or ''}".rstrip()
            for m, a in r["scores"].items()
        ]
        lines.append(f"region {name} ({n} directions): " + ("; ".join(parts) or "no direction"))
    return lines
