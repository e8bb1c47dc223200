"""Interaural cues per direction: ITD (s) and ILD (dB), vectorised over directions in torch.

Every function takes impulse responses (or spectra) shaped ``(..., 2, N)``: the ear axis is the
second to last (0 = left, 1 = right), the samples (or bins) are the last, and any leading axes
(directions, sets, batches) are kept in the result, which has shape ``(...)``. The work runs on
the input's device (CPU or CUDA) in float64 (the fast MaxIACCe path in float32, see below).

The ITD follows the LAP challenge (Task 2) evaluation, MaxIACCe after Andreopoulou & Katz (2017):
each ear is low-passed by a causal order-10 Butterworth filter at 3 kHz (``scipy.signal.butter``
in (b, a) form, ``scipy.signal.lfilter`` from rest), its envelope ``|hilbert(x)|`` is taken, and
the left envelope is cross-correlated with the right one (``np.correlate(left, right, "full")``);
the lag of the largest ``|correlation|`` is the ITD in samples. The per-direction loop of the
official code is replaced by one call per stage for all directions at once, in
:mod:`hrtfeval._itd_lags`: a float32 fast path (CPU and CUDA alike) whose lag is kept only where
it cannot differ from the exact one, the same path in float64 for the directions it cannot vouch
for, and the exact path (``lfilter`` in float64 on the CPU, the very recursion of the official
code) for the directions neither can vouch for and for the ``threshold`` method.

So the lags are the official code's on every device; a tie within ~1e-16 can still go either
way, as it can between two correct implementations of the official code.

Sign convention: ``itd_seconds > 0`` means the *left ear lags* (the right ear leads), i.e. the
source is on the listener's right; ``itd_seconds < 0`` means the left ear leads. The ILD is
``level_left - level_right``: positive when the left ear is louder.

Importing this module imports numpy only; torch is imported at the first call. ``scipy.signal``
is never imported (about 1 s): the Butterworth design and ``lfilter`` are numpy ports of scipy's,
equal bit for bit (:mod:`hrtfeval._iir`).
"""

from __future__ import annotations

import numpy as np

from ._itd_lags import (
    LOWPASS_CUTOFF_HZ,
    LOWPASS_ORDER,
    ONSET_THRESHOLD_DB,
    _check_lowpass,
    _check_sampling_rate,
    _itd_lags,
    _torch,
    lowpass_impulse_response,
)
from .constants import ITD_METHODS
from .validate import check_option

__all__ = [
    "ITD_METHODS",
    "LOWPASS_CUTOFF_HZ",
    "LOWPASS_ORDER",
    "ONSET_THRESHOLD_DB",
    "itd_seconds",
    "itd_seconds_many",
    "ild_db",
    "ild_db_from_spectrum",
    "itd_error_us",
    "ild_error_db",
    "lowpass_impulse_response",
]


