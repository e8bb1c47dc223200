"""The fast back-end (:func:`hrtfeval.io.backend.open_fast`): the netCDF-4 (HDF5) layout of SOFA
files read with h5py, through the few calls of the netCDF4 API that :mod:`hrtfeval.io` uses
(:class:`~hrtfeval.io.backend.SofaFile`).

Opening a file with ``netCDF4.Dataset`` reads the whole file's metadata (every variable,
dimension and attribute) and costs about 2 ms; a SOFA set is scored in a few milliseconds more,
so that open was a quarter of the time of a batch. h5py opens the same file in ~0.1 ms and
reads only what is asked for (through h5py's low-level API: the high-level objects cost more
than the reads here). :func:`open_dataset` returns an object with the attributes and
methods :mod:`hrtfeval.io` calls on a ``netCDF4.Dataset`` (``variables``, ``getncattr``,
``set_auto_mask``) and on its variables (``shape``, ``dtype``, ``dimensions``, ``ncattrs``,
``getncattr``, ``get_fill_value``, ``[...]``), with the same values, and ``raw_values``: the
big data arrays through their raw chunks (:mod:`._h5fast`).

It handles the layout the netCDF-C library writes -- every variable an HDF5 dataset whose
``DIMENSION_LIST`` names its dimensions, dimensions without a variable marked as such -- and
raises :class:`Unhandled` on anything else (a plain HDF5 file, packed variables, a read error,
a netCDF feature it does not model); the caller then reads the file with netCDF4, which also
words the errors of broken files.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _h5fast
from .backend import Unhandled

#: The NAME attribute netCDF-C gives a dimension that has no coordinate variable.
_PURE_DIMENSION = "This is a netCDF dimension but not a netCDF variable."
#: The dataset name netCDF-C uses for a variable named like a dimension it does not span.
_NON_COORD_PREFIX = "_nc4_non_coord_"
#: netCDF attributes that make the library transform values on read (not modelled here).
_TRANSFORMING_ATTRS = frozenset({"scale_factor", "add_offset"})


def open_dataset(path: str) -> Dataset | None:
    """The SOFA file at ``path`` through h5py, or None when h5py cannot open it as HDF5."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        return None
    try:
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)  # closing the file closes everything in it
        try:
            # Read-only: take HDF5's file lock where the file system supports it, read anyway
            # where it does not (NFS and other mounts without locks).
            fapl.set_file_locking(True, True)
        except AttributeError:  # pragma: no cover - HDF5 before 1.12.1
            pass
        fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY, fapl=fapl)
    except Exception:  # noqa: BLE001 - not HDF5, truncated...: netCDF4 says why
        return None
    return Dataset(fid)


def _has(object_id, key: str) -> bool:
    import h5py

    try:
        return bool(h5py.h5a.exists(object_id, key.encode()))
    except Exception as exc:  # noqa: BLE001
        raise Unhandled(f"attribute {key!r}: {exc}") from None


def _attribute(object_id, key: str) -> Any:
    """An attribute value as netCDF4 returns it (str for text, a list for several strings)."""
    import h5py

    if not _has(object_id, key):
        raise KeyError(key)
    try:
        aid = h5py.h5a.open(object_id, key.encode())
        kind = aid.get_space().get_simple_extent_type()
        dtype = aid.dtype
        if kind == h5py.h5s.NULL:
            return ""  # a zero-length NC_CHAR attribute
        if dtype.kind == "S" and kind == h5py.h5s.SCALAR:  # NC_CHAR text, as netCDF-C writes it
            text = np.empty((), dtype)
            aid.read(text)
            return bytes(text[()]).decode("utf-8", "replace")
        if dtype.kind in "fiu":
            values = np.empty(aid.shape, dtype)
            aid.read(values)
            return values[()] if values.ndim == 0 else values
        # Anything else (variable-length strings, NC_STRING lists...): h5py's general reader.
        value = h5py.AttributeManager(_wrap(object_id))[key]
    except Exception as exc:  # noqa: BLE001 - an unreadable attribute type
        raise Unhandled(f"attribute {key!r}: {exc}") from None
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        items = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value.ravel()]
        return items[0] if len(items) == 1 else items
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _wrap(object_id):
    """A high-level h5py object for a low-level id (only for the rare general attribute read)."""
    import h5py

    if isinstance(object_id, h5py.h5f.FileID):
        return h5py.Group(h5py.h5o.open(object_id, b"/"))
    return h5py.Dataset(object_id)


