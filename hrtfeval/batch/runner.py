"""Scoring a stream of pairs (in this process or in worker processes, pair by pair or stacked)
and running a batch: pairs in, the batch document out."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, closing
from typing import TYPE_CHECKING, Any

from .. import procs
from ..errors import HrtfevalError
from .document import batch_spec, finish, make_entry
from .jobs import Job, Outcome, PairResult, init_worker, load_job, resolve_job, score_job
from .pairing import Pair, PairList
from .shards import select_shard
from .stacked import score_stacked

if TYPE_CHECKING:
    from ..scoring import ScoreOptions

#: Pairs stacked into one batch on the GPU (only pairs of identical shape, domain and rate).
DEFAULT_BATCH_SIZE = 32
#: At most this many worker processes by default (more rarely helps: the disk becomes the limit).
MAX_DEFAULT_WORKERS = 8


def check_workers(workers) -> int:
    """``workers`` as a number of worker processes (0 = score in this process); else
    HrtfevalError."""
    try:
        n = int(workers)
        if n != workers or n < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise HrtfevalError(
            "--workers takes 0 (score in this process) or a number of worker processes; "
            f"got {workers!r}"
        ) from None
    return n


def default_workers() -> int:
    """CPUs this process may use (``os.sched_getaffinity``), at most :data:`MAX_DEFAULT_WORKERS`."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_DEFAULT_WORKERS))


#: Modules the forkserver imports once; workers fork from it with them loaded.
_PRELOAD = [
    "hrtfeval.batch",
    "hrtfeval.scoring",
    "hrtfeval.io",
    "hrtfeval.align",
    "hrtfeval.represent",
    "hrtfeval.cues",
    "torch",
    "netCDF4",
]


class WorkerPool(procs.WorkerPool):
    """The batch's worker processes (see :class:`hrtfeval.procs.WorkerPool`): forkserver
    workers with torch loaded, one torch thread each, stdout kept clean.

    Parameters
    ----------
    workers : int
        Number of processes (at least 1).
    timeout : float or None
        Seconds one pair may take in a worker (read, align, score); then the worker is killed
        and replaced, and the pair is an error.
    """

    def __init__(self, workers: int, timeout: float | None = None, quiet: bool = False):
        import functools

        super().__init__(
            workers,
            timeout=timeout,
            preload=_PRELOAD,
            initializer=functools.partial(init_worker, quiet) if quiet else init_worker,
        )

    def start(self, device: str = "cpu") -> str:
        """Start the workers and return ``device`` resolved by one of them (``auto`` -> cpu or
        cuda). Raises HrtfevalError when they cannot start or the device is not available."""
        status, value = next(self.map(resolve_job, [device], 1))
        if status != "ok":
            raise HrtfevalError(value)
        return value


def ordered_map(
    fn: Callable[[Any], Outcome], jobs: list, pool: WorkerPool | None, window: int
) -> Iterator[Outcome]:
    """``fn(job)`` for every job, in order, in ``pool`` with at most ``window`` jobs in flight
    (so results never pile up), or in this process when ``pool`` is None."""
    if pool is None:
        for job in jobs:
            yield fn(job)
        return
    yield from pool.map(fn, jobs, window)


