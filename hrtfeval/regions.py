"""Direction subsets: named regions of the sphere, excluded directions, per-region scores.

Regions (``--region NAME``, repeatable) are defined on the reference's directions, with
azimuth counter-clockwise from the front and elevation up (the :mod:`hrtfeval.model`
convention; x front, y left, z up). The three planes are "within ``tol`` degrees of the plane"
(the angle between the direction and the plane):

* ``horizontal``: ``|elevation| <= tol`` (plane z = 0);
* ``median``: ``|lateral| <= tol``, lateral = asin(y) (plane y = 0, front-up-back);
* ``frontal``: ``asin(|x|) <= tol`` (plane x = 0 through both ears and the zenith: the
  interaural-axis plane);
* ``upper`` / ``lower``: elevation >= 0 / <= 0; ``front`` / ``back``: x >= 0 / <= 0
  (|azimuth| <= 90 / >= 90). Directions on the dividing plane belong to both halves;
* ``elevation:LO:HI``: ``LO <= elevation <= HI`` (degrees);
* ``azimuth:LO:HI``: from LO counter-clockwise to HI, wrap-aware (``azimuth:-30:30`` and
  ``azimuth:330:30`` are the same 60 degrees around the front).

``tol`` is ``--region-tolerance``, by default half the grid's typical spacing (the median
angle from a direction to its nearest neighbour), stated in each pair's spec.

``--exclude FILE`` (a SOFA file, or a CSV of azimuth, elevation in degrees) leaves out the
reference directions within ``--position-tolerance`` of a listed direction from every score,
as upsampling papers leave out the sparse directions that were the model's input.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .coords import wrap_azimuth
from .errors import HrtfevalError
from .model import spherical_to_unit
from .results import Threshold, region_checks  # noqa: F401 - region_checks: its old home

NAMED = ("horizontal", "median", "frontal", "upper", "lower", "front", "back")
RANGES = ("elevation", "azimuth")
#: Slack (degrees) on range and half-space bounds, so 30.0000000001 counts as 30.
EDGE_SLACK_DEG = 1e-9


@dataclass(frozen=True)
class Region:
    """A named direction subset; ``lo``/``hi`` in degrees for the ranges."""

    name: str
    kind: str
    lo: float | None = None
    hi: float | None = None

    def uses_tolerance(self) -> bool:
        return self.kind in ("horizontal", "median", "frontal")

    def definition(self, tol: float) -> str:
        t = f"{tol:.4g} deg"
        if self.kind == "elevation":
            return f"{self.lo:g} <= elevation <= {self.hi:g}"
        if self.kind == "azimuth":
            return f"azimuth from {self.lo:g} counter-clockwise to {self.hi:g} (wrapping at 360)"
        return {
            "horizontal": f"|elevation| <= {t}",
            "median": f"|lateral angle| = asin(|y|) <= {t}",
            "frontal": f"angle to the frontal (interaural-axis) plane asin(|x|) <= {t}",
            "upper": "elevation >= 0",
            "lower": "elevation <= 0",
            "front": "|azimuth| <= 90 (x >= 0)",
            "back": "|azimuth| >= 90 (x <= 0)",
        }[self.kind]


def parse_region(text: str) -> Region:
    """``"horizontal"``, ``"elevation:-30:30"``, ``"azimuth:330:30"`` ... -> :class:`Region`."""
    name = str(text).strip().lower()
    if name in NAMED:
        return Region(name, name)
    kind, sep, rest = name.partition(":")
    lo_text, sep2, hi_text = rest.partition(":")
    if kind in RANGES and sep and sep2:
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            lo = hi = math.nan
        if math.isfinite(lo) and math.isfinite(hi):
            if kind == "elevation" and not (-90 <= lo <= hi <= 90):
                raise ValueError(
                    f"--region {text}: elevation:LO:HI needs -90 <= LO <= HI <= 90 degrees"
                )
            return Region(name, kind, lo, hi)
    raise ValueError(
        f"--region must be one of {', '.join(NAMED)}, elevation:LO:HI or azimuth:LO:HI "
        f"(degrees); got {text!r}"
    )


def typical_spacing_deg(positions: np.ndarray) -> float:
    """Median angle (degrees) from each distinct direction to its nearest neighbour."""
    from scipy.spatial import cKDTree

    u = np.unique(np.round(spherical_to_unit(positions), 12), axis=0)
    if u.shape[0] < 2:
        return 0.0
    dist, _ = cKDTree(u).query(u, k=2)
    return float(np.median(np.degrees(2.0 * np.arcsin(np.clip(dist[:, 1] / 2.0, 0.0, 1.0)))))


def region_mask(region: Region, positions: np.ndarray, tol: float) -> np.ndarray:
    """Boolean (M,) of the directions in ``region`` (``tol`` in degrees, for the planes)."""
    u = spherical_to_unit(positions)
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    s = EDGE_SLACK_DEG
    plane = math.sin(math.radians(tol + s))
    if region.kind == "horizontal":
        return np.abs(z) <= plane
    if region.kind == "median":
        return np.abs(y) <= plane
    if region.kind == "frontal":
        return np.abs(x) <= plane
    half = math.sin(math.radians(s))
    if region.kind == "upper":
        return z >= -half
    if region.kind == "lower":
        return z <= half
    if region.kind == "front":
        return x >= -half
    if region.kind == "back":
        return x <= half
    lo, hi = region.lo, region.hi
    assert lo is not None and hi is not None, "elevation and azimuth regions have both bounds"
    el = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
    if region.kind == "elevation":
        return (el >= lo - s) & (el <= hi + s)
    span = hi - lo
    if span >= 360.0 - s:
        return np.ones(len(u), dtype=bool)
    span %= 360.0
    az = np.degrees(np.arctan2(y, x))
    offset = wrap_azimuth(az - lo)
    return (offset <= span + s) | (offset >= 360.0 - s)


def region_spec(regions: tuple[str, ...], tolerance: float | None, positions) -> dict[str, Any]:
    """The pair spec's ``regions`` block: the tolerance used and each region's definition."""
    parsed = [parse_region(r) for r in regions]
    tol, source = resolve_tolerance(tolerance, positions)
    return {
        "tolerance_deg": tol,
        "tolerance": source,
        "definitions": {r.name: r.definition(tol) for r in parsed},
    }


def resolve_tolerance(tolerance: float | None, positions) -> tuple[float, str]:
    if tolerance is not None:
        return float(tolerance), "--region-tolerance"
    spacing = typical_spacing_deg(positions)
    return spacing / 2.0, (
        f"default: half the grid's typical spacing (median nearest-neighbour angle "
        f"{spacing:.4g} deg)"
    )


def region_scores(values: dict[str, Any], units: dict[str, str], aligned, options, weights=None):
    """The ``regions`` block of a pair: per region its direction count and scores.

    ``values[m]`` are the per-direction values (M, 2) or (M,) of the full-sphere scores; each
    region reduces its rows the same way (weights restricted to the region). A region check
    (``--fail-above REGION.METRIC=VALUE``) is applied to that region's overall value only.
    """
    from .scoring import reduce_pair

    positions = aligned.reference.positions
    if positions is None:
        raise HrtfevalError(
            "--region needs source positions, and the reference has none", aligned.reference.path
        )
    tol, _ = resolve_tolerance(options.region_tolerance, positions)
    out: dict[str, Any] = {}
    for text in options.regions:
        region = parse_region(text)
        mask = region_mask(region, positions, tol)
        n = int(mask.sum())
        checks = tuple(
            (key.rpartition(".")[2], t)
            for key, t in options.thresholds
            if key.rpartition(".")[0] == region.name
        )
        if n == 0:
            if checks:
                raise HrtfevalError(
                    f"the region {region.name} holds none of the {len(positions)} directions "
                    f"(tolerance {tol:.4g} deg), so its check "
                    f"{', '.join(region.name + '.' + m for m, _ in checks)} cannot be made",
                    aligned.reference.path,
                )
            out[region.name] = {
                "directions": 0,
                "scores": {},
                "note": "no direction of the grid lies in this region",
            }
            continue
        sub_opts = replace(options, thresholds=checks)
        idx = np.flatnonzero(mask)
        scores = {}
        for m, v in values.items():
            import torch

            rows = v.index_select(0, torch.as_tensor(idx, device=v.device))
            w = None if weights is None else np.asarray(weights)[idx]
            scores[m] = reduce_pair(rows, m, units[m], sub_opts, w).as_dict()
        out[region.name] = {"directions": n, "scores": scores}
    return out


def aggregate_regions(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per region and metric, statistics of the pairs' overall values (as ``aggregate``)."""
    from .batch import stats

    names: list[str] = []
    for e in entries:
        names += [r for r in (e.get("regions") or {}) if r not in names]
    out: dict[str, Any] = {}
    for r in names:
        blocks = [e["regions"][r] for e in entries if r in (e.get("regions") or {})]
        metrics: list[str] = []
        for b in blocks:
            metrics += [m for m in b["scores"] if m not in metrics]
        out[r] = {
            "directions": stats([float(b["directions"]) for b in blocks]),
            "scores": {
                m: {
                    "unit": next(b["scores"][m]["unit"] for b in blocks if m in b["scores"]),
                    **stats([b["scores"][m]["overall"] for b in blocks if m in b["scores"]]),
                }
                for m in metrics
            },
        }
    return out


