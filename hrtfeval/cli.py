"""The ``hrtfeval`` command line: parse options, call the library, render. No maths here.

Exit codes: 0 ok, 1 a check failed (threshold, regression), 2 bad input or usage. User errors
are one line ``Error: <file>: <what is wrong>`` on stderr; stdout carries only the document.

torch, sofar, scipy and matplotlib are imported inside the commands that need them, so
``hrtfeval --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from ._help import HelpCommand, command_rows
from ._version import __version__
from .constants import (
    BATCH_FORMATS,
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    FORMAT_OF_SUFFIX,
    PAIR_FORMATS,
)
from .errors import HrtfevalError, warning_printer
from .procs import DEFAULT_TIMEOUT_S


class _OneLineErrors(TyperGroup):
    """The app's group: click's own usage errors (unknown option, bad value, missing argument)
    become one ``Error: ...`` line and exit code 2, like every other user error."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from typer._click import exceptions as click_errors

        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            exc.show()  # the help text, as asked for by no arguments
            sys.exit(EXIT_BAD_INPUT)
        except click_errors.ClickException as exc:
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click_errors.UsageError) and ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            fail(exc.format_message() + hint)
            sys.exit(EXIT_BAD_INPUT)
        except typer.Abort:  # end of input at a prompt: there are none, but never a traceback
            typer.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)

    def format_commands(self, ctx, formatter) -> None:
        """Each command's summary in full (click cuts it to the terminal's width with '...')."""
        rows = command_rows(self, ctx)
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    cls=_OneLineErrors,
    name="hrtfeval",
    help="Score predicted HRTFs/HRIRs against reference sets (SOFA or .pt): LSD, RMSE, MAE, "
    "ITD, ILD and the LAP challenge preset, per ear and overall.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Conventional exit codes of a run ended by a signal (128 + signal number).
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
    from .render import printable

    line = " ".join(printable(str(message), keep_whitespace=True).split())
    typer.echo(f"Error: {line}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def say(message: str) -> None:
    """A message, warning or note on stderr, control characters (from file names) escaped."""
    from .render import printable

    typer.echo(printable(message), err=True)


def user_errors(fn):
    """Turn user errors (bad files, bad options) into one stderr line and exit code 2.

    Anything a library prints to stdout while the command runs goes to stderr instead, so
    stdout carries only the document; every warning is one line ``warning: ...`` on stderr.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _document_stream
        _document_stream = sys.stdout
        # Warnings are shown when the command ends, unless it ends in a one-line error: then
        # that line alone (a warning about a file that is refused anyway says nothing more).
        printer = warning_printer(quiet=bool(kwargs.get("quiet")), defer=True)
        try:
            with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
                warnings.showwarning = printer
                try:
                    return fn(*args, **kwargs)
                finally:
                    _document_stream.flush()  # a closed pipe shows here, not at exit
        except BrokenPipeError:
            # The reader went away (``... | head -1``): stop quietly, as a shell tool would.
            _silence_stdout()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except HrtfevalError as exc:
            printer.discard()
            raise fail(str(exc)) from None
        except ValueError as exc:  # option values checked by the library
            printer.discard()
            raise fail(str(exc)) from None
        except OSError as exc:  # e.g. a name too long for the file system
            printer.discard()
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(f"{where}{exc.strerror or exc}") from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            printer.flush()
            from .procs import stop_children

            stop_children()  # a file reader started and not waited for (an earlier error)

    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (_document_stream or sys.stdout).fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor (tests)
        pass


def document_stream():
    """The real stdout: inside a command, ``sys.stdout`` is redirected to stderr so that nothing
    a library prints can corrupt the document."""
    return _document_stream or sys.stdout


def emit(text: str, output=None, plan=None) -> None:
    """The document to stdout, or (``output``: a planned target) handed to ``plan``, which
    writes it with the run's other outputs (see :func:`commit_outputs`)."""
    if output is None:
        stream = document_stream()
        stream.write(text)
        stream.flush()
        return
    plan.put(output, text)


def plan_outputs(inputs, output=None, junit=None, plot_dir=None):
    """Check every output of a run before any work (see :mod:`hrtfeval.outputs`).

    Returns ``(plan, output, junit, plot)``: the plan and the planned targets (None where not
    asked for).
    """
    from .outputs import OutputPlan

    plan = OutputPlan([p for p in inputs if p is not None])
    out = None if output is None else plan.file(output, "--output")
    jt = None if junit is None else plan.file(junit, "--junit")
    folder = None if plot_dir is None else plan.folder(plot_dir, "--plot")
    return plan, out, jt, folder


def commit_outputs(plan, quiet: bool) -> None:
    """Write every output handed to ``plan``, all or nothing, and say what was written."""
    pending = plan.pending
    plan.commit()
    if quiet:
        return
    folders: dict[Path, int] = {}
    for path, folder in pending:
        if folder is None:
            say(f"wrote {path}")
        else:
            folders[folder.path] = folders.get(folder.path, 0) + 1
    for folder_path, n in folders.items():
        say(f"wrote {n} plot{'s' if n != 1 else ''} to {folder_path}")


def resolve_format(fmt: Optional[str], output: Optional[Path], allowed) -> str:
    """``--format``, or the format of ``--output``'s extension (``.json``, ``.jsonl``, ``.csv``,
    ``.md``) when it is not given; ``table`` otherwise. An explicit format that contradicts the
    extension is a usage error."""
    implied = None if output is None else FORMAT_OF_SUFFIX.get(output.suffix.lower())
    if fmt is None:
        key = implied or "table"
        if key not in allowed:
            raise HrtfevalError(
                f"--output {output.name}: the extension means {key}, which is for batch runs "
                f"only; use one of {', '.join(allowed)}"
            )
        return key
    key = check_format(fmt, allowed)
    if implied is not None and implied != key:
        raise HrtfevalError(
            f"--format {key} contradicts the extension of --output {output.name} ({implied}); "
            "drop --format (the extension decides) or change the extension"
        )
    return key


def stdout_console():
    """A rich console on stdout: colour only on a terminal and without NO_COLOR."""
    from rich.console import Console

    stream = document_stream()
    tty = stream.isatty()
    no_color = bool(os.environ.get("NO_COLOR")) or not tty
    # Off a terminal (pipes, files, CI logs) rich would wrap at 80 columns; give it room.
    console = Console(
        file=stream, no_color=no_color, highlight=False, soft_wrap=False, width=None if tty else 200
    )

    def broken_pipe() -> None:  # rich would exit 1 (a failed check here); see user_errors
        raise BrokenPipeError

    console.on_broken_pipe = broken_pipe
    return console


def parse_assignments(items: list[str], option: str) -> dict[str, float]:
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
        out[name.strip().lower()] = number
    return out


# Options shared by the scoring commands, declared once.
MetricOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--metric",
        "-m",
        metavar="METRIC",
        help="Metric to score: lsd, rmse, mae, itd, ild; qe, pe, eb (predicted localisation: "
        "quadrant errors %, polar error, elevation bias). Repeatable. Default lsd.",
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
    Optional[str],
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
# The localisation model (metrics qe, pe, eb).
LateralOpt = Annotated[
    Optional[list[float]],
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
    Optional[str],
    typer.Option(
        "--bands",
        metavar="octave|third-octave|erb",
        help="Also score LSD (and rmse/mae with --domain db) per frequency band: IEC 61260 "
        "octave or third-octave bands, or 1-ERB bands.",
    ),
]
RegionOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--region",
        metavar="NAME",
        help="Also score a subset of directions: horizontal, median, frontal, upper, lower, "
        "front, back, elevation:LO:HI or azimuth:LO:HI (degrees). Repeatable; checks as "
        "--fail-above horizontal.lsd=5.",
    ),
]
RegionToleranceOpt = Annotated[
    Optional[float],
    typer.Option(
        "--region-tolerance",
        metavar="DEG",
        help="Largest angle (degrees) to the plane of the horizontal, median and frontal "
        "regions (default: half the grid's typical spacing).",
    ),
]
ExcludeOpt = Annotated[
    Optional[Path],
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
    Optional[Path],
    typer.Option(
        "--per-direction",
        metavar="FILE",
        help="Also write every matched direction's values (position, per-ear and interaural "
        "values of each metric; a batch adds the pair's names) to FILE: .csv or .jsonl.",
    ),
]


