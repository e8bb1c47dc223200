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

from .errors import HrtfevalError, HrtfevalWarning, warnings_about
from .loss import check_epsilon, check_option, metric_values, reduce_values
from .model import IR, format_directions

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
    exclude_silent: bool = False  # score without the directions where a file has a silent ear
    max_memory: int | None = None  # bytes one pair may use; None = memory.default_limit()

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
        if self.max_memory is not None and (
            isinstance(self.max_memory, bool)
            or not isinstance(self.max_memory, int)
            or self.max_memory < 1
        ):
            raise ValueError(f"--max-memory must be a positive number of bytes; got {self.max_memory!r}")

    @property
    def memory_limit(self) -> int:
        """Bytes one pair may use: ``max_memory`` or :func:`hrtfeval.memory.default_limit`."""
        from .memory import default_limit

        return default_limit() if self.max_memory is None else int(self.max_memory)

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
                freqs,
                options.freq_min,
                options.freq_max,
                ref.sampling_rate or pred.sampling_rate,
                file=_pair_label(pred, ref),
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
        irs = [pred.impulse_responses(), ref.impulse_responses()]
        for s, ir in zip((pred, ref), irs):
            if ir.shape[-1] < 2:
                raise HrtfevalError(
                    f"has impulse responses of {ir.shape[-1]} sample; the ITD needs at least 2",
                    s.path,
                )
        if irs[0].shape[-1] != irs[1].shape[-1]:
            raise HrtfevalError(
                f"the ITD compares impulse responses of one length, but {pred.path} gives "
                f"{irs[0].shape[-1]} samples and {ref.path} {irs[1].shape[-1]} (from "
                f"{pred.domain} and {ref.domain} data)"
            )
        try:
            # The readers rejected non-finite data already; skip the second scan.
            itd_p, itd_r = itd_seconds_many(irs, fs, options.itd_method, check_finite=False)
        except ValueError as exc:  # e.g. a rate too low for the 3 kHz low-pass
            raise HrtfevalError(
                f"the ITD cannot be computed: {exc}", _rate_file(pred, ref)
            ) from None
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
        raise HrtfevalError(
            f"the ITD needs a sampling rate, and neither {pred.path} nor {ref.path} has one"
        )
    return float(fs)


def _rate_file(pred, ref) -> str:
    """The file whose sampling rate the pair is scored at."""
    return ref.path if ref.sampling_rate else pred.path


def _pair_label(pred, ref) -> str:
    """``"pred.sofa, ref.sofa"``: the names a message about the pair starts with."""
    return f"{pred.path}, {ref.path}" if pred.path != ref.path else pred.path


def _ild(s):
    from .cues import ild_db, ild_db_from_spectrum

    try:
        if s.domain == IR:
            return ild_db(s.ir, check_finite=False)
        s.check_rfft_grid("the ILD (energy by Parseval)")
        return ild_db_from_spectrum(s.spectrum, s.fft_length)
    except ValueError as exc:
        raise HrtfevalError(f"the ILD cannot be computed: {exc}", s.path) from None


def reduce_pair(
    values, metric: str, unit: str, options: ScoreOptions, files: str | None = None
) -> MetricScore:
    """Per-ear and overall reductions of one pair's per-direction values (M, 2) or (M,).

    ``files`` names the pair in the error about a non-finite result.
    """
    red, eps = options.reduction, options.epsilon
    if metric in INTERAURAL:
        left = right = None
        overall = _finite(reduce_values(values, red, eps), metric, files)
    else:
        left = _finite(reduce_values(values[..., 0], red, eps), metric, files)
        right = _finite(reduce_values(values[..., 1], red, eps), metric, files)
        overall = _finite(reduce_values(values, red, eps), metric, files)
    score = MetricScore(metric, unit, left, right, overall)
    check = options.threshold_map.get(metric)
    if check is not None:
        score.threshold = check.limit
        score.passed = check.passes(overall)
    return score


def _finite(t, metric: str, files: str | None = None) -> float:
    value = float(t)
    if not math.isfinite(value):
        raise HrtfevalError(
            f"the {metric} came out non-finite ({value}); check the input data", files
        )
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
        out[metric] = reduce_pair(values, metric, unit, options, _pair_label(pred, ref))
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
            # Directions with an all-zero ear among those scored, and (--exclude-silent) those
            # left out, per file.
            "silent": {
                "prediction": int(p.silent_mask().sum()),
                "reference": int(r.silent_mask().sum()),
            },
            "silent_excluded": aligned.silent_excluded,
        },
        "band_hz": [options.freq_min, options.freq_max],
        "bins": n_bins,
        "domain": domain,
        "reduction": options.reduction,
        "epsilon": options.epsilon,
        "itd_method": options.itd_method if "itd" in options.metrics else None,
        "length_policy": options.length_policy,
        "exclude_silent": options.exclude_silent,
        "max_memory_bytes": options.memory_limit,
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
    """Score an :class:`~hrtfeval.align.AlignedPair` with every metric in ``options``.

    Checks first (before any heavy computation) that the pair fits ``options.max_memory``
    and that no silent direction is left for the ITD or ILD (see :func:`apply_silent_policy`).
    Warnings raised while scoring are re-raised once, naming the two files.
    """
    check_silent(aligned, options)
    check_pair_memory(aligned, options)
    with warnings_about(_pair_label(aligned.prediction, aligned.reference)):
        pred_t, ref_t = tensors_for(aligned, options, device)
        scores = score_tensors(pred_t, ref_t, options)
    spec = spec_dict(aligned, options, device, pred_t, ref_t)
    return PairScore(aligned.prediction.path, aligned.reference.path, spec, scores)


