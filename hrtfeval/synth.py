"""Deterministic synthetic HRTF data for the sample files, the tests and the benchmarks.

Everything here is a pure function of its arguments (random parts take an explicit ``seed``):

* :func:`sphere_grid` and :func:`measured_grid` give source positions;
* :func:`spherical_head_hrirs` renders head-related impulse responses of a rigid spherical head
  after Brown & Duda (1998), with pinna-like echoes so that the spectra differ by direction;
* :func:`degrade` turns a reference set into a plausible model "prediction";
* :func:`write_sofa` and :func:`write_pt` write them the way users' files look;
* :func:`make_pair` does grid, reference and prediction in one call.

Positions are always ``(M, 3)`` arrays of azimuth (degree, counter-clockwise from the front, in
[0, 360)), elevation (degree, up positive) and distance (metre), as in SOFA's spherical
coordinates: azimuth 90 deg is the listener's left. Ear 0 is the left ear, ear 1 the right one.

Only numpy is imported here; scipy is not needed, and sofar and torch are imported by the
writers that use them.

References
----------
C. P. Brown and R. O. Duda, "A structural model for binaural sound synthesis," IEEE Trans.
Speech Audio Process. 6(5), 476-488 (1998).
R. S. Woodworth and H. Schlosberg, *Experimental Psychology* (Holt, 1954): the ray-tracing
interaural time delay of a sphere.
"""

from __future__ import annotations

import numpy as np

from .synth_files import SOFA_CONVENTIONS, write_pt, write_sofa
from .synth_geometry import (
    DEFAULT_DISTANCE,
    HEAD_RADIUS,
    _check_positions,
    _positive_int,
    _unit_vectors,
    measured_grid,
    sphere_grid,
)

__all__ = [
    "DEFAULT_DISTANCE",
    "EAR_AZIMUTH",
    "HEAD_RADIUS",
    "ONSET_DELAY",
    "SOFA_CONVENTIONS",
    "SPEED_OF_SOUND",
    "degrade",
    "make_pair",
    "measured_grid",
    "sphere_grid",
    "spherical_head_hrirs",
    "write_pt",
    "write_sofa",
]

#: Speed of sound in m/s.
SPEED_OF_SOUND = 343.0
#: Azimuth of the left ear in degrees; the right ear sits at ``-EAR_AZIMUTH``. On the interaural
#: axis (Brown & Duda used 100 deg) so that the largest ITD is at azimuth 90 deg, as users of the
#: SOFA frame expect, and the model is front-back symmetric apart from the pinna.
EAR_AZIMUTH = 90.0
#: Delay in seconds added to every response so that the earliest arrival, an ear-facing source
#: arriving ``HEAD_RADIUS / SPEED_OF_SOUND`` (0.26 ms) before the head centre, still lands about
#: 21 samples into a 48 kHz response: fractional delays and filters stay causal.
ONSET_DELAY = 0.7e-3

# Brown & Duda's head-shadow parameters: the high-frequency gain factor alpha falls from 2
# (+6 dB, source at the ear) to ALPHA_MIN at THETA_MIN degrees from the ear axis.
_ALPHA_MIN = 0.1
_THETA_MIN = 150.0

# Pinna echoes (reflection coefficient rho, delay span A and offset B in samples at 44.1 kHz),
# the values of Brown & Duda's Table I. Their delay law A*cos(lat/2)*sin(D*(90 deg - el)) + B is
# replaced below by smooth functions of the direction vector, so that the echoes vary
# continuously over the whole sphere (including behind and below the listener).
_PINNA_RHO = np.array([0.5, -1.0, 0.5, -0.25, 0.25])
_PINNA_A = np.array([1.0, 5.0, 5.0, 5.0, 5.0])
_PINNA_B = np.array([2.0, 4.0, 7.0, 11.0, 13.0])
_PINNA_FS = 44100.0

_BLOCK = 512


# --------------------------------------------------------------------------------------------
# Spherical-head model
# --------------------------------------------------------------------------------------------


def _head_parameters(seed):
    """Ear azimuth (deg) and pinna tables; a seed perturbs them into another "subject"."""
    rho, span, offset = _PINNA_RHO.copy(), _PINNA_A.copy(), _PINNA_B.copy()
    ear_azimuth = EAR_AZIMUTH
    if seed is not None:
        rng = np.random.default_rng(seed)
        ear_azimuth += rng.uniform(-5.0, 5.0)
        rho *= rng.uniform(0.85, 1.15, rho.shape)
        span *= rng.uniform(0.85, 1.15, span.shape)
        offset *= rng.uniform(0.85, 1.15, offset.shape)
    return ear_azimuth, rho, span, offset


