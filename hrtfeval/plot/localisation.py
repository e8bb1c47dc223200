"""The localisation view: response matrices of the sagittal-plane model."""

from __future__ import annotations

import numpy as np

from .common import (
    DEFAULT_DPI,
    View,
    _deg,
    _figure,
    _names,
)


def localisation_view(aligned, options, *, dpi: float = DEFAULT_DPI, result=None) -> View:
    """Predicted response matrices of the localisation model: PRED and baseline side by side.

    One row per lateral angle; response polar angle (y) against target polar angle (x),
    probability as colour, the target diagonal (a correct response) dashed; QE and PE in each
    title. ``data``: ``result`` (:class:`~hrtfeval.localisation.LocalisationResult`).
    """
    from matplotlib.colors import Normalize

    from ..perceptual import localisation_result

    if result is None:
        result = localisation_result(aligned, options)
    pred_name, ref_name = _names(aligned)
    rows = len(result.laterals)
    fig = _figure(11.0, 0.6 + 4.4 * rows, dpi)
    axes = fig.subplots(rows, 2, squeeze=False, sharex=True, sharey=True)
    vmax = max(
        float(s.probabilities.max())
        for p in (result.prediction, result.baseline)
        for s in p.sectors
    )
    norm = Normalize(0.0, vmax)
    mesh = None
    for r, lam in enumerate(result.laterals):
        for c, (pred, label) in enumerate(
            ((result.prediction, f"PRED {pred_name}"), (result.baseline, f"baseline {ref_name}"))
        ):
            ax = axes[r, c]
            sector = pred.sectors[r]
            x = sector.target_polar
            edges = np.concatenate([[x[0] - 2.5], (x[1:] + x[:-1]) / 2, [x[-1] + 2.5]])
            if x.size > 1:
                edges[0], edges[-1] = x[0] - (x[1] - x[0]) / 2, x[-1] + (x[-1] - x[-2]) / 2
            y = sector.response_polar
            y_edges = np.concatenate([y - 2.5, [y[-1] + 2.5]])
            mesh = ax.pcolormesh(
                edges, y_edges, sector.probabilities, cmap="Greys", norm=norm, shading="flat"
            )
            ax.plot([-90, 270], [-90, 270], color="tab:red", lw=1.0, ls="--", label="target")
            ax.plot(x, x, "o", color="tab:red", ms=1.5)
            ax.set_xlim(-95, 270)
            ax.set_ylim(-92.5, 267.5)
            ax.set_aspect("equal")
            ticks = np.arange(-90, 271, 45)
            ax.set_xticks(ticks)
            ax.set_yticks(ticks)
            ax.grid(color="0.85", lw=0.5)
            ax.set_title(
                f"{label}\nlateral {_deg(lam, signed=True)}: QE {sector.qe:.1f} %, "
                f"PE {sector.pe:.1f}°",
                fontsize=10,
            )
            if r == rows - 1:
                ax.set_xlabel("target polar angle (°)")
            if c == 0:
                ax.set_ylabel("response polar angle (°)")
    fig.colorbar(mesh, ax=axes, label="response probability", shrink=0.8)
    fig.suptitle(
        f"Predicted sagittal-plane localisation (Baumgartner et al. 2014): "
        f"QE {result.prediction.qe:.1f} % (baseline {result.baseline.qe:.1f} %), "
        f"PE {result.prediction.pe:.1f}° (baseline {result.baseline.pe:.1f}°)",
        fontsize=11,
    )
    return View("localisation", fig, {"result": result})
