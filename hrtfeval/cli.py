"""The ``hrtfeval`` command line: parse options, call the library, render. No maths here.

Exit codes: 0 ok, 1 a check failed (threshold, regression), 2 bad input or usage. User errors
are one line ``Error: <file>: <what is wrong>`` on stderr; stdout carries only the document.

torch, sofar, scipy and matplotlib are imported inside the commands that need them, so
``hrtfeval --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._version import __version__
from .errors import HrtfevalError, warning_printer

app = typer.Typer(
    name="hrtfeval",
    help="Score predicted HRTFs/HRIRs against reference sets (SOFA or .pt): LSD, RMSE, MAE, "
    "ITD, ILD and the LAP challenge preset, per ear and overall.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_document_stream = None  # the real stdout while a command runs (see user_errors)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hrtfeval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Score predicted HRTFs/HRIRs against reference sets."""


def fail(message: str) -> typer.Exit:
    """Print a one-line user error on stderr and return the exit to raise (code 2)."""
    line = " ".join(str(message).split())
    typer.echo(f"Error: {line}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def user_errors(fn):
    """Turn user errors (bad files, bad options) into one stderr line and exit code 2.

    Anything a library prints to stdout while the command runs goes to stderr instead, so
    stdout carries only the document; every warning is one line ``warning: ...`` on stderr.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _document_stream
        _document_stream = sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
                warnings.showwarning = warning_printer()
                return fn(*args, **kwargs)
        except HrtfevalError as exc:
            raise fail(str(exc)) from None
        except ValueError as exc:  # option values checked by the library
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None

    return wrapper


def document_stream():
    """The real stdout: inside a command, ``sys.stdout`` is redirected to stderr so that nothing
    a library prints can corrupt the document."""
    return _document_stream or sys.stdout


def emit(text: str, output: Optional[Path], quiet: bool = False) -> None:
    """Write the document to ``output`` atomically, or to stdout."""
    if output is None:
        stream = document_stream()
        stream.write(text)
        stream.flush()
        return
    from .render import write_atomic

    try:
        write_atomic(output, text)
    except OSError as exc:
        raise HrtfevalError(
            f"cannot write the output: {exc.strerror or exc}", str(output)
        ) from None
    if not quiet:
        typer.echo(f"wrote {output}", err=True)


def stdout_console():
    """A rich console on stdout: colour only on a terminal and without NO_COLOR."""
    from rich.console import Console

    stream = document_stream()
    tty = stream.isatty()
    no_color = bool(os.environ.get("NO_COLOR")) or not tty
    # Off a terminal (pipes, files, CI logs) rich would wrap at 80 columns; give it room.
    return Console(
        file=stream, no_color=no_color, highlight=False, soft_wrap=False, width=None if tty else 200
    )


def parse_assignments(items: list[str], option: str) -> dict[str, float]:
    """``["lsd=7.4", "itd=100"]`` -> ``{"lsd": 7.4, "itd": 100.0}``."""
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
        out[name.strip().lower()] = number
    return out


# Options shared by the scoring commands, declared once.
MetricOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--metric",
        "-m",
        metavar="METRIC",
        help="Metric to score: lsd, rmse, mae, itd, ild. Repeatable. Default lsd.",
    ),
]
PresetOpt = Annotated[
    Optional[str],
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
    Optional[int],
    typer.Option(
        "--n-fft", metavar="N", help="FFT length for IR spectra (default: the IR length)."
    ),
]
DomainOpt = Annotated[
    Optional[str],
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
    Optional[list[str]],
    typer.Option(
        "--fail-above",
        metavar="METRIC=VALUE",
        help="METRIC=VALUE: exit 1 when the metric's overall value is above VALUE. Repeatable.",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="table, json, csv or markdown; "
        "batch runs also jsonl (one line per pair as it is "
        "scored, then a summary line).",
    ),
]
PlotDirOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--plot",
        metavar="DIR",
        help="Also write pictures (PNG) into DIR: for a pair "
        "<metric>_by_direction.png per metric, lsd_by_frequency.png and "
        "compare_az0_el0.png; for a batch batch_overview.png (see 'hrtfeval plot').",
    ),
]
OutputOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the document to this file (atomically) instead of stdout.",
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
    Optional[str],
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="Most memory one pair may take (e.g. 8GiB, 8G, or bytes), checked "
        "before reading and scoring. Default: half the machine's memory.",
    ),
]
# Batch runs and CI gates (score with two directories or --pairs, and merge).
PairsOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--pairs",
        metavar="FILE.csv",
        help="Batch: score the pairs listed in a CSV "
        "file with the columns prediction,target (relative paths are relative to the "
        "CSV's folder) instead of PREDICTION_DIR TARGET_DIR.",
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
    Optional[int],
    typer.Option(
        "--workers",
        "-j",
        min=0,
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
    Optional[Path],
    typer.Option(
        "--baseline",
        metavar="OLD.json",
        help="A JSON (or JSON lines) document of an "
        "earlier run: report each metric's change per pair and for the mean.",
    ),
]
MaxRegressionOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--max-regression",
        metavar="METRIC=DELTA",
        help="METRIC=DELTA: exit 1 when a pair's value, or the "
        "mean over the pairs, grew by more than DELTA over --baseline. Repeatable.",
    ),
]
JunitOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--junit",
        metavar="FILE.xml",
        help="Also write a JUnit XML report: one test case per pair and check.",
    ),
]
ShardOpt = Annotated[
    Optional[str],
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Batch: score only shard K of N (K = 1..N) of "
        "the sorted pairs, every N-th pair; combine the outputs with 'hrtfeval merge'.",
    ),
]
BATCH_FORMATS = ("table", "json", "jsonl", "csv", "markdown")


def build_options(
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
    exclude_silent=False,
    max_memory=None,
):
    from .memory import parse_size
    from .scoring import ScoreOptions

    return ScoreOptions.build(
        metric,
        preset=preset,
        fail_above=parse_assignments(fail_above, "--fail-above"),
        freq_min=freq_min,
        freq_max=freq_max,
        n_fft=n_fft,
        domain=None if domain is None else domain.strip().lower(),
        reduction=reduction.strip().lower(),
        epsilon=epsilon,
        itd_method=itd_method.strip().lower(),
        tolerance_deg=position_tolerance,
        allow_missing=allow_missing,
        length_policy=length_policy.strip().lower(),
        exclude_silent=exclude_silent,
        max_memory=None if max_memory is None else parse_size(max_memory),
    )


def check_format(fmt: str, allowed=("table", "json", "csv", "markdown")) -> str:
    key = fmt.strip().lower()
    if key not in allowed:
        raise HrtfevalError(f"--format must be one of {', '.join(allowed)}; got {fmt!r}")
    return key


@app.command()
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
    fmt: FormatOpt = "table",
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
) -> None:
    """Score PREDICTION against TARGET, per ear and overall.

    With two directories (or --pairs FILE.csv) every pair is scored: a table row per pair and
    the mean, median, min and max over pairs (see the README, "Batch scoring").

    Exit code 0 when scored (and every check passed), 1 when a check failed (threshold,
    regression), 2 on bad input (in a batch: a pair that could not be scored, or a file without
    a partner).
    """
    batch = _is_batch(prediction, target, pairs)
    fmt = check_format(fmt, BATCH_FORMATS if batch else ("table", "json", "csv", "markdown"))
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
        exclude_silent,
        max_memory,
    )
    from .gates import Baseline, check_regression_options

    limits = parse_assignments(max_regression, "--max-regression")
    base = Baseline.load(baseline) if baseline is not None else None
    check_regression_options(options.metrics, base, limits)
    if batch:
        from .batch import find_pairs, parse_shard, run_batch
        from .render_batch import JsonlWriter, Progress

        shard_kn = parse_shard(shard) if shard is not None else None
        pair_list = find_pairs(prediction, target, pairs)
        _list_unmatched(pair_list.unmatched_prediction, pair_list.unmatched_target, quiet)
        writer = JsonlWriter(document_stream(), output) if fmt == "jsonl" else None
        progress = Progress(enabled=not quiet and sys.stderr.isatty(), stream=sys.stderr)
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
            )
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            progress.close()
        if shard_kn is not None and not doc["pairs"] and not quiet:
            typer.echo(
                f"note: shard {shard} has no pairs (the run has {doc['spec']['pairs_total']})",
                err=True,
            )
        raise typer.Exit(_finish_batch(doc, fmt, output, per_ear, quiet, junit, plot_dir, writer))
    if shard is not None:
        raise HrtfevalError("--shard needs a batch: two directories or --pairs FILE.csv")
    from .scoring import load_aligned, resolve_device, score_aligned

    dev = resolve_device(device)
    aligned = load_aligned(str(prediction), str(target), options)
    result = score_aligned(aligned, options, dev)
    doc = result.as_dict()
    if base is not None:
        from .gates import annotate_pair

        annotate_pair(doc, base, limits, single_run=True)
    if fmt == "table" and output is None:
        from .render import pair_table
        from .render_batch import regression_lines

        console = stdout_console()
        pair_table(doc, console)
        for line in regression_lines(doc):
            console.print(line, markup=False)
    else:
        from .render import render_text

        emit(render_text(doc, fmt), output, quiet)
    if junit is not None:
        _write_junit(doc, junit, quiet)
    if plot_dir is not None:
        write_pair_plots(aligned, options, dev, plot_dir, quiet)
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


def _list_unmatched(predictions: list[str], targets: list[str], quiet: bool) -> None:
    """Files without a partner, on stderr (all of them are also in the output document)."""
    if quiet:
        return
    shown = 20
    for side, other, files in (
        ("prediction", "target", predictions),
        ("target", "prediction", targets),
    ):
        if files:
            more = f" … and {len(files) - shown} more" if len(files) > shown else ""
            typer.echo(
                f"warning: {len(files)} {side} file(s) without a {other}: "
                f"{', '.join(files[:shown])}{more}",
                err=True,
            )


def _write_junit(doc: dict, path: Path, quiet: bool) -> None:
    from .gates import junit_xml
    from .render import write_atomic

    try:
        write_atomic(path, junit_xml(doc))
    except OSError as exc:
        raise HrtfevalError(
            f"cannot write the JUnit report: {exc.strerror or exc}", str(path)
        ) from None
    if not quiet:
        typer.echo(f"wrote {path}", err=True)


def _finish_batch(
    doc: dict,
    fmt: str,
    output: Optional[Path],
    per_ear: bool,
    quiet: bool,
    junit: Optional[Path],
    plot_dir: Optional[Path] = None,
    writer=None,
) -> int:
    """Render a batch document (or close the JSON lines), write the reports, return the exit
    code."""
    from .gates import exit_code
    from .render_batch import batch_table, error_line, jsonl_summary, render_batch, summary_line

    for e in doc["pairs"]:  # also with --quiet: an error is not an info message
        if "error" in e:
            typer.echo(f"error: {error_line(e)}", err=True)
    missing = (doc.get("regression") or {}).get("missing") or []
    if missing and not quiet:
        names = ", ".join(m["prediction"] for m in missing[:20])
        more = f" … and {len(missing) - 20} more" if len(missing) > 20 else ""
        typer.echo(
            f"warning: {len(missing)} pair(s) not in the baseline, not compared: {names}{more}",
            err=True,
        )
    if fmt == "jsonl":
        if writer is None:  # merge: the whole document at once
            emit(render_batch(doc, fmt), output, quiet)
        else:
            writer.finish(jsonl_summary(doc))
            if output is not None and not quiet:
                typer.echo(f"wrote {output}", err=True)
    elif fmt == "table" and output is None:
        batch_table(doc, stdout_console(), per_ear)
    else:
        emit(render_batch(doc, fmt, per_ear), output, quiet)
    if junit is not None:
        _write_junit(doc, junit, quiet)
    if plot_dir is not None:
        write_batch_plot(doc, plot_dir, quiet)
    if not quiet and not (fmt == "table" and output is None):
        typer.echo(summary_line(doc), err=True)
    return exit_code(doc)


@app.command()
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
    junit: JunitOpt = None,
    per_ear: PerEarOpt = False,
    quiet: QuietOpt = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Combine shard outputs into one batch document; aggregate, checks and exit code are
    recomputed as for one run.

    Errors (exit 2) when the documents overlap or were scored with other options; warns when
    shards are missing. --fail-above and --baseline/--max-regression add checks.
    """
    fmt = check_format(fmt, BATCH_FORMATS)
    from .batch import finish, merge_documents
    from .gates import (
        Baseline,
        annotate_pair,
        apply_fail_above,
        check_regression_options,
        load_document,
        regression_block,
    )

    docs = [load_document(path) for path in documents]
    warn = (
        (lambda message: None)
        if quiet
        else (lambda message: typer.echo(f"warning: {message}", err=True))
    )
    doc = merge_documents(docs, [str(path) for path in documents], warn)
    if ignore_unmatched:
        doc["spec"]["ignore_unmatched"] = True
    apply_fail_above(doc, parse_assignments(fail_above, "--fail-above"))
    limits = parse_assignments(max_regression, "--max-regression")
    base = Baseline.load(baseline) if baseline is not None else None
    check_regression_options(doc["spec"]["metrics"], base, limits)
    if base is not None:
        for entry in doc["pairs"]:
            annotate_pair(entry, base, limits)
        doc["regression"] = regression_block(doc["pairs"], base.name, limits)
    finish(doc)
    _list_unmatched(doc["unmatched"]["prediction"], doc["unmatched"]["target"], quiet)
    raise typer.Exit(_finish_batch(doc, fmt, output, per_ear, quiet, junit))


@app.command()
@user_errors
def info(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A .sofa or .pt file.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="table or json.")
    ] = "table",
) -> None:
    """Show what is in an HRTF file: convention, dimensions, rate, grid, delays, cues."""
    fmt = check_format(fmt, ("table", "json"))
    from .io import describe

    facts = describe(str(file))
    if fmt == "json":
        from .render import to_json

        emit(to_json(facts), None)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in facts.items():
        table.add_row(str(key), _plain(value))
    stdout_console().print(table)