def load_aligned(prediction: str, target: str, options: ScoreOptions):
    """Read both files and align them (directions, rate, length) as ``options`` say.

    The readers check each file's declared sizes against ``options.max_memory`` before
    reading; then the aligned pair's working memory is checked (:func:`check_pair_memory`) and
    the silent directions handled (:func:`apply_silent_policy`), so that a pair that cannot be
    scored fails here, before any heavy computation.
    """
    from .align import align_pair
    from .io import read_hrtf
    from .memory import set_bytes

    limit = options.memory_limit
    pred = read_hrtf(prediction, max_memory=limit, n_fft=options.n_fft)
    used = set_bytes(pred.data.shape, pred.domain, options.n_fft)
    ref = read_hrtf(target, max_memory=limit, n_fft=options.n_fft, reserved=used)
    aligned = align_pair(
        pred,
        ref,
        tolerance_deg=options.tolerance_deg,
        allow_missing=options.allow_missing,
        length_policy=options.length_policy,
    )
    check_pair_memory(aligned, options)
    return apply_silent_policy(aligned, options)


def check_pair_memory(aligned, options: ScoreOptions) -> None:
    """Raise HrtfevalError when the aligned pair's working-memory estimate (data and spectra at
    the scored FFT length, :func:`hrtfeval.memory.set_bytes`) exceeds ``options.max_memory``."""
    from .memory import check_size, set_bytes

    p, r = aligned.prediction, aligned.reference
    need = sum(set_bytes(s.data.shape, s.domain, options.n_fft) for s in (p, r))
    n_fft = f" at n_fft {options.n_fft}" if options.n_fft else ""
    check_size(
        need,
        options.memory_limit,
        f"scoring {p.n_directions} x 2 x {p.n_samples} against {r.n_directions} x 2 x "
        f"{r.n_samples}{n_fft}",
        _pair_label(p, r),
    )


def _silent_text(hrtf, mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    verb = "has" if rows.size == 1 else "have"
    return (
        f"{rows.size} of its {mask.size} scored directions {verb} a silent ear (all zeros): "
        + format_directions(hrtf.positions, rows)
    )


def check_silent(aligned, options: ScoreOptions) -> None:
    """Raise HrtfevalError when the ITD or ILD is asked for and a file of the pair has silent
    directions among the scored ones: the cues are undefined there."""
    interaural = [m for m in options.metrics if m in INTERAURAL]
    if not interaural:
        return
    for hrtf in (aligned.prediction, aligned.reference):
        mask = hrtf.silent_mask()
        if mask.any():
            asked = f"--preset {options.preset}" if options.preset else "--metric " + "/".join(
                interaural
            )
            raise HrtfevalError(
                f"{_silent_text(hrtf, mask)}; the ITD and ILD ({asked}) are undefined there: "
                "pass --exclude-silent to score the other directions",
                hrtf.path,
            )


def apply_silent_policy(aligned, options: ScoreOptions):
    """The pair with its silent directions handled as ``options`` say.

    A silent direction has an ear whose data are all zeros (:attr:`HRTFSet.silent`). With
    ``exclude_silent`` the directions silent in either file are left out (counts per file in
    ``silent_excluded`` and a note); at least one must remain. Otherwise the ITD and ILD are
    an error (:func:`check_silent`) and spectral metrics score them, with one
    :class:`~hrtfeval.errors.HrtfevalWarning` per file naming them.
    """
    import warnings
    from dataclasses import replace

    from .align import _take

    p, r = aligned.prediction, aligned.reference
    sp, sr = p.silent_mask(), r.silent_mask()
    if options.exclude_silent:
        counts = {"prediction": int(sp.sum()), "reference": int(sr.sum())}
        drop = sp | sr
        if not drop.any():
            return replace(aligned, silent_excluded=counts)
        keep = np.flatnonzero(~drop)
        if keep.size == 0:
            raise HrtfevalError(
                f"every one of the {drop.size} matched directions has a silent ear (all zeros) in "
                f"{p.path} or {r.path}: nothing is left to score with --exclude-silent"
            )
        notes = list(aligned.notes)
        for hrtf, mask in ((p, sp), (r, sr)):
            if mask.any():
                notes.append(f"{hrtf.path}: {_silent_text(hrtf, mask)}; left out (--exclude-silent)")
        return replace(
            aligned,
            prediction=_take(p, keep),
            reference=_take(r, keep),
            notes=notes,
            silent_excluded=counts,
        )
    check_silent(aligned, options)
    for hrtf, mask in ((p, sp), (r, sr)):
        if mask.any():
            warnings.warn(
                HrtfevalWarning(
                    f"{_silent_text(hrtf, mask)}; spectral metrics score them as they are "
                    "(pass --exclude-silent to leave them out)",
                    hrtf.path,
                ),
                stacklevel=2,
            )
    return aligned


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
