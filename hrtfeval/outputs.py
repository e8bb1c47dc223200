"""The files a run writes: planned and checked before any work, written all-or-nothing at the end.

A command collects its output targets (``--output``, ``--junit``, the ``--plot`` folder) in one
:class:`OutputPlan` before it reads or scores anything. Each target is checked then:

* it is not one of the inputs (the same file, also through symbolic or hard links), not an
  existing ``.sofa``/``.pt`` file, and not given twice;
* it is not a directory, every name in its path fits in 255 bytes, and its folder exists and
  is writable (a temporary file is created there and removed).

The contents are handed to the plan as the run produces them (:meth:`OutputPlan.put`) and
written by :meth:`OutputPlan.commit`, all or nothing: every regular file is first written to a
temporary file in its own folder, and only when all of them are complete are they renamed into
place. If one cannot be written, none is left behind (nor any temporary file, whatever the
exception, Ctrl-C included). Existing non-regular files (character devices such as
``/dev/null``, FIFOs) are written directly instead of being replaced, and a symbolic link is
followed: its target is written and the link stays a link. New files get the mode a plain
``open()`` would give (``0o666`` less the umask); an existing file keeps its mode.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .constants import DATA_SUFFIXES as PROTECTED_SUFFIXES  # never replaced by an output
from .errors import HrtfevalError

#: The longest name of one path component on the file systems we write to (bytes).
NAME_MAX = 255
#: Characters of the target's name kept in its temporary file's name (which must fit NAME_MAX).
_TMP_NAME_CHARS = 64


@dataclass(frozen=True)
class Target:
    """One planned output file.

    ``path`` is the path as given (for messages), ``real`` the file written: ``path`` with every
    symbolic link resolved. ``special`` is true for an existing non-regular file (a device or a
    FIFO), which is written directly.
    """

    path: Path
    real: Path
    option: str
    special: bool = False


@dataclass(frozen=True)
class Folder:
    """A planned output folder (``--plot DIR``), created by :meth:`OutputPlan.commit`."""

    path: Path
    option: str


@dataclass
class OutputPlan:
    """The output targets of one run, checked up front and written together by :meth:`commit`.

    Parameters
    ----------
    inputs : iterable of path-like
        Every file the run reads (both files of every pair, a pairs CSV, a baseline, merged
        documents): no output may be one of them.
    """

    inputs: Iterable[str | os.PathLike] = ()
    _input_ids: dict = field(default_factory=dict, init=False, repr=False)
    _targets: list = field(default_factory=list, init=False, repr=False)
    _contents: list = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.add_inputs(self.inputs)

    def add_inputs(self, paths: Iterable[str | os.PathLike]) -> None:
        """Record more input files (their identity: device and inode, and resolved path)."""
        for path in paths:
            if path is None:
                continue
            key = _identity(Path(path))
            if key is not None:
                self._input_ids.setdefault(key, str(path))

    # ------------------------------------------------------------------------------------------
    # planning

    def file(self, path: str | os.PathLike, option: str, replace_hrtf: bool = False) -> Target:
        """Check one output file now; return its :class:`Target`.

        ``replace_hrtf``: the output is itself HRTF data (a saved prediction), so it may replace
        an existing .sofa/.pt file that is not an input (an earlier prediction).

        Raises
        ------
        HrtfevalError
            The path is an input, an existing .sofa/.pt file (unless ``replace_hrtf``), a
            directory, given twice, too long, or its folder is missing or not writable.
        """
        given = Path(path)
        _check_name_lengths(given, option)
        real = Path(os.path.realpath(given))
        _check_name_lengths(real, option)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise _error(option, given, exc) from None
        special = False
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise HrtfevalError(
                    f"{option} names a directory; give a file name (e.g. {given / 'scores.json'})",
                    str(given),
                )
            key = (st.st_dev, st.st_ino)
            if key in self._input_ids:
                same = self._input_ids[key]
                also = "" if os.path.abspath(same) == os.path.abspath(given) else f" ({same})"
                raise HrtfevalError(
                    f"{option} would overwrite an input of this run{also}; "
                    "write the output to another file",
                    str(given),
                )
            special = not stat.S_ISREG(st.st_mode)
            if not special and not replace_hrtf and _protected(given, real):
                raise HrtfevalError(
                    f"{option} would overwrite an existing {real.suffix.lower()} file (HRTF data); "
                    "write the output to another file",
                    str(given),
                )
            if special and not os.access(real, os.W_OK):
                raise HrtfevalError(f"{option}: not writable", str(given))
        for other in self._targets:
            if other.real == real or (
                st is not None and _identity(other.real) == (st.st_dev, st.st_ino)
            ):
                raise HrtfevalError(
                    f"is given as {other.option} and as {option}; give each output its own file",
                    str(given),
                )
        if not special:
            _probe_folder(real.parent, option, given)
        target = Target(given, real, option, special)
        self._targets.append(target)
        return target

    def folder(self, path: str | os.PathLike, option: str) -> Folder:
        """Check an output folder now (it may not exist yet: then its nearest existing parent
        must be a writable folder); it is created by :meth:`commit`."""
        given = Path(path)
        _check_name_lengths(given, option)
        real = Path(os.path.realpath(given))
        for other in self._targets:
            if other.real == real:
                raise HrtfevalError(
                    f"is given as {other.option} and as {option} (a folder)", str(given)
                )
        probe = real
        while True:
            try:
                st = os.stat(probe)
            except FileNotFoundError:
                if probe.parent == probe:
                    raise HrtfevalError(f"{option}: no such folder", str(given)) from None
                probe = probe.parent
                continue
            except OSError as exc:
                raise _error(option, given, exc) from None
            break
        if not stat.S_ISDIR(st.st_mode):
            what = "is not a folder" if probe == real else f"cannot be created: {probe} is a file"
            raise HrtfevalError(f"{option} {what}", str(given))
        _probe_folder(probe, option, given)
        return Folder(given, option)

    # ------------------------------------------------------------------------------------------
    # contents and the write

    def put(self, target: Target, data: str | bytes) -> None:
        """Hand over ``target``'s contents; written by :meth:`commit`.

        Text is written as UTF-8; bytes of file names that are not UTF-8 (decoded by Python
        with ``surrogateescape``) are written back as they were, as on stdout.
        """
        if target not in self._targets:
            raise ValueError(f"{target.path} was not planned")  # pragma: no cover - a bug
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self._contents.append((target, data))

    def put_in(self, folder: Folder, name: str, data: bytes) -> Path:
        """Hand over the contents of the file ``name`` in ``folder``; returns its path."""
        path = folder.path / name
        self._contents.append(((folder, path), data))
        return path

    @property
    def pending(self) -> list[tuple[Path, Folder | None]]:
        """What :meth:`commit` will write, in order: (path, the planned folder it is in)."""
        return [
            (what.path, None) if isinstance(what, Target) else (what[1], what[0])
            for what, _ in self._contents
        ]

    def commit(self) -> list[Path]:
        """Write everything handed over, all or nothing; return the paths written.

        Raises
        ------
        HrtfevalError
            One of the files could not be written: then none was (folders created for them are
            removed again, temporary files always are).
        """
        created: list[Path] = []
        temps: list[tuple[str, Target]] = []
        done = False
        current: Target | Folder | None = None
        try:
            writes: list[tuple[Target, bytes]] = []
            for what, data in self._contents:
                if isinstance(what, Target):
                    writes.append((what, data))
                    continue
                folder, path = what
                current = folder
                created += _make_folder(folder.path)
                writes.append((self.file(path, folder.option), data))
            for target, data in writes:
                current = target
                if target.special:
                    continue
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{target.real.name[:_TMP_NAME_CHARS]}.",
                    suffix=".tmp",
                    dir=target.real.parent,
                )
                temps.append((tmp, target))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.chmod(tmp, _new_file_mode(target.real))
            for target, data in writes:
                if target.special:
                    current = target
                    # A device or FIFO: write into it, never replace it.
                    with open(target.real, "wb") as fh:
                        fh.write(data)
            for tmp, target in temps:
                current = target
                os.replace(tmp, target.real)
            temps = []
            done = True
            return [t.path for t, _ in writes]
        except OSError as exc:
            where = current.path if current is not None else Path(".")
            option = current.option if current is not None else "output"
            raise _error(option, where, exc) from None
        finally:
            for tmp, _ in temps:
                _unlink_quietly(tmp)
            if not done:
                for folder in reversed(created):
                    try:
                        folder.rmdir()
                    except OSError:
                        pass
            self._contents = []


# ----------------------------------------------------------------------------------------------
# helpers


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _protected(*paths: Path) -> bool:
    return any(p.suffix.lower() in PROTECTED_SUFFIXES for p in paths)


def _check_name_lengths(path: Path, option: str) -> None:
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise HrtfevalError(
                f"{option}: a name in the path is {size} bytes long; at most {NAME_MAX} are "
                f"allowed (it starts {part[:40]!r})"
            )


def _probe_folder(folder: Path, option: str, given: Path) -> None:
    """Create and remove a temporary file in ``folder``: the only reliable writability test."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".hrtfeval-probe.", suffix=".tmp", dir=folder)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise HrtfevalError(
                f"{option}: the folder {folder} does not exist", str(given)
            ) from None
        raise HrtfevalError(
            f"{option}: cannot write into the folder {folder}: {exc.strerror or exc}", str(given)
        ) from None
    os.close(fd)
    _unlink_quietly(tmp)


def _make_folder(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the folders created, outermost first."""
    missing = []
    probe = Path(os.path.realpath(path))
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    created = []
    for folder in reversed(missing):
        folder.mkdir()
        created.append(folder)
    return created


def ensure_folder(folder: Path, what: str = "the folder") -> Path:
    """``folder``, created with its parents if needed (``mkdir -p``).

    Raises
    ------
    HrtfevalError
        It cannot be created: ``cannot create <what>: <the system's reason>``, naming it.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HrtfevalError(f"cannot create {what}: {exc.strerror or exc}", str(folder)) from None
    return folder


def _new_file_mode(target: Path) -> int:
    """The mode a plain ``open(target, "w")`` would give: the existing file's, else
    ``0o666 & ~umask`` (``mkstemp``'s temporary files are private, 0o600)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _error(option: str, path: Path, exc: OSError) -> HrtfevalError:
    return HrtfevalError(f"cannot write {option}: {exc.strerror or exc}", str(path))
