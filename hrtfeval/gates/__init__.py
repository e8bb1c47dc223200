"""CI gates on score documents: thresholds, regression against a baseline, exit code.

Everything here works on the JSON documents (single-pair or batch) as plain dictionaries, so a
run, a merge of shards and a later re-check of a stored document all apply the same rules.

Regression: a metric's value *grew* when ``value - baseline > 0`` (every hrtfeval metric is an
error, smaller is better). A check with ``--max-regression lsd=0.2`` passes when
``value - baseline <= 0.2``. Pairs are looked up in the baseline by their (prediction, target)
names, then by target name alone when it is unique there (so a ``--pairs`` CSV naming another
model's files still finds its baseline); a single-pair run against a single-pair baseline
compares the two whatever the file names.

The package: :mod:`.documents` (reading and checking a document), :mod:`.specs` (spec keys and
their comparison), :mod:`.baseline` (regression), :mod:`.fail_above` (checks added to a stored
document); the verdicts and the exit code are :mod:`hrtfeval.results`' (re-exported here). The
JUnit XML is rendered by :mod:`hrtfeval.render.junit` (re-exported here).
"""

from __future__ import annotations

from ..constants import SIGNED_METRICS
from ..results import error_size, exit_code, pair_passed, threshold_rule
from .baseline import (
    Baseline,
    _delta,
    annotate_pair,
    check_baseline_spec,
    check_regression_options,
    regression_block,
)
from .documents import (
    is_batch,
    load_document,
    validate_document,
)
from .fail_above import apply_fail_above
from .specs import (
    NOT_SCORING_SPEC_KEYS,
    PAIR_FACTS,
    RUN_SPEC_KEYS,
    SCORING_SPEC_KEYS,
    _dotted,
    options_view,
    scoring_spec,
    spec_differences,
)


def __getattr__(name: str):
    # The JUnit renderer lives in hrtfeval.render.junit, which imports this package: loaded on
    # first use so that the two can import each other.
    if name in ("junit_cases", "junit_xml"):
        from ..render import junit

        return getattr(junit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "_delta",
    "_dotted",
    "annotate_pair",
    "apply_fail_above",
    "Baseline",
    "check_baseline_spec",
    "check_regression_options",
    "error_size",
    "exit_code",
    "is_batch",
    "junit_cases",
    "junit_xml",
    "load_document",
    "NOT_SCORING_SPEC_KEYS",
    "options_view",
    "PAIR_FACTS",
    "pair_passed",
    "regression_block",
    "RUN_SPEC_KEYS",
    "scoring_spec",
    "SCORING_SPEC_KEYS",
    "SIGNED_METRICS",
    "spec_differences",
    "threshold_rule",
    "validate_document",
]
