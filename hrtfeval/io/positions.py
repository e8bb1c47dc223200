"""Source positions as a file stores them -> azimuth [0, 360) degree, elevation degree, distance
metre (SOFA ``SourcePosition`` and the ``positions`` of a ``.pt`` file)."""

from __future__ import annotations

import numpy as np

from ..coords import (
    ANGLE_UNITS,
    LENGTH_UNITS,
    cartesian_to_spherical,
    fold_elevation,
    unit_tokens,
    wrap_azimuth,
)
from ..errors import HrtfevalError
from .checks import _check_finite


def parse_source_positions(
    values: np.ndarray,
    position_type: str | None,
    units: str | None,
    *,
    name: str = "SourcePosition",
    file: str | None = None,
) -> np.ndarray:
    """SOFA positions -> (M, 3) azimuth [0, 360) degree, elevation degree, distance metre.

    Parameters
    ----------
    values : numpy.ndarray, shape (M, 3)
    position_type : {"spherical", "cartesian"} or None
        Case-insensitive. ``None`` (attribute missing): inferred from ``units`` -- angle units
        mean spherical, length units only mean cartesian; without units either, SOFA's default
        for source positions (spherical, degree, degree, metre).
    units : str or None
        Comma- or space-separated, e.g. ``"degree, degree, metre"``, ``"deg deg m"``,
        ``"rad, rad, m"`` (radians are converted) or ``"metre"`` for cartesian. ``None``
        assumes degree/metre.

    Spherical elevations outside [-90, 90] degree are folded back over the pole (elevation
    315 is -45; elevation 100 at azimuth 0 is elevation 80 at azimuth 180), so the result
    always has elevation in [-90, 90] and names the same direction as the input.

    Raises
    ------
    HrtfevalError
        Unknown type or units, non-finite values, or a cartesian position at the origin.
    """
    return _parse_positions(values, position_type, units, name, file)[0]


def _parse_positions(
    values: np.ndarray, position_type: str | None, units: str | None, name: str, file: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`parse_source_positions`, and the spherical positions as stored (degrees; None when
    cartesian) for :attr:`~hrtfeval.model.HRTFSet.stored_positions`."""
    values = np.asarray(values, dtype=np.float64)
    _check_finite(values, name, file)
    tokens = unit_tokens(units) if units else []
    angle_tokens = [ANGLE_UNITS.get(t) for t in tokens]
    ptype = (position_type or "").strip().lower()
    if not ptype:
        if not tokens or angle_tokens[0] is not None:
            ptype = "spherical"
        elif tokens and all(t in LENGTH_UNITS for t in tokens):
            ptype = "cartesian"
        else:
            raise HrtfevalError(
                f"{name} has no Type attribute and units {units!r} do not say whether it is "
                "spherical (e.g. 'degree, degree, metre') or cartesian ('metre')",
                file=file,
            )

    if ptype == "spherical":
        if not tokens:
            angle_unit: tuple[str | None, str | None] = ("degree", "degree")
        elif (
            len(tokens) <= 3
            and angle_tokens[0] is not None
            and (len(tokens) < 2 or angle_tokens[1] is not None)
            and (len(tokens) < 3 or tokens[2] in LENGTH_UNITS)
        ):
            angle_unit = (angle_tokens[0], angle_tokens[1] if len(tokens) > 1 else angle_tokens[0])
        else:
            raise HrtfevalError(
                f"{name} is spherical with units {units!r}; expected 'degree, degree, metre' "
                "(also 'deg'/'degrees', 'rad'/'radian', 'm'/'meter')",
                file=file,
            )
        out = values.copy()
        for col, unit in enumerate(angle_unit):
            if unit == "radian":
                out[:, col] = np.rad2deg(out[:, col])
        stored = out.copy()
        out[:, 0], out[:, 1] = fold_elevation(out[:, 0], out[:, 1])
        out[:, 0] = wrap_azimuth(out[:, 0])
        return out, stored

    if ptype == "cartesian":
        if tokens and not (len(tokens) in (1, 3) and all(t in LENGTH_UNITS for t in tokens)):
            raise HrtfevalError(
                f"{name} is cartesian with units {units!r}; expected 'metre' (or 'meter', 'm')",
                file=file,
            )
        at_origin = np.flatnonzero(~np.any(values != 0, axis=1))
        if at_origin.size:
            raise HrtfevalError(
                f"{name} row {int(at_origin[0])} is (0, 0, 0), which has no direction "
                f"({at_origin.size} such row(s))",
                file=file,
            )
        return cartesian_to_spherical(values), None

    raise HrtfevalError(
        f"{name} has Type {position_type!r}; expected 'spherical' or 'cartesian'", file=file
    )
