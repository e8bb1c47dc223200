"""Pictures of where and at which frequencies a prediction goes wrong.

Four views, each a function that returns a :class:`View` (a matplotlib figure plus the arrays it
draws, so that tests and callers can check the plotted numbers):

* :func:`direction_view` -- one metric's per-direction error on a Hammer map (one panel per ear,
  one panel for the interaural ITD/ILD). The values are those of
  :func:`hrtfeval.scoring.per_direction_errors`, the same function the scores are reduced from.
* :func:`frequency_view` -- per-frequency log-spectral difference (RMS over directions) per ear.
* :func:`compare_view` -- prediction and reference magnitude at the matched direction nearest to
  a requested one, both ears.
* :func:`batch_view` -- the distribution of every metric's overall value over the pairs of a
  results JSON written by ``hrtfeval score``.

matplotlib is imported inside the functions (``hrtfeval --help`` never loads it) and figures are
drawn on an Agg canvas without pyplot: nothing here touches a global backend or opens a window.
"""

from __future__ import annotations

from .batch import (
    _result_pairs,
    batch_view,
    load_results,
)
from .common import (
    BAND_COLOUR,
    CMAP,
    DEFAULT_DPI,
    EAR_COLOURS,
    EAR_NAMES,
    EAR_STYLES,
    IMAGE_FORMATS,
    NAME_LIMIT,
    PAIR_VIEWS,
    REFERENCE_COLOUR,
    VIEWS,
    View,
    image_format,
    plot_folder,
    save_view,
    view_bytes,
)
from .localisation import (
    localisation_view,
)
from .pair import (
    compare_view,
    direction_view,
    frequency_lsd,
    frequency_view,
    nearest_direction,
)
from .views import (
    pair_view,
    standard_views,
)

__all__ = [
    "_result_pairs",
    "BAND_COLOUR",
    "batch_view",
    "CMAP",
    "compare_view",
    "DEFAULT_DPI",
    "direction_view",
    "EAR_COLOURS",
    "EAR_NAMES",
    "EAR_STYLES",
    "frequency_lsd",
    "frequency_view",
    "image_format",
    "IMAGE_FORMATS",
    "load_results",
    "localisation_view",
    "NAME_LIMIT",
    "nearest_direction",
    "pair_view",
    "PAIR_VIEWS",
    "plot_folder",
    "REFERENCE_COLOUR",
    "save_view",
    "standard_views",
    "View",
    "view_bytes",
    "VIEWS",
]
