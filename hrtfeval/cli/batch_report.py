"""The end of a batch run, shared by ``score`` and ``merge``: errors and warnings on stderr,
the document rendered and written with the other outputs, and the exit code."""

from __future__ import annotations

from .shell import _warn_notes, commit_outputs, emit, say, stdout_console


def _list_unmatched(predictions: list[str], references: list[str], quiet: bool) -> None:
    """Files without a partner, on stderr (all of them are also in the output document)."""
    if quiet:
        return
    shown = 20
    for side, other, files in (
        ("prediction", "reference", predictions),
        ("reference", "prediction", references),
    ):
        if files:
            more = f" … and {len(files) - shown} more" if len(files) > shown else ""
            say(
                f"warning: {len(files)} {side} file(s) without a {other}: "
                f"{', '.join(files[:shown])}{more}"
            )


def _finish_batch(
    doc: dict,
    fmt: str,
    output,
    per_ear: bool,
    quiet: bool,
    junit,
    plot_dir=None,
    writer=None,
    plan=None,
) -> int:
    """Render a batch document (or close the JSON lines), write the reports, return the exit
    code. ``output``, ``junit`` and ``plot_dir`` are targets of ``plan`` (see
    :func:`plan_outputs`); all files are written together, after the run."""
    from ..gates import exit_code
    from ..render.batch import batch_table, error_line, jsonl_summary, render_batch, summary_line

    for e in doc["pairs"]:  # also with --quiet: an error is not an info message
        if "error" in e:
            say(f"error: {error_line(e)}")
    for e in doc["pairs"]:
        _warn_notes((e.get("spec") or {}).get("notes", []), quiet)
    missing = (doc.get("regression") or {}).get("missing") or []
    if missing and not quiet:
        names = ", ".join(m["prediction"] for m in missing[:20])
        more = f" … and {len(missing) - 20} more" if len(missing) > 20 else ""
        say(f"warning: {len(missing)} pair(s) not in the baseline, not compared: {names}{more}")
    text = None
    if output is not None:
        emit(render_batch(doc, fmt, per_ear), output, plan)
    elif fmt == "jsonl":
        if writer is None:  # merge: the whole document at once
            text = render_batch(doc, fmt)
    elif fmt != "table":
        text = render_batch(doc, fmt, per_ear)
    if junit is not None:
        from ..render.junit import junit_xml

        plan.put(junit, junit_xml(doc))
    if plot_dir is not None:
        write_batch_plot(doc, plot_dir, plan)
    if plan is not None:
        commit_outputs(plan, quiet)
    if writer is not None:
        writer.finish(jsonl_summary(doc))
    elif text is not None:
        emit(text)
    elif fmt == "table" and output is None:
        batch_table(doc, stdout_console(), per_ear)
    if not quiet and not (fmt == "table" and output is None):
        say(summary_line(doc))
    return exit_code(doc)


def write_batch_plot(doc: dict, folder, plan) -> None:
    """The batch overview (``batch_overview.png``) of a batch document, handed to ``plan``."""
    from ..plot import batch_view, view_bytes

    plan.put_in(folder, "batch_overview.png", view_bytes(batch_view(doc)))
