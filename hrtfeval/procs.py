"""Child processes and signals: no input file can hang the tool, and a stop leaves nothing behind.

* :mod:`hrtfeval.stop_signals` (re-exported here): :func:`signals_as_exceptions` turns SIGINT,
  SIGTERM and SIGHUP into :class:`Interrupted`, so every ``finally`` runs and the process ends
  with 128 + the signal number; :func:`die_with_parent` and :func:`stop_children` leave no child
  process behind.
* :func:`read_in_child`: read files in a forked child under a time limit (one pair, ``info``,
  ``plot``, and ``--workers 0``). A damaged HDF5 file can make the library loop forever at
  100 % CPU inside one call: only a separate process can be stopped then.
* :class:`WorkerPool` (:mod:`hrtfeval.worker_pool`, re-exported here): forkserver worker
  processes for a batch; a job that runs past the time limit, or whose worker dies, gives an
  error for that job only.

Only the standard library is used here (it is imported by the console entry point).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from .errors import HrtfevalError
from .stop_signals import (
    SIGNAL_EXIT_BASE,
    Interrupted,
    _block_signals,
    _child_signals,
    _live,
    _unblock_signals,
    die_with_parent,
    kill_children,
    signals_as_exceptions,
    stop_children,
)
from .worker_pool import START_FAILED, WorkerPool, forkserver_context

#: Default time limit (seconds) to read one file pair (``--timeout``; in a batch, to read and
#: score one pair). Reading and scoring a measured set takes well under a second to a few
#: seconds; a file that takes minutes is damaged.
DEFAULT_TIMEOUT_S = 120.0

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SIGNAL_EXIT_BASE",
    "START_FAILED",
    "ChildRead",
    "Interrupted",
    "WorkerPool",
    "check_timeout",
    "die_with_parent",
    "forkserver_context",
    "kill_children",
    "read_in_child",
    "signals_as_exceptions",
    "special_file",
    "stop_children",
]


# ----------------------------------------------------------------------------------------------
# Files that would block


def special_file(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is not a regular file (after symlinks): ``"a FIFO
    (named pipe)"``, ``"a socket"``, ``"a device"``...; None for a regular file, a directory or
    a path that cannot be examined (the reader then reports it)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"  # pragma: no cover


# ----------------------------------------------------------------------------------------------
# Reading in a forked child under a time limit


def _fork_context():
    import multiprocessing as mp

    if "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    return None  # pragma: no cover - Windows


def check_timeout(seconds: float | None, option: str = "--timeout") -> float | None:
    """``seconds`` if it is a usable time limit (above 0, finite) or None; else HrtfevalError."""
    if seconds is None:
        return None
    import math

    value = float(seconds)
    if not (value > 0 and math.isfinite(value)):
        raise HrtfevalError(f"{option} takes a number of seconds above 0; got {seconds!r}")
    return value


def _encode_error(exc: BaseException) -> tuple:
    if isinstance(exc, HrtfevalError):
        return ("hrtfeval", exc.message, exc.file)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        import pickle

        pickle.dumps(exc)
        return ("exception", exc, text)
    except Exception:  # noqa: BLE001 - an exception that does not pickle
        return ("exception", RuntimeError(f"{type(exc).__name__}: {exc}"), text)


def _decode_error(payload: tuple) -> BaseException:
    if payload[0] == "hrtfeval":
        return HrtfevalError(payload[1], payload[2])
    exc, text = payload[1], payload[2]
    if hasattr(exc, "add_note"):
        exc.add_note("in the reader process:\n" + text)
    return exc


def _child_read(conn, reader: Callable, paths: list, parent_pid: int) -> None:
    """The forked child: read every path, report progress, send the results (or the error)."""
    die_with_parent(parent_pid)
    _child_signals()
    if "torch" in sys.modules:
        # The parent's torch/OpenMP thread pool does not exist in a forked child: the first
        # parallel operation (converting a large .pt tensor) would wait for it forever.
        sys.modules["torch"].set_num_threads(1)
    # What a library prints goes back to the parent (stderr); nothing reaches the parent's
    # stdout, not even from native code.
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        os.dup2(2, 1)
    captured = io.StringIO()
    sys.stdout = sys.stderr = captured
    with warnings.catch_warnings(record=True) as caught:
        try:
            prepare = getattr(reader, "prepare", None)
            if prepare is not None:
                prepare()  # the readers' imports: no file is read yet, the clock has not started
            out = []
            for i, path in enumerate(paths):
                # The child's own clock (CLOCK_MONOTONIC is one clock for all processes): the
                # time limit runs from here, whatever the parent is busy with meanwhile.
                conn.send(("reading", i, time.monotonic()))
                out.append(reader(path))
            message: tuple[str, Any] = ("ok", out)
        except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
            message = ("error", _encode_error(exc))
    notes = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
    conn.send(("done", message, captured.getvalue(), notes))
    conn.close()


class ChildRead:
    """``reader(path)`` for each of ``paths`` in a forked child process; :meth:`result` waits
    for them: at most ``timeout`` seconds in all, counted from when the child starts reading
    (the parent's own work meanwhile, such as importing torch, does not count), and a child
    that has finished gives its result however late :meth:`result` is called.

    Start it early: the parent goes on (importing torch, checking options) while the child
    reads. Without ``fork`` (Windows) or without a time limit, the files are read in
    :meth:`result`, in this process.
    """

    def __init__(self, reader: Callable, paths: Iterable, timeout: float | None):
        self.reader, self.paths, self.timeout = reader, list(paths), timeout
        # The child process and the read end of its pipe; None when reading in this process.
        self._proc: Any = None
        self._conn: Any = None
        ctx = _fork_context() if timeout is not None else None
        if ctx is None:
            return
        recv, send = ctx.Pipe(duplex=False)
        blocked = _block_signals()
        try:
            self._proc = ctx.Process(
                target=_child_read,
                args=(send, reader, self.paths, os.getpid()),
                name="hrtfeval-reader",
                daemon=True,
            )
            self._proc.start()
            _live[self._proc.pid] = self._proc
        finally:
            _unblock_signals(blocked)
            send.close()
        self._conn = recv

    def result(self) -> list:
        """The readers' results, in the order of ``paths``.

        Raises
        ------
        HrtfevalError
            A reader's error, or the time limit ran out (names the file being read), or the
            child process died (a crash in a native reader).
        """
        if self._proc is None:
            return [self.reader(p) for p in self.paths]
        assert self.timeout is not None, "a child reads only under a time limit"
        from multiprocessing.connection import wait

        current = 0
        started = None  # when the child began reading (its clock), once it has said so
        first_wait = time.monotonic()  # until then, from when this process began to wait
        try:
            while True:
                # Whatever the child has sent already is taken first: a finished read is never
                # lost to a deadline that passed while this process was busy elsewhere.
                if not wait([self._conn], 0):
                    base = first_wait if started is None else started
                    left = self.timeout - (time.monotonic() - base)
                    if left <= 0 or not wait([self._conn], left):
                        raise HrtfevalError(
                            f"reading took longer than {self.timeout:g} s (--timeout); the file "
                            "may be damaged (a broken HDF5 attribute can make the library loop "
                            "forever)",
                            str(self.paths[current]),
                        )
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    self._proc.join()
                    raise HrtfevalError(
                        f"the reader process died while reading the file (exit code "
                        f"{self._proc.exitcode}; a crash in a file reader?)",
                        str(self.paths[current]),
                    ) from None
                if msg[0] == "reading":
                    current = msg[1]
                    if started is None:
                        started = msg[2]
                    continue
                _, (status, value), text, notes = msg
                if text:
                    sys.stderr.write(text)
                for message, category, filename, lineno in notes:
                    warnings.warn_explicit(message, category, filename, lineno)
                if status != "ok":
                    raise _decode_error(value)
                return value
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child (if still running) and release it."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.exitcode is None:
            proc.join(0.5)  # it has sent everything: give it a moment to exit on its own
        if proc.exitcode is None:
            proc.kill()
            proc.join()
        _live.pop(proc.pid, None)
        self._conn.close()


def read_in_child(reader: Callable, paths: Iterable, timeout: float | None) -> list:
    """``[reader(p) for p in paths]``, read in a forked child under ``timeout`` seconds
    (see :class:`ChildRead`)."""
    return ChildRead(reader, paths, timeout).result()
