"""Verdicts on score documents: error sizes, threshold rules, --fail-above, exit codes."""

from __future__ import annotations

from typing import Any

from ..constants import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, SIGNED_METRICS
from ..errors import HrtfevalError
from .documents import is_batch

#: Metrics whose value is signed (a bias, e.g. the elevation bias eb in degrees): its size
#: ``|value|`` is the error, so thresholds, regression checks and ``compare`` use ``|value|``.
#: The one home of this fact (scoring, perceptual, compare and the gates ask :func:`error_size`).


def error_size(metric: str, value: float) -> float:
    """The error that checks and comparisons use: ``|value|`` for a signed metric, else ``value``."""
    return abs(value) if metric in SIGNED_METRICS else value


def threshold_rule(metric: str, op: str = "<=") -> str:
    """The ``rule`` text of a threshold on ``metric`` (``|value|`` for a signed metric)."""
    value = "|value|" if metric in SIGNED_METRICS else "value"
    return f"passes when {value} {op} limit"


def pair_passed(entry: dict[str, Any]) -> bool | None:
    """A pair's verdict over all its checks (thresholds and regression); None without checks."""
    checks = [s.get("passed") for s in entry.get("scores", {}).values()]
    checks += [r.get("passed") for r in (entry.get("regression") or {}).values()]
    if entry.get("regions"):
        from ..regions import region_checks

        checks += region_checks(entry["regions"])
    checks = [c for c in checks if c is not None]
    return all(checks) if checks else None


def apply_fail_above(doc: dict[str, Any], limits: dict[str, float]) -> None:
    """Add ``--fail-above METRIC=VALUE`` checks to a stored document (in place): each pair's
    ``scores[m].threshold/passed``, its ``passed`` and the spec's thresholds."""
    if not limits:
        return
    spec = doc.get("spec", {})
    metrics = spec.get("metrics") or list(doc.get("scores", {}))
    region_limits = {m: v for m, v in limits.items() if "." in m}
    if region_limits:
        from ..regions import apply_region_fail_above

        apply_region_fail_above(doc, region_limits)
        limits = {m: v for m, v in limits.items() if "." not in m}
    for m in limits:
        if m not in metrics:
            raise HrtfevalError(
                f"--fail-above names {m!r}, which the document does not score "
                f"(it has {', '.join(metrics)})"
            )
    entries = doc["pairs"] if is_batch(doc) else [doc]
    for e in entries:
        for m, limit in limits.items():
            if m in e.get("scores", {}):
                s = e["scores"][m]
                s["threshold"] = float(limit)
                s["passed"] = error_size(m, s["overall"]) <= float(limit)
        if "scores" in e:
            e["passed"] = pair_passed(e)
    thresholds = spec.setdefault("thresholds", {})
    for m, limit in limits.items():
        old = thresholds.get(m)
        thresholds[m] = {
            "limit": float(limit),
            "rule": threshold_rule(m),
            "source": "fail-above",
        }
        if old and old.get("source") != "fail-above":  # a preset's threshold, replaced
            thresholds[m]["replaces"] = old


def exit_code(doc: dict[str, Any]) -> int:
    """2 when a pair errored or a file had no partner (unless ignored), else 1 when a check
    failed (a pair's threshold or regression, or the aggregate regression), else 0."""
    if not is_batch(doc):
        return EXIT_CHECK_FAILED if doc.get("passed") is False else EXIT_OK
    counts = doc["counts"]
    if counts["errors"] or (counts["unmatched"] and not doc["spec"].get("ignore_unmatched")):
        return EXIT_BAD_INPUT
    if counts["failed"] or (doc.get("regression") or {}).get("passed") is False:
        return EXIT_CHECK_FAILED
    return EXIT_OK
