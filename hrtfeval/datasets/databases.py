"""The public HRTF databases: HUTUBS, SONICOM, ARI (local copies, optional download).

Each database knows its subject ids, the official file name of each HRTF variant, and where
the files are published. A local copy may keep the official file names at its root, one folder
per subject (``root/<subject>/<file>``), or (SONICOM) the official nested layout. The public
locations below are defaults, overridable with ``download_url=``: they follow the documented
URL patterns of those servers and could not be checked from the machine this was written on.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .known_database import DOWNLOAD_RESOURCES, _Database

__all__ = ["HUTUBS", "SONICOM", "ARI", "DOWNLOAD_RESOURCES"]


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
