"""``hrtfeval info``: what is in an HRTF file."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from ..constants import INFO_FORMATS
from ..procs import DEFAULT_TIMEOUT_S
from .options import TimeoutOpt
from .shell import emit, stdout_console, user_errors


def _describe_file(path, cues: bool = False):
    from ..io import describe

    return describe(path, cues=cues)


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
    from ..loss import check_option

    fmt = check_option("--format", fmt, INFO_FORMATS)
    from ..procs import check_timeout, read_in_child

    reader = functools.partial(_describe_file, cues=cues)
    (facts,) = read_in_child(reader, [str(file)], check_timeout(timeout))
    if fmt == "json":
        from ..render import to_json

        emit(to_json(facts), None)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    from rich.text import Text

    from ..render import printable

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
