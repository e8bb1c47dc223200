"""Match every reference direction to the nearest predicted direction by great-circle angle.

Matching is linear in memory: identical grids are recognised row by row without any search,
small grids go through chunked dot products and large ones through a k-d tree on unit vectors
(never an M x M distance matrix: dense grids have 40 000+ directions). Directions stored
several times are told apart by their distance, then azimuth labels (:func:`match_directions`).
"""

from __future__ import annotations

import math

import numpy as np

from .coords import wrap_azimuth
from .errors import HrtfevalError
from .model import spherical_to_unit

__all__ = ["match_directions"]


# Float slack on angle comparisons (degree): az 0 vs 360 or a cartesian round trip differ by
# ~1e-14 degree, far below any meaningful tolerance.
_ANGLE_SLACK_DEG = 1e-9
# Above this many (reference x prediction) direction pairs a KD-tree beats brute force.
_BRUTE_FORCE_PAIRS = 16_000_000
_CHUNK_ELEMENTS = 1_000_000  # dot products per chunk: 8 MB of float64
# Unit vectors are rounded to 1/this to find prediction rows of the same direction.
_DUPLICATE_KEY_SCALE = 1e9


def match_directions(
    prediction_positions: np.ndarray,
    reference_positions: np.ndarray,
    tolerance_deg: float,
    *,
    prediction_name: str = "the prediction",
    reference_name: str = "the reference",
) -> tuple[np.ndarray, np.ndarray]:
    """For each reference direction, the nearest predicted direction within ``tolerance_deg``.

    Directions are compared by great-circle angle between unit vectors (azimuth convention,
    distance and spherical/cartesian origin do not matter). Memory is linear in M: equal grids
    are recognised row by row; small grids are searched with chunked dot products; large ones
    with a ``scipy.spatial.cKDTree`` queried by chord length.

    When the prediction holds the same direction several times (a pole measured at several
    azimuths, or one direction at several distances), the angle cannot choose between those
    rows; the one with the reference row's distance, then its azimuth label, is taken, and rows
    stored twice with the same labels are paired in file order (see
    :func:`_prefer_same_labels`).

    Parameters
    ----------
    prediction_positions, reference_positions : numpy.ndarray, shape (M, 3)
        Azimuth degree, elevation degree, distance (ignored).
    tolerance_deg : float
    prediction_name, reference_name : str
        How the two sets are named in an error.

    Returns
    -------
    index : numpy.ndarray of int64, shape (M_ref,)
        Prediction row for each reference row, -1 where none lies within the tolerance.
    angle_deg : numpy.ndarray, shape (M_ref,)
        Angle to the matched prediction direction (degree), NaN where unmatched.
    """
    names = (prediction_name, reference_name)
    u_ref = spherical_to_unit(reference_positions)
    u_pred = spherical_to_unit(prediction_positions)
    limit = tolerance_deg + _ANGLE_SLACK_DEG

    if u_ref.shape == u_pred.shape:
        # Fast path: the same grid in the same order (the common case) needs no search.
        angles = _chord_to_deg(np.linalg.norm(u_ref - u_pred, axis=1))
        if np.all(angles <= limit):
            index = np.arange(u_ref.shape[0], dtype=np.int64)
            return _prefer_same_labels(
                index, u_pred, prediction_positions, reference_positions, *names
            ), angles

    if u_ref.shape[0] * u_pred.shape[0] <= _BRUTE_FORCE_PAIRS:
        # Small grids (every measured set up to a few thousand directions): chunked dot
        # products, memory bounded by the chunk, and no scipy import (~0.2 s per process).
        idx = _nearest_by_dot(u_pred, u_ref)
        angles = _chord_to_deg(np.linalg.norm(u_ref - u_pred[idx], axis=1))
        found = angles <= limit
        index = np.where(found, idx, -1).astype(np.int64)
    else:
        from scipy.spatial import cKDTree

        bound = 2.0 * math.sin(math.radians(min(limit, 180.0)) / 2.0) * (1.0 + 1e-12) + 1e-15
        # One tree point per distinct direction: a k-d tree of many equal points degenerates
        # (20000 rows at one point took seconds per query batch); the labels pick among them.
        distinct = _distinct_rows(u_pred)
        dist, idx = cKDTree(u_pred[distinct]).query(u_ref, k=1, distance_upper_bound=bound)
        idx = distinct[np.minimum(idx, distinct.size - 1)]
        angles = _chord_to_deg(np.where(np.isfinite(dist), dist, 2.0))
        found = np.isfinite(dist) & (angles <= limit)
        index = np.where(found, idx, -1).astype(np.int64)
    index = _prefer_same_labels(index, u_pred, prediction_positions, reference_positions, *names)
    return index, np.where(found, angles, np.nan)


