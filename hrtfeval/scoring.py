"""Score an aligned pair: per-direction errors, their reductions per ear and overall, checks.

The spectral and time-domain metrics are the per-vector values of
:func:`hrtfeval.loss.metric_values` (the ``hrtf_loss`` core), reduced with
:func:`hrtfeval.loss.reduce_values`; so a table printed by the CLI and ``hrtf_loss`` on the same
tensors can never disagree.

The stages live in their own modules, re-exported here: :mod:`hrtfeval.options` (what decides a
score), :mod:`hrtfeval.prepare` (read and align), :mod:`hrtfeval.checks`,
:mod:`hrtfeval.pair_metrics` (per-direction errors), :mod:`hrtfeval.spec`,
:mod:`hrtfeval.results` (the result model).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from .checks import (  # re-exported (__all__)
    apply_silent_policy,
    check_n_fft,
    check_pair_memory,
    check_silent,
)
from .constants import INTERAURAL, LOCALISATION, METRICS
from .errors import HrtfevalError, warnings_about
from .loss import check_option, reduce_values
from .metrics import names
from .options import (
    DOMAINS,
    LAP_DEFINITIONS,
    LAP_THRESHOLDS,
    MAX_N_FFT,
    PRESETS,
    ScoreOptions,
)
from .pair_metrics import (
    _pair_label,
    effective_domain,
    metric_unit,
    per_direction,
)
from .prepare import align_sets, load_aligned
from .results import MetricScore, PairScore, PerDirection, Threshold
from .spec import definitions, spec_dict

#: The metrics computed on the representation --domain picks (rmse, mae).
ON_DOMAIN = names("time-or-spectral")

#: The public names of scoring, those defined here and those re-exported from the modules the
#: pipeline's stages live in (options, per-direction metrics, spec, checks, results).

__all__ = [
    "DOMAINS",
    "INTERAURAL",
    "LAP_DEFINITIONS",
    "LAP_THRESHOLDS",
    "LOCALISATION",
    "MAX_N_FFT",
    "PRESETS",
    "MetricScore",
    "PairScore",
    "PerDirection",
    "ScoreOptions",
    "Threshold",
    "align_sets",
    "apply_silent_policy",
    "check_n_fft",
    "check_pair_memory",
    "check_silent",
    "definitions",
    "direction_weights",
    "effective_domain",
    "load_aligned",
    "localisation_scores",
    "metric_unit",
    "one_cpu_thread",
    "pair_extras",
    "pair_units",
    "per_direction",
    "per_direction_errors",
    "reduce_metrics",
    "reduce_pair",
    "resolve_device",
    "score_aligned",
    "score_files",
    "score_tensors",
    "score_values",
    "scored_errors",
    "spec_dict",
    "spectral_values",
    "tensors_for",
]


def resolve_device(device: str = "auto"):
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N`` -> torch.device."""
    import torch

    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise HrtfevalError(f"--device {device} was asked for, but CUDA is not available here")
        dev = torch.device(text)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise HrtfevalError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are present"
            )
        return dev
    raise HrtfevalError(f"--device must be auto, cpu, cuda or cuda:N; got {device!r}")


def reduce_pair(
    values,
    metric: str,
    unit: str,
    options: ScoreOptions,
    weights=None,
    files: str | None = None,
) -> MetricScore:
    """Per-ear and overall reductions of one pair's per-direction values (M, 2) or (M,).

    ``weights`` (M,) makes every reduction a weighted one (:func:`hrtfeval.weights.weighted_reduce`,
    e.g. the solid-angle weights of ``--weighting area``); None is the plain mean/rms.
    ``files`` names the pair in the error about a non-finite result.
    """
    red, eps = options.reduction, options.epsilon
    reduce: Callable[[Any, str, float], Any] = reduce_values
    if weights is not None:
        from .weights import weighted_reduce

        def weighted(v, r, e):
            return weighted_reduce(v, weights, r, e)

        reduce = weighted

    if metric in INTERAURAL:
        left = right = None
        overall = _finite(reduce(values, red, eps), metric, files)
    else:
        left = _finite(reduce(values[..., 0], red, eps), metric, files)
        right = _finite(reduce(values[..., 1], red, eps), metric, files)
        overall = _finite(reduce(values, red, eps), metric, files)
    score = MetricScore(metric, unit, left, right, overall)
    check = options.threshold_map.get(metric)
    if check is not None:
        score.threshold = check.limit
        score.passed = check.passes(overall, metric)
    return score


def _finite(t, metric: str, files: str | None = None) -> float:
    value = float(t)
    if not math.isfinite(value):
        raise HrtfevalError(
            f"the {metric} came out non-finite ({value}); check the input data", files
        )
    return value