# ----------------------------------------------------------------------------------------------
# --exclude


_EXCLUDE_CACHE: dict[str, np.ndarray] = {}


def read_exclude(path: str) -> np.ndarray:
    """The directions (K, 2: azimuth, elevation in degrees) listed in ``path``.

    A ``.sofa``/``.pt`` file gives its source positions; anything else is read as CSV: a header
    row names the azimuth and elevation columns (azimuth/az, elevation/el, any case); without a
    header the first two columns are azimuth, elevation (:func:`_read_exclude_csv`).
    """
    if path in _EXCLUDE_CACHE:
        return _EXCLUDE_CACHE[path]
    if str(path).lower().endswith((".sofa", ".pt")):
        from .io import read_hrtf

        hrtf = read_hrtf(path)
        if hrtf.positions is None:
            raise HrtfevalError("--exclude: the file has no source positions", str(path))
        out = np.asarray(hrtf.positions[:, :2], dtype=np.float64)
    else:
        out = _read_exclude_csv(str(path))
    _EXCLUDE_CACHE[path] = out
    return out


#: Column names of an ``--exclude`` CSV header (case-insensitive).
EXCLUDE_COLUMNS = {"azimuth": ("azimuth", "az"), "elevation": ("elevation", "el")}


def _exclude_columns(cells: list[str], path: str) -> tuple[int, int] | None:
    """The (azimuth, elevation) column indices named by a header row, or None when ``cells`` is
    a row of numbers (no header: the first two columns are azimuth, elevation)."""
    try:
        float(cells[0]), float(cells[1])
        return None
    except (ValueError, IndexError):
        pass
    names = [c.lower() for c in cells]
    found = []
    for what, accepted in EXCLUDE_COLUMNS.items():
        hits = [i for i, n in enumerate(names) if n in accepted]
        if len(hits) != 1:
            raise HrtfevalError(
                f"--exclude: the header {','.join(cells)!r} must name one {what} column "
                f"({' or '.join(accepted)}, any case); "
                + ("it names several" if hits else "it names none")
                + " (a file without a header is read as azimuth, elevation)",
                path,
            )
        found.append(hits[0])
    return found[0], found[1]


