"""Score an aligned pair: per-direction errors, their reductions per ear and overall, checks.

The spectral and time-domain metrics are the per-vector values of :func:`hrtfeval.loss.metric_values`
(the ``hrtf_loss`` core), reduced with :func:`hrtfeval.loss.reduce_values`; so a table printed by
the CLI and ``hrtf_loss`` on the same tensors can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import HrtfevalError
from .loss import check_epsilon, check_option, metric_values, reduce_values
from .model import IR

METRICS = ("lsd", "rmse", "mae", "itd", "ild")
INTERAURAL = ("itd", "ild")
DOMAINS = ("time", "magnitude", "db")
ITD_METHODS = ("maxiacce", "threshold")


@dataclass(frozen=True)
class Threshold:
    """A check on a metric's overall value.

    ``rule="<"`` passes when ``value < limit`` (LAP challenge thresholds); ``rule="<="`` passes
    when ``value <= limit`` (``--fail-above``: only a value *above* the limit fails).
    """

    limit: float
    rule: str = "<="
    source: str = "fail-above"

    def passes(self, value: float) -> bool:
        return value < self.limit if self.rule == "<" else value <= self.limit


#: LAP challenge 2024, Task 2 (HRTF upsampling) thresholds; a metric passes below its threshold.
LAP_THRESHOLDS = {
    "itd": Threshold(100.0, "<", "lap"),
    "ild": Threshold(4.4, "<", "lap"),
    "lsd": Threshold(7.4, "<", "lap"),
}
PRESETS = {"lap": {"metrics": ("itd", "ild", "lsd"), "thresholds": LAP_THRESHOLDS}}


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that decides a score, besides the two files. Printed as the output's spec."""

    metrics: tuple[str, ...] = ("lsd",)
    freq_min: float = 20.0
    freq_max: float = 20000.0
    n_fft: int | None = None
    domain: str | None = None  # rmse/mae representation; None = time when both sets have IRs
    reduction: str = "mean"
    epsilon: float = 1e-12
    itd_method: str = "maxiacce"
    thresholds: tuple[tuple[str, Threshold], ...] = ()
    preset: str | None = None
    tolerance_deg: float = 0.1
    allow_missing: bool = False
    length_policy: str = "error"

    @classmethod
    def build(
        cls,
        metrics=None,
        *,
        preset: str | None = None,
        fail_above: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> ScoreOptions:
        """Validated options; ``preset="lap"`` adds its metrics and thresholds."""
        chosen: list[str] = []
        thresholds: dict[str, Threshold] = {}
        if preset is not None:
            preset = check_option("preset", preset, tuple(PRESETS))
            chosen += PRESETS[preset]["metrics"]
            thresholds.update(PRESETS[preset]["thresholds"])
        for m in metrics or ():
            key = check_option("metric", m, METRICS)
            if key not in chosen:
                chosen.append(key)
        if not chosen:
            chosen = ["lsd"]
        for name, limit in (fail_above or {}).items():
            key = check_option("metric", name, METRICS)
            if key not in chosen:
                raise ValueError(
                    f"--fail-above names {key!r}, which is not scored; add --metric {key}"
                )
            thresholds[key] = Threshold(float(limit), "<=", "fail-above")
        # Stored normalised: the spec's definitions and batch_spec compare them as written.
        for key in ("domain", "reduction", "itd_method", "length_policy"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = kwargs[key].strip().lower()
        opts = cls(
            metrics=tuple(chosen), thresholds=tuple(thresholds.items()), preset=preset, **kwargs
        )
        opts.validate()
        return opts

    def validate(self) -> None:
        check_epsilon(self.epsilon)
        check_option("reduction", self.reduction, ("mean", "rms"))
        check_option("itd method", self.itd_method, ITD_METHODS)
        if self.domain is not None:
            check_option("domain", self.domain, DOMAINS)
        if not (0 <= self.freq_min < self.freq_max):
            raise ValueError(
                f"the band needs 0 <= freq-min < freq-max; got {self.freq_min:g} and {self.freq_max:g}"
            )
        check_option("length policy", self.length_policy, ("error", "truncate", "pad"))
        if not (math.isfinite(self.tolerance_deg) and self.tolerance_deg >= 0):
            raise ValueError(f"--position-tolerance must be >= 0 degrees; got {self.tolerance_deg}")
        if self.n_fft is not None and self.n_fft < 2:
            raise ValueError(f"--n-fft must be at least 2; got {self.n_fft}")

    @property
    def threshold_map(self) -> dict[str, Threshold]:
        return dict(self.thresholds)


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "left": self.left,
            "right": self.right,
            "overall": self.overall,
            "threshold": self.threshold,
            "passed": self.passed,
        }


@dataclass
class PairScore:
    """The result of scoring one prediction file against one reference file."""

    prediction: str
    target: str
    spec: dict[str, Any]
    scores: dict[str, MetricScore] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        checks = [s.passed for s in self.scores.values() if s.passed is not None]
        return all(checks) if checks else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "prediction": self.prediction,
            "target": self.target,
            "spec": self.spec,
            "scores": {k: v.as_dict() for k, v in self.scores.items()},
            "passed": self.passed,
        }


