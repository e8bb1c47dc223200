"""Read the netCDF-4 (HDF5) layout of SOFA files with h5py, through the few calls of the netCDF4
API that :mod:`hrtfeval.io` uses.

Opening a file with ``netCDF4.Dataset`` reads the whole file's metadata (every variable,
dimension and attribute) and costs about 2 ms; a SOFA set is scored in a few milliseconds more,
so that open was a quarter of the time of a batch. h5py opens the same file in ~0.1 ms and
reads only what is asked for. :func:`open_dataset` returns an object with the attributes and
methods :mod:`hrtfeval.io` calls on a ``netCDF4.Dataset`` (``variables``, ``getncattr``,
``set_auto_mask``) and on its variables (``shape``, ``dimensions``, ``ncattrs``,
``getncattr``, ``[...]``), with the same values.

It handles the layout the netCDF-C library writes -- every variable an HDF5 dataset whose
``DIMENSION_LIST`` names its dimensions, dimensions without a variable marked as such -- and
raises :class:`Unhandled` on anything else (a plain HDF5 file, packed variables, a read error,
a netCDF feature it does not model); the caller then reads the file with netCDF4, which also
words the errors of broken files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _h5fast

#: The NAME attribute netCDF-C gives a dimension that has no coordinate variable.
_PURE_DIMENSION = b"This is a netCDF dimension but not a netCDF variable."
#: The dataset name netCDF-C uses for a variable named like a dimension it does not span.
_NON_COORD_PREFIX = "_nc4_non_coord_"
#: netCDF attributes that make the library transform values on read (not modelled here).
_TRANSFORMING_ATTRS = frozenset({"scale_factor", "add_offset"})


class Unhandled(Exception):
    """The file is not in the layout this module reads; read it with netCDF4 instead."""


def open_dataset(path: str) -> Dataset | None:
    """The SOFA file at ``path`` through h5py, or None when h5py cannot open it as HDF5."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        return None
    try:
        try:
            # Read-only: take HDF5's file lock where the file system supports it, read anyway
            # where it does not (NFS and other mounts without locks).
            handle = h5py.File(path, "r", locking="best-effort")
        except (TypeError, ValueError):  # pragma: no cover - h5py or HDF5 without the option
            handle = h5py.File(path, "r")
    except Exception:  # noqa: BLE001 - not HDF5, truncated...: netCDF4 says why
        return None
    return Dataset(handle)


def _attribute(attrs, key: str) -> Any:
    """An attribute value as netCDF4 returns it (str for text, a list for several strings)."""
    import h5py

    try:
        value = attrs[key]
    except KeyError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable attribute type
        raise Unhandled(f"attribute {key!r}: {exc}") from None
    if isinstance(value, h5py.Empty):
        return ""  # a zero-length NC_CHAR attribute
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        items = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value.ravel()]
        return items[0] if len(items) == 1 else items
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return value


