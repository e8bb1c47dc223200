"""The Typer app: the one-line-error group, the root callback (``--version``) and ``main``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from .._version import __version__
from ..constants import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK
from .help import command_rows
from .shell import fail


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


def main() -> None:
    """Console-script entry point.

    SIGINT, SIGTERM and SIGHUP stop the command like an error does: worker and reader
    processes are stopped, nothing is written (no output, no temporary file), and the exit
    status is 128 + the signal number (130, 143, 129), after one line on stderr.
    """
    from ..procs import Interrupted, signals_as_exceptions

    with signals_as_exceptions():
        try:
            app()
        except Interrupted as exc:
            typer.echo(f"Interrupted ({exc.name}).", err=True)
            sys.exit(exc.exit_code)
