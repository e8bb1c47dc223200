"""Batch scoring: pair files, pick a shard, score the pairs as a stream, aggregate, merge shards.

Data flows one way::

    find_pairs()  ->  PairList (sorted pairs + unmatched files)
    select_shard()    every N-th pair, for job arrays
    score_stream()    PairResult per pair, in order (worker processes read + align + score)
    make_entry()      the pair's JSON entry (relative names, per-pair spec, scores)
    finish()          aggregate, counts and the checks (thresholds, baseline regression)

Only the small per-pair score dictionaries are kept; the HRTF arrays of a pair live in one
worker process while it is scored (or, on a GPU, in one stacked batch), so memory does not grow
with the number of pairs.

The batch document (``--format json``)::

    {"spec": {...options common to all pairs...},
     "pairs": [{"prediction", "target", "spec", "scores", "passed"[, "regression"]}
               or {"prediction", "target", "error"}, ...],
     "unmatched": {"prediction": [...], "target": [...]},
     "aggregate": {"lsd": {"unit", "mean", "median", "min", "max", "n"}, ...},
     ["regression": {...},]
     "counts": {"pairs", "scored", "errors", "unmatched", "failed"[, "missing_shards"]}}

Each pair's ``scores`` has the single-pair schema; its ``spec`` holds the facts that may differ
from pair to pair (conventions, rate, length, matched directions, bins, notes) and the batch
``spec`` everything common (options, thresholds, definitions, device, shard).
"""

from __future__ import annotations

import csv
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

from . import procs

#: File types paired in directories (matched case-insensitively).
from .constants import DATA_SUFFIXES as SUFFIXES
from .errors import HrtfevalError
from .gates import RUN_SPEC_KEYS

#: A text file in a prediction folder naming the reference files the predictions are meant to
#: cover (one relative path a line, extension optional; ``#`` starts a comment), e.g. the test
#: split of a database (``hrtfeval.datasets`` writes it next to the predictions it saves).
#: Reference files it does not name are then out of scope rather than unmatched; a named one
#: without a prediction is still unmatched (exit code 2).
EXPECTED_TARGETS_FILE = "hrtfeval-targets.txt"
#: Pairs stacked into one batch on the GPU (only pairs of identical shape, domain and rate).
DEFAULT_BATCH_SIZE = 32
#: At most this many worker processes by default (more rarely helps: the disk becomes the limit).
MAX_DEFAULT_WORKERS = 8
#: Per-pair ``spec`` keys of the single-pair spec: facts about the two files. Every other key of
#: the single-pair spec comes from the options and is stored once, in the batch ``spec``.
PAIR_SPEC_KEYS = (
    "prediction",
    "reference",
    "sampling_rate",
    "n_samples",
    "n_fft",
    "zero_padding",
    "directions",
    "bins",
    "domain",
    "notes",
    "weighting",
    "regions",
    "exclude",
)
#: Optional blocks of a pair's score kept in its batch entry (``--bands``, ``--region``).
EXTRA_KEYS = ("bands", "regions")


# ----------------------------------------------------------------------------------------------
# Pairing


@dataclass(frozen=True)
class Pair:
    """One prediction file and its reference.

    ``prediction`` / ``target`` are the names reported in every output: paths relative to the
    scored directories, or the paths as written in the ``--pairs`` CSV file. ``prediction_path``
    / ``target_path`` are the files opened. ``problem``: why the pair cannot be read, known
    before opening a file (one of them is not a regular file); the pair is then an error.
    """

    prediction: str
    target: str
    prediction_path: str
    target_path: str
    problem: str | None = None


@dataclass
class PairList:
    """The sorted pairs of a run, the files that found no partner, and where they came from."""

    pairs: list[Pair]
    unmatched_prediction: list[str] = field(default_factory=list)
    unmatched_target: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)

    @property
    def n_unmatched(self) -> int:
        return len(self.unmatched_prediction) + len(self.unmatched_target)


def _pair_problem(prediction_path: str, target_path: str) -> str | None:
    for path in (prediction_path, target_path):
        kind = procs.special_file(path)
        if kind is not None:
            return f"{path}: is {kind}, not a regular file; expected a .sofa or .pt file"
    return None


