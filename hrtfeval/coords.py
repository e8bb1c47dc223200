"""Coordinate and unit conventions, in one place.

Directions are azimuth (degree, counter-clockwise from the front, in [0, 360)), elevation
(degree, up positive, in [-90, 90]) and distance (metre); cartesian axes are x front, y left,
z up (SOFA's conventions). This module holds the unit spellings files use for them, the one
azimuth wrap (:func:`wrap_azimuth`, and :func:`wrap_signed` for signed angles), the folding of
elevations past a pole, and the spherical <-> cartesian formulas. numpy only.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "ANGLE_UNITS",
    "LENGTH_UNITS",
    "HERTZ_UNITS",
    "SAMPLE_UNITS",
    "SECOND_UNITS",
    "unit_tokens",
    "is_hertz",
    "wrap_azimuth",
    "wrap_signed",
    "fold_elevation",
    "spherical_to_unit",
    "cartesian_to_spherical",
]

#: Angle unit spellings (lower case) -> ``"degree"`` or ``"radian"``.
ANGLE_UNITS = {
    "degree": "degree",
    "degrees": "degree",
    "deg": "degree",
    "°": "degree",
    "rad": "radian",
    "radian": "radian",
    "radians": "radian",
}
#: Spellings of metre (lower case).
LENGTH_UNITS = {"metre", "meter", "metres", "meters", "m"}
#: Spellings of hertz (lower case).
HERTZ_UNITS = {"hertz", "hz"}
#: Spellings of samples (lower case), the unit of ``Data.Delay`` (AES69); a file that says
#: otherwise in a Units attribute is believed.
SAMPLE_UNITS = {"sample", "samples", "1", ""}
#: Spellings of seconds (lower case).
SECOND_UNITS = {"second", "seconds", "s", "sec"}


def unit_tokens(units: str) -> list[str]:
    """A Units attribute split at commas, semicolons and spaces, lower case:
    ``"Degree, degree; metre"`` -> ``["degree", "degree", "metre"]``."""
    return [t for t in re.split(r"[,;\s]+", units.strip().lower()) if t]


def is_hertz(units: str) -> bool:
    """Whether a Units attribute spells hertz (any capitalisation)."""
    return units.lower() in HERTZ_UNITS


def wrap_azimuth(azimuth: np.ndarray) -> np.ndarray:
    """Angles in degree -> [0, 360) degree, as float64.

    ``np.mod`` alone rounds a tiny negative angle (-1e-15) up to 360.0; that is 0 here.
    """
    az = np.mod(np.asarray(azimuth, dtype=np.float64), 360.0)
    return np.where(az >= 360.0, 0.0, az)


def wrap_signed(angle: np.ndarray) -> np.ndarray:
    """Angles in degree -> [-180, 180) degree, as float64 (``180`` becomes ``-180``)."""
    return wrap_azimuth(np.asarray(angle, dtype=np.float64) + 180.0) - 180.0


def fold_elevation(azimuth: np.ndarray, elevation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elevations outside [-90, 90] degree -> the same directions with elevation in [-90, 90].

    Some databases write elevations modulo 360 (LISTEN's -15 deg is 345); an elevation past a
    pole is the elevation mirrored at that pole, seen from the opposite azimuth (180 degree is
    added to it, not wrapped: see :func:`wrap_azimuth`). Inputs are not modified.
    """
    outside = (elevation < -90.0) | (elevation > 90.0)
    if not outside.any():
        return azimuth, elevation
    azimuth, elevation = azimuth.copy(), elevation.copy()
    wrapped = wrap_signed(elevation[outside])
    over = np.abs(wrapped) > 90.0
    wrapped[over] = np.copysign(180.0, wrapped[over]) - wrapped[over]
    elevation[outside] = wrapped
    azimuth[np.flatnonzero(outside)[over]] += 180.0
    return azimuth, elevation


def spherical_to_unit(positions: np.ndarray) -> np.ndarray:
    """(M, 3) azimuth/elevation in degree (distance ignored) -> (M, 3) unit vectors (x front,
    y left, z up)."""
    az = np.deg2rad(np.asarray(positions[:, 0], dtype=np.float64))
    el = np.deg2rad(np.asarray(positions[:, 1], dtype=np.float64))
    cos_el = np.cos(el)
    return np.stack([cos_el * np.cos(az), cos_el * np.sin(az), np.sin(el)], axis=1)


def cartesian_to_spherical(xyz: np.ndarray) -> np.ndarray:
    """(M, 3) cartesian metre -> (M, 3) azimuth [0, 360) degree, elevation degree, distance
    metre."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    r = np.sqrt(x * x + y * y + z * z)
    az = wrap_azimuth(np.rad2deg(np.arctan2(y, x)))  # y just below the x axis: 0, not 360
    el = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return np.stack([az, el, r], axis=1)
