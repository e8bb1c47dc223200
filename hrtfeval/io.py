"""Readers: SOFA (``.sofa``) and PyTorch (``.pt``) files -> one :class:`~hrtfeval.model.HRTFSet`.

``read_hrtf`` picks the reader from the file's first bytes (HDF5/netCDF signature -> SOFA, zip or
pickle -> torch) and falls back on the extension. Every problem with a user's file is raised as
:class:`~hrtfeval.errors.HrtfevalError` with a one-line message.

SOFA files are read read-only, and only the variables that are needed are touched:
``sofar.read_sofa`` verifies the whole file against its convention, which costs several times the
read and prints notices to stdout. netCDF-4 (HDF5) files go through h5py (:mod:`._h5sofa`, which
answers the netCDF4 calls made here, and :mod:`._h5fast` for the data arrays); netCDF-3 files and
anything that path does not handle go through ``netCDF4.Dataset``. h5py, ``netCDF4`` and
``torch`` are imported inside the functions that need them, so importing this module stays
cheap.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HrtfevalError, HrtfevalWarning, warnings_about
from .memory import check_size, default_limit, set_bytes
from .model import DB, IR, MAGNITUDE, TF, HRTFSet, cartesian_to_spherical, silent_rows

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

#: The SOFA conventions hrtfeval reads, and the domain each one gives.
SOFA_CONVENTIONS = {
    "SimpleFreeFieldHRIR": IR,
    "GeneralFIR": IR,
    "SimpleFreeFieldHRTF": TF,
    "GeneralTF": TF,
}
#: Older names of the conventions above, read as the convention they were renamed to.
#: ``SimpleFreeFieldTF`` (versions 0.4 and 1.0) became ``SimpleFreeFieldHRTF``.
SOFA_CONVENTION_ALIASES = {"SimpleFreeFieldTF": "SimpleFreeFieldHRTF"}
#: The data keys a ``.pt`` dict may hold (exactly one of them).
PT_DATA_KEYS = ("hrir", "ir", "hrtf", "hrtf_db")
_PT_OPTIONAL_KEYS = ("sampling_rate", "positions", "frequencies")
#: Above this fraction of a set's energy pushed past N samples by ``Data.Delay``, warn.
DELAY_LOSS_WARN_FRACTION = 1e-3

_FORMATS = "SOFA (.sofa) or PyTorch (.pt)"
# The large data arrays, read through the raw-chunk fast path when their layout allows it;
# variables with netCDF packing attributes are left to netCDF4, which applies them.
_BULK_VARIABLES = frozenset({"Data.IR", "Data.Real", "Data.Imag"})
_PACKING_ATTRS = {"scale_factor", "add_offset"}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# An HDF5 superblock may sit after a user block of 512, 1024, 2048 ... bytes.
_HDF5_OFFSETS = (0, 512, 1024, 2048)
_CDF_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")  # netCDF classic / 64-bit offset / CDF5
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format
_PICKLE_MAGIC = b"\x80"  # torch.save's legacy format starts with a pickle protocol opcode

_ANGLE_UNITS = {
    "degree": "degree",
    "degrees": "degree",
    "deg": "degree",
    "°": "degree",
    "rad": "radian",
    "radian": "radian",
    "radians": "radian",
}
_LENGTH_UNITS = {"metre", "meter", "metres", "meters", "m"}
_HERTZ = {"hertz", "hz"}
# Data.Delay is in samples (AES69); a file that says otherwise in a Units attribute is believed.
_SAMPLE_UNITS = {"sample", "samples", "1", ""}
_SECOND_UNITS = {"second", "seconds", "s", "sec"}
# Characters an attribute may be padded with (fixed-length HDF5 strings are NUL- or space-padded).
_ATTR_PADDING = " \t\r\n\x00"
_MRN = ("M", "R", "N")  # the AES69 order of Data.IR, Data.Real and Data.Imag
# Fill values at least this large (netCDF's default 9.97e36) are found through per-ear sums.
_HUGE_FILL = 1e30


# --------------------------------------------------------------------------------------------
# Dispatch


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
    limits = {"max_memory": max_memory, "n_fft": n_fft, "reserved": reserved}
    with warnings_about(name):
        try:
            if kind == "sofa":
                return read_sofa(path, apply_delay=apply_delay, **limits)
            return read_pt(path, **limits)
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


def _exception_line(exc: BaseException) -> str:
    """``"<Type>: <first line of the message>"`` of a library's exception."""
    text = str(exc).strip()
    first = text.splitlines()[0].strip() if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class _Budget:
    """The memory a reader may allocate: the data's declared size with its working memory
    (spectra at ``n_fft``) plus what is ``reserved`` must stay within ``limit`` bytes."""

    def __init__(self, limit: int | None, n_fft: int | None = None, reserved: int = 0):
        self.limit = default_limit() if limit is None else int(limit)
        self.n_fft, self.reserved = n_fft, int(reserved)
        self.used = 0

    def take(self, n_bytes: int, what: str, file: str) -> None:
        self.used += int(n_bytes)
        total = self.used + self.reserved
        if total > self.limit:
            with_other = " (with the pair's other set)" if self.reserved else ""
            check_size(total, self.limit, f"{what}{with_other}", file)

    def take_data(self, shape: tuple[int, ...], domain: str, itemsize: int, name: str, file: str):
        need = set_bytes(shape, domain, self.n_fft, itemsize)
        self.take(need, f"{name} of shape {tuple(shape)} with the spectra to score it", file)


def _check_regular(path: str | os.PathLike) -> os.stat_result:
    """Missing, a directory, a FIFO, a device or a socket -> HrtfevalError (before ``open``
    blocks on a FIFO or reads a device forever)."""
    name = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise HrtfevalError("file not found", file=name) from None
    except OSError as exc:
        raise HrtfevalError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise HrtfevalError(f"is a directory; expected a {_FORMATS} file", file=name)
    if not stat.S_ISREG(mode):
        from .procs import special_file

        kind = special_file(path) or "not a regular file"
        raise HrtfevalError(f"is {kind}; expected a regular {_FORMATS} file", file=name)
    return info


