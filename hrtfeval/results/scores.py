"""The result of scoring one pair: each metric's score and the pair's score.

:class:`PairScore` is what :func:`hrtfeval.scoring.score_values` returns; its :meth:`~PairScore.
to_dict` is the single-pair document (and, trimmed by :func:`hrtfeval.batch.make_entry`, a batch
entry). It also keeps the per-direction values the scores were reduced from (not in the JSON),
so that the pictures of ``score --plot`` draw the numbers that were scored without computing them
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..constants import LOCALISATION
from .verdicts import pair_verdict


def pair_names(prediction: str, reference: str) -> dict[str, str]:
    """The names that open a pair's document or entry: ``prediction``, ``reference`` and
    ``target``, the older name of ``reference`` kept for readers of earlier documents."""
    return {"prediction": prediction, "reference": reference, "target": reference}


def reference_name(entry: dict[str, Any]) -> str:
    """The reference file of a pair entry or single-pair document, whether it names it
    ``reference`` (documents since 13) or only ``target`` (earlier ones)."""
    name = entry.get("reference")
    return entry["target"] if name is None else name


def entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    """What pairs are matched and sorted by across documents: (prediction, reference) names."""
    return (entry["prediction"], reference_name(entry))


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

    def to_dict(self) -> dict[str, Any]:
        """The score as stored in a document's ``scores``."""
        out: dict[str, Any] = {
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

    as_dict = to_dict

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> MetricScore:
        """A score as stored in a document (the inverse of :meth:`to_dict`)."""
        return cls(
            name,
            data.get("unit") or "",
            data.get("left"),
            data.get("right"),
            data["overall"],
            data.get("threshold"),
            data.get("passed"),
            data.get("baseline"),
            data.get("delta"),
            data.get("by_lateral"),
        )


@dataclass
class PairScore:
    """The result of scoring one prediction file against one reference file."""

    prediction: str
    reference: str
    spec: dict[str, Any]
    scores: dict[str, MetricScore] = field(default_factory=dict)
    #: Extra blocks after ``passed`` (``bands``, ``regions``): only when asked for.
    extras: dict[str, Any] = field(default_factory=dict)
    #: The per-direction values each spectral and interaural metric was reduced from (tensors
    #: ``(M, 2)`` or ``(M,)``), for pictures of the scored numbers; not part of the document.
    values: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: The pair's :class:`~hrtfeval.represent.SetTensors` (prediction, reference) the values
    #: were computed from; None for a row of a stacked batch or without spectral metrics.
    tensors: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def target(self) -> str:
        """The older name of :attr:`reference`."""
        return self.reference

    @property
    def passed(self) -> bool | None:
        checks = (s.passed for s in self.scores.values())
        return pair_verdict(checks, None, self.extras.get("regions"))

    def to_dict(self) -> dict[str, Any]:
        """The single-pair document."""
        return {
            **pair_names(self.prediction, self.reference),
            "spec": self.spec,
            "scores": {k: v.to_dict() for k, v in self.scores.items()},
            "passed": self.passed,
            **self.extras,
        }

    as_dict = to_dict


@dataclass
class PerDirection:
    """Per-direction errors of one metric: ``values`` (M, 2) per ear, or (M,) for interaural
    cues."""

    metric: str
    unit: str
    values: Any  # torch.Tensor
    positions: np.ndarray | None
    frequencies: np.ndarray | None = None
