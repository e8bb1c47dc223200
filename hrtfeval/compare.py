"""Compare two batch documents pair by pair: paired differences, bootstrap intervals, Wilcoxon.

``hrtfeval compare A.json B.json`` answers "is model B better than model A on these subjects?"
from two batch documents that scored the same pairs with the same options. Every hrtfeval
metric is an error (smaller is better), so the paired difference ``d = B - A`` is *positive when
B is worse*.

Per metric the document holds (see :func:`compare_documents`):

* ``mean_a``, ``mean_b``: the mean over the pairs of each document's overall values;
* ``mean_diff``, ``median_diff``: mean and median of ``d``, each with a percentile bootstrap
  confidence interval (``scipy.stats.bootstrap``, pairs resampled together, seeded);
* ``p_two_sided``: the Wilcoxon signed-rank test of ``d`` (``scipy.stats.wilcoxon``,
  ``alternative="two-sided"``, zero differences dropped), and ``p_b_worse`` (the one-sided
  ``alternative="greater"``: B's errors are larger), which ``--fail-if-worse`` checks;
* ``better`` / ``worse`` / ``equal``: how many pairs went down / up / stayed;
* ``worst``: the pairs with the largest increase.

Pure functions of the two documents; scipy is imported only when the statistics are computed.
"""

from __future__ import annotations

import math
import statistics
import warnings
from typing import Any

from .errors import HrtfevalError
from .gates import PAIR_FACTS, SIGNED_METRICS, _dotted, scoring_spec
from .results import entry_key, error_size, reference_name

#: Bootstrap resamples of the paired differences (percentile method).
DEFAULT_RESAMPLES = 10000
#: Seed of the bootstrap's random generator (``numpy.random.default_rng``).
DEFAULT_SEED = 0
#: Confidence level of the bootstrap intervals.
CONFIDENCE = 0.95
#: Significance level of ``--fail-if-worse``.
DEFAULT_ALPHA = 0.05
#: Pairs listed under ``worst`` per metric.
DEFAULT_WORST = 5


def _scoring_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """What must agree between the two documents: the number-changing keys
    (:func:`hrtfeval.gates.scoring_spec`) and the metric list (each metric is compared)."""
    return {**scoring_spec(spec), "metrics": spec.get("metrics")}


