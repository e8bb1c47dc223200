"""Batch scoring: pair files, pick a shard, score the pairs as a stream, aggregate, merge shards.

Data flows one way::

    find_pairs()  ->  PairList (sorted pairs + unmatched files)              pairing.py
    select_shard()    every N-th pair, for job arrays                          shards.py
    score_stream()    PairResult per pair, in order (worker processes read     runner.py,
                      + align + score; on a GPU, stacked batches)              jobs.py, stacked.py
    make_entry()      the pair's JSON entry (relative names, per-pair spec)    document.py
    finish()          aggregate, counts and the checks (thresholds, baseline)  document.py

:func:`run_batch` (runner.py) runs the whole chain; :func:`merge_documents` (document.py)
combines the documents of the shards of one run.

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

from ..gates import RUN_SPEC_KEYS
from .document import (
    EXTRA_KEYS,
    PAIR_SPEC_KEYS,
    aggregate,
    batch_spec,
    comparable_spec,
    count,
    finish,
    make_entry,
    merge_documents,
    stats,
)
from .jobs import PairResult, error_text, keep_heap_memory
from .pairing import (
    EXPECTED_TARGETS_FILE,
    SUFFIXES,
    Pair,
    PairList,
    find_pairs,
    pair_directories,
    pair_key,
    read_expected_targets,
    read_pairs_csv,
    scan_directory,
)
from .runner import (
    DEFAULT_BATCH_SIZE,
    MAX_DEFAULT_WORKERS,
    BatchScorer,
    WorkerPool,
    check_workers,
    default_workers,
    ordered_map,
    run_batch,
    score_stream,
)
from .shards import parse_shard, parse_shard_set, select_shard, shard_size
from .stacked import score_group, stack_key, stacked_tensors

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EXPECTED_TARGETS_FILE",
    "EXTRA_KEYS",
    "MAX_DEFAULT_WORKERS",
    "PAIR_SPEC_KEYS",
    "RUN_SPEC_KEYS",
    "SUFFIXES",
    "BatchScorer",
    "Pair",
    "PairList",
    "PairResult",
    "WorkerPool",
    "aggregate",
    "batch_spec",
    "check_workers",
    "comparable_spec",
    "count",
    "default_workers",
    "error_text",
    "find_pairs",
    "finish",
    "keep_heap_memory",
    "make_entry",
    "merge_documents",
    "ordered_map",
    "pair_directories",
    "pair_key",
    "parse_shard",
    "parse_shard_set",
    "read_expected_targets",
    "read_pairs_csv",
    "run_batch",
    "scan_directory",
    "score_group",
    "score_stream",
    "select_shard",
    "shard_size",
    "stack_key",
    "stacked_tensors",
    "stats",
]
