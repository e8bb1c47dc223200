"""What the database datasets share: ids, file names and layouts, variants, servers, download.

:class:`_Database` is the constructor of :class:`~hrtfeval.datasets.HUTUBS`,
:class:`~hrtfeval.datasets.SONICOM` and :class:`~hrtfeval.datasets.ARI`
(:mod:`hrtfeval.datasets.databases`), which fill in its class attributes and name rules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import HrtfevalError
from .base import DEFAULT_CACHE_SIZE, HRTFDataset
from .checks import (
    check_dataset_args,
    parse_ids,
    verify_checksums,
)
from .download import download_file, file_url
from .spec import HRTFSpec

#: What hrtfeval downloads: the HRTF files (not meshes, anthropometry or headphone IRs).
DOWNLOAD_RESOURCES = ("hrtf",)
_ALL_VARIANTS = "all"


class _Database(HRTFDataset):
    """Shared constructor of the database datasets (see :class:`HUTUBS` for the arguments)."""

    #: ``{server name: base URL}``; the file's official relative path is appended to it.
    servers: ClassVar[dict[str, str]] = {}
    default_server: ClassVar[str] = ""
    #: HRTF variants (canonical spelling) and the default one.
    variants: ClassVar[tuple[str, ...]] = ()
    default_variant: ClassVar[str] = ""
    #: ``r"..."`` with one group: the subject number in an id like ``pp12``.
    id_regex: ClassVar[str] = ""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        download: bool = False,
        download_resources: str | Sequence[str] = "hrtf",
        download_hrtf_variant: str | None = None,
        download_server: str | None = None,
        download_url: str | None = None,
        dataset_hrtf_variant: str | None = None,
        download_subject_ids: Sequence[Any] | None = None,
        subject_ids: Sequence[Any] | None = None,
        exclude_subject_ids: Sequence[Any] | None = None,
        verify_checksum: bool = False,
        inputs: HRTFSpec | Sequence[HRTFSpec] | None = None,
        target: HRTFSpec | Sequence[HRTFSpec] | None = None,
        split: str = "all",
        split_ratio: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        cache_size: int | None = DEFAULT_CACHE_SIZE,
        **options: Any,
    ) -> None:
        # Every argument is checked before the disk or the network is touched.
        self._set_options(**options)
        ins, tgt, split, ratio, seed, cache = check_dataset_args(
            inputs, target, split, split_ratio, split_seed, cache_size
        )
        variant = self._variant(dataset_hrtf_variant, "dataset_hrtf_variant")
        self.variant = variant
        ids = parse_ids(subject_ids, "subject_ids", self.normalise_id)
        excluded = parse_ids(exclude_subject_ids, "exclude_subject_ids", self.normalise_id) or []
        for flag, name in ((download, "download"), (verify_checksum, "verify_checksum")):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False; got {flag!r}")
        _check_resources(download_resources)
        if download_hrtf_variant is None:
            download_variants = [variant]
        elif isinstance(download_hrtf_variant, str) and download_hrtf_variant.strip().lower() in (
            _ALL_VARIANTS,
            "both",
        ):
            download_variants = list(self.variants)
        else:
            download_variants = [self._variant(download_hrtf_variant, "download_hrtf_variant")]
        base_url = self._base_url(download_server, download_url)
        wanted = parse_ids(download_subject_ids, "download_subject_ids", self.normalise_id)
        if download and wanted is None:
            wanted = ids if ids is not None else self.known_subject_ids()
            if wanted is None:
                raise ValueError(
                    f"download=True needs download_subject_ids (or subject_ids): {self.database} "
                    "has no fixed list of subject ids to download"
                )
            wanted = [s for s in wanted if s not in set(excluded)]

        root = Path(root)
        downloaded: dict[str, str] = {}
        if download:
            assert wanted is not None, "download=True: the subjects to download are known"
            downloaded = self._download(root, wanted, download_variants, base_url)
        if not root.is_dir():
            raise HrtfevalError(
                f"is not a directory; expected a local copy of {self.database} (or pass "
                "download=True)",
                str(root),
            )
        found = self._scan(root, variant)
        self._setup(
            root, found, ids, excluded, ins, tgt, split, ratio, seed, cache,
            f"looked for {self.describe_layout(variant)}",
        )  # fmt: skip
        if verify_checksum:
            used = [self.relative_reference(s) for s in self.subject_ids]
            verify_checksums(root, used, downloaded)

    # -- per-database hooks ------------------------------------------------------------------

    def _set_options(self, **options: Any) -> None:
        if options:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s): "
                + ", ".join(sorted(options))
            )

    @classmethod
    def normalise_id(cls, value: Any, what: str = "subject id") -> str:
        """``12``, ``"pp12"``, ``"PP12"`` -> the database's spelling (``"pp12"``)."""
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
            return cls._format_id(int(value))
        if isinstance(value, str):
            m = re.fullmatch(cls.id_regex, value.strip(), flags=re.IGNORECASE)
            if m is not None and int(m.group(1)) >= 1:
                return cls._format_id(int(m.group(1)))
        raise ValueError(
            f"{what}: {value!r} is not a {cls.database} subject id; expected "
            f"{cls.id_example()} (or its number)"
        )

    @classmethod
    def _format_id(cls, number: int) -> str:
        raise NotImplementedError

    @classmethod
    def id_example(cls) -> str:
        raise NotImplementedError

    def known_subject_ids(self) -> list[str] | None:
        """Every subject of the database, when the list is fixed (what download=True fetches
        by default)."""
        return None

    def file_name(self, subject_id: str, variant: str) -> str:
        raise NotImplementedError

    def official_path(self, subject_id: str, variant: str) -> str:
        """Relative path on the server and in a complete local copy."""
        return self.file_name(subject_id, variant)

    def name_regex(self, variant: str) -> str:
        """Regex of the file name, one group = the subject number."""
        raise NotImplementedError

    def describe_layout(self, variant: str) -> str:
        example = self.file_name(self._format_id(1), variant)
        return f"{example} ... at the root or in one folder per subject"

    # -- shared machinery --------------------------------------------------------------------

    @classmethod
    def _variant(cls, value: Any, what: str) -> str:
        if value is None:
            return cls.default_variant
        if isinstance(value, str):
            key = value.strip().lower().replace(" ", "_")
            for v in cls.variants:
                if v.lower().replace(" ", "_") == key:
                    return v
        raise ValueError(
            f"{what} must be one of {', '.join(map(repr, cls.variants))} for "
            f"{cls.database}; got {value!r}"
        )

    @classmethod
    def _base_url(cls, server: Any, url: Any) -> str:
        if server is None:
            server = cls.default_server
        if not isinstance(server, str) or server.strip().lower() not in cls.servers:
            raise ValueError(
                f"download_server must be one of {', '.join(map(repr, cls.servers))} for "
                f"{cls.database}; got {server!r}"
            )
        if url is None:
            return cls.servers[server.strip().lower()]
        if not isinstance(url, str) or not re.match(r"(?i)(https?|file)://", url):
            raise ValueError(f"download_url must be an http(s):// or file:// URL; got {url!r}")
        return url

    def candidates(self, subject_id: str, variant: str) -> list[str]:
        """Relative paths where a local copy may keep the subject's file, in preference order."""
        name = self.file_name(subject_id, variant)
        paths = [self.official_path(subject_id, variant), name, f"{subject_id}/{name}"]
        return list(dict.fromkeys(paths))

    def _find(self, root: Path, subject_id: str, variant: str) -> Path | None:
        for rel in self.candidates(subject_id, variant):
            path = root / rel
            if path.is_file():
                return path
        return None

    def _scan(self, root: Path, variant: str) -> dict[str, Path]:
        """``{subject id: file}`` of every subject with a file of ``variant`` under ``root``."""
        regex = re.compile(self.name_regex(variant) + r"\Z")
        numbers: set[int] = set()
        for folder in [root] + sorted(p for p in root.iterdir() if p.is_dir()):
            for path in folder.iterdir():
                m = regex.match(path.name)
                if m is not None:
                    numbers.add(int(m.group(1)))
        # The official nested layout (SONICOM) below the subject folders.
        official_dir = Path(self.official_path(self._format_id(1), variant)).parent
        if len(official_dir.parts) > 1:
            for sub in root.iterdir():
                nested = sub / Path(*official_dir.parts[1:])
                if nested.is_dir():
                    for path in nested.iterdir():
                        m = regex.match(path.name)
                        if m is not None:
                            numbers.add(int(m.group(1)))
        found = {}
        for number in numbers:
            sid = self._format_id(number)
            file = self._find(root, sid, variant)
            if file is not None:
                found[sid] = file
        return found

    def _download(
        self, root: Path, subject_ids: list[str], variants: list[str], base_url: str
    ) -> dict[str, str]:
        """Fetch the missing files; ``{relative path: sha256}`` of the files downloaded."""
        done: dict[str, str] = {}
        for sid in subject_ids:
            for variant in variants:
                if root.is_dir() and self._find(root, sid, variant) is not None:
                    continue
                rel = self.official_path(sid, variant)
                done[rel] = download_file(file_url(base_url, rel), root / rel)
        return done


def _check_resources(value: Any) -> None:
    items = [value] if isinstance(value, str) else value
    try:
        items = [str(v).strip().lower() for v in items]
    except TypeError:
        items = []
    if not items or any(v not in DOWNLOAD_RESOURCES for v in items):
        raise ValueError(
            f"download_resources must be {', '.join(map(repr, DOWNLOAD_RESOURCES))} (hrtfeval "
            f"downloads the HRTF files only); got {value!r}"
        )
