"""Shards: every N-th pair of a run, for job arrays (``--shard K/N``)."""

from __future__ import annotations

from ..errors import HrtfevalError

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
