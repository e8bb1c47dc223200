"""Per-direction errors of one metric from two :class:`~hrtfeval.represent.SetTensors`, and
the unit and rmse/mae domain they are stated in."""

from __future__ import annotations

import numpy as np

from .errors import HrtfevalError
from .loss import metric_values
from .metrics import get
from .model import IR
from .options import ScoreOptions


def metric_unit(metric: str, domain: str) -> str:
    """The unit of ``metric``'s values when rmse/mae compare ``domain`` (the registry's)."""
    return get(metric).unit_in(domain)


def effective_domain(options: ScoreOptions, pred_domain: str, ref_domain: str) -> str:
    """The representation rmse/mae are computed on (``--domain``; by default time when both
    are IRs)."""
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
    and ild (|dILD| in dB); leading axes are stacked pairs. Dispatched through the metric
    registry (:mod:`hrtfeval.metrics`) to the metric's own function.
    """
    return get(metric).per_direction(pred, ref, options)


def band_index(pred, ref, options: ScoreOptions):
    """The last-axis index of the scored band's bins (``--freq-min``/``--freq-max``)."""
    from .represent import band_bins, check_same_bins

    freqs = check_same_bins(pred, ref)
    return _bins_index(
        band_bins(
            freqs,
            options.freq_min,
            options.freq_max,
            ref.sampling_rate or pred.sampling_rate,
            file=_pair_label(pred, ref),
        ),
        pred,
    )


def lsd_errors(pred, ref, metric: str, options: ScoreOptions):
    """Per direction and ear log-spectral distance (dB) over the band, ``(..., M, 2)``."""
    bins = band_index(pred, ref, options)
    eps = options.epsilon
    return metric_values(pred.spectrum[..., bins], ref.spectrum[..., bins], "lsd", "linear", eps)


def rmse_mae_errors(pred, ref, metric: str, options: ScoreOptions):
    """Per direction and ear rmse or mae on the rmse/mae domain, ``(..., M, 2)``."""
    eps = options.epsilon
    domain = effective_domain(options, pred.domain, ref.domain)
    if domain == "time":
        return metric_values(pred.ir, ref.ir, metric, "db", eps)
    bins = band_index(pred, ref, options)
    if domain == "db":
        return metric_values(
            pred.magnitude_db(bins, eps), ref.magnitude_db(bins, eps), metric, "db", eps
        )
    return metric_values(
        pred.spectrum[..., bins].abs(), ref.spectrum[..., bins].abs(), metric, "db", eps
    )


def itd_errors(pred, ref, metric: str, options: ScoreOptions):
    """Per direction |ITD_pred - ITD_ref| in µs, ``(..., M)``."""
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
        raise HrtfevalError(f"the ITD cannot be computed: {exc}", _rate_file(pred, ref)) from None
    return (itd_p - itd_r).abs() * 1e6


def ild_errors(pred, ref, metric: str, options: ScoreOptions):
    """Per direction |ILD_pred - ILD_ref| in dB, ``(..., M)``."""
    return (_ild(pred) - _ild(ref)).abs()


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
