"""The in-memory HRTF set that every reader produces and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Their home is coords; imported from here too (regions, align, weights, plot, tests).
from .coords import cartesian_to_spherical, spherical_to_unit  # noqa: F401

#: ``data`` holds impulse responses (time samples on the last axis).
IR = "ir"
#: ``data`` holds complex transfer functions at ``frequencies``.
TF = "tf"
#: ``data`` holds linear magnitudes |H| at ``frequencies``.
MAGNITUDE = "magnitude"
#: ``data`` holds dB magnitudes 20*log10|H| at ``frequencies``.
DB = "db"
DOMAINS = (IR, TF, MAGNITUDE, DB)


@dataclass
class HRTFSet:
    """One HRTF set, kept in SOFA's M x R x N layout (measurements x ears x samples/bins).

    Attributes
    ----------
    path : str
        The file it was read from (used in every message about it).
    data : numpy.ndarray, shape (M, 2, N)
        Ear 0 is left, ear 1 is right. Real float for ``ir``, ``magnitude`` and ``db``; complex
        for ``tf``.
    domain : {"ir", "tf", "magnitude", "db"}
    sampling_rate : float or None
        In Hz. ``None`` when the file does not say (a bare ``.pt`` tensor).
    positions : numpy.ndarray or None, shape (M, 3)
        Source positions as azimuth (degree, counter-clockwise from the front, in [0, 360)),
        elevation (degree, up positive) and distance (metre). ``None`` when the file has none.
    frequencies : numpy.ndarray or None, shape (N,)
        Bin frequencies in Hz for the frequency domains; ``None`` for ``ir``.
    convention : str
        SOFA convention name (``"SimpleFreeFieldHRIR"`` ...), or ``"pt"`` for torch files.
    version : str
        SOFA convention version (or ``""``).
    delay_applied : bool
        True when a non-zero ``Data.Delay`` was applied to the impulse responses.
    meta : dict
        Extra facts for ``info`` (title, database, original position type and units, ...).
    silent : numpy.ndarray or None, shape (M,), bool
        True for the directions where an ear's data is all zeros (a silent direction: its ITD
        and ILD are undefined). Set by the readers; ``None`` means not computed yet (see
        :meth:`silent_mask`).
    stored_positions : numpy.ndarray or None, shape (M, 3)
        The spherical positions as the file stores them (azimuth and elevation in degree,
        radians converted, neither wrapped nor folded; distance as stored): the localisation
        model computes its angles from these, as the original model does from
        ``SourcePosition``, because their last bits decide its exact comparisons. ``None`` for
        cartesian positions or when the reader did not keep them.
    """

    path: str
    data: np.ndarray
    domain: str
    sampling_rate: float | None = None
    positions: np.ndarray | None = None
    frequencies: np.ndarray | None = None
    convention: str = ""
    version: str = ""
    delay_applied: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    silent: np.ndarray | None = None
    stored_positions: np.ndarray | None = None

    def silent_mask(self) -> np.ndarray:
        """:attr:`silent`, computed from the data (and kept) when the reader did not set it."""
        if self.silent is None or self.silent.shape != (self.n_directions,):
            self.silent = silent_rows(self.data)
        return self.silent

    @property
    def n_directions(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_ears(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_samples(self) -> int:
        """Length of the last axis: taps for ``ir``, bins otherwise."""
        return int(self.data.shape[2])

    @property
    def has_ir(self) -> bool:
        return self.domain == IR


def silent_rows(data: np.ndarray, ear_sums: np.ndarray | None = None) -> np.ndarray:
    """(M,) bool: directions of ``data`` (M, R, N) where some ear is all zeros.

    ``ear_sums`` (M, R), the sums over the last axis when already computed, makes it cheap: only
    the ears that sum to exactly zero are looked at again.
    """
    data = np.asarray(data)
    if ear_sums is None:
        with np.errstate(all="ignore"):
            ear_sums = data.sum(axis=-1)
    silent = np.zeros(ear_sums.shape, dtype=bool)
    candidates = ear_sums == 0
    if candidates.any():
        silent[candidates] = ~np.any(data[candidates] != 0, axis=-1)
    return np.asarray(silent.any(axis=-1)) if silent.ndim > 1 else silent


#: Directions named in a message about many (the rest are counted).
SHOWN_DIRECTIONS = 3


def format_directions(positions: np.ndarray | None, rows: np.ndarray) -> str:
    """``"(az 0, el 30 deg), (az 90, el 0 deg), ..."``: the first :data:`SHOWN_DIRECTIONS` of
    ``rows``; row indices when there are no positions."""
    rows = np.asarray(rows)
    shown = rows[:SHOWN_DIRECTIONS]
    if positions is None:
        text = ", ".join(f"row {int(i)}" for i in shown)
    else:
        text = ", ".join(f"(az {positions[i, 0]:.4g}, el {positions[i, 1]:.4g} deg)" for i in shown)
    return text + (", ..." if rows.size > SHOWN_DIRECTIONS else "")
