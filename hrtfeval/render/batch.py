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
from ..results import reference_name, thresholds_of
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


def _metrics(doc: dict[str, Any]) -> list[str]:
    return list(doc["spec"]["metrics"])


def _has_regression(doc: dict[str, Any]) -> bool:
    return "regression" in doc


def _show_target(doc: dict[str, Any]) -> bool:
    """A Reference column only when some reference is not named like its prediction."""

    def stem(name: str) -> str:
        return name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name

    return any(stem(e["prediction"]) != stem(reference_name(e)) for e in doc["pairs"])


def _columns(doc: dict[str, Any], per_ear: bool) -> list[tuple[str, str, str]]:
    """(header, metric, field) per value column; field is left/right/overall/delta."""
    cols = []
    units = {m: (doc["aggregate"].get(m) or {}).get("unit") for m in _metrics(doc)}
    for m in _metrics(doc):
        unit = f" [{units[m]}]" if units[m] else ""
        if per_ear and m not in INTERAURAL and m not in LOCALISATION:
            cols += [(f"{m} L", m, "left"), (f"{m} R", m, "right")]
        cols.append((f"{m}{unit}", m, "overall"))
        if m in LOCALISATION:  # the localisation model with REF as targets, and the difference
            cols += [(f"{m} baseline", m, "baseline"), (f"{m} - baseline", m, "model_delta")]
        if _has_regression(doc):
            cols.append((f"Δ{m}", m, "delta"))
    return cols


def _value(entry: dict[str, Any], metric: str, field: str) -> float | None:
    if "scores" not in entry or metric not in entry["scores"]:
        return None
    if field == "delta":
        reg = (entry.get("regression") or {}).get(metric)
        return None if reg is None else reg["delta"]
    if field in ("baseline", "model_delta"):
        return entry["scores"][metric].get("delta" if field == "model_delta" else field)
    return entry["scores"][metric][field]


def _failed_checks(entry: dict[str, Any]) -> list[str]:
    out = [m for m, s in entry.get("scores", {}).items() if s.get("passed") is False]
    out += [f"Δ{m}" for m, r in (entry.get("regression") or {}).items() if r["passed"] is False]
    return out