@dataclass
class PerDirection:
    """Per-direction errors of one metric: ``values`` (M, 2) per ear, or (M,) for interaural cues."""

    metric: str
    unit: str
    values: Any  # torch.Tensor
    positions: np.ndarray | None
    frequencies: np.ndarray | None = None


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


def metric_unit(metric: str, domain: str) -> str:
    if metric in ("lsd", "ild"):
        return "dB"
    if metric == "itd":
        return "µs"
    return "dB" if domain == "db" else ""


def effective_domain(options: ScoreOptions, pred_domain: str, ref_domain: str) -> str:
    """The representation rmse/mae are computed on (``--domain``, default time when both are IRs)."""
    both_ir = pred_domain == IR and ref_domain == IR
    if options.domain is None:
        return "time" if both_ir else "magnitude"
    domain = options.domain.strip().lower()
    if domain == "time" and not both_ir:
        raise HrtfevalError(
            f"--domain time needs impulse responses in both files; got {pred_domain} "
            f"(prediction) and {ref_domain} (reference): use --domain magnitude or db"
        )
    return domain


def per_direction(pred, ref, metric: str, options: ScoreOptions):
    """Per-direction errors for one metric from two :class:`~hrtfeval.represent.SetTensors`.

    Returns a tensor ``(..., M, 2)`` for lsd/rmse/mae and ``(..., M)`` for itd (|dITD| in µs)
    and ild (|dILD| in dB); leading axes are stacked pairs.
    """
    from .represent import band_bins, check_same_bins

    eps = options.epsilon
    if metric == "lsd" or (
        metric in ("rmse", "mae") and effective_domain(options, pred.domain, ref.domain) != "time"
    ):
        freqs = check_same_bins(pred, ref)
        bins = _bins_index(
            band_bins(
                freqs, options.freq_min, options.freq_max, ref.sampling_rate or pred.sampling_rate
            ),
            pred,
        )
        if metric == "lsd":
            return metric_values(
                pred.spectrum[..., bins], ref.spectrum[..., bins], "lsd", "linear", eps
            )
        if effective_domain(options, pred.domain, ref.domain) == "db":
            return metric_values(
                pred.magnitude_db(bins, eps), ref.magnitude_db(bins, eps), metric, "db", eps
            )
        return metric_values(
            pred.spectrum[..., bins].abs(), ref.spectrum[..., bins].abs(), metric, "db", eps
        )
    if metric in ("rmse", "mae"):
        return metric_values(pred.ir, ref.ir, metric, "db", eps)
    if metric == "itd":
        from .cues import itd_seconds_many

        fs = _rate_for_itd(pred, ref)
        # The readers rejected non-finite data already; skip the second scan.
        itd_p, itd_r = itd_seconds_many(
            [pred.impulse_responses(), ref.impulse_responses()],
            fs,
            options.itd_method,
            check_finite=False,
        )
        return (itd_p - itd_r).abs() * 1e6
    if metric == "ild":
        return (_ild(pred) - _ild(ref)).abs()
    raise ValueError(f"unknown metric {metric!r}")  # pragma: no cover - options are validated