class Variable:
    """One netCDF variable (an HDF5 dataset)."""

    #: :meth:`_Variables._lookup` raises :class:`Unhandled` for a variable with scale_factor or
    #: add_offset, so a Variable never needs unpacking (the reader skips listing its attributes).
    never_packed = True

    def __init__(self, dsid, name: str, scale_name, dtype: np.dtype | None = None):
        self._id = dsid
        self.name = name
        self._scale_name = scale_name
        self._dims: tuple[str, ...] | None = None
        # Asked for several times a variable; each h5py call builds a new space or type object.
        # The file is open read-only, so neither can change.
        self._shape: tuple[int, ...] | None = None
        self._dtype = dtype

    @property
    def shape(self) -> tuple[int, ...]:
        if self._shape is None:
            self._shape = tuple(self._id.shape)
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            self._dtype = self._id.dtype
        return self._dtype

    def get_fill_value(self) -> Any:
        """The value HDF5 returns for never-written elements (netCDF4's ``get_fill_value``)."""
        try:
            value = np.zeros((1,), dtype=self.dtype)
            self._id.get_create_plist().get_fill_value(value)
            return value[0]
        except Exception as exc:  # noqa: BLE001
            raise Unhandled(f"{self.name}: fill value unreadable ({exc})") from None

    @property
    def dimensions(self) -> tuple[str, ...]:
        if self._dims is None:
            self._dims = self._dimension_names()
        return self._dims

    def _dimension_names(self) -> tuple[str, ...]:
        import h5py

        dsid = self._id
        if dsid.rank == 0:
            return ()
        if not _has(dsid, "DIMENSION_LIST"):
            # A coordinate variable is its own (one) dimension; anything else has no netCDF
            # dimensions here (a plain HDF5 dataset: netCDF4 invents phony ones).
            if (
                dsid.rank == 1
                and _has(dsid, "CLASS")
                and self.getncattr("CLASS") == "DIMENSION_SCALE"
            ):
                return (self.name,)
            raise Unhandled(f"{self.name} has no DIMENSION_LIST")
        try:
            aid = h5py.h5a.open(dsid, b"DIMENSION_LIST")
            refs = np.empty(aid.shape, aid.dtype)
            aid.read(refs)
            names = []
            for entry in refs:
                if len(entry) != 1:
                    raise Unhandled(f"{self.name}: {len(entry)} scales on one axis")
                names.append(self._scale_name(entry[0]))
        except Unhandled:
            raise
        except Exception as exc:  # noqa: BLE001 - broken references
            raise Unhandled(f"{self.name}: dimensions unreadable ({exc})") from None
        if len(names) != dsid.rank:
            raise Unhandled(f"{self.name}: {len(names)} dimensions for {dsid.rank} axes")
        return tuple(names)

    def ncattrs(self) -> list[str]:
        import h5py

        try:
            count = h5py.h5a.get_num_attrs(self._id)
            return [h5py.h5a.open(self._id, index=i).name.decode() for i in range(count)]
        except Exception as exc:  # noqa: BLE001
            raise Unhandled(f"{self.name}: attribute names unreadable ({exc})") from None

    def getncattr(self, key: str) -> Any:
        return _attribute(self._id, key)

    def __getitem__(self, index) -> np.ndarray:
        import h5py

        if index is not Ellipsis:
            raise Unhandled(f"{self.name}: only [...] is read here")
        try:
            values = np.empty(self.shape, self.dtype.newbyteorder("="))
            if values.size:
                self._id.read(h5py.h5s.ALL, h5py.h5s.ALL, values)
            return values
        except Exception as exc:  # noqa: BLE001 - a read error: let netCDF4 word it
            raise Unhandled(f"reading {self.name}: {exc}") from None

    def read_raw_chunks(self) -> np.ndarray | None:
        """The values through :mod:`hrtfeval._h5fast` (raw chunks, libdeflate), or None."""
        try:
            return _h5fast.read_dataset(self._id, self.shape, self.dtype)
        except Exception:  # noqa: BLE001 - the ordinary read decides
            return None


class _Variables:
    """``Dataset.variables``: a read-only mapping, looked up lazily by name."""

    def __init__(self, fid):
        self._fid = fid
        self._cache: dict[str, Variable | None] = {}

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
        """The name of the dimension scale ``ref`` points to. (Not cached: h5py gives a new
        reference object, equal to no other, at every read of a ``DIMENSION_LIST``.)"""
        import h5py

        path = h5py.h5r.get_name(ref, self._fid).decode("utf-8", "replace")
        return path.rsplit("/", 1)[-1]

    def _lookup(self, name: str) -> Variable | None:
        import h5py

        for key in (name, _NON_COORD_PREFIX + name):
            try:
                oid = h5py.h5o.open(self._fid, key.encode())
            except KeyError:
                continue
            except Exception as exc:  # noqa: BLE001
                raise Unhandled(f"looking up {name}: {exc}") from None
            if not isinstance(oid, h5py.h5d.DatasetID):
                raise Unhandled(f"{key} is not a dataset")
            if _has(oid, "NAME"):
                label = _attribute(oid, "NAME")
                if isinstance(label, str) and label.startswith(_PURE_DIMENSION):
                    continue  # a dimension, not a variable
            if any(_has(oid, attr) for attr in _TRANSFORMING_ATTRS):
                raise Unhandled(f"{name} is packed (scale_factor/add_offset)")
            dtype = oid.dtype
            if dtype.kind not in "fiub":
                raise Unhandled(f"{name} has dtype {dtype}")
            return Variable(oid, name, self._scale_name, dtype)
        return None


class Dataset:
    """The netCDF4.Dataset calls :mod:`hrtfeval.io` makes, answered from an HDF5 file id."""

    def __init__(self, fid):
        self._fid = fid
        self.variables = _Variables(fid)

    def set_auto_mask(self, flag: bool) -> None:
        """No-op: values are returned raw, as netCDF4 does with auto-masking off."""

    def getncattr(self, key: str) -> Any:
        return _attribute(self._fid, key)

    def raw_values(self, name: str) -> np.ndarray | None:
        """Variable ``name`` through :meth:`Variable.read_raw_chunks`, or None."""
        var = self.variables.get(name)
        return None if var is None else var.read_raw_chunks()

    def close(self) -> None:
        self._fid.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
