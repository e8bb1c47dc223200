""":class:`SOFAFolder`: any folder of per-subject SOFA (or ``.pt``) files as a dataset."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import HrtfevalError
from .base import DEFAULT_CACHE_SIZE, HRTFDataset
from .checks import (
    check_dataset_args,
    parse_ids,
    verify_checksums,
)
from .spec import HRTFSpec
from .splits import natural_key

__all__ = ["SOFAFolder"]


class SOFAFolder(HRTFDataset):
    """Any folder of per-subject SOFA (or ``.pt``) files; the subject id comes from the name.

    Parameters
    ----------
    root : path
    pattern : str, default "*.sofa"
        Glob relative to ``root`` (``**`` and ``/`` allowed). The subject id is the file name
        without extension, or, when the pattern holds ``{subject}``, the part of the relative
        path that matches it (e.g. ``"{subject}/hrtf.sofa"``, ``"sub-{subject}_hrir.sofa"``).
    subject_ids, exclude_subject_ids, inputs, target, split, split_ratio, split_seed, cache_size,
    verify_checksum
        As for :class:`~hrtfeval.datasets.HUTUBS`.
    """

    database = "SOFAFolder"

    def __init__(
        self,
        root: str | os.PathLike,
        pattern: str = "*.sofa",
        *,
        subject_ids: Sequence[str] | None = None,
        exclude_subject_ids: Sequence[str] | None = None,
        verify_checksum: bool = False,
        inputs: HRTFSpec | Sequence[HRTFSpec] | None = None,
        target: HRTFSpec | Sequence[HRTFSpec] | None = None,
        split: str = "all",
        split_ratio: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        cache_size: int | None = DEFAULT_CACHE_SIZE,
    ) -> None:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError(f"pattern must be a non-empty glob string; got {pattern!r}")
        ins, tgt, split, ratio, seed, cache = check_dataset_args(
            inputs, target, split, split_ratio, split_seed, cache_size
        )

        def as_id(v: Any, what: str) -> str:
            if not isinstance(v, str) or not v:
                raise ValueError(f"{what} must hold non-empty strings; got {v!r}")
            return v

        ids = parse_ids(subject_ids, "subject_ids", as_id)
        excluded = parse_ids(exclude_subject_ids, "exclude_subject_ids", as_id) or []
        base = Path(root)
        if not base.is_dir():
            raise HrtfevalError("is not a directory", str(root))
        found = _scan_pattern(base, pattern)
        self.pattern = pattern
        self._setup(
            base, found, ids, excluded, ins, tgt, split, ratio, seed, cache,
            f"pattern {pattern!r}",
        )  # fmt: skip
        if verify_checksum:
            verify_checksums(base, [self.relative_reference(s) for s in self.subject_ids], {})


def _scan_pattern(root: Path, pattern: str) -> dict[str, Path]:
    if "{subject}" in pattern:
        glob = pattern.replace("{subject}", "*")
        parts = [re.escape(p) for p in pattern.split("{subject}")]
        regex = re.compile(
            "(?P<subject>[^/]+)".join(
                p.replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
                for p in parts
            )
            + r"\Z"
        )
    else:
        glob, regex = pattern, None
    found: dict[str, Path] = {}
    for path in sorted(root.glob(glob), key=lambda p: natural_key(p.as_posix())):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(root).as_posix()
        if regex is None:
            sid = path.stem
        else:
            m = regex.match(rel)
            if m is None:
                continue
            sid = m.group("subject")
        if sid in found:
            raise HrtfevalError(
                f"subject {sid!r} matches two files, {found[sid].relative_to(root).as_posix()} "
                f"and {rel}; narrow the pattern {pattern!r}",
                str(root),
            )
        found[sid] = path
    return found
