"""The keys of a spec: which describe a run, which decide the numbers, and how two specs differ."""

from __future__ import annotations

import json
from typing import Any

from ..metrics import names

#: Batch-``spec`` keys that describe one run rather than how pairs are scored: ``merge`` accepts
#: shards that differ in these, and no comparison looks at them.
RUN_SPEC_KEYS = (
    "device",
    "source",
    "shard",
    "missing_shards",
    "ignore_unmatched",
    "timeout_s",
    "notes",
    "max_memory_bytes",  # --max-memory: refuses a pair or not, never changes a number
)
#: Further batch-``spec`` keys that do not change a metric's value: the checks, the metric list,
#: the pair count, the version and kind of document. Every other key of a batch spec decides the
#: numbers (a new option is number-changing unless listed here or in :data:`RUN_SPEC_KEYS`).
NOT_SCORING_SPEC_KEYS = RUN_SPEC_KEYS + ("thresholds", "metrics", "pairs_total", "hrtfeval", "kind")
#: The batch-``spec`` keys of today's options that decide the numbers (the complement of
#: :data:`NOT_SCORING_SPEC_KEYS` for the options hrtfeval has). Several are present only when
#: set (``ignore_delay``, ``exclude``, ``weighting``, ``bands``, ``regions``, ``max_missing``,
#: ``localisation``): presence is compared too. ``definitions`` is compared per metric.
SCORING_SPEC_KEYS = (
    "band_hz",
    "n_fft",
    "domain",
    "reduction",
    "epsilon",
    "itd_method",
    "length_policy",
    "preset",
    "tolerance_deg",
    "allow_missing",
    "max_missing",
    "exclude_silent",
    "ignore_delay",
    "exclude",
    "weighting",
    "bands",
    "regions",
    "region_tolerance_deg",
    "localisation",
)
#: Facts of one scored pair (its spec in a batch, the spec of a single-pair document) that decide
#: its numbers: FFT length and bins scored, rmse/mae domain, matching tolerance, whether the
#: ``Data.Delay`` of each file was applied, the sampling rate, how many directions were scored and
#: left out. Compared only where both documents state them.
PAIR_FACTS = (
    "n_fft",
    "bins",
    "domain",
    "sampling_rate",
    "directions.tolerance_deg",
    "directions.matched",
    "directions.excluded",
    "prediction.delay_applied",
    "reference.delay_applied",
)


def scoring_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The keys of a batch spec that decide the numbers (all but :data:`NOT_SCORING_SPEC_KEYS`)."""
    return {k: v for k, v in spec.items() if k not in NOT_SCORING_SPEC_KEYS}


def options_view(spec: dict[str, Any], single: bool) -> dict[str, Any]:
    """The :data:`SCORING_SPEC_KEYS` of a spec as a batch spec states them.

    A single-pair spec holds some options elsewhere or in another form (the resolved weighting,
    the region definitions, ``directions.max_missing_fraction``); they are mapped to the batch
    form. ``n_fft`` and ``domain`` of a single-pair spec are the values used for the pair, not
    the options: they are left out there (the pair facts compare them).
    """
    if not single:
        return {k: spec.get(k) for k in SCORING_SPEC_KEYS}
    directions = spec.get("directions") or {}
    regions = spec.get("regions") or None
    view = {
        k: spec.get(k)
        for k in SCORING_SPEC_KEYS
        if k not in ("n_fft", "domain", "weighting", "regions", "region_tolerance_deg")
    }
    view["tolerance_deg"] = directions.get("tolerance_deg")
    view["max_missing"] = directions.get("max_missing_fraction")
    view["allow_missing"] = None  # not stated in a single-pair spec (max_missing is)
    weighting = spec.get("weighting")
    view["weighting"] = weighting.get("scheme") if isinstance(weighting, dict) else weighting
    view["regions"] = None if regions is None else sorted(regions.get("definitions") or {})
    view["region_tolerance_deg"] = (
        regions.get("tolerance_deg")
        if regions is not None and regions.get("tolerance") == "--region-tolerance"
        else None
    )
    return view


def spec_differences(a: dict[str, Any], b: dict[str, Any], keys=None) -> list[str]:
    """The keys (all of both, or ``keys``) whose values differ between two specs; dotted keys
    (``"reference.delay_applied"``) look into nested objects."""
    keys = sorted(a.keys() | b.keys()) if keys is None else keys
    return [k for k in keys if _dotted(a, k) != _dotted(b, k)]


def _dotted(spec: Any, key: str) -> Any:
    for part in key.split("."):
        spec = spec.get(part) if isinstance(spec, dict) else None
    return spec


def _differences_text(keys: list[str], base: dict, run: dict) -> str:
    return "; ".join(
        f"{k}: {json.dumps(_dotted(base, k))} in the baseline, {json.dumps(_dotted(run, k))} here"
        for k in keys
    )


def _scored_metrics(doc_or_spec: dict[str, Any]) -> set[str]:
    spec = doc_or_spec.get("spec", doc_or_spec)
    if isinstance(spec.get("metrics"), list):
        return set(spec["metrics"])
    return set(doc_or_spec.get("scores") or {})


def _comparable_keys(keys, base_metrics: set[str], run_metrics: set[str]) -> list[str]:
    """``keys`` without those that no metric scored by both documents depends on."""
    both = base_metrics & run_metrics
    skip = set()
    if "itd" not in both:
        skip.add("itd_method")
    if not both & set(names("time-or-spectral")):
        skip.add("domain")
    if not both & set(names("spectral", "time-or-spectral")):
        skip |= {"band_hz", "n_fft", "bins"}
    # qe/pe/eb: each set on its own grid
    if not both & set(names("spectral", "time-or-spectral", "interaural")):
        skip |= {"tolerance_deg", "allow_missing", "max_missing", "directions.tolerance_deg"}
    return [k for k in keys if k not in skip]


def _definition_keys(a: dict[str, Any], b: dict[str, Any], metrics) -> list[str]:
    """``definitions.<metric>`` for the metrics both specs define."""
    return [
        f"definitions.{m}"
        for m in sorted(metrics)
        if _dotted(a, f"definitions.{m}") is not None and _dotted(b, f"definitions.{m}") is not None
    ]
