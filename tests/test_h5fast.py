"""The raw-chunk fast path for SOFA data arrays gives exactly what netCDF4 reads."""

from __future__ import annotations

import netCDF4
import numpy as np
import pytest

from hrtfeval import synth
from hrtfeval.io import read_hrtf
from hrtfeval.io._h5fast import read_variable


def netcdf_values(path, name):
    with netCDF4.Dataset(path, "r") as ds:
        ds.set_auto_mask(False)
        return np.asarray(ds.variables[name][...])


def write_var(path, values, fmt="NETCDF4", **kwargs):
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        for i, n in enumerate(values.shape):
            ds.createDimension(f"d{i}", n)
        var = ds.createVariable(
            "Data.IR", values.dtype, tuple(f"d{i}" for i in range(values.ndim)), **kwargs
        )
        var[...] = values
    return path


def test_sofar_written_file(tmp_path):
    positions = synth.sphere_grid(50)
    ir = synth.spherical_head_hrirs(positions, 48000, 128)
    path = synth.write_sofa(tmp_path / "a.sofa", ir, positions, 48000)
    got = read_variable(str(path), "Data.IR")
    assert got is not None
    np.testing.assert_array_equal(got, netcdf_values(path, "Data.IR"))


@pytest.mark.parametrize("chunks", [(8, 1, 16), (37, 2, 50)], ids=["edges", "one-chunk"])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<f4", ">f4"])
def test_chunk_edges_shuffle_and_byte_orders(tmp_path, chunks, shuffle, dtype):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((37, 2, 50)).astype(dtype)
    path = write_var(
        tmp_path / "b.nc",
        values,
        zlib=True,
        complevel=4,
        shuffle=shuffle,
        chunksizes=chunks,
        endian="big" if dtype[0] == ">" else "little",
    )
    got = read_variable(str(path), "Data.IR")
    assert got is not None
    np.testing.assert_array_equal(got, values.astype(values.dtype.newbyteorder("=")))
    assert got.dtype.byteorder in ("=", "|") or got.dtype.isnative


@pytest.mark.parametrize(
    "kwargs", [{}, {"zlib": True, "fletcher32": True}, {"compression": "zstd"}]
)
def test_other_layouts_fall_back(tmp_path, kwargs):
    values = np.arange(60.0).reshape(3, 2, 10)
    try:
        path = write_var(tmp_path / "c.nc", values, **kwargs)
    except (ValueError, RuntimeError, TypeError):
        pytest.skip(f"this netCDF4 build cannot write {kwargs}")
    assert read_variable(str(path), "Data.IR") is None


def test_not_hdf5_and_missing_variable(tmp_path):
    classic = write_var(tmp_path / "d.nc", np.ones((2, 2, 4)), fmt="NETCDF3_CLASSIC")
    assert read_variable(str(classic), "Data.IR") is None
    assert read_variable(str(classic), "Data.Nope") is None
    (tmp_path / "junk").write_bytes(b"junk")
    assert read_variable(str(tmp_path / "junk"), "Data.IR") is None


def test_reader_uses_it_and_agrees(tmp_path, monkeypatch):
    positions = synth.sphere_grid(40)
    ir = synth.spherical_head_hrirs(positions, 44100, 128)
    path = synth.write_sofa(tmp_path / "e.sofa", ir, positions, 44100)
    fast = read_hrtf(path).data
    import hrtfeval.io._h5fast as h5fast

    calls = []
    real = h5fast.read_dataset
    import h5py

    monkeypatch.setattr(
        h5fast,
        "read_dataset",
        lambda dsid, *known: calls.append(h5py.h5i.get_name(dsid)) or real(dsid, *known),
    )
    assert np.array_equal(read_hrtf(path).data, fast) and calls == [b"/Data.IR"]
    monkeypatch.setattr(h5fast, "read_dataset", lambda ds, *known: None)
    monkeypatch.setattr(h5fast, "read_variable", lambda *a: None)
    slow = read_hrtf(path).data
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast, ir)


@pytest.mark.parametrize("inflater", ["zlib-ng", "zlib"])
def test_every_inflater_gives_the_same_values(tmp_path, monkeypatch, inflater):
    import zlib

    from zlib_ng import zlib_ng

    import hrtfeval.io._h5fast as h5fast

    values = np.random.default_rng(5).standard_normal((9, 2, 40))
    path = write_var(tmp_path / "z.nc", values, zlib=True, shuffle=True, chunksizes=(4, 2, 40))
    assert np.array_equal(read_variable(str(path), "Data.IR"), values)  # the default (libdeflate)
    module = zlib_ng if inflater == "zlib-ng" else zlib
    monkeypatch.setattr(
        h5fast, "_inflater", lambda: lambda raw, size: module.decompress(raw, bufsize=size)
    )
    assert np.array_equal(read_variable(str(path), "Data.IR"), values)


def test_corrupt_chunk_is_left_to_hdf5_and_reported(tmp_path):
    import h5py

    from hrtfeval.errors import HrtfevalError

    positions = synth.sphere_grid(20)
    ir = synth.spherical_head_hrirs(positions, 48000, 128)
    path = synth.write_sofa(tmp_path / "bad.sofa", ir, positions, 48000)
    with h5py.File(path, "r") as fh:
        info = fh["Data.IR"].id.get_chunk_info(0)
    raw = bytearray(path.read_bytes())
    middle = info.byte_offset + info.size // 2
    raw[middle : middle + 16] = bytes(16)
    path.write_bytes(bytes(raw))
    assert read_variable(str(path), "Data.IR") is None
    with pytest.raises(HrtfevalError, match="Data.IR"):
        read_hrtf(path)
