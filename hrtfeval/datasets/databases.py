"""The public HRTF databases: HUTUBS, SONICOM, ARI (local copies, optional download).

Each database knows its subject ids, the official file name of each HRTF variant, and where
the files are published. A local copy may keep the official file names at its root, one folder
per subject (``root/<subject>/<file>``), or (SONICOM) the official nested layout. The public
locations below are defaults, overridable with ``download_url=``: they follow the documented
URL patterns of those servers and could not be checked from the machine this was written on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import HrtfevalError
from .base import DEFAULT_CACHE_SIZE, HRTFDataset
from .checks import (
    check_cache_size,
    check_spec_rows,
    check_specs,
    check_split_args,
    parse_ids,
    verify_checksums,
)
from .download import download_file, file_url
from .spec import HRTFSpec

__all__ = ["HUTUBS", "SONICOM", "ARI", "DOWNLOAD_RESOURCES"]

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
        ins = check_specs(inputs, "inputs", required=True)
        tgt = check_specs(target, "target", required=False)
        check_spec_rows(ins + tgt)
        split, ratio, seed = check_split_args(split, split_ratio, split_seed)
        cache = check_cache_size(cache_size)
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
            path = self._find(root, sid, variant)
            if path is not None:
                found[sid] = path
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


class HUTUBS(_Database):
    """The HUTUBS HRTF database (TU Berlin): 96 subjects, measured and simulated HRIRs.

    Files ``pp{N}_HRIRs_measured.sofa`` / ``pp{N}_HRIRs_simulated.sofa`` (N = 1..96), at the
    root of ``root`` or in ``root/pp{N}/``. Published on the TU Berlin repository DepositOnce
    (as a zip archive) and, file by file, on the sofacoustics server, which ``download=True``
    uses: ``https://sofacoustics.org/data/database/hutubs/pp{N}_HRIRs_measured.sofa``.

    Parameters
    ----------
    root : path
        The local copy (created by ``download=True`` when missing).
    download : bool, default False
        Fetch the files of ``download_subject_ids`` that are not in ``root`` (none are fetched,
        and the network is not used, when all are there). Each file goes to ``<name>.part``,
        renamed when complete; progress on stderr.
    download_resources : "hrtf"
        Only the HRTF files are downloaded.
    download_hrtf_variant : {"measured", "simulated", "all"}, optional
        Default: ``dataset_hrtf_variant``.
    download_server : {"sofacoustics"}, optional
    download_url : str, optional
        Base URL replacing the server's (the file name is appended; or a template with
        ``{filename}`` / ``{path}``), e.g. a mirror or a local ``file://`` copy.
    dataset_hrtf_variant : {"measured", "simulated"}, default "measured"
        The files the samples are read from.
    download_subject_ids : sequence, optional
        Default: ``subject_ids``, else every subject (pp1..pp96) but the excluded ones.
    subject_ids : sequence of str or int, optional
        ``"pp1"`` or ``1``; default: every subject with a file in ``root``. Put in natural order.
    exclude_subject_ids : sequence, optional
    verify_checksum : bool, default False
        Check the files read (and the ones downloaded) against ``root/SHA256SUMS`` (format of
        ``sha256sum``); downloaded files are added to it. A mismatch is an error naming the file;
        files the manifest does not list are named in a warning.
    inputs : HRTFSpec or sequence of HRTFSpec, default HRTFSpec()
    target : HRTFSpec or sequence of HRTFSpec, optional
    split : {"all", "train", "validation", "test"}, default "all"
    split_ratio : (train, validation, test), default (0.8, 0.1, 0.1)
    split_seed : int, default 0
    cache_size : int or None, default 16
        Subjects whose signals stay in memory (None: all).

    Raises
    ------
    ValueError
        A bad argument (unknown option, bad id, incompatible specs, an empty split).
    HrtfevalError
        A missing or unreadable file, a failed download, a checksum mismatch.
    """

    database = "HUTUBS"
    servers = {"sofacoustics": "https://sofacoustics.org/data/database/hutubs"}
    default_server = "sofacoustics"
    variants = ("measured", "simulated")
    default_variant = "measured"
    id_regex = r"pp(\d+)"
    #: Subjects pp1..pp96.
    N_SUBJECTS = 96

    @classmethod
    def normalise_id(cls, value: Any, what: str = "subject id") -> str:
        sid = super().normalise_id(value, what)
        if int(sid[2:]) > cls.N_SUBJECTS:
            raise ValueError(
                f"{what}: {value!r} is not a HUTUBS subject; the subjects are pp1 ... "
                f"pp{cls.N_SUBJECTS}"
            )
        return sid

    @classmethod
    def _format_id(cls, number: int) -> str:
        return f"pp{number}"

    @classmethod
    def id_example(cls) -> str:
        return "'pp1' ... 'pp96'"

    def known_subject_ids(self) -> list[str]:
        return [f"pp{i}" for i in range(1, self.N_SUBJECTS + 1)]

    def file_name(self, subject_id: str, variant: str) -> str:
        return f"{subject_id}_HRIRs_{variant}.sofa"

    def name_regex(self, variant: str) -> str:
        return rf"pp(\d+)_HRIRs_{variant}\.sofa"


class SONICOM(_Database):
    """The SONICOM HRTF dataset (Imperial College London).

    Files ``P{NNNN}_{version}_{rate}kHz.sofa`` with version Raw, Windowed, FreeFieldComp or
    FreeFieldCompMinPhase (each also with ``_NoITD``) and rate 44, 48 or 96, in the official
    layout ``root/P{NNNN}/HRTF/HRTF/{rate}kHz/``, at the root, or in ``root/P{NNNN}/``.

    Arguments as :class:`HUTUBS`, plus ``sampling_rate`` (44100, 48000 or 96000 Hz; 44, 48 or 96
    are read as kHz; default 48000) choosing the files. ``dataset_hrtf_variant`` is the version
    (default ``"FreeFieldComp"``). Subject ids are ``"P0001"`` or ``1``. ``download=True``
    needs ``download_subject_ids`` (or ``subject_ids``) and fetches
    ``<server>/P{NNNN}/HRTF/HRTF/{rate}kHz/<file>`` from the dataset's public file server (the
    default ``download_server="sonicom"``); set ``download_url`` to the address the dataset's
    site gives you.
    """

    database = "SONICOM"
    servers = {"sonicom": "https://transfer.ic.ac.uk:9090/2022_SONICOM-HRTF-DATASET"}
    default_server = "sonicom"
    variants = tuple(
        v + suffix
        for v in ("Raw", "Windowed", "FreeFieldComp", "FreeFieldCompMinPhase")
        for suffix in ("", "_NoITD")
    )
    default_variant = "FreeFieldComp"
    id_regex = r"p(\d+)"
    #: The sampling rates of the published files, in Hz, and their spelling in file names.
    RATES = {44100: 44, 48000: 48, 96000: 96}

    def _set_options(self, sampling_rate: Any = 48000, **options: Any) -> None:
        super()._set_options(**options)
        rate = None
        if isinstance(sampling_rate, (int, float, np.integer, np.floating)) and not isinstance(
            sampling_rate, bool
        ):
            rate = float(sampling_rate)
            if rate in (44.0, 48.0, 96.0):
                rate = {44.0: 44100.0, 48.0: 48000.0, 96.0: 96000.0}[rate]
        if rate not in self.RATES:
            raise ValueError(
                "sampling_rate must be 44100, 48000 or 96000 (Hz) for SONICOM; got "
                f"{sampling_rate!r}"
            )
        self.sampling_rate = int(rate)
        self._khz = self.RATES[int(rate)]

    @classmethod
    def _format_id(cls, number: int) -> str:
        return f"P{number:04d}"

    @classmethod
    def id_example(cls) -> str:
        return "'P0001'"

    def file_name(self, subject_id: str, variant: str) -> str:
        return f"{subject_id}_{variant}_{self._khz}kHz.sofa"

    def official_path(self, subject_id: str, variant: str) -> str:
        return f"{subject_id}/HRTF/HRTF/{self._khz}kHz/{self.file_name(subject_id, variant)}"

    def name_regex(self, variant: str) -> str:
        return rf"P(\d+)_{re.escape(variant)}_{self._khz}kHz\.sofa"

    def describe_layout(self, variant: str) -> str:
        sid = self._format_id(1)
        return (
            f"{self.official_path(sid, variant)} ..., or {self.file_name(sid, variant)} at the "
            "root or in one folder per subject"
        )


class ARI(_Database):
    """The ARI HRTF database (Acoustics Research Institute, Vienna).

    Files ``hrtf_nh{N}.sofa`` (variant ``"hrtf"``), ``hrtf b_nh{N}.sofa`` (``"hrtf_b"``) and
    ``dtf b_nh{N}.sofa`` (``"dtf_b"``; ``"hrtf b"`` / ``"dtf b"`` are accepted too), at the
    root or in ``root/NH{N}/``. Subject ids are ``"NH2"`` (or ``2``); the numbers are not
    contiguous, so ``download=True`` needs ``download_subject_ids`` (or ``subject_ids``). The
    files come from ``https://sofacoustics.org/data/database/ari/<file>``. Other arguments as
    :class:`HUTUBS` (default variant ``"hrtf"``).
    """

    database = "ARI"
    servers = {"sofacoustics": "https://sofacoustics.org/data/database/ari"}
    default_server = "sofacoustics"
    variants = ("hrtf", "hrtf b", "dtf b")
    default_variant = "hrtf"
    id_regex = r"nh(\d+)"

    @classmethod
    def _format_id(cls, number: int) -> str:
        return f"NH{number}"

    @classmethod
    def id_example(cls) -> str:
        return "'NH2'"

    def file_name(self, subject_id: str, variant: str) -> str:
        prefix = {"hrtf": "hrtf_", "hrtf b": "hrtf b_", "dtf b": "dtf b_"}[variant]
        return f"{prefix}{subject_id.lower()}.sofa"

    def name_regex(self, variant: str) -> str:
        prefix = {"hrtf": "hrtf_", "hrtf b": "hrtf b_", "dtf b": "dtf b_"}[variant]
        return rf"{re.escape(prefix)}nh(\d+)\.sofa"
