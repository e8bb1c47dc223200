"""Pairing: which prediction file is scored against which reference file (two folders, or a
``--pairs`` CSV file)."""

from __future__ import annotations

import csv
import os
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .. import procs
from ..constants import DATA_SUFFIXES as SUFFIXES  # paired in directories, any letter case
from ..errors import HrtfevalError

#: A text file in a prediction folder naming the reference files the predictions are meant to
#: cover (one relative path a line, extension optional; ``#`` starts a comment), e.g. the test
#: split of a database (``hrtfeval.datasets`` writes it next to the predictions it saves).
#: Reference files it does not name are then out of scope rather than unmatched; a named one
#: without a prediction is still unmatched (exit code 2).
EXPECTED_TARGETS_FILE = "hrtfeval-targets.txt"


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
        subfolders: list[tuple[os.DirEntry, PurePosixPath]] = []
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
    in_scope: Set[str] = refs.keys()
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
    """Pairs from a CSV file with the columns ``prediction,reference`` (header required;
    ``target`` is accepted for ``reference``, the older name of the column).

    Relative paths are resolved against the CSV file's folder; they are reported as written.
    Blank rows are skipped; a row that names a pair twice is an error.

    Raises
    ------
    HrtfevalError
        The file cannot be read, is empty, lacks the ``prediction`` or the reference column,
        has both a ``reference`` and a ``target`` column, or a row lacks a path or repeats a
        pair.
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
        raise HrtfevalError(
            "the pairs file is empty; expected a header 'prediction,reference'", name
        )
    head = [c.strip().lower() for c in rows[0]]
    ip, it = _pairs_columns(head, name)
    base = Path(path).parent
    pairs: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        pred = cells[ip] if ip < len(cells) else ""
        ref = cells[it] if it < len(cells) else ""
        if not pred or not ref:
            raise HrtfevalError(f"row {line} needs both a prediction and a reference", name)
        if (pred, ref) in seen:
            raise HrtfevalError(f"row {line} repeats the pair {pred}, {ref}", name)
        seen.add((pred, ref))
        pairs.append(_make_pair(pred, ref, str(base / pred), str(base / ref)))
    pairs.sort(key=pair_key)
    return PairList(pairs, source={"pairs_file": name})


#: Names of the reference column of a ``--pairs`` file: the project's word, and the older one.
REFERENCE_COLUMNS = ("reference", "target")


def _pairs_columns(head: list[str], name: str) -> tuple[int, int]:
    """Indices of the prediction and the reference column in a ``--pairs`` header (lower case)."""
    found = [c for c in REFERENCE_COLUMNS if c in head]
    if len(found) > 1:
        raise HrtfevalError(
            "the pairs file has both 'reference' and 'target' columns (the same thing under "
            "two names); use one",
            name,
        )
    if "prediction" not in head or not found:
        raise HrtfevalError(
            "the pairs file needs the columns 'prediction' and 'reference' (or 'target'); got "
            f"{', '.join(repr(h) for h in head)}",
            name,
        )
    return head.index("prediction"), head.index(found[0])


def pair_key(pair) -> tuple[str, str]:
    """Sort key of a :class:`Pair` or a pair entry: (prediction, target) names."""
    if isinstance(pair, Pair):
        return (pair.prediction, pair.target)
    return (pair["prediction"], pair["target"])


def find_pairs(
    prediction: str | os.PathLike | None,
    target: str | os.PathLike | None,
    pairs_file: str | os.PathLike | None,
) -> PairList:
    """The pairs of a batch run: ``--pairs FILE`` or two directories (prediction, reference).

    Raises
    ------
    HrtfevalError
        Neither a pairs file nor both directories are given.
    """
    if pairs_file is not None:
        return read_pairs_csv(pairs_file)
    if prediction is None or target is None:
        raise HrtfevalError("a batch needs two directories (prediction, reference) or a pairs file")
    return pair_directories(prediction, target)
