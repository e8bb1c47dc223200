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

import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

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
#: Default head radius in metres (Brown & Duda's average adult head).
HEAD_RADIUS = 0.0875
#: Azimuth of the left ear in degrees; the right ear sits at ``-EAR_AZIMUTH``. On the interaural
#: axis (Brown & Duda used 100 deg) so that the largest ITD is at azimuth 90 deg, as users of the
#: SOFA frame expect, and the model is front-back symmetric apart from the pinna.
EAR_AZIMUTH = 90.0
#: Delay in seconds added to every response so that the earliest arrival, an ear-facing source
#: arriving ``HEAD_RADIUS / SPEED_OF_SOUND`` (0.26 ms) before the head centre, still lands about
#: 21 samples into a 48 kHz response: fractional delays and filters stay causal.
ONSET_DELAY = 0.7e-3
#: Source distance in metres written into the grids.
DEFAULT_DISTANCE = 1.2
#: Conventions that :func:`write_sofa` writes; the first two hold impulse responses.
SOFA_CONVENTIONS = ("SimpleFreeFieldHRIR", "GeneralFIR", "SimpleFreeFieldHRTF", "GeneralTF")

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

#: Decimals (of a degree) that :func:`sphere_grid` keeps, so its output is platform independent.
GRID_DECIMALS = 9

# The elevation rings of :func:`measured_grid`: (elevation in degrees, number of azimuths).
# Counts follow about 39*cos(elevation), rounded to a multiple of 4 so that 0, 90, 180 and
# 270 deg are measured on every ring below the pole; 792 ring positions plus the pole give 793.
_MEASURED_RINGS = (
    (-45, 28), (-40, 32), (-35, 32), (-30, 36), (-25, 36), (-20, 36), (-15, 36),
    (-10, 40), (-5, 40), (0, 40), (5, 40), (10, 40), (15, 36), (20, 36), (25, 36), (30, 36),
    (35, 32), (40, 32), (45, 28), (50, 24), (55, 24), (60, 20), (65, 16), (70, 12), (75, 12),
    (80, 8), (85, 4), (90, 1),
)  # fmt: skip

# Directions rendered per block in spherical_head_hrirs, to bound the memory of large grids.
_BLOCK = 512


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def _wrap_azimuth(azimuth: np.ndarray) -> np.ndarray:
    """Azimuth in degrees wrapped to [0, 360) (``np.mod`` can round -1e-15 up to 360.0)."""
    az = np.mod(azimuth, 360.0)
    return np.where(az >= 360.0, 0.0, az)


def sphere_grid(n_directions: int, distance: float = DEFAULT_DISTANCE) -> np.ndarray:
    """Near-uniform directions on the sphere: a Fibonacci (golden-angle) lattice.

    Point ``i`` sits at height ``z = 1 - (2 i + 1) / M`` (equal-area bands, top to bottom) and
    azimuth ``i`` times the golden angle (137.51 deg), so neighbouring points never line up.

    Parameters
    ----------
    n_directions : int
        Number of directions ``M`` (at least 1).
    distance : float, optional
        Source distance in metres written into the third column. Default 1.2 m.

    Returns
    -------
    numpy.ndarray, shape (M, 3), float64
        Azimuth (degree, [0, 360)), elevation (degree, (-90, 90)) and distance (metre). All rows
        are distinct.

    Raises
    ------
    ValueError
        If ``n_directions`` is not a positive integer.
    """
    n = _positive_int("n_directions", n_directions)
    i = np.arange(n, dtype=np.float64)
    z = 1.0 - (2.0 * i + 1.0) / n
    # Rounded to 1e-9 deg: vectorised arcsin differs by an ulp between numpy builds and CPUs, and
    # the committed sample data must regenerate byte for byte everywhere.
    elevation = np.round(np.rad2deg(np.arcsin(z)), GRID_DECIMALS)
    golden_angle = 180.0 * (3.0 - np.sqrt(5.0))
    azimuth = _wrap_azimuth(i * golden_angle)
    return np.stack([azimuth, elevation, np.full(n, float(distance))], axis=1)


def measured_grid(distance: float = DEFAULT_DISTANCE) -> np.ndarray:
    """793 directions laid out like a measured HRTF grid (elevation rings, one pole point).

    The count matches the 793-direction SONICOM grid used by the LAP challenge; the layout is
    similar in spirit (rings every 5 deg from -45 deg to 85 deg, plus the zenith, fewer
    azimuths toward the pole) but not identical to it.

    Parameters
    ----------
    distance : float, optional
        Source distance in metres written into the third column. Default 1.2 m.

    Returns
    -------
    numpy.ndarray, shape (793, 3), float64
        Azimuth (degree, [0, 360)), elevation (degree, [-45, 90]) and distance (metre), ring by
        ring from the lowest, azimuth ascending within a ring. All rows are distinct.
    """
    rows = []
    for elevation, count in _MEASURED_RINGS:
        azimuth = np.arange(count, dtype=np.float64) * (360.0 / count)
        rows.append(np.stack([azimuth, np.full(count, float(elevation))], axis=1))
    grid = np.concatenate(rows, axis=0)
    return np.concatenate([grid, np.full((grid.shape[0], 1), float(distance))], axis=1)


