"""Render batch documents: rich table, JSON, JSON lines, CSV, Markdown; the progress bar.

Pure functions of the document (see :mod:`hrtfeval.batch`), except :class:`Progress`, which draws
on stderr. The aggregate rows of the table are the document's ``aggregate`` block; per-ear and
delta columns use the same :func:`hrtfeval.batch.stats`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..batch import stats
from ..constants import AGGREGATES, INTERAURAL, LOCALISATION
from ..constants import BATCH_FORMATS as FORMATS
from ..results import BatchDocument, PairEntry, pair_entry
from . import common
from .common import LOW_MATCHED_FRACTION, csv_value, fmt, low_coverage, printable, verdict


def jsonl_line(obj: dict[str, Any]) -> str:
    """One compact JSON object and a newline (strict: no NaN/Infinity)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


def jsonl_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The final object of ``--format jsonl``: the document without its pairs."""
    return {k: v for k, v in doc.items() if k != "pairs"}


def render_jsonl(doc: dict[str, Any]) -> str:
    """The whole document as JSON lines: one object per pair, then the summary."""
    return "".join(jsonl_line(e) for e in doc["pairs"]) + jsonl_line(jsonl_summary(doc))


# ----------------------------------------------------------------------------------------------
# Rows shared by the table and Markdown

BatchDoc = dict[str, Any] | BatchDocument


def _show_target(batch: BatchDocument) -> bool:
    """A Reference column only when some reference is not named like its prediction."""

    def stem(name: str) -> str:
        return name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name

    return any(stem(e.prediction) != stem(e.reference) for e in batch.pairs)


def _columns(batch: BatchDocument, per_ear: bool) -> list[tuple[str, str, str]]:
    """(header, metric, field) per value column; field is left/right/overall/delta."""
    cols = []
    for m in batch.settings.metrics:
        unit = (batch.aggregate.get(m) or {}).get("unit")
        unit = f" [{unit}]" if unit else ""
        if per_ear and m not in INTERAURAL and m not in LOCALISATION:
            cols += [(f"{m} L", m, "left"), (f"{m} R", m, "right")]
        cols.append((f"{m}{unit}", m, "overall"))
        if m in LOCALISATION:  # the localisation model with REF as targets, and the difference
            cols += [(f"{m} baseline", m, "baseline"), (f"{m} - baseline", m, "model_delta")]
        if batch.has_regression:
            cols.append((f"Δ{m}", m, "delta"))
    return cols


#: The MetricScore attribute behind each value column's field.
_FIELDS = {"model_delta": "delta"}


class _Row:
    """A pair entry with its scores read once (the table reads them column by column)."""

    def __init__(self, entry: PairEntry):
        self.entry = entry
        self.scores = entry.scores()

    def value(self, metric: str, field: str) -> float | None:
        s = self.scores.get(metric)
        if s is None:
            return None
        if field == "delta":
            reg = (self.entry.regression or {}).get(metric)
            return None if reg is None else reg["delta"]
        return getattr(s, _FIELDS.get(field, field))

    def result(self) -> str:
        e = self.entry
        if e.error is not None:
            return "error"
        if e.stated_passed is False:
            return "FAIL " + ", ".join(e.failed_checks())
        text = verdict(e.stated_passed)
        if e.has_regression and e.regression is None:
            text += " (not in baseline)"
        return text


def _delta_text(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def batch_rows(doc: BatchDoc, per_ear: bool = False, digits: int = 6):
    """Header, pair rows and aggregate rows (strings) of the batch table (values to ``digits``
    significant digits)."""
    batch = BatchDocument.of(doc)
    cols = _columns(batch, per_ear)
    show_target = _show_target(batch)
    names = ["Prediction"] + (["Reference"] if show_target else [])
    head = names + [c[0] for c in cols] + ["Result"]
    pairs = [_Row(e) for e in batch.pairs]

    def cell(v: float | None, f: str) -> str:
        return _delta_text(v) if f == "delta" else fmt(v, digits)

    rows = []
    for r in pairs:
        # Names are escaped: a control character in a file name must not reach the terminal.
        e = r.entry
        row = [printable(e.prediction)] + ([printable(e.reference)] if show_target else [])
        rows.append(row + [cell(r.value(m, f), f) for _, m, f in cols] + [r.result()])
    agg_rows = []
    reg_agg = (batch.regression or {}).get("aggregate") or {}
    for name in AGGREGATES:
        row = [name] + ([""] if show_target else [])
        for _, m, f in cols:
            if f == "overall":
                v = batch.aggregate[m][name]
            elif f == "delta" and name == "mean":
                v = (reg_agg.get(m) or {}).get("delta")  # mean of deltas over matched pairs
            else:
                v = stats([x for x in (r.value(m, f) for r in pairs) if x is not None])[name]
            row.append(cell(v, f))
        agg_rows.append(row + [""])
    return head, rows, agg_rows


def error_line(entry: dict[str, Any] | PairEntry) -> str:
    """A pair's error, prefixed with its name unless the message already names a file of it."""
    e = pair_entry(entry)
    msg = e.error or ""
    if e.prediction in msg or e.reference in msg:
        return msg
    return f"{e.prediction}: {msg}"