def _make_pair(prediction: str, target: str, prediction_path: str, target_path: str) -> Pair:
    return Pair(
        prediction,
        target,
        prediction_path,
        target_path,
        _pair_problem(prediction_path, target_path),
    )


def scan_directory(root: str | os.PathLike) -> dict[str, str]:
    """``{relative path without extension: relative path}`` of the .sofa/.pt files under ``root``.

    The walk is recursive and sorted; hidden files and folders (name starting with ``.``) are
    skipped. Paths use ``/`` on every platform. A link to a folder is followed once, unless it
    points to a folder that holds the link (a loop) or to a folder scanned already (the real
    folders are scanned first, so files keep their real names): every real file is counted
    once and the walk always ends. Nothing is opened: a FIFO named ``x.sofa`` is listed, and
    the pair it belongs to is an error (see :class:`Pair`).

    Raises
    ------
    HrtfevalError
        ``root`` is not a directory, a folder cannot be listed, or two files differ only by
        extension (``a.sofa``, ``a.pt``).
    """
    base = Path(root)
    if not base.is_dir():
        raise HrtfevalError("is not a directory", str(root))
    found: dict[str, str] = {}
    seen: set[tuple[int, int]] = set()  # (device, inode) of every folder scanned
    links: list[tuple[os.DirEntry, PurePosixPath]] = []  # links to folders, followed last

    def listing(folder: str) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise HrtfevalError(
                f"cannot list the directory: {exc.strerror or exc}", exc.filename or str(folder)
            ) from None

    def walk(folder: str, rel_folder: PurePosixPath) -> None:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        subfolders = []
        for entry in listing(folder):
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                (links if entry.is_symlink() else subfolders).append((entry, rel_folder / name))
                continue
            if Path(name).suffix.lower() not in SUFFIXES:
                continue
            rel = (rel_folder / name).as_posix()
            key = rel[: -len(Path(name).suffix)]
            if key in found:
                raise HrtfevalError(
                    f"{found[key]} and {rel} have the same name: keep one of the "
                    "two, or pair files with --pairs",
                    str(root),
                )
            found[key] = rel
        for entry, rel in subfolders:
            walk(entry.path, rel)

    # Real folders first, so that a file keeps its real name when a link also leads to it;
    # then each linked folder not scanned yet and not holding the link (a loop).
    walk(str(base), PurePosixPath())
    while links:
        entry, rel = links.pop(0)
        target = os.path.realpath(entry.path)
        holder = os.path.realpath(os.path.dirname(entry.path))
        if holder == target or holder.startswith(target.rstrip(os.sep) + os.sep):
            continue
        walk(entry.path, rel)
    return found


