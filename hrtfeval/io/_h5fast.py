"""Fast read of a deflate-compressed HDF5 variable (the big ``Data.*`` arrays of SOFA files).

Decompressing ``Data.IR`` is most of the cost of scoring a pair. The netCDF4 library reads it
through HDF5's filter pipeline; reading the raw chunks with h5py and inflating them with
libdeflate or zlib-ng (see :func:`_inflater`) gives the same bytes at less than half the CPU
time. Only the plain layout is handled here -- chunked storage with the deflate filter,
optionally preceded by the byte shuffle filter, every chunk present and no filter skipped --
which is what netCDF4 writers (sofar, the SOFA APIs for MATLAB/Octave and Python) produce. Anything
else returns ``None`` and the caller reads the variable the ordinary way.
"""

from __future__ import annotations

import math

import numpy as np

_DEFLATE, _SHUFFLE = 1, 2  # HDF5 filter ids (H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE)


def _inflater():
    """``inflate(raw, size) -> bytes`` of a zlib stream of ``size`` bytes: libdeflate (the
    ``deflate`` package, ~10 % faster than zlib-ng on whole buffers) when installed, else
    zlib-ng, else the standard zlib. Each one checks the stream's Adler-32 checksum."""
    try:
        import deflate

        return deflate.zlib_decompress
    except ImportError:  # pragma: no cover - deflate is a dependency, but stay usable without
        pass
    try:
        from zlib_ng import zlib_ng

        return lambda raw, size: zlib_ng.decompress(raw, bufsize=size)
    except ImportError:  # pragma: no cover
        import zlib

        return lambda raw, size: zlib.decompress(raw, bufsize=size)


def read_variable(path: str, name: str) -> np.ndarray | None:
    """The values of dataset ``name`` in HDF5 file ``path``, or ``None`` when not handled here.

    ``None`` means: h5py missing, not an HDF5 file, no such dataset, or a storage layout or
    filter this fast path does not decode. Never raises for those; the caller falls back.

    A standalone read that opens the file (for tests and tools). The SOFA reader never calls
    it: it reads through the file its back-end already holds open (:func:`read_dataset`, from
    :meth:`hrtfeval.io._h5sofa.Variable.read_raw_chunks`).
    """
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        return None
    try:
        with h5py.File(path, "r") as fh:
            ds = fh.get(name)
            if not isinstance(ds, h5py.Dataset):
                return None
            return read_dataset(ds.id)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError):
        return None


def read_dataset(dsid, shape=None, dtype=None) -> np.ndarray | None:
    """The values of an open dataset (an ``h5py.h5d.DatasetID``, the ``.id`` of an
    ``h5py.Dataset``), or ``None`` when its layout is not handled here. ``shape`` and ``dtype``:
    the dataset's, when the caller has them already."""
    import h5py

    plist = dsid.get_create_plist()
    shape = dsid.shape if shape is None else tuple(shape)
    dtype = dsid.dtype if dtype is None else dtype
    if plist.get_layout() != h5py.h5d.CHUNKED or dtype.kind not in "fiuc" or len(shape) == 0:
        return None
    chunks = plist.get_chunk()
    shuffle = _filters(plist)
    if shuffle is None:
        return None
    grid = [math.ceil(s / c) for s, c in zip(shape, chunks)]
    n_chunks = dsid.get_num_chunks()
    if n_chunks != math.prod(grid):
        return None  # some chunks never written (fill values): leave it to HDF5
    inflate = _inflater()
    chunk_bytes = math.prod(chunks) * dtype.itemsize
    native = dtype.newbyteorder("=")
    out = np.empty(shape, dtype=native)
    whole = tuple(chunks) == tuple(shape)  # one chunk holds it all: decode straight into out
    for i in range(n_chunks):
        offset = dsid.get_chunk_info(i).chunk_offset
        mask, raw = dsid.read_direct_chunk(offset)
        if mask != 0:
            return None  # a filter was skipped for this chunk
        try:
            buf = np.frombuffer(inflate(raw, chunk_bytes), dtype=np.uint8)
        except Exception:  # noqa: BLE001 - corrupt stream: HDF5's own read reports it
            return None
        if buf.size != chunk_bytes:
            return None
        if whole:
            target = out.reshape(-1).view(np.uint8)
            if shuffle and dtype.itemsize > 1:
                _unshuffle_into(buf, dtype.itemsize, target)
            else:
                target[:] = buf
            if not dtype.isnative:  # the bytes are the file's order: swap them once
                out = out.view(dtype).astype(native)
            continue
        if shuffle and dtype.itemsize > 1:
            buf = _unshuffle(buf, dtype.itemsize)
        block = buf.view(dtype).reshape(chunks)
        region = tuple(slice(o, min(o + c, s)) for o, c, s in zip(offset, chunks, shape))
        clip = tuple(slice(0, r.stop - r.start) for r in region)
        out[region] = block[clip]
    return out


def _unshuffle(buf: np.ndarray, itemsize: int) -> np.ndarray:
    """Undo HDF5's byte shuffle: byte k of every item was stored in the k-th plane."""
    out = np.empty(buf.size, dtype=np.uint8)
    _unshuffle_into(buf, itemsize, out)
    return out


def _unshuffle_into(buf: np.ndarray, itemsize: int, out: np.ndarray) -> None:
    planes = buf.reshape(itemsize, -1)
    items = out.reshape(-1, itemsize)
    for k in range(itemsize):  # one plane at a time: ~1.5x faster than a full transpose
        items[:, k] = planes[k]


def _filters(plist) -> bool | None:
    """True/False: deflate with/without a leading shuffle; None: any other filter pipeline."""
    ids = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if ids == [_DEFLATE]:
        return False
    if ids == [_SHUFFLE, _DEFLATE]:
        return True
    return None