def summary_line(doc: BatchDoc) -> str:
    batch = BatchDocument.of(doc)
    c, spec = batch.counts, batch.settings
    parts = [
        f"{c['scored']} scored",
        f"{c['failed']} failed",
        f"{c['errors']} errored",
        f"{c['unmatched']} unmatched"
        + (" (ignored)" if c["unmatched"] and spec.ignore_unmatched else ""),
    ]
    if spec.shard:
        parts.append(f"shard {spec.shard} of {spec.pairs_total} pairs")
    if c.get("missing_shards"):
        parts.append(f"{c['missing_shards']} shard(s) MISSING: {', '.join(spec.missing_shards)}")
    return " · ".join(parts)


def header_lines(doc: BatchDoc) -> list[str]:
    batch = BatchDocument.of(doc)
    spec = batch.settings
    src = spec.source
    if "pairs_file" in src:
        where = f"pairs from {src['pairs_file']}"
    elif src:
        where = f"{src.get('prediction_dir')} vs {src.get('target_dir')}"
    else:
        where = "merged documents"
    lo, hi = spec.band_hz
    how = [
        f"{len(batch.pairs)} pairs · {where}",
        f"metrics {', '.join(spec.metrics)} · band {lo:g}-{hi:g} Hz · reduction {spec.reduction}"
        + (" (area-weighted)" if spec.weighting else "")
        + (f" · preset {spec.preset}" if spec.preset else ""),
    ]
    if spec.get("thresholds"):
        how.append(
            "thresholds "
            + ", ".join(
                t.shown(m)
                + (
                    f" (--{t.source}, replaces preset {t.replaces.source}'s {t.replaces.limit:g})"
                    if t.replaces
                    else ""
                )
                for m, t in spec.thresholds.items()
            )
        )
    if spec.localisation:
        from ..perceptual import spec_line

        how.append(spec_line(spec.localisation))
    reg = batch.regression
    if reg is not None:
        limits = ", ".join(f"{m} {v:+g}" for m, v in reg["max"].items()) or "none (deltas only)"
        how.append(f"baseline {reg['baseline']} · max regression {limits}")
    return [printable(line) for line in how + spec.notes]


def _regression_line(m: str, r: dict[str, Any], unit: str, what: str) -> str:
    """``{what}: 3.1 vs baseline 3 dB, Δ +0.1 (max +0.2: pass)`` of one regression record."""
    check = "" if r["passed"] is None else f" (max {r['max']:+g}: {verdict(r['passed'])})"
    return (
        f"{what}: {fmt(r['value'])} vs baseline {fmt(r['baseline'])} {unit}, "
        f"Δ {r['delta']:+.4g}{check}"
    )


