"""The names every layer shares: one home for each constant.

Metric names (derived from the registry, :mod:`hrtfeval.metrics`), the choices of every option,
output formats and exit codes live here and nowhere else; modules import them from here.
Nothing heavy is imported (the CLI's start-up reads this). Option values are normalised
(stripped, lower-cased, checked) by :func:`hrtfeval.validate.check_option`.
"""

from __future__ import annotations

from . import metrics as _metrics

# --- metrics -------------------------------------------------------------------------------
# Derived from the metric registry (hrtfeval.metrics): a new metric is one entry there.
#: Per-vector metrics of ``hrtf_loss`` (and of the spectral scores).
LOSS_METRICS = ("rmse", "mae", "lsd")
#: Interaural cues: one value per direction, not per ear.
INTERAURAL = _metrics.names("interaural")
#: Metrics of the localisation model (hrtfeval.perceptual): each set on its own grid, not per ear.
LOCALISATION = _metrics.names("localisation")
#: Every metric ``score`` knows, in the order tables and documents list them.
METRICS = _metrics.names()
#: Metrics whose sign carries meaning (a bias): checks compare their absolute value.
SIGNED_METRICS = _metrics.signed_names()

# --- option choices ------------------------------------------------------------------------
#: What rmse/mae compare (``--domain``): not the data's own domain (:data:`hrtfeval.model.DOMAINS`).
COMPARISON_DOMAINS = ("time", "magnitude", "db")
#: ITD estimators (``--itd-method``).
ITD_METHODS = ("maxiacce", "threshold")
#: What to do with IRs of different lengths (``--length-policy``): ``"error"``, the lengths must
#: agree; ``"truncate"``, cut both to the shorter; ``"pad"``, zero-pad the shorter.
LENGTH_POLICIES = ("error", "truncate", "pad")
#: Reductions over directions (``--reduction``).
REDUCTIONS = ("mean", "rms")
#: Scales of ``hrtf_loss`` inputs.
INPUT_SCALES = ("db", "linear")
#: Direction weightings (``--weighting``).
WEIGHTINGS = ("none", "area")

# --- files and formats ---------------------------------------------------------------------
#: Extensions of HRTF data files (read as inputs, never overwritten by an output).
DATA_SUFFIXES = (".sofa", ".pt")
#: Output formats of one pair, of a batch, and of ``compare``.
PAIR_FORMATS = ("table", "json", "csv", "markdown")
BATCH_FORMATS = ("table", "json", "jsonl", "csv", "markdown")
COMPARE_FORMATS = ("table", "json", "markdown")
INFO_FORMATS = ("table", "json")  # hrtfeval info
#: Output formats implied by the extension of ``--output`` when ``--format`` is not given.
FORMAT_OF_SUFFIX = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
}
#: Statistics of a batch summary, per metric.
AGGREGATES = ("mean", "median", "min", "max")

# --- exit codes ----------------------------------------------------------------------------
EXIT_OK = 0
#: A threshold, regression or missing-pair check failed (the numbers are right).
EXIT_CHECK_FAILED = 1
#: Bad input or usage: no result.
EXIT_BAD_INPUT = 2
#: A signal ends the process with 128 + its number (SIGINT: 130).
SIGNAL_EXIT_BASE = 128
EXIT_INTERRUPTED = SIGNAL_EXIT_BASE + 2
EXIT_BROKEN_PIPE = SIGNAL_EXIT_BASE + 13
