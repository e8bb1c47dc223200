"""Steps 0-4 of the sagittal-plane localisation model: what each ear's spectrum tells.

Directional transfer functions, lateral and polar angles, the directions of a sagittal plane,
gammatone band levels and their positive gradients (see :mod:`hrtfeval.localisation` for the
whole model). Pure functions of numpy arrays; scipy is imported inside the functions that need
it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import HrtfevalError
from .localisation_params import (
    _COVER_HIGH,
    _COVER_LOW,
    _GAMMATONE_BW,
    _MAX_GAP,
    _WIDTHS,
    BAND_LIMITS,
    DTF_BAND,
    EPS,
)
from .model import IR, TF, HRTFSet

# --------------------------------------------------------------------------------------------
# Step 0: directional transfer functions
# --------------------------------------------------------------------------------------------


def directional_transfer_functions(ir: np.ndarray, sampling_rate: float) -> np.ndarray:
    """Impulse responses with the set's common transfer function removed (per ear).

    The common transfer function has the magnitude ``exp(mean_m ln(|H_m| + eps))`` over all M
    directions and its minimum phase (folded real cepstrum); each direction's spectrum is divided
    by it at the bins from 50 Hz to 18 kHz (and their mirrors), unchanged elsewhere.

    Parameters
    ----------
    ir : numpy.ndarray, shape (M, R, N)
        Real impulse responses of all M directions, R ears.
    sampling_rate : float
        In Hz.

    Returns
    -------
    numpy.ndarray, shape (M, R, N), float64
        The directional impulse responses.
    """
    ir = np.asarray(ir, dtype=np.float64)
    n = ir.shape[-1]
    spectrum = np.fft.rfft(ir, axis=-1)  # bins 0 ... N//2 (the rest is their mirror)
    log_mag = np.log(np.abs(spectrum) + EPS).mean(axis=0)  # (R, N//2+1)
    cepstrum = np.fft.irfft(log_mag, n=n, axis=-1)  # = IFFT of the symmetric full spectrum
    folded = np.zeros_like(cepstrum)
    folded[..., 0] = cepstrum[..., 0]
    half = (n - 1) // 2  # c_1 ... c_{N/2-1} (even N) or c_1 ... c_{(N-1)/2} (odd N) doubled
    folded[..., 1 : half + 1] = 2.0 * cepstrum[..., 1 : half + 1]
    if n % 2 == 0:
        folded[..., n // 2] = cepstrum[..., n // 2]
    phase = np.angle(np.exp(np.fft.rfft(folded, axis=-1)))
    ctf = np.exp(log_mag) * np.exp(1j * phase)
    f = np.arange(n // 2 + 1, dtype=np.float64) * (float(sampling_rate) / n)
    band = (f >= DTF_BAND[0]) & (f <= DTF_BAND[1])
    spectrum[..., band] = spectrum[..., band] / ctf[..., band]
    return np.fft.irfft(spectrum, n=n, axis=-1)


# --------------------------------------------------------------------------------------------
# Step 1-2: coordinates and sagittal planes
# --------------------------------------------------------------------------------------------


def sagittal_coordinates(azimuth, elevation) -> tuple[np.ndarray, np.ndarray]:
    """Lateral and polar angles (degrees) of directions given by azimuth and elevation (degrees).

    Computed per direction with Python's scalar ``math`` functions, in the exact order of the
    model's definition, because later steps compare the angles exactly.

    Returns
    -------
    lateral : numpy.ndarray, shape (M,)
        In [-90, 90], positive to the left.
    polar : numpy.ndarray, shape (M,)
        In [-90, 270): 0 front, 90 above, 180 behind.
    """
    az = np.asarray(azimuth, dtype=np.float64).ravel().tolist()
    el = np.asarray(elevation, dtype=np.float64).ravel().tolist()
    to_rad, to_deg = math.pi / 180, 180 / math.pi
    cos, sin, atan2, sqrt, floor = math.cos, math.sin, math.atan2, math.sqrt, math.floor
    lateral, polar = [], []
    for phi, theta in zip(az, el):
        pr, tr = phi * to_rad, theta * to_rad
        x = cos(tr) * cos(pr)
        y = cos(tr) * sin(pr)
        z = sin(tr)
        if abs(x) < EPS:
            x = 0.0
        if abs(y) < EPS:
            y = 0.0
        if abs(z) < EPS:
            z = 0.0
        lateral.append(atan2(y, sqrt(x * x + z * z)) * to_deg)
        q = atan2(z, x) * to_deg + 90
        polar.append((q - 360 * floor(q / 360)) - 90)
    return np.array(lateral, dtype=np.float64), np.array(polar, dtype=np.float64)


def sagittal_plane(
    lateral: np.ndarray, polar: np.ndarray, lateral_angle: float, file: str | None = None
) -> np.ndarray:
    """Indices of the directions that make up the sagittal plane at ``lateral_angle``.

    For widths w = 1 ... 5 degrees: the directions with ``|lateral - lateral_angle| <= (w +
    0.01) / 2``, sorted by polar angle, one per polar angle (the first in file order); the first
    width whose polar angles reach -29.99 and 209.99 without a gap over 30 degrees is used, else
    w = 5.

    Returns
    -------
    numpy.ndarray of int
        Direction indices, sorted by ascending polar angle.

    Raises
    ------
    HrtfevalError
        When no direction lies within 2.505 degrees of ``lateral_angle``.
    """
    lateral = np.asarray(lateral, dtype=np.float64)
    polar = np.asarray(polar, dtype=np.float64)
    offset = np.abs(lateral - float(lateral_angle))
    chosen = np.zeros(0, dtype=np.intp)
    for w in _WIDTHS:
        idx = np.flatnonzero(offset <= (w + 0.01) / 2)
        order = idx[np.argsort(polar[idx], kind="stable")]
        p = polar[order]
        keep = np.ones(p.size, dtype=bool)
        keep[1:] = p[1:] != p[:-1]
        chosen = order[keep]
        p = polar[chosen]
        if (
            p.size
            and p[0] <= _COVER_LOW
            and p[-1] >= _COVER_HIGH
            and (p.size < 2 or np.max(np.diff(p)) <= _MAX_GAP)
        ):
            break
    if chosen.size == 0:
        raise HrtfevalError(
            f"no direction lies within {(_WIDTHS[-1] + 0.01) / 2:g} deg of lateral angle "
            f"{float(lateral_angle):g} deg (its directions span lateral angles "
            f"{lateral.min():g} to {lateral.max():g} deg); choose another --lateral",
            file,
        )
    return chosen


# --------------------------------------------------------------------------------------------
# Step 3-4: band levels and gradients
# --------------------------------------------------------------------------------------------


def _erb_rate(f: float) -> float:
    return 9.2645 * math.log(1 + 0.00437 * f)


def _erb_rate_inverse(e: float) -> float:
    return (math.exp(e / 9.2645) - 1) / 0.00437


def band_centres() -> np.ndarray:
    """The 28 gammatone centre frequencies (Hz), one ERB apart, spanning 700 Hz - 18 kHz."""
    lo, hi = _erb_rate(BAND_LIMITS[0]), _erb_rate(BAND_LIMITS[1])
    n = math.floor(hi - lo)
    r = hi - lo - n
    return np.array([_erb_rate_inverse(lo + r / 2 + j) for j in range(n + 1)], dtype=np.float64)


def gammatone_coefficients(centre: float, sampling_rate: float) -> tuple[float, np.ndarray]:
    """Numerator gain ``b`` and denominator ``(1 - a z^-1)^4`` (5 complex coefficients) of a
    band."""
    fs = float(sampling_rate)
    beta = _GAMMATONE_BW * (24.7 + centre / 9.265)
    pole = np.exp(-2 * np.pi * beta / fs - 1j * 2 * np.pi * centre / fs)
    # math.exp (the C library's), not np.exp: numpy's own scalar exp (its SIMD loops)
    # differs from it by an ulp for some arguments (numpy 2.4), which 1 - r (r near 1) and
    # the 4th power amplify to ~1e-14 of b and ~1e-10 in the band levels.
    b = (1 - math.exp(-2 * math.pi * beta / fs)) ** 4
    # (1 - a z^-1)^4 expanded one root at a time, c[1:j+1] -= a * c[:j], as a polynomial's
    # coefficients are usually built from its roots (the repeated pole makes the direct form
    # sensitive to the last bit of its coefficients).
    den = np.zeros(5, dtype=np.complex128)
    den[0] = 1.0
    for j in range(1, 5):
        den[1 : j + 1] = den[1 : j + 1] - pole * den[:j]
    return float(b), den


def check_sampling_rate(sampling_rate, file: str | None = None) -> float:
    """The rate as a float, or raise when it is missing or too low for the highest band."""
    if sampling_rate is None or not np.isfinite(sampling_rate) or sampling_rate <= 0:
        raise HrtfevalError(
            "has no sampling rate; the localisation model needs one (its bands are in Hz)", file
        )
    top = band_centres()[-1]
    if top >= float(sampling_rate) / 2:
        raise HrtfevalError(
            f"its sampling rate {float(sampling_rate):g} Hz is too low for the localisation "
            f"model: its highest band is centred at {top:.1f} Hz, which needs a rate above "
            f"{2 * top:.0f} Hz",
            file,
        )
    return float(sampling_rate)


def band_levels(ir: np.ndarray, sampling_rate: float, file: str | None = None) -> np.ndarray:
    """Gammatone band levels (dB) of impulse responses, time on the last axis.

    Each band is the 4th-order all-pole complex gammatone ``b / (1 - a z^-1)^4`` run from rest
    over the N samples; the band signal is ``2 Re(y)`` and its level ``20 log10(rms)``.

    Returns
    -------
    numpy.ndarray, shape (..., 28)

    Raises
    ------
    HrtfevalError
        When the rate is too low for the highest band or a band is silent (level -inf).
    """
    from scipy.signal import lfilter

    fs = check_sampling_rate(sampling_rate, file)
    x = np.asarray(ir, dtype=np.float64)
    n = x.shape[-1]
    centres = band_centres()
    levels = np.empty(x.shape[:-1] + (centres.size,), dtype=np.float64)
    for k, fc in enumerate(centres):
        b, a = gammatone_coefficients(fc, fs)
        u = 2.0 * lfilter([b], a, x, axis=-1).real
        with np.errstate(divide="ignore"):
            levels[..., k] = 20 * np.log10(np.sqrt(np.sum(u * u, axis=-1) / n))
    if not np.all(np.isfinite(levels)):
        bad = np.argwhere(~np.isfinite(levels))[0]
        raise HrtfevalError(
            f"the localisation model's {centres[bad[-1]]:.0f} Hz band is silent (level -inf dB) "
            f"in response {tuple(int(i) for i in bad[:-1])}; its spectral gradients are undefined",
            file,
        )
    return levels


def positive_gradients(levels: np.ndarray) -> np.ndarray:
    """``max(L_{b+1} - L_b, 0)`` over the band axis (last): shape (..., 27), dB."""
    return np.maximum(np.diff(levels, axis=-1), 0.0)


@dataclass
class _Prepared:
    """One set reduced to what the model needs: IRs (DTFs), rate, sagittal coordinates."""

    ir: np.ndarray
    sampling_rate: float
    lateral: np.ndarray
    polar: np.ndarray
    file: str | None
    _gradients: dict = field(default_factory=dict)

    def gradients(self, index: np.ndarray) -> np.ndarray:
        """Positive gradients (len(index), 2, 27) of the given directions, computed once each."""
        missing = [int(i) for i in index if int(i) not in self._gradients]
        if missing:
            levels = band_levels(self.ir[missing], self.sampling_rate, self.file)
            for i, g in zip(missing, positive_gradients(levels)):
                self._gradients[i] = g
        return np.stack([self._gradients[int(i)] for i in index])


def prepare_set(
    ir: np.ndarray,
    positions: np.ndarray | None,
    sampling_rate: float | None,
    dtf: bool = True,
    file: str | None = None,
) -> _Prepared:
    """Validate one set's IRs (M, 2, N) and positions (M, >=2) and compute its DTFs and angles."""
    ir = np.asarray(ir)
    if ir.ndim != 3 or ir.shape[1] != 2 or ir.shape[2] < 2 or np.iscomplexobj(ir):
        raise HrtfevalError(
            f"the localisation model needs real impulse responses of shape (M, 2, N) with two "
            f"ears, but got {ir.dtype} {ir.shape}",
            file,
        )
    if positions is None:
        raise HrtfevalError(
            "has no source positions; the localisation model needs each direction's azimuth "
            "and elevation",
            file,
        )
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[0] != ir.shape[0] or positions.shape[1] < 2:
        raise HrtfevalError(
            f"positions of shape {positions.shape} do not match {ir.shape[0]} responses "
            "(expected (M, 2) or (M, 3): azimuth, elevation in degrees)",
            file,
        )
    fs = check_sampling_rate(sampling_rate, file)
    ir = ir.astype(np.float64, copy=False)
    if dtf:
        ir = directional_transfer_functions(ir, fs)
    lateral, polar = sagittal_coordinates(positions[:, 0], positions[:, 1])
    return _Prepared(ir, fs, lateral, polar, file)