def footer_lines(doc: BatchDoc) -> list[str]:
    """Summary, aggregate regression, errors, unmatched files, pairs missing from the baseline."""
    batch = BatchDocument.of(doc)
    lines = [summary_line(batch)]
    if batch.region_aggregate:
        from .analyses import region_aggregate_lines

        lines += region_aggregate_lines(batch.region_aggregate)
    reg = batch.regression
    if reg is not None:
        for m, a in reg["aggregate"].items():
            unit = (batch.aggregate.get(m) or {}).get("unit") or ""
            line = _regression_line(m, a, unit, f"mean {m} over {a['n']} pairs")
            lines.append(line.replace(" ,", ","))
        if reg["missing"]:
            lines.append(
                f"not in the baseline ({len(reg['missing'])}): "
                + ", ".join(p["prediction"] for p in reg["missing"])
            )
    low = [(e, e.spec) for e in batch.pairs if e.spec is not None and low_coverage(e.spec)]
    if low:
        lines.append(
            f"directions matched below {100 * LOW_MATCHED_FRACTION:g} % ({len(low)}): "
            + ", ".join(
                f"{e.prediction} ({100 * (s.matched_fraction or 0.0):.3g} %)" for e, s in low
            )
        )
    errors = [e for e in batch.pairs if e.error is not None]
    if errors:
        lines.append(f"errors ({len(errors)}):")
        lines += [f"  {error_line(e)}" for e in errors]
    un = batch.unmatched
    for side, other in (("prediction", "target"), ("target", "prediction")):
        if un.get(side):
            lines.append(
                f"{side} files without a {other} ({len(un[side])}): " + ", ".join(un[side])
            )
    return [printable(line) for line in lines]


def batch_table(doc: BatchDoc, console, per_ear: bool = False) -> None:
    """Print the batch table (pairs, then aggregate rows) and the summary on a rich console."""
    from rich.table import Table
    from rich.text import Text

    batch = BatchDocument.of(doc)
    for line in header_lines(batch):
        console.print(Text(line, style="dim"))
    head, rows, agg_rows, widths, pad, fits = _fitting_rows(batch, per_ear, console.width)
    table = Table(show_edge=True, header_style="bold", padding=(0, pad))
    n_names = 2 if head[1] == "Reference" else 1
    for i, h in enumerate(head):
        # Text, not str: "[dB]" and file names must not be read as rich markup. A value column
        # is as wide as its widest number, so numbers never wrap; headers and names fold.
        table.add_column(
            Text(h),
            justify="left" if i < n_names or h == "Result" else "right",
            overflow="fold",
            width=widths[i],
        )
    for row in rows:
        cells = [Text(c) for c in row]
        res = row[-1]
        if res.startswith(("FAIL", "error")):
            cells[-1].stylize("bold red")
        elif res.startswith("pass"):
            cells[-1].stylize("green")
        table.add_row(*cells)
    table.add_section()
    for row in agg_rows:
        table.add_row(*[Text(c) for c in row], style="bold")
    # A table that cannot fit is printed whole (the terminal wraps lines), never cropped.
    console.print(table, crop=fits)
    for i, line in enumerate(footer_lines(batch)):
        bad = (
            line.startswith(("errors", "prediction files", "target files"))
            or "FAIL" in line
            or "MISSING" in line
        )
        style = "bold red" if bad else ("bold" if i == 0 else "")
        if line.startswith("directions matched below"):
            style = common.WARNING_STYLE
        console.print(Text(line, style=style))


#: Fewest characters a name column (Prediction, Reference) keeps when the table is squeezed.
NAME_MIN_WIDTH = 8


