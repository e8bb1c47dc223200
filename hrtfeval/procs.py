"""Child processes and signals: no input file can hang the tool, and a stop leaves nothing behind.

* :func:`signals_as_exceptions` (the console entry point): SIGINT, SIGTERM and SIGHUP raise
  :class:`Interrupted` in the main thread, so every ``finally`` runs (worker processes are
  stopped, temporary files removed) and the process ends with 128 + the signal number. One
  Ctrl-C is enough; more of them do not break off that clean-up.
* :func:`die_with_parent`: a child process is killed by the kernel when its parent dies
  (``PR_SET_PDEATHSIG`` on Linux; elsewhere a watchdog thread).
* :func:`read_in_child`: read files in a forked child under a time limit (one pair, ``info``,
  ``plot``, and ``--workers 0``). A damaged HDF5 file can make the library loop forever at
  100 % CPU inside one call: only a separate process can be stopped then.
* :class:`WorkerPool`: forkserver worker processes for a batch, each running one job at a time
  (one more queued); a job that runs past the time limit, or whose worker dies, gives an error
  for that job only, and the worker is replaced.

Only the standard library is used here (it is imported by the console entry point).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import os
import signal
import sys
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import HrtfevalError

#: Default time limit (seconds) to read one file pair (``--timeout``; in a batch, to read and
#: score one pair). Reading and scoring a measured set takes well under a second to a few
#: seconds; a file that takes minutes is damaged.
DEFAULT_TIMEOUT_S = 120.0
#: Exit status of a process stopped by signal ``s``: ``128 + s`` (as a shell reports it).
SIGNAL_EXIT_BASE = 128
#: Seconds a worker may take to stop when asked before it is killed.
_STOP_GRACE_S = 5.0
#: Consecutive worker deaths with no job started before the pool gives up.
_MAX_START_FAILURES = 3

# Set (to the main process's pid) while the forkserver starts: see the end of this file.
_SERVER_PARENT_ENV = "HRTFEVAL_FORKSERVER_PARENT"
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
            message = ("ok", out)
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
        self._proc = self._conn = None
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


def _block_signals():
    """Block the stop signals around a fork: the child must not run the parent's handlers
    before it has set its own."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED_SIGNALS)


def _unblock_signals(previous) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# ----------------------------------------------------------------------------------------------
# Worker pool


START_FAILED = (
    "the worker processes could not start: use --workers 0 (workers=0) to score in "
    "this process; a Python script that runs a batch must guard its code with "
    "if __name__ == '__main__':"
)


def _package_file() -> str:
    import hrtfeval

    return os.path.realpath(hrtfeval.__file__)


