"""``score`` with two directories or ``--pairs FILE.csv``: every pair scored, one document."""

from __future__ import annotations

import sys
from pathlib import Path

from .batch_report import _finish_batch, _list_unmatched
from .run import ScoreRun
from .shell import document_stream, plan_outputs, say


def score_batch(
    run: ScoreRun,
    pairs: Path | None,
    *,
    workers: int | None,
    shard: str | None,
    ignore_unmatched: bool,
    per_ear: bool,
) -> int:
    """Pair the files (two directories, or ``pairs``: a CSV), score every pair
    (``run_batch``), render and write the document; returns the exit code."""
    options, per_direction, quiet, fmt = run.options, run.per_direction, run.quiet, run.fmt
    from ..batch import find_pairs, parse_shard, run_batch
    from ..render.stream import JsonlWriter, Progress

    shard_kn = parse_shard(shard) if shard is not None else None
    pair_list = find_pairs(
        *(None if p is None else str(p) for p in (run.prediction, run.reference, pairs))
    )
    plan, out_t, junit_t, plot_f = plan_outputs(
        [f for p in pair_list.pairs for f in (p.prediction_path, p.target_path)]
        + [pairs, run.baseline, run.exclude],
        run.output,
        run.junit,
        run.plot_dir,
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
    writer = JsonlWriter(document_stream()) if fmt == "jsonl" and run.output is None else None
    progress = Progress(enabled=not quiet and sys.stderr.isatty(), stream=sys.stderr)
    export = None
    if per_direction is not None:
        from ..export import PerDirectionWriter

        export = PerDirectionWriter(per_direction, options.metrics, batch=True)
    try:
        doc = run_batch(
            pair_list,
            options,
            device=run.device,
            workers=workers,
            shard=shard_kn,
            ignore_unmatched=ignore_unmatched,
            baseline=run.base,
            max_regression=run.limits,
            progress=progress,
            on_entry=None if writer is None else writer.write,
            per_direction=export,
            timeout=run.timeout,
            quiet=quiet,
        )
    finally:
        progress.close()
    if export is not None:
        plan.put(per_dir_t, export.finish())
    if shard_kn is not None and not doc["pairs"] and not quiet:
        say(f"note: shard {shard} has no pairs (the run has {doc['spec']['pairs_total']})")
    return _finish_batch(doc, fmt, out_t, per_ear, quiet, junit_t, plot_f, writer, plan)
