"""The option catalogue: the options several commands share, declared once (``Annotated``
aliases), and :func:`build_options`, which turns the scoring options into ``ScoreOptions``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import HrtfevalError
from ..validate import normalise_name

if TYPE_CHECKING:
    from ..options import ScoreOptions


def parse_assignments(items: list[str] | None, option: str) -> dict[str, float]:
    """``["lsd=7.4", "itd=100"]`` -> ``{"lsd": 7.4, "itd": 100.0}``.

    Every value is a limit on an error (or on its growth), so it must be a finite number >= 0:
    a negative limit could never pass, and ``nan``/``inf`` would make the check meaningless.
    """
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            number = float(value)
        except ValueError:
            raise HrtfevalError(
                f"{option} takes METRIC=VALUE (e.g. lsd=7.4); got {item!r}"
            ) from None
        if not (math.isfinite(number) and number >= 0):
            raise HrtfevalError(
                f"{option} {item}: the limit must be a finite number >= 0 (errors are never "
                f"negative); got {value.strip()}"
            )
        out[normalise_name(name)] = number
    return out


# Options shared by the scoring commands, declared once.
MetricOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--metric",
        "-m",
        metavar="METRIC",
        help="Metric to score: lsd, rmse, mae, itd, ild; qe, pe, eb (predicted localisation: "
        "quadrant errors %, polar error, elevation bias). Repeatable. Default lsd.",
    ),
]
PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        metavar="NAME",
        help="Named evaluation: 'lap' = ITD, ILD and LSD with the LAP "
        "challenge 2024 (task 2) thresholds 100 µs, 4.4 dB, 7.4 dB.",
    ),
]
FreqMinOpt = Annotated[
    float,
    typer.Option("--freq-min", metavar="HZ", help="Lower band edge for spectral metrics, Hz."),
]
FreqMaxOpt = Annotated[float, typer.Option("--freq-max", metavar="HZ", help="Upper band edge, Hz.")]
NfftOpt = Annotated[
    int | None,
    typer.Option(
        "--n-fft", metavar="N", help="FFT length for IR spectra (default: the IR length)."
    ),
]
DomainOpt = Annotated[
    str | None,
    typer.Option(
        "--domain",
        metavar="DOMAIN",
        help="Representation for rmse/mae: time, magnitude or db (default: "
        "time when both files hold IRs, else magnitude).",
    ),
]
ReductionOpt = Annotated[
    str,
    typer.Option("--reduction", metavar="mean|rms", help="Reduction over directions: mean or rms."),
]
EpsilonOpt = Annotated[
    float,
    typer.Option(
        "--epsilon", metavar="EPS", help="Floor for |H| in dB conversions and inside square roots."
    ),
]
ItdMethodOpt = Annotated[
    str,
    typer.Option(
        "--itd-method",
        metavar="METHOD",
        help="ITD estimator: maxiacce (default, LAP) or threshold (-10 dB onset).",
    ),
]
ToleranceOpt = Annotated[
    float,
    typer.Option(
        "--position-tolerance",
        metavar="DEG",
        help="Largest great-circle angle (degrees) between matched directions.",
    ),
]
AllowMissingOpt = Annotated[
    bool,
    typer.Option(
        "--allow-missing",
        help="Score the matched directions when some reference directions have no prediction.",
    ),
]
LengthPolicyOpt = Annotated[
    str,
    typer.Option(
        "--length-policy",
        metavar="POLICY",
        help="IR lengths differ: error "
        "(default), truncate to the shorter, or zero-pad "
        "to the longer.",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device", metavar="DEVICE", help="auto (CUDA when available), cpu, cuda or cuda:N."
    ),
]
FailAboveOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-above",
        metavar="METRIC=VALUE",
        help="METRIC=VALUE: exit 1 when the metric's overall value is above VALUE. Repeatable.",
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="table, json, csv or markdown; "
        "batch runs also jsonl (one line per pair as it is "
        "scored, then a summary line). Default: from the extension of --output "
        "(.json, .jsonl, .csv, .md), else table.",
        show_default=False,
    ),
]
PlotDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="DIR",
        help="Also write pictures (PNG) into DIR: for a pair "
        "<metric>_by_direction.png per metric, lsd_by_frequency.png and "
        "compare_az0_el0.png; for a batch batch_overview.png (see 'hrtfeval plot').",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the document to this file instead of stdout (atomically, with the other "
        "outputs, after the run; never over an input or a .sofa/.pt file).",
    ),
]
# Input limits (single pairs and batches).
ExcludeSilentOpt = Annotated[
    bool,
    typer.Option(
        "--exclude-silent",
        help="Leave out the directions where a file has an all-zero (silent) ear, "
        "instead of failing for itd/ild (counts in the spec).",
    ),
]
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="Most memory one pair may take (e.g. 8GiB, 8G, or bytes), checked "
        "before reading and scoring. Default: half the machine's memory.",
    ),
]
# Batch runs and CI gates (score with two directories or --pairs, and merge).
PairsOpt = Annotated[
    Path | None,
    typer.Option(
        "--pairs",
        metavar="FILE.csv",
        help="Batch: score the pairs listed in a CSV "
        "file with the columns prediction,target (relative paths are relative to the "
        "CSV's folder) instead of PREDICTION_DIR REFERENCE_DIR.",
    ),
]
IgnoreUnmatchedOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-unmatched",
        help="Batch: files without a partner are still listed but do not make the exit code 2.",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-j",
        metavar="N",
        help="Batch: worker processes that read and score "
        "pairs (default: the CPUs available, at most 8; 0 = all in this process).",
    ),
]
PerEarOpt = Annotated[
    bool,
    typer.Option(
        "--per-ear", help="Batch table/Markdown: left and right columns besides the overall value."
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress bar, info messages or warnings on stderr (errors are still printed).",
    ),
]
BaselineOpt = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        metavar="OLD.json",
        help="A JSON (or JSON lines) document of an "
        "earlier run: report each metric's change per pair and for the mean.",
    ),
]
MaxRegressionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--max-regression",
        metavar="METRIC=DELTA",
        help="METRIC=DELTA: exit 1 when a pair's value, or the "
        "mean over the pairs, grew by more than DELTA over --baseline. Repeatable.",
    ),
]
JunitOpt = Annotated[
    Path | None,
    typer.Option(
        "--junit",
        metavar="FILE.xml",
        help="Also write a JUnit XML report: one test case per pair and check.",
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Batch: score only shard K of N (K = 1..N) of "
        "the sorted pairs, every N-th pair; combine the outputs with 'hrtfeval merge'.",
    ),
]
# The localisation model (metrics qe, pe, eb).
LateralOpt = Annotated[
    list[float] | None,
    typer.Option(
        "--lateral",
        metavar="DEG",
        help="qe/pe/eb: lateral angle (deg, -90 ... 90, + = left) of a sagittal plane. "
        "Repeatable. Default 0 (the median plane).",
    ),
]
SensitivityOpt = Annotated[
    float,
    typer.Option("--sensitivity", metavar="S", help="qe/pe/eb: the listener's sensitivity S."),
]
DtfOpt = Annotated[
    bool,
    typer.Option(
        "--dtf/--no-dtf",
        help="qe/pe/eb: turn both sets into directional transfer functions first (default), or "
        "use them as stored (sets that already are DTFs).",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Most seconds to read a file pair (in a batch: to read and score one pair); a "
        "pair over the limit is an error (a damaged file can make the HDF5 library hang).",
    ),
]
# Analyses (issue 15): weighting, bands, regions, per-direction export.
WeightingOpt = Annotated[
    str,
    typer.Option(
        "--weighting",
        metavar="none|area",
        help="Averages over directions: none (every direction counts once, default) or area "
        "(each direction weighted by its spherical Voronoi cell, see the README).",
    ),
]
BandsOpt = Annotated[
    str | None,
    typer.Option(
        "--bands",
        metavar="octave|third-octave|erb",
        help="Also score LSD (and rmse/mae with --domain db) per frequency band: IEC 61260 "
        "octave or third-octave bands, or 1-ERB bands.",
    ),
]
RegionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        metavar="NAME",
        help="Also score a subset of directions: horizontal, median, frontal, upper, lower, "
        "front, back, elevation:LO:HI or azimuth:LO:HI (degrees). Repeatable; checks as "
        "--fail-above horizontal.lsd=5.",
    ),
]
RegionToleranceOpt = Annotated[
    float | None,
    typer.Option(
        "--region-tolerance",
        metavar="DEG",
        help="Largest angle (degrees) to the plane of the horizontal, median and frontal "
        "regions (default: half the grid's typical spacing).",
    ),
]
ExcludeOpt = Annotated[
    Path | None,
    typer.Option(
        "--exclude",
        metavar="FILE",
        help="Leave these directions out of every score: a SOFA file or a CSV of azimuth, "
        "elevation in degrees (e.g. the sparse input directions of an upsampling model).",
    ),
]
MaxMissingOpt = Annotated[
    float,
    typer.Option(
        "--max-missing",
        metavar="FRACTION",
        help="With --allow-missing: largest fraction of the reference directions that may "
        "lack a prediction (default 0.5; above it the pair is an error).",
    ),
]
IgnoreDelayOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-delay",
        help="Do not apply SOFA Data.Delay (as the official LAP code does); the spec says so.",
    ),
]
PerDirectionOpt = Annotated[
    Path | None,
    typer.Option(
        "--per-direction",
        metavar="FILE",
        help="Also write every matched direction's values (position, per-ear and interaural "
        "values of each metric; a batch adds the pair's names) to FILE: .csv or .jsonl.",
    ),
]


#: The scoring parameters of the commands (``score``, ``plot``) that :func:`build_options`
#: hands to ``ScoreOptions.build`` as they are, by the same name.
_AS_GIVEN = (
    "freq_min",
    "freq_max",
    "n_fft",
    "domain",  # domain, reduction, itd_method, length_policy: ScoreOptions normalises
    "reduction",
    "epsilon",
    "itd_method",
    "allow_missing",
    "length_policy",
    "sensitivity",
    "dtf",
    "weighting",
    "bands",
    "region_tolerance",
    "max_missing",
    "ignore_delay",
    "exclude_silent",
)


def build_options(metric: list[str] | None, given: Mapping[str, Any]) -> ScoreOptions:
    """The validated ``ScoreOptions`` of a command's scoring parameters.

    Parameters
    ----------
    metric : list of str or None
        The metrics to score (``--metric``).
    given : mapping
        The command's parameters by name (its ``locals()`` on entry): the scoring options are
        read from it; one the command does not have (``plot`` has no ``--preset``) keeps the
        ``ScoreOptions`` default.
    """
    from ..memory import parse_size
    from ..scoring import ScoreOptions

    kwargs = {name: given[name] for name in _AS_GIVEN if name in given}
    fail_above = parse_assignments(given.get("fail_above"), "--fail-above")
    if "position_tolerance" in given:
        kwargs["tolerance_deg"] = given["position_tolerance"]
    kwargs["laterals"] = tuple(given.get("lateral") or (0.0,))
    kwargs["regions"] = tuple(given.get("region") or ())
    exclude, max_memory = given.get("exclude"), given.get("max_memory")
    kwargs["exclude"] = None if exclude is None else str(exclude)
    kwargs["max_memory"] = None if max_memory is None else parse_size(max_memory)
    return ScoreOptions.build(metric, preset=given.get("preset"), fail_above=fail_above, **kwargs)