def forkserver_context(preload: list[str]):
    """The ``forkserver`` context (workers fork from one server that imported ``preload``
    once, and never inherit the main process's threads), else ``spawn``.

    The server is started here, with an environment that makes it import the package this
    process runs: ``python -c`` would put the working directory first on ``sys.path``, where
    a folder named like a package (``hrtfeval``, ``torch``) would shadow the real one.

    The server dies with this process, and the workers with the server (:func:`die_with_parent`
    in both): multiprocessing's own rule keeps the server alive while any worker lives and a
    worker stuck in a native call would never look up, so without this a killed main process
    would leave them all running.
    """
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():  # pragma: no cover - Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    # This module first: it makes the server die with this process (see the end of the file).
    ctx.set_forkserver_preload([__name__] + [m for m in preload if m != __name__])
    from multiprocessing import forkserver

    root = os.path.dirname(os.path.dirname(_package_file()))
    saved = {k: os.environ.get(k) for k in ("PYTHONSAFEPATH", "PYTHONPATH", _SERVER_PARENT_ENV)}
    try:
        os.environ[_SERVER_PARENT_ENV] = str(os.getpid())
        os.environ["PYTHONSAFEPATH"] = "1"  # no working-directory entry on sys.path
        entries = [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
        if not _on_default_path(root):
            entries = [root] + [p for p in entries if p != root]
        if entries:
            os.environ["PYTHONPATH"] = os.pathsep.join(entries)
        forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ctx


def _on_default_path(folder: str) -> bool:
    """``folder`` is a site-packages folder (on every interpreter's path, after the stdlib)."""
    import site

    dirs = list(getattr(site, "getsitepackages", list)())
    with contextlib.suppress(Exception):
        dirs.append(site.getusersitepackages())
    real = os.path.realpath(folder)
    return any(os.path.realpath(d) == real for d in dirs)


def _worker_main(conn, main_pid: int, initializer: Callable | None) -> None:
    """A worker: run ``(job_id, fn, job)`` messages one after the other until told to stop."""
    die_with_parent()
    try:
        os.kill(main_pid, 0)
    except ProcessLookupError:  # the main process is gone already: nothing to do
        os._exit(1)
    except OSError:
        pass
    _child_signals()
    if initializer is not None:
        initializer()
    conn.send(("ready", _package_file()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        job_id, fn, job = msg
        conn.send(("start", job_id, time.monotonic()))
        try:
            result = fn(job)
        except Exception as exc:  # noqa: BLE001 - the job functions catch their own errors
            result = (
                "error",
                f"unexpected {type(exc).__name__}: {exc} (please report this as a bug)",
            )
        try:
            conn.send(("done", job_id, result))
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - a result that does not pickle
            conn.send(("done", job_id, ("error", f"unexpected {type(exc).__name__}: {exc}")))


class _Worker:
    def __init__(self, proc, conn):
        self.proc, self.conn = proc, conn
        self.jobs: deque[int] = deque()  # sent, not finished; the first one runs
        self.started: float | None = None  # time.monotonic() the first job started


class WorkerPool:
    """Worker processes that run jobs; a job that hangs or kills its worker costs only itself.

    Parameters
    ----------
    workers : int
        Number of processes (at least 1).
    timeout : float or None
        Seconds one job may run; then its worker is killed and replaced and the job gives
        ``("error", message)``. None: no limit.
    preload : list of str
        Modules the forkserver imports once (workers fork from it).
    initializer : callable, optional
        Run in each worker before its first job.

    Job functions take one picklable argument and return ``(status, value)``; the pool gives
    ``("error", message)`` for a job whose worker died or ran out of time.
    """

    #: Jobs sent to one worker ahead of its results (one runs, one waits).
    depth = 2

    def __init__(
        self,
        workers: int,
        *,
        timeout: float | None = None,
        preload: list[str] | None = None,
        initializer: Callable | None = None,
    ):
        self.n = max(1, int(workers))
        self.timeout = timeout
        self.preload = list(preload or [])
        self.initializer = initializer
        self._ctx = None
        self._workers: list[_Worker] = []
        self._start_failures = 0

    # -- processes

    def _spawn(self) -> _Worker:
        if self._ctx is None:
            self._ctx = forkserver_context(self.preload)
        mine, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main,
            args=(theirs, os.getpid(), self.initializer),
            name="hrtfeval-worker",
            daemon=True,
        )
        blocked = _block_signals()  # a stop signal now would leave it unregistered
        try:
            proc.start()
            _live[proc.pid] = proc
        except OSError as exc:
            mine.close()
            raise HrtfevalError(f"{START_FAILED} ({exc.strerror or exc})") from None
        finally:
            theirs.close()
            _unblock_signals(blocked)
        return _Worker(proc, mine)

    def fill(self) -> None:
        """Start the missing worker processes (they import the preloaded modules meanwhile)."""
        while len(self._workers) < self.n:
            self._workers.append(self._spawn())

    def _retire(self, w: _Worker, kill: bool) -> None:
        if kill:
            with contextlib.suppress(Exception):
                w.proc.kill()
        w.proc.join(None if kill else _STOP_GRACE_S)
        if w.proc.exitcode is None:
            w.proc.kill()
            w.proc.join()
        _live.pop(w.proc.pid, None)
        w.conn.close()

    def close(self, kill: bool = False) -> None:
        """Stop the workers: ask idle ones to exit, kill busy ones (all of them with ``kill``)."""
        workers, self._workers = self._workers, []
        for w in workers:
            if kill or w.jobs:
                with contextlib.suppress(Exception):
                    w.proc.kill()
            else:
                with contextlib.suppress(Exception):
                    w.conn.send(None)
        for w in workers:
            self._retire(w, kill=False)

    # -- jobs

    def map(self, fn: Callable, jobs: list, window: int) -> Iterator[tuple[str, Any]]:
        """``fn(job)`` for every job, yielded in order, at most ``window`` jobs ahead of the one
        yielded next (so results never pile up)."""
        self.fill()
        n = len(jobs)
        todo = list(range(n))  # a heap: jobs to send, lowest index first (redone ones too)
        done: dict[int, tuple[str, Any]] = {}
        nxt = 0
        while nxt < n:
            if nxt in done:
                yield done.pop(nxt)
                nxt += 1
                continue
            self._send(fn, jobs, todo, nxt + max(1, window))
            ready = self._wait()
            for w in ready:
                self._receive(w, todo, done)
            self._check_time(todo, done)

    def _send(self, fn, jobs, todo, limit) -> None:
        while todo and todo[0] < limit:
            w = min(self._workers, key=lambda w: len(w.jobs))
            if len(w.jobs) >= self.depth:
                return
            i = heapq.heappop(todo)
            try:
                w.conn.send((i, fn, jobs[i]))
            except (OSError, EOFError):  # it died: _receive sees the end of its pipe
                heapq.heappush(todo, i)
                return
            w.jobs.append(i)

    def _wait(self) -> list[_Worker]:
        from multiprocessing.connection import wait

        timeout = None
        if self.timeout is not None:
            starts = [w.started for w in self._workers if w.started is not None]
            if starts:
                timeout = max(0.0, min(starts) + self.timeout - time.monotonic())
        by_conn = {w.conn: w for w in self._workers}
        return [by_conn[c] for c in wait(list(by_conn), timeout)]

    def _receive(self, w: _Worker, todo, done) -> None:
        try:
            msg = w.conn.recv()
        except (EOFError, OSError):
            self._lost(w, todo, done, None)
            return
        kind = msg[0]
        if kind == "ready":
            if msg[1] != _package_file():
                raise HrtfevalError(
                    f"the worker processes imported hrtfeval from {os.path.dirname(msg[1])}, "
                    f"not from {os.path.dirname(_package_file())} as this process; run from "
                    "another folder or use --workers 0"
                )
        elif kind == "start":
            w.started = msg[2]
        elif kind == "done":
            done[msg[1]] = msg[2]
            w.jobs.popleft()
            w.started = None
            self._start_failures = 0

    def _check_time(self, todo, done) -> None:
        if self.timeout is None:
            return
        now = time.monotonic()
        for w in list(self._workers):
            if w.started is not None and now - w.started > self.timeout:
                self._lost(w, todo, done, self.timeout)

    def _lost(self, w: _Worker, todo, done, timed_out: float | None) -> None:
        """``w`` died or ran out of time: its running job fails, the others are sent again."""
        self._retire(w, kill=True)
        jobs = list(w.jobs)
        if w.started is not None and jobs:
            if timed_out is not None:
                message = (
                    f"took longer than {timed_out:g} s (--timeout) to read and score; the "
                    "worker was stopped (a damaged file can make the HDF5 library loop "
                    "forever) and the other pairs were scored"
                )
            else:
                message = (
                    f"the worker process died while reading or scoring this pair (exit code "
                    f"{w.proc.exitcode}; a crash in a file reader?); the other pairs were scored"
                )
            done[jobs.pop(0)] = ("error", message)
            self._start_failures = 0
        else:
            self._start_failures += 1
            if self._start_failures >= _MAX_START_FAILURES:
                raise HrtfevalError(START_FAILED)
        for i in jobs:
            heapq.heappush(todo, i)
        self._workers[self._workers.index(w)] = self._spawn()


# The forkserver imports this module first (forkserver_context): there, and only there (its
# parent is the process named by the variable), it asks to be killed when that process dies.
if os.environ.get(_SERVER_PARENT_ENV) == str(os.getppid()):
    die_with_parent(os.getppid())
