"""Checks shared by the SOFA and ``.pt`` readers: the file itself (regular, not empty), the memory
budget, and the values read (shape, finite, packing, fill values)."""

from __future__ import annotations

import math
import os
import stat
from typing import Any

import numpy as np

from ..errors import HrtfevalError
from ..memory import check_size, default_limit, set_bytes
from ..model import silent_rows

_FORMATS = "SOFA (.sofa) or PyTorch (.pt)"
# Fill values at least this large (netCDF's default 9.97e36) are found through per-ear sums.
_HUGE_FILL = 1e30


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


def _os_error(exc: OSError, name: str) -> HrtfevalError:
    """The one-line error of ``exc``, raised opening or reading file ``name``."""
    if isinstance(exc, FileNotFoundError):
        return HrtfevalError("file not found", file=name)
    return HrtfevalError(f"cannot read the file: {exc.strerror or exc}", file=name)


def _check_regular(path: str | os.PathLike) -> os.stat_result:
    """Missing, a directory, a FIFO, a device or a socket -> HrtfevalError (before ``open``
    blocks on a FIFO or reads a device forever)."""
    name = str(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _os_error(exc, name) from None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise HrtfevalError(f"is a directory; expected a {_FORMATS} file", file=name)
    if not stat.S_ISREG(mode):
        from ..procs import special_file

        kind = special_file(path) or "not a regular file"
        raise HrtfevalError(f"is {kind}; expected a regular {_FORMATS} file", file=name)
    return info


def _check_file(path: str | os.PathLike, what: str) -> None:
    """Missing / not a regular file / empty -> HrtfevalError (before a library gives a murkier
    message, or blocks reading a FIFO)."""
    if _check_regular(path).st_size == 0:
        raise HrtfevalError(f"not a readable {what} file: the file is empty", file=str(path))


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


def _check_data(values: np.ndarray, name: str, file: str, fill: Any = None) -> np.ndarray:
    """Shape (M, 2, N) with M, N > 0, all finite and no never-written elements, else
    HrtfevalError.

    Returns the (M,) mask of silent directions (an ear all zeros), found from the same per-ear
    sums that check finiteness: only ears summing to exactly 0 are looked at again. ``fill``
    returns the variable's fill value (asked only when needed): elements equal to it were never
    written (or a damaged chunk index lost them). Only the netCDF-sized fills (|fill| >= 1e30)
    are checked, through the same sums: an ear holding one has a sum of that size.
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


def _fmt_values(values: np.ndarray) -> str:
    shown = ", ".join(f"{v:g}" for v in values[:3])
    return f"[{shown}{', ...' if values.size > 3 else ''}]"