def score_tensors(pred, ref, options: ScoreOptions, weights=None) -> dict[str, MetricScore]:
    """Scores of every requested spectral and interaural metric for one pair of
    :class:`SetTensors` (no leading axes); ``weights`` (M,) as in :func:`reduce_pair`."""
    values = spectral_values(pred, ref, options)
    return reduce_metrics(values, options, pred, ref, weights, _pair_label(pred, ref))


def reduce_metrics(
    values: dict[str, Any], options: ScoreOptions, pred_t, ref_t, weights=None, files=None
) -> dict[str, MetricScore]:
    """:func:`reduce_pair` of every metric's per-direction ``values`` of one pair."""
    units = pair_units(options, pred_t, ref_t)
    return {m: reduce_pair(v, m, units[m], options, weights, files) for m, v in values.items()}


def direction_weights(aligned, options: ScoreOptions):
    """The :class:`hrtfeval.weights.Weights` of the matched reference directions, or None
    (``weighting="none"``)."""
    if options.weighting == "none":
        return None
    from .weights import area_weights

    positions = aligned.reference.positions
    if positions is None:
        raise HrtfevalError(
            "--weighting area needs source positions, and the reference has none",
            aligned.reference.path,
        )
    return area_weights(positions, where=aligned.reference.path)


def tensors_for(aligned, options: ScoreOptions, device):
    """The aligned pair as :class:`SetTensors` on ``device``."""
    from .represent import SetTensors

    return (
        SetTensors.from_set(aligned.prediction, device, options.n_fft),
        SetTensors.from_set(aligned.reference, device, options.n_fft),
    )


def score_aligned(
    aligned, options: ScoreOptions, device, *, with_definitions: bool = True
) -> PairScore:
    """Score an :class:`~hrtfeval.align.AlignedPair` with every metric in ``options``.

    ``with_definitions=False`` leaves the metric definitions out of the pair's spec (a batch
    states them once, in its own spec: :func:`hrtfeval.batch.batch_spec`).

    Checks first (before any heavy computation) that the pair fits ``options.max_memory``
    and that no silent direction is left for the ITD or ILD (see :func:`apply_silent_policy`).
    Warnings raised while scoring are re-raised once, naming the two files.
    """
    if aligned.matched:
        check_silent(aligned, options)
    check_pair_memory(aligned, options)
    with (
        warnings_about(_pair_label(aligned.prediction, aligned.reference)),
        one_cpu_thread(device),
    ):
        return _score_aligned(aligned, options, device, with_definitions)


@contextmanager
def one_cpu_thread(device):
    """One torch thread while a pair is scored on the CPU (the caller's setting is restored).

    A pair's tensors are small (a few MB): torch's thread pool gains little on an idle machine
    and loses badly on a busy one, where its threads wait for each other (a 710-direction,
    512-tap LAP pair: 0.3 s on one thread, 4 s on two on a loaded 2-core machine). The batch
    workers and ``--workers 0`` batches run on one thread too; the results do not depend on it.
    """
    import torch

    if torch.device(device).type != "cpu":
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _score_aligned(
    aligned, options: ScoreOptions, device, with_definitions: bool = True
) -> PairScore:
    if options.localisation_only:
        return score_values(aligned, options, device, with_definitions=with_definitions)
    pred_t, ref_t = tensors_for(aligned, options, device)
    values = spectral_values(pred_t, ref_t, options)
    return score_values(
        aligned, options, device, pred_t, ref_t, values, with_definitions=with_definitions
    )


def spectral_values(pred_t, ref_t, options: ScoreOptions) -> dict[str, Any]:
    """Per-direction values of every spectral and interaural metric in ``options`` (the
    localisation metrics are scored from the sets themselves). ``pred_t``/``ref_t`` may carry a
    leading stack axis (B, M, 2, N): the values then carry it too."""
    return {
        m: per_direction(pred_t, ref_t, m, options)
        for m in options.metrics
        if m not in LOCALISATION
    }


