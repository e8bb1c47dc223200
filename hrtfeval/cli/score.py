"""``hrtfeval score``: one pair, or a batch (two directories or --pairs FILE.csv)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..constants import BATCH_FORMATS, EXIT_CHECK_FAILED, PAIR_FORMATS
from ..errors import HrtfevalError
from ..procs import DEFAULT_TIMEOUT_S
from .batch_report import _finish_batch, _list_unmatched
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
from .shell import (
    _warn_notes,
    commit_outputs,
    document_stream,
    emit,
    plan_outputs,
    resolve_format,
    say,
    stdout_console,
    user_errors,
)


@user_errors
def score(
    prediction: Annotated[
        Optional[Path],
        typer.Argument(
            metavar="PREDICTION",
            help="Predicted set: .sofa or .pt file, or a directory of them (batch).",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        Optional[Path],
        typer.Argument(
            metavar="TARGET",
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
    """Score PREDICTION against TARGET, per ear and overall.

    With two directories (or --pairs FILE.csv) every pair is scored: a table row per pair and
    the mean, median, min and max over pairs (see the README, "Batch scoring").

    Exit code 0 when scored (and every check passed), 1 when a check failed (threshold,
    regression), 2 on bad input (in a batch: a pair that could not be scored, or a file without
    a partner).
    """
    if workers is not None:  # a usage error comes before any file is looked at
        from ..batch import check_workers

        check_workers(workers)
    batch = _is_batch(prediction, target, pairs)
    fmt = resolve_format(fmt, output, BATCH_FORMATS if batch else PAIR_FORMATS)
    from ..procs import ChildRead, check_timeout

    timeout = check_timeout(timeout)
    # One pair: the files are read in a child process (stopped after --timeout) started now,
    # before this process imports numpy and torch, which it does meanwhile.
    from ..memory import PairReader, parse_size

    reading = (
        None
        if batch
        else ChildRead(
            PairReader(
                not ignore_delay, None if max_memory is None else parse_size(max_memory), n_fft
            ),
            [str(prediction), str(target)],
            timeout,
        )
    )
    options = build_options(
        metric,
        preset,
        freq_min,
        freq_max,
        n_fft,
        domain,
        reduction,
        epsilon,
        itd_method,
        position_tolerance,
        allow_missing,
        length_policy,
        fail_above,
        lateral,
        sensitivity,
        dtf,
        weighting,
        bands,
        region,
        region_tolerance,
        exclude,
        max_missing,
        ignore_delay,
        exclude_silent=exclude_silent,
        max_memory=max_memory,
    )
    from ..batch import batch_spec
    from ..gates import Baseline, check_regression_options

    if per_direction is not None:
        from dataclasses import replace

        from ..export import export_format

        export_format(per_direction)  # a bad extension fails before any work
        options = replace(options, per_direction=True)
        options.validate()
    limits = parse_assignments(max_regression, "--max-regression")
    base = Baseline.load(baseline) if baseline is not None else None
    planned = batch_spec(options, device, {}, shard=None, pairs_total=0, ignore_unmatched=False)
    check_regression_options(options.metrics, base, limits, planned)
    if batch:
        from ..batch import find_pairs, parse_shard, run_batch
        from ..render_batch import JsonlWriter, Progress

        shard_kn = parse_shard(shard) if shard is not None else None
        pair_list = find_pairs(prediction, target, pairs)
        plan, out_t, junit_t, plot_f = plan_outputs(
            [f for p in pair_list.pairs for f in (p.prediction_path, p.target_path)]
            + [pairs, baseline, exclude],
            output,
            junit,
            plot_dir,
        )
        per_dir_t = None if per_direction is None else plan.file(per_direction, "--per-direction")
        _list_unmatched(pair_list.unmatched_prediction, pair_list.unmatched_target, quiet)
        out_of_scope = pair_list.source.get("targets_out_of_scope")
        if out_of_scope and not quiet:
            say(
                f"note: {out_of_scope} reference file(s) not named in "
                f"{pair_list.source['expected_targets']} are out of scope (not scored, not unmatched)"
            )
        # JSON lines stream to stdout; a file gets the whole document at the end, with the
        # other outputs (all or nothing).
        writer = JsonlWriter(document_stream()) if fmt == "jsonl" and output is None else None
        progress = Progress(enabled=not quiet and sys.stderr.isatty(), stream=sys.stderr)
        export = None
        if per_direction is not None:
            from ..export import PerDirectionWriter

            export = PerDirectionWriter(per_direction, options.metrics, batch=True)
        try:
            doc = run_batch(
                pair_list,
                options,
                device=device,
                workers=workers,
                shard=shard_kn,
                ignore_unmatched=ignore_unmatched,
                baseline=base,
                max_regression=limits,
                progress=progress,
                on_entry=None if writer is None else writer.write,
                per_direction=export,
                timeout=timeout,
                quiet=quiet,
            )
        finally:
            progress.close()
        if export is not None:
            plan.put(per_dir_t, export.finish())
        if shard_kn is not None and not doc["pairs"] and not quiet:
            say(f"note: shard {shard} has no pairs (the run has {doc['spec']['pairs_total']})")
        raise typer.Exit(
            _finish_batch(doc, fmt, out_t, per_ear, quiet, junit_t, plot_f, writer, plan)
        )
    if shard is not None:
        raise HrtfevalError("--shard needs a batch: two directories or --pairs FILE.csv")
    from ..scoring import align_sets, resolve_device, score_aligned

    plan, out_t, junit_t, plot_f = plan_outputs(
        [prediction, target, baseline, exclude], output, junit, plot_dir
    )
    per_dir_t = None if per_direction is None else plan.file(per_direction, "--per-direction")
    dev = resolve_device(device)
    aligned = align_sets(*reading.result(), options)
    result = score_aligned(aligned, options, dev)
    doc = result.as_dict()
    doc["spec"]["timeout_s"] = timeout  # the files were read under this limit (--timeout)
    block = doc.pop("per_direction", None)
    if per_direction is not None:
        from ..export import PerDirectionWriter

        export = PerDirectionWriter(per_direction, options.metrics, batch=False)
        export.write(block)
        plan.put(per_dir_t, export.finish())
    if base is not None:
        from ..gates import annotate_pair

        annotate_pair(doc, base, limits, single_run=True)
    _warn_notes(doc.get("spec", {}).get("notes", []), quiet)
    text = None
    if not (fmt == "table" and output is None):
        from ..render import render_text

        text = render_text(doc, fmt)
        if out_t is not None:
            emit(text, out_t, plan)
            text = None
    if junit_t is not None:
        from ..gates import junit_xml

        plan.put(junit_t, junit_xml(doc))
    if plot_f is not None:
        write_pair_plots(aligned, options, dev, plot_f, plan)
    commit_outputs(plan, quiet)
    if text is not None:
        emit(text)
    elif fmt == "table" and output is None:
        from ..render import pair_table, printable
        from ..render_batch import regression_lines

        console = stdout_console()
        pair_table(doc, console)
        for line in regression_lines(doc):
            console.print(printable(line), markup=False)
    if doc["passed"] is False:
        raise typer.Exit(EXIT_CHECK_FAILED)



def _is_batch(prediction: Optional[Path], target: Optional[Path], pairs: Optional[Path]) -> bool:
    """Two directories or --pairs: a batch; two files: one pair; anything else: a usage error."""
    if pairs is not None:
        if prediction is not None or target is not None:
            raise HrtfevalError("give either PREDICTION TARGET or --pairs FILE.csv, not both")
        return True
    if prediction is None or target is None:
        raise HrtfevalError(
            "score needs PREDICTION and TARGET (two files or two directories), or --pairs FILE.csv"
        )
    p_dir, t_dir = prediction.is_dir(), target.is_dir()
    if p_dir != t_dir:
        raise HrtfevalError(
            f"{'PREDICTION' if p_dir else 'TARGET'} is a directory but "
            f"{'TARGET' if p_dir else 'PREDICTION'} is not: give two files (one pair) or two "
            "directories (a batch)",
            str(prediction if p_dir else target),
        )
    return p_dir



def write_pair_plots(aligned, options, device, folder, plan) -> None:
    """The standard views of one scored pair, handed to ``plan`` for its ``folder`` (a planned
    ``--plot DIR``); views that cannot be drawn are noted on stderr."""
    from ..plot import standard_views, view_bytes

    standard_views(
        aligned,
        options,
        folder.path,
        device,
        warn=lambda message: say(f"note: {message}"),
        save=lambda view, path, dpi: plan.put_in(folder, path.name, view_bytes(view, dpi)),
    )