def _bins_index(idx: np.ndarray, like):
    """An index for the last axis: a slice where the bins are consecutive (a view, no copy)."""
    import torch

    if idx.size and np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        return slice(int(idx[0]), int(idx[0]) + idx.size)
    return torch.as_tensor(idx, dtype=torch.long, device=like.device)


def _rate_for_itd(pred, ref) -> float:
    fs = ref.sampling_rate or pred.sampling_rate
    if not fs:
        raise HrtfevalError("the ITD needs a sampling rate, and neither file has one")
    return float(fs)


def _ild(s):
    from .cues import ild_db, ild_db_from_spectrum

    if s.domain == IR:
        return ild_db(s.ir, check_finite=False)
    s.check_rfft_grid("the ILD (energy by Parseval)")
    return ild_db_from_spectrum(s.spectrum, s.fft_length)


def reduce_pair(values, metric: str, unit: str, options: ScoreOptions) -> MetricScore:
    """Per-ear and overall reductions of one pair's per-direction values (M, 2) or (M,)."""
    red, eps = options.reduction, options.epsilon
    if metric in INTERAURAL:
        left = right = None
        overall = _finite(reduce_values(values, red, eps), metric)
    else:
        left = _finite(reduce_values(values[..., 0], red, eps), metric)
        right = _finite(reduce_values(values[..., 1], red, eps), metric)
        overall = _finite(reduce_values(values, red, eps), metric)
    score = MetricScore(metric, unit, left, right, overall)
    check = options.threshold_map.get(metric)
    if check is not None:
        score.threshold = check.limit
        score.passed = check.passes(overall)
    return score


def _finite(t, metric: str) -> float:
    value = float(t)
    if not math.isfinite(value):
        raise HrtfevalError(f"the {metric} came out non-finite ({value}); check the input data")
    return value


def score_tensors(pred, ref, options: ScoreOptions) -> dict[str, MetricScore]:
    """Scores of every requested metric for one pair of :class:`SetTensors` (no leading axes)."""
    out = {}
    for metric in options.metrics:
        values = per_direction(pred, ref, metric, options)
        unit = metric_unit(
            metric,
            effective_domain(options, pred.domain, ref.domain) if metric in ("rmse", "mae") else "",
        )
        out[metric] = reduce_pair(values, metric, unit, options)
    return out


def definitions(options: ScoreOptions, domain: str, n_bins: int | None) -> dict[str, str]:
    """Human-readable definition of every scored metric, for the output's spec."""
    band = f"{options.freq_min:g} Hz <= f_k <= {options.freq_max:g} Hz, f_k < fs/2"
    if n_bins is not None:
        band += f" ({n_bins} bins)"
    red = (
        "mean over directions"
        if options.reduction == "mean"
        else "sqrt(mean over directions of v^2 + eps)"
    )
    text = {
        "lsd": f"per direction and ear sqrt(mean_k (20log10|P_k| - 20log10|T_k|)^2 + eps) over "
        f"{band}, |.| floored at eps; {red}",
        "itd": f"|ITD_pred - ITD_ref| per direction ({options.itd_method}: 3 kHz order-10 "
        f"Butterworth low-pass, "
        + (
            "max of |xcorr| of Hilbert envelopes"
            if options.itd_method == "maxiacce"
            else "-10 dB onset of the energy envelope"
        )
        + f"), in microseconds; {red}",
        "ild": f"|ILD_pred - ILD_ref| per direction, ILD = 20log10(rms_left) - 20log10(rms_right); "
        f"{red}",
    }
    for m in ("rmse", "mae"):
        what = {
            "time": "impulse response samples",
            "magnitude": f"|H_k| over {band}",
            "db": f"20log10|H_k| over {band}",
        }[domain]
        core = "sqrt(mean(|p - t|^2) + eps)" if m == "rmse" else "mean(|p - t|)"
        text[m] = f"per direction and ear {core} on {what}; {red}"
    return {m: text[m] for m in options.metrics}


