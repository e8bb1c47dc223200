"""``hrtfeval score``: the command and the checks of its options; it hands one pair to
:mod:`.score_pair` and a batch (two directories or --pairs FILE.csv) to :mod:`.score_batch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..constants import BATCH_FORMATS, EXIT_OK, PAIR_FORMATS
from ..errors import HrtfevalError
from ..procs import DEFAULT_TIMEOUT_S
from .options import (
    AllowMissingOpt,
    BandsOpt,
    BaselineOpt,
    DeviceOpt,
    DomainOpt,
    DtfOpt,
    EpsilonOpt,
    ExcludeOpt,
    ExcludeSilentOpt,
    FailAboveOpt,
    FormatOpt,
    FreqMaxOpt,
    FreqMinOpt,
    IgnoreDelayOpt,
    IgnoreUnmatchedOpt,
    ItdMethodOpt,
    JunitOpt,
    LateralOpt,
    LengthPolicyOpt,
    MaxMemoryOpt,
    MaxMissingOpt,
    MaxRegressionOpt,
    MetricOpt,
    NfftOpt,
    OutputOpt,
    PairsOpt,
    PerDirectionOpt,
    PerEarOpt,
    PlotDirOpt,
    PresetOpt,
    QuietOpt,
    ReductionOpt,
    RegionOpt,
    RegionToleranceOpt,
    SensitivityOpt,
    ShardOpt,
    TimeoutOpt,
    ToleranceOpt,
    WeightingOpt,
    WorkersOpt,
    build_options,
    parse_assignments,
)
from .run import ScoreRun
from .score_batch import score_batch
from .score_pair import score_pair, start_reading
from .shell import resolve_format, user_errors


@user_errors
def score(
    prediction: Annotated[
        Path | None,
        typer.Argument(
            metavar="PREDICTION",
            help="Predicted set: .sofa or .pt file, or a directory of them (batch).",
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Argument(
            metavar="REFERENCE",
            help="Reference (measured) set: .sofa or .pt file, or a directory of "
            "them (batch: files are paired by relative path without extension).",
            show_default=False,
        ),
    ] = None,
    metric: MetricOpt = None,
    preset: PresetOpt = None,
    freq_min: FreqMinOpt = 20.0,
    freq_max: FreqMaxOpt = 20000.0,
    n_fft: NfftOpt = None,
    domain: DomainOpt = None,
    reduction: ReductionOpt = "mean",
    epsilon: EpsilonOpt = 1e-12,
    itd_method: ItdMethodOpt = "maxiacce",
    position_tolerance: ToleranceOpt = 0.1,
    allow_missing: AllowMissingOpt = False,
    length_policy: LengthPolicyOpt = "error",
    exclude_silent: ExcludeSilentOpt = False,
    max_memory: MaxMemoryOpt = None,
    device: DeviceOpt = "auto",
    fail_above: FailAboveOpt = None,
    lateral: LateralOpt = None,
    sensitivity: SensitivityOpt = 0.7,
    dtf: DtfOpt = True,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    plot_dir: PlotDirOpt = None,
    pairs: PairsOpt = None,
    ignore_unmatched: IgnoreUnmatchedOpt = False,
    workers: WorkersOpt = None,
    per_ear: PerEarOpt = False,
    quiet: QuietOpt = False,
    baseline: BaselineOpt = None,
    max_regression: MaxRegressionOpt = None,
    junit: JunitOpt = None,
    shard: ShardOpt = None,
    weighting: WeightingOpt = "none",
    bands: BandsOpt = None,
    region: RegionOpt = None,
    region_tolerance: RegionToleranceOpt = None,
    exclude: ExcludeOpt = None,
    per_direction: PerDirectionOpt = None,
    max_missing: MaxMissingOpt = 0.5,
    ignore_delay: IgnoreDelayOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT_S,
) -> None:
    """Score PREDICTION against REFERENCE, per ear and overall.

    With two directories (or --pairs FILE.csv) every pair is scored: a table row per pair and
    the mean, median, min and max over pairs (see the README, "Batch scoring").

    Exit code 0 when scored (and every check passed), 1 when a check failed (threshold,
    regression), 2 on bad input (in a batch: a pair that could not be scored, or a file without
    a partner).
    """
    given = dict(locals())  # the parameters by name, for build_options and ScoreRun.of
    if workers is not None:  # a usage error comes before any file is looked at
        from ..batch import check_workers

        check_workers(workers)
    batch = _is_batch(prediction, reference, pairs)
    if not batch:
        _refuse_batch_only(
            workers=workers, per_ear=per_ear, ignore_unmatched=ignore_unmatched, shard=shard
        )
    fmt = resolve_format(fmt, output, BATCH_FORMATS if batch else PAIR_FORMATS)
    from ..procs import check_timeout

    limit_s = check_timeout(timeout)  # None: no limit
    # One pair: the files are read in a child process (stopped after --timeout) started now,
    # before this process imports numpy and torch, which it does meanwhile.
    reading = (
        None
        if batch
        else start_reading(prediction, reference, ignore_delay, max_memory, n_fft, limit_s)
    )
    options = build_options(metric, given)
    options, limits, base = _check_outputs_and_gates(
        options, device, per_direction, baseline, max_regression
    )
    run = ScoreRun.of(given, options=options, fmt=fmt, base=base, limits=limits, timeout=limit_s)
    if batch:
        raise typer.Exit(
            score_batch(
                run,
                pairs,
                workers=workers,
                shard=shard,
                ignore_unmatched=ignore_unmatched,
                per_ear=per_ear,
            )
        )
    code = score_pair(reading, run)
    if code != EXIT_OK:
        raise typer.Exit(code)


#: The options only the batch path reads (:func:`.score_batch.score_batch`), by parameter name.
#: Each defaults to None or False (a flag without a --no- form), so "given" is "not default".
BATCH_ONLY = {
    "workers": "--workers",
    "per_ear": "--per-ear",
    "ignore_unmatched": "--ignore-unmatched",
    "shard": "--shard",
}


def _refuse_batch_only(**values: object) -> None:
    """A usage error naming the batch-only options (:data:`BATCH_ONLY`) given for one pair:
    they would be ignored."""
    # By identity: --workers 0 is given (0 == False, but 0 is not False).
    given = [
        BATCH_ONLY[name] for name, value in values.items() if not (value is None or value is False)
    ]
    if given:
        verb = "is" if len(given) == 1 else "are"
        raise HrtfevalError(
            f"{', '.join(given)} {verb} for batch runs (directories or --pairs); got one pair"
        )


def _check_outputs_and_gates(options, device, per_direction, baseline, max_regression):
    """The checks both paths make before any work: ``--per-direction``'s extension,
    ``--max-regression``'s limits and ``--baseline`` (loaded, and scored as this run is).

    Returns ``(options, limits, base)``: the options (keeping per-direction values when asked
    for), the limits and the loaded baseline (None without one).
    """
    if per_direction is not None:
        from dataclasses import replace

        from ..export import export_format

        export_format(per_direction)  # a bad extension fails before any work
        options = replace(options, per_direction=True)
        options.validate()
    limits = parse_assignments(max_regression, "--max-regression")
    if not limits and baseline is None:  # no regression check: gates and batch not imported
        return options, limits, None
    from ..gates import Baseline, check_regression_options

    base = Baseline.load(baseline) if baseline is not None else None
    planned = None
    if base is not None:  # the baseline must be scored as this run is
        from ..batch import batch_spec

        planned = batch_spec(options, device, {}, shard=None, pairs_total=0, ignore_unmatched=False)
    check_regression_options(options.metrics, base, limits, planned)
    return options, limits, base


def _is_batch(prediction: Path | None, reference: Path | None, pairs: Path | None) -> bool:
    """Two directories or --pairs: a batch; two files: one pair; anything else: a usage error."""
    if pairs is not None:
        if prediction is not None or reference is not None:
            raise HrtfevalError("give either PREDICTION REFERENCE or --pairs FILE.csv, not both")
        return True
    if prediction is None or reference is None:
        raise HrtfevalError(
            "score needs PREDICTION and REFERENCE (two files or two directories), or --pairs "
            "FILE.csv"
        )
    p_dir, t_dir = prediction.is_dir(), reference.is_dir()
    if p_dir != t_dir:
        raise HrtfevalError(
            f"{'PREDICTION' if p_dir else 'REFERENCE'} is a directory but "
            f"{'REFERENCE' if p_dir else 'PREDICTION'} is not: give two files (one pair) or two "
            "directories (a batch)",
            str(prediction if p_dir else reference),
        )
    return p_dir
