"""The stages of scoring one pair, as job functions: read and align it (:func:`load_job`), score
it (:func:`score_job` = both stages), and the worker set-up.

The same functions run in a worker process (the pool pickles them by name and their results
back), in this process with ``--workers 0``, and under the stacked (CUDA) path, which loads with
:func:`load_job` and falls back on :func:`score_aligned_dict` pair by pair. Every job returns an
:data:`Outcome` instead of raising: a pair's failure must not stop the run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import HrtfevalError
from .pairing import Pair

if TYPE_CHECKING:
    from ..align import AlignedPair
    from ..scoring import ScoreOptions

#: What a job gives: ``("ok", value)`` or ``("error", message)`` (the pool's protocol too).
Outcome = tuple[str, Any]


class Job(NamedTuple):
    """One pair's job, sent to a worker (pickled).

    ``read_timeout`` (s) reads the files in a child process (in-process scoring); in a worker it
    is None, the pool times the whole job. ``device``: a device name (``"cpu"``, ``"cuda:0"``) or
    a ``torch.device``.
    """

    prediction: str
    target: str
    options: ScoreOptions
    device: Any
    read_timeout: float | None


@dataclass
class PairResult:
    """What scoring one pair gave: ``score`` (``PairScore.as_dict()``) or ``error`` (a message)."""

    pair: Pair
    score: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def of(cls, pair: Pair, outcome: Outcome) -> PairResult:
        """The result of ``pair`` from a job's :data:`Outcome`."""
        status, value = outcome
        return cls(pair, score=value) if status == "ok" else cls(pair, error=value)


def error_text(exc: BaseException) -> str:
    """The message recorded for a pair that failed: the user error, or the unexpected one."""
    if isinstance(exc, (HrtfevalError, ValueError)):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc} (please report this as a bug)"


def guarded(fn: Callable[..., Any], *args: Any) -> Outcome:
    """``("ok", fn(*args))``, or ``("error", error_text(exc))`` when it raises."""
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - a pair's failure must not stop the run
        return "error", error_text(exc)


def load_aligned_pair(job: Job) -> AlignedPair:
    """Stage 1: read both files of ``job`` and align them (raises on a bad pair)."""
    from ..scoring import load_aligned

    return load_aligned(job.prediction, job.target, job.options, timeout=job.read_timeout)


def score_aligned_dict(aligned: AlignedPair, options: ScoreOptions, device: Any) -> dict[str, Any]:
    """Stage 2: score an aligned pair on ``device`` (a name or a ``torch.device``) ->
    ``PairScore.as_dict()`` (raises on a pair that cannot be scored)."""
    from ..scoring import resolve_device, score_aligned

    dev = resolve_device(device) if isinstance(device, str) else device
    return score_aligned(aligned, options, dev, with_definitions=False).as_dict()


def _load_and_score(job: Job) -> dict[str, Any]:
    return score_aligned_dict(load_aligned_pair(job), job.options, job.device)


def score_job(job: Job) -> Outcome:
    """Read, align and score one pair -> ("ok", PairScore.as_dict()) or ("error", text)."""
    return guarded(_load_and_score, job)


def load_job(job: Job) -> Outcome:
    """Read and align one pair -> ("ok", AlignedPair) or ("error", text)."""
    return guarded(load_aligned_pair, job)


def init_worker(quiet: bool = False) -> None:
    """Worker set-up: one torch thread, stdout kept clean, Ctrl-C left to the main process;
    ``quiet`` (``--quiet``): no warnings."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Anything a library prints in a worker would land in the main process's stdout (the data):
    # send it to stderr, at the Python and at the file-descriptor level.
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
    except OSError:  # pragma: no cover - no usable descriptors
        pass
    sys.stdout = sys.stderr
    # Warnings as one line "warning: <file>: ..." each, as in the main process (the CLI's).
    import warnings

    from ..errors import warning_printer

    warnings.showwarning = warning_printer(quiet=quiet)
    keep_heap_memory()
    import torch

    torch.set_num_threads(1)


def keep_heap_memory() -> None:
    """Let this process reuse freed heap memory instead of returning it to the OS after each pair.

    A pair allocates and frees a few dozen arrays of several MB. glibc serves those from fresh
    mmap() regions (or trims the heap) every time, and first-touch page faults then cost about
    a fifth of the time of a pair. Raising the mmap and trim thresholds keeps that memory mapped:
    the process stays at its peak per-pair size (flat in the number of pairs). A no-op where
    glibc's mallopt is not available.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, Windows, musl): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum on 64-bit
    libc.mallopt(m_trim_threshold, 1024 * 1024 * 1024)


def _resolved_name(device: str) -> str:
    from ..scoring import resolve_device

    return str(resolve_device(device))


def resolve_job(device: str) -> Outcome:
    """Worker: the device ``auto`` means here (so that the main process need not import torch)."""
    return guarded(_resolved_name, device)