def _plain(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return (
            " … ".join(_plain(v) for v in value)
            if len(value) == 2
            else ", ".join(_plain(v) for v in value)
        )
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def write_pair_plots(aligned, options, device, plot_dir: Path, quiet: bool = False) -> None:
    """The standard views of one scored pair into ``plot_dir`` (skipped views noted on stderr)."""
    from .plot import standard_views

    written = standard_views(
        aligned,
        options,
        plot_dir,
        device,
        warn=lambda message: typer.echo(f"note: {message}", err=True),
    )
    if not quiet:
        typer.echo(
            f"wrote {len(written)} plot{'s' if len(written) != 1 else ''} to {plot_dir}", err=True
        )


def write_batch_plot(doc: dict, plot_dir: Path, quiet: bool = False) -> None:
    """The batch overview (``batch_overview.png``) of a batch document into ``plot_dir``."""
    from .plot import batch_view, plot_folder, save_view

    path = save_view(batch_view(doc), plot_folder(plot_dir) / "batch_overview.png")
    if not quiet:
        typer.echo(f"wrote {path}", err=True)


@app.command("plot")
@user_errors
def plot_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="PREDICTION REFERENCE (.sofa or .pt) for the direction, frequency "
            "and compare views; or one results JSON of 'hrtfeval score' for the "
            "batch view.",
            show_default=False,
            metavar="PRED REF | RESULTS.json",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Image to write (atomically); the format comes from "
            "the extension: .png, .svg or .pdf.",
        ),
    ],
    view: Annotated[
        Optional[str],
        typer.Option(
            "--view",
            metavar="VIEW",
            help="direction (error map, default for a pair), frequency "
            "(error by frequency), compare (one direction's magnitudes) or batch "
            "(default for a results JSON).",
        ),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            metavar="METRIC",
            help="Metric of the direction view: lsd, rmse, mae, itd or ild.",
        ),
    ] = "lsd",
    direction: Annotated[
        Optional[tuple[float, float]],
        typer.Option(
            "--direction",
            metavar="AZ EL",
            help="Direction of the compare view, "
            "azimuth and elevation in degrees (the nearest matched one is drawn). "
            "Default: 0 0, the front.",
            show_default=False,
        ),
    ] = None,
    dpi: Annotated[
        int,
        typer.Option(
            "--dpi",
            min=20,
            max=1200,
            metavar="DPI",
            help="Resolution (dots per inch) of PNG images.",
        ),
    ] = 150,  # = plot.DEFAULT_DPI
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
) -> None:
    """Draw where and at which frequencies a prediction goes wrong (PNG, SVG or PDF).

    hrtfeval plot PRED REF --view direction|frequency|compare -o FILE, or
    hrtfeval plot RESULTS.json -o FILE (the batch view). Exit code 2 when the picture cannot be
    made (e.g. the ITD of magnitude-only data).
    """
    from .loss import check_option
    from .plot import VIEWS, image_format, save_view

    image_format(output)  # a bad extension or view fails before any work
    chosen = None if view is None else check_option("view", view, VIEWS)
    if len(files) == 1:
        if chosen not in (None, "batch"):
            raise HrtfevalError(
                f"the {chosen} view needs two files, PREDICTION and REFERENCE; "
                "one file is read as a results JSON (the batch view)"
            )
        from .plot import batch_view, load_results

        drawn = batch_view(load_results(files[0]), source=str(files[0]), dpi=dpi)
    elif len(files) == 2:
        if chosen == "batch":
            raise HrtfevalError(
                f"the batch view takes one results JSON of 'hrtfeval score', not {len(files)} files"
            )
        options = build_options(
            [metric],
            None,
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
            None,
            exclude_silent,
            max_memory,
        )
        from .plot import pair_view
        from .scoring import load_aligned, resolve_device

        dev = resolve_device(device)
        aligned = load_aligned(str(files[0]), str(files[1]), options)
        drawn = pair_view(
            aligned,
            chosen or "direction",
            options,
            metric=metric,
            direction=direction,
            device=dev,
            dpi=dpi,
        )
    else:
        raise HrtfevalError(
            f"plot takes PREDICTION REFERENCE or one RESULTS.json; got {len(files)} files"
        )
    save_view(drawn, output, dpi)
    typer.echo(f"wrote {output}", err=True)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
