"""What ``hrtfeval info`` reports about one file (:func:`describe`): its format, shape, rate,
directions, delay and silent directions, read through :func:`hrtfeval.io.read_hrtf`, and the
ITD/ILD ranges (:mod:`hrtfeval.cues`, imported only when they are asked for)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .model import SHOWN_DIRECTIONS, HRTFSet


def _silent_facts(hrtf: HRTFSet) -> dict[str, Any]:
    """``{"count": k, "first": [{"azimuth_deg", "elevation_deg"}, ...] or [row, ...]}`` of the
    silent directions."""
    rows = np.flatnonzero(hrtf.silent_mask())[:SHOWN_DIRECTIONS]
    if hrtf.positions is None:
        first: list[Any] = [int(i) for i in rows]
    else:
        first = [
            {
                "azimuth_deg": float(hrtf.positions[i, 0]),
                "elevation_deg": float(hrtf.positions[i, 1]),
            }
            for i in rows
        ]
    return {"count": int(hrtf.silent_mask().sum()), "first": first}


def describe(path: str | os.PathLike, cues: bool = False) -> dict[str, Any]:
    """What ``hrtfeval info`` shows about a file, as a JSON-serialisable dict.

    Keys: ``path``, ``format`` ("SOFA" or "pt"), ``convention``, ``version``, ``sofa_version``,
    ``file_size_bytes``, ``domain``, ``M``, ``R``, ``N``, ``sampling_rate`` (Hz or None),
    ``frequencies`` (count/min/max Hz, or None), ``directions`` (count, azimuth/elevation range
    in degree, distance range in metre, or None without positions), ``position_type``,
    ``position_units``, ``delay`` (min/max samples, nonzero, applied), ``silent_directions``
    (``count`` and the ``first`` few azimuths/elevations in degree, or row indices without
    positions, of the directions with an all-zero ear), ``cues`` (only when ``cues`` is true:
    ITD range in µs and ILD range in dB over the other directions; see
    :func:`hrtfeval.cues.cue_ranges`), and ``title``, ``database``, ``listener`` (str or None).

    Parameters
    ----------
    path : str or os.PathLike
        A .sofa or .pt file.
    cues : bool, default False
        Also compute the cue ranges. They cost an ITD of every direction, and torch's import
        (seconds); without them nothing heavier than numpy and h5py is imported for a SOFA file.

    Raises
    ------
    HrtfevalError
        See :func:`read_hrtf`.
    """
    from .io import read_hrtf  # here: hrtfeval.io imports this module

    hrtf = read_hrtf(path)
    meta = hrtf.meta
    directions = None
    if hrtf.positions is not None:
        pos = hrtf.positions
        directions = {
            "count": int(pos.shape[0]),
            "azimuth_min_deg": float(pos[:, 0].min()),
            "azimuth_max_deg": float(pos[:, 0].max()),
            "elevation_min_deg": float(pos[:, 1].min()),
            "elevation_max_deg": float(pos[:, 1].max()),
            "distance_min_m": float(pos[:, 2].min()),
            "distance_max_m": float(pos[:, 2].max()),
        }
    frequencies = None
    if hrtf.frequencies is not None:
        f = hrtf.frequencies
        frequencies = {"count": int(f.size), "min_hz": float(f.min()), "max_hz": float(f.max())}
    d_min = meta.get("delay_min_samples")
    d_max = meta.get("delay_max_samples")
    ranges = {}
    if cues:
        from .cues import cue_ranges

        try:
            ranges = {"cues": cue_ranges(hrtf)}
        except ValueError as exc:  # e.g. a rate too low for the 3 kHz ITD low-pass, a silent ear
            ranges = {"cues": {"unavailable": str(exc)}}
    return {
        "path": str(path),
        "format": meta.get("format", ""),
        "convention": hrtf.convention,
        "version": hrtf.version,
        "sofa_version": meta.get("sofa_version", ""),
        "file_size_bytes": int(Path(path).stat().st_size),
        "domain": hrtf.domain,
        "M": hrtf.n_directions,
        "R": hrtf.n_ears,
        "N": hrtf.n_samples,
        "sampling_rate": None if hrtf.sampling_rate is None else float(hrtf.sampling_rate),
        "frequencies": frequencies,
        "directions": directions,
        "position_type": meta.get(
            "position_type", "spherical" if hrtf.positions is not None else ""
        ),
        "position_units": meta.get("position_units", ""),
        "delay": {
            "min_samples": None if d_min is None else float(d_min),
            "max_samples": None if d_max is None else float(d_max),
            "nonzero": bool((d_min or 0.0) != 0.0 or (d_max or 0.0) != 0.0),
            "applied": bool(hrtf.delay_applied),
        },
        "silent_directions": _silent_facts(hrtf),
        **ranges,
        "title": meta.get("title"),
        "database": meta.get("database"),
        "listener": meta.get("listener"),
    }
