"""Solid-angle weights of a direction grid and weighted reductions over directions.

Averages over directions are unweighted by default (every direction counts once, as the LAP
evaluation does). Measured grids are denser near the poles than at the equator (rings of equal
azimuth count), so an unweighted mean over-counts the upper and lower directions. With
``--weighting area`` every direction is weighted by its share of the sphere:

1. the spherical Voronoi cells of the distinct directions (``scipy.spatial.SphericalVoronoi``),
   exact cell areas in steradians;
2. a grid with an unmeasured cap (no elevations below −45°, say) would let its border ring absorb
   the whole cap. Each cell is clipped to the elevations ``[el_min − h/2, el_max + h/2]``:
   at most half a grid spacing ``h`` beyond the outermost rings. ``h`` at an edge is the larger of
   the elevation step from the outermost ring to the next one and the median nearest-neighbour
   angle of the grid (for unstructured grids). When the bound lies beyond the pole, the cap is
   covered and nothing is clipped;
3. directions that coincide (within 1e-6 degrees) share one cell equally.

The weights (steradians) sum to the covered solid angle; :func:`area_weights` also returns the
covered fraction of 4π. A clipped cell is traced in 3-D (its great-circle edges, and the
elevation circle sampled every 0.05° where it cuts them) and its area taken as a spherical
polygon; the parts cut off are scaled to tile the cap exactly (a correction below 1e-6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .constants import WEIGHTINGS as SCHEMES
from .errors import HrtfevalError
from .model import spherical_to_unit
from .validate import check_option

#: Directions closer than this (degrees) are one direction sharing one Voronoi cell.
DUPLICATE_DEG = 1e-6
#: Largest step (degrees) between samples of a cell edge in the clipped-area computation.
EDGE_STEP_DEG = 0.05


@dataclass(frozen=True)
class Weights:
    """Per-direction solid-angle weights.

    Attributes
    ----------
    values : numpy.ndarray, shape (M,)
        Steradians per direction, in the order of the positions given.
    covered_sr : float
        Their sum: the solid angle the grid covers (4π when nothing is clipped).
    clip_deg : (float, float)
        The elevation band the cells were clipped to (−90, 90 when not clipped).
    """

    values: np.ndarray
    covered_sr: float
    clip_deg: tuple[float, float]

    @property
    def covered_fraction(self) -> float:
        """Covered solid angle / 4π."""
        return self.covered_sr / (4.0 * math.pi)

    def spec(self) -> dict:
        """What the output's spec records about the weighting."""
        return {
            "scheme": "area",
            "definition": "spherical Voronoi cell area (sr) of each direction, cells clipped to "
            "half a grid spacing beyond the outermost rings, coincident directions sharing one "
            "cell; weighted mean = sum(w v) / sum(w)",
            "covered_fraction": self.covered_fraction,
            "clip_elevation_deg": list(self.clip_deg),
        }


