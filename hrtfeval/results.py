"""The result model of a scored pair: thresholds, metric scores, the pair's score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constants import LOCALISATION


@dataclass(frozen=True)
class Threshold:
    """A check on a metric's overall value.

    ``rule="<"`` passes when ``value < limit`` (LAP challenge thresholds); ``rule="<="`` passes
    when ``value <= limit`` (``--fail-above``: only a value *above* the limit fails).
    """

    limit: float
    rule: str = "<="
    source: str = "fail-above"
    replaces: Threshold | None = None  # the preset's threshold that --fail-above replaced

    def as_spec(self, metric: str = "") -> dict[str, Any]:
        """The threshold on ``metric`` as stored in an output's ``spec.thresholds``."""
        from .gates import threshold_rule

        out: dict[str, Any] = {
            "limit": self.limit,
            "rule": threshold_rule(metric.rpartition(".")[2], self.rule),
            "source": self.source,
        }
        if self.replaces is not None:
            out["replaces"] = self.replaces.as_spec(metric)
        return out

    def passes(self, value: float, metric: str = "") -> bool:
        """Whether ``value`` of ``metric`` passes (a signed metric is checked by ``|value|``)."""
        from .gates import error_size

        value = error_size(metric, value)
        return value < self.limit if self.rule == "<" else value <= self.limit


@dataclass
class MetricScore:
    """One metric of one pair: per-ear and overall values in ``unit``."""

    name: str
    unit: str
    left: float | None
    right: float | None
    overall: float
    threshold: float | None = None
    passed: bool | None = None
    # Localisation metrics: the model with REF as targets, overall - baseline, per lateral angle.
    baseline: float | None = None
    delta: float | None = None
    by_lateral: dict[str, dict[str, float | None]] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "unit": self.unit,
            "left": self.left,
            "right": self.right,
            "overall": self.overall,
        }
        if self.name in LOCALISATION:
            out["baseline"] = self.baseline
            out["delta"] = self.delta
            if self.by_lateral is not None:
                out["by_lateral"] = self.by_lateral
        out["threshold"] = self.threshold
        out["passed"] = self.passed
        return out


@dataclass
class PairScore:
    """The result of scoring one prediction file against one reference file."""

    prediction: str
    target: str
    spec: dict[str, Any]
    scores: dict[str, MetricScore] = field(default_factory=dict)
    #: Extra blocks after ``passed`` (``bands``, ``regions``): only when asked for.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        checks = [s.passed for s in self.scores.values() if s.passed is not None]
        if "regions" in self.extras:
            from .regions import region_checks

            checks += region_checks(self.extras["regions"])
        return all(checks) if checks else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "prediction": self.prediction,
            "target": self.target,
            "spec": self.spec,
            "scores": {k: v.as_dict() for k, v in self.scores.items()},
            "passed": self.passed,
            **self.extras,
        }


@dataclass
class PerDirection:
    """Per-direction errors of one metric: ``values`` (M, 2) per ear, or (M,) for interaural cues."""

    metric: str
    unit: str
    values: Any  # torch.Tensor
    positions: np.ndarray | None
    frequencies: np.ndarray | None = None
