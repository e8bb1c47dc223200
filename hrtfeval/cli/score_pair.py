"""``score`` with two files: one pair scored, one document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..constants import EXIT_CHECK_FAILED, EXIT_OK
from .run import ScoreRun
from .shell import _warn_notes, commit_outputs, emit, plan_outputs, say, stdout_console


def start_reading(
    prediction: Path | None,
    reference: Path | None,
    ignore_delay: bool,
    max_memory: str | None,
    n_fft: int | None,
    timeout: float | None,
) -> Any:
    """Start reading the two files in a child process (stopped after ``timeout`` seconds).

    Started before this process imports numpy and torch, which it does meanwhile; the
    returned ``ChildRead``'s ``result()`` gives the two sets.
    """
    from ..memory import PairReader, parse_size
    from ..procs import ChildRead

    return ChildRead(
        PairReader(not ignore_delay, None if max_memory is None else parse_size(max_memory), n_fft),
        [str(prediction), str(reference)],
        timeout,
    )


def score_pair(reading: Any, run: ScoreRun) -> int:
    """Score the pair ``reading`` reads (see :func:`start_reading`), render and write the
    document; returns the exit code (1 when a check failed)."""
    options, per_direction, quiet = run.options, run.per_direction, run.quiet
    from ..stop_signals import import_holding_signals

    import_holding_signals("torch")  # while the child reads; a stop signal waits for the import
    from ..scoring import align_sets, resolve_device, score_aligned

    plan, out_t, junit_t, plot_f = plan_outputs(
        [run.prediction, run.reference, run.baseline, run.exclude],
        run.output,
        run.junit,
        run.plot_dir,
    )
    per_dir_t = None if per_direction is None else plan.file(per_direction, "--per-direction")
    dev = resolve_device(run.device)
    pred, ref = reading.result()
    aligned = align_sets(pred, ref, options)
    result = score_aligned(aligned, options, dev)
    doc = result.as_dict()
    doc["spec"]["timeout_s"] = run.timeout  # the files were read under this limit (--timeout)
    block = doc.pop("per_direction", None)
    if per_direction is not None:
        from ..export import PerDirectionWriter

        export = PerDirectionWriter(per_direction, options.metrics, batch=False)
        export.write(block)
        plan.put(per_dir_t, export.finish())
    if run.base is not None:
        from ..gates import annotate_pair

        annotate_pair(doc, run.base, run.limits, single_run=True)
    _warn_notes(doc.get("spec", {}).get("notes", []), quiet)
    text = None
    if not (run.fmt == "table" and run.output is None):
        from ..render import render_text

        text = render_text(doc, run.fmt)
        if out_t is not None:
            emit(text, out_t, plan)
            text = None
    if junit_t is not None:
        from ..render.junit import junit_xml

        plan.put(junit_t, junit_xml(doc))
    if plot_f is not None:
        write_pair_plots(aligned, options, dev, plot_f, plan, result)
    commit_outputs(plan, quiet)
    if text is not None:
        emit(text)
    elif run.fmt == "table" and run.output is None:
        from ..render import pair_table, printable

        console = stdout_console()
        pair_table(doc, console)
        if "regression" in doc:  # only then (render.batch imports the batch modules)
            from ..render.batch import regression_lines

            for line in regression_lines(doc):
                console.print(printable(line), markup=False)
    return EXIT_CHECK_FAILED if doc["passed"] is False else EXIT_OK


def write_pair_plots(aligned, options, device, folder, plan, score=None) -> None:
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
        score=score,
    )