def _unique_directions(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of coincident unit vectors: (index of one member per group, group of each row)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    chord = 2.0 * math.sin(math.radians(DUPLICATE_DEG) / 2.0)
    pairs = cKDTree(u).query_pairs(chord, output_type="ndarray")
    m = u.shape[0]
    if pairs.size == 0:
        return np.arange(m), np.arange(m)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, group = connected_components(graph, directed=False)
    _, first = np.unique(group, return_index=True)
    # Renumber the groups in the order of their first member.
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[group]


def _edge_spacing(el: np.ndarray, nn_deg: float, lowest: bool) -> float:
    """The grid spacing at the lower (or upper) edge: ring step or nearest-neighbour angle."""
    rings = np.unique(np.round(el, 6))
    if rings.size >= 2:
        step = rings[1] - rings[0] if lowest else rings[-1] - rings[-2]
    else:
        step = 0.0
    return max(float(step), nn_deg)


def _dense_boundary(vertices: np.ndarray) -> np.ndarray:
    """A cell boundary (k vertices in order) sampled every :data:`EDGE_STEP_DEG` along its
    great-circle edges: the samples lie on the edges, so the polygon is still the cell."""
    k = vertices.shape[0]
    pts = []
    for i in range(k):  # k is the cell's vertex count (about 6)
        p, q = vertices[i], vertices[(i + 1) % k]
        angle = math.acos(max(-1.0, min(1.0, float(np.dot(p, q)))))
        n = max(1, math.ceil(math.degrees(angle) / EDGE_STEP_DEG))
        if angle < 1e-12:
            pts.append(p[None])
            continue
        t = np.arange(n)[:, None] / n
        pts.append((np.sin((1 - t) * angle) * p + np.sin(t * angle) * q) / math.sin(angle))
    return np.concatenate(pts)


def _on_level(point: np.ndarray, level: float) -> np.ndarray:
    """The point of the circle sin(elevation) = ``level`` at the azimuth of ``point``."""
    r = math.sqrt(max(0.0, 1.0 - level * level))
    h = math.hypot(point[0], point[1])
    if h < 1e-15:
        return np.array([r, 0.0, level])
    return np.array([point[0] / h * r, point[1] / h * r, level])


def _latitude_arc(start: np.ndarray, end: np.ndarray, level: float, east: bool) -> np.ndarray:
    """Samples of the circle sin(elevation) = ``level`` strictly between two of its points,
    going east (increasing azimuth) or west."""
    a0, a1 = math.atan2(start[1], start[0]), math.atan2(end[1], end[0])
    span = (a1 - a0) % (2 * math.pi) if east else -((a0 - a1) % (2 * math.pi))
    n = math.ceil(abs(math.degrees(span)) / EDGE_STEP_DEG)
    if n <= 1:
        return np.empty((0, 3))
    phi = a0 + span * np.arange(1, n) / n
    r = math.sqrt(max(0.0, 1.0 - level * level))
    return np.stack([r * np.cos(phi), r * np.sin(phi), np.full(phi.shape, level)], axis=1)


def _polygon_area(points: np.ndarray) -> float:
    """Signed area (sr) of the spherical polygon with these vertices (in order, joined by
    great-circle arcs; positive when counter-clockwise seen from outside): signed triangles from
    its centre (Van Oosterom & Strackee)."""
    c = points.mean(axis=0)
    c /= np.linalg.norm(c)
    p, q = points, np.roll(points, -1, axis=0)
    num = np.einsum("ij,ij->i", np.cross(p, q), np.broadcast_to(c, p.shape))
    den = 1.0 + p @ c + q @ c + np.einsum("ij,ij->i", p, q)
    return float(np.sum(2.0 * np.arctan2(num, den)))


def _area_beyond(vertices: np.ndarray, level: float, below: bool) -> float:
    """Area (sr) of the part of one cell below (or above) sin(elevation) = ``level``.

    The part kept (above, or below, the level) is traced in 3-D: the cell's boundary where it
    is kept, and the level circle where the boundary is cut off (east for the part above the
    level, west for the part below, so the region stays on the left of the counter-clockwise
    boundary); its area is subtracted from the cell's.
    """
    pts = _dense_boundary(vertices)
    keep = pts[:, 2] >= level if below else pts[:, 2] <= level
    if keep.all():
        return 0.0
    full = _polygon_area(pts)
    if full < 0:  # SphericalVoronoi leaves some cells clockwise (repeated vertices at a pole)
        pts, keep, full = pts[::-1], keep[::-1], -full
    if not keep.any():
        return full
    start = int(np.flatnonzero(keep)[0])
    pts, keep = np.roll(pts, -start, axis=0), np.roll(keep, -start)
    out: list[np.ndarray] = []
    exit_point = None
    n = len(pts)
    for i in range(n):
        j = (i + 1) % n
        if keep[i]:
            out.append(pts[i][None])
        if keep[i] != keep[j]:
            t = (level - pts[i, 2]) / (pts[j, 2] - pts[i, 2])
            cross = _on_level(pts[i] + t * (pts[j] - pts[i]), level)
            if keep[i]:
                exit_point = cross
                out.append(cross[None])
            else:
                assert exit_point is not None, "the walk starts at a kept vertex"
                out.append(_latitude_arc(exit_point, cross, level, east=below))
                out.append(cross[None])
    kept = np.concatenate(out)
    return max(0.0, full - _polygon_area(kept))


def _may_reach(vertices: np.ndarray, level: float, below: bool) -> bool:
    """False when no point of the cell can lie beyond ``level`` (an edge's arc strays from its
    end points by less than its chord)."""
    chord = float(np.max(np.linalg.norm(vertices - np.roll(vertices, -1, axis=0), axis=1)))
    z = vertices[:, 2]
    return bool(z.min() - chord < level) if below else bool(z.max() + chord > level)


_CACHE: dict[bytes, Weights] = {}
_CACHE_SIZE = 8


def area_weights(positions: np.ndarray, *, where: str = "") -> Weights:
    """:func:`compute_area_weights`, remembered for the last few grids (a batch of subjects
    measured on one grid computes its weights once per process)."""
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    key = pos.tobytes() + str(pos.shape).encode()
    hit = _CACHE.get(key)
    if hit is None:
        hit = compute_area_weights(pos, where=where)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = hit
    return Weights(hit.values.copy(), hit.covered_sr, hit.clip_deg)


def compute_area_weights(positions: np.ndarray, *, where: str = "") -> Weights:
    """Solid-angle weights (sr) of the directions in ``positions``.

    Parameters
    ----------
    positions : numpy.ndarray, shape (M, 2 or 3)
        Azimuth and elevation in degrees (distance ignored).
    where : str
        The file named in error messages.

    Returns
    -------
    Weights

    Raises
    ------
    HrtfevalError
        Fewer than 4 distinct directions, or all of them on one great circle (no cells).
    """
    from scipy.spatial import SphericalVoronoi, cKDTree

    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] < 2:
        raise HrtfevalError("--weighting area needs source positions (azimuth, elevation)", where)
    u = spherical_to_unit(pos[:, :3] if pos.shape[1] >= 3 else np.c_[pos, np.ones(len(pos))])
    keep, group = _unique_directions(u)
    uu = u[keep]
    if uu.shape[0] < 4:
        raise HrtfevalError(
            f"--weighting area needs at least 4 distinct directions; the grid has {uu.shape[0]}",
            where,
        )
    try:
        sv = SphericalVoronoi(uu, radius=1.0, center=np.zeros(3))
    except (ValueError, RuntimeError) as exc:
        raise HrtfevalError(
            f"--weighting area: the directions have no spherical Voronoi cells ({exc}); are "
            "they all on one circle?",
            where,
        ) from None
    sv.sort_vertices_of_regions()
    areas = np.asarray(sv.calculate_areas(), dtype=np.float64)
    el = np.degrees(np.arcsin(np.clip(uu[:, 2], -1.0, 1.0)))
    dist, _ = cKDTree(uu).query(uu, k=2)
    nn_deg = float(np.median(np.degrees(2.0 * np.arcsin(np.clip(dist[:, 1] / 2.0, 0, 1)))))
    lo = float(el.min()) - _edge_spacing(el, nn_deg, True) / 2.0
    hi = float(el.max()) + _edge_spacing(el, nn_deg, False) / 2.0
    clip = (max(lo, -90.0), min(hi, 90.0))
    for bound, below in ((lo, True), (hi, False)):
        if -90.0 < bound < 90.0:
            level = math.sin(math.radians(bound))
            cap = 2.0 * math.pi * ((1.0 + level) if below else (1.0 - level))
            cut = np.array(
                [
                    _area_beyond(sv.vertices[region], level, below)
                    if _may_reach(sv.vertices[region], level, below)
                    else 0.0
                    for region in sv.regions
                ]
            )
            # The cells tile the sphere, so the parts cut off tile the cap: scale away the
            # sampling error so that the weights sum to the covered solid angle exactly.
            total = cut.sum()
            if abs(total - cap) > 1e-3 * cap:  # a geometry bug, not a property of the grid
                raise HrtfevalError(
                    f"--weighting area: the cells clipped at {bound:.4g} deg cover "
                    f"{total:.6g} sr of the {cap:.6g} sr cap (please report this as a bug)",
                    where,
                )
            if total > 0:
                cut *= cap / total
            areas = areas - cut
    areas = np.clip(areas, 0.0, None)
    counts = np.bincount(group, minlength=keep.size).astype(np.float64)
    values = areas[group] / counts[group]
    return Weights(values, float(areas.sum()), clip)


