"""Forkserver worker processes for a batch, each running one job at a time (one more queued).

A job that runs past the time limit, or whose worker dies, gives an error for that job only,
and the worker is replaced. Only the standard library is used here. Re-exported by
:mod:`hrtfeval.procs`.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .errors import HrtfevalError
from .stop_signals import _block_signals, _child_signals, _live, _unblock_signals, die_with_parent

#: Seconds a worker may take to stop when asked before it is killed.
_STOP_GRACE_S = 5.0
#: Consecutive worker deaths with no job started before the pool gives up.
_MAX_START_FAILURES = 3
# Set (to the main process's pid) while the forkserver starts: see the end of this file.
_SERVER_PARENT_ENV = "HRTFEVAL_FORKSERVER_PARENT"
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
        self._ctx: Any = None  # the multiprocessing context, made at the first spawn
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
