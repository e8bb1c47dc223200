"""Output plumbing shared by the commands: one-line errors, stderr messages, the document on
stdout (or in a planned file), the output plan, the format and the console.

Exit codes: 0 ok, 1 a check failed (threshold, regression), 2 bad input or usage. User errors
are one line ``Error: <file>: <what is wrong>`` on stderr; stdout carries only the document.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from pathlib import Path

import typer

from ..constants import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    FORMAT_OF_SUFFIX,
)
from ..errors import HrtfevalError, warning_printer

#: Conventional exit codes of a run ended by a signal (128 + signal number).
_document_stream = None  # the real stdout while a command runs (see user_errors)


def fail(message: str) -> typer.Exit:
    """Print a one-line user error on stderr and return the exit to raise (code 2)."""
    from ..render import printable

    line = " ".join(printable(str(message), keep_whitespace=True).split())
    typer.echo(f"Error: {line}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def say(message: str) -> None:
    """A message, warning or note on stderr, control characters (from file names) escaped."""
    from ..render import printable

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
            from ..procs import stop_children

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
    from ..outputs import OutputPlan

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


def resolve_format(fmt: str | None, output: Path | None, allowed) -> str:
    """``--format``, or the format of ``--output``'s extension (``.json``, ``.jsonl``, ``.csv``,
    ``.md``) when it is not given; ``table`` otherwise. An explicit format that contradicts the
    extension is a usage error."""
    implied = None if output is None else FORMAT_OF_SUFFIX.get(output.suffix.lower())
    name = "" if output is None else output.name  # named only when it implies a format
    if fmt is None:
        key = implied or "table"
        if key not in allowed:
            raise HrtfevalError(
                f"--output {name}: the extension means {key}, which is for batch runs "
                f"only; use one of {', '.join(allowed)}"
            )
        return key
    from ..loss import check_option

    key = check_option("--format", fmt, tuple(allowed))
    if implied is not None and implied != key:
        raise HrtfevalError(
            f"--format {key} contradicts the extension of --output {name} ({implied}); "
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


#: Notes of the alignment that change what is compared: shown on stderr too, as warnings.
_WARN_NOTE_MARKS = ("no positions", "has positions")


def _warn_notes(notes, quiet: bool) -> None:
    """The fall-backs the alignment took (rows assumed in the reference's order), on stderr."""
    if quiet:
        return
    for note in notes:
        if any(mark in note for mark in _WARN_NOTE_MARKS):
            say(f"warning: {note}")
