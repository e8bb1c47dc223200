"""One SOFA variable or attribute, read through an open dataset (netCDF4 or the h5py path)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import HrtfevalError
from .backend import SofaFile, SofaVariable
from .checks import _Budget, _check_packing, _dtype_text

# The large data arrays, read through the raw-chunk fast path when their layout allows it;
# variables with netCDF packing attributes are left to netCDF4, which applies them.
_BULK_VARIABLES = frozenset({"Data.IR", "Data.Real", "Data.Imag"})
_PACKING_ATTRS = {"scale_factor", "add_offset"}
# Characters an attribute may be padded with (fixed-length HDF5 strings are NUL- or space-padded).
_ATTR_PADDING = " \t\r\n\x00"
_MRN = ("M", "R", "N")  # the AES69 order of Data.IR, Data.Real and Data.Imag


def _attr(obj: SofaFile | SofaVariable, key: str) -> str | None:
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
    ds: SofaFile,
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
        values = ds.raw_values(name)
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
        fill.append(var.get_fill_value)
    if not orders:
        return values, ()  # no order to check: the dimension names are not needed
    dims = tuple(var.dimensions)
    for order in orders:
        if dims != order and len(set(dims)) == len(dims) and sorted(dims) == sorted(order):
            values = np.ascontiguousarray(np.transpose(values, [dims.index(d) for d in order]))
            return values, order
    return values, dims


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