def score_values(
    aligned,
    options: ScoreOptions,
    device,
    pred_t=None,
    ref_t=None,
    values: dict[str, Any] | None = None,
    stacked: bool = False,
    *,
    with_definitions: bool = True,
) -> PairScore:
    """One pair's :class:`PairScore` from its per-direction ``values`` (:func:`spectral_values`).

    The one place a pair's score is assembled, for a single pair and for every row of a stacked
    batch alike: reductions, localisation scores, spec and extra blocks. ``pred_t``/``ref_t`` are
    the tensors the values were computed from (None when only localisation metrics are scored);
    ``stacked`` says they hold a whole stack, so that blocks needing the pair's own tensors
    (``--bands``) rebuild them. ``with_definitions``: as in :func:`score_aligned`.

    The score keeps ``values`` and (not stacked) the tensors (:attr:`PairScore.values`,
    :attr:`PairScore.tensors`), so that pictures of the pair draw what was scored.
    """
    files = _pair_label(aligned.prediction, aligned.reference)
    scores: dict[str, MetricScore] = {}
    extras: dict[str, Any] = {}
    weights = None
    if values is not None:
        weights = direction_weights(aligned, options)
        w = None if weights is None else weights.values
        scores = reduce_metrics(values, options, pred_t, ref_t, w, files)
        own_t = (pred_t, ref_t)
        if stacked and options.bands:  # the bands block needs this pair's own tensors
            own_t = tensors_for(aligned, options, device)
        extras = pair_extras(aligned, *own_t, options, weights, values)
    notes: list[str] = []
    scores.update(localisation_scores(aligned, options, notes))
    spec = spec_dict(aligned, options, device, pred_t, ref_t, weights, with_definitions)
    spec["notes"] += notes
    scores = {m: scores[m] for m in options.metrics}
    return PairScore(
        aligned.prediction.path,
        aligned.reference.path,
        spec,
        scores,
        extras,
        values=dict(values or {}),
        tensors=None if stacked or pred_t is None else (pred_t, ref_t),
    )


def pair_units(options: ScoreOptions, pred_t, ref_t, metrics=None) -> dict[str, str]:
    """The unit of each scored metric (or of ``metrics``) for one pair (spectral and interaural
    metrics)."""
    return {
        m: metric_unit(
            m,
            effective_domain(options, pred_t.domain, ref_t.domain) if m in ON_DOMAIN else "",
        )
        for m in (options.metrics if metrics is None else metrics)
        if m not in LOCALISATION
    }


def pair_extras(
    aligned, pred_t, ref_t, options: ScoreOptions, weights=None, values=None
) -> dict[str, Any]:
    """The optional blocks of a pair's document: ``regions`` (``--region``, from the
    per-direction ``values`` of every metric) and ``bands`` (``--bands``)."""
    extras: dict[str, Any] = {}
    if options.regions:
        from .regions import region_scores

        extras["regions"] = region_scores(
            values,
            pair_units(options, pred_t, ref_t),
            aligned,
            options,
            None if weights is None else weights.values,
        )
    if options.per_direction:
        from .export import per_direction_block

        domain = (
            effective_domain(options, pred_t.domain, ref_t.domain)
            if any(m in ON_DOMAIN for m in options.metrics)
            else None
        )
        extras["per_direction"] = per_direction_block(
            values, aligned.reference.positions, domain
        )
    if options.bands is not None:
        from .bands import band_scores

        domain = effective_domain(options, pred_t.domain, ref_t.domain)
        extras["bands"] = band_scores(
            pred_t, ref_t, options, domain, None if weights is None else weights.values
        )
    return extras


def localisation_scores(aligned, options: ScoreOptions, notes=None) -> dict[str, MetricScore]:
    """QE/PE/EB scores of the localisation model (empty when none is asked for)."""
    if not any(m in LOCALISATION for m in options.metrics):
        return {}
    from .perceptual import localisation_scores as scores

    return scores(aligned, options, notes)


def score_files(prediction: str, target: str, options: ScoreOptions, device="auto") -> PairScore:
    """Read, align and score one prediction file against one reference file."""
    dev = resolve_device(device) if isinstance(device, str) else device
    return score_aligned(load_aligned(prediction, target, options), options, dev)


def per_direction_errors(aligned, metric: str, options: ScoreOptions, device="cpu") -> PerDirection:
    """Per-direction errors of ``metric`` for an aligned pair (the values the scores reduce).

    ``values`` is a CPU tensor ``(M, 2)`` (left, right) for lsd/rmse/mae and ``(M,)`` for the
    interaural itd (µs) and ild (dB); ``positions`` are the reference's (azimuth, elevation,
    distance) rows in the same order.
    """
    metric = check_option("metric", metric, METRICS)
    dev = resolve_device(device) if isinstance(device, str) else device
    pred_t, ref_t = tensors_for(aligned, options, dev)
    values = per_direction(pred_t, ref_t, metric, options).detach().cpu()
    unit = pair_units(options, pred_t, ref_t, (metric,))[metric]
    return PerDirection(metric, unit, values, aligned.reference.positions)


def scored_errors(aligned, score: PairScore, metric: str) -> PerDirection:
    """:func:`per_direction_errors` of ``metric`` as ``score`` computed them (no new pass):
    ``score`` is the :class:`PairScore` of ``aligned`` (:func:`score_aligned`)."""
    values = score.values[metric].detach().cpu()
    return PerDirection(metric, score.scores[metric].unit, values, aligned.reference.positions)
