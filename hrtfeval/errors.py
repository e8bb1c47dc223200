"""The one exception type that carries a user-facing message (turned into ``Error: ...``, exit 2),
and the one warning type (shown as ``warning: <file>: ...``, one line each)."""

from __future__ import annotations

import contextlib
import sys
import warnings


class _FileMessage(Exception):
    """A message for the user, optionally naming the file it concerns.

    ``str(x)`` is ``"<file>: <message>"`` when a file is known, else the message alone.
    """

    def __init__(self, message: str, file: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message


class HrtfevalError(_FileMessage):
    """Bad input or usage: a message for the user, optionally naming the file it concerns.

    ``str(err)`` is ``"<file>: <message>"`` when a file is known, else the message alone.
    """


class HrtfevalWarning(_FileMessage, UserWarning):
    """A warning about an input, shown as one line ``warning: <file>: <message>``.

    ``str(w)`` is ``"<file>: <message>"`` when a file is known, else the message alone.
    """


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


@contextlib.contextmanager
def warnings_about(file: str):
    """Record every warning raised inside (from sofar, netCDF4, h5py, numpy, torch or hrtfeval)
    and re-raise each distinct one once, as an :class:`HrtfevalWarning` naming ``file``.

    A library's warning then reads ``warning: <file>: <its message>`` (one line, no source
    line) wherever it is shown, and its text is no longer tied to the library's own filter.
    """
    # The filters in force decide what is recorded (DeprecationWarnings stay hidden by default).
    with warnings.catch_warnings(record=True) as caught:
        yield
    seen: set[str] = set()
    for record in caught:
        message = record.message
        if isinstance(message, HrtfevalWarning) and message.file:
            out = HrtfevalWarning(one_line(message.message), message.file)
        else:
            out = HrtfevalWarning(one_line(message), file)
        key = str(out)
        if key not in seen:
            seen.add(key)
            warnings.warn(out, stacklevel=3)


def warning_printer(stream=None, *, quiet: bool = False, defer: bool = False):
    """A ``warnings.showwarning`` that prints each distinct warning once, as one line
    ``warning: <message>`` on ``stream`` (default: the current stderr) -- no source file, line
    number or code line. A file read twice (both sides of a pair) warns once.

    ``quiet`` (``--quiet``): show nothing. ``defer``: hold the lines until the returned
    function's ``flush()`` is called, or drop them with ``discard()`` -- a command that ends
    in a one-line error shows that line alone.
    """
    shown: set[str] = set()
    held: list[str] = []

    def write(text: str, out) -> None:
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError):  # stderr closed: nowhere to warn
            pass

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = f"warning: {one_line(message)}"
        if quiet or text in shown:
            return
        shown.add(text)
        if defer:
            held.append(text)
        else:
            write(text, file or stream or sys.stderr)

    def flush() -> None:
        while held:
            write(held.pop(0), stream or sys.stderr)

    # Plain function attributes: warnings.showwarning stays a function, as the warnings module
    # expects; mypy does not model attributes set on a function.
    show.flush = flush  # type: ignore[attr-defined]
    show.discard = held.clear  # type: ignore[attr-defined]
    return show
