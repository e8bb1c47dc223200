"""Coordinate and unit conventions: unit spellings, spherical <-> cartesian, elevation folding."""

from __future__ import annotations

import re

import numpy as np

_ANGLE_UNITS = {
    "degree": "degree",
    "degrees": "degree",
    "deg": "degree",
    "°": "degree",
    "rad": "radian",
    "radian": "radian",
    "radians": "radian",
}
_LENGTH_UNITS = {"metre", "meter", "metres", "meters", "m"}
_HERTZ = {"hertz", "hz"}
# Data.Delay is in samples (AES69); a file that says otherwise in a Units attribute is believed.
_SAMPLE_UNITS = {"sample", "samples", "1", ""}
_SECOND_UNITS = {"second", "seconds", "s", "sec"}


def _unit_tokens(units: str) -> list[str]:
    return [t for t in re.split(r"[,;\s]+", units.strip().lower()) if t]


def _fold_elevation(azimuth: np.ndarray, elevation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elevations outside [-90, 90] degree -> the same directions with elevation in [-90, 90].

    Some databases write elevations modulo 360 (LISTEN's -15 deg is 345); an elevation past a
    pole is the elevation mirrored at that pole, seen from the opposite azimuth.
    """
    outside = (elevation < -90.0) | (elevation > 90.0)
    if not outside.any():
        return azimuth, elevation
    azimuth, elevation = azimuth.copy(), elevation.copy()
    wrapped = np.mod(elevation[outside] + 180.0, 360.0) - 180.0  # [-180, 180)
    over = np.abs(wrapped) > 90.0
    wrapped[over] = np.copysign(180.0, wrapped[over]) - wrapped[over]
    elevation[outside] = wrapped
    azimuth[np.flatnonzero(outside)[over]] += 180.0
    return azimuth, elevation


def spherical_to_unit(positions: np.ndarray) -> np.ndarray:
    """(M, 3) azimuth/elevation in degrees (distance ignored) -> (M, 3) unit vectors (x front, y left, z up)."""
    az = np.deg2rad(np.asarray(positions[:, 0], dtype=np.float64))
    el = np.deg2rad(np.asarray(positions[:, 1], dtype=np.float64))
    cos_el = np.cos(el)
    return np.stack([cos_el * np.cos(az), cos_el * np.sin(az), np.sin(el)], axis=1)


def cartesian_to_spherical(xyz: np.ndarray) -> np.ndarray:
    """(M, 3) cartesian metres -> (M, 3) azimuth [0, 360) deg, elevation deg, distance m."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    r = np.sqrt(x * x + y * y + z * z)
    az = np.mod(np.rad2deg(np.arctan2(y, x)), 360.0)
    az[az >= 360.0] -= 360.0  # np.mod(-1e-15, 360) rounds to 360.0 (y just below the x axis)
    el = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return np.stack([az, el, r], axis=1)
