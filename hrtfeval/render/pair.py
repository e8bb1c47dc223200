"""Render one pair's score as a rich table, JSON, CSV or Markdown. Pure: the model in, text out.

Every format is made from the same model (:class:`hrtfeval.results.PairScore`, or a single-pair
document read as a :class:`hrtfeval.results.PairEntry`), so a table and the JSON written from one
run always hold the same numbers (the table rounds to 6 significant digits; JSON keeps full float
precision). The entry points take the model or the document (read once, at the top).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..constants import LOCALISATION
from ..results import MetricScore, PairEntry, PairScore, Spec, pair_entry
from . import common
from .common import csv_value, fmt, printable, verdict

PairDoc = dict[str, Any] | PairScore | PairEntry


def _how_lines(spec: Spec) -> list[str]:
    """The line saying how the pair was scored: band, domain, reduction, weighting, preset..."""
    how = []
    if spec.get("bins") is not None:
        lo, hi = spec.band_hz
        padded = spec.get("zero_padding")
        pad = f", zero-padded from {padded['from_samples']} samples" if padded else ""
        how.append(
            f"band {lo:g}-{hi:g} Hz ({spec.get('bins')} bins, n_fft {spec.get('n_fft')}{pad})"
        )
    if spec.get("domain"):
        how.append(f"rmse/mae domain {spec.get('domain')}")
    how.append(f"reduction {spec.reduction}")
    if spec.get("bands"):
        how.append(f"{spec.get('bands')} bands")
    if spec.weighting:
        how.append(f"area-weighted (covers {spec.weighting['covered_fraction']:.1%} of the sphere)")
    if spec.get("itd_method"):
        how.append(f"ITD {spec.get('itd_method')}")
    if spec.preset:
        how.append(f"preset {spec.preset}")
    if spec.localisation:
        from ..perceptual import spec_line

        how.append(spec_line(spec.localisation))
    return how


def pair_header_lines(doc: PairDoc) -> list[str]:
    """Short description of how a pair was scored (files, convention, rate, grid, band, ...)."""
    entry = pair_entry(doc)
    spec = entry.spec or Spec()
    d = spec.directions
    pred, ref = (spec.file(side)["convention"] for side in ("prediction", "reference"))
    fs = spec.get("sampling_rate")
    parts = [
        pred if pred == ref else f"{pred} vs {ref}",
        f"{fs:g} Hz" if fs else "rate unknown",
        f"{d['matched']}/{d['reference']} directions matched"
        if d.get("matched") is not None
        else f"{d.get('prediction')} and {d['reference']} directions, each on its own grid",
    ]
    if d["missing"]:
        parts.append(
            f"{d['missing']} missing (left out): "
            f"{100 * (spec.matched_fraction or 0.0):.3g} % matched"
        )
    lines = [
        f"prediction  {printable(entry.prediction)}",
        f"reference   {printable(entry.reference)}",
        " · ".join(parts),
        " · ".join(_how_lines(spec)),
    ]
    replaced = replaced_thresholds(spec)
    if replaced:
        lines.append("thresholds " + ", ".join(replaced))
    sides = ("prediction", "reference")
    delays = [name for name in sides if spec.file(name)["delay_applied"]]
    if delays:
        lines.append("Data.Delay applied to the " + " and ".join(delays) + " impulse responses")
    ignored = [name for name in sides if spec.file(name).get("delay_ignored")]
    if ignored:
        lines.append("Data.Delay of the " + " and ".join(ignored) + " ignored (--ignore-delay)")
    lines.extend(printable(note) for note in spec.notes)
    return lines


def replaced_thresholds(spec: dict[str, Any] | Spec) -> list[str]:
    """``lsd <= 5 (--fail-above, replaces preset lap's < 7.4)`` for every preset threshold that
    ``--fail-above`` replaced."""
    spec = spec if isinstance(spec, Spec) else Spec(spec)
    return [
        f"{t.shown(m)} (--{t.source}, replaces preset {t.replaces.source}'s {t.replaces.op} "
        f"{t.replaces.limit:g})"
        for m, t in spec.thresholds.items()
        if t.replaces
    ]


def _has_baseline(scores: dict[str, MetricScore]) -> bool:
    """Whether a metric has the localisation model's baseline (REF as targets)."""
    return any(s.name in LOCALISATION for s in scores.values())


def _pair_rows(entry: PairEntry) -> tuple[list[str], list[list[str]]]:
    scores = entry.scores()
    checks = any(s.threshold is not None for s in scores.values())
    base = _has_baseline(scores)
    head = (
        ["Metric", "Unit", "Left", "Right", "Overall"]
        + (["Baseline", "Delta"] if base else [])
        + (["Threshold", "Result"] if checks else [])
    )
    rows = []
    for name, s in scores.items():
        row = [name, s.unit or "-", fmt(s.left), fmt(s.right), fmt(s.overall)]
        if base:
            row += [fmt(s.baseline), fmt(s.delta)]
        if checks:
            row += [fmt(s.threshold), verdict(s.passed)]
        rows.append(row)
        for lam, v in (s.by_lateral or {}).items():
            sub = [f"  {name} at lateral {lam}", s.unit or "-", "-", "-", fmt(v["overall"])]
            sub += [fmt(v["baseline"]), fmt(v["delta"])]
            rows.append(sub + (["-", "-"] if checks else []))
    return head, rows


def pair_table(doc: PairDoc, console) -> None:
    """Print one pair's scores as a rich table (with the header lines above it) on ``console``."""
    from rich.table import Table
    from rich.text import Text

    entry = pair_entry(doc)
    low = common.low_coverage(entry.spec or Spec())
    for i, line in enumerate(pair_header_lines(entry)):
        # Line 2 says how many directions matched: a warning when few did.
        console.print(Text(line, style=common.WARNING_STYLE if i == 2 and low else "dim"))
    head, rows = _pair_rows(entry)
    table = Table(show_edge=True, header_style="bold")
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i < 2 or h == "Result" else "right")
    for row in rows:
        styled: list[str | Text] = list(row)
        if row[-1] in ("pass", "FAIL") and len(row) == len(head) and "Result" in head:
            styled[-1] = Text(row[-1], style="green" if row[-1] == "pass" else "bold red")
        table.add_row(*styled)
    console.print(table)
    if entry.bands or entry.regions:
        from .analyses import extra_tables

        extra_tables(entry, console)
    common.print_verdict(console, entry.stated_passed, "all checks passed", "a check failed")


