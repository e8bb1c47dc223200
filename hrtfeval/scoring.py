"""Score an aligned pair: per-direction errors, their reductions per ear and overall, checks.

The spectral and time-domain metrics are the per-vector values of :func:`hrtfeval.loss.metric_values`
(the ``hrtf_loss`` core), reduced with :func:`hrtfeval.loss.reduce_values`; so a table printed by
the CLI and ``hrtf_loss`` on the same tensors can never disagree.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constants import COMPARISON_DOMAINS, INTERAURAL, ITD_METHODS, LOCALISATION, METRICS
from .errors import HrtfevalError, HrtfevalWarning, warnings_about
from .loss import check_epsilon, check_option, metric_values, reduce_values
from .model import IR, format_directions

#: Old name of :data:`hrtfeval.constants.COMPARISON_DOMAINS` (what rmse/mae compare).
DOMAINS = COMPARISON_DOMAINS


@dataclass(frozen=True)
class Threshold:
    """A check on a metric's overall value.

    ``rule="<"`` passes when ``value < limit`` (LAP challenge thresholds); ``rule="<="`` passes
    when ``value <= limit`` (``--fail-above``: only a value *above* the limit fails).
    """

    limit: float
    rule: str = "<="
    source: str = "fail-above"
    replaces: Threshold | None = None  # the preset's threshold that --fail-above replaced

    def as_spec(self, metric: str = "") -> dict[str, Any]:
        """The threshold on ``metric`` as stored in an output's ``spec.thresholds``."""
        from .gates import threshold_rule

        out: dict[str, Any] = {
            "limit": self.limit,
            "rule": threshold_rule(metric.rpartition(".")[2], self.rule),
            "source": self.source,
        }
        if self.replaces is not None:
            out["replaces"] = self.replaces.as_spec(metric)
        return out

    def passes(self, value: float, metric: str = "") -> bool:
        """Whether ``value`` of ``metric`` passes (a signed metric is checked by ``|value|``)."""
        from .gates import error_size

        value = error_size(metric, value)
        return value < self.limit if self.rule == "<" else value <= self.limit