def pair_directories(prediction_dir: str | os.PathLike, target_dir: str | os.PathLike) -> PairList:
    """Pair the files of two directories by relative path without extension (recursive)."""
    preds = scan_directory(prediction_dir)
    refs = scan_directory(target_dir)
    source: dict[str, Any] = {"prediction_dir": str(prediction_dir), "target_dir": str(target_dir)}
    in_scope = refs.keys()
    expected = read_expected_targets(prediction_dir)
    if expected is not None:
        manifest = os.path.join(prediction_dir, EXPECTED_TARGETS_FILE)
        unknown = sorted(expected - refs.keys())
        if unknown:
            shown = ", ".join(unknown[:5]) + (
                f" … and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            )
            raise HrtfevalError(
                f"names {len(unknown)} reference file(s) that are not in {target_dir}: {shown}",
                manifest,
            )
        in_scope = expected
        source["expected_targets"] = manifest
        source["targets_out_of_scope"] = len(refs.keys() - expected - preds.keys())
    pairs = [
        _make_pair(
            preds[k],
            refs[k],
            os.path.join(prediction_dir, preds[k]),
            os.path.join(target_dir, refs[k]),
        )
        for k in preds.keys() & refs.keys()
    ]
    pairs.sort(key=pair_key)
    return PairList(
        pairs,
        sorted(preds[k] for k in preds.keys() - refs.keys()),
        sorted(refs[k] for k in in_scope - preds.keys()),
        source,
    )


def read_expected_targets(prediction_dir: str | os.PathLike) -> set[str] | None:
    """The reference keys (relative paths without extension) named by
    :data:`EXPECTED_TARGETS_FILE` in ``prediction_dir``, or None when there is no such file.

    Raises
    ------
    HrtfevalError
        The file is not a regular file, cannot be read, or names nothing.
    """
    path = os.path.join(prediction_dir, EXPECTED_TARGETS_FILE)
    if not os.path.lexists(path):
        return None
    kind = procs.special_file(path)
    if kind is not None:  # opening a FIFO would block
        raise HrtfevalError(f"is {kind}, not a regular file", path)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HrtfevalError(f"cannot read the list of expected references: {exc}", path) from None
    keys = set()
    for line in lines:
        entry = line.split("#", 1)[0].strip().replace("\\", "/")
        if not entry:
            continue
        if PurePosixPath(entry).suffix.lower() in SUFFIXES:
            entry = entry[: -len(PurePosixPath(entry).suffix)]
        keys.add(PurePosixPath(entry).as_posix())
    if not keys:
        raise HrtfevalError("names no reference file (one relative path a line)", path)
    return keys


def read_pairs_csv(path: str | os.PathLike) -> PairList:
    """Pairs from a CSV file with the columns ``prediction,target`` (header required).

    Relative paths are resolved against the CSV file's folder; they are reported as written.
    Blank rows are skipped; a row that names a pair twice is an error.
    """
    name = str(path)
    kind = procs.special_file(path)
    if kind is not None:  # opening a FIFO would block
        raise HrtfevalError(f"is {kind}, not a regular file; expected a CSV file", name)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise HrtfevalError("file not found", name) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise HrtfevalError(
            f"cannot read the pairs file: {getattr(exc, 'strerror', None) or exc}", name
        ) from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise HrtfevalError("the pairs file is empty; expected a header 'prediction,target'", name)
    head = [c.strip().lower() for c in rows[0]]
    if "prediction" not in head or "target" not in head:
        raise HrtfevalError(
            f"the pairs file needs the columns 'prediction' and 'target'; got "
            f"{', '.join(repr(h) for h in head)}",
            name,
        )
    ip, it = head.index("prediction"), head.index("target")
    base = Path(path).parent
    pairs: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        pred = cells[ip] if ip < len(cells) else ""
        ref = cells[it] if it < len(cells) else ""
        if not pred or not ref:
            raise HrtfevalError(f"row {line} needs both a prediction and a target", name)
        if (pred, ref) in seen:
            raise HrtfevalError(f"row {line} repeats the pair {pred}, {ref}", name)
        seen.add((pred, ref))
        pairs.append(_make_pair(pred, ref, str(base / pred), str(base / ref)))
    pairs.sort(key=pair_key)
    return PairList(pairs, source={"pairs_file": name})


def pair_key(pair) -> tuple[str, str]:
    """Sort key of a :class:`Pair` or a pair entry: (prediction, target) names."""
    if isinstance(pair, Pair):
        return (pair.prediction, pair.target)
    return (pair["prediction"], pair["target"])


# ----------------------------------------------------------------------------------------------
# Shards


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (K from 1 to N, as SLURM_ARRAY_TASK_ID with ``--array=1-N``) -> (K, N)."""
    k_text, sep, n_text = str(text).strip().partition("/")
    try:
        if not sep:
            raise ValueError
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise HrtfevalError(f"--shard takes K/N (e.g. 2/8); got {text!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise HrtfevalError(f"--shard K/N needs 1 <= K <= N; got {text!r} (K counts from 1)")
    return k, n


def parse_shard_set(text: str, name: str) -> tuple[set[int], int]:
    """A document's ``spec.shard``: ``"K/N"``, or ``"K1,K2,.../N"`` for a merge of some shards
    -> ({K, ...}, N)."""
    k_text, sep, n_text = str(text).partition("/")
    try:
        ks = {int(k) for k in k_text.split(",")}
        n = int(n_text)
        if not sep or n < 1 or not all(1 <= k <= n for k in ks):
            raise ValueError
    except ValueError:
        raise HrtfevalError(
            f"spec.shard is {text!r}; expected K/N with 1 <= K <= N (as written by --shard)", name
        ) from None
    return ks, n


def shard_size(k: int, n: int, total: int) -> int:
    """How many of ``total`` sorted pairs shard ``k`` of ``n`` holds (:func:`select_shard`)."""
    return len(range(k - 1, total, n))


def select_shard(pairs: list, k: int, n: int) -> list:
    """The pairs of shard ``k`` of ``n``: indices i of the sorted list with ``i % n == k - 1``."""
    return pairs[k - 1 :: n]


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
        from .scoring import load_aligned, resolve_device, score_aligned

        aligned = load_aligned(prediction, target, options, timeout=read_timeout)
        dev = resolve_device(device) if isinstance(device, str) else device
        return "ok", score_aligned(aligned, options, dev).as_dict()
    except Exception as exc:  # noqa: BLE001 - a pair's failure must not stop the run
        return "error", error_text(exc)


def _load_job(job) -> tuple[str, Any]:
    """Worker: read and align one pair -> ("ok", AlignedPair) or ("error", text)."""
    prediction, target, options, _device, read_timeout = job
    try:
        from .scoring import load_aligned

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

    from .errors import warning_printer

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


def _resolve_job(device: str) -> tuple[str, str]:
    """Worker: the device ``auto`` means here (so that the main process need not import torch)."""
    try:
        from .scoring import resolve_device

        return "ok", str(resolve_device(device))
    except Exception as exc:  # noqa: BLE001
        return "error", error_text(exc)


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
            initializer=functools.partial(_init_worker, quiet) if quiet else _init_worker,
        )

    def start(self, device: str = "cpu") -> str:
        """Start the workers and return ``device`` resolved by one of them (``auto`` -> cpu or
        cuda). Raises HrtfevalError when they cannot start or the device is not available."""
        status, value = next(self.map(_resolve_job, [device], 1))
        if status != "ok":
            raise HrtfevalError(value)
        return value


def ordered_map(
    fn: Callable, jobs: list, pool: WorkerPool | None, window: int
) -> Iterator[tuple[str, Any]]:
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
        options,
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
        if n > 1:  # W workers hold W pairs at once: each gets its share of the limit
            import dataclasses

            self.options = dataclasses.replace(
                options, max_memory=max(1, options.memory_limit // n)
            )
        self.stack = stack
        self.batch_size = max(1, int(batch_size))
        self.device = None
        self._torch_device = None
        self._pool: WorkerPool | None = None
        self._threads = None

    def __enter__(self) -> BatchScorer:
        try:
            requested = str(self.requested).strip().lower()
            if self.workers > 0:
                self._pool = WorkerPool(self.workers, self.timeout, self.quiet)
                # The main process imports torch only when it scores (stacked batches).
                self.device = self._pool.start(requested)
            if self.workers == 0 or self.device.startswith("cuda"):
                from .scoring import resolve_device

                self._torch_device = resolve_device(requested)
                self.device = str(self._torch_device)
            if self.stack is None:
                self.stack = self.device.startswith("cuda")
            if self.stack and self._torch_device is None:
                from .scoring import resolve_device

                self._torch_device = resolve_device(self.device)
            if self.workers == 0:
                from .scoring import one_cpu_thread

                self._threads = one_cpu_thread("cpu")
                self._threads.__enter__()
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise
        return self

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
            (p.prediction_path, p.target_path, self.options, self.device, read_timeout)
            for p in pairs
        ]
        window = 2 * self.workers + 2
        if not self.stack:
            results = ordered_map(_score_job, jobs, self._pool, window)
            for pair, (status, value) in zip(pairs, results):
                yield (
                    PairResult(pair, score=value)
                    if status == "ok"
                    else PairResult(pair, error=value)
                )
            return
        loaded = ordered_map(_load_job, jobs, self._pool, window)
        dev, options = self._torch_device, self.options
        group: list[tuple[Pair, Any]] = []
        for pair, (status, value) in zip(pairs, loaded):
            if status != "ok":
                yield from score_group(group, options, dev)
                group = []
                yield PairResult(pair, error=value)
                continue
            if group and (
                len(group) >= self.batch_size or stack_key(group[0][1]) != stack_key(value)
            ):
                yield from score_group(group, options, dev)
                group = []
            group.append((pair, value))
        yield from score_group(group, options, dev)


def score_stream(
    pairs: list[Pair],
    options,
    device: str = "auto",
    workers: int | None = None,
    *,
    stack: bool | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float | None = procs.DEFAULT_TIMEOUT_S,
    quiet: bool = False,
) -> Iterator[PairResult]:
    """Score ``pairs`` one after another: a :class:`PairResult` per pair, in order (see
    :class:`BatchScorer` for the parameters)."""
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
        yield from scorer.score(pairs)


def stack_key(aligned) -> tuple:
    """Pairs with equal keys can be stacked: same shapes, dtypes, domains, rates and bins."""

    def facts(s):
        freqs = None if s.frequencies is None else s.frequencies.tobytes()
        return (s.data.shape, s.data.dtype.str, s.domain, s.sampling_rate, freqs)

    return facts(aligned.prediction) + facts(aligned.reference)


def score_group(group: list[tuple[Pair, Any]], options, device) -> Iterator[PairResult]:
    """Score aligned pairs of one :func:`stack_key` as one stacked batch on ``device``.

    If the stacked computation fails, every pair is scored on its own so that the error is
    reported for the pair that causes it.
    """
    if not group:
        return
    from .scoring import score_aligned, score_values, spectral_values

    def one_by_one():
        for pair, aligned in group:
            try:
                yield PairResult(pair, score=score_aligned(aligned, options, device).as_dict())
            except Exception as exc:  # noqa: BLE001
                yield PairResult(pair, error=error_text(exc))

    if options.localisation_only:  # nothing to stack: the model runs on each pair's own sets
        yield from one_by_one()
        return
    try:
        pred_t, ref_t = stacked_tensors([a for _, a in group], options, device)
        values = spectral_values(pred_t, ref_t, options)
    except Exception:  # noqa: BLE001 - fall back to one by one, which names the failing pair
        yield from one_by_one()
        return
    for b, (pair, aligned) in enumerate(group):
        try:
            row = {m: v[b] for m, v in values.items()}
            score = score_values(aligned, options, device, pred_t, ref_t, row, stacked=True)
            yield PairResult(pair, score=score.as_dict())
        except Exception as exc:  # noqa: BLE001
            yield PairResult(pair, error=error_text(exc))


def stacked_tensors(aligned: list, options, device):
    """:class:`~hrtfeval.represent.SetTensors` of the predictions and the references of
    ``aligned`` (equal :func:`stack_key`), stacked on a leading axis: ``(B, M, 2, N)``."""
    import numpy as np

    from .represent import SetTensors

    def stacked(sets):
        first = sets[0]
        return SetTensors(
            np.stack([s.data for s in sets]),
            first.domain,
            first.sampling_rate,
            first.frequencies,
            device,
            options.n_fft,
            first.path,
        )

    return (stacked([a.prediction for a in aligned]), stacked([a.reference for a in aligned]))


# ----------------------------------------------------------------------------------------------
# Entries, aggregate, the document


def batch_spec(
    options,
    device,
    source: dict[str, str],
    *,
    shard: str | None,
    pairs_total: int,
    ignore_unmatched: bool,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """The batch ``spec``: how every pair is scored (from the options alone) and the run.

    ``timeout_s``: the time limit of one pair (s; None = none), after which it is an error."""
    from . import __version__
    from .scoring import definitions

    thresholds = {m: t.to_spec(m) for m, t in options.thresholds}
    defs = definitions(options, options.domain or "time", None)
    if options.domain is None:
        for m in ("rmse", "mae"):
            if m in defs:
                defs[m] += (
                    "; domain per pair (time when both files hold impulse responses, "
                    "else magnitude): see each pair's spec.domain"
                )
    from .perceptual import localisation_spec

    spec = {
        "hrtfeval": __version__,
        "kind": "batch",
        "metrics": list(options.metrics),
        "preset": options.preset,
        "band_hz": [options.freq_min, options.freq_max],
        "n_fft": options.n_fft,
        "domain": options.domain,
        "reduction": options.reduction,
        "epsilon": options.epsilon,
        "itd_method": options.itd_method if "itd" in options.metrics else None,
        "tolerance_deg": options.tolerance_deg,
        "allow_missing": options.allow_missing,
        "length_policy": options.length_policy,
        "exclude_silent": options.exclude_silent,
        "max_memory_bytes": options.memory_limit,
        "thresholds": thresholds,
        "definitions": defs,
        "pairs_total": pairs_total,
        "shard": shard,
        "device": str(device),
        "source": source,
        "ignore_unmatched": ignore_unmatched,
        "timeout_s": timeout_s,
        "notes": [],
        **({"weighting": "area"} if options.weighting == "area" else {}),
        **({"bands": options.bands} if options.bands else {}),
        **(
            {"regions": list(options.regions), "region_tolerance_deg": options.region_tolerance}
            if options.regions
            else {}
        ),
        **({"exclude": options.exclude} if options.exclude else {}),
        **({"max_missing": options.max_missing} if options.allow_missing else {}),
        **({"ignore_delay": True} if options.ignore_delay else {}),
    }
    localisation = localisation_spec(options)
    if localisation is not None:
        spec["localisation"] = localisation
    return spec


def make_entry(result: PairResult) -> dict[str, Any]:
    """A pair's entry in the batch document (names relative, per-pair spec only)."""
    from .results import pair_names

    pair = result.pair
    names = pair_names(pair.prediction, pair.target)
    if result.score is None:
        return {**names, "error": result.error}
    spec = result.score["spec"]
    return {
        **names,
        "spec": {k: spec[k] for k in PAIR_SPEC_KEYS if k in spec},
        "scores": result.score["scores"],
        "passed": result.score["passed"],
        **{k: result.score[k] for k in EXTRA_KEYS if k in result.score},
    }


def stats(values: list[float]) -> dict[str, Any]:
    """mean / median / min / max / n of ``values`` (None when empty). ``math.fsum`` keeps the
    mean independent of the order pairs were merged in."""
    n = len(values)
    if not n:
        return {"mean": None, "median": None, "min": None, "max": None, "n": 0}
    return {
        "mean": math.fsum(values) / n,
        "median": float(statistics.median(values)),
        "min": min(values),
        "max": max(values),
        "n": n,
    }


def aggregate(entries: list[dict[str, Any]], metrics: Iterable[str]) -> dict[str, Any]:
    """Per metric, statistics of the pairs' overall values over the scored pairs."""
    out = {}
    for m in metrics:
        scored = [e["scores"][m] for e in entries if "scores" in e and m in e["scores"]]
        units = sorted({s["unit"] for s in scored})
        unit = units[0] if len(units) == 1 else ("mixed: " + ", ".join(units) if units else None)
        out[m] = {"unit": unit, **stats([s["overall"] for s in scored])}
        if any("baseline" in s for s in scored):  # localisation model: REF as the targets
            out[m]["baseline_mean"] = stats([s["baseline"] for s in scored])["mean"]
            out[m]["delta_mean"] = stats([s["delta"] for s in scored])["mean"]
    return out


def count(doc: dict[str, Any]) -> dict[str, int]:
    """The ``counts`` block of a batch document, from its pairs and unmatched lists."""
    entries = doc["pairs"]
    unmatched = doc.get("unmatched") or {}
    return {
        "pairs": len(entries),
        "scored": sum("scores" in e for e in entries),
        "errors": sum("error" in e for e in entries),
        "unmatched": len(unmatched.get("prediction", [])) + len(unmatched.get("target", [])),
        "failed": sum(e.get("passed") is False for e in entries),
        **(
            {"missing_shards": len(doc["spec"]["missing_shards"])}
            if doc.get("spec", {}).get("missing_shards")
            else {}
        ),
    }


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Recompute ``aggregate`` and ``counts`` (and the mixed-unit note) from the pairs, in place,
    keeping the documented key order."""
    metrics = doc["spec"]["metrics"]
    agg = aggregate(doc["pairs"], metrics)
    notes = [n for n in doc["spec"].get("notes", []) if not n.startswith("aggregate of ")]
    for m, a in agg.items():
        if a["unit"] and a["unit"].startswith("mixed"):
            notes.append(
                f"aggregate of {m} mixes pairs scored in different domains "
                f"({a['unit'][7:]}); set --domain to score all pairs alike"
            )
    doc["spec"]["notes"] = notes
    from .bands import aggregate_bands
    from .regions import aggregate_regions
    from .results import BatchDocument, PairEntry

    pairs = doc["pairs"]
    ordered = BatchDocument(
        doc["spec"],
        [PairEntry.from_dict(e) for e in pairs],
        doc.get("unmatched") or {"prediction": [], "target": []},
        agg,
        aggregate_regions(pairs) if any("regions" in e for e in pairs) else None,
        aggregate_bands(pairs) if any("bands" in e for e in pairs) else None,
        doc.get("regression"),
        "regression" in doc,
        count(doc),
    ).to_dict()
    doc.clear()
    doc.update(ordered)
    return doc


def run_batch(
    pair_list: PairList,
    options,
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
        The batch document (see the module docstring).

    Raises
    ------
    HrtfevalError
        When there is nothing to score (no pair at all, before sharding).
    """
    from .gates import annotate_pair, check_baseline_spec, regression_block

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
        if progress is not None:
            progress.start(len(pairs))
        for result in scorer.score(pairs):
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
        scorer.device,
        pair_list.source,
        shard=shard_text,
        pairs_total=len(pair_list.pairs),
        ignore_unmatched=ignore_unmatched,
        timeout_s=scorer.timeout,
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


def find_pairs(prediction: str | None, target: str | None, pairs_file: str | None) -> PairList:
    """The pairs of a batch run: ``--pairs FILE`` or two directories."""
    if pairs_file is not None:
        return read_pairs_csv(pairs_file)
    return pair_directories(prediction, target)


# ----------------------------------------------------------------------------------------------
# Merge


def comparable_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec without the keys that describe one run (device, source, shard, notes)."""
    return {k: v for k, v in spec.items() if k not in RUN_SPEC_KEYS}


def merge_documents(
    docs: list[dict[str, Any]],
    names: list[str],
    warn: Callable[[str], None] = lambda s: None,
    *,
    allow_missing_shards: bool = False,
) -> dict[str, Any]:
    """Combine batch documents (shards of one run) into one, aggregate and counts recomputed.

    Parameters
    ----------
    docs, names
        The documents and the files they came from (named in every error).
    warn : callable
        Called with a message when the documents scored different folders or pairs files.
    allow_missing_shards : bool
        Merge the shards that are there when some of the run's shards are missing. The merged
        document then names the present shards in ``spec.shard`` (``"1,3/4"``), the missing
        ones in ``spec.missing_shards`` and a note, and counts them in
        ``counts.missing_shards``.

    Raises
    ------
    HrtfevalError
        A document is not a batch document, the scoring specs differ, the shards come from runs
        of different sizes, a shard is given twice or holds fewer pairs than its share, a pair
        is in two documents, or (without ``allow_missing_shards``) a shard is missing.
    """
    from .gates import SCORING_SPEC_KEYS, spec_differences, validate_document
    from .results import BatchDocument, PairEntry

    if not docs:
        raise HrtfevalError("merge needs at least one batch document")
    for doc, name in zip(docs, names):
        validate_document(doc, name)
        if "pairs" not in doc:
            raise HrtfevalError("is a single-pair document; merge takes batch documents", name)
    batches = [BatchDocument.from_dict(doc) for doc in docs]
    first = comparable_spec(batches[0].spec)
    for other, name in zip(batches[1:], names[1:]):
        keys = spec_differences(first, comparable_spec(other.spec))
        if keys:
            what = "definitions" if set(keys) & set(SCORING_SPEC_KEYS) else "options"
            raise HrtfevalError(
                f"was scored with other {what} than {names[0]} (spec differs in "
                f"{', '.join(keys)}); merge only shards of one run",
                name,
            )
    shards = [d.shard for d in batches]
    shard_text, missing_shards = None, []
    if any(s is not None for s in shards):
        if any(s is None for s in shards):
            whole = [name for s, name in zip(shards, names) if s is None]
            part = [name for s, name in zip(shards, names) if s is not None]
            raise HrtfevalError(
                f"some documents are shards (--shard: {', '.join(part[:3])}) and some are not "
                f"({', '.join(whole[:3])}); merge the shards of one run"
            )
        parsed = [parse_shard_set(str(s), name) for s, name in zip(shards, names)]
        n = parsed[0][1]
        if any(p[1] != n for p in parsed):
            raise HrtfevalError(
                "the shards split the run differently: "
                + ", ".join(sorted({str(s) for s in shards}))
                + " ("
                + ", ".join(f"{name}: {s}" for s, name in zip(shards, names))
                + ")"
            )
        total = batches[0].spec.get("pairs_total")
        seen: dict[int, str] = {}
        for (ks, _), shard_doc, name in zip(parsed, batches, names):
            for k in sorted(ks):
                if k in seen:
                    raise HrtfevalError(f"shard {k}/{n} is given twice: {seen[k]} and {name}")
                seen[k] = name
            if isinstance(total, int):
                expected = sum(shard_size(k, n, total) for k in ks)
                if len(shard_doc.pairs) != expected:
                    raise HrtfevalError(
                        f"holds {len(shard_doc.pairs)} pair(s), but shard {shard_doc.shard} of "
                        f"a run of {total} pairs has {expected}: the document is incomplete",
                        name,
                    )
        missing_shards = [f"{k}/{n}" for k in range(1, n + 1) if k not in seen]
        if missing_shards:
            covered = sum(len(d.pairs) for d in batches)
            message = (
                f"shard(s) {', '.join(missing_shards)} missing: the documents cover {covered} "
                f"of {total} pairs"
            )
            if not allow_missing_shards:
                raise HrtfevalError(
                    f"{message}; merge every shard, or pass --allow-missing-shards to merge "
                    "these (the merged document then records the missing shards)"
                )
            shard_text = ",".join(str(k) for k in sorted(seen)) + f"/{n}"
    where: dict[tuple[str, str], str] = {}
    entries: list[PairEntry] = []
    for batch, name in zip(batches, names):
        for e in batch.pairs:
            key = e.key
            if key in where:
                raise HrtfevalError(
                    f"the pair {key[0]}, {key[1]} is in {where[key]} and in "
                    f"{name}: the documents overlap"
                )
            where[key] = name
            entries.append(e)
    entries.sort(key=lambda e: e.key)
    sources = {str(d.spec.get("source")) for d in batches}
    if len(sources) > 1:
        warn("the documents scored different folders or pairs files: " + "; ".join(sorted(sources)))
    spec = dict(batches[0].spec)
    spec["shard"] = shard_text
    spec.pop("missing_shards", None)
    spec["notes"] = [n for n in spec.get("notes", []) if not n.startswith("shard(s) ")]
    if missing_shards:
        spec["missing_shards"] = missing_shards
        spec["notes"].append(
            f"shard(s) {', '.join(missing_shards)} missing (--allow-missing-shards): "
            f"{sum(len(d.pairs) for d in batches)} of {spec.get('pairs_total')} pairs scored"
        )
    devices = sorted({str(d.spec.get("device")) for d in batches})
    spec["device"] = devices[0] if len(devices) == 1 else ", ".join(devices)
    spec["ignore_unmatched"] = all(d.spec.get("ignore_unmatched") for d in batches)
    unmatched = {
        side: sorted({f for d in batches for f in d.unmatched.get(side, [])})
        for side in ("prediction", "target")
    }
    pairs = [e.to_dict() for e in entries]
    merged = {"spec": spec, "pairs": pairs, "unmatched": unmatched}
    regs = [d.regression for d in batches]
    if any(r is not None for r in regs):
        configs = {
            None if r is None else (r.get("baseline"), tuple(sorted(r.get("max", {}).items())))
            for r in regs
        }
        if len(configs) > 1:
            shown = "; ".join(
                f"{name}: "
                + (
                    "no baseline"
                    if r is None
                    else f"baseline {r.get('baseline')}, --max-regression {r.get('max') or {}}"
                )
                for r, name in zip(regs, names)
            )
            raise HrtfevalError(
                "the documents were compared with different baselines or "
                f"--max-regression limits (or some with none): {shown}"
            )
        from .gates import regression_block

        first_reg = regs[0] or {}  # every document has one (the configurations agree)
        merged["regression"] = regression_block(pairs, first_reg["baseline"], first_reg["max"])
    return finish(merged)
