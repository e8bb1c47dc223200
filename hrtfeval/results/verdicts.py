"""Thresholds as data and every verdict: a metric's pass, a pair's passed, a batch's exit code.

The one place a check is decided. Scoring (:func:`hrtfeval.scoring.reduce_pair`), the gates
(``--fail-above`` on a stored document, the baseline), the regions, the renderers and the JUnit
XML all ask these functions; a document read from disk states its thresholds as a rule sentence
(``"passes when value < limit"``), which :meth:`Threshold.from_spec` is the one place to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..constants import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, SIGNED_METRICS

#: The comparisons a threshold may make: ``value < limit`` (the LAP challenge thresholds) or
#: ``value <= limit`` (``--fail-above``: only a value *above* the limit fails).
OPS = ("<", "<=")
#: The operator of a stored rule sentence: the comparison right before ``limit``.
_RULE_OP = re.compile(r"(<=|<)\s*limit\s*$")


def error_size(metric: str, value: float) -> float:
    """The error that checks and comparisons use: ``|value|`` for a signed metric
    (:data:`hrtfeval.constants.SIGNED_METRICS`), else ``value``."""
    return abs(value) if metric in SIGNED_METRICS else value


def threshold_rule(metric: str, op: str = "<=") -> str:
    """The ``rule`` text of a threshold on ``metric`` (``|value|`` for a signed metric)."""
    value = "|value|" if metric in SIGNED_METRICS else "value"
    return f"passes when {value} {op} limit"


def rule_op(rule: Any) -> str:
    """The operator (``<`` or ``<=``) of a stored threshold ``rule``: the sentence of
    :func:`threshold_rule` or the bare operator; ``<=`` when there is none."""
    text = str(rule or "").strip()
    if text in OPS:
        return text
    found = _RULE_OP.search(text)
    return found.group(1) if found else "<="


@dataclass(frozen=True)
class Threshold:
    """A check on a metric's overall value, stored as data.

    ``op="<"`` passes when ``value < limit`` (LAP challenge thresholds); ``op="<="`` passes
    when ``value <= limit`` (``--fail-above``). ``source`` names where it came from (``lap``,
    ``fail-above``); ``replaces`` is the preset's threshold that ``--fail-above`` replaced.
    """

    limit: float
    op: str = "<="
    source: str = "fail-above"
    replaces: Threshold | None = None

    def passes(self, value: float, metric: str = "") -> bool:
        """Whether ``value`` of ``metric`` passes (a signed metric is checked by ``|value|``;
        ``metric`` may be ``REGION.METRIC``)."""
        size = error_size(metric.rpartition(".")[2], value)
        return size < self.limit if self.op == "<" else size <= self.limit

    def rule(self, metric: str = "") -> str:
        """The rule sentence stored in a document (``"passes when value < limit"``)."""
        return threshold_rule(metric.rpartition(".")[2], self.op)

    def shown(self, metric: str) -> str:
        """The check for people: ``lsd < 7.4``."""
        return f"{metric} {self.op} {self.limit:g}"

    def to_spec(self, metric: str = "") -> dict[str, Any]:
        """The threshold on ``metric`` as stored in an output's ``spec.thresholds``."""
        out: dict[str, Any] = {
            "limit": self.limit,
            "rule": self.rule(metric),
            "source": self.source,
        }
        if self.replaces is not None:
            out["replaces"] = self.replaces.to_spec(metric)
        return out

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Threshold:
        """A threshold as stored in a document's ``spec.thresholds`` (the inverse of
        :meth:`to_spec`)."""
        old = spec.get("replaces")
        return cls(
            float(spec["limit"]),
            rule_op(spec.get("rule")),
            str(spec.get("source", "fail-above")),
            cls.from_spec(old) if isinstance(old, dict) else None,
        )


def thresholds_of(spec: dict[str, Any] | None) -> dict[str, Threshold]:
    """The thresholds of a document's spec, by metric (``REGION.METRIC`` for a region check)."""
    return {
        m: Threshold.from_spec(t)
        for m, t in ((spec or {}).get("thresholds") or {}).items()
        if isinstance(t, dict) and "limit" in t
    }


def verdict(checks: Iterable[bool | None]) -> bool | None:
    """The verdict of several checks: None when none was made, else whether all passed."""
    made = [c for c in checks if c is not None]
    return all(made) if made else None


def region_checks(regions: dict[str, Any] | None) -> list[bool]:
    """The verdicts of the region checks of a pair's ``regions`` block."""
    return [
        s["passed"]
        for r in (regions or {}).values()
        for s in r.get("scores", {}).values()
        if s.get("passed") is not None
    ]


def pair_verdict(
    scores: Iterable[bool | None],
    regression: dict[str, Any] | None = None,
    regions: dict[str, Any] | None = None,
) -> bool | None:
    """A pair's verdict over all its checks: its metrics' thresholds (``scores``: their
    ``passed``), its regression checks and its region checks; None without checks."""
    checks = list(scores)
    checks += [r.get("passed") for r in (regression or {}).values()]
    checks += region_checks(regions)
    return verdict(checks)


def pair_passed(entry: dict[str, Any]) -> bool | None:
    """:func:`pair_verdict` of a pair entry (or a single-pair document)."""
    return pair_verdict(
        (s.get("passed") for s in entry.get("scores", {}).values()),
        entry.get("regression"),
        entry.get("regions"),
    )


def exit_code(doc: dict[str, Any]) -> int:
    """2 when a pair errored or a file had no partner (unless ignored), else 1 when a check
    failed (a pair's threshold or regression, or the aggregate regression), else 0."""
    if "pairs" not in doc:
        return EXIT_CHECK_FAILED if doc.get("passed") is False else EXIT_OK
    counts = doc["counts"]
    if counts["errors"] or (counts["unmatched"] and not doc["spec"].get("ignore_unmatched")):
        return EXIT_BAD_INPUT
    if counts["failed"] or (doc.get("regression") or {}).get("passed") is False:
        return EXIT_CHECK_FAILED
    return EXIT_OK
