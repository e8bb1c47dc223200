"""Subject ids: natural order, and the train / validation / test split by subject.

The split is hrtfpykit's: the subjects in natural order (pp1, pp2, ..., pp10) are permuted with
``numpy.random.default_rng(seed).permutation(n)``; split k gets ``floor(n * ratio[k])``
subjects, the subjects left over go one each to the splits with the largest fractional parts
(ties to the earlier split); the permuted list is cut into train, then validation, then test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "SPLITS",
    "DEFAULT_SPLIT_RATIO",
    "natural_key",
    "natural_sorted",
    "split_counts",
    "split_subjects",
]

SPLITS = ("all", "train", "validation", "test")
DEFAULT_SPLIT_RATIO = (0.8, 0.1, 0.1)
# n * ratio within this of an integer counts as that integer (0.29 * 100 is 28.999999999999996).
_COUNT_SLACK = 1e-9
_RATIO_SUM_TOLERANCE = 1e-6


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value: pp2 < pp10, P0009 < P0010."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", text)
        if part
    )


def natural_sorted(ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=natural_key)


def check_split_ratio(split_ratio: Any) -> tuple[float, float, float]:
    """Three finite ratios >= 0 that sum to 1, else ValueError."""
    try:
        values = tuple(float(r) for r in split_ratio)
    except (TypeError, ValueError):
        values = ()
    if (
        len(values) != 3
        or not all(math.isfinite(v) and v >= 0.0 for v in values)
        or abs(sum(values) - 1.0) > _RATIO_SUM_TOLERANCE
    ):
        raise ValueError(
            "split_ratio must be three numbers >= 0 (train, validation, test) that sum to 1; "
            f"got {split_ratio!r}"
        )
    return values


def split_counts(n: int, split_ratio: Sequence[float]) -> tuple[int, int, int]:
    """Subjects per split: floors of ``n * ratio``, the rest to the largest fractional parts."""
    exact = [n * r for r in split_ratio]
    counts = [math.floor(x + _COUNT_SLACK) for x in exact]
    fractions = [max(x - c, 0.0) for x, c in zip(exact, counts)]
    # sorted() is stable: equal fractional parts keep the earlier split first.
    order = sorted(range(3), key=lambda k: -fractions[k])
    for k in order[: n - sum(counts)]:
        counts[k] += 1
    return counts[0], counts[1], counts[2]


def split_subjects(
    subject_ids: Sequence[str],
    split: str,
    split_ratio: Sequence[float] = DEFAULT_SPLIT_RATIO,
    split_seed: int = 0,
) -> list[str]:
    """The subjects of one split, in the permuted order (``"all"``: natural order).

    Parameters
    ----------
    subject_ids : sequence of str
        The dataset's subjects; put in natural order here before permuting.
    split : {"all", "train", "validation", "test"}
    split_ratio : (train, validation, test)
    split_seed : int
        Seed of ``numpy.random.default_rng``.

    Raises
    ------
    ValueError
        Unknown split, bad ratio or seed, or a split without subjects.
    """
    ordered = natural_sorted(subject_ids)
    if split == "all":
        return ordered
    n = len(ordered)
    counts = split_counts(n, split_ratio)
    permutation = np.random.default_rng(split_seed).permutation(n)
    start = {"train": 0, "validation": counts[0], "test": counts[0] + counts[1]}[split]
    count = counts[SPLITS.index(split) - 1]
    chosen = [ordered[int(i)] for i in permutation[start : start + count]]
    if not chosen:
        raise ValueError(
            f"split {split!r} has no subjects: {n} subject(s) with split_ratio "
            f"{tuple(split_ratio)} give train/validation/test counts {counts}; select more "
            "subjects or change split_ratio"
        )
    return chosen
