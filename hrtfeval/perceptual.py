"""The perceptual tier of a score: QE, PE and EB of the localisation model as metric scores.

Turns a :class:`~hrtfeval.localisation.LocalisationResult` into the
:class:`~hrtfeval.scoring.MetricScore` rows every renderer knows, with ``baseline``, ``delta``
and (for several lateral angles) ``by_lateral``; and says in words what was computed for the
output's ``spec``. The maths is in :mod:`hrtfeval.localisation`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .constants import LOCALISATION as LOCALISATION_METRICS
from .errors import HrtfevalError
from .metrics import Field

#: The units of the localisation metrics (a live view of the registry, :mod:`hrtfeval.metrics`).
UNITS = Field("unit", "localisation")


def lateral_key(value: float) -> str:
    """``-30.0`` -> ``"-30"``: the key of a lateral angle in ``by_lateral``."""
    return f"{float(value):g}"


def _filled_rates(pred, ref, notes: list[str]):
    """The two sets, a missing sampling rate taken from the other set (with a note)."""
    if pred.sampling_rate is None and ref.sampling_rate is not None:
        notes.append(
            f"localisation: the prediction's sampling rate is the reference's, "
            f"{ref.sampling_rate:g} Hz"
        )
        pred = replace(pred, sampling_rate=ref.sampling_rate)
    elif ref.sampling_rate is None and pred.sampling_rate is not None:
        notes.append(
            f"localisation: the reference's sampling rate is the prediction's, "
            f"{pred.sampling_rate:g} Hz"
        )
        ref = replace(ref, sampling_rate=pred.sampling_rate)
    return pred, ref


def localisation_result(aligned, options, notes: list[str] | None = None):
    """The model on the pair's sets as read (each keeps its own grid)."""
    from .localisation import predict

    pred, ref = aligned.originals or (aligned.prediction, aligned.reference)
    pred, ref = _filled_rates(pred, ref, notes if notes is not None else [])
    return predict(
        pred, ref, laterals=options.laterals, sensitivity=options.sensitivity, dtf=options.dtf
    )


def localisation_scores(aligned, options, notes: list[str] | None = None) -> dict[str, Any]:
    """``{metric: MetricScore}`` for the localisation metrics in ``options.metrics``."""
    from .scoring import MetricScore

    wanted = [m for m in options.metrics if m in LOCALISATION_METRICS]
    if not wanted:
        return {}
    result = localisation_result(aligned, options, notes)
    thresholds = options.threshold_map
    out = {}
    for m in wanted:
        overall, base = result.prediction.value(m), result.baseline.value(m)
        if overall is None or base is None:
            raise HrtfevalError(
                "the elevation bias (eb) counts only targets below 80 deg polar angle, and the "
                "sagittal plane at lateral "
                + ", ".join(lateral_key(x) for x in result.laterals)
                + " deg has none",
                aligned.prediction.path if overall is None else aligned.reference.path,
            )
        by_lateral = None
        if len(result.laterals) > 1:
            pred_by, base_by = result.prediction.by_lateral(m), result.baseline.by_lateral(m)
            by_lateral = {
                lateral_key(lam): {
                    "overall": pred_by[lam],
                    "baseline": base_by[lam],
                    "delta": None
                    if pred_by[lam] is None or base_by[lam] is None
                    else pred_by[lam] - base_by[lam],
                }
                for lam in result.laterals
            }
        score = MetricScore(
            m,
            UNITS[m],
            None,
            None,
            overall,
            baseline=base,
            delta=overall - base,
            by_lateral=by_lateral,
        )
        check = thresholds.get(m)
        if check is not None:
            score.threshold = check.limit
            score.passed = check.passes(overall, m)
        out[m] = score
    return out


def localisation_spec(options) -> dict[str, Any] | None:
    """The ``spec.localisation`` block (model, parameters, DTF on/off), or None when not scored."""
    if not any(m in LOCALISATION_METRICS for m in options.metrics):
        return None
    from .localisation import model_parameters

    return {
        "lateral_deg": [float(x) for x in options.laterals],
        **model_parameters(options.sensitivity, options.dtf),
        "overall": "mean over the targets of all lateral sectors (each sector weighted by its "
        "target count); baseline: REF as the targets; delta = overall - baseline",
    }


def spec_line(localisation: dict[str, Any]) -> str:
    """One line for the table headers: the model, lateral angles, sensitivity, DTF on/off."""
    return (
        "localisation model Baumgartner 2014 (lateral "
        + ", ".join(f"{x:g}" for x in localisation["lateral_deg"])
        + f" deg, sensitivity {localisation['sensitivity']:g}, "
        f"DTF {'on' if localisation['dtf'] else 'off'}; baseline = reference as targets)"
    )


def definitions() -> dict[str, str]:
    """One-line definitions of the localisation metrics (qe, pe, eb) for the output's
    ``spec.definitions``, from their registry entries."""
    return dict(Field("definition", "localisation"))
