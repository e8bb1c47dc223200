"""Predicted sagittal-plane localisation: the model of Baumgartner, Majdak & Laback (2014).

REF is the listener (the model's *template*), PRED is what the listener hears (the *targets*).
For each lateral angle (a sagittal plane) the model compares the positive spectral gradients of
each target with those of every template direction, turns the distances into a response
probability over the polar angle, and reads off quadrant errors (QE, %), the local polar RMS
error (PE, degrees) and the elevation bias (EB, degrees). The definition followed here, step by
step, is the one of issue 14 (the model's defaults, with the erratum's mean distance):

0. directional transfer functions (:func:`directional_transfer_functions`);
1. lateral and polar angles in IEEE double with Python's scalar maths
   (:func:`sagittal_coordinates`);
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

from dataclasses import dataclass, field

import numpy as np

from .errors import HrtfevalError
from .localisation_params import (
    BAND_LIMITS,
    BINAURAL_WEIGHTING,
    DTF_BAND,
    EB_LIMIT,
    EPS,
    LATERAL,
    MODEL,
    MOTOR_SCATTER,
    QUADRANT,
    RESPONSE_POLAR,
    RESPONSE_STEP,
    SENSITIVITY,
    SIMILARITY_SLOPE,
)
from .localisation_response import (
    TargetErrors,
    localisation_errors,
    motor_kappa,
    motor_kernel,
    response_probabilities,
    similarity,
)
from .localisation_spectra import (
    _Prepared,
    band_centres,
    band_levels,
    check_sampling_rate,
    directional_transfer_functions,
    gammatone_coefficients,
    impulse_responses,
    model_positions,
    positive_gradients,
    prepare_set,
    sagittal_coordinates,
    sagittal_plane,
)
from .model import HRTFSet
from .validate import check_laterals, check_sensitivity

__all__ = [
    "BAND_LIMITS",
    "BINAURAL_WEIGHTING",
    "DTF_BAND",
    "EB_LIMIT",
    "EPS",
    "LATERAL",
    "MODEL",
    "MOTOR_SCATTER",
    "QUADRANT",
    "RESPONSE_POLAR",
    "RESPONSE_STEP",
    "SENSITIVITY",
    "SIMILARITY_SLOPE",
    "LocalisationResult",
    "Prediction",
    "SectorPrediction",
    "TargetErrors",
    "band_centres",
    "band_levels",
    "check_laterals",
    "check_sampling_rate",
    "check_sensitivity",
    "directional_transfer_functions",
    "gammatone_coefficients",
    "impulse_responses",
    "localisation_errors",
    "model_parameters",
    "model_positions",
    "motor_kappa",
    "motor_kernel",
    "positive_gradients",
    "predict",
    "predict_arrays",
    "prepare_set",
    "response_probabilities",
    "sagittal_coordinates",
    "sagittal_plane",
    "similarity",
]


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


def predict_arrays(
    pred_ir: np.ndarray,
    pred_positions: np.ndarray | None,
    ref_ir: np.ndarray,
    ref_positions: np.ndarray | None,
    sampling_rate: float | None,
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
        "eb": "local mean response minus target polar angle, "
        f"targets below {EB_LIMIT:g} deg polar, deg",
    }