def spec_dict(aligned, options: ScoreOptions, device, pred_t=None, ref_t=None) -> dict[str, Any]:
    """The facts behind a pair's numbers, printed above the table and stored in the JSON."""
    from . import __version__
    from .represent import band_bins

    p, r = aligned.prediction, aligned.reference
    domain = None
    if any(m in ("rmse", "mae") for m in options.metrics):
        domain = effective_domain(options, p.domain, r.domain)
    n_bins = None
    if ref_t is not None and any(
        m == "lsd" or (m in ("rmse", "mae") and domain != "time") for m in options.metrics
    ):
        n_bins = int(
            band_bins(ref_t.frequencies(), options.freq_min, options.freq_max, r.sampling_rate).size
        )
    thresholds = {
        m: {"limit": t.limit, "rule": f"passes when value {t.rule} limit", "source": t.source}
        for m, t in options.thresholds
    }
    return {
        "hrtfeval": __version__,
        "preset": options.preset,
        "prediction": {
            "convention": p.convention,
            "version": p.version,
            "domain": p.domain,
            "delay_applied": p.delay_applied,
        },
        "reference": {
            "convention": r.convention,
            "version": r.version,
            "domain": r.domain,
            "delay_applied": r.delay_applied,
        },
        "sampling_rate": r.sampling_rate,
        "n_samples": r.n_samples,
        "n_fft": (ref_t.fft_length if ref_t is not None else options.n_fft),
        "directions": {
            "reference": aligned.n_reference,
            "matched": aligned.n_matched,
            "missing": int(len(aligned.missing)),
            "max_angle_deg": float(aligned.max_angle_deg),
            "tolerance_deg": options.tolerance_deg,
        },
        "band_hz": [options.freq_min, options.freq_max],
        "bins": n_bins,
        "domain": domain,
        "reduction": options.reduction,
        "epsilon": options.epsilon,
        "itd_method": options.itd_method if "itd" in options.metrics else None,
        "length_policy": options.length_policy,
        "device": str(device),
        "thresholds": thresholds,
        "definitions": definitions(options, domain or "time", n_bins),
        "notes": list(aligned.notes),
    }


def tensors_for(aligned, options: ScoreOptions, device):
    """The aligned pair as :class:`SetTensors` on ``device``."""
    from .represent import SetTensors

    return (
        SetTensors.from_set(aligned.prediction, device, options.n_fft),
        SetTensors.from_set(aligned.reference, device, options.n_fft),
    )


def score_aligned(aligned, options: ScoreOptions, device) -> PairScore:
    """Score an :class:`~hrtfeval.align.AlignedPair` with every metric in ``options``."""
    pred_t, ref_t = tensors_for(aligned, options, device)
    scores = score_tensors(pred_t, ref_t, options)
    spec = spec_dict(aligned, options, device, pred_t, ref_t)
    return PairScore(aligned.prediction.path, aligned.reference.path, spec, scores)


def load_aligned(prediction: str, target: str, options: ScoreOptions, timeout: float | None = None):
    """Read both files and align them (directions, rate, length) as ``options`` say.

    ``timeout`` (s): read the files in a child process that is stopped after that long
    (:func:`hrtfeval.procs.read_in_child`), for callers that cannot afford a hanging reader;
    None reads them here.
    """
    from .io import read_hrtf

    if timeout is None:
        sets = [read_hrtf(prediction), read_hrtf(target)]
    else:
        from .procs import read_in_child

        sets = read_in_child(read_hrtf, [prediction, target], timeout)
    return align_sets(*sets, options)


def align_sets(pred, ref, options: ScoreOptions):
    """Align two :class:`~hrtfeval.model.HRTFSet` as ``options`` say."""
    from .align import align_pair

    return align_pair(
        pred,
        ref,
        tolerance_deg=options.tolerance_deg,
        allow_missing=options.allow_missing,
        length_policy=options.length_policy,
    )


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
    domain = (
        effective_domain(options, pred_t.domain, ref_t.domain) if metric in ("rmse", "mae") else ""
    )
    return PerDirection(metric, metric_unit(metric, domain), values, aligned.reference.positions)