def pair_csv(doc: PairDoc) -> str:
    """One row per metric: ``metric,unit,left,right,overall,threshold,passed`` (full precision)."""
    scores = pair_entry(doc).scores()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    base = _has_baseline(scores)
    w.writerow(
        ["metric", "unit", "left", "right", "overall"]
        + (["baseline", "delta", "lateral_deg"] if base else [])
        + ["threshold", "passed"]
    )
    for name, s in scores.items():
        extra = [csv_value(s.baseline), csv_value(s.delta), ""] if base else []
        w.writerow(
            [name, s.unit, csv_value(s.left), csv_value(s.right), csv_value(s.overall)]
            + extra
            + [csv_value(s.threshold), csv_value(s.passed)]
        )
        for lam, v in (s.by_lateral or {}).items():
            w.writerow(
                [name, s.unit, "", "", csv_value(v["overall"]), csv_value(v["baseline"])]
                + [csv_value(v["delta"]), lam, "", ""]
            )
    return buf.getvalue()


def pair_markdown(doc: PairDoc) -> str:
    entry = pair_entry(doc)
    lines = pair_header_lines(entry)
    checks = (entry.spec or Spec()).thresholds
    if checks:  # the table's Threshold column has the limits; the rule and source are here
        lines.append(
            "thresholds " + ", ".join(f"{t.shown(m)} ({t.source})" for m, t in checks.items())
        )
    text = common.markdown_section(lines, *_pair_rows(entry))
    if entry.bands or entry.regions:
        from .analyses import extra_markdown

        text += "\n" + extra_markdown(entry)
    return text


def render_text(doc: PairDoc, fmt_name: str, kind: str = "pair") -> str:
    """Render a document to text (every format but the rich table, which prints to a console)."""
    if fmt_name == "json":
        return common.to_json(doc.to_dict() if isinstance(doc, (PairScore, PairEntry)) else doc)
    renderers = {
        "csv": lambda: pair_csv(doc),
        "markdown": lambda: pair_markdown(doc),
        "table": lambda: common.table_to_text(lambda console: pair_table(doc, console)),
    }
    return common.render_as(
        fmt_name, renderers if kind == "pair" else {}, f" for a {kind} document"
    )
