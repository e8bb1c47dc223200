"""The result model: thresholds as data, scores, pair entries and batch documents, verdicts.

One schema for what hrtfeval writes: scoring builds :class:`PairScore`, a batch run and ``merge``
build :class:`BatchDocument`, and every verdict (a metric's pass, a pair's ``passed``, a
batch's exit code) is decided by :mod:`.verdicts`.
"""

from __future__ import annotations

from .document import BatchDocument, PairEntry, pair_entry
from .scores import (
    MetricScore,
    PairScore,
    PerDirection,
    entry_key,
    pair_names,
    reference_name,
)
from .spec import Spec
from .verdicts import (
    OPS,
    Threshold,
    error_size,
    exit_code,
    pair_passed,
    pair_verdict,
    region_checks,
    rule_op,
    threshold_rule,
    thresholds_of,
    verdict,
)

__all__ = [
    "OPS",
    "BatchDocument",
    "MetricScore",
    "PairEntry",
    "PairScore",
    "PerDirection",
    "Spec",
    "Threshold",
    "entry_key",
    "error_size",
    "exit_code",
    "pair_entry",
    "pair_names",
    "pair_passed",
    "pair_verdict",
    "reference_name",
    "region_checks",
    "rule_op",
    "threshold_rule",
    "thresholds_of",
    "verdict",
]