class Variable:
    """One netCDF variable (an HDF5 dataset)."""

    def __init__(self, dataset, name: str, attribute_names: frozenset, scale_name):
        self._ds = dataset
        self._attrs = dataset.attrs
        self.name = name
        self._names = attribute_names
        self._scale_name = scale_name
        self._dims: tuple[str, ...] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._ds.shape)

    @property
    def dimensions(self) -> tuple[str, ...]:
        if self._dims is None:
            self._dims = self._dimension_names()
        return self._dims

    def _dimension_names(self) -> tuple[str, ...]:
        import h5py

        ds = self._ds
        if ds.ndim == 0:
            return ()
        if "DIMENSION_LIST" not in self._names:
            # A coordinate variable is its own (one) dimension; anything else has no netCDF
            # dimensions here (a plain HDF5 dataset: netCDF4 invents phony ones).
            if (
                ds.ndim == 1
                and "CLASS" in self._names
                and self._attrs["CLASS"] == b"DIMENSION_SCALE"
            ):
                return (self.name,)
            raise Unhandled(f"{self.name} has no DIMENSION_LIST")
        try:
            refs = self._attrs["DIMENSION_LIST"]
            names = []
            for entry in refs:
                if len(entry) != 1:
                    raise Unhandled(f"{self.name}: {len(entry)} scales on one axis")
                names.append(self._scale_name(entry[0]))
        except Unhandled:
            raise
        except Exception as exc:  # noqa: BLE001 - broken references
            raise Unhandled(f"{self.name}: dimensions unreadable ({exc})") from None
        if len(names) != ds.ndim:
            raise Unhandled(f"{self.name}: {len(names)} dimensions for {ds.ndim} axes")
        return tuple(names)

    def ncattrs(self) -> list[str]:
        return sorted(self._names)

    def getncattr(self, key: str) -> Any:
        if key not in self._names:
            raise KeyError(key)
        return _attribute(self._attrs, key)

    def __getitem__(self, index) -> np.ndarray:
        try:
            return np.asarray(self._ds[index])
        except Exception as exc:  # noqa: BLE001 - a read error: let netCDF4 word it
            raise Unhandled(f"reading {self.name}: {exc}") from None

    def read_raw_chunks(self) -> np.ndarray | None:
        """The values through :mod:`hrtfeval._h5fast` (raw chunks, zlib-ng), or None."""
        try:
            return _h5fast.read_dataset(self._ds)
        except Exception:  # noqa: BLE001 - the ordinary read decides
            return None


class _Variables:
    """``Dataset.variables``: a read-only mapping, looked up lazily by name."""

    def __init__(self, handle):
        self._handle = handle
        self._cache: dict[str, Variable | None] = {}
        self._scales: dict = {}

    def get(self, name: str, default=None):
        if name not in self._cache:
            self._cache[name] = self._lookup(name)
        found = self._cache[name]
        return default if found is None else found

    def __getitem__(self, name: str) -> Variable:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def _scale_name(self, ref) -> str:
        """The name of the dimension scale ``ref`` points to, looked up once per file."""
        import h5py

        if ref not in self._scales:
            path = h5py.h5r.get_name(ref, self._handle.id).decode("utf-8", "replace")
            self._scales[ref] = path.rsplit("/", 1)[-1]
        return self._scales[ref]

    def _lookup(self, name: str) -> Variable | None:
        import h5py

        handle = self._handle
        for key in (name, _NON_COORD_PREFIX + name):
            try:
                obj = handle.get(key)
            except Exception as exc:  # noqa: BLE001
                raise Unhandled(f"looking up {name}: {exc}") from None
            if obj is None:
                continue
            if not isinstance(obj, h5py.Dataset):
                raise Unhandled(f"{key} is not a dataset")
            names = frozenset(obj.attrs)
            if "NAME" in names:
                name_attr = obj.attrs["NAME"]
                if isinstance(name_attr, bytes) and name_attr.startswith(_PURE_DIMENSION):
                    continue  # a dimension, not a variable
            if _TRANSFORMING_ATTRS & names:
                raise Unhandled(f"{name} is packed (scale_factor/add_offset)")
            if obj.dtype.kind not in "fiub":
                raise Unhandled(f"{name} has dtype {obj.dtype}")
            return Variable(obj, name, names, self._scale_name)
        return None


class Dataset:
    """The netCDF4.Dataset calls :mod:`hrtfeval.io` makes, answered by an open h5py.File."""

    def __init__(self, handle):
        self._handle = handle
        self._attrs = handle.attrs
        self._names = frozenset(self._attrs)
        self.variables = _Variables(handle)

    def set_auto_mask(self, flag: bool) -> None:
        """No-op: values are returned raw, as netCDF4 does with auto-masking off."""

    def getncattr(self, key: str) -> Any:
        if key not in self._names:
            raise KeyError(key)
        return _attribute(self._attrs, key)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