def _describe_file(path, cues: bool = False):
    from .io import describe

    return describe(path, cues=cues)


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
    lateral=None,
    sensitivity=0.7,
    dtf=True,
    weighting="none",
    bands=None,
    regions=None,
    region_tolerance=None,
    exclude=None,
    max_missing=0.5,
    ignore_delay=False,
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
        laterals=tuple(lateral) if lateral else (0.0,),
        sensitivity=sensitivity,
        dtf=dtf,
        weighting=weighting,
        bands=bands,
        regions=tuple(regions or ()),
        region_tolerance=region_tolerance,
        exclude=None if exclude is None else str(exclude),
        max_missing=max_missing,
        ignore_delay=ignore_delay,
        exclude_silent=exclude_silent,
        max_memory=None if max_memory is None else parse_size(max_memory),
    )


def check_format(fmt: str, allowed=("table", "json", "csv", "markdown")) -> str:
    key = fmt.strip().lower()
    if key not in allowed:
        raise HrtfevalError(f"--format must be one of {', '.join(allowed)}; got {fmt!r}")
    return key


@app.command(cls=HelpCommand)
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
        from .batch import check_workers

        check_workers(workers)
    batch = _is_batch(prediction, target, pairs)
    fmt = resolve_format(fmt, output, BATCH_FORMATS if batch else PAIR_FORMATS)
    from .procs import ChildRead, check_timeout

    timeout = check_timeout(timeout)
    # One pair: the files are read in a child process (stopped after --timeout) started now,
    # before this process imports numpy and torch, which it does meanwhile.
    from .memory import PairReader, parse_size

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
    from .batch import batch_spec
    from .gates import Baseline, check_regression_options

    if per_direction is not None:
        from dataclasses import replace

        from .export import export_format

        export_format(per_direction)  # a bad extension fails before any work
        options = replace(options, per_direction=True)
        options.validate()
    limits = parse_assignments(max_regression, "--max-regression")
    base = Baseline.load(baseline) if baseline is not None else None
    planned = batch_spec(options, device, {}, shard=None, pairs_total=0, ignore_unmatched=False)
    check_regression_options(options.metrics, base, limits, planned)
    if batch:
        from .batch import find_pairs, parse_shard, run_batch
        from .render.stream import JsonlWriter, Progress

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
            from .export import PerDirectionWriter

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
    from .scoring import align_sets, resolve_device, score_aligned

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
        from .export import PerDirectionWriter

        export = PerDirectionWriter(per_direction, options.metrics, batch=False)
        export.write(block)
        plan.put(per_dir_t, export.finish())
    if base is not None:
        from .gates import annotate_pair

        annotate_pair(doc, base, limits, single_run=True)
    _warn_notes(doc.get("spec", {}).get("notes", []), quiet)
    text = None
    if not (fmt == "table" and output is None):
        from .render import render_text

        text = render_text(doc, fmt)
        if out_t is not None:
            emit(text, out_t, plan)
            text = None
    if junit_t is not None:
        from .render.junit import junit_xml

        plan.put(junit_t, junit_xml(doc))
    if plot_f is not None:
        write_pair_plots(aligned, options, dev, plot_f, plan, result)
    commit_outputs(plan, quiet)
    if text is not None:
        emit(text)
    elif fmt == "table" and output is None:
        from .render import pair_table, printable
        from .render.batch import regression_lines

        console = stdout_console()
        pair_table(doc, console)
        for line in regression_lines(doc):
            console.print(printable(line), markup=False)
    if doc["passed"] is False:
        raise typer.Exit(EXIT_CHECK_FAILED)


