"""The batch view: every metric's overall value over the pairs of a results JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HrtfevalError
from .common import (
    _LABELS,
    DEFAULT_DPI,
    View,
    _figure,
    _num,
    _short,
    _unit_label,
    _wrap,
)

# --------------------------------------------------------------------------------------------
# batch overview


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results JSON of ``hrtfeval score`` (one pair or a batch)."""
    from ..procs import special_file

    kind = special_file(path)
    if kind is not None:  # opening a FIFO would block
        raise HrtfevalError(f"is {kind}, not a regular file; expected a results JSON", str(path))
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise HrtfevalError(f"cannot read the results: {exc.strerror or exc}", str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "not valid JSON" if isinstance(exc, json.JSONDecodeError) else "not a text file"
        raise HrtfevalError(
            f"is not a results JSON of 'hrtfeval score' ({what}); the pair views "
            "take two files, PREDICTION REFERENCE",
            str(path),
        ) from None
    _result_pairs(doc, str(path))
    return doc


def _result_pairs(doc: Any, path: str | None = None) -> list[dict[str, Any]]:
    """The pairs of a batch document, or the single pair of a one-pair document."""
    if isinstance(doc, dict) and isinstance(doc.get("pairs"), list):
        return [p for p in doc["pairs"] if isinstance(p, dict)]
    if isinstance(doc, dict) and isinstance(doc.get("scores"), dict):
        return [doc]
    raise HrtfevalError(
        "is not an hrtfeval results JSON (expected 'pairs' or 'scores'); write "
        "one with 'hrtfeval score ... --format json -o FILE'",
        path,
    )


def batch_view(doc: dict[str, Any], *, source: str = "", dpi: float = DEFAULT_DPI) -> View:
    """Distribution over pairs of each metric's overall value: a box plot with every pair as a
    point, the threshold as a dashed line when the results carry one.

    ``doc`` is a results document (batch: ``{"pairs": [...]}``, or one pair: ``{"scores": ...}``).
    ``data[metric]`` is the array of plotted overall values; pairs that failed to score (an
    ``"error"`` entry) are counted in the title and not drawn.
    """
    pairs = _result_pairs(doc, source or None)
    scored = [p for p in pairs if isinstance(p.get("scores"), dict) and "error" not in p]
    failed = len(pairs) - len(scored)
    metrics: list[str] = []
    for p in scored:
        metrics += [m for m in p["scores"] if m not in metrics]
    if not metrics:
        raise HrtfevalError("holds no scored pair to draw", source or None)

    n = len(metrics)
    fig = _figure(max(4.2, 2.9 * n + 1.0), 4.8, dpi)
    axes = fig.subplots(1, n, squeeze=False)[0]
    rng = np.random.default_rng(0)  # fixed jitter: the same file always gives the same picture
    data: dict[str, Any] = {}
    any_failed = any_threshold = False
    for ax, metric in zip(axes, metrics):
        rows = [
            p["scores"][metric]
            for p in scored
            if isinstance(p["scores"].get(metric), dict)
            and p["scores"][metric].get("overall") is not None
        ]
        vals = np.array([float(r["overall"]) for r in rows], dtype=np.float64)
        passed = [r.get("passed") for r in rows]
        unit = next((r.get("unit") for r in rows if r.get("unit")), "")
        limits = sorted({float(r["threshold"]) for r in rows if r.get("threshold") is not None})
        data[metric] = vals
        if vals.size:
            if vals.size > 1:
                ax.boxplot(
                    vals,
                    positions=[0],
                    widths=0.5,
                    showfliers=False,
                    patch_artist=True,
                    boxprops={"facecolor": "#dde6f2", "edgecolor": "0.3"},
                    medianprops={"color": "0.1", "lw": 1.6},
                    whiskerprops={"color": "0.3"},
                    whis=(0, 100),  # whiskers at min and max: the legend says "range"
                    capprops={"color": "0.3"},
                )
            jitter = rng.uniform(-0.13, 0.13, vals.size) if vals.size > 1 else np.zeros(1)
            ok = np.array([p is not False for p in passed])
            ax.scatter(jitter[ok], vals[ok], s=22, color="tab:blue", alpha=0.8, zorder=3)
            if (~ok).any():
                ax.scatter(jitter[~ok], vals[~ok], s=34, marker="x", color="tab:red", zorder=4)
            any_failed |= bool((~ok).any())
        for limit in limits:
            ax.axhline(limit, color="tab:red", ls="--", lw=1.2, zorder=2)
            ax.annotate(
                f"threshold {_num(limit, unit)}",
                (0.98, limit),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize=8,
                color="tab:red",
                xytext=(0, 2),
                textcoords="offset points",
            )
        any_threshold |= bool(limits)
        ax.set_xlim(-0.6, 0.6)
        ax.set_xticks([])
        top = max([*vals.tolist(), *limits, 0.0]) if vals.size or limits else 1.0
        ax.set_ylim(0.0, top * 1.15 if top > 0 else 1.0)
        ax.set_ylabel(f"overall {_unit_label(metric, unit)}")
        ax.grid(True, axis="y", alpha=0.35)
        stats = (
            f"n={vals.size}, median {_num(float(np.median(vals)), unit)}"
            if vals.size
            else "no values"
        )
        ax.set_title(f"{_LABELS.get(metric, metric)}\n{stats}", fontsize=10)
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color="tab:blue",
            alpha=0.8,
            label="one pair" + (" (passes the check)" if any_threshold else ""),
        )
    ]
    if any_failed:
        handles.append(
            Line2D([], [], ls="", marker="x", color="tab:red", label="one pair (fails the check)")
        )
    if any_threshold:
        handles.append(Line2D([], [], ls="--", color="tab:red", label="threshold"))
    if any(np.size(v) > 1 for v in data.values()):
        handles.append(
            Line2D(
                [],
                [],
                ls="-",
                lw=6,
                color="#dde6f2",
                label="box: quartiles, line: median, whiskers: range",
            )
        )
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False
    )
    checks = [p.get("passed") for p in scored if p.get("passed") is not None]
    parts = [f"{len(scored)} pair{'s' if len(scored) != 1 else ''} scored"]
    if checks:
        parts.append(f"{sum(bool(c) for c in checks)}/{len(checks)} passed every check")
    if failed:
        parts.append(f"{failed} could not be scored (not drawn)")
    name = _short(Path(source).name) if source else _source_text(doc)
    fig.suptitle(
        _wrap(
            f"Overall scores over pairs: {name}\n" + " · ".join(parts), fig.get_figwidth(), 11
        ),
        fontsize=11,
    )
    data["failed"] = failed
    return View("batch", fig, data)


def _source_text(doc: dict[str, Any]) -> str:
    """What a batch document scored (its ``spec.source``), for the title; else ``results``."""
    source = (doc.get("spec") or {}).get("source") if isinstance(doc, dict) else None
    if isinstance(source, dict):
        parts = [_short(Path(str(v)).name or str(v)) for v in source.values() if v]
        if parts:
            return " vs ".join(parts)
    if isinstance(doc, dict) and "scores" in doc and "prediction" in doc:
        reference = doc.get("reference", doc.get("target", ""))
        return f"{Path(str(doc['prediction'])).name} vs {Path(str(reference)).name}"
    return "results"
