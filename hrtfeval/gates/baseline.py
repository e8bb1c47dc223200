"""Regression against a baseline: lookup of pairs, spec checks, regression blocks."""

from __future__ import annotations

import math
import os
from typing import Any

from ..constants import SIGNED_METRICS
from ..errors import HrtfevalError
from ..results import PairEntry, error_size, pair_passed, reference_name, verdict
from .documents import is_batch, load_document, validate_document
from .specs import (
    PAIR_FACTS,
    SCORING_SPEC_KEYS,
    _comparable_keys,
    _definition_keys,
    _differences_text,
    _dotted,
    _scored_metrics,
    options_view,
    spec_differences,
)


class Baseline:
    """Scores of an earlier run, looked up by pair names.

    Parameters
    ----------
    doc : dict
        A single-pair or batch document (:func:`load_document`).
    name : str
        Where it came from (reported in the output).
    """

    def __init__(self, doc: dict[str, Any], name: str):
        validate_document(doc, name)
        self.name = name
        self.single = not is_batch(doc)
        entries = [doc] if self.single else doc["pairs"]
        self.entries = [e for e in entries if isinstance(e, dict) and "scores" in e]
        self.by_pair = {(e.get("prediction"), reference_name(e)): e for e in self.entries}
        targets: dict[str, list] = {}
        for e in self.entries:
            targets.setdefault(reference_name(e), []).append(e)
        self.by_target = {t: es[0] for t, es in targets.items() if len(es) == 1}
        self.metrics = {m for e in self.entries for m in e["scores"]}
        self.spec = doc["spec"]

    @classmethod
    def load(cls, path: str | os.PathLike) -> Baseline:
        return cls(load_document(path), str(path))

    def lookup(self, prediction: str, target: str, single_run: bool = False):
        """The baseline entry of a pair, or None when the baseline does not have it."""
        if single_run and self.single and self.entries:
            return self.entries[0]
        hit = self.by_pair.get((prediction, target))
        return hit if hit is not None else self.by_target.get(target)


def check_baseline_spec(run_spec: dict[str, Any], baseline: Baseline) -> None:
    """Refuse a baseline scored with other definitions than this run (before anything is scored).

    ``run_spec`` is a batch spec (:func:`hrtfeval.batch.batch_spec`) of the run's options. Every
    key of :data:`SCORING_SPEC_KEYS` is compared, presence included (a key only present when its
    option is set), a single-pair baseline through :func:`options_view`; the per-pair facts (FFT
    length, bins, domain, directions) are compared pair by pair in :func:`annotate_pair`. Keys
    that only matter to a metric one of the two documents does not score are left out.
    """
    run_metrics = _scored_metrics(run_spec)
    both = baseline.metrics & run_metrics
    base_view = options_view(baseline.spec, baseline.single)
    run_view = options_view(run_spec, False)
    keys = [k for k in SCORING_SPEC_KEYS if k in base_view]
    if baseline.single:
        keys = [k for k in keys if k not in ("allow_missing",)]
    if not both & {"qe", "pe", "eb"}:
        keys = [k for k in keys if k != "localisation"]
    keys = _comparable_keys(keys, baseline.metrics, run_metrics)
    base_view["definitions"] = baseline.spec.get("definitions")
    run_view["definitions"] = run_spec.get("definitions")
    if not baseline.single:  # a single-pair document's definitions name its bins: per pair
        keys += _definition_keys(base_view, run_view, both)
    differ = spec_differences(base_view, run_view, keys)
    if differ:
        raise HrtfevalError(
            "the baseline was scored with other definitions than this run ("
            + _differences_text(differ, base_view, run_view)
            + "); its numbers cannot be compared: score the baseline again with this run's "
            "options",
            baseline.name,
        )


def _check_pair_spec(entry: dict[str, Any], base: dict[str, Any], baseline: Baseline) -> None:
    """Refuse a baseline pair whose facts (FFT length, bins, domain, ...) differ from the pair's;
    two single-pair documents also compare their definitions."""
    run, old = entry.get("spec") or {}, base.get("spec") or {}
    keys = _comparable_keys(PAIR_FACTS, set(base["scores"]), set(entry["scores"]))
    keys += _definition_keys(old, run, set(base["scores"]) & set(entry["scores"]))
    keys = [k for k in keys if _dotted(run, k) is not None and _dotted(old, k) is not None]
    differ = spec_differences(old, run, keys)
    if differ:
        raise HrtfevalError(
            f"the baseline's pair {base.get('prediction')}, {reference_name(base)} was scored with "
            f"other definitions than {entry['prediction']}, {reference_name(entry)} here ("
            + _differences_text(differ, old, run)
            + "); its numbers cannot be compared: score the baseline again with this run's "
            "options",
            baseline.name,
        )