#: Notes of the alignment that change what is compared: shown on stderr too, as warnings.
_WARN_NOTE_MARKS = ("no positions", "has positions")


def _warn_notes(notes, quiet: bool) -> None:
    """The fall-backs the alignment took (rows assumed in the reference's order), on stderr."""
    if quiet:
        return
    for note in notes:
        if any(mark in note for mark in _WARN_NOTE_MARKS):
            say(f"warning: {note}")


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
    from .gates import exit_code
    from .render.batch import batch_table, error_line, jsonl_summary, render_batch, summary_line

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
        from .render.junit import junit_xml

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


@app.command(cls=HelpCommand)
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


@app.command(cls=HelpCommand)
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
        ("table", "json", "markdown"),
    )
    plan, out_t, _, _ = plan_outputs([document_a, document_b], output)
    from .compare import compare_documents
    from .gates import load_document

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
        from .render.compare import compare_table

        compare_table(doc, stdout_console())
    else:
        from .render.compare import render_compare

        emit(render_compare(doc, fmt), out_t, plan)
        commit_outputs(plan, quiet)
    if doc["passed"] is False:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command(cls=HelpCommand)
@user_errors
def info(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A .sofa or .pt file.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="table or json.")
    ] = "table",
    cues: Annotated[
        bool,
        typer.Option(
            "--cues",
            help="Also compute the ITD (µs) and ILD (dB) ranges over the directions "
            "(imports torch: seconds more).",
        ),
    ] = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT_S,
) -> None:
    """Show what is in an HRTF file: convention, dimensions, rate, grid, delays (cues: --cues)."""
    fmt = check_format(fmt, ("table", "json"))
    from .procs import check_timeout, read_in_child

    reader = functools.partial(_describe_file, cues=cues)
    (facts,) = read_in_child(reader, [str(file)], check_timeout(timeout))
    if fmt == "json":
        from .render import to_json

        emit(to_json(facts), None)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    from rich.text import Text

    from .render import printable

    for key, value in facts.items():  # titles and names come from the file: escaped, no markup
        table.add_row(Text(printable(str(key))), Text(printable(_plain(value))))
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


