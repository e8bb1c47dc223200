"""Render score rows as a rich table, JSON, CSV or Markdown. Pure: rows in, text out.

Every format is made from the same row model (:class:`hrtfeval.scoring.PairScore`), so a table
and the JSON written from one run always hold the same numbers (the table rounds to 6 significant
digits; JSON keeps full float precision).
"""

import csv
import io
from typing import Any

from ..results import reference_name, thresholds_of
from .common import (
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


def pair_header_lines(doc: dict[str, Any]) -> list[str]:
    """Short description of how a pair was scored (files, convention, rate, grid, band, ...)."""
    spec = doc["spec"]
    d = spec["directions"]
    pred, ref = spec["prediction"], spec["reference"]
    conv = (
        ref["convention"]
        if pred["convention"] == ref["convention"]
        else (f"{pred['convention']} vs {ref['convention']}")
    )
    fs = spec.get("sampling_rate")
    parts = [
        f"{conv}",
        f"{fs:g} Hz" if fs else "rate unknown",
        f"{d['matched']}/{d['reference']} directions matched"
        if d.get("matched") is not None
        else f"{d.get('prediction')} and {d['reference']} directions, each on its own grid",
    ]
    if d["missing"]:
        parts.append(
            f"{d['missing']} missing (left out): "
            f"{100 * (matched_fraction(spec) or 0.0):.3g} % matched"
        )
    lines = [
        f"prediction  {printable(doc['prediction'])}",
        f"reference   {printable(reference_name(doc))}",
        " · ".join(parts),
    ]
    how = []
    if spec.get("bins") is not None:
        lo, hi = spec["band_hz"]
        padded = spec.get("zero_padding")
        pad = f", zero-padded from {padded['from_samples']} samples" if padded else ""
        how.append(f"band {lo:g}-{hi:g} Hz ({spec['bins']} bins, n_fft {spec['n_fft']}{pad})")
    if spec.get("domain"):
        how.append(f"rmse/mae domain {spec['domain']}")
    how.append(f"reduction {spec['reduction']}")
    if spec.get("bands"):
        how.append(f"{spec['bands']} bands")
    if spec.get("weighting"):
        how.append(
            f"area-weighted (covers {spec['weighting']['covered_fraction']:.1%} of the sphere)"
        )
    if spec.get("itd_method"):
        how.append(f"ITD {spec['itd_method']}")
    if spec.get("preset"):
        how.append(f"preset {spec['preset']}")
    if spec.get("localisation"):
        from ..perceptual import spec_line

        how.append(spec_line(spec["localisation"]))
    lines.append(" · ".join(how))
    replaced = replaced_thresholds(spec)
    if replaced:
        lines.append("thresholds " + ", ".join(replaced))
    delays = [name for name in ("prediction", "reference") if spec[name]["delay_applied"]]
    if delays:
        lines.append("Data.Delay applied to the " + " and ".join(delays) + " impulse responses")
    ignored = [name for name in ("prediction", "reference") if spec[name].get("delay_ignored")]
    if ignored:
        lines.append("Data.Delay of the " + " and ".join(ignored) + " ignored (--ignore-delay)")
    lines.extend(printable(note) for note in spec.get("notes", []))
    return lines


def replaced_thresholds(spec: dict[str, Any]) -> list[str]:
    """``lsd <= 5 (--fail-above, replaces preset lap's < 7.4)`` for every preset threshold that
    ``--fail-above`` replaced."""
    out = []
    for m, t in thresholds_of(spec).items():
        old = t.replaces
        if old:
            out.append(
                f"{t.shown(m)} (--{t.source}, replaces preset {old.source}'s {old.op} "
                f"{old.limit:g})"
            )
    return out


def _has_baseline(doc: dict[str, Any]) -> bool:
    return any("baseline" in s for s in doc["scores"].values())


def _pair_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    checks = any(s["threshold"] is not None for s in doc["scores"].values())
    base = _has_baseline(doc)
    head = (
        ["Metric", "Unit", "Left", "Right", "Overall"]
        + (["Baseline", "Delta"] if base else [])
        + (["Threshold", "Result"] if checks else [])
    )
    rows = []
    for name, s in doc["scores"].items():
        row = [name, s["unit"] or "-", fmt(s["left"]), fmt(s["right"]), fmt(s["overall"])]
        if base:
            row += [fmt(s.get("baseline")), fmt(s.get("delta"))]
        if checks:
            row += [fmt(s["threshold"]), verdict(s["passed"])]
        rows.append(row)
        for lam, v in (s.get("by_lateral") or {}).items():
            sub = [f"  {name} at lateral {lam}", s["unit"] or "-", "-", "-", fmt(v["overall"])]
            sub += [fmt(v["baseline"]), fmt(v["delta"])]
            rows.append(sub + (["-", "-"] if checks else []))
    return head, rows


def pair_table(doc: dict[str, Any], console) -> None:
    """Print one pair's scores as a rich table (with the header lines above it) on ``console``."""
    from rich.table import Table
    from rich.text import Text

    for i, line in enumerate(pair_header_lines(doc)):
        # Line 2 says how many directions matched: a warning when few did.
        warn = i == 2 and low_coverage(doc["spec"])
        console.print(Text(line, style=WARNING_STYLE if warn else "dim"))
    head, rows = _pair_rows(doc)
    table = Table(show_edge=True, header_style="bold")
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i < 2 or h == "Result" else "right")
    for row in rows:
        styled: list[str | Text] = list(row)
        if row[-1] in ("pass", "FAIL") and len(row) == len(head) and "Result" in head:
            styled[-1] = Text(row[-1], style="green" if row[-1] == "pass" else "bold red")
        table.add_row(*styled)
    console.print(table)
    if doc.get("bands") or doc.get("regions"):
        from .analyses import extra_tables

        extra_tables(doc, console)
    if doc.get("passed") is not None:
        console.print(
            Text(
                "all checks passed" if doc["passed"] else "a check failed",
                style="green" if doc["passed"] else "bold red",
            )
        )


