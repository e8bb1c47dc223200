"""The h5py reading of netCDF-4 SOFA files gives what netCDF4 gives, and hands over the rest."""

from __future__ import annotations

import warnings

import netCDF4
import numpy as np
import pytest

from hrtfeval import synth
from hrtfeval.errors import HrtfevalError
from hrtfeval.io import _h5sofa, read_hrtf


def _no_netcdf4(*args, **kwargs):
    raise AssertionError("netCDF4 opened a file the h5py path should read")


def _both(path, h5py_only):
    """(h5py result, netCDF4 result) of read_hrtf, or of the error each raises; with
    ``h5py_only`` the first read must not fall back to netCDF4."""
    results = []
    for use_h5py in (True, False):
        original, dataset = _h5sofa.open_dataset, netCDF4.Dataset
        try:
            if not use_h5py:
                _h5sofa.open_dataset = lambda p: None
            elif h5py_only:
                netCDF4.Dataset = _no_netcdf4
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    got = read_hrtf(path)
                except HrtfevalError as exc:
                    got = exc
            results.append((got, [str(w.message) for w in caught]))
        finally:
            _h5sofa.open_dataset, netCDF4.Dataset = original, dataset
    return results


def _assert_same(path, h5py_only=True):
    (a, warn_a), (b, warn_b) = _both(path, h5py_only)
    assert warn_a == warn_b
    if isinstance(b, HrtfevalError):
        assert isinstance(a, HrtfevalError) and str(a) == str(b)
        return a
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data.dtype == b.data.dtype
    for field in ("domain", "sampling_rate", "convention", "version", "delay_applied", "meta"):
        assert getattr(a, field) == getattr(b, field), field
    for field in ("positions", "frequencies"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)
    return a


def _write(path, *, m=5, n=16, dims=("M", "R", "N"), tf=False, **options):
    """A small SOFA file written with netCDF4, with knobs for the cases below."""
    rng = np.random.default_rng(3)
    data = rng.standard_normal((m, 2, n))
    sizes = {"I": 1, "C": 3, "R": 2, "N": n, "M": m}
    with netCDF4.Dataset(path, "w") as ds:
        ds.Conventions = "SOFA"
        ds.Version = "1.0"
        ds.SOFAConventions = "SimpleFreeFieldHRTF" if tf else "SimpleFreeFieldHRIR"
        ds.SOFAConventionsVersion = "1.0"
        ds.Title = options.get("title", "a title")
        for dim, size in sizes.items():
            ds.createDimension(dim, size)
        order = [dims.index(d) for d in ("M", "R", "N")]
        stored = np.transpose(data, np.argsort(order)) if dims != ("M", "R", "N") else data
        endian = options.get("endian", "native")
        kind = (">" if endian == "big" else "") + options.get("dtype", "f8")
        kwargs = dict(zlib=True, shuffle=True, endian=endian)
        if options.get("packed"):
            var = ds.createVariable("Data.IR", "i2", dims, **kwargs)
            var.scale_factor = 1e-4
            var.add_offset = 0.5
            var[:] = data if dims == ("M", "R", "N") else stored
        else:
            names = ("Data.Real", "Data.Imag") if tf else ("Data.IR",)
            for name in names:
                var = ds.createVariable(name, kind, dims, **kwargs)
                var[:] = stored
        if tf:
            if options.get("n_not_coordinate"):
                # A variable named like dimension N but spanning M: netCDF-C stores it under
                # another dataset name.
                freq = ds.createVariable("N", "f8", ("M",))
                freq[:] = np.arange(m)
            else:
                freq = ds.createVariable("N", "f8", ("N",))
                freq[:] = np.linspace(0, 24000, n)
                freq.Units = "hertz"
        fs = ds.createVariable("Data.SamplingRate", "f8", ("I",))
        fs[:] = 48000.0
        fs.Units = options.get("fs_units", "hertz")
        pos = ds.createVariable("SourcePosition", "f8", ("M", "C"))
        pos[:] = synth.sphere_grid(m)
        pos.Type = "spherical"
        pos.Units = "degree, degree, metre"
        if "delay" in options:
            delay = ds.createVariable("Data.Delay", "f8", ("I", "R"))
            delay[:] = options["delay"]
    return path


def test_sofar_file_is_read_through_h5py_without_netcdf4(tmp_path):
    positions = synth.sphere_grid(30)
    ir = synth.spherical_head_hrirs(positions, 48000, 96)
    path = synth.write_sofa(tmp_path / "a.sofa", ir, positions, 48000)
    expected = _assert_same(path)
    np.testing.assert_array_equal(expected.data, ir)
    assert expected.meta["delay_applied"] is False


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"dims": ("N", "R", "M")},  # MATLAB's column-major order
        {"dtype": "f4"},
        {"endian": "big"},
        {"tf": True},
        {"title": ""},  # an empty text attribute
        {"fs_units": "Hz"},
        {"delay": [[2.0, 3.0]]},
        {"delay": [[0.0, 400.0]]},  # pushes energy out: a warning, once
    ],
    ids=repr,
)
def test_same_set_as_netcdf4(tmp_path, options):
    _assert_same(_write(tmp_path / "f.sofa", **options))


