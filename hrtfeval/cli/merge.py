"""``hrtfeval merge``: combine shard outputs into one batch document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..constants import BATCH_FORMATS
from .batch_report import _finish_batch, _list_unmatched
from .options import (
    BaselineOpt,
    FailAboveOpt,
    FormatOpt,
    IgnoreUnmatchedOpt,
    JunitOpt,
    MaxRegressionOpt,
    OutputOpt,
    PerEarOpt,
    QuietOpt,
    parse_assignments,
)
from .shell import plan_outputs, resolve_format, say, user_errors


@user_errors
def merge(
    documents: Annotated[
        list[Path],
        typer.Argument(
            help="Batch documents (JSON or JSON lines) of 'hrtfeval score', e.g. the "
            "outputs of --shard 1/N ... N/N.",
            metavar="DOC.json...",
            show_default=False,
        ),
    ],
    fail_above: FailAboveOpt = None,
    baseline: BaselineOpt = None,
    max_regression: MaxRegressionOpt = None,
    ignore_unmatched: IgnoreUnmatchedOpt = False,
    allow_missing_shards: Annotated[
        bool,
        typer.Option(
            "--allow-missing-shards",
            help="Merge the shards that are there when some are missing (otherwise exit 2); "
            "the document records the missing ones in spec.missing_shards and "
            "counts.missing_shards.",
        ),
    ] = False,
    junit: JunitOpt = None,
    per_ear: PerEarOpt = False,
    quiet: QuietOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Combine shard outputs into one batch document; aggregate, checks and exit code are
    recomputed as for one run.

    Errors (exit 2) when the documents overlap, were scored with other options, or a shard is
    missing (unless --allow-missing-shards). --fail-above and --baseline/--max-regression add
    checks.
    """
    fmt = resolve_format(fmt, output, BATCH_FORMATS)
    plan, out_t, junit_t, _ = plan_outputs(list(documents) + [baseline], output, junit)
    from ..batch import finish, merge_documents
    from ..gates import (
        Baseline,
        annotate_pair,
        apply_fail_above,
        check_regression_options,
        load_document,
        regression_block,
    )

    docs = [load_document(path) for path in documents]
    warn = (lambda message: None) if quiet else (lambda message: say(f"warning: {message}"))
    doc = merge_documents(
        docs, [str(path) for path in documents], warn, allow_missing_shards=allow_missing_shards
    )
    if doc["spec"].get("missing_shards"):  # also with --quiet: the verdict covers less
        say(
            f"warning: shard(s) {', '.join(doc['spec']['missing_shards'])} missing "
            "(--allow-missing-shards): the checks cover only the shards present"
        )
    if ignore_unmatched:
        doc["spec"]["ignore_unmatched"] = True
    apply_fail_above(doc, parse_assignments(fail_above, "--fail-above"))
    limits = parse_assignments(max_regression, "--max-regression")
    base = Baseline.load(baseline) if baseline is not None else None
    check_regression_options(doc["spec"]["metrics"], base, limits, doc["spec"])
    if base is not None:
        for entry in doc["pairs"]:
            annotate_pair(entry, base, limits)
        doc["regression"] = regression_block(doc["pairs"], base.name, limits)
    finish(doc)
    _list_unmatched(doc["unmatched"]["prediction"], doc["unmatched"]["target"], quiet)
    raise typer.Exit(_finish_batch(doc, fmt, out_t, per_ear, quiet, junit_t, None, None, plan))
