"""The checks a dataset constructor runs on its arguments (specs, split, cache size, subject
ids) and on its files (checksums against ``SHA256SUMS``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .download import MANIFEST, verify_files
from .spec import HRTFSpec
from .splits import SPLITS, check_split_ratio

_SHOWN = 5


def _shown(items: Sequence[str]) -> str:
    more = f" ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def check_specs(value: Any, what: str, required: bool) -> tuple[HRTFSpec, ...]:
    """``inputs`` / ``target``: one HRTFSpec or a sequence of them (unique names)."""
    if value is None:
        if required:
            return (HRTFSpec(),)
        return ()
    specs = (value,) if isinstance(value, HRTFSpec) else value
    try:
        specs = tuple(specs)
    except TypeError:
        specs = ()
    if not specs or not all(isinstance(s, HRTFSpec) for s in specs):
        raise ValueError(f"{what} must be an HRTFSpec or a sequence of HRTFSpec; got {value!r}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"{what} specs need distinct names; got {names}")
    return specs


def check_spec_rows(specs: Sequence[HRTFSpec]) -> None:
    """Every spec must index the same rows (a sample holds one row of each)."""
    first = specs[0]
    for spec in specs[1:]:
        if spec.index_by != first.index_by:
            raise ValueError(
                f"inputs and target specs must share index_by (one sample is one row of each); "
                f"got {first.index_by!r} ({first.name!r}) and {spec.index_by!r} ({spec.name!r})"
            )
        if "position" in first.index_by and spec.positions != first.positions:
            raise ValueError(
                "specs indexed by position must select the same positions; got "
                f"{first.positions!r} ({first.name!r}) and {spec.positions!r} ({spec.name!r})"
            )
        if "ear" in first.index_by and spec.ears != first.ears:
            raise ValueError(
                "specs indexed by ear must select the same ears; got "
                f"{first.ears!r} ({first.name!r}) and {spec.ears!r} ({spec.name!r})"
            )


def check_split_args(split: Any, split_ratio: Any, split_seed: Any) -> tuple[str, tuple, int]:
    if not isinstance(split, str) or split.strip().lower() not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}; got {split!r}")
    ratio = check_split_ratio(split_ratio)
    if (
        isinstance(split_seed, bool)
        or not isinstance(split_seed, (int, np.integer))
        or split_seed < 0
    ):
        raise ValueError(f"split_seed must be an integer >= 0; got {split_seed!r}")
    return split.strip().lower(), ratio, int(split_seed)


def check_cache_size(cache_size: Any) -> int | None:
    if cache_size is None:
        return None
    if (
        isinstance(cache_size, bool)
        or not isinstance(cache_size, (int, np.integer))
        or cache_size < 1
    ):
        raise ValueError(
            f"cache_size must be an integer >= 1 (subjects kept in memory) or None (all); got "
            f"{cache_size!r}"
        )
    return int(cache_size)


def check_dataset_args(
    inputs: Any,
    target: Any,
    split: Any,
    split_ratio: Any,
    split_seed: Any,
    cache_size: Any,
) -> tuple[tuple[HRTFSpec, ...], tuple[HRTFSpec, ...], str, tuple, int, int | None]:
    """The arguments every dataset takes, checked in this order (the first bad one raises
    ``ValueError``): ``(inputs, target, split, split_ratio, split_seed, cache_size)``."""
    ins = check_specs(inputs, "inputs", required=True)
    tgt = check_specs(target, "target", required=False)
    check_spec_rows(ins + tgt)
    split, ratio, seed = check_split_args(split, split_ratio, split_seed)
    return ins, tgt, split, ratio, seed, check_cache_size(cache_size)


def verify_checksums(root: Path, relative_paths: Iterable[str], downloaded: dict[str, str]) -> None:
    """``verify_checksum=True``: check against ``SHA256SUMS``, record downloads, warn about
    files that could not be checked."""
    from .download import read_manifest, update_manifest

    rels = list(dict.fromkeys(list(relative_paths) + list(downloaded)))
    had_manifest = read_manifest(root) is not None
    unlisted = verify_files(root, rels, downloaded)
    new = {rel: downloaded[rel] for rel in unlisted if rel in downloaded}
    if new:
        update_manifest(root, new)
    unchecked = [rel for rel in unlisted if rel not in downloaded]
    if unchecked:
        why = f"not listed in {MANIFEST}" if had_manifest else f"there is no {MANIFEST} in the root"
        warnings.warn(
            f"{root}: verify_checksum=True, but {len(unchecked)} file(s) could not be checked "
            f"({why}): {_shown(unchecked)}",
            stacklevel=3,
        )


def parse_ids(value: Any, what: str, normalise) -> list[str] | None:
    """A sequence of subject ids (str or int) -> normalised, de-duplicated list; None stays."""
    if value is None:
        return None
    if isinstance(value, (str, int, np.integer)):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{what} must be a sequence of subject ids; got {value!r}") from None
    out = [normalise(v, what) for v in items]
    return list(dict.fromkeys(out))
