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
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._version import __version__
from .errors import HrtfevalError

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
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
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
    stdout carries only the document.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _document_stream
        _document_stream = sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr):
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


def emit(text: str, output: Optional[Path]) -> None:
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
        raise HrtfevalError(f"cannot write the output: {exc.strerror or exc}", str(output)) from None
    typer.echo(f"wrote {output}", err=True)


def stdout_console():
    """A rich console on stdout: colour only on a terminal and without NO_COLOR."""
    from rich.console import Console

    stream = document_stream()
    tty = stream.isatty()
    no_color = bool(os.environ.get("NO_COLOR")) or not tty
    # Off a terminal (pipes, files, CI logs) rich would wrap at 80 columns; give it room.
    return Console(file=stream, no_color=no_color, highlight=False, soft_wrap=False,
                   width=None if tty else 200)


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
            raise HrtfevalError(f"{option} takes METRIC=VALUE (e.g. lsd=7.4); got {item!r}") from None
        out[name.strip().lower()] = number
    return out


# Options shared by the scoring commands, declared once.
MetricOpt = Annotated[
    Optional[list[str]],
    typer.Option("--metric", "-m", help="Metric to score: lsd, rmse, mae, itd, ild. Repeatable. "
                 "Default lsd."),
]
PresetOpt = Annotated[
    Optional[str],
    typer.Option("--preset", help="Named evaluation: 'lap' = ITD, ILD and LSD with the LAP "
                 "challenge 2024 (task 2) thresholds 100 µs, 4.4 dB, 7.4 dB."),
]
FreqMinOpt = Annotated[float, typer.Option("--freq-min", help="Lower band edge for spectral "
                                           "metrics, Hz.")]
FreqMaxOpt = Annotated[float, typer.Option("--freq-max", help="Upper band edge, Hz.")]
NfftOpt = Annotated[Optional[int], typer.Option("--n-fft", help="FFT length for IR spectra "
                                                "(default: the IR length).")]
DomainOpt = Annotated[
    Optional[str],
    typer.Option("--domain", help="Representation for rmse/mae: time, magnitude or db (default: "
                 "time when both files hold IRs, else magnitude)."),
]
ReductionOpt = Annotated[str, typer.Option("--reduction", help="Reduction over directions: mean "
                                           "or rms.")]
EpsilonOpt = Annotated[float, typer.Option("--epsilon", help="Floor for |H| in dB conversions "
                                           "and inside square roots.")]
ItdMethodOpt = Annotated[str, typer.Option("--itd-method", help="ITD estimator: maxiacce "
                                           "(default, LAP) or threshold (-10 dB onset).")]
ToleranceOpt = Annotated[float, typer.Option("--position-tolerance", help="Largest great-circle "
                                             "angle (degrees) between matched directions.")]
AllowMissingOpt = Annotated[bool, typer.Option("--allow-missing", help="Score the matched "
                                               "directions when some reference directions have "
                                               "no prediction.")]
LengthPolicyOpt = Annotated[str, typer.Option("--length-policy", help="IR lengths differ: error "
                                              "(default), truncate to the shorter, or zero-pad "
                                              "to the longer.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when available), cpu, cuda "
                                        "or cuda:N.")]
FailAboveOpt = Annotated[
    Optional[list[str]],
    typer.Option("--fail-above", help="METRIC=VALUE: exit 1 when the metric's overall value is "
                 "above VALUE. Repeatable."),
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json, csv or markdown.")]
PlotDirOpt = Annotated[
    Optional[Path],
    typer.Option("--plot", metavar="DIR", help="Also write the standard pictures (PNG) into DIR: "
                 "<metric>_by_direction.png per metric, lsd_by_frequency.png, compare_az0_el0.png "
                 "(see 'hrtfeval plot')."),
]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the document to "
                                                   "this file (atomically) instead of stdout.")]


def build_options(metric, preset, freq_min, freq_max, n_fft, domain, reduction, epsilon,
                  itd_method, position_tolerance, allow_missing, length_policy, fail_above):
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
    )


def check_format(fmt: str, allowed=("table", "json", "csv", "markdown")) -> str:
    key = fmt.strip().lower()
    if key not in allowed:
        raise HrtfevalError(f"--format must be one of {', '.join(allowed)}; got {fmt!r}")
    return key


@app.command()
@user_errors
def score(
    prediction: Annotated[Path, typer.Argument(help="Predicted set: .sofa or .pt file.")],
    target: Annotated[Path, typer.Argument(help="Reference (measured) set: .sofa or .pt file.")],
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
    device: DeviceOpt = "auto",
    fail_above: FailAboveOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    plot_dir: PlotDirOpt = None,
) -> None:
    """Score PREDICTION against TARGET, per ear and overall.

    Exit code 0 when scored (and every check passed), 1 when a check failed, 2 on bad input.
    """
    fmt = check_format(fmt)
    options = build_options(metric, preset, freq_min, freq_max, n_fft, domain, reduction,
                            epsilon, itd_method, position_tolerance, allow_missing,
                            length_policy, fail_above)
    from .scoring import load_aligned, resolve_device, score_aligned

    dev = resolve_device(device)
    aligned = load_aligned(str(prediction), str(target), options)
    result = score_aligned(aligned, options, dev)
    doc = result.as_dict()
    if fmt == "table" and output is None:
        from .render import pair_table

        pair_table(doc, stdout_console())
    else:
        from .render import render_text

        emit(render_text(doc, fmt), output)
    if plot_dir is not None:
        write_pair_plots(aligned, options, dev, plot_dir)
    if result.passed is False:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
