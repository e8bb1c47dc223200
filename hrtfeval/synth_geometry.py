"""The geometry of the synthetic sets: the head, the source grids and position checks.

Positions are ``(M, 3)`` arrays of azimuth (degree, counter-clockwise from the front, in
[0, 360)), elevation (degree, up positive) and distance (metre), as in SOFA's spherical
coordinates. Re-exported by :mod:`hrtfeval.synth`.
"""

from __future__ import annotations

import numpy as np

from .coords import wrap_azimuth

#: Default head radius in metres (Brown & Duda's average adult head).
HEAD_RADIUS = 0.0875
#: Source distance in metres written into the grids.
DEFAULT_DISTANCE = 1.2
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
# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


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
    azimuth = wrap_azimuth(i * golden_angle)
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