class BatchScorer:
    """Scores pairs one after another, reading ahead in worker processes.

    Use as a context manager; :attr:`device` is the resolved device (``"cpu"``, ``"cuda:0"``...)
    once entered, and :meth:`score` yields a :class:`PairResult` per pair, in order.

    Parameters
    ----------
    options : hrtfeval.scoring.ScoreOptions
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    workers : int or None
        Worker processes that read (and, on the CPU, score) pairs ahead of the main process;
        ``None`` = :func:`default_workers`, ``0`` = everything in this process.
    stack : bool or None
        Stack consecutive pairs of identical shape, domain and rate and score them in one batch
        (workers then only read and align). ``None``: stack on CUDA devices only. The numbers
        are those of pair-by-pair scoring; ``stack=True`` on the CPU exists to test that.
    batch_size : int
        Most pairs in one stacked batch.
    n_pairs : int or None
        Number of pairs to come, if known: no more workers than pairs, none for one pair.
    timeout : float or None
        Seconds one pair may take: to read, align and score it in a worker, or to read its
        files (in a child process) when scoring in this process. A pair over the limit is an
        error and the run goes on. None: no limit.
    quiet : bool
        The workers show no warnings (``--quiet``).

    The memory limit (``options.max_memory``, bytes) is for the whole run: with W workers,
    each worker's pair may use a W-th of it.
    """

    def __init__(
        self,
        options: ScoreOptions,
        device: str = "auto",
        workers: int | None = None,
        *,
        stack: bool | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        n_pairs: int | None = None,
        timeout: float | None = procs.DEFAULT_TIMEOUT_S,
        quiet: bool = False,
    ):
        self.options = options
        self.requested = device
        self.timeout = procs.check_timeout(timeout)
        self.quiet = quiet
        n = default_workers() if workers is None else check_workers(workers)
        if n_pairs is not None:
            n = 0 if n_pairs <= 1 else min(n, n_pairs)  # a pool costs more than one pair
        self.workers = n
        if n > 1 or options.max_memory is None:
            # W workers hold W pairs at once: each gets its share of the limit. The default limit
            # is resolved once here, not (from /proc and the cgroup files) per pair and file.
            import dataclasses

            self.options = dataclasses.replace(
                options, max_memory=max(1, options.memory_limit // max(n, 1))
            )
        self.stack = stack
        self.batch_size = max(1, int(batch_size))
        self.device: str | None = None
        self._torch_device: Any = None  # torch.device, when this process scores
        self._pool: WorkerPool | None = None
        self._threads: AbstractContextManager[Any] | None = None

    def __enter__(self) -> BatchScorer:
        try:
            from_workers = None
            requested = str(self.requested).strip().lower()
            if self.workers > 0:
                self._pool = WorkerPool(self.workers, self.timeout, self.quiet)
                # The main process imports torch only when it scores (stacked batches).
                from_workers = self._pool.start(requested)
            self.device = self._enter_device(requested, from_workers)
            if self.workers == 0:
                from ..scoring import one_cpu_thread

                self._threads = one_cpu_thread("cpu")
                self._threads.__enter__()
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise
        return self

    def _enter_device(self, requested: str, from_workers: str | None) -> str:
        """The run's device name; sets :attr:`stack` when None and the torch device this process
        scores on (``--workers 0``, CUDA, stacked batches). ``from_workers``: the device a worker
        resolved, None without workers."""
        from ..scoring import resolve_device

        device = from_workers
        if device is None or device.startswith("cuda"):
            self._torch_device = resolve_device(requested)
            device = str(self._torch_device)
        if self.stack is None:
            self.stack = device.startswith("cuda")
        if self.stack and self._torch_device is None:
            self._torch_device = resolve_device(device)
        return device

    def __exit__(self, exc_type=None, *exc) -> None:
        if self._threads is not None:
            self._threads.__exit__(None, None, None)
            self._threads = None
        if self._pool is not None:
            # Leaving on an error or a stop signal: kill the workers, do not wait for them.
            self._pool.close(kill=exc_type is not None)
            self._pool = None

    def score(self, pairs: list[Pair]) -> Iterator[PairResult]:
        # A pair with a known problem (a FIFO, a device...) is an error; its files are never
        # opened (opening a FIFO blocks until something writes to it).
        scored = self._score([p for p in pairs if p.problem is None])
        for p in pairs:
            yield PairResult(p, error=p.problem) if p.problem is not None else next(scored)

    def _score(self, pairs: list[Pair]) -> Iterator[PairResult]:
        read_timeout = self.timeout if self._pool is None else None
        jobs = [
            Job(p.prediction_path, p.target_path, self.options, self.device, read_timeout)
            for p in pairs
        ]
        window = 2 * self.workers + 2
        if not self.stack:
            outcomes = ordered_map(score_job, jobs, self._pool, window)
            yield from (PairResult.of(pair, outcome) for pair, outcome in zip(pairs, outcomes))
            return
        loaded = ordered_map(load_job, jobs, self._pool, window)
        yield from score_stacked(pairs, loaded, self.options, self._torch_device, self.batch_size)


def score_stream(
    pairs: list[Pair],
    options: ScoreOptions,
    device: str = "auto",
    workers: int | None = None,
    *,
    stack: bool | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float | None = procs.DEFAULT_TIMEOUT_S,
    quiet: bool = False,
    on_start: Callable[[BatchScorer], None] | None = None,
) -> Generator[PairResult, None, None]:
    """Score ``pairs`` one after another: a :class:`PairResult` per pair, in order (see
    :class:`BatchScorer` for the parameters). ``on_start`` is called with the scorer once it is
    ready (workers started, :attr:`BatchScorer.device` resolved), before the first pair.

    The scorer lives as long as the stream: close the stream (``contextlib.closing``) to stop
    the workers at once when leaving early."""
    with BatchScorer(
        options,
        device,
        workers,
        stack=stack,
        batch_size=batch_size,
        n_pairs=len(pairs),
        timeout=timeout,
        quiet=quiet,
    ) as scorer:
        if on_start is not None:
            on_start(scorer)
        yield from scorer.score(pairs)


def run_batch(
    pair_list: PairList,
    options: ScoreOptions,
    *,
    device: str = "auto",
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
    ignore_unmatched: bool = False,
    baseline=None,
    max_regression: dict[str, float] | None = None,
    on_entry: Callable[[dict[str, Any]], None] | None = None,
    progress=None,
    stack: bool | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    per_direction=None,
    timeout: float | None = procs.DEFAULT_TIMEOUT_S,
    quiet: bool = False,
) -> dict[str, Any]:
    """Score every pair of ``pair_list`` (or of one shard of it) and build the batch document.

    Parameters
    ----------
    pair_list : PairList
    options : hrtfeval.scoring.ScoreOptions
    device, workers, stack, batch_size, timeout, quiet
        See :class:`BatchScorer`.
    shard : (K, N) or None
        Score only shard K of N (:func:`select_shard`).
    ignore_unmatched : bool
        Recorded in the spec; unmatched files then do not make the exit code 2.
    baseline : hrtfeval.gates.Baseline or None
        Compare every pair (and the aggregate mean) with it; ``max_regression`` gives the
        largest allowed increase per metric.
    on_entry : callable, optional
        Called with every pair's entry as soon as it is scored, in order (``--format jsonl``).
    progress : object with ``start(total)`` and ``advance()``, optional
    per_direction : hrtfeval.export.PerDirectionWriter, optional
        Receives every scored pair's per-direction values (``options.per_direction``).

    Returns
    -------
    dict
        The batch document (see :mod:`hrtfeval.batch`).

    Raises
    ------
    HrtfevalError
        When there is nothing to score (no pair at all, before sharding).
    """
    from ..gates import annotate_pair, check_baseline_spec, regression_block

    if baseline is not None:  # before any work: a baseline of other definitions is refused
        check_baseline_spec(
            batch_spec(options, device, {}, shard=None, pairs_total=0, ignore_unmatched=False),
            baseline,
        )
    pairs = pair_list.pairs
    if not pairs:
        where = ", ".join(f"{k} {v}" for k, v in pair_list.source.items())
        unmatched = (
            f" ({pair_list.n_unmatched} file(s) without a partner)" if pair_list.n_unmatched else ""
        )
        raise HrtfevalError(
            f"nothing to score: no pair of .sofa/.pt files found ({where}){unmatched}"
        )
    shard_text = None
    if shard is not None:
        pairs = select_shard(pairs, *shard)
        shard_text = f"{shard[0]}/{shard[1]}"
    entries: list[dict[str, Any]] = []
    run: dict[str, Any] = {}  # what the scorer resolved: device, time limit

    def started(scorer: BatchScorer) -> None:
        run.update(device=scorer.device, timeout_s=scorer.timeout)
        if progress is not None:
            progress.start(len(pairs))

    stream = score_stream(
        pairs,
        options,
        device,
        workers,
        stack=stack,
        batch_size=batch_size,
        timeout=timeout,
        quiet=quiet,
        on_start=started,
    )
    with closing(stream):  # leaving on an error or a stop signal stops the workers at once
        for result in stream:
            block = (result.score or {}).pop("per_direction", None)
            if per_direction is not None and block is not None:
                per_direction.write(block, (result.pair.prediction, result.pair.target))
            entry = make_entry(result)
            if baseline is not None:
                annotate_pair(entry, baseline, max_regression or {})
            entries.append(entry)
            if on_entry is not None:
                on_entry(entry)
            if progress is not None:
                progress.advance()
    spec = batch_spec(
        options,
        run["device"],
        pair_list.source,
        shard=shard_text,
        pairs_total=len(pair_list.pairs),
        ignore_unmatched=ignore_unmatched,
        timeout_s=run["timeout_s"],
    )
    doc = {
        "spec": spec,
        "pairs": entries,
        "unmatched": {
            "prediction": pair_list.unmatched_prediction,
            "target": pair_list.unmatched_target,
        },
    }
    if baseline is not None:
        doc["regression"] = regression_block(entries, baseline.name, max_regression or {})
    return finish(doc)
