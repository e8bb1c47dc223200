"""Steps 5-11 of the sagittal-plane localisation model: template comparison and response.

Distances between target and template gradients, the similarity sigmoid and binaural
weighting, the response probabilities over the polar angle with the motor scatter, and the
quadrant error, polar error and elevation bias read off them (see :mod:`hrtfeval.localisation`
for the whole model). Pure functions of numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .coords import wrap_signed
from .errors import HrtfevalError
from .localisation_params import (
    BINAURAL_WEIGHTING,
    EB_LIMIT,
    EPS,
    MOTOR_SCATTER,
    QUADRANT,
    RESPONSE_POLAR,
    RESPONSE_STEP,
    SENSITIVITY,
    SIMILARITY_SLOPE,
)

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
    d = np.where(outside, wrap_signed(d), d)
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