def check_comparable(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> None:
    """Raise unless ``a`` and ``b`` are batch documents scored with the same options.

    Raises
    ------
    HrtfevalError
        A document is not a batch document, or the scoring specs differ (the message names the
        differing spec keys and both values).
    """
    for doc, name in zip((a, b), names):
        if not isinstance(doc, dict) or "pairs" not in doc or "spec" not in doc:
            raise HrtfevalError(
                "is not a batch document of 'hrtfeval score' (no 'pairs'); compare takes two "
                "batch documents (two directories or --pairs, --format json or jsonl)",
                name,
            )
    sa, sb = _scoring_spec(a["spec"]), _scoring_spec(b["spec"])
    if sa != sb:
        keys = sorted(k for k in sa.keys() | sb.keys() if sa.get(k) != sb.get(k))
        shown = "; ".join(f"{k}: {sa.get(k)!r} vs {sb.get(k)!r}" for k in keys[:3])
        more = f" (and {len(keys) - 3} more)" if len(keys) > 3 else ""
        raise HrtfevalError(
            f"was scored with other options than {names[0]} (spec differs in "
            f"{', '.join(keys)}: {shown}{more}); score both models with the same options",
            names[1],
        )


def pair_up(
    a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The entries of ``a`` and ``b`` for the same pairs, in ``a``'s sorted order.

    Pairs are matched by (prediction, target) names; when those differ (two models' files named
    differently) but every target name is unique in both documents, by target name.

    Raises
    ------
    HrtfevalError
        The documents do not hold the same pairs, a pair was not scored in one of them, or a
        pair's facts (matched directions, bins, domain) differ.
    """
    ea, eb = list(a["pairs"]), list(b["pairs"])
    keyed = None
    for key in (entry_key, reference_name):
        ka = {key(e): e for e in ea}
        kb = {key(e): e for e in eb}
        if len(ka) == len(ea) and len(kb) == len(eb) and ka.keys() == kb.keys():
            keyed = (ka, kb)
            break
    if keyed is None:
        by_a = {reference_name(e): e for e in ea}
        by_b = {reference_name(e): e for e in eb}
        only_a = sorted(by_a.keys() - by_b.keys())
        only_b = sorted(by_b.keys() - by_a.keys())
        parts = []
        for side, only in ((names[0], only_a), (names[1], only_b)):
            if only:
                more = f" … and {len(only) - 5} more" if len(only) > 5 else ""
                parts.append(f"only in {side}: {', '.join(only[:5])}{more}")
        detail = "; ".join(parts) or "the pair names cannot be matched one to one"
        raise HrtfevalError(
            f"the documents do not hold the same pairs ({detail}); compare runs on the same pairs"
        )
    ka, kb = keyed
    out = []
    for k in sorted(ka, key=lambda k: entry_key(ka[k])):
        x, y = ka[k], kb[k]
        for entry, name in ((x, names[0]), (y, names[1])):
            if "scores" not in entry:
                raise HrtfevalError(
                    f"the pair {entry['prediction']}, {reference_name(entry)} was not scored "
                    f"({entry.get('error', 'no scores')}); compare needs every pair scored in both",
                    name,
                )
        _check_pair_facts(x, y, names)
        out.append((x, y))
    return out


def _check_pair_facts(x: dict[str, Any], y: dict[str, Any], names: tuple[str, str]) -> None:
    sx, sy = x.get("spec") or {}, y.get("spec") or {}
    diffs = [
        k for k in PAIR_FACTS if k != "directions.matched" and _dotted(sx, k) != _dotted(sy, k)
    ]
    mx = (sx.get("directions") or {}).get("matched")
    my = (sy.get("directions") or {}).get("matched")
    if mx != my:
        diffs.insert(0, f"matched directions {mx} vs {my}")
    for m in x["scores"].keys() & y["scores"].keys():
        if x["scores"][m].get("unit") != y["scores"][m].get("unit"):
            diffs.append(
                f"{m} unit {x['scores'][m].get('unit')!r} vs {y['scores'][m].get('unit')!r}"
            )
    if diffs:
        raise HrtfevalError(
            f"the pair {reference_name(x)} was scored differently in {names[0]} and {names[1]} "
            f"({'; '.join(diffs)}); its values cannot be compared"
        )


def paired_statistics(
    a_values,
    b_values,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Statistics of the paired differences ``d = b - a`` (positive: b is worse).

    Parameters
    ----------
    a_values, b_values : sequence of float, length n >= 2
        The two models' values on the same n pairs, in the same order.
    n_resamples : int
        Bootstrap resamples (``scipy.stats.bootstrap``, ``paired=True``, percentile method).
    seed : int
        Seed of ``numpy.random.default_rng`` for the bootstrap: equal inputs give equal intervals.
    confidence : float
        Confidence level of the intervals (0.95 = 95 %).

    Returns
    -------
    dict
        ``n``, ``mean_a``, ``mean_b``, ``mean_diff``, ``mean_diff_ci`` [low, high],
        ``median_diff``, ``median_diff_ci``, ``p_two_sided``, ``p_b_worse``, ``better``,
        ``worse``, ``equal``.
    """
    import numpy as np
    from scipy import stats as st

    a = np.asarray(a_values, dtype=np.float64)
    b = np.asarray(b_values, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need two equal 1-D sequences; got {a.shape} and {b.shape}")
    n = int(a.size)
    if n < 2:
        raise HrtfevalError(f"comparing needs at least 2 scored pairs (paired statistics); got {n}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise HrtfevalError("a value to compare is not finite; check the documents")
    d = b - a

    def boot(statistic):
        with warnings.catch_warnings():
            # Identical differences give a degenerate (zero-width) interval: right, not a problem.
            warnings.simplefilter("ignore")
            res = st.bootstrap(
                (a, b),
                statistic,
                n_resamples=int(n_resamples),
                paired=True,
                vectorized=True,
                confidence_level=confidence,
                method="percentile",
                rng=np.random.default_rng(seed),
            )
        ci = res.confidence_interval
        return [float(ci.low), float(ci.high)]

    def mean_diff(x, y, axis=-1):
        return np.mean(y - x, axis=axis)

    def median_diff(x, y, axis=-1):
        return np.median(y - x, axis=axis)

    nonzero = int(np.count_nonzero(d))
    if nonzero:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_two = float(st.wilcoxon(d, alternative="two-sided").pvalue)
            p_worse = float(st.wilcoxon(d, alternative="greater").pvalue)
    else:  # no pair changed: no evidence of any difference
        p_two = p_worse = 1.0
    return {
        "n": n,
        "mean_a": math.fsum(a.tolist()) / n,
        "mean_b": math.fsum(b.tolist()) / n,
        "mean_diff": math.fsum(d.tolist()) / n,
        "mean_diff_ci": boot(mean_diff),
        "median_diff": float(statistics.median(d.tolist())),
        "median_diff_ci": boot(median_diff),
        "p_two_sided": p_two,
        "p_b_worse": p_worse,
        "better": int(np.sum(d < 0)),
        "worse": int(np.sum(d > 0)),
        "equal": int(np.sum(d == 0)),
    }


def compare_documents(
    a: dict[str, Any],
    b: dict[str, Any],
    names: tuple[str, str] = ("A", "B"),
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    alpha: float = DEFAULT_ALPHA,
    fail_if_worse: bool = False,
    worst: int = DEFAULT_WORST,
) -> dict[str, Any]:
    """The comparison document of two batch documents (``d = B - A`` per pair and metric).

    Parameters
    ----------
    a, b : dict
        Batch documents (:func:`hrtfeval.gates.load_document`) of the same pairs and options.
    names : (str, str)
        What ``a`` and ``b`` are called in the output and in messages (their file names).
    n_resamples, seed : int
        Bootstrap resamples and seed (:func:`paired_statistics`).
    alpha : float
        Significance level: a metric is ``significantly_worse`` when ``p_b_worse < alpha``.
    fail_if_worse : bool
        Make ``passed`` the verdict "no metric significantly worse" (else ``passed`` is None).
    worst : int
        How many of the largest increases to list per metric.

    Returns
    -------
    dict
        ``{"spec": {...}, "metrics": {m: {...}}, "passed": bool | None}``.

    Raises
    ------
    HrtfevalError
        The documents cannot be compared (see :func:`check_comparable`, :func:`pair_up`).
    """
    if not (0 < alpha < 1):
        raise HrtfevalError(f"--alpha must be between 0 and 1; got {alpha:g}")
    if n_resamples < 100:
        raise HrtfevalError(f"--resamples must be at least 100; got {n_resamples}")
    if worst < 0:
        raise HrtfevalError(f"--worst must be >= 0; got {worst}")
    check_comparable(a, b, names)
    pairs = pair_up(a, b, names)
    metrics = list(a["spec"].get("metrics") or [])
    out: dict[str, Any] = {}
    for m in metrics:
        rows = [(x, y) for x, y in pairs if m in x["scores"] and m in y["scores"]]
        # A signed metric (eb) is compared by its size: a larger |bias| is worse.
        va = [error_size(m, float(x["scores"][m]["overall"])) for x, _ in rows]
        vb = [error_size(m, float(y["scores"][m]["overall"])) for _, y in rows]
        st = paired_statistics(va, vb, n_resamples=n_resamples, seed=seed)
        deltas = sorted(
            ((vb[i] - va[i], i) for i in range(len(rows)) if vb[i] > va[i]), reverse=True
        )[:worst]
        unit = rows[0][0]["scores"][m].get("unit") if rows else None
        out[m] = {
            "unit": unit,
            **st,
            "significantly_worse": st["p_b_worse"] < alpha,
            "worst": [
                {
                    "prediction_a": rows[i][0]["prediction"],
                    "prediction_b": rows[i][1]["prediction"],
                    "target": reference_name(rows[i][0]),
                    "a": va[i],
                    "b": vb[i],
                    "delta": delta,
                }
                for delta, i in deltas
            ],
        }
    passed = None
    if fail_if_worse:
        passed = not any(r["significantly_worse"] for r in out.values())
    spec = {
        "kind": "compare",
        "a": names[0],
        "b": names[1],
        "pairs": len(pairs),
        "metrics": metrics,
        "difference": "d = B - A per pair, of the pairs' overall values; every metric is an "
        "error (smaller is better), so d > 0 means B is worse; a signed metric "
        f"({', '.join(SIGNED_METRICS)}) is compared by |value|",
        "bootstrap": {
            "statistics": "mean and median of d",
            "method": "percentile, pairs resampled together (scipy.stats.bootstrap, paired=True)",
            "resamples": int(n_resamples),
            "confidence": CONFIDENCE,
            "seed": int(seed),
            "rng": "numpy.random.default_rng(seed)",
        },
        "wilcoxon": {
            "test": "scipy.stats.wilcoxon on d (signed-rank; zero_method='wilcox': zero "
            "differences dropped; method='auto')",
            "p_two_sided": "alternative='two-sided': B differs from A",
            "p_b_worse": "alternative='greater': B's errors are larger than A's",
        },
        "alpha": alpha,
        "fail_if_worse": (
            f"fails when p_b_worse < {alpha:g} on any metric" if fail_if_worse else None
        ),
        "scoring": _scoring_spec(a["spec"]),
    }
    return {"spec": spec, "metrics": out, "passed": passed}