def spherical_head_hrirs(
    positions,
    sampling_rate: float = 48000,
    n_taps: int = 256,
    head_radius: float = HEAD_RADIUS,
    seed: int | None = None,
) -> np.ndarray:
    """Head-related impulse responses of a rigid sphere with pinna-like echoes.

    The model of Brown & Duda (1998), built in the frequency domain on an rfft grid of at least
    twice ``n_taps`` and then cut to ``n_taps``:

    * **Ears** at azimuth +/-90 deg on the horizontal plane (left ear at +90 deg; Brown & Duda
      used +/-100 deg). ``theta`` is the angle between the source direction and an ear's
      direction.
    * **Head shadow**, one pole and one zero per ear::

          H(w, theta) = (1 + j alpha(theta) w / (2 w0)) / (1 + j w / (2 w0)),    w0 = c / a
          alpha(theta) = (1 + alpha_min / 2) + (1 - alpha_min / 2) cos(theta / theta_min * 180 deg)

      with ``alpha_min = 0.1`` and ``theta_min = 150 deg``: +6 dB at high frequencies for a
      source at the ear, about -20 dB at 150 deg from it, 0 dB at low frequencies.
    * **Delay** (Woodworth's ray-traced sphere), relative to the head centre:
      ``-a/c cos(theta)`` for ``theta < 90 deg`` and ``a/c (theta - 90 deg)`` (radians) beyond,
      applied as a linear phase (exact fractional delay), plus :data:`ONSET_DELAY` (0.7 ms) for
      all. At azimuth 90 deg the interaural time difference is ``a/c (1 + pi/2)`` = 0.66 ms for
      the default head radius, the largest on the sphere.
    * **Pinna**: ``1 + w_front * sum_k rho_k exp(-j w tau_k)``, five echoes with Brown & Duda's
      reflection coefficients and delay spans (Table I, 1 to 18 samples at 44.1 kHz), their
      delays varying smoothly with the direction (longer for frontal and low sources) and their
      strength ``w_front`` falling from 1 in front to 0.2 behind. This puts direction-dependent
      notches between about 3 and 20 kHz. It is the same for both ears.

    Distance is ignored (far field, no 1/r gain). A half-Hann fade over the last ``n_taps // 16``
    samples (at least 4) removes the cut at the end.

    Parameters
    ----------
    positions : array_like, shape (M, 3) or (3,)
        Azimuth (degree, counter-clockwise from the front), elevation (degree) and distance
        (metre, unused). A (M, 2) array without distances is accepted too.
    sampling_rate : float, optional
        Sampling rate in Hz. Default 48000.
    n_taps : int, optional
        Length of each response in samples. Default 256. It must hold the latest arrival
        (about 1.4 ms plus 8 samples).
    head_radius : float, optional
        Head radius ``a`` in metres. Default 0.0875 m.
    seed : int or None, optional
        ``None`` (default) renders the nominal head. An integer perturbs the ear azimuth by up to
        +/-5 deg and each pinna-echo parameter by up to +/-15 %, deterministically: another
        "subject" with the same head size.

    Returns
    -------
    numpy.ndarray, shape (M, 2, n_taps), float64
        Impulse responses (linear amplitude, gain 1 at 0 Hz to within 0.05 dB); ``[:, 0]`` is
        the left ear.

    Raises
    ------
    ValueError
        On a malformed ``positions``, a non-positive ``sampling_rate`` or ``head_radius``, or an
        ``n_taps`` too short for the arrivals.

    Examples
    --------
    >>> h = spherical_head_hrirs([[90.0, 0.0, 1.2]])
    >>> h.shape
    (1, 2, 256)
    >>> bool(np.abs(h[0, 0]).max() > np.abs(h[0, 1]).max())  # source on the left
    True
    """
    pos = _check_positions(positions)
    fs = float(sampling_rate)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"sampling_rate must be a positive number of Hz; got {sampling_rate!r}")
    a = float(head_radius)
    if not np.isfinite(a) or a <= 0:
        raise ValueError(f"head_radius must be a positive number of metres; got {head_radius!r}")
    n_taps = _positive_int("n_taps", n_taps)

    ear_azimuth, rho, span, offset = _head_parameters(seed)
    latest = ONSET_DELAY + a / SPEED_OF_SOUND * np.pi / 2 + (offset + span).max() / _PINNA_FS
    min_taps = int(np.ceil(latest * fs)) + 8
    if n_taps < min_taps:
        raise ValueError(
            f"n_taps={n_taps} is too short: the latest arrival is {latest * 1e3:.2f} ms "
            f"({min_taps - 8} samples at {fs:g} Hz); use n_taps >= {min_taps}"
        )

    n_fft = 1 << int(np.ceil(np.log2(2 * n_taps)))
    omega = 2.0 * np.pi * np.fft.rfftfreq(n_fft, d=1.0 / fs)  # rad/s, (K,)
    omega_0 = SPEED_OF_SOUND / a
    ears = _unit_vectors(np.array([ear_azimuth, -ear_azimuth]), np.zeros(2))  # (2, 3)
    fade = _fade_out(n_taps)

    out = np.empty((pos.shape[0], 2, n_taps), dtype=np.float64)
    for start in range(0, pos.shape[0], _BLOCK):
        u = _unit_vectors(pos[start : start + _BLOCK, 0], pos[start : start + _BLOCK, 1])
        theta = np.arccos(np.clip(u @ ears.T, -1.0, 1.0))  # (B, 2) rad from each ear axis
        alpha = (1.0 + _ALPHA_MIN / 2) + (1.0 - _ALPHA_MIN / 2) * np.cos(
            theta / np.deg2rad(_THETA_MIN) * np.pi
        )
        delay = ONSET_DELAY + (a / SPEED_OF_SOUND) * np.where(
            theta < np.pi / 2, -np.cos(theta), theta - np.pi / 2
        )  # (B, 2) seconds
        x = omega / (2.0 * omega_0)
        spectrum = (1.0 + 1j * alpha[..., None] * x) / (1.0 + 1j * x)
        spectrum *= np.exp(-1j * omega * delay[..., None])
        spectrum *= _pinna(u, omega, rho, span, offset)[:, None, :]
        out[start : start + _BLOCK] = np.fft.irfft(spectrum, n=n_fft, axis=-1)[..., :n_taps]
    return out * fade