# Labels compared as integers: micrometres and micro-degrees, so that float noise cannot decide.
_LABEL_SCALE = 1e6
_FULL_TURN = 360_000_000  # 360 degrees in micro-degrees


def _distance_labels(positions: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(positions[:, 2], dtype=np.float64) * _LABEL_SCALE).astype(np.int64)


def _azimuth_labels(positions: np.ndarray) -> np.ndarray:
    az = np.round(wrap_azimuth(positions[:, 0]) * _LABEL_SCALE)
    return np.mod(az.astype(np.int64), _FULL_TURN)


def _distinct_rows(u: np.ndarray) -> np.ndarray:
    """Ascending indices of the first row of each distinct direction of the unit vectors ``u``."""
    if u.shape[0] < 2:
        return np.arange(u.shape[0])
    group, _ = _group_rows(np.round(u * _DUPLICATE_KEY_SCALE).astype(np.int64))
    first = np.full(int(group.max()) + 1, u.shape[0], dtype=np.int64)
    np.minimum.at(first, group, np.arange(u.shape[0]))
    return np.sort(first)


def _prefer_same_labels(
    index: np.ndarray,
    u_pred: np.ndarray,
    prediction_positions: np.ndarray,
    reference_positions: np.ndarray,
    prediction_name: str = "the prediction",
    reference_name: str = "the reference",
) -> np.ndarray:
    """Among prediction rows of one direction, take the reference row's distance and azimuth,
    and pair repeated rows one to one.

    Measured grids repeat directions: the zenith at every azimuth of a ring (the great-circle
    angle between them is 0), or every direction once per distance (near-field sets such as
    SCUT's). Any of those rows is an equally good match by angle, so the nearest search picks
    one arbitrarily; this re-picks, within each group of identical prediction directions, the
    rows with the closest distance label, then the closest azimuth label (a *label class*),
    keeping the current choice on ties. A class of several rows (the same direction, distance
    and azimuth stored more than once) is paired with the reference rows that choose it in file
    order when both sets hold it equally often; otherwise which row is meant cannot be told and
    it is an error. A class of one row may be shared (a reference that repeats a direction the
    prediction holds once). ``index`` (-1 = unmatched) is returned unchanged when no direction
    repeats. Time O(M log M), memory O(M).

    Raises
    ------
    HrtfevalError
        A repeated prediction row cannot be paired: its direction is held a different number of
        times by the two sets.
    """
    if u_pred.shape[0] < 2:
        return index
    # Identical directions to ~1e-7 degree (the zenith at any azimuth differs by ~1e-14).
    key = np.round(u_pred * _DUPLICATE_KEY_SCALE).astype(np.int64)
    group, counts = _group_rows(key)
    if counts.max() == 1:
        return index
    rows = np.flatnonzero(index >= 0)
    rows = rows[counts[group[index[rows]]] > 1]
    if rows.size == 0:
        return index
    out = index.copy()
    p_dist, p_az = _distance_labels(prediction_positions), _azimuth_labels(prediction_positions)
    r_dist = _distance_labels(reference_positions[rows])
    r_az = _azimuth_labels(reference_positions[rows])
    r_group = group[index[rows]]

    # Label classes: prediction rows of a repeated direction sorted by (group, distance,
    # azimuth, row); equal labels in one group form a class.
    cand = np.flatnonzero(counts[group] > 1)
    cand = cand[np.lexsort((cand, p_az[cand], p_dist[cand], group[cand]))]
    g_c, d_c, a_c = group[cand], p_dist[cand], p_az[cand]
    starts = np.r_[True, (g_c[1:] != g_c[:-1]) | (d_c[1:] != d_c[:-1]) | (a_c[1:] != a_c[:-1])]
    class_of = np.empty(u_pred.shape[0], dtype=np.int64)
    class_of[cand] = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)  # position in cand of each class's first row
    size = np.diff(np.r_[first, cand.size])
    cls_g, cls_d, cls_a = g_c[first], d_c[first], a_c[first]

    # 1. The closest distance label within the group: (group, distance) pairs, searched by a
    # composite rank key.
    gd_starts = np.r_[True, (cls_g[1:] != cls_g[:-1]) | (cls_d[1:] != cls_d[:-1])]
    gd_first = np.flatnonzero(gd_starts)  # first class of each (group, distance)
    gd_end = np.r_[gd_first[1:], cls_g.size]
    gd_g, gd_d = cls_g[gd_first], cls_d[gd_first]
    values = np.unique(np.r_[gd_d, r_dist])
    width = np.int64(values.size)
    gd_key = gd_g * width + np.searchsorted(values, gd_d)
    r_key = r_group * width + np.searchsorted(values, r_dist)
    pos = np.searchsorted(gd_key, r_key)
    lo, hi = np.clip(pos - 1, 0, gd_g.size - 1), np.clip(pos, 0, gd_g.size - 1)
    big = np.iinfo(np.int64).max
    d_lo = np.where(gd_g[lo] == r_group, np.abs(gd_d[lo] - r_dist), big)
    d_hi = np.where(gd_g[hi] == r_group, np.abs(gd_d[hi] - r_dist), big)
    gd = np.where(d_hi < d_lo, hi, lo)
    best_dist = np.minimum(d_lo, d_hi)

    # 2. The closest azimuth label (on the circle) among that distance's classes, sorted by
    # azimuth: the neighbours of the insertion point and, for the wrap, the first and last.
    cls_gd = np.repeat(np.arange(gd_first.size), gd_end - gd_first)
    cls_key = cls_gd * _FULL_TURN + cls_a
    pos = np.searchsorted(cls_key, gd * _FULL_TURN + r_az)
    s, e = gd_first[gd], gd_end[gd] - 1
    options = np.stack([np.clip(pos - 1, s, e), np.clip(pos, s, e), s, e])
    diff = np.abs(cls_a[options] - r_az)
    az_cost = np.minimum(diff, _FULL_TURN - diff)
    # Ties: the class whose first row comes first in the file.
    pick = np.argmin(az_cost * np.int64(u_pred.shape[0] + 1) + cand[first[options]], axis=0)
    chosen = options[pick, np.arange(rows.size)]
    best_az = az_cost[pick, np.arange(rows.size)]

    # Keep the current choice when it is as good (the fast path's row-by-row identity).
    current = class_of[index[rows]]
    cur_dist = np.abs(cls_d[current] - r_dist)
    cur_diff = np.abs(cls_a[current] - r_az)
    cur_az = np.minimum(cur_diff, _FULL_TURN - cur_diff)
    keep = (cur_dist <= best_dist) & ((cur_dist < best_dist) | (cur_az <= best_az))
    chosen = np.where(keep, current, chosen)

    # 3. Rows of one class: shared when the class has one row, else paired in file order.
    k = np.bincount(chosen, minlength=size.size)
    order = np.lexsort((rows, chosen))
    rank = np.empty(rows.size, dtype=np.int64)
    first_ref = np.r_[0, np.cumsum(k)[:-1]]
    rank[order] = np.arange(rows.size) - first_ref[chosen[order]]
    single = size[chosen] == 1
    bad = np.flatnonzero(~single & (k[chosen] != size[chosen]))
    if bad.size:
        c = chosen[bad[0]]
        where = prediction_positions[cand[first[c]]]
        raise HrtfevalError(
            f"the direction {_fmt_direction(where)} at {where[2]:.6g} m is stored {size[c]} "
            f"times in {prediction_name}, but {k[c]} rows of {reference_name} match it: repeated "
            "rows are paired in file order only when both files hold them equally often; "
            "remove the extra rows"
        )
    out[rows] = cand[first[chosen] + np.where(single, 0, rank)]
    return out


