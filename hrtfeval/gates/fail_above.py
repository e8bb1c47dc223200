"""``--fail-above`` on a stored document: thresholds added after scoring (``merge``, a re-check
of a stored document). The verdicts are those of :mod:`hrtfeval.results.verdicts`."""

from __future__ import annotations

from typing import Any

from ..errors import HrtfevalError
from ..results import Threshold, pair_passed
from .documents import is_batch


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
    checks = {m: Threshold(float(limit)) for m, limit in limits.items()}
    entries = doc["pairs"] if is_batch(doc) else [doc]
    for e in entries:
        for m, check in checks.items():
            if m in e.get("scores", {}):
                s = e["scores"][m]
                s["threshold"] = check.limit
                s["passed"] = check.passes(s["overall"], m)
        if "scores" in e:
            e["passed"] = pair_passed(e)
    thresholds = spec.setdefault("thresholds", {})
    for m, check in checks.items():
        old = thresholds.get(m)
        if old and old.get("source") != "fail-above":  # a preset's threshold, replaced
            check = Threshold(check.limit, replaces=Threshold.from_spec(old))
        thresholds[m] = check.to_spec(m)
