"""hrtfeval: score predicted HRTFs/HRIRs against reference sets.

``from hrtfeval import hrtf_loss`` gives the differentiable loss (the hrtfpykit contract);
``metric_values`` gives its unreduced per-vector values. Importing this package does not import
torch: the functions do that when they are called.
"""

from ._version import __version__
from .errors import HrtfevalError
from .loss import hrtf_loss, metric_values, reduce_values

__all__ = ["__version__", "HrtfevalError", "hrtf_loss", "metric_values", "reduce_values"]