def write_pair_plots(aligned, options, device, folder, plan, score=None) -> None:
    """The standard views of one scored pair, handed to ``plan`` for its ``folder`` (a planned
    ``--plot DIR``); views that cannot be drawn are noted on stderr."""
    from .plot import standard_views, view_bytes

    standard_views(
        aligned,
        options,
        folder.path,
        device,
        warn=lambda message: say(f"note: {message}"),
        save=lambda view, path, dpi: plan.put_in(folder, path.name, view_bytes(view, dpi)),
        score=score,
    )


def write_batch_plot(doc: dict, folder, plan) -> None:
    """The batch overview (``batch_overview.png``) of a batch document, handed to ``plan``."""
    from .plot import batch_view, view_bytes

    plan.put_in(folder, "batch_overview.png", view_bytes(batch_view(doc)))


@app.command("plot", cls=HelpCommand)
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
            help="Image to write (atomically, never over an input); the format comes from "
            "the extension: .png, .svg or .pdf.",
        ),
    ],
    view: Annotated[
        Optional[str],
        typer.Option(
            "--view",
            metavar="VIEW",
            help="direction (error map, default for a pair), frequency "
            "(error by frequency), compare (one direction's magnitudes), localisation "
            "(predicted response matrices, PRED and baseline) or batch "
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
    lateral: LateralOpt = None,
    sensitivity: SensitivityOpt = 0.7,
    dtf: DtfOpt = True,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT_S,
) -> None:
    """Draw where and at which frequencies a prediction goes wrong (PNG, SVG or PDF).

    hrtfeval plot PRED REF --view direction|frequency|compare -o FILE, or
    hrtfeval plot RESULTS.json -o FILE (the batch view). Exit code 2 when the picture cannot be
    made (e.g. the ITD of magnitude-only data).
    """
    from .loss import check_option
    from .plot import VIEWS, image_format, view_bytes
    from .procs import check_timeout

    image_format(output)  # a bad extension or view fails before any work
    timeout = check_timeout(timeout)
    chosen = None if view is None else check_option("view", view, VIEWS)
    plan, target, _, _ = plan_outputs(files, output)
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
            ["qe", "pe", "eb"] if chosen == "localisation" else [metric],
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
            lateral,
            sensitivity,
            dtf,
            exclude_silent=exclude_silent,
            max_memory=max_memory,
        )
        from .plot import pair_view
        from .scoring import load_aligned, resolve_device

        dev = resolve_device(device)
        aligned = load_aligned(str(files[0]), str(files[1]), options, timeout)
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
    plan.put(target, view_bytes(drawn, dpi, image_format(output)))
    commit_outputs(plan, quiet=False)


def main() -> None:
    """Console-script entry point.

    SIGINT, SIGTERM and SIGHUP stop the command like an error does: worker and reader
    processes are stopped, nothing is written (no output, no temporary file), and the exit
    status is 128 + the signal number (130, 143, 129), after one line on stderr.
    """
    from .procs import Interrupted, signals_as_exceptions

    with signals_as_exceptions():
        try:
            app()
        except Interrupted as exc:
            typer.echo(f"Interrupted ({exc.name}).", err=True)
            sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
