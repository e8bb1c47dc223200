"""The two back-ends that open a SOFA (netCDF) file, behind one interface.

:mod:`.sofa` reads a file only through :class:`SofaFile` and :class:`SofaVariable`: the few
calls of the netCDF4 API it makes (a variable by name, its shape, dtype, dimensions, attributes,
values and fill value; a global attribute), plus :meth:`SofaFile.raw_values`, the fast read of
a big data array where the back-end has one. Two back-ends answer them:

* :func:`open_fast` -- h5py (:mod:`._h5sofa`, raw chunks through :mod:`._h5fast`): netCDF-4
  files in the layout netCDF-C writes, opened ~20x cheaper than by netCDF4. Every call it
  cannot answer (a feature it does not model, a read error netCDF4 words better) raises
  :class:`Unhandled`, and the reader starts again with the general back-end.
* :func:`open_general` -- ``netCDF4.Dataset``: every netCDF format, and the wording of the
  errors of broken files. A netCDF-3 file's size is first checked against its header
  (:mod:`._nc3`).

Each back-end opens the file itself, once, and reads everything through that handle: nothing
opens a file again by its name while another layer holds it. h5py and netCDF4 are imported
only when a back-end is used.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np

from ..errors import HrtfevalError
from .checks import _os_error

__all__ = ["Unhandled", "SofaVariable", "SofaVariables", "SofaFile", "open_fast", "open_general"]


class Unhandled(Exception):
    """A call the fast back-end does not answer for this file; read it with the general one."""


class SofaVariable(Protocol):
    """One netCDF variable, as :mod:`.sofa` reads it (the netCDF4 names of the calls)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> Any: ...

    @property
    def dimensions(self) -> tuple[str, ...]: ...

    def ncattrs(self) -> list[str]:
        """The names of its attributes."""
        ...

    def getncattr(self, key: str, /) -> Any:
        """An attribute's value; ``KeyError`` or ``AttributeError`` when it has none."""
        ...

    def get_fill_value(self) -> Any:
        """The value never-written elements read as."""
        ...

    def __getitem__(self, index: Any, /) -> Any:
        """``[...]``: all its values, raw (no masking)."""
        ...


class SofaVariables(Protocol):
    """The variables of a file, by name."""

    def get(self, name: str, /) -> SofaVariable | None: ...

    def __getitem__(self, name: str, /) -> SofaVariable: ...


class SofaFile(Protocol):
    """An open SOFA file: what :mod:`.sofa` asks a back-end."""

    @property
    def variables(self) -> SofaVariables: ...

    def getncattr(self, key: str, /) -> Any:
        """A global attribute's value; ``KeyError`` or ``AttributeError`` when there is none."""
        ...

    def raw_values(self, name: str) -> np.ndarray | None:
        """The values of variable ``name`` through a faster path than ``[...]``, or None when
        there is none for it (the reader then reads ``[...]``)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> SofaFile: ...

    def __exit__(self, *exc: object) -> None: ...


def open_fast(path: str) -> SofaFile | None:
    """The file through h5py, or None when h5py cannot open it as HDF5 (then
    :func:`open_general` reads it, and says why when it cannot)."""
    from . import _h5sofa

    return _h5sofa.open_dataset(path)


def open_general(path: str) -> SofaFile:
    """The file through ``netCDF4.Dataset`` (netCDF-3 files after :func:`_check_nc3_size`).

    Raises
    ------
    HrtfevalError
        The file is a truncated netCDF-3 file or netCDF4 cannot open it.
    """
    _check_nc3_size(path)
    import netCDF4

    try:
        ds = netCDF4.Dataset(path, "r")
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        if getattr(exc, "errno", None) == -101 or "HDF error" in reason:
            # NC_EHDFERR: the HDF5 layer failed, typically a cut-off or damaged file
            reason += " (truncated or corrupt HDF5 file?)"
        raise HrtfevalError(f"not a readable SOFA/netCDF file: {reason}", file=path) from None
    return _NetCDF4File(ds)


class _NetCDF4File:
    """:class:`SofaFile` of a ``netCDF4.Dataset``, whose values come as plain ndarrays (masked
    arrays are slower, and a fill value is not a missing sample)."""

    def __init__(self, ds: Any):
        ds.set_auto_mask(False)
        self._ds = ds
        self.variables: SofaVariables = ds.variables

    def getncattr(self, key: str, /) -> Any:
        return self._ds.getncattr(key)

    def raw_values(self, name: str) -> np.ndarray | None:
        return None  # netCDF4 reads through HDF5's own filter pipeline

    def close(self) -> None:
        self._ds.close()

    def __enter__(self) -> _NetCDF4File:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        raise _os_error(exc, name) from None
    if needed is not None and size < needed:
        raise HrtfevalError(
            f"truncated netCDF-3 file: it has {size} bytes, its header declares data up to "
            f"byte {needed}",
            file=name,
        )
