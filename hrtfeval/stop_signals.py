"""Stop signals and child processes: a stop leaves nothing behind.

* :func:`signals_as_exceptions` (the console entry point): SIGINT, SIGTERM and SIGHUP raise
  :class:`Interrupted` in the main thread, so every ``finally`` runs (worker processes are
  stopped, temporary files removed) and the process ends with 128 + the signal number. One
  Ctrl-C is enough; more of them do not break off that clean-up.
* :func:`die_with_parent`: a child process is killed by the kernel when its parent dies
  (``PR_SET_PDEATHSIG`` on Linux; elsewhere a watchdog thread).
* :func:`stop_children`: the child processes still running (``_live``) are stopped.

Only the standard library is used here (it is imported by the console entry point).
Re-exported by :mod:`hrtfeval.procs`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import Any

from .constants import SIGNAL_EXIT_BASE  # a process stopped by signal s exits with 128 + s

_HANDLED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
# Child processes started here and not yet reaped (pid -> multiprocessing Process): a command
# that fails before it waits for its reader stops them (stop_children).
_live: dict[int, Any] = {}

# ----------------------------------------------------------------------------------------------
# Signals


class Interrupted(BaseException):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) arrived: unwinds the stack like Ctrl-C.

    A ``BaseException`` (as ``KeyboardInterrupt``), so ``except Exception`` does not stop it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_BASE + self.signum


def _raise_interrupted(signum, frame) -> None:
    # Further signals (a second Ctrl-C) must not break off the clean-up that this one starts
    # (workers killed, temporary files removed): it takes a moment, and SIGKILL still works.
    for s in _HANDLED_SIGNALS:
        signal.signal(s, _unwinding)
    raise Interrupted(signum)


def _unwinding(signum, frame) -> None:
    """A stop signal while the first one unwinds the stack: nothing more to do."""


@contextlib.contextmanager
def signals_as_exceptions():
    """While inside, SIGINT/SIGTERM/SIGHUP raise :class:`Interrupted` (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, _raise_interrupted) for s in _HANDLED_SIGNALS}
    try:
        yield
    finally:
        # Once stopped by a signal, a second one (the second Ctrl-C of a double press) stays
        # ignored until the process has exited: restored, it would kill it (status -2, not 130).
        stopped = any(signal.getsignal(s) is _unwinding for s in saved)
        for s, handler in saved.items():
            signal.signal(s, signal.SIG_IGN if stopped else handler)


def _child_signals() -> None:
    """In a child: SIGTERM/SIGHUP end it (default action); SIGINT is ignored, as a Ctrl-C reaches
    the whole process group and the main process stops its children itself."""
    for s in _HANDLED_SIGNALS:
        signal.signal(s, signal.SIG_IGN if s == signal.SIGINT else signal.SIG_DFL)


def kill_children() -> None:
    """SIGKILL every child process started here that is still running."""
    for proc in list(_live.values()):
        with contextlib.suppress(Exception):
            proc.kill()


def stop_children() -> None:
    """Kill and reap every child process started here that is still registered (a command
    that failed before it collected a :class:`ChildRead`)."""
    kill_children()
    for pid, proc in list(_live.items()):
        with contextlib.suppress(Exception):
            proc.join()
        _live.pop(pid, None)


# ----------------------------------------------------------------------------------------------
# Children die with their parent


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this process end when its parent process ends (even by SIGKILL).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, which works even while this process is stuck
    in a native call. Elsewhere a daemon thread polls :func:`os.getppid` every half second.
    ``parent_pid``: the expected parent; when it is already gone, exit at once.
    """
    parent = os.getppid() if parent_pid is None else parent_pid
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            ok = libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            ok = False
        if ok:
            if os.getppid() != parent:  # the parent died before the request took effect
                os._exit(1)
            return
    import threading  # pragma: no cover - not Linux

    def watch() -> None:  # pragma: no cover
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="hrtfeval-parent-watch", daemon=True).start()


def import_holding_signals(name: str):
    """Import module ``name`` with the stop signals held back until the import is done.

    A Python signal handler that raises (:func:`signals_as_exceptions`) while a C++ extension
    runs its module code (torch's import calls back into Python through pybind11) aborts the
    whole process ("terminate called after throwing ..."), leaving the reading child behind.
    Held back, the signal is delivered right after the import, in Python code, and ends the
    run as any stop does (exit 128 + signal).
    """
    previous = _block_signals()
    try:
        __import__(name)  # the import statement's own path (-X importtime reports it)
        return sys.modules[name]
    finally:
        _unblock_signals(previous)


def _block_signals():
    """Block the stop signals around a fork: the child must not run the parent's handlers
    before it has set its own."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED_SIGNALS)


def _unblock_signals(previous) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