def pair_csv(doc: dict[str, Any]) -> str:
    """One row per metric: ``metric,unit,left,right,overall,threshold,passed`` (full precision)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    base = _has_baseline(doc)
    w.writerow(
        ["metric", "unit", "left", "right", "overall"]
        + (["baseline", "delta", "lateral_deg"] if base else [])
        + ["threshold", "passed"]
    )
    for name, s in doc["scores"].items():
        extra = [csv_value(s.get("baseline")), csv_value(s.get("delta")), ""] if base else []
        w.writerow(
            [name, s["unit"], csv_value(s["left"]), csv_value(s["right"]), csv_value(s["overall"])]
            + extra
            + [csv_value(s["threshold"]), csv_value(s["passed"])]
        )
        for lam, v in (s.get("by_lateral") or {}).items():
            w.writerow(
                [name, s["unit"], "", "", csv_value(v["overall"]), csv_value(v["baseline"])]
                + [csv_value(v["delta"]), lam, "", ""]
            )
    return buf.getvalue()


def pair_markdown(doc: dict[str, Any]) -> str:
    head, rows = _pair_rows(doc)
    lines = pair_header_lines(doc)
    checks = thresholds_of(doc["spec"])
    if checks:  # the table's Threshold column has the limits; the rule and source are here
        lines = lines + [
            "thresholds "
            + ", ".join(
                f"{t.shown(m)} ({t.source})"
                for m, t in checks.items()
            )
        ]
    intro = markdown_lines(lines)
    text = intro + "\n\n" + markdown_table(head, rows)
    if doc.get("bands") or doc.get("regions"):
        from .analyses import extra_markdown

        text += "\n" + extra_markdown(doc)
    return text


def render_text(doc: dict[str, Any], fmt_name: str, kind: str = "pair") -> str:
    """Render a document to text (every format but the rich table, which prints to a console)."""
    if fmt_name == "json":
        return to_json(doc)
    if kind == "pair":
        if fmt_name == "csv":
            return pair_csv(doc)
        if fmt_name == "markdown":
            return pair_markdown(doc)
        if fmt_name == "table":
            return table_to_text(lambda console: pair_table(doc, console))
    raise ValueError(f"unknown format {fmt_name!r} for a {kind} document")