def test_packed_variables_are_left_to_netcdf4(tmp_path):
    # scale_factor / add_offset are applied by netCDF4 on read; the h5py path hands over.
    path = _write(tmp_path / "packed.sofa", packed=True)
    with _h5sofa.open_dataset(str(path)) as ds:
        with pytest.raises(_h5sofa.Unhandled, match="packed"):
            ds.variables.get("Data.IR")
    got = _assert_same(path, h5py_only=False)
    with netCDF4.Dataset(path) as ds:
        np.testing.assert_allclose(got.data, ds.variables["Data.IR"][:], rtol=0, atol=1e-12)
    assert np.abs(got.data).max() < 10  # scaled, not raw int16 counts


def test_variable_named_like_a_dimension_it_does_not_span(tmp_path):
    # netCDF-C stores it as "_nc4_non_coord_N"; both readers find it (and reject its length).
    path = _write(tmp_path / "nc.sofa", tf=True, n_not_coordinate=True)
    with _h5sofa.open_dataset(str(path)) as ds:
        assert ds.variables["N"].shape == (5,)
        assert ds.variables.get("M") is None  # a dimension, not a variable
    error = _assert_same(path)
    assert isinstance(error, HrtfevalError) and "variable N has 5 frequencies" in str(error)


def test_dataset_answers_like_netcdf4(tmp_path):
    path = _write(tmp_path / "api.sofa", dims=("N", "R", "M"), delay=[[1.0, 2.0]])
    with netCDF4.Dataset(path) as nc, _h5sofa.open_dataset(str(path)) as h5:
        nc.set_auto_mask(False)
        h5.set_auto_mask(False)
        for key in ("SOFAConventions", "Title", "Version"):
            assert h5.getncattr(key) == nc.getncattr(key)
        with pytest.raises(KeyError):
            h5.getncattr("NoSuchAttribute")
        for name in ("Data.IR", "SourcePosition", "Data.SamplingRate", "Data.Delay"):
            a, b = h5.variables[name], nc.variables[name]
            assert a.dimensions == b.dimensions and a.shape == b.shape
            np.testing.assert_array_equal(a[...], b[...])
            assert {k for k in a.ncattrs() if not k.isupper() and not k.startswith("_")} == set(
                b.ncattrs()
            )
        assert h5.variables.get("Nope") is None and "Nope" not in h5.variables
        assert h5.variables["Data.SamplingRate"].getncattr("Units") == "hertz"


def test_plain_hdf5_and_other_formats_are_handed_over(tmp_path):
    import h5py

    path = tmp_path / "plain.sofa"
    with h5py.File(path, "w") as fh:
        fh.attrs["SOFAConventions"] = "SimpleFreeFieldHRIR"
        fh["Data.IR"] = np.zeros((2, 2, 4))
    with _h5sofa.open_dataset(str(path)) as ds:
        with pytest.raises(_h5sofa.Unhandled, match="DIMENSION_LIST"):
            _ = ds.variables["Data.IR"].dimensions
    classic = tmp_path / "classic.sofa"
    with netCDF4.Dataset(classic, "w", format="NETCDF3_CLASSIC") as ds:
        ds.createDimension("x", 1)
    assert _h5sofa.open_dataset(str(classic)) is None
    (tmp_path / "junk.sofa").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    assert _h5sofa.open_dataset(str(tmp_path / "junk.sofa")) is None


def test_a_damaged_attribute_is_not_taken_for_a_missing_one(tmp_path):
    # h5py raises KeyError for any failure to open an attribute; only an existence check tells
    # "absent" from "unreadable". A damaged one must hand the file to netCDF4 (Unhandled), never
    # read as absent (a silently dropped attribute, a dimension taken for a variable).
    import h5py

    from hrtfeval.io.backend import Unhandled

    positions = synth.sphere_grid(20)
    path = synth.write_sofa(
        tmp_path / "a.sofa", synth.spherical_head_hrirs(positions, 48000, 128), positions, 48000
    )
    raw = bytearray(path.read_bytes())
    name = b"DatabaseName"
    assert raw.count(name) == 1
    at = raw.find(name) + len(name)
    raw[at : at + 12] = bytes(b ^ 0xFF for b in raw[at : at + 12])
    damaged = tmp_path / "damaged.sofa"
    damaged.write_bytes(bytes(raw))
    fid = h5py.h5f.open(str(damaged).encode(), h5py.h5f.ACC_RDONLY)
    try:
        with pytest.raises(Unhandled):
            _h5sofa._attribute(fid, "DatabaseName")
        with pytest.raises(KeyError):
            _h5sofa._attribute(fid, "NoSuchAttribute")
    finally:
        fid.close()
