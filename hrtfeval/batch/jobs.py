"""The jobs a worker process runs (read and align a pair, score it) and the worker set-up;
the same functions run in this process with ``--workers 0``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import HrtfevalError
from .pairing import Pair

# ----------------------------------------------------------------------------------------------
# Scoring one pair (in a worker process or in-process)


@dataclass
class PairResult:
    """What scoring one pair gave: ``score`` (``PairScore.as_dict()``) or ``error`` (a message)."""

    pair: Pair
    score: dict[str, Any] | None = None
    error: str | None = None


def error_text(exc: BaseException) -> str:
    """The message recorded for a pair that failed: the user error, or the unexpected one."""
    if isinstance(exc, (HrtfevalError, ValueError)):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc} (please report this as a bug)"


def _score_job(job) -> tuple[str, Any]:
    """Worker: read, align and score one pair -> ("ok", PairScore.as_dict()) or ("error", text).

    ``job`` is ``(prediction, target, options, device, read_timeout)``; ``read_timeout`` (s)
    reads the files in a child process (in-process scoring); in a worker it is None, the pool
    times the whole job.
    """
    prediction, target, options, device, read_timeout = job
    try:
        from ..scoring import load_aligned, resolve_device, score_aligned

        aligned = load_aligned(prediction, target, options, timeout=read_timeout)
        dev = resolve_device(device) if isinstance(device, str) else device
        return "ok", score_aligned(aligned, options, dev).as_dict()
    except Exception as exc:  # noqa: BLE001 - a pair's failure must not stop the run
        return "error", error_text(exc)


def _load_job(job) -> tuple[str, Any]:
    """Worker: read and align one pair -> ("ok", AlignedPair) or ("error", text)."""
    prediction, target, options, _device, read_timeout = job
    try:
        from ..scoring import load_aligned

        return "ok", load_aligned(prediction, target, options, timeout=read_timeout)
    except Exception as exc:  # noqa: BLE001
        return "error", error_text(exc)


def _init_worker(quiet: bool = False) -> None:
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


def _resolve_job(device: str) -> tuple[str, str]:
    """Worker: the device ``auto`` means here (so that the main process need not import torch)."""
    try:
        from ..scoring import resolve_device

        return "ok", str(resolve_device(device))
    except Exception as exc:  # noqa: BLE001
        return "error", error_text(exc)