@user_errors
def info(
    file: Annotated[Path, typer.Argument(help="A .sofa or .pt file.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
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
        return " … ".join(_plain(v) for v in value) if len(value) == 2 else ", ".join(
            _plain(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def write_pair_plots(aligned, options, device, plot_dir: Path) -> None:
    """The standard views of one scored pair into ``plot_dir`` (skipped views noted on stderr)."""
    from .plot import standard_views

    written = standard_views(aligned, options, plot_dir, device,
                             warn=lambda message: typer.echo(f"note: {message}", err=True))
    typer.echo(f"wrote {len(written)} plot{'s' if len(written) != 1 else ''} to {plot_dir}",
               err=True)


def write_batch_plot(doc: dict, plot_dir: Path) -> None:
    """The batch overview (``batch_overview.png``) of a batch document into ``plot_dir``."""
    from .plot import batch_view, save_view

    path = save_view(batch_view(doc), _plot_folder(plot_dir) / "batch_overview.png")
    typer.echo(f"wrote {path}", err=True)


def _plot_folder(plot_dir: Path) -> Path:
    try:
        plot_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HrtfevalError(f"cannot create the plot folder: {exc.strerror or exc}",
                            str(plot_dir)) from None
    return plot_dir


@app.command("plot")
@user_errors
def plot_command(
    files: Annotated[
        list[Path],
        typer.Argument(help="PREDICTION REFERENCE (.sofa or .pt) for the direction, frequency "
                       "and compare views; or one results JSON of 'hrtfeval score' for the "
                       "batch view.", show_default=False, metavar="PRED REF | RESULTS.json"),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Image to write (atomically); the format comes from "
                     "the extension: .png, .svg or .pdf."),
    ],
    view: Annotated[
        Optional[str],
        typer.Option("--view", help="direction (error map, default for a pair), frequency "
                     "(error by frequency), compare (one direction's magnitudes) or batch "
                     "(default for a results JSON)."),
    ] = None,
    metric: Annotated[
        str,
        typer.Option("--metric", "-m", help="Metric of the direction view: lsd, rmse, mae, itd "
                     "or ild."),
    ] = "lsd",
    direction: Annotated[
        Optional[tuple[float, float]],
        typer.Option("--direction", metavar="AZ EL", help="Direction of the compare view, "
                     "azimuth and elevation in degrees (the nearest matched one is drawn). "
                     "Default: 0 0, the front.", show_default=False),
    ] = None,
    dpi: Annotated[int, typer.Option("--dpi", min=20, max=1200, help="Resolution (dots per "
                                     "inch) of PNG images.")] = 150,
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
    device: DeviceOpt = "auto",
) -> None:
    """Draw where and at which frequencies a prediction goes wrong (PNG, SVG or PDF).

    hrtfeval plot PRED REF --view direction|frequency|compare -o FILE, or
    hrtfeval plot RESULTS.json -o FILE (the batch view). Exit code 2 when the picture cannot be
    made (e.g. the ITD of magnitude-only data).
    """
    from .plot import DEFAULT_DPI, VIEWS, image_format, save_view

    from .loss import check_option

    image_format(output)  # a bad extension or view fails before any work
    chosen = None if view is None else check_option("view", view, VIEWS)
    if len(files) == 1:
        if chosen not in (None, "batch"):
            raise HrtfevalError(f"the {chosen} view needs two files, PREDICTION and REFERENCE; "
                                "one file is read as a results JSON (the batch view)")
        from .plot import batch_view, load_results

        drawn = batch_view(load_results(files[0]), source=str(files[0]), dpi=DEFAULT_DPI)
    elif len(files) == 2:
        if chosen == "batch":
            raise HrtfevalError("the batch view takes one results JSON of 'hrtfeval score', "
                                f"not {len(files)} files")
        options = build_options([metric], None, freq_min, freq_max, n_fft, domain, reduction,
                                epsilon, itd_method, position_tolerance, allow_missing,
                                length_policy, None)
        from .plot import pair_view
        from .scoring import load_aligned, resolve_device

        dev = resolve_device(device)
        aligned = load_aligned(str(files[0]), str(files[1]), options)
        drawn = pair_view(aligned, chosen or "direction", options, metric=metric,
                          direction=direction, device=dev, dpi=DEFAULT_DPI)
    else:
        raise HrtfevalError(f"plot takes PREDICTION REFERENCE or one RESULTS.json; got "
                            f"{len(files)} files")
    save_view(drawn, output, dpi)
    typer.echo(f"wrote {output}", err=True)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