def _group_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group id of each row of the int64 matrix ``key`` (equal rows, equal ids) and group sizes.

    Rows are grouped by a 64-bit hash (a 1-D unique, ~5x faster than ``np.unique(axis=0)``),
    then every row is checked against its group's first row; a hash collision falls back to
    ``np.unique(axis=0)``.
    """
    k = key.view(np.uint64)
    hashes = k[:, 0] * np.uint64(0x9E3779B97F4A7C15)
    for col in range(1, k.shape[1]):
        hashes = (hashes ^ (hashes >> np.uint64(31))) * np.uint64(0xC2B2AE3D27D4EB4F) + k[:, col]
    _, first, group, counts = np.unique(
        hashes, return_index=True, return_inverse=True, return_counts=True
    )
    group = group.reshape(-1)
    if np.array_equal(key, key[first[group]]):
        return group, counts
    _, group, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return group.reshape(-1), counts


def _nearest_by_dot(u_pred: np.ndarray, u_ref: np.ndarray) -> np.ndarray:
    """Row of ``u_pred`` with the largest dot product (smallest angle) for each ``u_ref`` row."""
    rows = max(1, _CHUNK_ELEMENTS // max(1, u_pred.shape[0]))
    out = np.empty(u_ref.shape[0], dtype=np.int64)
    for start in range(0, u_ref.shape[0], rows):
        out[start : start + rows] = np.argmax(u_ref[start : start + rows] @ u_pred.T, axis=1)
    return out


def _chord_to_deg(chord: np.ndarray) -> np.ndarray:
    """Chord length between unit vectors -> great-circle angle in degree (accurate near 0)."""
    return np.rad2deg(2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)))


def _fmt_direction(position: np.ndarray) -> str:
    return f"(az {position[0]:.4g}, el {position[1]:.4g} deg)"
