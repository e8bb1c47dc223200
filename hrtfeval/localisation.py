"""Predicted sagittal-plane localisation: the model of Baumgartner, Majdak & Laback (2014).

REF is the listener (the model's *template*), PRED is what the listener hears (the *targets*).
For each lateral angle (a sagittal plane) the model compares the positive spectral gradients of
each target with those of every template direction, turns the distances into a response
probability over the polar angle, and reads off quadrant errors (QE, %), the local polar RMS
error (PE, degrees) and the elevation bias (EB, degrees). The definition followed here, step by
step, is the one of issue 14 (the model's defaults, with the erratum's mean distance):

0. directional transfer functions (:func:`directional_transfer_functions`);
1. lateral and polar angles in IEEE double with Python's scalar maths (:func:`sagittal_coordinates`);
2. the directions of a sagittal plane (:func:`sagittal_plane`);
3. gammatone band levels (:func:`band_levels`) at :func:`band_centres`;
4. positive gradients (:func:`positive_gradients`);
5-7. distance, similarity, binaural weighting (:func:`similarity`);
8-10. response grid, spline, motor scatter, probabilities (:func:`response_probabilities`);
11. QE, PE and EB (:func:`localisation_errors`).

Everything is a pure function of numpy arrays; scipy is imported inside the functions that
need it.

References
----------
R. Baumgartner, P. Majdak and B. Laback, "Modeling sound-source localization in sagittal planes
for human listeners," J. Acoust. Soc. Am. 136(2), 791-802 (2014); erratum J. Acoust. Soc. Am.
140(4), 2456 (2016).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import HrtfevalError
from .model import IR, TF, HRTFSet

#: Machine epsilon of IEEE double, the model's regulariser.
EPS = 2.220446049250313e-16
#: Default sensitivity S of the similarity sigmoid.
SENSITIVITY = 0.7
#: Default lateral angle (degrees): the median plane.
LATERAL = 0.0
#: Band of the DTF normalisation (Hz).
DTF_BAND = (50.0, 18000.0)
#: Lowest and highest frequency (Hz) of the gammatone band centres.
BAND_LIMITS = (700.0, 18000.0)
#: Slope of the similarity sigmoid (per unit of distance).
SIMILARITY_SLOPE = 6.0
#: Binaural weighting constant (degrees).
BINAURAL_WEIGHTING = 13.0
#: Motor-response scatter at the median plane (degrees).
MOTOR_SCATTER = 17.0
#: Spacing (degrees) of the response polar angles, and their range (-90 ... 265).
RESPONSE_STEP = 5.0
RESPONSE_POLAR = np.arange(-90.0, 270.0, RESPONSE_STEP)  # 72 angles
#: Targets below this polar angle (degrees) count in the elevation bias.
EB_LIMIT = 80.0
#: Quadrant error: a response at least this far (degrees) from the target is a quadrant error.
QUADRANT = 90.0
#: Sagittal-plane widths tried (degrees) and their coverage criteria (degrees).
_WIDTHS = (1, 2, 3, 4, 5)
_COVER_LOW, _COVER_HIGH, _MAX_GAP = -29.99, 209.99, 30.0
#: (3!)^2 / (pi * 6! * 2^-6): the gammatone bandwidth factor of order 4.
_GAMMATONE_BW = 1.0185916357881302

MODEL = "Baumgartner, Majdak & Laback (2014), J. Acoust. Soc. Am. 136(2):791-802, erratum 140(4):2456 (2016)"


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
    """Numerator gain ``b`` and denominator ``(1 - a z^-1)^4`` (5 complex coefficients) of a band."""
    fs = float(sampling_rate)
    beta = _GAMMATONE_BW * (24.7 + centre / 9.265)
    pole = np.exp(-2 * np.pi * beta / fs - 1j * 2 * np.pi * centre / fs)
    b = (1 - np.exp(-2 * np.pi * beta / fs)) ** 4
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


# --------------------------------------------------------------------------------------------
# Step 5-10: similarity and response probabilities
# --------------------------------------------------------------------------------------------


def similarity(
    target_gradients: np.ndarray,
    template_gradients: np.ndarray,
    lateral_angle: float,
    sensitivity: float = SENSITIVITY,
) -> np.ndarray:
    """Binaurally weighted similarity of every template direction j to every target i.

    Parameters
    ----------
    target_gradients : numpy.ndarray, shape (I, 2, B)
    template_gradients : numpy.ndarray, shape (J, 2, B)
        Positive gradients (dB) of the left (0) and right (1) ear.

    Returns
    -------
    numpy.ndarray, shape (J, I)
    """
    distance = np.abs(template_gradients[:, None] - target_gradients[None]).mean(axis=-1)
    sim = 1 + EPS - 1 / (1 + np.exp(-SIMILARITY_SLOPE * (distance - sensitivity)))  # (J, I, 2)
    w_left = 1 / (1 + np.exp(-float(lateral_angle) / BINAURAL_WEIGHTING))
    return w_left * sim[..., 0] + (1 - w_left) * sim[..., 1]


def motor_kappa(lateral_angle: float) -> float:
    """Concentration 1/epsilon^2 (epsilon in radians) of the motor scatter 17 deg / cos(lateral)."""
    scatter = MOTOR_SCATTER / math.cos(float(lateral_angle) * math.pi / 180)
    return 1 / (scatter * math.pi / 180) ** 2


def motor_kernel(lateral_angle: float) -> np.ndarray:
    """The von Mises motor-scatter kernel over the 72 response-angle lags (k = 0 ... 71)."""
    from scipy.special import i0

    kappa = motor_kappa(lateral_angle)
    x = 2 * np.pi * np.arange(RESPONSE_POLAR.size) / RESPONSE_POLAR.size
    return np.exp(kappa * np.cos(x)) / (2 * np.pi * i0(kappa))


def response_probabilities(
    sim: np.ndarray, template_polar: np.ndarray, lateral_angle: float
) -> np.ndarray:
    """Response probabilities (72, I) over :data:`RESPONSE_POLAR` for each target column.

    The similarities (J, I) at the template polar angles are interpolated to the 5-degree
    response angles within the template's range (not-a-knot cubic spline, negative values set
    to 0), zero-padded to -90 ... 265 degrees, circularly convolved with the motor kernel and
    normalised to sum 1 (plus eps).
    """
    from scipy.interpolate import CubicSpline

    template_polar = np.asarray(template_polar, dtype=np.float64)
    n_resp = RESPONSE_POLAR.size
    r0 = math.ceil(float(template_polar.min()) / RESPONSE_STEP) * RESPONSE_STEP
    first = round((r0 - RESPONSE_POLAR[0]) / RESPONSE_STEP)
    inside = RESPONSE_POLAR[first:]
    inside = inside[inside <= template_polar.max()]
    column = np.zeros((n_resp, sim.shape[1]), dtype=np.float64)
    if inside.size:
        values = CubicSpline(template_polar, sim, axis=0, bc_type="not-a-knot")(inside)
        column[first : first + inside.size] = np.maximum(values, 0.0)
    kernel = motor_kernel(lateral_angle)
    lags = (np.arange(n_resp)[:, None] - np.arange(n_resp)[None, :]) % n_resp
    column = kernel[lags] @ column  # circular convolution, lag 0 at k = 0
    return column / (column.sum(axis=0) + EPS)


# --------------------------------------------------------------------------------------------
# Step 11: errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetErrors:
    """Per-target errors of one sagittal plane; ``eb`` is NaN where a target does not count."""

    qe: np.ndarray  # (I,) fraction of quadrant errors (0 ... 1)
    pe: np.ndarray  # (I,) local polar RMS error, degrees
    eb: np.ndarray  # (I,) elevation bias, degrees (NaN for targets at polar >= 80)


def localisation_errors(
    p: np.ndarray, target_polar: np.ndarray, file: str | None = None, lateral_angle=None
) -> TargetErrors:
    """Per-target QE, PE and EB of a probability matrix ``p`` (72, I) over :data:`RESPONSE_POLAR`.

    Raises
    ------
    HrtfevalError
        When a target has no probability within 90 degrees of its polar angle.
    """
    tau = np.asarray(target_polar, dtype=np.float64)
    d = tau[None, :] - RESPONSE_POLAR[:, None]  # (72, I)
    outside = (d < -180) | (d > 180)
    d = np.where(outside, np.mod(d + 180, 360) - 180, d)
    d = np.abs(d)
    far = d >= QUADRANT
    qe = np.where(far, p, 0.0).sum(axis=0)
    local = np.where(far, 0.0, p)
    total = local.sum(axis=0)
    if np.any(total <= 0):
        i = int(np.flatnonzero(total <= 0)[0])
        where = "" if lateral_angle is None else f" at lateral angle {float(lateral_angle):g} deg"
        raise HrtfevalError(
            f"the localisation model gives target {i} (polar angle {tau[i]:g} deg){where} no "
            "response probability within 90 deg, so its polar error is undefined",
            file,
        )
    local = local / total
    pe = np.sqrt((local * d * d).sum(axis=0))
    eb = (local * RESPONSE_POLAR[:, None]).sum(axis=0) - tau
    eb = np.where(tau < EB_LIMIT, eb, np.nan)
    return TargetErrors(qe=qe, pe=pe, eb=eb)


# --------------------------------------------------------------------------------------------
# The model on two sets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SectorPrediction:
    """The model's prediction for one sagittal plane (lateral angle).

    Attributes
    ----------
    lateral : float
        Lateral angle in degrees (positive to the left).
    target_polar, template_polar : numpy.ndarray
        Polar angles (degrees) of the targets (I,) and of the template directions (J,).
    target_index, template_index : numpy.ndarray
        Their direction indices in their sets.
    response_polar : numpy.ndarray, shape (72,)
        Response polar angles, -90 ... 265 degrees.
    probabilities : numpy.ndarray, shape (72, I)
        Response probability of each response angle (row) for each target (column).
    errors : TargetErrors
        Per-target QE (fraction), PE (degrees), EB (degrees, NaN where not counted).
    """

    lateral: float
    target_polar: np.ndarray
    template_polar: np.ndarray
    target_index: np.ndarray
    template_index: np.ndarray
    response_polar: np.ndarray
    probabilities: np.ndarray
    errors: TargetErrors

    @property
    def n_targets(self) -> int:
        return int(self.target_polar.size)

    @property
    def n_eb_targets(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.errors.eb)))

    @property
    def qe(self) -> float:
        """Quadrant error rate, %."""
        return float(100 * np.mean(self.errors.qe))

    @property
    def pe(self) -> float:
        """Local polar RMS error, degrees."""
        return float(np.mean(self.errors.pe))

    @property
    def eb(self) -> float | None:
        """Elevation bias (degrees) over the targets below 80 degrees polar; None without any."""
        eb = self.errors.eb[~np.isnan(self.errors.eb)]
        return float(np.mean(eb)) if eb.size else None


@dataclass(frozen=True)
class Prediction:
    """The model's prediction over one or more sagittal planes.

    The pooled values are the means over all targets of all sectors (each sector weighted by its
    target count; for EB, by its count of targets below 80 degrees polar).
    """

    sectors: tuple[SectorPrediction, ...]

    @property
    def qe(self) -> float:
        return float(100 * np.mean(np.concatenate([s.errors.qe for s in self.sectors])))

    @property
    def pe(self) -> float:
        return float(np.mean(np.concatenate([s.errors.pe for s in self.sectors])))

    @property
    def eb(self) -> float | None:
        eb = np.concatenate([s.errors.eb for s in self.sectors])
        eb = eb[~np.isnan(eb)]
        return float(np.mean(eb)) if eb.size else None

    def value(self, metric: str) -> float | None:
        """``qe``, ``pe`` or ``eb`` pooled over the sectors."""
        return getattr(self, metric)

    def by_lateral(self, metric: str) -> dict[float, float | None]:
        return {s.lateral: getattr(s, metric) for s in self.sectors}


@dataclass(frozen=True)
class LocalisationResult:
    """Prediction (PRED heard by the listener whose template is REF) and its baseline.

    ``baseline`` is the same model with REF as the targets: the listener with their own HRTFs.
    """

    prediction: Prediction
    baseline: Prediction
    laterals: tuple[float, ...]
    sensitivity: float
    dtf: bool
    params: dict = field(default_factory=dict)

    def delta(self, metric: str) -> float | None:
        """``prediction - baseline`` of ``qe``, ``pe`` or ``eb``."""
        a, b = self.prediction.value(metric), self.baseline.value(metric)
        return None if a is None or b is None else a - b


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
    positions: np.ndarray,
    sampling_rate: float,
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


def _sector(
    template: _Prepared, targets: _Prepared, lateral_angle: float, sensitivity: float
) -> SectorPrediction:
    t_idx = sagittal_plane(template.lateral, template.polar, lateral_angle, template.file)
    i_idx = sagittal_plane(targets.lateral, targets.polar, lateral_angle, targets.file)
    t_polar, i_polar = template.polar[t_idx], targets.polar[i_idx]
    if t_idx.size < 2:
        raise HrtfevalError(
            f"only {t_idx.size} direction lies near lateral angle {float(lateral_angle):g} deg; "
            "the localisation model's template needs at least 2 polar angles there",
            template.file,
        )
    sim = similarity(
        targets.gradients(i_idx), template.gradients(t_idx), lateral_angle, sensitivity
    )
    p = response_probabilities(sim, t_polar, lateral_angle)
    errors = localisation_errors(p, i_polar, targets.file, lateral_angle)
    return SectorPrediction(
        lateral=float(lateral_angle),
        target_polar=i_polar,
        template_polar=t_polar,
        target_index=i_idx,
        template_index=t_idx,
        response_polar=RESPONSE_POLAR.copy(),
        probabilities=p,
        errors=errors,
    )


def check_laterals(laterals) -> tuple[float, ...]:
    """Lateral angles as a tuple of floats in [-90, 90], duplicates removed (order kept)."""
    if laterals is None:
        laterals = (LATERAL,)
    elif np.isscalar(laterals):
        laterals = (laterals,)
    out: list[float] = []
    for value in laterals:
        v = float(value)
        if not (-90.0 <= v <= 90.0):
            raise HrtfevalError(f"a lateral angle must lie in -90 ... 90 degrees, got {value!r}")
        v = v + 0.0  # -0.0 -> 0.0
        if v not in out:
            out.append(v)
    if not out:
        raise HrtfevalError("give at least one lateral angle")
    return tuple(out)


def check_sensitivity(sensitivity) -> float:
    s = float(sensitivity)
    if not (np.isfinite(s) and s > 0):
        raise HrtfevalError(f"the sensitivity must be a positive number, got {sensitivity!r}")
    return s


def predict_arrays(
    pred_ir: np.ndarray,
    pred_positions: np.ndarray,
    ref_ir: np.ndarray,
    ref_positions: np.ndarray,
    sampling_rate: float,
    laterals=(LATERAL,),
    sensitivity: float = SENSITIVITY,
    dtf: bool = True,
    ref_sampling_rate: float | None = None,
    pred_file: str | None = None,
    ref_file: str | None = None,
) -> LocalisationResult:
    """The localisation model on impulse-response arrays.

    Parameters
    ----------
    pred_ir, ref_ir : numpy.ndarray, shape (M, 2, N)
        Impulse responses (ear 0 left) of the prediction (targets) and the reference (template).
        Each set may have its own directions and length.
    pred_positions, ref_positions : numpy.ndarray, shape (M, 2) or (M, 3)
        Azimuth and elevation in degrees (distance ignored).
    sampling_rate : float
        In Hz, of the prediction (and of the reference unless ``ref_sampling_rate`` is given).
    laterals : sequence of float
        Lateral angles (degrees, positive left) of the sagittal planes. Default (0,).
    sensitivity : float
        S of the similarity sigmoid. Default 0.7.
    dtf : bool
        Turn both sets into directional transfer functions first (default).

    Returns
    -------
    LocalisationResult
    """
    laterals = check_laterals(laterals)
    sensitivity = check_sensitivity(sensitivity)
    ref_fs = sampling_rate if ref_sampling_rate is None else ref_sampling_rate
    template = prepare_set(ref_ir, ref_positions, ref_fs, dtf, ref_file)
    targets = prepare_set(pred_ir, pred_positions, sampling_rate, dtf, pred_file)
    prediction = Prediction(tuple(_sector(template, targets, lam, sensitivity) for lam in laterals))
    baseline = Prediction(tuple(_sector(template, template, lam, sensitivity) for lam in laterals))
    return LocalisationResult(
        prediction, baseline, laterals, sensitivity, dtf, params=model_parameters(sensitivity, dtf)
    )


def predict(
    pred: HRTFSet,
    ref: HRTFSet,
    laterals=(LATERAL,),
    sensitivity: float = SENSITIVITY,
    dtf: bool = True,
) -> LocalisationResult:
    """The localisation model on two HRTF sets: REF is the listener's template, PRED the targets.

    The sets need not share a grid or a length; see :func:`predict_arrays`. The angles are
    computed from the positions as the files store them (:func:`model_positions`).

    Raises
    ------
    HrtfevalError
        For magnitude-only data, missing positions or rate, a rate too low for the 18 kHz band,
        no directions near a lateral angle, silent bands, or a target without any local
        response probability.
    """
    return predict_arrays(
        impulse_responses(pred),
        model_positions(pred),
        impulse_responses(ref),
        model_positions(ref),
        pred.sampling_rate,
        laterals=laterals,
        sensitivity=sensitivity,
        dtf=dtf,
        ref_sampling_rate=ref.sampling_rate,
        pred_file=pred.path,
        ref_file=ref.path,
    )


def model_parameters(sensitivity: float = SENSITIVITY, dtf: bool = True) -> dict:
    """The model and its parameters, as written into an output document's ``spec``."""
    return {
        "model": MODEL,
        "template": "reference",
        "targets": "prediction (baseline: reference)",
        "dtf": bool(dtf),
        "dtf_band_hz": list(DTF_BAND),
        "sensitivity": float(sensitivity),
        "bands": "28 complex all-pole gammatones (order 4), 1 ERB apart, 700 Hz - 18 kHz",
        "distance": "mean absolute difference of positive spectral gradients (erratum 2016)",
        "similarity_slope": SIMILARITY_SLOPE,
        "binaural_weighting_deg": BINAURAL_WEIGHTING,
        "motor_scatter_deg": MOTOR_SCATTER,
        "response_polar_deg": [float(RESPONSE_POLAR[0]), float(RESPONSE_POLAR[-1]), RESPONSE_STEP],
        "qe": "% of responses >= 90 deg from the target polar angle",
        "pe": "local (< 90 deg) polar RMS error, deg",
        "eb": f"local mean response minus target polar angle, targets below {EB_LIMIT:g} deg polar, deg",
    }