def _result(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return "error"
    if entry.get("passed") is False:
        return "FAIL " + ", ".join(_failed_checks(entry))
    text = verdict(entry.get("passed"))
    if "regression" in entry and entry["regression"] is None:
        text += " (not in baseline)"
    return text


def _delta_text(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def batch_rows(doc: dict[str, Any], per_ear: bool = False, digits: int = 6):
    """Header, pair rows and aggregate rows (strings) of the batch table (values to ``digits``
    significant digits)."""
    cols = _columns(doc, per_ear)
    show_target = _show_target(doc)
    names = ["Prediction"] + (["Reference"] if show_target else [])
    head = names + [c[0] for c in cols] + ["Result"]
    rows = []
    for e in doc["pairs"]:
        # Names are escaped: a control character in a file name must not reach the terminal.
        row = [printable(e["prediction"])] + ([printable(reference_name(e))] if show_target else [])
        for _, m, f in cols:
            v = _value(e, m, f)
            row.append(_delta_text(v) if f == "delta" else fmt(v, digits))
        rows.append(row + [_result(e)])
    agg_rows = []
    reg_agg = (doc.get("regression") or {}).get("aggregate") or {}
    for name in AGGREGATES:
        row = [name] + ([""] if show_target else [])
        for _, m, f in cols:
            if f == "overall":
                v = doc["aggregate"][m][name]
            elif f == "delta" and name == "mean":
                v = (reg_agg.get(m) or {}).get("delta")  # mean of deltas over matched pairs
            else:
                vals = [x for x in (_value(e, m, f) for e in doc["pairs"]) if x is not None]
                v = stats(vals)[name]
            row.append(_delta_text(v) if f == "delta" else fmt(v, digits))
        agg_rows.append(row + [""])
    return head, rows, agg_rows


def error_line(entry: dict[str, Any]) -> str:
    """A pair's error, prefixed with its name unless the message already names a file of it."""
    msg = entry["error"]
    if entry["prediction"] in msg or reference_name(entry) in msg:
        return msg
    return f"{entry['prediction']}: {msg}"


def summary_line(doc: dict[str, Any]) -> str:
    c = doc["counts"]
    parts = [
        f"{c['scored']} scored",
        f"{c['failed']} failed",
        f"{c['errors']} errored",
        f"{c['unmatched']} unmatched"
        + (" (ignored)" if c["unmatched"] and doc["spec"].get("ignore_unmatched") else ""),
    ]
    shard = doc["spec"].get("shard")
    total = doc["spec"].get("pairs_total")
    if shard:
        parts.append(f"shard {shard} of {total} pairs")
    if c.get("missing_shards"):
        parts.append(
            f"{c['missing_shards']} shard(s) MISSING: {', '.join(doc['spec']['missing_shards'])}"
        )
    return " · ".join(parts)


def header_lines(doc: dict[str, Any]) -> list[str]:
    spec = doc["spec"]
    src = spec.get("source") or {}
    if "pairs_file" in src:
        where = f"pairs from {src['pairs_file']}"
    elif src:
        where = f"{src.get('prediction_dir')} vs {src.get('target_dir')}"
    else:
        where = "merged documents"
    lo, hi = spec["band_hz"]
    how = [
        f"{len(doc['pairs'])} pairs · {where}",
        f"metrics {', '.join(spec['metrics'])} · band {lo:g}-{hi:g} Hz · "
        f"reduction {spec['reduction']}"
        + (" (area-weighted)" if spec.get("weighting") else "")
        + (f" · preset {spec['preset']}" if spec.get("preset") else ""),
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
                for m, t in thresholds_of(spec).items()
            )
        )
    if spec.get("localisation"):
        from ..perceptual import spec_line

        how.append(spec_line(spec["localisation"]))
    reg = doc.get("regression")
    if reg is not None:
        limits = ", ".join(f"{m} {v:+g}" for m, v in reg["max"].items()) or "none (deltas only)"
        how.append(f"baseline {reg['baseline']} · max regression {limits}")
    return [printable(line) for line in how + list(spec.get("notes", []))]


def footer_lines(doc: dict[str, Any]) -> list[str]:
    """Summary, aggregate regression, errors, unmatched files, pairs missing from the baseline."""
    lines = [summary_line(doc)]
    if doc.get("region_aggregate"):
        from .analyses import region_aggregate_lines

        lines += region_aggregate_lines(doc["region_aggregate"])
    reg = doc.get("regression")
    if reg is not None:
        for m, a in reg["aggregate"].items():
            check = (
                ""
                if a["passed"] is None
                else (f" (max {a['max']:+g}: {'pass' if a['passed'] else 'FAIL'})")
            )
            unit = (doc["aggregate"].get(m) or {}).get("unit") or ""
            lines.append(
                f"mean {m} over {a['n']} pairs: {fmt(a['value'])} vs baseline "
                f"{fmt(a['baseline'])} {unit}, Δ {a['delta']:+.4g}{check}".replace(" ,", ",")
            )
        if reg["missing"]:
            lines.append(
                f"not in the baseline ({len(reg['missing'])}): "
                + ", ".join(p["prediction"] for p in reg["missing"])
            )
    low = [e for e in doc["pairs"] if "spec" in e and low_coverage(e["spec"])]
    if low:
        lines.append(
            f"directions matched below {100 * LOW_MATCHED_FRACTION:g} % ({len(low)}): "
            + ", ".join(
                f"{e['prediction']} ({100 * (matched_fraction(e['spec']) or 0.0):.3g} %)"
                for e in low
            )
        )
    errors = [e for e in doc["pairs"] if "error" in e]
    if errors:
        lines.append(f"errors ({len(errors)}):")
        lines += [f"  {error_line(e)}" for e in errors]
    un = doc.get("unmatched") or {}
    for side, other in (("prediction", "target"), ("target", "prediction")):
        if un.get(side):
            lines.append(
                f"{side} files without a {other} ({len(un[side])}): " + ", ".join(un[side])
            )
    return [printable(line) for line in lines]


def batch_table(doc: dict[str, Any], console, per_ear: bool = False) -> None:
    """Print the batch table (pairs, then aggregate rows) and the summary on a rich console."""
    from rich.table import Table
    from rich.text import Text

    for line in header_lines(doc):
        console.print(Text(line, style="dim"))
    head, rows, agg_rows, widths, pad, fits = _fitting_rows(doc, per_ear, console.width)
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
    for i, line in enumerate(footer_lines(doc)):
        bad = (
            line.startswith(("errors", "prediction files", "target files"))
            or "FAIL" in line
            or "MISSING" in line
        )
        style = "bold red" if bad else ("bold" if i == 0 else "")
        if line.startswith("directions matched below"):
            style = WARNING_STYLE
        console.print(Text(line, style=style))


#: Fewest characters a name column (Prediction, Reference) keeps when the table is squeezed.
NAME_MIN_WIDTH = 8


def _fitting_rows(doc: dict[str, Any], per_ear: bool, width: int | None):
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


def render_table_text(doc: dict[str, Any], per_ear: bool = False) -> str:
    return table_to_text(lambda console: batch_table(doc, console, per_ear))


def render_markdown(doc: dict[str, Any], per_ear: bool = False) -> str:
    head, rows, agg_rows = batch_rows(doc, per_ear)
    bold = [[f"**{c}**" if c else "" for c in row] for row in agg_rows]
    intro = markdown_lines(header_lines(doc))
    foot = "\n".join(
        f"- {line.strip()}" if not line.startswith("  ") else f"  - {line.strip()}"
        for line in footer_lines(doc)
    )
    return intro + "\n\n" + markdown_table(head, rows + bold) + "\n" + foot + "\n"


def render_csv(doc: dict[str, Any]) -> str:
    """One row per pair: ``prediction,reference,<m>_left,<m>_right,<m>_overall[,<m>_delta],...,
    passed,error``; files without a partner follow as rows with only an error."""
    metrics = _metrics(doc)
    reg = _has_regression(doc)
    head = ["prediction", "reference"]
    for m in metrics:
        head += [f"{m}_left", f"{m}_right", f"{m}_overall"] + ([f"{m}_delta"] if reg else [])
        if m in LOCALISATION:
            head += [f"{m}_baseline", f"{m}_baseline_delta"]
    head += ["passed", "error"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for e in doc["pairs"]:
        row = [e["prediction"], reference_name(e)]
        for m in metrics:
            row += [csv_value(_value(e, m, f)) for f in ("left", "right", "overall")]
            if reg:
                row.append(csv_value(_value(e, m, "delta")))
            if m in LOCALISATION:
                row += [csv_value(_value(e, m, f)) for f in ("baseline", "model_delta")]
        row += [csv_value(e.get("passed")), e.get("error", "")]
        w.writerow(row)
    blanks = [""] * (len(head) - 4)
    un = doc.get("unmatched") or {}
    for f in un.get("prediction", []):
        w.writerow([f, ""] + blanks + ["", "no target file"])
    for f in un.get("target", []):
        w.writerow(["", f] + blanks + ["", "no prediction file"])
    return buf.getvalue()


def render_batch(doc: dict[str, Any], fmt_name: str, per_ear: bool = False) -> str:
    """A batch document as text in ``fmt_name`` (table = plain text, as for ``--output``)."""
    if fmt_name == "json":
        return to_json(doc)
    if fmt_name == "jsonl":
        return render_jsonl(doc)
    if fmt_name == "csv":
        return render_csv(doc)
    if fmt_name == "markdown":
        return render_markdown(doc, per_ear)
    if fmt_name == "table":
        return render_table_text(doc, per_ear)
    raise ValueError(f"unknown format {fmt_name!r}; expected one of {', '.join(FORMATS)}")


def regression_lines(doc: dict[str, Any]) -> list[str]:
    """A single-pair document's comparison with its baseline, one line per metric."""
    reg = doc.get("regression")
    if reg is None:
        return ["not in the baseline: no regression check"] if "regression" in doc else []
    lines = []
    for m, r in reg.items():
        unit = doc["scores"][m].get("unit") or ""
        check = (
            ""
            if r["passed"] is None
            else (f" (max {r['max']:+g}: {'pass' if r['passed'] else 'FAIL'})")
        )
        lines.append(
            f"{m}: {fmt(r['value'])} vs baseline {fmt(r['baseline'])} {unit}, "
            f"Δ {r['delta']:+.4g}{check}".replace("  ", " ")
        )
    return lines
