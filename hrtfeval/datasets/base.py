"""The dataset core: subjects -> files, the split, lazy cached reading, samples by index.

:class:`HRTFDataset` is a map-style dataset (``len`` and ``[i]``), usable with
``torch.utils.data.DataLoader`` without importing torch here. Its subjects are fixed when it is
built; files are read when a sample of the subject is first asked for, through
:func:`hrtfeval.io.read_hrtf` (every quirk handling and error message of hrtfeval's readers),
and the signals of at most ``cache_size`` subjects are kept (least recently used first out).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HrtfevalError
from .checks import _shown
from .spec import HRTFSpec, positions_count, subject_signal
from .splits import natural_sorted, split_subjects

__all__ = ["DEFAULT_CACHE_SIZE", "HRTFDataset"]

#: Subjects whose signals are kept in memory by default (HUTUBS: about 2 MB each per spec).
DEFAULT_CACHE_SIZE = 16


class HRTFDataset:
    """A map-style dataset of HRTF samples over per-subject files (see the subclasses).

    Attributes
    ----------
    root : pathlib.Path
    subject_ids : list of str
        The subjects of this split, in split order (natural order for ``split="all"``).
    files : dict
        ``{subject_id: path}`` of the files read.
    inputs, target : tuple of HRTFSpec
    """

    #: Name put in every sample's ``meta["dataset"]``.
    database = "SOFAFolder"

    def _setup(
        self,
        root: Path,
        found: dict[str, Path],
        subject_ids: list[str] | None,
        exclude_subject_ids: list[str],
        inputs: tuple[HRTFSpec, ...],
        target: tuple[HRTFSpec, ...],
        split: str,
        split_ratio: tuple,
        split_seed: int,
        cache_size: int | None,
        where: str,
    ) -> None:
        self.root = root
        self.inputs = inputs
        self.target = target
        self.split = split
        self.split_ratio = split_ratio
        self.split_seed = split_seed
        self.cache_size = cache_size
        if subject_ids is None:
            chosen = natural_sorted(found)
            if not chosen:
                raise HrtfevalError(f"no {self.database} files found ({where})", str(root))
        else:
            missing = [s for s in subject_ids if s not in found]
            if missing:
                raise HrtfevalError(
                    f"no file for subject(s) {_shown(missing)} ({where}); download them "
                    "(download=True) or leave them out of subject_ids",
                    str(root),
                )
            chosen = natural_sorted(subject_ids)
        excluded = set(exclude_subject_ids)
        chosen = [s for s in chosen if s not in excluded]
        if not chosen:
            raise ValueError(
                f"no subjects left: exclude_subject_ids removes all {len(found)} subject(s)"
            )
        self.selected_subject_ids = chosen
        self.subject_ids = split_subjects(chosen, split, split_ratio, split_seed)
        self.files = {s: found[s] for s in self.subject_ids}
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._build_index()

    # -- index -------------------------------------------------------------------------------

    @property
    def specs(self) -> tuple[HRTFSpec, ...]:
        return self.inputs + self.target

    @property
    def index_by(self) -> tuple[str, ...]:
        return self.specs[0].index_by

    def _build_index(self) -> None:
        spec = self.specs[0]
        n_ears = len(spec.ear_indices) if "ear" in spec.index_by else 1
        rows = []
        for sid in self.subject_ids:
            if "position" in spec.index_by:
                n_pos = positions_count(spec, _count_measurements(self.files[sid]))
            else:
                n_pos = 1
            rows.append(n_pos * n_ears)
        self._rows_per_subject = rows
        self._offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset index must be an integer; got {index!r}")
        n = len(self)
        i = int(index) + n if index < 0 else int(index)
        if not 0 <= i < n:
            raise IndexError(f"dataset index {index} out of range for {n} samples")
        k = int(np.searchsorted(self._offsets, i, side="right")) - 1
        sid = self.subject_ids[k]
        local = i - int(self._offsets[k])
        spec0 = self.specs[0]
        n_ears = len(spec0.ear_indices) if "ear" in spec0.index_by else 1
        p, e = divmod(local, n_ears)
        record = self._subject(sid)
        pos = p if "position" in spec0.index_by else None
        ear = e if "ear" in spec0.index_by else None
        meta = {
            "dataset": self.database,
            "subject_id": sid,
            "position_index": None if pos is None else int(record["rows"][pos]),
            "ear": None if ear is None else spec0.ear_names[ear],
        }
        return {
            "inputs": {s.name: _take(record[s.name], pos, ear) for s in self.inputs},
            "target": {s.name: _take(record[s.name], pos, ear) for s in self.target},
            "meta": meta,
        }

    # -- reading -----------------------------------------------------------------------------

    def hrtf(self, subject_id: str):
        """The subject's :class:`~hrtfeval.model.HRTFSet`, read from its file (not cached)."""
        from ..io import read_hrtf

        return read_hrtf(self._file(subject_id))

    def _file(self, subject_id: str) -> Path:
        try:
            return self.files[subject_id]
        except KeyError:
            raise KeyError(
                f"subject {subject_id!r} is not in this dataset (split {self.split!r}: "
                f"{_shown(self.subject_ids)})"
            ) from None

    def _subject(self, subject_id: str) -> dict[str, Any]:
        record = self._cache.get(subject_id)
        if record is not None:
            self._cache.move_to_end(subject_id)
            return record
        hrtf = self.hrtf(subject_id)
        record = {
            "sampling_rate": hrtf.sampling_rate,
            "positions": hrtf.positions,
        }
        for spec in self.specs:
            values, rows = subject_signal(hrtf, spec)
            record[spec.name] = values
            record["rows"] = rows
        spec0 = self.specs[0]
        if "position" in spec0.index_by:
            k = self.subject_ids.index(subject_id)
            n_ears = len(spec0.ear_indices) if "ear" in spec0.index_by else 1
            if record["rows"].size * n_ears != self._rows_per_subject[k]:
                raise HrtfevalError(
                    f"the file changed since the dataset was built: {record['rows'].size} "
                    f"positions now, {self._rows_per_subject[k] // n_ears} then; build the "
                    "dataset again",
                    str(self.files[subject_id]),
                )
        self._cache[subject_id] = record
        if self.cache_size is not None:
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return record

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get the dataset pickled: send the index, not the cached arrays.
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state

    # -- facts for predictions ---------------------------------------------------------------

    def reference_file(self, subject_id: str) -> Path:
        """The file the subject's samples are read from."""
        return self._file(subject_id)

    def relative_reference(self, subject_id: str) -> str:
        """The subject's file relative to ``root`` (``/`` separators): the name that
        ``hrtfeval score PRED_DIR ROOT`` pairs by (without its extension)."""
        return self._file(subject_id).relative_to(self.root).as_posix()

    def subject_positions(self, subject_id: str, spec: HRTFSpec | None = None) -> np.ndarray:
        """(P, 3) azimuth, elevation (degree), distance (metre) of the rows ``spec`` selects
        (default: the first target spec, else the first input spec)."""
        spec = spec or (self.target or self.inputs)[0]
        record = self._subject(subject_id)
        if record["positions"] is None:
            raise HrtfevalError("the file has no source positions", str(self._file(subject_id)))
        rows = (
            np.arange(record["positions"].shape[0])
            if spec.positions == "all"
            else np.asarray(spec.positions)
        )
        return np.asarray(record["positions"])[rows]

    def subject_sampling_rate(self, subject_id: str) -> float | None:
        """The subject's sampling rate in Hz (None when the file has none)."""
        return self._subject(subject_id)["sampling_rate"]

    def save_prediction(
        self,
        subject_id: str,
        prediction: Any,
        out_dir: str | os.PathLike,
        spec: HRTFSpec | None = None,
        format: str = "pt",
    ) -> Path:
        """Write a prediction of one subject where ``hrtfeval score OUT_DIR ROOT`` pairs it.

        The file is ``out_dir / <the reference's path relative to root>`` with the suffix
        ``.pt`` (or ``.sofa``), holding the subject's positions (the rows ``spec`` selects) and
        sampling rate. See :func:`hrtfeval.datasets.export.save_prediction`.

        Parameters
        ----------
        subject_id : str
        prediction : torch.Tensor or array_like, shape (P, 2, K)
            Both ears (left first), in ``spec``'s signal.
        out_dir : path
        spec : HRTFSpec, optional
            What ``prediction`` holds; default: the first target spec (else the first input).
            Without ``frequency_bands`` (scores compare whole rfft grids). With a subset of
            ``positions``, score with ``--allow-missing``.
        format : {"pt", "sofa"}

        Raises
        ------
        ValueError
            See :func:`hrtfeval.datasets.export.save_prediction`; a spec with
            ``frequency_bands``.
        """
        from .export import save_prediction

        spec = spec or (self.target or self.inputs)[0]
        rel = Path(self.relative_reference(subject_id))
        suffix = {"pt": ".pt", "sofa": ".sofa"}.get(format)
        if suffix is None:
            raise ValueError(f"format must be 'pt' or 'sofa'; got {format!r}")
        self._check_out_dir(Path(out_dir))
        path = Path(out_dir) / rel.with_suffix(suffix)
        if spec.frequency_bands is not None:
            raise ValueError(
                f"spec {spec.name!r} keeps the bins of frequency_bands "
                f"{list(spec.frequency_bands)}; hrtfeval score compares spectra on the "
                "reference's whole rfft grid, so predict every bin (frequency_bands=None)"
            )
        frequencies = None
        if spec.domain == "frequency":
            from .spec import bin_frequencies

            frequencies = bin_frequencies(self.hrtf(subject_id), spec)
        written = save_prediction(
            path,
            prediction,
            spec=spec,
            sampling_rate=self.subject_sampling_rate(subject_id),
            positions=self.subject_positions(subject_id, spec),
            frequencies=frequencies,
            inputs=self.files.values(),
        )
        self._write_expected_targets(Path(out_dir))
        return written

    def _check_out_dir(self, out_dir: Path) -> None:
        """Refuse an output folder that is the dataset's root or inside it: predictions written
        there would replace (or sit among) the references they are scored against.

        Raises
        ------
        HrtfevalError
            ``out_dir`` resolves to :attr:`root` or to a folder under it.
        """
        root = Path(os.path.realpath(self.root))
        real = Path(os.path.realpath(out_dir))
        if real == root or root in real.parents:
            where = (
                "is the dataset's root" if real == root else f"is inside the dataset's root {root}"
            )
            raise HrtfevalError(
                f"the prediction folder {where}, where the reference files are; write the "
                "predictions to a folder outside it",
                str(out_dir),
            )

    def _write_expected_targets(self, out_dir: Path) -> None:
        """Name this split's references in ``out_dir``'s list of expected references
        (:data:`hrtfeval.batch.EXPECTED_TARGETS_FILE`, merged with what it already names), so
        that ``hrtfeval score out_dir root`` scores these subjects and treats the other
        subjects' references as out of scope — while a subject of the split without a
        prediction is still unmatched (exit code 2)."""
        from ..batch import EXPECTED_TARGETS_FILE, read_expected_targets
        from ..outputs import OutputPlan

        keys = read_expected_targets(out_dir) or set()
        keys |= {
            Path(self.relative_reference(s)).with_suffix("").as_posix() for s in self.subject_ids
        }
        text = "# references these predictions cover (written by hrtfeval.datasets)\n" + "".join(
            f"{k}\n" for k in sorted(keys)
        )
        plan = OutputPlan(self.files.values())
        plan.put(
            plan.file(out_dir / EXPECTED_TARGETS_FILE, "the list of expected references"), text
        )
        plan.commit()

    def write_pairs_csv(
        self, prediction_dir: str | os.PathLike, path: str | os.PathLike | None = None
    ) -> Path:
        """Write a ``--pairs`` CSV of the predictions in ``prediction_dir`` and their references.

        One row per subject of this split whose prediction (written by :meth:`save_prediction`,
        ``.pt`` or ``.sofa``) exists; paths are relative to the CSV's folder. Then
        ``hrtfeval score --pairs FILE.csv`` scores exactly those pairs (the other subjects'
        references are not "unmatched"). Default ``path``: ``prediction_dir/pairs.csv``.

        Raises
        ------
        HrtfevalError
            No prediction of this split's subjects in ``prediction_dir``, or the CSV cannot be
            written.
        """
        import csv
        import io

        pred_dir = Path(prediction_dir)
        target = Path(path) if path is not None else pred_dir / "pairs.csv"
        rows = []
        for sid in self.subject_ids:
            stem = Path(self.relative_reference(sid)).with_suffix("")
            for suffix in (".pt", ".sofa"):
                pred = pred_dir / stem.with_suffix(suffix)
                if pred.is_file():
                    base = target.parent.resolve()
                    rows.append(
                        (
                            Path(os.path.relpath(pred.resolve(), base)).as_posix(),
                            Path(os.path.relpath(self._file(sid).resolve(), base)).as_posix(),
                        )
                    )
        if not rows:
            raise HrtfevalError(
                f"no prediction of the {len(self.subject_ids)} subject(s) of split "
                f"{self.split!r} (write them with save_prediction)",
                str(pred_dir),
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["prediction", "target"])
        writer.writerows(rows)
        from ..outputs import OutputPlan

        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HrtfevalError(
                f"cannot write the pairs file: {exc.strerror or exc}", str(target)
            ) from None
        plan = OutputPlan(self.files.values())
        plan.put(plan.file(target, "the pairs file"), buffer.getvalue())
        plan.commit()
        return target

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
            f"subjects={len(self.subject_ids)}, samples={len(self)})"
        )


def _take(values: np.ndarray, pos: int | None, ear: int | None) -> np.ndarray:
    """One sample from a subject's (P, E, K) array (a copy: the cache stays intact)."""
    if pos is not None:
        values = values[pos]  # (E, K)
        out = values[ear] if ear is not None else (values[0] if values.shape[0] == 1 else values)
    elif ear is not None:
        out = values[:, ear]
    else:
        out = values[:, 0] if values.shape[1] == 1 else values
    return np.array(out, copy=True)


def _count_measurements(path: Path) -> int:
    """M of a SOFA file without reading its data (h5py shape), else by reading it."""
    from ..io._h5sofa import open_dataset

    ds = open_dataset(str(path)) if path.suffix.lower() == ".sofa" else None
    if ds is not None:
        try:
            with ds:
                for name in ("Data.IR", "Data.Real"):
                    var = ds.variables.get(name)
                    if var is not None:
                        dims = var.dimensions
                        shape = var.shape
                        if "M" in dims:
                            return int(shape[dims.index("M")])
        except Exception:  # noqa: BLE001 - the full reader below words the problem
            pass
    from ..io import read_hrtf

    return read_hrtf(path).n_directions