def _pinna(u: np.ndarray, omega: np.ndarray, rho, span, offset) -> np.ndarray:
    """Pinna echo filter (B, K) for unit directions ``u`` (B, 3) at ``omega`` rad/s."""
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    # Brown & Duda scale the delay span by cos(lateral / 2); lateral = asin(|y|) here.
    lateral = np.cos(np.arcsin(np.clip(np.abs(y), 0.0, 1.0)) / 2.0)
    # Smooth stand-ins for their sin(D (90 deg - elevation)): the first echo follows the
    # front-back coordinate (D = 1), the others mostly the height (D = 0.5).
    shape_first = x
    shape_rest = 0.5 * (1.0 - z) + 0.2 * x
    shapes = np.stack([shape_first] + [shape_rest] * (len(rho) - 1), axis=1)  # (B, 5)
    tau = (offset + span * lateral[:, None] * shapes) / _PINNA_FS  # (B, 5) seconds
    front = 0.6 + 0.4 * x  # the pinna faces forward: echoes weaken behind the head
    echoes = np.exp(-1j * tau[..., None] * omega) * rho[:, None]  # (B, 5, K)
    return 1.0 + front[:, None] * echoes.sum(axis=1)


def _fade_out(n_taps: int) -> np.ndarray:
    """Window of ones ending in a half-Hann fade over the last ``max(n_taps // 16, 4)`` taps."""
    n_fade = min(max(n_taps // 16, 4), n_taps)
    window = np.ones(n_taps)
    window[n_taps - n_fade :] = 0.5 * (1.0 + np.cos(np.pi * (np.arange(n_fade) + 1) / n_fade))
    return window


# --------------------------------------------------------------------------------------------
# A plausible "prediction"
# --------------------------------------------------------------------------------------------


def _octave_smoothing_bounds(n_bins: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last bin of the 1/``fraction``-octave band centred on each bin."""
    k = np.arange(n_bins, dtype=np.float64)
    half = 2.0 ** (1.0 / (2.0 * fraction))
    lo = np.clip(np.ceil(k / half - 1e-9), 1, n_bins - 1).astype(np.intp)
    hi = np.clip(np.floor(k * half + 1e-9), 1, n_bins - 1).astype(np.intp) + 1
    lo[0], hi[0] = 0, 1  # 0 Hz is its own band
    lo = np.minimum(lo, np.arange(n_bins))
    hi = np.maximum(hi, np.arange(n_bins) + 1)
    return lo, hi


def _band_mean(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over bins ``lo[k]:hi[k]`` along the last axis, for every ``k``."""
    csum = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, axis=-1)], axis=-1)
    return (csum[..., hi] - csum[..., lo]) / (hi - lo)


