"""SOFA ``Data.Delay``: read it (samples, or seconds when its Units say so) and apply it to the
impulse responses or spectra."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..coords import SAMPLE_UNITS, SECOND_UNITS
from ..errors import HrtfevalError, HrtfevalWarning
from ..model import IR
from .backend import SofaFile
from .checks import _Budget, _check_finite
from .variables import _attr, _per_measurement, _read_var

#: Above this fraction of a set's energy pushed past N samples by ``Data.Delay``, warn.
DELAY_LOSS_WARN_FRACTION = 1e-3


def _sofa_delay(
    ds: SofaFile,
    m_count: int,
    sampling_rate: float | None,
    file: str,
    budget: _Budget | None = None,
) -> np.ndarray | None:
    """``Data.Delay`` as (M, 2) samples, or None when the file has none.

    AES69 gives the delay in samples and defines no Units for it; a file whose ``Units``
    attribute says seconds is converted with the sampling rate.
    """
    got = _read_var(ds, "Data.Delay", file, ("M", "R"), ("I", "R"), budget=budget)
    if got is None:
        return None
    values, dims = got
    shape = tuple(values.shape)
    values = np.asarray(values, dtype=np.float64)
    # Old files: (I, R, 1) / (M, R, 1); a bare (R,) or scalar also occurs.
    while values.ndim > 2 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 0:
        values = values.reshape(1, 1)
    elif values.ndim == 1:
        # One delay per measurement (dimension M) applies to both ears; otherwise (R,).
        per_row = dims[:1] == ("M",) or values.shape[0] not in (1, 2)
        values = values[:, None] if per_row else values[None, :]
    if values.ndim != 2 or values.shape[1] not in (1, 2):
        raise HrtfevalError(
            f"Data.Delay has shape {shape}; expected (1, 2) or (M, 2) samples", file=file
        )
    values = _per_measurement(values, dims, m_count, "Data.Delay", file)
    _check_finite(values, "Data.Delay", file)
    negative = np.flatnonzero(np.any(values < 0, axis=1))
    if negative.size:
        raise HrtfevalError(
            f"Data.Delay has {negative.size} row(s) with a negative delay (min "
            f"{float(values.min()):g}, first at row {int(negative[0])}); expected delays >= 0 "
            "(samples the response is late by)",
            file=file,
        )
    units = _attr(ds.variables["Data.Delay"], "Units")
    unit = (units or "").lower()
    if unit in SECOND_UNITS:
        if sampling_rate is None:
            if np.any(values != 0):
                warnings.warn(
                    HrtfevalWarning(
                        "Data.Delay is in seconds but the file has no sampling rate to "
                        "convert it to samples; it is ignored",
                        file,
                    ),
                    stacklevel=4,
                )
            return None
        values = values * sampling_rate
    elif unit not in SAMPLE_UNITS:
        raise HrtfevalError(
            f"Data.Delay has units {units!r}; expected samples (no Units attribute) or 'second'",
            file=file,
        )
    return np.broadcast_to(values, (m_count, 2)).copy()


def _apply_sofa_delay(
    data: np.ndarray,
    delay: np.ndarray,
    domain: str,
    sampling_rate: float | None,
    frequencies: np.ndarray | None,
    file: str,
) -> tuple[np.ndarray, bool]:
    if domain == IR:
        delayed, lost = apply_delay(data, delay)
        if lost > DELAY_LOSS_WARN_FRACTION:
            warnings.warn(
                HrtfevalWarning(
                    f"Data.Delay (up to {delay.max():g} samples) pushes {100 * lost:.2g} % "
                    f"of the set's energy past the {data.shape[2]} samples kept; that part is "
                    "lost",
                    file,
                ),
                stacklevel=4,
            )
        return delayed, True
    if sampling_rate is None:
        warnings.warn(
            HrtfevalWarning(
                "Data.Delay is non-zero but the file has no sampling rate, so the delay "
                "(in samples) cannot be applied to the spectra; it is ignored",
                file,
            ),
            stacklevel=4,
        )
        return data, False
    phase = np.exp(
        (-2j * np.pi / sampling_rate) * delay[:, :, None] * np.asarray(frequencies)[None, None, :]
    )
    return data * phase, True


def apply_delay(ir: np.ndarray, delay: np.ndarray) -> tuple[np.ndarray, float]:
    """Delay impulse responses by ``delay`` samples, keeping their length N.

    Integer delays are pure shifts (zeros shifted in). Fractional delays use a linear phase
    ``exp(-2j*pi*k*d/L)`` on a zero-padded FFT of length ``L >= 2N + |d|`` (band-limited
    interpolation), then keep the first N samples. Either way, what is pushed past sample N
    (or, for a negative delay, before sample 0) is lost.

    Parameters
    ----------
    ir : numpy.ndarray, shape (M, R, N), real
    delay : numpy.ndarray, broadcastable to (M, R)
        Delay in samples per measurement and receiver.

    Returns
    -------
    delayed : numpy.ndarray, shape (M, R, N)
    lost_fraction : float
        Energy lost over the whole set divided by its energy (0 for an all-zero set).
    """
    ir = np.asarray(ir, dtype=np.float64)
    m_count, r_count, n_count = ir.shape
    delay = np.broadcast_to(np.asarray(delay, dtype=np.float64), (m_count, r_count))
    out = ir.copy()
    lost = 0.0
    rounded = np.rint(delay)
    is_int = np.abs(delay - rounded) <= 1e-9
    gone = np.abs(delay) >= n_count  # pushed out entirely (also keeps the FFT below short)

    shift = is_int & (rounded != 0) & ~gone
    if shift.any():
        k = rounded[shift].astype(np.int64)
        src = ir[shift]  # (P, N)
        idx = np.arange(n_count)[None, :] - k[:, None]
        valid = (idx >= 0) & (idx < n_count)
        moved = np.take_along_axis(src, np.clip(idx, 0, n_count - 1), axis=1)
        moved[~valid] = 0.0
        out[shift] = moved
        lost += float(np.sum(src * src) - np.sum(moved * moved))

    frac = ~is_int & ~gone
    if frac.any():
        d = delay[frac]
        # |d| < N, so the delayed response [d, d + N) never wraps back into the kept [0, N).
        n_fft = 2 * n_count + int(math.ceil(float(np.abs(d).max())))
        spec = np.fft.rfft(ir[frac], n=n_fft, axis=-1)
        bins = np.arange(spec.shape[-1]) / n_fft
        spec *= np.exp(-2j * np.pi * d[:, None] * bins[None, :])
        full = np.fft.irfft(spec, n=n_fft, axis=-1)
        out[frac] = full[:, :n_count]
        tail = full[:, n_count:]  # past N, or (negative delay) wrapped from before 0
        lost += float(np.sum(tail * tail))

    if gone.any():
        lost += float(np.sum(ir[gone] ** 2))
        out[gone] = 0.0

    energy = float(np.einsum("ijk,ijk->", ir, ir))
    return out, (min(max(lost, 0.0) / energy, 1.0) if energy > 0.0 else 0.0)
