"""The views by name and the standard pictures of a scored pair (``score --plot``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import HrtfevalError
from .common import (
    DEFAULT_DPI,
    PAIR_VIEWS,
    View,
    _pair_tensors,
    plot_folder,
    save_view,
)
from .localisation import localisation_view
from .pair import compare_view, direction_view, frequency_view


def pair_view(
    aligned,
    view: str,
    options,
    *,
    metric: str = "lsd",
    direction: tuple[float, float] | None = None,
    device="cpu",
    dpi: float = DEFAULT_DPI,
) -> View:
    """One of the pair views by name: ``direction``, ``frequency``, ``compare`` or
    ``localisation``."""
    from ..loss import check_option

    view = check_option("view", view, PAIR_VIEWS)
    if view == "localisation":
        return localisation_view(aligned, options, dpi=dpi)
    if view == "direction":
        return direction_view(aligned, metric, options, device, dpi=dpi)
    if view == "frequency":
        return frequency_view(aligned, options, device, dpi=dpi)
    return compare_view(aligned, options, direction or (0.0, 0.0), device, dpi=dpi)


def standard_views(
    aligned,
    options,
    out_dir: str | os.PathLike,
    device="cpu",
    *,
    dpi: float = DEFAULT_DPI,
    fmt: str = "png",
    warn=None,
    save=None,
    score=None,
) -> list[Path]:
    """Write the standard pictures of a scored pair into ``out_dir`` (created if needed).

    ``<metric>_by_direction.<fmt>`` for every metric in ``options.metrics``,
    ``lsd_by_frequency.<fmt>`` and ``compare_az0_el0.<fmt>`` (the frontal direction). A view
    that cannot be drawn for this pair (e.g. no source positions) is skipped and reported
    through ``warn(message)``; the others are still written. Returns the paths written.
    ``save(view, path, dpi) -> path`` replaces :func:`save_view` (the folder is then not
    created here). ``score``: the pair's :class:`~hrtfeval.scoring.PairScore`, whose
    per-direction values and tensors the views draw (nothing is computed again); None computes
    them.
    """
    out = plot_folder(out_dir) if save is None else Path(out_dir)
    written: list[Path] = []

    def attempt(name: str, make):
        try:
            view = make()
        except HrtfevalError as exc:
            if warn is not None:
                warn(f"skipped {name}: {exc}")
            return
        try:
            written.append((save or save_view)(view, out / f"{name}.{fmt}", dpi))
        finally:
            view.figure.clear()

    from ..scoring import LOCALISATION, scored_errors

    def errors(metric: str):
        return None if score is None else scored_errors(aligned, score, metric)

    for metric in options.metrics:
        if metric in LOCALISATION:
            continue
        attempt(
            f"{metric}_by_direction",
            lambda m=metric: direction_view(aligned, m, options, device, dpi=dpi, per=errors(m)),
        )
    if any(m in LOCALISATION for m in options.metrics):
        attempt("localisation", lambda: localisation_view(aligned, options, dpi=dpi))
    if not aligned.matched:  # each set on its own grid: no spectral comparison to draw
        return written
    # The score's tensors, shared by the two spectral views.
    tensors = _pair_tensors(aligned, options, device, None if score is None else score.tensors)
    attempt(
        "lsd_by_frequency",
        lambda: frequency_view(aligned, options, device, dpi=dpi, tensors=tensors),
    )
    attempt(
        "compare_az0_el0",
        lambda: compare_view(aligned, options, (0.0, 0.0), device, dpi=dpi, tensors=tensors),
    )
    return written