def _detect_format(path: str | os.PathLike) -> str:
    """``"sofa"`` or ``"pt"``: by content first (robust to odd names), then by extension."""
    name = str(path)
    p = Path(path)
    _check_regular(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(_HDF5_OFFSETS[-1] + len(_HDF5_MAGIC))
    except FileNotFoundError:
        raise HrtfevalError("file not found", file=name) from None
    except OSError as exc:
        raise HrtfevalError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
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


def _check_file(path: str | os.PathLike, what: str) -> None:
    """Missing / not a regular file / empty -> HrtfevalError (before a library gives a murkier
    message, or blocks reading a FIFO)."""
    if _check_regular(path).st_size == 0:
        raise HrtfevalError(f"not a readable {what} file: the file is empty", file=str(path))


# --------------------------------------------------------------------------------------------
# SOFA


def read_sofa(
    path: str | os.PathLike,
    *,
    apply_delay: bool = True,
    max_memory: int | None = None,
    n_fft: int | None = None,
    reserved: int = 0,
) -> HRTFSet:
    """Read a SOFA file (read-only, only the variables needed) into an :class:`HRTFSet`.

    ``Data.IR`` (SimpleFreeFieldHRIR, GeneralFIR) gives domain ``"ir"``; ``Data.Real`` +
    ``Data.Imag`` at the frequencies in variable ``N`` (SimpleFreeFieldHRTF, GeneralTF) give
    domain ``"tf"``. Receiver 0 is the left ear, receiver 1 the right.

    A non-zero ``Data.Delay`` (samples) is applied to the data (see :func:`apply_delay`); the
    IRs keep their length N, so energy pushed past sample N is lost (a warning names the file
    when that exceeds 0.1 % of the set's energy). For ``"tf"`` the spectrum is multiplied by
    ``exp(-2j*pi*f*d/fs)`` when the sampling rate is known.

    Source positions become azimuth in [0, 360) degree, elevation in degree and distance in
    metre whatever the file's ``Type`` (spherical or cartesian) and ``Units`` spelling.
    ``SourcePosition`` is mandatory (AES69): a file without a readable one is an error, never
    matched by row order. ``Data.Delay`` must be finite and >= 0.

    ``max_memory``, ``n_fft`` and ``reserved`` bound the memory as in :func:`read_hrtf`.

    Raises
    ------
    HrtfevalError
        See :func:`read_hrtf`.
    """
    name = str(path)
    _check_file(path, "SOFA/netCDF")
    budget = _Budget(max_memory, n_fft, reserved)
    from ._h5sofa import Unhandled, open_dataset

    # netCDF-4 files through h5py (~20x cheaper to open); anything else, or anything that path
    # does not handle, through netCDF4 itself.
    h5 = open_dataset(name)
    if h5 is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with h5:
                    hrtf = _read_sofa_dataset(h5, name, apply_delay, budget)
            except Unhandled:
                hrtf = None
                budget.used = 0
        if hrtf is not None:
            for w in caught:  # only now: a fallback would warn again
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return hrtf
    _check_nc3_size(name)
    import netCDF4

    try:
        ds = netCDF4.Dataset(name, "r")
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        if getattr(exc, "errno", None) == -101 or "HDF error" in reason:
            # NC_EHDFERR: the HDF5 layer failed, typically a cut-off or damaged file
            reason += " (truncated or corrupt HDF5 file?)"
        raise HrtfevalError(f"not a readable SOFA/netCDF file: {reason}", file=name) from None
    with ds:
        try:
            # Plain ndarrays: masked arrays are slower and a fill value is not a missing sample.
            ds.set_auto_mask(False)
            return _read_sofa_dataset(ds, name, apply_delay, budget)
        except HrtfevalError:
            raise
        except (OSError, RuntimeError) as exc:  # "NetCDF: HDF error" on damaged metadata
            raise HrtfevalError(
                f"not a readable SOFA/netCDF file: {_exception_line(exc)} (corrupt HDF5 file?)",
                file=name,
            ) from None


def _check_nc3_size(name: str) -> None:
    """A netCDF-3 file shorter than its header declares -> HrtfevalError (netCDF-C would read
    the missing values as zeros)."""
    from ._nc3 import HeaderError, needed_size

    try:
        with open(name, "rb") as fh:
            needed = needed_size(fh)
            size = os.fstat(fh.fileno()).st_size
    except HeaderError as exc:
        raise HrtfevalError(
            f"not a readable SOFA/netCDF file: damaged or truncated netCDF-3 header ({exc})",
            file=name,
        ) from None
    except OSError as exc:
        raise HrtfevalError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    if needed is not None and size < needed:
        raise HrtfevalError(
            f"truncated netCDF-3 file: it has {size} bytes, its header declares data up to "
            f"byte {needed}",
            file=name,
        )


def _attr(obj: Any, key: str) -> str | None:
    """A netCDF attribute as a stripped str, or None when absent."""
    try:
        value = obj.getncattr(key)
    except (AttributeError, KeyError):
        return None
    if isinstance(value, (list, tuple)):  # an NC_STRING attribute with several values
        value = ", ".join(_attr_text(v) for v in value)
    elif isinstance(value, np.ndarray):
        value = " ".join(_attr_text(v) for v in value.ravel())
    return _attr_text(value)


def _attr_text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip(_ATTR_PADDING)


def _read_var(
    ds: Any,
    name: str,
    file: str,
    *orders: tuple[str, ...],
    budget: _Budget | None = None,
    data_domain: str | None = None,
    fill: list | None = None,
) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """(values, dimension names) of a variable, or None when the file has no such variable.

    ``orders`` are the AES69 dimension orders of the variable (e.g. ``("M", "R", "N")``): a
    variable whose dimensions carry those names in another order (a writer that kept MATLAB's
    column-major order) is transposed to it.

    The declared size is charged to ``budget`` before anything is read: for the data variable
    (``data_domain`` given) with the working memory of scoring it, else the values and their
    float64 copy. Values that are not real numbers (strings, compound types) are an error.
    ``fill``, a list, receives a function returning the variable's fill value (what never-written
    elements read as), or None: it is only asked for when the data look like holding one.
    """
    var = ds.variables.get(name)
    if var is None:
        return None
    shape = tuple(int(d) for d in var.shape)
    try:
        itemsize = int(np.dtype(var.dtype).itemsize) or 8
    except TypeError:  # a variable-length string type
        itemsize = 8
    if budget is not None:
        if data_domain is not None:
            budget.take_data(shape, data_domain, itemsize, name, file)
        else:
            budget.take(math.prod(shape) * (itemsize + 8), f"{name} of shape {shape}", file)
    # The h5py path never hands out a packed variable (it leaves those to netCDF4): no need to
    # list its attributes (one HDF5 open per attribute).
    packing = set() if getattr(var, "never_packed", False) else set(var.ncattrs()) & _PACKING_ATTRS
    for attr in sorted(packing):
        _check_packing(var.getncattr(attr), name, attr, file)
    values = None
    if name in _BULK_VARIABLES and not packing:
        # Raw chunks inflated by libdeflate (_h5fast): about half the CPU time of HDF5's own read.
        raw_read = getattr(var, "read_raw_chunks", None)
        if raw_read is not None:
            values = raw_read()
        else:
            from ._h5fast import read_variable

            values = read_variable(file, name)
        if values is not None and values.shape != tuple(var.shape):
            values = None
    if values is None:
        try:
            values = np.asarray(var[...])
        except (OSError, RuntimeError, IndexError, ValueError) as exc:
            raise HrtfevalError(
                f"not a readable SOFA/netCDF file: reading {name} failed ({exc})", file=file
            ) from None
    if values.dtype.kind not in "iuf":  # also no bools (an HDF5 enum, not a netCDF type)
        raise HrtfevalError(
            f"{name} has values of type {_dtype_text(values.dtype)}; expected real numbers",
            file=file,
        )
    if fill is not None:
        fill.append(getattr(var, "get_fill_value", None))
    if not orders:
        return values, ()  # no order to check: the dimension names are not needed
    dims = tuple(var.dimensions)
    for order in orders:
        if dims != order and len(set(dims)) == len(dims) and sorted(dims) == sorted(order):
            values = np.ascontiguousarray(np.transpose(values, [dims.index(d) for d in order]))
            return values, order
    return values, dims


def _check_packing(value: Any, name: str, attr: str, file: str) -> None:
    """``scale_factor``/``add_offset`` must be one finite real number: netCDF4 would hand back
    the raw packed integers (with a warning) for anything else."""
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf" or not np.all(np.isfinite(arr)):
        shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        shown = " ".join(repr(shown).split())
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise HrtfevalError(
            f"{name} has {attr} = {shown}; expected one finite number (the values are "
            "stored packed and cannot be unpacked)",
            file=file,
        )


def _dtype_text(dtype: np.dtype) -> str:
    if dtype.names:
        return "compound (" + ", ".join(dtype.names) + ")"
    return {"O": "object (strings?)", "S": "bytes (text)", "U": "text"}.get(dtype.kind, str(dtype))


def _read_sofa_dataset(
    ds: Any, file: str, apply_delay: bool = True, budget: _Budget | None = None
) -> HRTFSet:
    convention = _attr(ds, "SOFAConventions")
    if convention is None:
        raise HrtfevalError(
            "not a SOFA file: it has no global attribute SOFAConventions", file=file
        )
    version = _attr(ds, "SOFAConventionsVersion") or ""
    domain = _convention_domain(convention)
    if domain is None:
        raise HrtfevalError(
            f"SOFA convention {convention!r} is not supported; hrtfeval reads "
            + ", ".join(SOFA_CONVENTIONS)
            + "".join(
                f" and {old} (the old name of {new})"
                for old, new in SOFA_CONVENTION_ALIASES.items()
            ),
            file=file,
        )

    if domain == IR:
        (data, silent), frequencies = _sofa_ir(ds, file, budget), None
    else:
        data, frequencies, silent = _sofa_tf(ds, file, budget)
    m_count = data.shape[0]

    sampling_rate = _sofa_sampling_rate(ds, m_count, file, budget, required=domain == IR)
    positions, pos_meta, stored_positions = _sofa_positions(ds, m_count, file, budget)
    delay = _sofa_delay(ds, m_count, sampling_rate, file, budget)

    meta: dict[str, Any] = {"format": "SOFA", "sofa_version": _attr(ds, "Version") or ""}
    for key, attr in (
        ("title", "Title"),
        ("database", "DatabaseName"),
        ("listener", "ListenerShortName"),
        ("data_type", "DataType"),
    ):
        value = _attr(ds, attr)
        if value:
            meta[key] = value
    meta.update(pos_meta)

    delay_applied = False
    if delay is not None:
        meta["delay_min_samples"] = float(delay.min())
        meta["delay_max_samples"] = float(delay.max())
        if np.any(delay != 0) and not apply_delay:
            meta["delay_ignored"] = True
        elif np.any(delay != 0):
            data, delay_applied = _apply_sofa_delay(
                data, delay, domain, sampling_rate, frequencies, file
            )
            if delay_applied and domain == IR:
                silent = silent_rows(data)  # a delay can push a whole response past N
    meta["delay_applied"] = delay_applied

    return HRTFSet(
        path=file,
        data=data,
        domain=domain,
        sampling_rate=sampling_rate,
        positions=positions,
        frequencies=frequencies,
        convention=convention,
        version=version,
        delay_applied=delay_applied,
        meta=meta,
        silent=silent,
        stored_positions=stored_positions,
    )


def _convention_domain(convention: str) -> str | None:
    """The domain of a convention name, also for old names and other capitalisations."""
    known = {
        **SOFA_CONVENTIONS,
        **{old: SOFA_CONVENTIONS[new] for old, new in SOFA_CONVENTION_ALIASES.items()},
    }
    if convention in known:
        return known[convention]
    folded = {name.lower(): domain for name, domain in known.items()}
    return folded.get(convention.lower())


def _check_data(values: np.ndarray, name: str, file: str, fill: Any = None) -> np.ndarray:
    """Shape (M, 2, N) with M, N > 0, all finite and no never-written elements, else
    HrtfevalError.

    Returns the (M,) mask of silent directions (an ear all zeros), found from the same per-ear
    sums that check finiteness: only ears summing to exactly 0 are looked at again. ``fill``
    returns the variable's fill value (asked only when needed): elements equal to it were never
    written (or a damaged chunk index lost them). Only the netCDF-sized fills (|fill| >= 1e30) are checked, through the
    same sums: an ear holding one has a sum of that size.
    """
    if values.ndim != 3:
        raise HrtfevalError(
            f"{name} has shape {tuple(values.shape)}; expected (M, 2, N)", file=file
        )
    m_count, r_count, n_count = values.shape
    if r_count != 2:
        raise HrtfevalError(
            f"{name} has {r_count} receiver(s); hrtfeval scores binaural sets with exactly 2 "
            "(left, right)",
            file=file,
        )
    if m_count == 0 or n_count == 0:
        raise HrtfevalError(
            f"{name} has shape {tuple(values.shape)}; expected at least one measurement and "
            "one sample",
            file=file,
        )
    with np.errstate(all="ignore"):
        ear_sums = values.sum(axis=-1)
    _check_finite(values, name, file, ear_sums.sum())
    _check_unwritten(values, ear_sums, fill, name, file)
    return silent_rows(values, ear_sums)


def _check_unwritten(
    values: np.ndarray, ear_sums: np.ndarray, fill: Any, name: str, file: str
) -> None:
    if fill is None or not np.any(np.abs(ear_sums) >= 0.5 * _HUGE_FILL):
        return  # no ear sums anywhere near a netCDF-sized fill value: none is there
    try:
        fill = float(np.asarray(fill()).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return
    if not math.isfinite(fill) or abs(fill) < _HUGE_FILL:
        return
    unwritten = values == fill
    count = int(np.count_nonzero(unwritten))
    if count:
        first = [int(i) for i in np.argwhere(unwritten)[0]]
        raise HrtfevalError(
            f"{name} has {count} element(s) equal to its fill value {fill:g}, first at {first}: "
            "never written, or the file is damaged",
            file=file,
        )


def _check_finite(values: np.ndarray, name: str, file: str | None, total: Any = None) -> None:
    # One sum is cheaper than a full isfinite mask and is finite whenever every value is (an
    # overflow to inf only costs the full check below, which then finds nothing).
    if total is None:
        with np.errstate(all="ignore"):
            total = values.sum()
    if np.isfinite(total):
        return
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    if count:
        first = [int(i) for i in np.argwhere(bad)[0]]
        raise HrtfevalError(f"{name} has {count} non-finite value(s), first at {first}", file=file)


def _sofa_ir(ds: Any, file: str, budget: _Budget | None) -> tuple[np.ndarray, np.ndarray]:
    fill: list = []
    got = _read_var(ds, "Data.IR", file, _MRN, budget=budget, data_domain=IR, fill=fill)
    if got is None:
        raise HrtfevalError("SOFA file has no variable Data.IR", file=file)
    values = got[0]
    if values.dtype != np.float64:
        values = values.astype(np.float64)
    return values, _check_data(values, "Data.IR", file, fill[0])


def _sofa_tf(
    ds: Any, file: str, budget: _Budget | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fills: list = []
    real = _read_var(ds, "Data.Real", file, _MRN, budget=budget, data_domain=TF, fill=fills)
    imag = _read_var(ds, "Data.Imag", file, _MRN, budget=budget, fill=fills)
    if real is None or imag is None:
        pairs = (("Data.Real", real), ("Data.Imag", imag))
        missing = " and ".join(n for n, v in pairs if v is None)
        raise HrtfevalError(f"SOFA file has no variable {missing}", file=file)
    re_part = real[0].astype(np.float64, copy=False)
    im_part = imag[0].astype(np.float64, copy=False)
    silent_re = _check_data(re_part, "Data.Real", file, fills[0])
    silent_im = _check_data(im_part, "Data.Imag", file, fills[1])
    if re_part.shape != im_part.shape:
        raise HrtfevalError(
            f"Data.Real has shape {re_part.shape} but Data.Imag has shape {im_part.shape}; "
            "expected equal shapes",
            file=file,
        )
    data = re_part + 1j * im_part
    # An ear is silent when both parts are zero; silent_rows of the complex data decides for
    # the few directions where each part has a silent ear (not necessarily the same one).
    maybe = np.flatnonzero(silent_re & silent_im)
    silent = np.zeros(data.shape[0], dtype=bool)
    if maybe.size:
        silent[maybe] = silent_rows(data[maybe])

    freq = _read_var(ds, "N", file, budget=budget)
    if freq is None:
        raise HrtfevalError(
            "SOFA file has no variable N (the frequencies of Data.Real/Data.Imag)", file=file
        )
    frequencies = np.asarray(freq[0], dtype=np.float64).reshape(-1)
    if frequencies.shape[0] != data.shape[2]:
        raise HrtfevalError(
            f"variable N has {frequencies.shape[0]} frequencies but Data.Real has "
            f"{data.shape[2]} bins; expected equal counts",
            file=file,
        )
    _check_finite(frequencies, "N", file)
    units = _attr(ds.variables["N"], "Units")
    if units is not None and units.lower() not in _HERTZ:
        raise HrtfevalError(
            f"variable N has units {units!r}; expected 'hertz' (or 'Hz')", file=file
        )
    return data, frequencies, silent


def _per_measurement(
    values: np.ndarray, dims: tuple[str, ...], m_count: int, name: str, file: str
) -> np.ndarray:
    """Apply SOFA's I/M rule to the first axis: size 1 (dimension I) broadcasts to M rows."""
    if values.ndim == 0:
        values = values.reshape(1)
    first = values.shape[0]
    if first == m_count:
        return values
    if first == 1:
        return np.repeat(values, m_count, axis=0)
    dim = dims[0] if dims else "?"
    raise HrtfevalError(
        f"{name} has {first} rows along dimension {dim}; expected 1 (I) or M={m_count}",
        file=file,
    )


def _sofa_sampling_rate(
    ds: Any, m_count: int, file: str, budget: _Budget | None = None, *, required: bool
) -> float | None:
    got = _read_var(ds, "Data.SamplingRate", file, budget=budget)
    if got is None:
        if required:
            raise HrtfevalError("SOFA file has no variable Data.SamplingRate", file=file)
        return None  # TF conventions need no rate; alignment takes the other file's if needed
    values = np.asarray(got[0], dtype=np.float64).reshape(-1)
    if values.size not in (1, m_count):
        raise HrtfevalError(
            f"Data.SamplingRate has {values.size} values; expected 1 or M={m_count}", file=file
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise HrtfevalError(
            f"Data.SamplingRate is {_fmt_values(values)}; expected a positive number of hertz",
            file=file,
        )
    if values.max() - values.min() > 1e-9 * values.max():
        raise HrtfevalError(
            f"Data.SamplingRate varies across measurements ({values.min():g} to "
            f"{values.max():g} Hz); expected one rate for the whole set",
            file=file,
        )
    units = _attr(ds.variables["Data.SamplingRate"], "Units")
    if units is not None and units.lower() not in _HERTZ:
        raise HrtfevalError(
            f"Data.SamplingRate has units {units!r}; expected 'hertz' (or 'Hz')", file=file
        )
    return float(values[0])


def _fmt_values(values: np.ndarray) -> str:
    shown = ", ".join(f"{v:g}" for v in values[:3])
    return f"[{shown}{', ...' if values.size > 3 else ''}]"


def _sofa_positions(
    ds: Any, m_count: int, file: str, budget: _Budget | None = None
) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
    got = _read_var(ds, "SourcePosition", file, ("M", "C"), ("I", "C"), budget=budget)
    if got is None:
        # Mandatory in AES69: without it the rows cannot be matched by direction, and taking
        # them to be in the other file's order would score a misread.
        raise HrtfevalError(
            "SOFA file has no readable variable SourcePosition (missing or damaged; it is "
            "mandatory in AES69), so its directions "
            "are unknown",
            file=file,
        )
    values, dims = got
    values = np.asarray(values, dtype=np.float64)
    # Some old files carry a trailing singleton (e.g. (M, C, 1)).
    while values.ndim > 2 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 1 and values.shape[0] == 3:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != 3:
        raise HrtfevalError(
            f"SourcePosition has shape {tuple(values.shape)}; expected (M, 3) or (1, 3)",
            file=file,
        )
    values = _per_measurement(values, dims, m_count, "SourcePosition", file)
    var = ds.variables["SourcePosition"]
    ptype, units = _attr(var, "Type"), _attr(var, "Units")
    positions, stored = _parse_positions(values, ptype, units, "SourcePosition", file)
    return positions, {"position_type": ptype or "", "position_units": units or ""}, stored


def _unit_tokens(units: str) -> list[str]:
    return [t for t in re.split(r"[,;\s]+", units.strip().lower()) if t]


def parse_source_positions(
    values: np.ndarray,
    position_type: str | None,
    units: str | None,
    *,
    name: str = "SourcePosition",
    file: str | None = None,
) -> np.ndarray:
    """SOFA positions -> (M, 3) azimuth [0, 360) degree, elevation degree, distance metre.

    Parameters
    ----------
    values : numpy.ndarray, shape (M, 3)
    position_type : {"spherical", "cartesian"} or None
        Case-insensitive. ``None`` (attribute missing): inferred from ``units`` -- angle units
        mean spherical, length units only mean cartesian; without units either, SOFA's default
        for source positions (spherical, degree, degree, metre).
    units : str or None
        Comma- or space-separated, e.g. ``"degree, degree, metre"``, ``"deg deg m"``,
        ``"rad, rad, m"`` (radians are converted) or ``"metre"`` for cartesian. ``None``
        assumes degree/metre.

    Spherical elevations outside [-90, 90] degree are folded back over the pole (elevation
    315 is -45; elevation 100 at azimuth 0 is elevation 80 at azimuth 180), so the result
    always has elevation in [-90, 90] and names the same direction as the input.

    Raises
    ------
    HrtfevalError
        Unknown type or units, non-finite values, or a cartesian position at the origin.
    """
    return _parse_positions(values, position_type, units, name, file)[0]


def _parse_positions(
    values: np.ndarray, position_type: str | None, units: str | None, name: str, file: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`parse_source_positions`, and the spherical positions as stored (degrees; None when
    cartesian) for :attr:`~hrtfeval.model.HRTFSet.stored_positions`."""
    values = np.asarray(values, dtype=np.float64)
    _check_finite(values, name, file)
    tokens = _unit_tokens(units) if units else []
    angle_tokens = [_ANGLE_UNITS.get(t) for t in tokens]
    ptype = (position_type or "").strip().lower()
    if not ptype:
        if not tokens or angle_tokens[0] is not None:
            ptype = "spherical"
        elif tokens and all(t in _LENGTH_UNITS for t in tokens):
            ptype = "cartesian"
        else:
            raise HrtfevalError(
                f"{name} has no Type attribute and units {units!r} do not say whether it is "
                "spherical (e.g. 'degree, degree, metre') or cartesian ('metre')",
                file=file,
            )

    if ptype == "spherical":
        if not tokens:
            angle_unit: tuple[str | None, str | None] = ("degree", "degree")
        elif (
            len(tokens) <= 3
            and angle_tokens[0] is not None
            and (len(tokens) < 2 or angle_tokens[1] is not None)
            and (len(tokens) < 3 or tokens[2] in _LENGTH_UNITS)
        ):
            angle_unit = (angle_tokens[0], angle_tokens[1] if len(tokens) > 1 else angle_tokens[0])
        else:
            raise HrtfevalError(
                f"{name} is spherical with units {units!r}; expected 'degree, degree, metre' "
                "(also 'deg'/'degrees', 'rad'/'radian', 'm'/'meter')",
                file=file,
            )
        out = values.copy()
        for col, unit in enumerate(angle_unit):
            if unit == "radian":
                out[:, col] = np.rad2deg(out[:, col])
        stored = out.copy()
        out[:, 0], out[:, 1] = _fold_elevation(out[:, 0], out[:, 1])
        az = np.mod(out[:, 0], 360.0)
        az[az >= 360.0] -= 360.0  # np.mod(-1e-15, 360) rounds to 360.0
        out[:, 0] = az
        return out, stored

    if ptype == "cartesian":
        if tokens and not (len(tokens) in (1, 3) and all(t in _LENGTH_UNITS for t in tokens)):
            raise HrtfevalError(
                f"{name} is cartesian with units {units!r}; expected 'metre' (or 'meter', 'm')",
                file=file,
            )
        at_origin = np.flatnonzero(~np.any(values != 0, axis=1))
        if at_origin.size:
            raise HrtfevalError(
                f"{name} row {int(at_origin[0])} is (0, 0, 0), which has no direction "
                f"({at_origin.size} such row(s))",
                file=file,
            )
        return cartesian_to_spherical(values), None

    raise HrtfevalError(
        f"{name} has Type {position_type!r}; expected 'spherical' or 'cartesian'", file=file
    )


def _fold_elevation(azimuth: np.ndarray, elevation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elevations outside [-90, 90] degree -> the same directions with elevation in [-90, 90].

    Some databases write elevations modulo 360 (LISTEN's -15 deg is 345); an elevation past a
    pole is the elevation mirrored at that pole, seen from the opposite azimuth.
    """
    outside = (elevation < -90.0) | (elevation > 90.0)
    if not outside.any():
        return azimuth, elevation
    azimuth, elevation = azimuth.copy(), elevation.copy()
    wrapped = np.mod(elevation[outside] + 180.0, 360.0) - 180.0  # [-180, 180)
    over = np.abs(wrapped) > 90.0
    wrapped[over] = np.copysign(180.0, wrapped[over]) - wrapped[over]
    elevation[outside] = wrapped
    azimuth[np.flatnonzero(outside)[over]] += 180.0
    return azimuth, elevation


def _sofa_delay(
    ds: Any, m_count: int, sampling_rate: float | None, file: str, budget: _Budget | None = None
) -> np.ndarray | None:
    """``Data.Delay`` as (M, 2) samples, or None when the file has none.

    AES69 gives the delay in samples and defines no Units for it; a file whose ``Units``
    attribute says seconds is converted with the sampling rate.
    """
    got = _read_var(ds, "Data.Delay", file, ("M", "R"), ("I", "R"), budget=budget)
    if got is None:
        return None
    values, dims = got
    shape = tuple(values.shape)
    values = np.asarray(values, dtype=np.float64)
    # Old files: (I, R, 1) / (M, R, 1); a bare (R,) or scalar also occurs.
    while values.ndim > 2 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 0:
        values = values.reshape(1, 1)
    elif values.ndim == 1:
        # One delay per measurement (dimension M) applies to both ears; otherwise (R,).
        per_row = dims[:1] == ("M",) or values.shape[0] not in (1, 2)
        values = values[:, None] if per_row else values[None, :]
    if values.ndim != 2 or values.shape[1] not in (1, 2):
        raise HrtfevalError(
            f"Data.Delay has shape {shape}; expected (1, 2) or (M, 2) samples", file=file
        )
    values = _per_measurement(values, dims, m_count, "Data.Delay", file)
    _check_finite(values, "Data.Delay", file)
    negative = np.flatnonzero(np.any(values < 0, axis=1))
    if negative.size:
        raise HrtfevalError(
            f"Data.Delay has {negative.size} row(s) with a negative delay (min "
            f"{float(values.min()):g}, first at row {int(negative[0])}); expected delays >= 0 "
            "(samples the response is late by)",
            file=file,
        )
    units = _attr(ds.variables["Data.Delay"], "Units")
    unit = (units or "").lower()
    if unit in _SECOND_UNITS:
        if sampling_rate is None:
            if np.any(values != 0):
                warnings.warn(
                    HrtfevalWarning(
                        "Data.Delay is in seconds but the file has no sampling rate to "
                        "convert it to samples; it is ignored",
                        file,
                    ),
                    stacklevel=4,
                )
            return None
        values = values * sampling_rate
    elif unit not in _SAMPLE_UNITS:
        raise HrtfevalError(
            f"Data.Delay has units {units!r}; expected samples (no Units attribute) or 'second'",
            file=file,
        )
    return np.broadcast_to(values, (m_count, 2)).copy()


def _apply_sofa_delay(
    data: np.ndarray,
    delay: np.ndarray,
    domain: str,
    sampling_rate: float | None,
    frequencies: np.ndarray | None,
    file: str,
) -> tuple[np.ndarray, bool]:
    if domain == IR:
        delayed, lost = apply_delay(data, delay)
        if lost > DELAY_LOSS_WARN_FRACTION:
            warnings.warn(
                HrtfevalWarning(
                    f"Data.Delay (up to {delay.max():g} samples) pushes {100 * lost:.2g} % "
                    f"of the set's energy past the {data.shape[2]} samples kept; that part is "
                    "lost",
                    file,
                ),
                stacklevel=4,
            )
        return delayed, True
    if sampling_rate is None:
        warnings.warn(
            HrtfevalWarning(
                "Data.Delay is non-zero but the file has no sampling rate, so the delay "
                "(in samples) cannot be applied to the spectra; it is ignored",
                file,
            ),
            stacklevel=4,
        )
        return data, False
    phase = np.exp(
        (-2j * np.pi / sampling_rate) * delay[:, :, None] * np.asarray(frequencies)[None, None, :]
    )
    return data * phase, True


def apply_delay(ir: np.ndarray, delay: np.ndarray) -> tuple[np.ndarray, float]:
    """Delay impulse responses by ``delay`` samples, keeping their length N.

    Integer delays are pure shifts (zeros shifted in). Fractional delays use a linear phase
    ``exp(-2j*pi*k*d/L)`` on a zero-padded FFT of length ``L >= 2N + |d|`` (band-limited
    interpolation), then keep the first N samples. Either way, what is pushed past sample N
    (or, for a negative delay, before sample 0) is lost.

    Parameters
    ----------
    ir : numpy.ndarray, shape (M, R, N), real
    delay : numpy.ndarray, broadcastable to (M, R)
        Delay in samples per measurement and receiver.

    Returns
    -------
    delayed : numpy.ndarray, shape (M, R, N)
    lost_fraction : float
        Energy lost over the whole set divided by its energy (0 for an all-zero set).
    """
    ir = np.asarray(ir, dtype=np.float64)
    m_count, r_count, n_count = ir.shape
    delay = np.broadcast_to(np.asarray(delay, dtype=np.float64), (m_count, r_count))
    out = ir.copy()
    lost = 0.0
    rounded = np.rint(delay)
    is_int = np.abs(delay - rounded) <= 1e-9
    gone = np.abs(delay) >= n_count  # pushed out entirely (also keeps the FFT below short)

    shift = is_int & (rounded != 0) & ~gone
    if shift.any():
        k = rounded[shift].astype(np.int64)
        src = ir[shift]  # (P, N)
        idx = np.arange(n_count)[None, :] - k[:, None]
        valid = (idx >= 0) & (idx < n_count)
        moved = np.take_along_axis(src, np.clip(idx, 0, n_count - 1), axis=1)
        moved[~valid] = 0.0
        out[shift] = moved
        lost += float(np.sum(src * src) - np.sum(moved * moved))

    frac = ~is_int & ~gone
    if frac.any():
        d = delay[frac]
        # |d| < N, so the delayed response [d, d + N) never wraps back into the kept [0, N).
        n_fft = 2 * n_count + int(math.ceil(float(np.abs(d).max())))
        spec = np.fft.rfft(ir[frac], n=n_fft, axis=-1)
        bins = np.arange(spec.shape[-1]) / n_fft
        spec *= np.exp(-2j * np.pi * d[:, None] * bins[None, :])
        full = np.fft.irfft(spec, n=n_fft, axis=-1)
        out[frac] = full[:, :n_count]
        tail = full[:, n_count:]  # past N, or (negative delay) wrapped from before 0
        lost += float(np.sum(tail * tail))

    if gone.any():
        lost += float(np.sum(ir[gone] ** 2))
        out[gone] = 0.0

    energy = float(np.einsum("ijk,ijk->", ir, ir))
    return out, (min(max(lost, 0.0) / energy, 1.0) if energy > 0.0 else 0.0)


# --------------------------------------------------------------------------------------------
# PyTorch


def read_pt(
    path: str | os.PathLike,
    *,
    max_memory: int | None = None,
    n_fft: int | None = None,
    reserved: int = 0,
) -> HRTFSet:
    """Read a ``torch.save`` file into an :class:`HRTFSet` (``weights_only=True``: no code runs).

    Accepted content:

    * a tensor of shape (M, 2, N): real -> ``"ir"``, complex -> ``"tf"``;
    * a dict with exactly one data key -- ``"hrir"`` or ``"ir"`` (real, time domain),
      ``"hrtf"`` (complex -> ``"tf"``, real -> linear ``"magnitude"``) or ``"hrtf_db"``
      (``"db"``) -- and optionally ``"sampling_rate"`` (Hz; a number or one-element tensor),
      ``"positions"`` ((M, 3) azimuth degree, elevation degree, distance metre) and
      ``"frequencies"`` ((N,) Hz, frequency-domain data only). Other keys are ignored (listed in
      ``meta["ignored_keys"]``).

    Missing rate, positions or frequencies stay ``None``; :func:`hrtfeval.align.align_pair` fills
    them from the other file. Data become float64 (complex128 when complex); quantized tensors
    are dequantized; meta, sparse and nested tensors are refused. Each tensor's size is checked
    against ``max_memory`` (see :func:`read_hrtf`) before it is converted, so an expanded
    (stride-0) tensor cannot blow up.

    Raises
    ------
    HrtfevalError
        Unreadable file, an object other than tensors/dicts/numbers, no or several data keys,
        wrong shapes, non-finite values.
    """
    name = str(path)
    _check_file(path, "PyTorch")
    budget = _Budget(max_memory, n_fft, reserved)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        raise HrtfevalError(
            "reading .pt files needs PyTorch (pip install torch)", file=name
        ) from None

    _check_zip_crc(name)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols and storages; the user gets our message instead.
            warnings.simplefilter("ignore")
            obj = torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        detail = (
            f"it holds {found.group(1)}, which is not loaded for safety"
            if found
            else "torch.load(weights_only=True) cannot unpickle it"
        )
        raise HrtfevalError(
            f"{detail}; only tensors, dicts of tensors and numbers are accepted", file=name
        ) from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/... on corrupt files
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise HrtfevalError(f"not a readable PyTorch file: {reason}", file=name) from None

    meta: dict[str, Any] = {"format": "pt"}
    if isinstance(obj, torch.Tensor):
        key, raw, extras = "tensor", obj, {}
    elif isinstance(obj, dict):
        keys = [k for k in obj if k in PT_DATA_KEYS]
        if len(keys) != 1:
            found = ", ".join(repr(k) for k in keys) if keys else "none"
            raise HrtfevalError(
                f"the dict has {found} of the data keys; expected exactly one of "
                + ", ".join(repr(k) for k in PT_DATA_KEYS),
                file=name,
            )
        key, raw = keys[0], obj[keys[0]]
        extras = {k: obj[k] for k in _PT_OPTIONAL_KEYS if k in obj}
        known = PT_DATA_KEYS + _PT_OPTIONAL_KEYS
        ignored = sorted(str(k) for k in obj if k not in known)
        if ignored:
            meta["ignored_keys"] = ignored
    else:
        raise HrtfevalError(
            f"the .pt file holds a {type(obj).__name__}; expected a tensor (M, 2, N) or a dict "
            "with one of " + ", ".join(repr(k) for k in PT_DATA_KEYS),
            file=name,
        )
    meta["data_key"] = key

    data = _pt_array(raw, key, name, budget, data=True)
    domain = _pt_domain(data, key, name)
    silent = _check_data(data, key, name)

    sampling_rate = _pt_sampling_rate(extras.get("sampling_rate"), name)
    positions = stored_positions = None
    if extras.get("positions") is not None:
        positions, stored_positions = _pt_positions(
            extras["positions"], data.shape[0], name, budget
        )
    frequencies = None
    if extras.get("frequencies") is not None:
        if domain == IR:
            meta.setdefault("ignored_keys", []).append("frequencies")
        else:
            frequencies = _pt_frequencies(extras["frequencies"], data.shape[2], name, budget)

    return HRTFSet(
        path=name,
        data=data,
        domain=domain,
        sampling_rate=sampling_rate,
        positions=positions,
        frequencies=frequencies,
        convention="pt",
        version="",
        delay_applied=False,
        meta=meta,
        silent=silent,
        stored_positions=stored_positions,
    )


def _check_zip_crc(name: str) -> None:
    """A zip-format ``.pt`` file whose entries fail their CRC-32 check -> HrtfevalError.

    ``torch.load`` never checks the CRCs, so a flipped byte in the tensor data would be read
    as data. One streaming pass over the file (which is read anyway), in bounded memory.
    """
    import zipfile
    import zlib

    try:
        with open(name, "rb") as fh:
            if fh.read(4) != _ZIP_MAGIC:
                return  # a legacy (pickle) file: no checksums to check
    except OSError:
        return  # torch.load reports it
    try:
        with zipfile.ZipFile(name) as archive:
            bad = archive.testzip()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise HrtfevalError(
            f"not a readable PyTorch file: damaged zip archive ({_exception_line(exc)})",
            file=name,
        ) from None
    if bad is not None:
        raise HrtfevalError(
            f"not a readable PyTorch file: its entry {bad!r} fails its CRC-32 check (the file "
            "is damaged)",
            file=name,
        )


def _pt_array(
    value: Any, key: str, file: str, budget: _Budget | None = None, *, data: bool = False
) -> np.ndarray:
    """A tensor / ndarray / number list -> float64 or complex128 ndarray.

    Its size is charged to ``budget`` first (as the data set when ``data``); tensors that hold
    no plain values (meta, sparse, nested) are an error; quantized ones are dequantized.
    """
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_meta:
            raise HrtfevalError(
                f"{key} is a meta tensor (a shape without values); expected a tensor of numbers",
                file=file,
            )
        if value.is_nested or value.layout != torch.strided:
            layout = "nested" if value.is_nested else str(value.layout).replace("torch.", "")
            raise HrtfevalError(
                f"{key} is a {layout} tensor; expected a dense tensor (save tensor.to_dense())",
                file=file,
            )
        if budget is not None:
            shape = tuple(value.shape)
            complex_ = value.is_complex()
            if data:
                domain = TF if complex_ else IR
                budget.take_data(shape, domain, 16 if complex_ else 8, key, file)
            else:
                budget.take(value.numel() * 16, f"{key} of shape {shape}", file)
        value = value.detach()
        if value.is_quantized:
            value = value.dequantize()
        value = value.cpu()
        if value.is_complex():
            return value.to(torch.complex128).numpy()
        if value.dtype == torch.bool:
            raise HrtfevalError(f"{key} is a bool tensor; expected numbers", file=file)
        return value.to(torch.float64).numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        array = None
    if array is None or array.dtype.kind not in "iufc":
        raise HrtfevalError(
            f"{key} is a {type(value).__name__}; expected a tensor of numbers", file=file
        )
    if budget is not None:
        budget.take(array.size * 16, f"{key} of shape {tuple(array.shape)}", file)
    return array.astype(np.complex128 if array.dtype.kind == "c" else np.float64)


def _pt_domain(data: np.ndarray, key: str, file: str) -> str:
    is_complex = np.iscomplexobj(data)
    if key == "tensor":
        return TF if is_complex else IR
    if key in ("hrir", "ir"):
        if is_complex:
            raise HrtfevalError(
                f"{key} is complex; expected real impulse responses (put complex spectra "
                "under 'hrtf')",
                file=file,
            )
        return IR
    if key == "hrtf_db":
        if is_complex:
            raise HrtfevalError(
                "hrtf_db is complex; expected real dB magnitudes (put complex spectra under "
                "'hrtf')",
                file=file,
            )
        return DB
    # "hrtf"
    if is_complex:
        return TF
    if data.size and np.nanmin(data) < 0:
        raise HrtfevalError(
            f"hrtf is real with negative values (min {np.nanmin(data):g}); expected linear "
            "magnitudes >= 0 (put dB magnitudes under 'hrtf_db')",
            file=file,
        )
    return MAGNITUDE


def _pt_sampling_rate(value: Any, file: str) -> float | None:
    if value is None:
        return None
    import torch

    rate: float | None = None
    if isinstance(value, torch.Tensor):
        if value.numel() == 1 and not value.is_complex():
            try:
                rate = float(value.reshape(-1)[0])
            except (RuntimeError, NotImplementedError, TypeError, ValueError):
                rate = None  # a meta, sparse or other tensor without a plain value
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        rate = float(value)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        shown = tuple(value.shape) if isinstance(value, torch.Tensor) else value
        raise HrtfevalError(
            f"sampling_rate is {shown!r}; expected a positive number of hertz (or a "
            "one-element tensor)",
            file=file,
        )
    return rate


def _pt_positions(
    value: Any, m_count: int, file: str, budget: _Budget | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    positions = _pt_array(value, "positions", file, budget)
    if np.iscomplexobj(positions) or positions.shape != (m_count, 3):
        raise HrtfevalError(
            f"positions has shape {tuple(positions.shape)}; expected real ({m_count}, 3) "
            "azimuth degree, elevation degree, distance metre",
            file=file,
        )
    return _parse_positions(positions, "spherical", "degree, degree, metre", "positions", file)


def _pt_frequencies(
    value: Any, n_count: int, file: str, budget: _Budget | None = None
) -> np.ndarray:
    freqs = _pt_array(value, "frequencies", file, budget)
    if np.iscomplexobj(freqs) or freqs.reshape(-1).shape != (n_count,):
        raise HrtfevalError(
            f"frequencies has shape {tuple(freqs.shape)}; expected ({n_count},) hertz, one per bin",
            file=file,
        )
    freqs = freqs.reshape(-1)
    _check_finite(freqs, "frequencies", file)
    return freqs


# --------------------------------------------------------------------------------------------
# info


def _silent_facts(hrtf: HRTFSet) -> dict[str, Any]:
    """``{"count": k, "first": [{"azimuth_deg", "elevation_deg"}, ...] or [row, ...]}`` of the
    silent directions."""
    from .model import SHOWN_DIRECTIONS

    rows = np.flatnonzero(hrtf.silent_mask())[:SHOWN_DIRECTIONS]
    if hrtf.positions is None:
        first: list[Any] = [int(i) for i in rows]
    else:
        first = [
            {
                "azimuth_deg": float(hrtf.positions[i, 0]),
                "elevation_deg": float(hrtf.positions[i, 1]),
            }
            for i in rows
        ]
    return {"count": int(hrtf.silent_mask().sum()), "first": first}


def describe(path: str | os.PathLike, cues: bool = False) -> dict[str, Any]:
    """What ``hrtfeval info`` shows about a file, as a JSON-serialisable dict.

    Keys: ``path``, ``format`` ("SOFA" or "pt"), ``convention``, ``version``, ``sofa_version``,
    ``file_size_bytes``, ``domain``, ``M``, ``R``, ``N``, ``sampling_rate`` (Hz or None),
    ``frequencies`` (count/min/max Hz, or None), ``directions`` (count, azimuth/elevation range
    in degree, distance range in metre, or None without positions), ``position_type``,
    ``position_units``, ``delay`` (min/max samples, nonzero, applied), ``silent_directions``
    (``count`` and the ``first`` few azimuths/elevations in degree, or row indices without
    positions, of the directions with an all-zero ear), ``cues`` (only when ``cues`` is true:
    ITD range in µs and ILD range in dB over the other directions; see
    :func:`hrtfeval.cues.cue_ranges`), and ``title``, ``database``, ``listener`` (str or None).

    Parameters
    ----------
    path : str or os.PathLike
        A .sofa or .pt file.
    cues : bool, default False
        Also compute the cue ranges. They cost an ITD of every direction, and torch's import
        (seconds); without them nothing heavier than numpy and h5py is imported for a SOFA file.

    Raises
    ------
    HrtfevalError
        See :func:`read_hrtf`.
    """
    hrtf = read_hrtf(path)
    meta = hrtf.meta
    directions = None
    if hrtf.positions is not None:
        pos = hrtf.positions
        directions = {
            "count": int(pos.shape[0]),
            "azimuth_min_deg": float(pos[:, 0].min()),
            "azimuth_max_deg": float(pos[:, 0].max()),
            "elevation_min_deg": float(pos[:, 1].min()),
            "elevation_max_deg": float(pos[:, 1].max()),
            "distance_min_m": float(pos[:, 2].min()),
            "distance_max_m": float(pos[:, 2].max()),
        }
    frequencies = None
    if hrtf.frequencies is not None:
        f = hrtf.frequencies
        frequencies = {"count": int(f.size), "min_hz": float(f.min()), "max_hz": float(f.max())}
    d_min = meta.get("delay_min_samples")
    d_max = meta.get("delay_max_samples")
    ranges = {}
    if cues:
        from .cues import cue_ranges

        try:
            ranges = {"cues": cue_ranges(hrtf)}
        except ValueError as exc:  # e.g. a rate too low for the 3 kHz ITD low-pass, a silent ear
            ranges = {"cues": {"unavailable": str(exc)}}
    return {
        "path": str(path),
        "format": meta.get("format", ""),
        "convention": hrtf.convention,
        "version": hrtf.version,
        "sofa_version": meta.get("sofa_version", ""),
        "file_size_bytes": int(Path(path).stat().st_size),
        "domain": hrtf.domain,
        "M": hrtf.n_directions,
        "R": hrtf.n_ears,
        "N": hrtf.n_samples,
        "sampling_rate": None if hrtf.sampling_rate is None else float(hrtf.sampling_rate),
        "frequencies": frequencies,
        "directions": directions,
        "position_type": meta.get(
            "position_type", "spherical" if hrtf.positions is not None else ""
        ),
        "position_units": meta.get("position_units", ""),
        "delay": {
            "min_samples": None if d_min is None else float(d_min),
            "max_samples": None if d_max is None else float(d_max),
            "nonzero": bool((d_min or 0.0) != 0.0 or (d_max or 0.0) != 0.0),
            "applied": bool(hrtf.delay_applied),
        },
        "silent_directions": _silent_facts(hrtf),
        **ranges,
        "title": meta.get("title"),
        "database": meta.get("database"),
        "listener": meta.get("listener"),
    }