def check_regression_options(
    metrics,
    baseline: Baseline | None,
    max_regression: dict[str, float],
    run_spec: dict[str, Any] | None = None,
) -> None:
    """``--max-regression`` needs ``--baseline``, scored metrics and a baseline that has them;
    with ``run_spec``, the baseline must be scored with the same definitions
    (:func:`check_baseline_spec`)."""
    if max_regression and baseline is None:
        raise HrtfevalError("--max-regression needs --baseline OLD.json to compare with")
    if baseline is None:
        return
    if not baseline.entries:
        raise HrtfevalError("the baseline has no scored pair to compare with", baseline.name)
    if run_spec is not None:
        check_baseline_spec(run_spec, baseline)
    for m in max_regression:
        if m not in metrics:
            raise HrtfevalError(
                f"--max-regression names {m!r}, which is not scored; add --metric {m}"
            )
        if m not in baseline.metrics:
            raise HrtfevalError(
                f"the baseline has no {m} scores (it has {', '.join(sorted(baseline.metrics))})",
                baseline.name,
            )
        if not math.isfinite(max_regression[m]):
            raise HrtfevalError(f"--max-regression {m} must be a finite number")


def annotate_pair(
    entry: dict[str, Any],
    baseline: Baseline,
    max_regression: dict[str, float],
    single_run: bool = False,
) -> None:
    """Add ``regression`` to a scored pair entry (in place) and update its ``passed``.

    ``regression`` is ``{metric: {"baseline", "value", "delta", "max", "passed"}}`` for every
    metric both have (``passed`` is None for metrics without a ``max``), or None when the pair
    is not in the baseline.
    """
    pair = PairEntry.from_dict(entry)
    if not pair.scored:
        return
    base = baseline.lookup(pair.prediction, pair.reference, single_run)
    if base is None and single_run:
        raise HrtfevalError(
            f"has no pair {pair.prediction}, {pair.reference} (nor its target) to compare "
            "this run with; give the baseline of these files",
            baseline.name,
        )
    if base is None:
        entry["regression"] = None
    else:
        _check_pair_spec(entry, base, baseline)
        old = PairEntry.from_dict(base).scores()
        entry["regression"] = {
            m: _delta(
                float(old[m].overall), float(s.overall), max_regression.get(m), m in SIGNED_METRICS
            )
            for m, s in pair.scores().items()
            if m in old
        }
    entry["passed"] = pair_passed(entry)


def _delta(
    baseline: float, value: float, limit: float | None, signed: bool = False
) -> dict[str, Any]:
    """One regression record: the change from ``baseline`` to ``value`` and, with a limit, whether
    it stays within it (smaller is better for every metric, so only growth can fail). For a
    signed metric (``signed``) the change is that of the sizes, ``|value| - |baseline|``, and the
    record says so (``"of": "|value|"``)."""
    delta = abs(value) - abs(baseline) if signed else value - baseline
    out: dict[str, Any] = {
        "baseline": baseline,
        "value": value,
        "delta": delta,
        "max": limit,
        "passed": None if limit is None else delta <= limit,
    }
    if signed:
        out["of"] = "|value|"
    return out


def regression_block(
    entries: list[dict[str, Any]], baseline_name: str, max_regression: dict[str, float]
) -> dict[str, Any]:
    """The document's ``regression`` block from annotated pair entries.

    ``aggregate[m]`` compares the mean over the pairs found in the baseline with the baseline's
    mean over the same pairs (so a shard is compared with the matching part of a full run);
    ``missing`` lists the scored pairs that the baseline does not have; ``regressed`` lists
    the pairs with a failing regression check; ``passed`` is the verdict of the aggregate checks
    (None without ``--max-regression``).
    """
    pairs = [PairEntry.from_dict(e) for e in entries]
    matched = [e for e in pairs if e.regression]
    scored = [e for e in pairs if e.scored]
    if scored and not matched:
        shown = ", ".join(e.reference for e in scored[:3])
        more = f" and {len(scored) - 3} more" if len(scored) > 3 else ""
        raise HrtfevalError(
            f"has none of the run's {len(scored)} scored pair(s) ({shown}{more}), so nothing "
            "can be compared; give the baseline of these pairs",
            baseline_name,
        )
    metrics: list[str] = []
    for e in matched:
        metrics += [m for m in e.regression or {} if m not in metrics]
    agg = {}
    for m in metrics:
        rows = [(e.regression or {})[m] for e in matched if m in (e.regression or {})]
        # A signed metric: the mean of the pairs' sizes (opposite biases must not cancel).
        b = math.fsum(error_size(m, r["baseline"]) for r in rows) / len(rows)
        v = math.fsum(error_size(m, r["value"]) for r in rows) / len(rows)
        agg[m] = {**_delta(b, v, max_regression.get(m), m in SIGNED_METRICS), "n": len(rows)}
    checks = [a["passed"] for a in agg.values() if a["passed"] is not None]
    failed = {
        e.key: [m for m, r in (e.regression or {}).items() if r["passed"] is False] for e in matched
    }
    return {
        "baseline": baseline_name,
        "max": dict(max_regression),
        "aggregate": agg,
        "missing": [
            {"prediction": e.prediction, "target": e.reference}
            for e in scored
            if e.regression is None
        ],
        "regressed": [
            {"prediction": e.prediction, "target": e.reference, "metrics": failed[e.key]}
            for e in matched
            if failed[e.key]
        ],
        "passed": verdict(checks),
    }
