"""``hrtfeval compare``: two models' batch documents, pair by pair."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..constants import COMPARE_FORMATS, EXIT_CHECK_FAILED
from .options import OutputOpt, QuietOpt
from .shell import commit_outputs, emit, plan_outputs, resolve_format, stdout_console, user_errors


@user_errors
def compare(
    document_a: Annotated[
        Path, typer.Argument(metavar="A.json", help="Batch document of model A (the reference).")
    ],
    document_b: Annotated[
        Path, typer.Argument(metavar="B.json", help="Batch document of model B, same pairs.")
    ],
    alpha: Annotated[
        float,
        typer.Option("--alpha", metavar="P", help="Significance level of --fail-if-worse."),
    ] = 0.05,
    fail_if_worse: Annotated[
        bool,
        typer.Option(
            "--fail-if-worse",
            help="Exit 1 when B is significantly worse on a metric (one-sided Wilcoxon "
            "signed-rank test, alternative 'B worse', p < --alpha).",
        ),
    ] = False,
    resamples: Annotated[
        int, typer.Option("--resamples", metavar="N", help="Bootstrap resamples.")
    ] = 10000,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Bootstrap seed.")] = 0,
    worst: Annotated[
        int, typer.Option("--worst", metavar="N", help="Largest increases listed per metric.")
    ] = 5,
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="table, json or markdown.")
    ] = "table",
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare two models' batch documents pair by pair: mean and median paired difference
    (B - A) with 95 % bootstrap intervals, Wilcoxon signed-rank p-values, pairs better/worse.

    Exit code 0, 1 with --fail-if-worse when B is significantly worse, 2 when the documents
    cannot be compared (other pairs or options: the difference is named).
    """
    # The extension of --output decides the format when --format is left at its default.
    fmt = resolve_format(
        None if fmt == "table" and output is not None else fmt,
        output,
        COMPARE_FORMATS,
    )
    plan, out_t, _, _ = plan_outputs([document_a, document_b], output)
    from ..compare import compare_documents
    from ..gates import load_document

    doc = compare_documents(
        load_document(document_a),
        load_document(document_b),
        (str(document_a), str(document_b)),
        n_resamples=resamples,
        seed=seed,
        alpha=alpha,
        fail_if_worse=fail_if_worse,
        worst=worst,
    )
    if fmt == "table" and output is None:
        from ..render.compare import compare_table

        compare_table(doc, stdout_console())
    else:
        from ..render.compare import render_compare

        emit(render_compare(doc, fmt), out_t, plan)
        commit_outputs(plan, quiet)
    if doc["passed"] is False:
        raise typer.Exit(EXIT_CHECK_FAILED)
