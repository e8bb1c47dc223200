"""The ``hrtfeval`` command line: parse options, call the library, render. No maths here.

One module per command (``score``, ``merge``, ``compare``, ``info``, ``plot``); the app and its
error handling in :mod:`.app`, the output plumbing in :mod:`.shell`, the shared options in
:mod:`.options`, the help screens in :mod:`.help`. Importing this package registers every
command, in the order ``hrtfeval --help`` lists them.

torch, sofar, scipy and matplotlib are imported inside the commands that need them, so
``hrtfeval --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

from .app import app, main
from .compare import compare
from .help import HelpCommand
from .info import info
from .merge import merge
from .plot import plot_command
from .score import score

app.command(cls=HelpCommand)(score)
app.command(cls=HelpCommand)(merge)
app.command(cls=HelpCommand)(compare)
app.command(cls=HelpCommand)(info)
app.command("plot", cls=HelpCommand)(plot_command)

__all__ = ["app", "main"]
