"""Make a predicted and a reference :class:`~hrtfeval.model.HRTFSet` comparable row by row.

:func:`align_pair` fills in what one file lacks from the other (sampling rate, positions, bin
frequencies), checks that the two agree (rate, IR length, frequency bins) and matches every
reference direction to the nearest predicted direction by great-circle angle
(:func:`hrtfeval.grid_match.match_directions`, linear in memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .constants import LENGTH_POLICIES
from .errors import HrtfevalError
from .grid_match import (
    _ANGLE_SLACK_DEG,
    _chord_to_deg,
    _distinct_rows,
    _fmt_direction,
    match_directions,
)
from .model import DB, IR, MAGNITUDE, TF, HRTFSet, spherical_to_unit
from .validate import normalise_name

__all__ = [
    "LENGTH_POLICIES",
    "AlignedPair",
    "align_pair",
    "match_directions",
]

_FREQUENCY_DOMAINS = (TF, MAGNITUDE, DB)
_RATE_RTOL = 1e-6
_FREQ_RTOL = 1e-6
# Two reference rows closer than this (degree) are the same direction (a duplicate in the grid).
_SAME_DIRECTION_DEG = 1e-3
_SHOWN_MISSING = 3


@dataclass
class AlignedPair:
    """Two sets whose rows correspond: prediction row i is scored against reference row i.

    Attributes
    ----------
    prediction : HRTFSet
        Rows re-ordered/subset so that row i matches reference row i (it keeps its own
        positions, which lie within the tolerance of the reference ones).
    reference : HRTFSet
        The matched reference rows, in the reference file's order.
    n_reference : int
        Directions in the reference file.
    missing : numpy.ndarray of int
        Reference row indices without a match (empty unless ``allow_missing``).
    max_angle_deg : float
        Largest great-circle angle (degree) between a matched pair of directions.
    notes : list of str
        Human-readable facts about what alignment did (filled-in rate, re-ordering, ...).
    matched : bool
        False when the rows were not matched at all (only metrics that use each set's own grid,
        the localisation model's, are scored).
    originals : tuple of HRTFSet or None
        The two sets as read, before matching (kept for the localisation model).
    silent_excluded : dict or None
        ``{"prediction": k, "reference": k}``: silent directions left out of each file
        (``--exclude-silent``, see :func:`hrtfeval.scoring.apply_silent_policy`); None when
        they were not left out.
    """

    prediction: HRTFSet
    reference: HRTFSet
    n_reference: int
    missing: np.ndarray
    max_angle_deg: float
    notes: list[str] = field(default_factory=list)
    matched: bool = True
    originals: tuple[HRTFSet, HRTFSet] | None = None
    silent_excluded: dict[str, int] | None = None

    @property
    def n_matched(self) -> int:
        """Number of matched directions (rows of both sets)."""
        return self.reference.n_directions


def align_pair(
    prediction: HRTFSet,
    reference: HRTFSet,
    *,
    tolerance_deg: float = 0.1,
    allow_missing: bool = False,
    length_policy: str = "error",
) -> AlignedPair:
    """Match the prediction's rows to the reference's and check the two can be compared.

    Neither input is modified.

    Parameters
    ----------
    prediction, reference : HRTFSet
    tolerance_deg : float
        Largest great-circle angle (degree) between a reference direction and the predicted
        direction it is matched to. Distances are ignored.
    allow_missing : bool
        Keep only the matched reference directions instead of failing when some have no
        predicted direction within the tolerance (at least one must match).
    length_policy : {"error", "truncate", "pad"}
        What to do when both sets are impulse responses of different lengths.

    Returns
    -------
    AlignedPair

    Raises
    ------
    HrtfevalError
        No or different sampling rates, positions missing where the direction counts differ,
        unmatched directions (without ``allow_missing``), different IR lengths (with
        ``length_policy="error"``) or different frequency bins, or an invalid option.
    """
    policy = normalise_name(length_policy) if isinstance(length_policy, str) else None
    if policy not in LENGTH_POLICIES:
        raise HrtfevalError(
            f"length policy {length_policy!r} is not one of " + ", ".join(LENGTH_POLICIES)
        )
    try:
        tolerance = float(tolerance_deg)
    except (TypeError, ValueError):
        tolerance = float("nan")
    if not math.isfinite(tolerance) or not 0.0 <= tolerance <= 180.0:
        raise HrtfevalError(
            f"position tolerance {tolerance_deg!r} is not an angle from 0 to 180 degree"
        )

    notes: list[str] = []
    # Shallow copies: fields are replaced, never the caller's arrays written to.
    pred, ref = replace(prediction), replace(reference)
    _fill_sampling_rate(pred, ref, notes)
    _fill_frequencies(pred, notes)
    _fill_frequencies(ref, notes)
    _fill_positions(pred, ref, notes)

    n_reference = ref.n_directions
    if pred.positions is None:  # neither file has positions and M agrees: rows match by index
        index = np.arange(n_reference)
        angles = np.zeros(n_reference)
    else:
        index, angles = match_directions(
            pred.positions,
            _positions(ref),
            tolerance,
            prediction_name=pred.path,
            reference_name=ref.path,
        )
    matched = index >= 0
    missing = np.flatnonzero(~matched)
    if missing.size:
        _report_missing(pred, ref, missing, tolerance, allow_missing, notes)
    _check_shared_matches(pred, ref, index, matched, tolerance)

    if missing.size:
        pred = _take(pred, index[matched])
        ref = _take(ref, np.flatnonzero(matched))
    elif not np.array_equal(index, np.arange(pred.n_directions)):
        pred = _take(pred, index)
        notes.append(_reorder_note(prediction, reference, n_reference))

    _match_lengths(pred, ref, policy, notes)
    max_angle = float(angles[matched].max()) if matched.any() else 0.0
    return AlignedPair(
        prediction=pred,
        reference=ref,
        n_reference=n_reference,
        missing=missing,
        max_angle_deg=max_angle,
        notes=notes,
    )


def _reorder_note(prediction: HRTFSet, reference: HRTFSet, n_reference: int) -> str:
    if prediction.n_directions == n_reference:
        return f"{prediction.path}: directions re-ordered to match {reference.path}"
    return (
        f"{prediction.path}: {n_reference} of its {prediction.n_directions} directions used, "
        f"in the order of {reference.path}"
    )


def _report_missing(
    pred: HRTFSet,
    ref: HRTFSet,
    missing: np.ndarray,
    tolerance: float,
    allow_missing: bool,
    notes: list[str],
) -> None:
    n_ref = ref.n_directions
    if allow_missing and missing.size < n_ref:
        notes.append(
            f"{ref.path}: {missing.size} of {n_ref} directions have no prediction direction "
            f"within {tolerance:g} deg and are left out (--allow-missing)"
        )
        return
    from scipy.spatial import cKDTree

    # How far the nearest predicted directions are tells the user which tolerance would do.
    ref_positions = _positions(ref)
    u_pred = spherical_to_unit(_positions(pred))
    dist, _ = cKDTree(u_pred[_distinct_rows(u_pred)]).query(
        spherical_to_unit(ref_positions[missing]), k=1
    )
    needed = _round_up(float(_chord_to_deg(dist).max()))
    shown = ", ".join(_fmt_direction(ref_positions[i]) for i in missing[:_SHOWN_MISSING])
    more = ", ..." if missing.size > _SHOWN_MISSING else ""
    # Widening is advice only when it would work: every reference direction then matches, and
    # no two of them share one prediction direction (else the direction is missing).
    widen = _widening_matches_all(pred, ref, needed)
    if missing.size == n_ref:
        advice = (
            f"widen --position-tolerance to {needed:g} deg (that matches all)"
            if widen
            else "check the two files describe the same grid"
        )
        message = (
            f"none of the {n_ref} reference directions of {ref.path} has a prediction direction "
            f"within {tolerance:g} deg (e.g. {shown}{more}); the nearest are up to "
            f"{needed:g} deg away: {advice}"
        )
    elif widen:
        message = (
            f"{missing.size} of {n_ref} reference directions of {ref.path} have no prediction "
            f"direction within {tolerance:g} deg ({shown}{more}); widen "
            f"--position-tolerance (up to {needed:g} deg matches all) or pass --allow-missing "
            "to score only the matched ones"
        )
    else:
        message = (
            f"{missing.size} of {n_ref} reference directions of {ref.path} are missing from the "
            f"prediction ({shown}{more}): none lies within {tolerance:g} deg, and the nearest "
            "are other reference directions' matches; pass --allow-missing to score only the "
            "matched ones"
        )
    raise HrtfevalError(message, file=pred.path)


def _round_up(angle: float) -> float:
    """``angle`` rounded up to 3 significant digits (a tolerance printed for the user must not be
    smaller than the one needed)."""
    if angle <= 0.0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(angle)) - 2)
    return min(180.0, math.ceil(angle / step * (1 - 1e-12)) * step)


def _widening_matches_all(pred: HRTFSet, ref: HRTFSet, tolerance: float) -> bool:
    """Whether every reference direction matches a prediction direction of its own within
    ``tolerance`` (no two distinct directions sharing one)."""
    try:
        index, _ = match_directions(_positions(pred), _positions(ref), tolerance)
        matched = index >= 0
        if not matched.all():
            return False
        _check_shared_matches(pred, ref, index, matched, tolerance)
    except HrtfevalError:
        return False
    return True


def _check_shared_matches(
    pred: HRTFSet, ref: HRTFSet, index: np.ndarray, matched: np.ndarray, tolerance: float
) -> None:
    """Two reference rows may share a predicted row only if they are the same direction."""
    rows = np.flatnonzero(matched)
    if rows.size < 2:
        return
    targets = index[rows]
    order = np.argsort(targets, kind="stable")
    sorted_targets = targets[order]
    repeat = sorted_targets[1:] == sorted_targets[:-1]
    if not repeat.any():
        return
    # Compare every row of a group with the group's first row.
    starts = np.where(np.r_[True, ~repeat], np.arange(order.size), 0)
    first = order[np.maximum.accumulate(starts)]
    ref_positions = _positions(ref)
    u_ref = spherical_to_unit(ref_positions)
    spread = _chord_to_deg(np.linalg.norm(u_ref[rows[order]] - u_ref[rows[first]], axis=1))
    bad = np.flatnonzero(spread > min(_SAME_DIRECTION_DEG, tolerance) + _ANGLE_SLACK_DEG)
    if bad.size:
        a, b = rows[first[bad[0]]], rows[order[bad[0]]]
        target = _positions(pred)[index[a]]
        raise HrtfevalError(
            f"reference directions {_fmt_direction(ref_positions[a])} and "
            f"{_fmt_direction(ref_positions[b])} of {ref.path} both match the predicted direction "
            f"{_fmt_direction(target)} within {tolerance:g} deg; lower --position-tolerance",
            file=pred.path,
        )


def _positions(hrtf: HRTFSet) -> np.ndarray:
    """The positions of a set matched by direction: after :func:`_fill_positions` both sets
    have them once the prediction has them."""
    assert hrtf.positions is not None, "matched by direction without positions"
    return hrtf.positions


def _take(hrtf: HRTFSet, rows: np.ndarray) -> HRTFSet:
    return replace(
        hrtf,
        data=hrtf.data[rows],
        positions=None if hrtf.positions is None else hrtf.positions[rows],
        silent=None if hrtf.silent is None else hrtf.silent[rows],
    )


def _needs_rate(hrtf: HRTFSet) -> bool:
    return hrtf.domain == IR or hrtf.frequencies is None


def _fill_sampling_rate(pred: HRTFSet, ref: HRTFSet, notes: list[str]) -> None:
    fs_p, fs_r = pred.sampling_rate, ref.sampling_rate
    if fs_p is not None and fs_r is not None:
        if abs(fs_p - fs_r) > _RATE_RTOL * max(abs(fs_p), abs(fs_r)):
            raise HrtfevalError(
                f"sampling rates differ: {pred.path} is at {fs_p:g} Hz, {ref.path} at "
                f"{fs_r:g} Hz; resample one of them first"
            )
        return
    if fs_p is None and fs_r is not None:
        pred.sampling_rate = fs_r
        notes.append(f"{pred.path}: sampling rate {fs_r:g} Hz taken from {ref.path}")
    elif fs_r is None and fs_p is not None:
        ref.sampling_rate = fs_p
        notes.append(f"{ref.path}: sampling rate {fs_p:g} Hz taken from {pred.path}")
    elif _needs_rate(pred) or _needs_rate(ref):
        raise HrtfevalError(
            f"no sampling rate in either file ({pred.path}, {ref.path}); store one "
            "('sampling_rate' in a .pt dict, Data.SamplingRate in SOFA)"
        )


def _fill_frequencies(hrtf: HRTFSet, notes: list[str]) -> None:
    """Frequency-domain data without frequencies: rfft bins k * fs / n_fft, n_fft = 2 (K - 1)."""
    if hrtf.domain not in _FREQUENCY_DOMAINS or hrtf.frequencies is not None:
        return
    n_bins = hrtf.n_samples
    if n_bins < 2:
        raise HrtfevalError(
            f"{hrtf.domain} data with {n_bins} bin and no frequencies; expected at least 2 "
            "rfft bins or a 'frequencies' entry",
            file=hrtf.path,
        )
    assert hrtf.sampling_rate is not None  # _fill_sampling_rate guarantees it
    n_fft = 2 * (n_bins - 1)
    hrtf.frequencies = np.arange(n_bins) * (hrtf.sampling_rate / n_fft)
    notes.append(
        f"{hrtf.path}: {n_bins} bins taken as rfft bins of a {n_fft}-point FFT "
        f"(0 to {hrtf.sampling_rate / 2:g} Hz)"
    )


def _fill_positions(pred: HRTFSet, ref: HRTFSet, notes: list[str]) -> None:
    if pred.positions is not None and ref.positions is not None:
        return
    m_p, m_r = pred.n_directions, ref.n_directions
    if pred.positions is None and ref.positions is None:
        if m_p != m_r:
            raise HrtfevalError(
                f"neither {pred.path} nor {ref.path} has positions and their direction counts "
                f"differ (M={m_p} vs M={m_r}), so directions cannot be matched"
            )
        notes.append(f"neither {pred.path} nor {ref.path} has positions: rows are matched by index")
        return
    lacking, other = (pred, ref) if pred.positions is None else (ref, pred)
    role = "prediction" if lacking is pred else "reference"
    other_role = "reference" if lacking is pred else "prediction"
    if lacking.n_directions != other.n_directions:
        raise HrtfevalError(
            f"has no positions and M={lacking.n_directions} differs from {other_role} "
            f"M={other.n_directions}, so directions cannot be matched",
            file=lacking.path,
        )
    lacking.positions = other.positions
    notes.append(
        f"{lacking.path}: no positions; its {lacking.n_directions} {role} rows are taken to be "
        f"in the order of {other.path}"
    )


def _match_lengths(pred: HRTFSet, ref: HRTFSet, policy: str, notes: list[str]) -> None:
    if pred.domain == IR and ref.domain == IR:
        n_p, n_r = pred.n_samples, ref.n_samples
        if n_p == n_r:
            return
        if policy == "error":
            raise HrtfevalError(
                f"impulse responses differ in length: {pred.path} has {n_p} samples, "
                f"{ref.path} has {n_r}; pass --length-policy truncate|pad"
            )
        if policy == "truncate":
            n = min(n_p, n_r)
            longer = pred if n_p > n_r else ref
            longer.data = longer.data[:, :, :n]
            longer.silent = None  # the cut may leave a response all zeros: recomputed on use
            notes.append(
                f"{longer.path}: impulse responses truncated from {max(n_p, n_r)} to {n} samples"
            )
        else:
            n = max(n_p, n_r)
            shorter = pred if n_p < n_r else ref
            width = ((0, 0), (0, 0), (0, n - shorter.n_samples))
            notes.append(
                f"{shorter.path}: impulse responses zero-padded from {shorter.n_samples} to {n} "
                "samples"
            )
            shorter.data = np.pad(shorter.data, width)
        return
    if pred.domain in _FREQUENCY_DOMAINS and ref.domain in _FREQUENCY_DOMAINS:
        f_p, f_r = pred.frequencies, ref.frequencies
        assert f_p is not None and f_r is not None  # _fill_frequencies guarantees it
        same = f_p.shape == f_r.shape and np.allclose(
            f_p, f_r, rtol=_FREQ_RTOL, atol=_FREQ_RTOL * float(np.abs(f_r).max(initial=0.0))
        )
        if not same:
            raise HrtfevalError(
                f"frequency bins differ: {pred.path} has {f_p.size} bins "
                f"({_fmt_range(f_p)} Hz), {ref.path} has {f_r.size} bins ({_fmt_range(f_r)} Hz)"
            )


def _fmt_range(freqs: np.ndarray) -> str:
    return f"{freqs.min():g} to {freqs.max():g}" if freqs.size else "none"