def _read_exclude_csv(path: str) -> np.ndarray:
    """Directions of an ``--exclude`` CSV: a header row names the columns (azimuth/az,
    elevation/el, any case, in any order, other columns ignored); without a header the first
    two columns are azimuth and elevation, in degrees."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except FileNotFoundError:
        raise HrtfevalError("--exclude: file not found", path) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise HrtfevalError(f"--exclude: cannot read the file: {exc}", path) from None
    columns = _exclude_columns([c.strip() for c in rows[0]], path) if rows else None
    i_az, i_el = (0, 1) if columns is None else columns
    values = []
    for i, row in enumerate(rows, start=1):
        if i == 1 and columns is not None:
            continue  # the header
        cells = [c.strip() for c in row]
        try:
            az, el = float(cells[i_az]), float(cells[i_el])
        except (ValueError, IndexError):
            raise HrtfevalError(
                f"--exclude: row {i} needs two numbers, azimuth and elevation in degrees; "
                f"got {','.join(cells)!r}",
                path,
            ) from None
        if not (math.isfinite(az) and math.isfinite(el) and -90 <= el <= 90):
            raise HrtfevalError(
                f"--exclude: row {i}: elevation must be within -90..90 degrees; got {el:g}", path
            )
        values.append((az, el))
    if not values:
        raise HrtfevalError("--exclude: the file lists no direction (azimuth, elevation)", path)
    return np.asarray(values, dtype=np.float64)


def apply_exclude(aligned, path: str, tolerance_deg: float):
    """A copy of ``aligned`` (with an attribute ``excluded``, the count left out) without the
    reference directions within ``tolerance_deg`` of a direction listed in ``path`` (both sets
    lose the same rows).

    Raises
    ------
    HrtfevalError
        No listed direction is in the reference grid (a misread file, or other units), or every
        direction would be left out.
    """
    from scipy.spatial import cKDTree

    listed = read_exclude(path)
    ref = aligned.reference
    if ref.positions is None:
        raise HrtfevalError(
            "--exclude needs source positions, and the reference has none", ref.path
        )
    u_ref = spherical_to_unit(ref.positions)
    u_ex = spherical_to_unit(np.c_[listed, np.ones(len(listed))])
    chord = 2.0 * math.sin(math.radians(max(tolerance_deg, 1e-9)) / 2.0)
    hits = cKDTree(u_ex).query_ball_point(u_ref, chord)
    drop = np.array([bool(h) for h in hits])
    used = {i for h in hits for i in h}
    if not drop.any():
        raise HrtfevalError(
            f"--exclude: none of its {len(listed)} directions is in the reference grid (within "
            f"{tolerance_deg:g} deg); expected azimuth, elevation in degrees",
            str(path),
        )
    if len(used) < len(listed):  # a misread (other columns, units) must not leave some in
        unmatched = [i for i in range(len(listed)) if i not in used]
        shown = ", ".join(f"({listed[i, 0]:g}, {listed[i, 1]:g})" for i in unmatched[:3])
        more = f" and {len(unmatched) - 3} more" if len(unmatched) > 3 else ""
        raise HrtfevalError(
            f"--exclude: {len(unmatched)} of its {len(listed)} directions are not in the "
            f"reference grid of {ref.path} (within {tolerance_deg:g} deg): {shown}{more} "
            "(azimuth, elevation in degrees); list only directions of the grid",
            str(path),
        )
    if drop.all():
        raise HrtfevalError(
            f"--exclude leaves out all {len(drop)} matched directions: nothing to score",
            str(path),
        )
    from .align import _take

    keep = np.flatnonzero(~drop)
    notes = list(aligned.notes) + [
        f"--exclude {path}: {int(drop.sum())} direction(s) left out of every score"
    ]
    out = replace(
        aligned,
        prediction=_take(aligned.prediction, keep),
        reference=_take(ref, keep),
        notes=notes,
    )
    out.excluded = int(drop.sum())  # read by scoring.spec_dict (directions.excluded)
    return out


def apply_region_fail_above(doc: dict[str, Any], limits: dict[str, float]) -> None:
    """``--fail-above REGION.METRIC=VALUE`` on a stored document (``merge``), in place: each
    pair's region score gets its threshold and verdict, the spec lists the check.

    Raises
    ------
    HrtfevalError
        The document has no such region or metric, or a scored pair's region holds no
        direction (a check that cannot be made never passes).
    """
    spec = doc.get("spec", {})
    entries = doc.get("pairs", [doc])
    known = set(spec.get("regions") or [])
    for e in entries:
        known |= set(e.get("regions") or {})
    for key, limit in limits.items():
        region, _, metric = key.rpartition(".")
        region = parse_region(region).name
        if region not in known:
            raise HrtfevalError(
                f"--fail-above names the region {region!r}, which the document does not score "
                f"(it has {', '.join(sorted(known)) or 'no regions'})"
            )
        for e in entries:
            if "scores" not in e:
                continue
            block = (e.get("regions") or {}).get(region)
            if block is None or metric not in block.get("scores", {}):
                raise HrtfevalError(
                    f"the pair {e.get('prediction')} has no {metric} score in the region "
                    f"{region}, so --fail-above {key} cannot be checked"
                )
            s = block["scores"][metric]
            s["threshold"] = float(limit)
            s["passed"] = Threshold(float(limit)).passes(s["overall"], metric)
        name = f"{region}.{metric}"
        spec.setdefault("thresholds", {})[name] = Threshold(float(limit)).to_spec(name)