def degrade(
    hrirs,
    seed: int = 0,
    smoothing: float | None = 3.0,
    noise_db: float = 1.5,
    gain_db: float = 1.0,
) -> np.ndarray:
    """A plausible model "prediction" of ``hrirs``: smoothed, noisy magnitudes, same phase.

    For each response: take the rfft at its own length, smooth the power spectrum in
    1/``smoothing``-octave bands (a model that misses fine notches), multiply the magnitude by
    a random spectrally smooth dB error (standard deviation ``noise_db`` per bin, smoothed with
    the same bands and rescaled to that deviation) and a random broadband gain (standard
    deviation ``gain_db``), keep the original phase, and go back to the time domain. The onset
    and the interaural time difference are therefore kept; the log-spectral distance to the
    input is a few dB with the defaults (about 3 dB on :func:`spherical_head_hrirs` output).

    Parameters
    ----------
    hrirs : array_like, shape (..., N)
        Impulse responses, time on the last axis (e.g. ``(M, 2, N)``).
    seed : int, optional
        Seed of the random errors; the result is a deterministic function of the inputs.
    smoothing : float or None, optional
        Bands per octave of the smoothing (3 = third-octave). ``None`` or 0 turns it off.
    noise_db : float, optional
        Standard deviation in dB of the per-bin magnitude error. Default 1.5 dB.
    gain_db : float, optional
        Standard deviation in dB of the per-response broadband gain error. Default 1 dB.

    Returns
    -------
    numpy.ndarray, shape (..., N), float64
        The degraded impulse responses.

    Raises
    ------
    ValueError
        If ``hrirs`` has fewer than 2 samples on its last axis or is not real, or a parameter
        is negative.
    """
    x = np.asarray(hrirs)
    if np.iscomplexobj(x) or x.ndim < 1 or x.shape[-1] < 2:
        raise ValueError(
            f"Expected real impulse responses of shape (..., N) with N >= 2, but got "
            f"{x.dtype} {x.shape}"
        )
    for name, value in (("noise_db", noise_db), ("gain_db", gain_db)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0 dB; got {value!r}")
    if smoothing is not None and not smoothing >= 0:
        raise ValueError(f"smoothing must be >= 0 bands per octave or None; got {smoothing!r}")

    x = x.astype(np.float64)
    n = x.shape[-1]
    spectrum = np.fft.rfft(x, axis=-1)
    power = np.abs(spectrum) ** 2
    n_bins = power.shape[-1]
    if smoothing:
        lo, hi = _octave_smoothing_bounds(n_bins, float(smoothing))
        power = _band_mean(power, lo, hi)
        width = (hi - lo).astype(np.float64)
    else:
        lo, hi = np.arange(n_bins), np.arange(n_bins) + 1
        width = np.ones(n_bins)

    rng = np.random.default_rng(seed)
    white = rng.standard_normal(x.shape[:-1] + (n_bins,))
    gain = rng.standard_normal(x.shape[:-1] + (1,)) * gain_db
    # The mean of `width` unit normals has deviation 1/sqrt(width): rescale to noise_db.
    error_db = _band_mean(white, lo, hi) * np.sqrt(width) * noise_db + gain

    magnitude = np.sqrt(power) * 10.0 ** (error_db / 20.0)
    abs_spec = np.abs(spectrum)
    phase = np.where(abs_spec > 0, spectrum / np.where(abs_spec > 0, abs_spec, 1.0), 1.0)
    return np.fft.irfft(magnitude * phase, n=n, axis=-1)


def make_pair(
    n_directions: int | None = None,
    sampling_rate: float = 48000,
    n_taps: int = 256,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grid, reference HRIRs on it and a degraded "prediction" of them.

    Parameters
    ----------
    n_directions : int or None, optional
        ``None`` (default) uses :func:`measured_grid` (793 directions); an integer uses
        :func:`sphere_grid` with that many.
    sampling_rate : float, optional
        In Hz. Default 48000.
    n_taps : int, optional
        Impulse-response length in samples. Default 256.
    seed : int, optional
        Seed of :func:`degrade`. The reference is the nominal head (``seed=None``).

    Returns
    -------
    positions : numpy.ndarray, shape (M, 3)
        Azimuth (degree), elevation (degree), distance (metre).
    reference : numpy.ndarray, shape (M, 2, n_taps)
        :func:`spherical_head_hrirs` output.
    prediction : numpy.ndarray, shape (M, 2, n_taps)
        ``degrade(reference, seed=seed)``.
    """
    positions = measured_grid() if n_directions is None else sphere_grid(n_directions)
    reference = spherical_head_hrirs(positions, sampling_rate=sampling_rate, n_taps=n_taps)
    return positions, reference, degrade(reference, seed=seed)