def _tensor(torch, value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        value = value.copy()  # torch warns about (and cannot protect) read-only arrays
    return torch.as_tensor(value)


def _as_ears(torch, value, name: str, min_samples: int, check_finite: bool = True):
    """``value`` as a real float64 tensor shaped (..., 2, N) with N >= min_samples."""
    x = _tensor(torch, value)
    if x.is_complex():
        raise ValueError(f"{name} must hold real impulse responses; got dtype {x.dtype}")
    if x.dim() < 2 or x.shape[-2] != 2:
        raise ValueError(
            f"{name} must have shape (..., 2, N) with the ears (left, right) on the second to "
            f"last axis; got shape {tuple(x.shape)}"
        )
    if x.shape[-1] < min_samples:
        raise ValueError(
            f"{name} must have at least {min_samples} sample(s) on its last axis; "
            f"got shape {tuple(x.shape)}"
        )
    x = x.to(torch.float64)
    if check_finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def itd_seconds(ir, sampling_rate: float, method: str = "maxiacce", *, check_finite: bool = True):
    """Interaural time difference per direction, in seconds.

    Parameters
    ----------
    ir : torch.Tensor or array-like, shape (..., 2, N)
        Real head-related impulse responses; ear 0 is left, ear 1 is right; N >= 2. Any real
        dtype (computed in float64) on any device.
    sampling_rate : float
        In Hz; must be above 6 kHz (the 3 kHz low-pass needs it).
    method : {"maxiacce", "threshold"}, default "maxiacce"
        Both start by low-passing each ear (order-10 Butterworth at 3 kHz, causal, from rest) and
        taking its Hilbert envelope ``e = |hilbert(x_lp)|``.

        ``"maxiacce"``: ``c = correlate(e_left, e_right, "full")`` over lags
        ``-(N-1) .. N-1``; the ITD is the lag of ``max |c|`` divided by ``sampling_rate``. On an
        exact tie the smallest (most negative) lag wins, as with ``np.argmax``. Unlike the
        official LAP code, which subtracts ``N`` instead of ``N - 1``, no one-sample bias is
        added: a pure delay of k samples gives exactly ``k / sampling_rate``.

        ``"threshold"``: each ear's onset is the first sample where its energy envelope ``e**2``
        reaches -10 dB relative to its own peak (``e**2 >= 0.1 * max(e**2)``, i.e. ``e`` at
        31.6 % of its peak); the ITD is ``(onset_left - onset_right) / sampling_rate``. An ear
        of zeros has its onset at sample 0.
    check_finite : bool, default True
        Reject NaN/inf input. The scoring pipeline passes False: its readers already did.

    Returns
    -------
    torch.Tensor, shape (...), float64
        On ``ir``'s device. Multiples of ``1 / sampling_rate`` (no sub-sample interpolation).
        Positive: the left ear lags (the right ear leads, source on the right); negative: the
        left ear leads.

    Raises
    ------
    ValueError
        ``ir`` is complex, not shaped (..., 2, N), has N < 2 or non-finite values;
        ``sampling_rate`` is not a positive number (or not above 6 kHz); unknown ``method``.

    Notes
    -----
    MaxIACCe runs in float32; a direction whose two best lags are too close to call in float32
    runs again in float64, and one still too close to call is recomputed with
    ``scipy.signal.lfilter``'s recursion (see the module notes), so CPU and CUDA give the lags
    of the per-direction official code.

    Examples
    --------
    >>> import torch
    >>> ir = torch.zeros(2, 64, dtype=torch.float64)
    >>> ir[1, 10] = 1.0          # right ear: impulse at sample 10
    >>> ir[0, 13] = 1.0          # left ear: 3 samples later
    >>> float(itd_seconds(ir, 48000) * 48000)
    3.0
    """
    return itd_seconds_many([ir], sampling_rate, method, check_finite=check_finite)[0]


def itd_seconds_many(
    irs, sampling_rate: float, method: str = "maxiacce", *, check_finite: bool = True
) -> list:
    """:func:`itd_seconds` of several sets of IRs at one rate and length, in one go.

    The same numbers as one :func:`itd_seconds` call per set; the directions of all sets that
    the float32 MaxIACCe pass cannot vouch for are settled together (one call instead of one
    per set). The scoring pipeline passes a pair's prediction and reference.

    Parameters
    ----------
    irs : sequence of tensors or array-likes, each shaped (..., 2, N) with the same N
    sampling_rate, method, check_finite
        As for :func:`itd_seconds`.

    Returns
    -------
    list of torch.Tensor
        One per set, shaped like it without the last two axes, float64 seconds.
    """
    method = check_option("method", method, ITD_METHODS)
    fs = _check_sampling_rate(sampling_rate)
    _check_lowpass(fs, LOWPASS_CUTOFF_HZ, LOWPASS_ORDER)
    torch = _torch()
    sets = [
        _as_ears(torch, ir, "ir" if len(irs) == 1 else f"irs[{k}]", 2, check_finite)
        for k, ir in enumerate(irs)
    ]
    if not sets:
        return []
    lengths = {x.shape[-1] for x in sets}
    if len(lengths) > 1:
        raise ValueError(f"irs must share one length N; got lengths {sorted(lengths)}")
    if len({x.device for x in sets}) > 1:
        raise ValueError("irs must be on one device")
    lags = _itd_lags(torch, [x.reshape(-1, 2, x.shape[-1]) for x in sets], fs, method)
    return [lag.reshape(x.shape[:-2]).to(torch.float64) / fs for lag, x in zip(lags, sets)]


def ild_db(ir, *, check_finite: bool = True):
    """Interaural level difference per direction, in dB: ``20*log10(rms_left / rms_right)``.

    Parameters
    ----------
    ir : torch.Tensor or array-like, shape (..., 2, N)
        Real impulse responses, ear 0 left, ear 1 right, N >= 1; the RMS runs over all N samples.

    Returns
    -------
    torch.Tensor, shape (...), float64
        Positive when the left ear is louder. An ear of zeros gives +/-inf (or NaN when both
        are zero). Differentiable.

    Raises
    ------
    ValueError
        ``ir`` is complex, not shaped (..., 2, N), empty on its last axis or not finite.
    """
    torch = _torch()
    x = _as_ears(torch, ir, "ir", min_samples=1, check_finite=check_finite)
    level = 20.0 * torch.log10(torch.sqrt(torch.mean(x * x, dim=-1)))
    return level[..., 0] - level[..., 1]


def ild_db_from_spectrum(spectrum, n_fft: int):
    """ILD in dB from one-sided spectra, equal to :func:`ild_db` of the impulse responses.

    The energy of an ``n_fft``-sample real IR follows from its ``rfft`` by Parseval:
    ``sum x**2 = (|X_0|**2 + 2 * sum_{0<k<n_fft/2} |X_k|**2 + |X_{n_fft/2}|**2) / n_fft``, the
    last term only for even ``n_fft``.

    Parameters
    ----------
    spectrum : torch.Tensor or array-like, shape (..., 2, n_fft // 2 + 1)
        ``rfft`` of the IRs: complex, or real linear magnitudes ``|X|`` (not dB).
    n_fft : int
        Length of the IRs the spectra were computed from (tells whether the last bin is Nyquist).

    Returns
    -------
    torch.Tensor, shape (...), float64
        ``20*log10(rms_left) - 20*log10(rms_right)``; positive when the left ear is louder.

    Raises
    ------
    ValueError
        Not shaped (..., 2, n_fft // 2 + 1), ``n_fft`` not a positive integer, non-finite values.
    """
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 1:
        raise ValueError(f"n_fft must be a positive integer number of samples; got {n_fft!r}")
    torch = _torch()
    x = _tensor(torch, spectrum)
    n_bins = n_fft // 2 + 1
    if x.dim() < 2 or x.shape[-2] != 2 or x.shape[-1] != n_bins:
        raise ValueError(
            f"spectrum must have shape (..., 2, {n_bins}) (ears, then the n_fft // 2 + 1 bins of "
            f"an rfft of n_fft={n_fft} samples); got shape {tuple(x.shape)}"
        )
    if x.is_complex():
        x = x.to(torch.complex128)
        power = x.real * x.real + x.imag * x.imag
    else:
        x = x.to(torch.float64)
        power = x * x
    if not bool(torch.isfinite(power).all()):
        raise ValueError("spectrum contains NaN or infinite values")
    weights = torch.full((n_bins,), 2.0, dtype=torch.float64, device=x.device)
    weights[0] = 1.0
    if n_fft % 2 == 0:
        weights[-1] = 1.0  # the Nyquist bin has no mirror image
    energy = (power * weights).sum(dim=-1) / n_fft
    level = 20.0 * torch.log10(torch.sqrt(energy / n_fft))
    return level[..., 0] - level[..., 1]


def _abs_difference(torch, predicted, reference, what: str):
    p = _tensor(torch, predicted)
    r = _tensor(torch, reference)
    if p.shape != r.shape:
        raise ValueError(
            f"predicted and reference {what} must have the same shape; "
            f"got {tuple(p.shape)} and {tuple(r.shape)}"
        )
    return (p.to(torch.float64) - r.to(torch.float64).to(p.device)).abs()


def itd_error_us(predicted_itd, reference_itd):
    """Per-direction absolute ITD error in microseconds, from ITDs in seconds (same shapes)."""
    torch = _torch()
    return _abs_difference(torch, predicted_itd, reference_itd, "ITDs") * 1e6


def ild_error_db(predicted_ild, reference_ild):
    """Per-direction absolute ILD error in dB, from ILDs in dB (same shapes)."""
    torch = _torch()
    return _abs_difference(torch, predicted_ild, reference_ild, "ILDs")


def cue_ranges(hrtf) -> dict | None:
    """ITD (µs, MaxIACCe) and ILD (dB) ranges over the directions of one set, for ``info``.

    Returns ``None`` when the set cannot give them: magnitude-only data has no ITD (the ILD
    range is still given), and impulse responses need a sampling rate. Silent directions (an
    ear all zeros), where both cues are undefined, are left out of the ranges.
    """
    from dataclasses import replace

    import torch

    from .errors import HrtfevalError
    from .represent import SetTensors

    silent = hrtf.silent_mask()
    if silent.all():
        return {}
    if silent.any():
        hrtf = replace(hrtf, data=hrtf.data[~silent], silent=None)
    s = SetTensors.from_set(hrtf, torch.device("cpu"))
    out: dict = {}
    if s.domain == "ir":
        ild = ild_db(s.ir)
    else:
        ild = ild_db_from_spectrum(s.spectrum, s.fft_length)
    ild = ild[torch.isfinite(ild)]  # a silent ear gives +-inf; leave it out of the range
    if ild.numel():
        out["ild_min_db"], out["ild_max_db"] = float(ild.min()), float(ild.max())
    try:
        ir = s.impulse_responses()
    except HrtfevalError:
        ir = None
    if ir is not None and hrtf.sampling_rate:
        itd = itd_seconds(ir, float(hrtf.sampling_rate)) * 1e6
        out["itd_min_us"], out["itd_max_us"] = float(itd.min()), float(itd.max())
    return out
