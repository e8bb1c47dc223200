"""Readers: SOFA (``.sofa``) and PyTorch (``.pt``) files -> one :class:`~hrtfeval.model.HRTFSet`.

``read_hrtf`` picks the reader from the file's first bytes (HDF5/netCDF signature -> SOFA, zip or
pickle -> torch) and falls back on the extension. Every problem with a user's file is raised as
:class:`~hrtfeval.errors.HrtfevalError` with a one-line message.

SOFA files are read read-only, and only the variables that are needed are touched:
``sofar.read_sofa`` verifies the whole file against its convention, which costs several times the
read and prints notices to stdout. h5py, ``netCDF4`` and ``torch`` are imported inside the
functions that need them, so importing this package stays cheap.

One job per module:

* this package: :func:`read_hrtf` (format detection, the one-line errors and warnings);
* :mod:`.sofa`: SOFA conventions, data, sampling rate and positions (:func:`read_sofa`);
* :mod:`.variables`: one variable or attribute of an open SOFA file;
* :mod:`.backend`: the interface of the two SOFA back-ends -- h5py for netCDF-4 files
  (:mod:`._h5sofa`, raw chunks through :mod:`._h5fast`) and ``netCDF4`` for everything else
  and whatever the h5py one does not handle (netCDF-3 sizes checked by :mod:`._nc3`);
* :mod:`.delay`: ``Data.Delay``, read and applied (:func:`apply_delay`);
* :mod:`.positions`: source positions -> azimuth, elevation, distance
  (:func:`parse_source_positions`; the conventions are in :mod:`hrtfeval.coords`);
* :mod:`.pt`: ``.pt`` files (:func:`read_pt`);
* :mod:`.checks`: the checks both readers share (the file, the memory budget, the values).

:func:`describe` (``hrtfeval info``) lives in :mod:`hrtfeval.info`; it is importable from here too.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import HrtfevalError, warnings_about
from ..info import describe
from ..model import HRTFSet
from .checks import _FORMATS, _check_regular, _exception_line, _os_error
from .delay import DELAY_LOSS_WARN_FRACTION, apply_delay
from .positions import parse_source_positions
from .pt import _ZIP_MAGIC, PT_DATA_KEYS, read_pt
from .sofa import SOFA_CONVENTION_ALIASES, SOFA_CONVENTIONS, read_sofa
from .sofa import _read_sofa_dataset as _read_sofa_dataset  # its old path

__all__ = [
    "SOFA_CONVENTIONS",
    "SOFA_CONVENTION_ALIASES",
    "PT_DATA_KEYS",
    "DELAY_LOSS_WARN_FRACTION",
    "read_hrtf",
    "read_sofa",
    "read_pt",
    "describe",
    "parse_source_positions",
    "apply_delay",
]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# An HDF5 superblock may sit after a user block of 512, 1024, 2048 ... bytes.
_HDF5_OFFSETS = (0, 512, 1024, 2048)
_CDF_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")  # netCDF classic / 64-bit offset / CDF5
_PICKLE_MAGIC = b"\x80"  # torch.save's legacy format starts with a pickle protocol opcode


def read_hrtf(
    path: str | os.PathLike,
    *,
    apply_delay: bool = True,
    max_memory: int | None = None,
    n_fft: int | None = None,
    reserved: int = 0,
) -> HRTFSet:
    """Read a SOFA or ``.pt`` file into an :class:`HRTFSet`.

    Parameters
    ----------
    path : str or path-like
        A ``.sofa`` file (SimpleFreeFieldHRIR, GeneralFIR, SimpleFreeFieldHRTF or GeneralTF with
        two receivers) or a ``.pt`` file (see :func:`read_pt`). The format is recognised from
        the file's first bytes, then from its extension.
    max_memory : int, optional
        Bytes. Every array's declared size is checked before it is allocated: the data with
        the working memory of scoring it (spectra at ``n_fft``, see
        :func:`hrtfeval.memory.set_bytes`) plus ``reserved`` must stay within it. Default:
        :func:`hrtfeval.memory.default_limit` (half the machine's memory).
    n_fft : int, optional
        The FFT length the set will be scored at (default its length), for that estimate.
    reserved : int
        Bytes already taken (the other set of a pair).

    Returns
    -------
    HRTFSet
        With :attr:`HRTFSet.silent` set (directions with an all-zero ear).

    Raises
    ------
    HrtfevalError
        The file is missing, not a regular file, unreadable, of an unsupported format or
        convention, too large for ``max_memory``, or its content does not describe a binaural
        HRTF set. Always one line naming the file.

    Warns
    -----
    HrtfevalWarning
        Every warning raised while reading (by hrtfeval or the libraries it calls), once,
        naming the file.

    ``apply_delay=False`` (``--ignore-delay``) leaves a SOFA file's ``Data.Delay`` unapplied,
    as tools that ignore it do (``meta["delay_ignored"]`` says whether a non-zero one was).
    """
    name = str(path)
    kind = _detect_format(path)
    with warnings_about(name):
        try:
            if kind == "sofa":
                return read_sofa(
                    path,
                    apply_delay=apply_delay,
                    max_memory=max_memory,
                    n_fft=n_fft,
                    reserved=reserved,
                )
            return read_pt(path, max_memory=max_memory, n_fft=n_fft, reserved=reserved)
        except HrtfevalError:
            raise
        except MemoryError:
            raise HrtfevalError(
                "not enough memory to read the file; lower --max-memory so that the declared "
                "sizes are checked before reading",
                file=name,
            ) from None
        except Exception as exc:  # noqa: BLE001 - a library failing on a malformed file
            what = "SOFA/netCDF" if kind == "sofa" else "PyTorch"
            raise HrtfevalError(
                f"not a readable {what} file: {_exception_line(exc)}", file=name
            ) from None


def _detect_format(path: str | os.PathLike) -> str:
    """``"sofa"`` or ``"pt"``: by content first (robust to odd names), then by extension."""
    name = str(path)
    p = Path(path)
    _check_regular(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(_HDF5_OFFSETS[-1] + len(_HDF5_MAGIC))
    except OSError as exc:
        raise _os_error(exc, name) from None
    if any(head[o : o + 8] == _HDF5_MAGIC for o in _HDF5_OFFSETS) or head[:4] in _CDF_MAGICS:
        return "sofa"
    if head[:4] == _ZIP_MAGIC:
        return "pt"  # torch.save's zip format, whatever the name
    ext = p.suffix.lower()
    if ext == ".sofa":
        return "sofa"  # read_sofa reports why it cannot be read (empty, truncated, ...)
    if ext in (".pt", ".pth") or head[:1] == _PICKLE_MAGIC:
        return "pt"
    if not head:
        raise HrtfevalError(f"the file is empty; expected a {_FORMATS} file", file=name)
    raise HrtfevalError(
        f"unsupported file format ({f'extension {ext!r}' if ext else 'no extension'}, no "
        "SOFA/HDF5 signature); "
        f"expected a {_FORMATS} file",
        file=name,
    )