def _fitting_rows(doc: BatchDocument, per_ear: bool, width: int | None):
    """:func:`batch_rows` with as many significant digits (6 down to 3) and as much cell padding
    (1 or 0) as fit in ``width`` columns; each column's width (value columns: their widest
    number, so a number never wraps; names and Result take the rest and fold), the padding and
    whether the table fits. Widths are None where the natural width fits."""
    for digits, pad in ((6, 1), (5, 1), (4, 1), (4, 0), (3, 0)):
        head, rows, agg_rows = batch_rows(doc, per_ear, digits)
        n_names = 2 if head[1] == "Reference" else 1
        cells = [[r[i] for r in rows + agg_rows] + [head[i]] for i in range(len(head))]
        natural = [max(len(c) for c in col) for col in cells]
        numbers = [max([len(c) for c in col[:-1]] + [1]) for col in cells]
        overhead = (1 + 2 * pad) * len(head) + 1
        if width is None or sum(natural) + overhead <= width:
            return head, rows, agg_rows, [None] * len(head), pad, True
        fixed = sum(numbers[n_names:-1])
        avail = width - overhead - fixed
        result = min(natural[-1], max(4, avail - NAME_MIN_WIDTH * n_names))
        names_room = avail - result
        if names_room < NAME_MIN_WIDTH * n_names:
            continue
        names = [min(natural[i], NAME_MIN_WIDTH) for i in range(n_names)]
        spare = names_room - sum(names)
        for i in range(n_names):  # the rest to the names, first come first served
            extra = min(spare, natural[i] - names[i])
            names[i] += extra
            spare -= extra
        widths = names + numbers[n_names:-1] + [result]
        return head, rows, agg_rows, widths, pad, True
    return head, rows, agg_rows, [None] * len(head), pad, False


def render_table_text(doc: BatchDoc, per_ear: bool = False) -> str:
    batch = BatchDocument.of(doc)
    return common.table_to_text(lambda console: batch_table(batch, console, per_ear))


def render_markdown(doc: BatchDoc, per_ear: bool = False) -> str:
    batch = BatchDocument.of(doc)
    head, rows, agg_rows = batch_rows(batch, per_ear)
    bold = [[f"**{c}**" if c else "" for c in row] for row in agg_rows]
    foot = "\n".join(
        f"- {line.strip()}" if not line.startswith("  ") else f"  - {line.strip()}"
        for line in footer_lines(batch)
    )
    return common.markdown_section(header_lines(batch), head, rows + bold) + "\n" + foot + "\n"


def render_csv(doc: BatchDoc) -> str:
    """One row per pair: ``prediction,reference,<m>_left,<m>_right,<m>_overall[,<m>_delta],...,
    passed,error``; files without a partner follow as rows with only an error."""
    batch = BatchDocument.of(doc)
    metrics = batch.settings.metrics
    reg = batch.has_regression
    head = ["prediction", "reference"]
    for m in metrics:
        head += [f"{m}_left", f"{m}_right", f"{m}_overall"] + ([f"{m}_delta"] if reg else [])
        if m in LOCALISATION:
            head += [f"{m}_baseline", f"{m}_baseline_delta"]
    head += ["passed", "error"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for e in batch.pairs:
        r = _Row(e)
        row = [e.prediction, e.reference]
        for m in metrics:
            fields = ["left", "right", "overall"] + (["delta"] if reg else [])
            fields += ["baseline", "model_delta"] if m in LOCALISATION else []
            row += [csv_value(r.value(m, f)) for f in fields]
        w.writerow(row + [csv_value(e.stated_passed), e.error or ""])
    blanks = [""] * (len(head) - 4)
    for f in batch.unmatched.get("prediction", []):
        w.writerow([f, ""] + blanks + ["", "no target file"])
    for f in batch.unmatched.get("target", []):
        w.writerow(["", f] + blanks + ["", "no prediction file"])
    return buf.getvalue()


def render_batch(doc: BatchDoc, fmt_name: str, per_ear: bool = False) -> str:
    """A batch document as text in ``fmt_name`` (table = plain text, as for ``--output``)."""
    data = doc.to_dict() if isinstance(doc, BatchDocument) else doc
    renderers = {
        "json": lambda: common.to_json(data),
        "jsonl": lambda: render_jsonl(data),
        "csv": lambda: render_csv(doc),
        "markdown": lambda: render_markdown(doc, per_ear),
        "table": lambda: render_table_text(doc, per_ear),
    }
    return common.render_as(fmt_name, renderers, f"; expected one of {', '.join(FORMATS)}")


def regression_lines(doc: dict[str, Any] | PairEntry) -> list[str]:
    """A single-pair document's comparison with its baseline, one line per metric."""
    entry = pair_entry(doc)
    if entry.regression is None:
        return ["not in the baseline: no regression check"] if entry.has_regression else []
    scores = entry.scores()
    return [
        _regression_line(m, r, scores[m].unit, m).replace("  ", " ")
        for m, r in entry.regression.items()
    ]