def impulse_responses(hrtf: HRTFSet) -> np.ndarray:
    """The set's impulse responses: the data itself, or the inverse rfft of complex spectra.

    Raises
    ------
    HrtfevalError
        For magnitude-only data, or complex spectra not on an rfft grid.
    """
    if hrtf.domain == IR:
        return np.asarray(hrtf.data, dtype=np.float64)
    if hrtf.domain == TF:
        from .represent import SetTensors

        tensors = SetTensors.from_set(hrtf, device=None)
        tensors.check_rfft_grid("impulse responses (and the localisation model)")
        return np.fft.irfft(np.asarray(hrtf.data), n=tensors.fft_length, axis=-1)
    raise HrtfevalError(
        f"holds {hrtf.domain} spectra without phase, so no impulse response (and no "
        "localisation prediction) can be derived; give complex HRTFs or HRIRs",
        hrtf.path,
    )


def model_positions(hrtf: HRTFSet) -> np.ndarray | None:
    """The positions the model computes its angles from: as the file stores them.

    The original model takes ``SourcePosition`` as stored; the readers' :attr:`HRTFSet.positions
    <hrtfeval.model.HRTFSet.positions>` are wrapped to [0, 360) and folded over the poles, which
    names the same directions but changes the last bits of the polar angles (elevation 100 at
    azimuth 0 gives 100.0, azimuth 180 at elevation 80 gives 100.00000000000001), and those bits
    decide the model's exact comparisons (steps 2, 8 and 11). :attr:`stored_positions
    <hrtfeval.model.HRTFSet.stored_positions>` is used when it describes the same directions as
    ``positions`` (it does not when a caller replaced or reordered one of them), else
    ``positions``.
    """
    from .model import spherical_to_unit

    stored, positions = hrtf.stored_positions, hrtf.positions
    if stored is None or positions is None or np.shape(stored) != np.shape(positions):
        return positions
    stored = np.asarray(stored, dtype=np.float64)
    same = np.abs(spherical_to_unit(stored) - spherical_to_unit(positions)).max(initial=0.0)
    return stored if same <= 1e-9 else positions