def check_scheme(name: str) -> str:
    """``name`` stripped and lower-cased if it is one of :data:`SCHEMES`, else ValueError."""
    return check_option("--weighting", name, SCHEMES)


def weighted_reduce(values, weights, reduction: str = "mean", epsilon: float = 1e-12):
    """Weighted reduction over directions of per-direction values.

    Parameters
    ----------
    values : torch.Tensor, shape (M,) or (M, E)
        Per-direction values (E ears); every ear of a direction gets the direction's weight.
    weights : array-like, shape (M,)
        Non-negative weights (e.g. :attr:`Weights.values`), not all zero.
    reduction : {"mean", "rms"}
        ``sum(w v) / sum(w)`` or ``sqrt(sum(w v^2) / sum(w) + epsilon)`` (``E`` ears count
        ``E`` times each).

    Returns
    -------
    torch.Tensor
        0-d, in the dtype of ``values``. Equal weights give :func:`hrtfeval.loss.reduce_values`.
    """
    import torch

    from .validate import check_epsilon, check_option

    reduction = check_option("reduction", reduction, ("mean", "rms"))
    eps = check_epsilon(epsilon)
    work = values.double()
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64), device=values.device)
    if w.ndim != 1 or w.shape[0] != work.shape[0]:
        raise ValueError(
            f"weights need one value per direction ({work.shape[0]}); got shape {tuple(w.shape)}"
        )
    if bool((w < 0).any()) or not bool(torch.isfinite(w).all()) or float(w.sum()) <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    ww = w.reshape((-1,) + (1,) * (work.dim() - 1)).expand_as(work)
    if reduction == "mean":
        out = (ww * work).sum() / ww.sum()
    else:
        out = torch.sqrt((ww * work * work).sum() / ww.sum() + eps)
    return out.to(values.dtype)