#: LAP challenge 2024, Task 2 (HRTF upsampling) thresholds; a metric passes below its threshold.
LAP_THRESHOLDS = {
    "itd": Threshold(100.0, "<", "lap"),
    "ild": Threshold(4.4, "<", "lap"),
    "lsd": Threshold(7.4, "<", "lap"),
}
#: What a preset fixes besides its metrics and thresholds: the option values its thresholds
#: were defined with (an option that changes them cannot be combined with the preset).
LAP_DEFINITIONS = {
    "freq_min": 20.0,
    "freq_max": 20000.0,
    "n_fft": None,
    "domain": None,
    "reduction": "mean",
    "epsilon": 1e-12,
    "itd_method": "maxiacce",
    "weighting": "none",  # the LAP means are unweighted over directions
}
PRESETS = {
    "lap": {
        "metrics": ("itd", "ild", "lsd"),
        "thresholds": LAP_THRESHOLDS,
        "definitions": LAP_DEFINITIONS,
    }
}
#: Largest ``--n-fft``: 2**16 bins already need ~1 GB per 1000 directions (complex128, 2 ears).
MAX_N_FFT = 1 << 16


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
    laterals: tuple[float, ...] = (0.0,)  # localisation model: sagittal planes (deg)
    sensitivity: float = 0.7
    dtf: bool = True
    weighting: str = "none"  # "area": solid-angle weights (hrtfeval.weights)
    bands: str | None = None  # octave, third-octave, erb (hrtfeval.bands)
    regions: tuple[str, ...] = ()  # --region names (hrtfeval.regions)
    region_tolerance: float | None = None  # degrees; None = half the grid's typical spacing
    exclude: str | None = None  # --exclude FILE: directions left out of every score
    per_direction: bool = False  # keep the per-direction values (extras["per_direction"])
    ignore_delay: bool = False  # --ignore-delay: leave SOFA Data.Delay unapplied
    max_missing: float = 0.5  # with allow_missing: largest missing fraction of the reference
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
            for key, fixed in PRESETS[preset]["definitions"].items():
                given = kwargs.get(key, fixed)
                if isinstance(given, str):
                    given = given.strip().lower()
                if given != fixed:
                    option = "--" + key.replace("_", "-")
                    shown = {"n_fft": "the IR length", "domain": "unset"}.get(
                        key, f"{fixed:g}" if isinstance(fixed, float) else fixed
                    )
                    raise ValueError(
                        f"--preset {preset} fixes {option} ({shown}), the definition its "
                        f"thresholds hold for; got {option} {given}: drop {option}, or drop the "
                        "preset and choose --metric and --fail-above yourself"
                    )
        for m in metrics or ():
            key = check_option("metric", m, METRICS)
            if key not in chosen:
                chosen.append(key)
        if not chosen:
            chosen = ["lsd"]
        regions: list[str] = []
        for text in kwargs.pop("regions", None) or ():
            from .regions import parse_region

            name = parse_region(text).name
            if name not in regions:
                regions.append(name)
        kwargs["regions"] = tuple(regions)
        for name, limit in (fail_above or {}).items():
            region, dot, metric_name = name.rpartition(".")
            if dot:  # REGION.METRIC: a check on a region's overall value
                from .regions import parse_region

                region = parse_region(region).name
                key = check_option("metric", metric_name, METRICS)
                if key in LOCALISATION:
                    raise ValueError(
                        f"--fail-above {name}: regions apply to "
                        f"{'/'.join(m for m in METRICS if m not in LOCALISATION)}, not to the "
                        f"localisation metrics ({'/'.join(LOCALISATION)}); check {key} over "
                        "the whole set (--fail-above "
                        f"{key}=LIMIT)"
                    )
                if region not in regions:
                    raise ValueError(
                        f"--fail-above names the region {region!r}, which is not scored; "
                        f"add --region {region}"
                    )
                if key not in chosen:
                    raise ValueError(
                        f"--fail-above names {key!r}, which is not scored; add --metric {key}"
                    )
                thresholds[f"{region}.{key}"] = Threshold(float(limit), "<=", "fail-above")
                continue
            key = check_option("metric", name, METRICS)
            if key not in chosen:
                raise ValueError(
                    f"--fail-above names {key!r}, which is not scored; add --metric {key}"
                )
            limit = float(limit)
            if not (math.isfinite(limit) and limit >= 0):
                raise ValueError(
                    f"--fail-above {key}={limit:g}: the limit must be a finite number >= 0"
                )
            replaced = thresholds.get(key)
            thresholds[key] = Threshold(limit, "<=", "fail-above", replaces=replaced)
        # Stored normalised: the spec's definitions and batch_spec compare them as written.
        for key in ("domain", "reduction", "itd_method", "length_policy", "weighting"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = kwargs[key].strip().lower()
        if kwargs.get("bands") is not None:
            from .bands import check_kind

            kwargs["bands"] = check_kind(kwargs["bands"])
        opts = cls(
            metrics=tuple(chosen), thresholds=tuple(thresholds.items()), preset=preset, **kwargs
        )
        opts.validate()
        return opts

    def validate(self) -> None:
        check_epsilon(self.epsilon)
        self.check_localisation_options()
        check_option("reduction", self.reduction, ("mean", "rms"))
        check_option("itd method", self.itd_method, ITD_METHODS)
        if self.domain is not None:
            check_option("domain", self.domain, DOMAINS)
        if not (math.isfinite(self.freq_min) and math.isfinite(self.freq_max)):
            raise ValueError(
                "--freq-min and --freq-max must be finite frequencies in Hz; got "
                f"{self.freq_min:g} and {self.freq_max:g}"
            )
        if not (0 <= self.freq_min < self.freq_max):
            raise ValueError(
                f"the band needs 0 <= freq-min < freq-max; got {self.freq_min:g} and {self.freq_max:g}"
            )
        check_option("length policy", self.length_policy, ("error", "truncate", "pad"))
        from .weights import check_scheme

        check_scheme(self.weighting)
        if self.bands is not None:
            from .bands import check_kind

            check_kind(self.bands)
        if self.region_tolerance is not None and not (
            math.isfinite(self.region_tolerance) and self.region_tolerance >= 0
        ):
            raise ValueError(
                f"--region-tolerance must be >= 0 degrees; got {self.region_tolerance}"
            )
        if not (math.isfinite(self.tolerance_deg) and self.tolerance_deg >= 0):
            raise ValueError(f"--position-tolerance must be >= 0 degrees; got {self.tolerance_deg}")
        if not (math.isfinite(self.max_missing) and 0 <= self.max_missing <= 1):
            raise ValueError(f"--max-missing must be a fraction from 0 to 1; got {self.max_missing}")
        if self.n_fft is not None and not (2 <= self.n_fft <= MAX_N_FFT):
            raise ValueError(
                f"--n-fft must be at least 2 and at most {MAX_N_FFT} (the largest FFT length "
                f"hrtfeval takes); got {self.n_fft}"
            )
        from .localisation import check_laterals, check_sensitivity

        object.__setattr__(self, "laterals", check_laterals(self.laterals))
        object.__setattr__(self, "sensitivity", check_sensitivity(self.sensitivity))
        object.__setattr__(self, "dtf", bool(self.dtf))
        if self.max_memory is not None and (
            isinstance(self.max_memory, bool)
            or not isinstance(self.max_memory, int)
            or self.max_memory < 1
        ):
            raise ValueError(
                f"--max-memory must be a positive number of bytes; got {self.max_memory!r}"
            )

    def check_localisation_options(self) -> None:
        """Refuse options that the localisation model does not apply.

        qe/pe/eb score each set as read, on its own grid (:mod:`hrtfeval.perceptual`): direction
        exclusion, regions, bands, area weighting and per-direction values are not applied to
        them, so a run that asks for both would label numbers with options they do not have.

        Raises
        ------
        ValueError
            A localisation metric is asked for together with one of these options (the
            message names the option).
        """
        asked = [m for m in self.metrics if m in LOCALISATION]
        if not asked:
            return
        given = [
            ("--exclude", self.exclude is not None),
            ("--exclude-silent", self.exclude_silent),
            ("--region", bool(self.regions)),
            ("--bands", self.bands is not None),
            ("--weighting area", self.weighting != "none"),
            ("--per-direction", self.per_direction),
        ]
        for option, on in given:
            if on:
                spectral = "/".join(m for m in METRICS if m not in LOCALISATION)
                raise ValueError(
                    f"{option} applies to {spectral}, not to the localisation metrics "
                    f"({'/'.join(LOCALISATION)}, asked for: {', '.join(asked)}), which score "
                    f"each set as read; drop {option} or score {', '.join(asked)} in a "
                    "separate run"
                )

    @property
    def localisation_only(self) -> bool:
        """Only metrics that use each set's own grid: no direction matching is needed."""
        return all(m in LOCALISATION for m in self.metrics)

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
    # Localisation metrics: the model with REF as targets, overall - baseline, per lateral angle.
    baseline: float | None = None
    delta: float | None = None
    by_lateral: dict[str, dict[str, float | None]] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
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


@dataclass
class PairScore:
    """The result of scoring one prediction file against one reference file."""

    prediction: str
    target: str
    spec: dict[str, Any]
    scores: dict[str, MetricScore] = field(default_factory=dict)
    #: Extra blocks after ``passed`` (``bands``, ``regions``): only when asked for.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        checks = [s.passed for s in self.scores.values() if s.passed is not None]
        if "regions" in self.extras:
            from .regions import region_checks

            checks += region_checks(self.extras["regions"])
        return all(checks) if checks else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "prediction": self.prediction,
            "target": self.target,
            "spec": self.spec,
            "scores": {k: v.as_dict() for k, v in self.scores.items()},
            "passed": self.passed,
            **self.extras,
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
    if metric in LOCALISATION:
        return "%" if metric == "qe" else "deg"
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
    if weights is None:
        reduce = reduce_values
    else:
        from .weights import weighted_reduce

        def reduce(v, r, e):
            return weighted_reduce(v, weights, r, e)

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
        score.passed = check.passes(overall)
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
    if options.weighting == "area":
        red = (
            "sum(w v) / sum(w) over directions"
            if options.reduction == "mean"
            else "sqrt(sum(w v^2) / sum(w) + eps) over directions"
        ) + ", w = solid-angle weight of the direction (spec.weighting)"
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
    from .perceptual import definitions as perceptual_definitions

    text.update(perceptual_definitions())
    return {m: text[m] for m in options.metrics}


def spec_dict(
    aligned, options: ScoreOptions, device, pred_t=None, ref_t=None, weights=None
) -> dict[str, Any]:
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
    thresholds = {m: t.as_spec(m) for m, t in options.thresholds}
    n_fft = ref_t.fft_length if ref_t is not None else options.n_fft
    padded = None
    if ref_t is not None and ref_t.domain == IR and n_fft > ref_t.n_samples:
        padded = {"from_samples": ref_t.n_samples, "to_n_fft": n_fft}
    if aligned.matched:
        directions = {
            "reference": aligned.n_reference,
            "matched": aligned.n_matched,
            "missing": int(len(aligned.missing)),
            # Shown in a warning colour below render.LOW_MATCHED_FRACTION (--allow-missing).
            "matched_fraction": aligned.n_matched / aligned.n_reference,
            "max_angle_deg": float(aligned.max_angle_deg),
            "tolerance_deg": options.tolerance_deg,
            # Directions with an all-zero ear among those scored, and (--exclude-silent) those
            # left out, per file.
            "silent": {
                "prediction": int(p.silent_mask().sum()),
                "reference": int(r.silent_mask().sum()),
            },
            "silent_excluded": aligned.silent_excluded,
        }
    else:  # localisation only: each set on its own grid
        directions = {
            "reference": aligned.n_reference,
            "prediction": p.n_directions,
            "matched": None,
            "missing": 0,
            "max_angle_deg": None,
            "tolerance_deg": None,
        }
    from .perceptual import localisation_spec

    spec = {
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
        "n_fft": n_fft,
        # --n-fft above the IR length: the impulse responses are zero-padded before the FFT.
        "zero_padding": padded,
        "directions": directions,
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
    localisation = localisation_spec(options)
    if localisation is not None:
        spec["localisation"] = localisation
    if weights is not None:  # only with --weighting area: default documents are unchanged
        spec["weighting"] = weights.spec()
    if options.bands is not None:
        spec["bands"] = options.bands
    if options.allow_missing:
        spec["directions"]["max_missing_fraction"] = options.max_missing
    if options.ignore_delay:
        spec["ignore_delay"] = True
        for side in ("prediction", "reference"):
            s = aligned.prediction if side == "prediction" else aligned.reference
            spec[side]["delay_ignored"] = bool(s.meta.get("delay_ignored", False))
    if options.exclude is not None:
        spec["directions"]["excluded"] = int(getattr(aligned, "excluded", 0))
        spec["exclude"] = options.exclude
    if options.regions:
        from .regions import region_spec

        spec["regions"] = region_spec(
            options.regions, options.region_tolerance, aligned.reference.positions
        )
    return spec


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
    if aligned.matched:
        check_silent(aligned, options)
    check_pair_memory(aligned, options)
    with (
        warnings_about(_pair_label(aligned.prediction, aligned.reference)),
        one_cpu_thread(device),
    ):
        return _score_aligned(aligned, options, device)


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


def _score_aligned(aligned, options: ScoreOptions, device) -> PairScore:
    if options.localisation_only:
        return score_values(aligned, options, device)
    pred_t, ref_t = tensors_for(aligned, options, device)
    values = spectral_values(pred_t, ref_t, options)
    return score_values(aligned, options, device, pred_t, ref_t, values)


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
) -> PairScore:
    """One pair's :class:`PairScore` from its per-direction ``values`` (:func:`spectral_values`).

    The one place a pair's score is assembled, for a single pair and for every row of a stacked
    batch alike: reductions, localisation scores, spec and extra blocks. ``pred_t``/``ref_t`` are
    the tensors the values were computed from (None when only localisation metrics are scored);
    ``stacked`` says they hold a whole stack, so that blocks needing the pair's own tensors
    (``--bands``) rebuild them.
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
    spec = spec_dict(aligned, options, device, pred_t, ref_t, weights)
    spec["notes"] += notes
    scores = {m: scores[m] for m in options.metrics}
    return PairScore(aligned.prediction.path, aligned.reference.path, spec, scores, extras)


def pair_units(options: ScoreOptions, pred_t, ref_t) -> dict[str, str]:
    """The unit of each scored metric for one pair (spectral and interaural metrics)."""
    return {
        m: metric_unit(
            m, effective_domain(options, pred_t.domain, ref_t.domain) if m in ("rmse", "mae") else ""
        )
        for m in options.metrics
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
            if any(m in ("rmse", "mae") for m in options.metrics)
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


def load_aligned(prediction: str, target: str, options: ScoreOptions, timeout: float | None = None):
    """Read both files and align them (directions, rate, length) as ``options`` say.

    ``timeout`` (s): read the files in a child process that is stopped after that long
    (:func:`hrtfeval.procs.read_in_child`), for callers that cannot afford a hanging reader;
    None reads them here.

    The readers check each file's declared sizes against ``options.max_memory`` before
    reading (the second file within what the first left); then the aligned pair's working
    memory is checked (:func:`check_pair_memory`) and the silent directions handled
    (:func:`apply_silent_policy`), so that a pair that cannot be scored fails here, before any
    heavy computation.
    """
    from .memory import PairReader

    reader = PairReader(not options.ignore_delay, options.max_memory, options.n_fft)
    if timeout is None:
        sets = [reader(prediction), reader(target)]
    else:
        from .procs import read_in_child

        sets = read_in_child(reader, [prediction, target], timeout)
    return align_sets(*sets, options)


def align_sets(pred, ref, options: ScoreOptions):
    """Align two :class:`~hrtfeval.model.HRTFSet` as ``options`` say (nothing to match when
    only the localisation metrics are asked for: each set keeps its own grid)."""
    from .align import AlignedPair, align_pair

    if options.localisation_only:
        return AlignedPair(
            pred,
            ref,
            ref.n_directions,
            np.zeros(0, dtype=np.intp),
            0.0,
            [],
            matched=False,
            originals=(pred, ref),
        )
    aligned = align_pair(
        pred,
        ref,
        tolerance_deg=options.tolerance_deg,
        allow_missing=options.allow_missing,
        length_policy=options.length_policy,
    )
    if any(m in LOCALISATION for m in options.metrics):
        aligned.originals = (pred, ref)
    if options.allow_missing and aligned.n_reference:
        fraction = len(aligned.missing) / aligned.n_reference
        if fraction > options.max_missing:
            raise HrtfevalError(
                f"{len(aligned.missing)} of the {aligned.n_reference} reference directions "
                f"({fraction:.0%}) have no prediction, more than --max-missing "
                f"{options.max_missing:g} ({options.max_missing:.0%}) allows with --allow-missing",
                ref.path,
            )
    if options.exclude is not None:
        from .regions import apply_exclude

        aligned = apply_exclude(aligned, options.exclude, options.tolerance_deg)
    check_n_fft(pred, ref, options)
    check_pair_memory(aligned, options)
    aligned = apply_silent_policy(aligned, options)
    return aligned


def check_n_fft(pred, ref, options: ScoreOptions) -> None:
    """``--n-fft`` with two sets of spectra is a usage error: it sets the FFT length of impulse
    responses, and spectra are scored at the bins they hold (it would be silently ignored)."""
    if options.n_fft is not None and pred.domain != IR and ref.domain != IR:
        raise HrtfevalError(
            f"--n-fft {options.n_fft} cannot apply: both files hold spectra "
            f"({pred.domain}, {ref.domain}), not impulse responses, and are scored at their "
            "own frequency bins; leave --n-fft out",
            _pair_label(pred, ref),
        )


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
            asked = (
                f"--preset {options.preset}"
                if options.preset
                else "--metric " + "/".join(interaural)
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
                notes.append(
                    f"{hrtf.path}: {_silent_text(hrtf, mask)}; left out (--exclude-silent)"
                )
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