# --------------------------------------------------------------------------------------------
# Spherical-head model
# --------------------------------------------------------------------------------------------


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _check_positions(positions) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 1:
        pos = pos[None, :]
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        raise ValueError(
            "Expected positions of shape (M, 3) (azimuth deg, elevation deg, distance m), "
            f"but got {np.shape(positions)}"
        )
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contain NaN or infinite values")
    return pos


def _unit_vectors(azimuth_deg: np.ndarray, elevation_deg: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 3) in SOFA's frame: x to the front, y to the left, z up."""
    az = np.deg2rad(azimuth_deg)
    el = np.deg2rad(elevation_deg)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def _spherical_to_cartesian(positions: np.ndarray) -> np.ndarray:
    return _unit_vectors(positions[:, 0], positions[:, 1]) * positions[:, 2:3]


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


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_sofar():
    """Send anything sofar prints to stderr and silence its warnings: our stdout is data."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def write_sofa(
    path,
    data,
    positions,
    sampling_rate: float | None,
    convention: str = "SimpleFreeFieldHRIR",
    frequencies=None,
    delay=None,
    position_type: str = "spherical",
    title: str = "hrtfeval synthetic HRTF (spherical-head model)",
    database: str = "hrtfeval synth",
    date: str | None = None,
) -> Path:
    """Write an HRTF set as a SOFA file (AES69) with sofar.

    Parameters
    ----------
    path : str or path-like
        Output file. As in :func:`sofar.write_sofa`, its suffix is replaced by ``.sofa``.
    data : array_like, shape (M, 2, N)
        Real impulse responses for ``SimpleFreeFieldHRIR`` / ``GeneralFIR`` (written to
        ``Data.IR``), complex spectra for ``SimpleFreeFieldHRTF`` / ``GeneralTF`` (``Data.Real``
        and ``Data.Imag``). Ear 0 is the left ear.
    positions : array_like, shape (M, 3)
        Source positions: azimuth (degree), elevation (degree), distance (metre).
    sampling_rate : float or None
        In Hz, written to ``Data.SamplingRate`` for the impulse-response conventions (required
        there). The transfer-function conventions have no such field: there it only serves to
        build the default ``frequencies``.
    convention : str, optional
        One of :data:`SOFA_CONVENTIONS`. Default ``"SimpleFreeFieldHRIR"``.
    frequencies : array_like, shape (N,), optional
        Bin frequencies in Hz for the transfer-function conventions (written to ``N``). Default:
        the rfft grid, ``N`` bins evenly from 0 Hz to ``sampling_rate / 2``.
    delay : array_like, shape (M, 2) or (1, 2), optional
        Broadband delays in samples for ``Data.Delay`` (impulse-response conventions only).
        Default zeros of shape (1, 2).
    position_type : {"spherical", "cartesian"}, optional
        How ``SourcePosition`` is stored: "spherical" (degree, degree, metre) as given, or
        "cartesian" (metre; x front, y left, z up), converted here.
    title, database : str, optional
        ``GLOBAL:Title`` and, where the convention has it, ``GLOBAL:DatabaseName``.
    date : str, optional
        ``"YYYY-MM-DD hh:mm:ss"`` written to ``GLOBAL:DateCreated`` and ``GLOBAL:DateModified``
        instead of the current time, for reproducible files.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        On an unknown convention or position type, shapes that do not match, complex data
        for an impulse-response convention, a ``delay`` for a transfer-function convention, or
        a missing ``sampling_rate`` where one is needed.

    Notes
    -----
    The listener is at the origin looking along +x; the receivers (ears) are at y = +/-0.0875 m.
    sofar's compression default (zlib level 4) is used. Anything sofar prints goes to stderr.
    """
    import sofar

    if convention not in SOFA_CONVENTIONS:
        raise ValueError(
            f"convention must be one of {', '.join(SOFA_CONVENTIONS)}; got {convention!r}"
        )
    if position_type not in ("spherical", "cartesian"):
        raise ValueError(f"position_type must be 'spherical' or 'cartesian'; got {position_type!r}")
    is_ir = convention in ("SimpleFreeFieldHRIR", "GeneralFIR")

    values = np.asarray(data)
    if values.ndim != 3 or values.shape[1] != 2:
        raise ValueError(f"Expected data of shape (M, 2, N), but got {values.shape}")
    m, _, n = values.shape
    pos = _check_positions(positions)
    if pos.shape != (m, 3):
        raise ValueError(
            f"Expected positions of shape ({m}, 3) to match data {values.shape}, "
            f"but got {pos.shape}"
        )
    if is_ir and np.iscomplexobj(values):
        raise ValueError(f"{convention} holds real impulse responses, but data is complex")
    if sampling_rate is None and (is_ir or frequencies is None):
        raise ValueError(f"sampling_rate is needed for {convention} without frequencies")

    source = pos if position_type == "spherical" else _spherical_to_cartesian(pos)
    with _quiet_sofar():
        sofa = sofar.Sofa(convention)
    sofa.GLOBAL_Title = title
    if hasattr(sofa, "GLOBAL_DatabaseName"):
        sofa.GLOBAL_DatabaseName = database
    if hasattr(sofa, "GLOBAL_ListenerShortName"):
        sofa.GLOBAL_ListenerShortName = "synthetic"
    if date is not None:
        sofa.GLOBAL_DateCreated = date
        sofa.GLOBAL_DateModified = date
    sofa.ReceiverPosition = np.array([[0.0, HEAD_RADIUS, 0.0], [0.0, -HEAD_RADIUS, 0.0]])
    sofa.SourcePosition = source
    sofa.SourcePosition_Type = position_type
    sofa.SourcePosition_Units = "degree, degree, metre" if position_type == "spherical" else "metre"

    if is_ir:
        sofa.Data_IR = values.astype(np.float64)
        sofa.Data_SamplingRate = float(sampling_rate)
        d = np.zeros((1, 2)) if delay is None else np.asarray(delay, dtype=np.float64)
        if d.ndim != 2 or d.shape[1] != 2 or d.shape[0] not in (1, m):
            raise ValueError(f"Expected delay of shape ({m}, 2) or (1, 2), but got {d.shape}")
        sofa.Data_Delay = d
    else:
        if delay is not None:
            raise ValueError(f"{convention} has no Data.Delay; write delays into the phase")
        if frequencies is None:
            freqs = np.linspace(0.0, float(sampling_rate) / 2.0, n)
        else:
            freqs = np.asarray(frequencies, dtype=np.float64).reshape(-1)
        if freqs.shape != (n,):
            raise ValueError(
                f"Expected frequencies of shape ({n},) to match data {values.shape}, "
                f"but got {freqs.shape}"
            )
        sofa.N = freqs
        sofa.Data_Real = np.real(values).astype(np.float64)
        sofa.Data_Imag = np.imag(values).astype(np.float64)

    target = Path(path).with_suffix(".sofa")
    with _quiet_sofar():
        sofar.write_sofa(str(target), sofa)
    return target


def write_pt(path, data, positions=None, sampling_rate=None, key: str | None = "hrir") -> Path:
    """Save an HRTF set with :func:`torch.save`, as model code usually does.

    Parameters
    ----------
    path : str or path-like
        Output file (``.pt`` by custom; written as given).
    data : array_like, shape (M, 2, N)
        Impulse responses or magnitudes, stored as a float32 tensor (complex64 if complex).
    positions : array_like, shape (M, 3), optional
        Azimuth (degree), elevation (degree), distance (metre), stored as float64 under
        ``"positions"``.
    sampling_rate : float, optional
        In Hz, stored as a Python float under ``"sampling_rate"``.
    key : str or None, optional
        Dictionary key of the data (default ``"hrir"``). ``None`` saves the bare tensor.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If ``key`` is None but ``positions`` or ``sampling_rate`` is given (a bare tensor cannot
        carry them), or if the shapes do not match.
    """
    import torch

    values = np.asarray(data)
    dtype = np.complex64 if np.iscomplexobj(values) else np.float32
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=dtype))
    target = Path(path)
    if key is None:
        if positions is not None or sampling_rate is not None:
            raise ValueError("a bare tensor (key=None) cannot carry positions or sampling_rate")
        torch.save(tensor, target)
        return target
    payload: dict = {key: tensor}
    if sampling_rate is not None:
        payload["sampling_rate"] = float(sampling_rate)
    if positions is not None:
        pos = _check_positions(positions)
        if values.ndim < 1 or pos.shape[0] != values.shape[0]:
            raise ValueError(
                f"Expected positions of shape ({values.shape[0] if values.ndim else 0}, 3) to "
                f"match data {values.shape}, but got {pos.shape}"
            )
        payload["positions"] = torch.from_numpy(np.ascontiguousarray(pos, dtype=np.float64))
    torch.save(payload, target)
    return target


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
