"""Readers: SOFA files written here with sofar (standard) or netCDF4 (quirky/old), .pt files."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import sofar
import torch

from hrtfeval.errors import HrtfevalError
from hrtfeval.io import apply_delay, describe, parse_source_positions, read_hrtf

# Every test runs through both SOFA readers (h5py, netCDF4): see conftest.py.
pytestmark = pytest.mark.usefixtures("both_sofa_readers")

RNG = np.random.default_rng(7)
M, N, FS = 6, 32, 48000.0
POS = np.array(
    [[0, 0, 1.2], [90, 0, 1.2], [-90, 10, 1.2], [180, -30, 1.2], [-45.5, 45, 1.2], [30, 90, 1.2]],
    dtype=float,
)
POS_NORMALISED = POS.copy()
POS_NORMALISED[:, 0] = np.mod(POS[:, 0], 360.0)


def _ir(m: int = M, r: int = 2, n: int = N) -> np.ndarray:
    return RNG.standard_normal((m, r, n))


def _sofar_hrir(
    path: Path, ir: np.ndarray | None = None, convention: str = "SimpleFreeFieldHRIR", **fields
) -> np.ndarray:
    ir = _ir() if ir is None else ir
    sofa = sofar.Sofa(convention)
    sofa.Data_IR = ir
    sofa.Data_SamplingRate = FS
    sofa.SourcePosition = POS[: ir.shape[0]]
    if convention == "GeneralFIR":
        sofa.ReceiverPosition = np.array([[0, 0.09, 0], [0, -0.09, 0]])
        sofa.Data_Delay = np.zeros((1, 2))
    for key, value in fields.items():
        setattr(sofa, key, value)
    sofar.write_sofa(str(path), sofa)
    return ir


def _raw_sofa(
    path: Path,
    *,
    convention: str | None = "SimpleFreeFieldHRIR",
    version: str = "1.0",
    ir: np.ndarray | None = None,
    tf: np.ndarray | None = None,
    freqs: np.ndarray | None = None,
    fs: np.ndarray | float | None = FS,
    fs_units: str | None = "hertz",
    positions: np.ndarray | None = POS,
    pos_type: str | None = "spherical",
    pos_units: str | None = "degree, degree, metre",
    delay: np.ndarray | None = None,
    dtype: str = "f8",
) -> None:
    """A SOFA-like file written field by field, for spellings and shapes sofar would not write."""
    data = ir if ir is not None else tf
    m, r, n = data.shape
    with netCDF4.Dataset(str(path), "w", format="NETCDF4") as ds:
        ds.Conventions = "SOFA"
        ds.Version = "1.0"
        if convention is not None:
            ds.SOFAConventions = convention
            ds.SOFAConventionsVersion = version
        ds.DataType = "FIR" if ir is not None else "TF"
        ds.Title = "quirky"
        ds.ListenerShortName = "KEMAR"
        for dim, size in (("I", 1), ("M", m), ("R", r), ("N", n), ("C", 3), ("X", 1)):
            ds.createDimension(dim, size)

        def dims_for(shape):
            names = []
            for axis, size in enumerate(shape):
                if axis == 0:
                    names.append("M" if size == m and m != 1 else "I")
                elif size == r and axis == 1:
                    names.append("R")
                elif size == 3:
                    names.append("C")
                else:
                    names.append("X")
            return tuple(names)

        if ir is not None:
            ds.createVariable("Data.IR", dtype, ("M", "R", "N"))[:] = ir
        else:
            ds.createVariable("Data.Real", dtype, ("M", "R", "N"))[:] = tf.real
            ds.createVariable("Data.Imag", dtype, ("M", "R", "N"))[:] = tf.imag
            var = ds.createVariable("N", "f8", ("N",))
            var[:] = freqs
            var.Units = "hertz"
        if fs is not None:
            fs_arr = np.atleast_1d(np.asarray(fs, dtype=float))
            dim = "M" if fs_arr.size == m and m != 1 else "I"
            var = ds.createVariable("Data.SamplingRate", "f8", (dim,))
            var[:] = fs_arr
            if fs_units is not None:
                var.Units = fs_units
        if positions is not None:
            var = ds.createVariable("SourcePosition", "f8", dims_for(positions.shape))
            var[:] = positions
            if pos_type is not None:
                var.Type = pos_type
            if pos_units is not None:
                var.Units = pos_units
        if delay is not None:
            ds.createVariable("Data.Delay", "f8", dims_for(delay.shape))[:] = delay


@contextlib.contextmanager
def _raises(pattern: str):
    """pytest.raises(HrtfevalError) matching the message alone (str(err) adds the file name)."""
    with pytest.raises(HrtfevalError) as err:
        yield err
    assert re.search(pattern, err.value.message), err.value.message
    assert "\n" not in str(err.value)


def _snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), os.stat(path).st_mtime_ns


# --------------------------------------------------------------------------------------------
# The four conventions


@pytest.mark.parametrize("convention", ["SimpleFreeFieldHRIR", "GeneralFIR"])
def test_ir_conventions(tmp_path, convention, capsys):
    path = tmp_path / "set.sofa"
    ir = _sofar_hrir(path, convention=convention)
    before = _snapshot(path)
    hrtf = read_hrtf(path)
    assert _snapshot(path) == before  # read-only: same bytes and mtime
    assert capsys.readouterr().out == ""  # stdout stays clean
    assert hrtf.domain == "ir" and hrtf.convention == convention and hrtf.version == "1.0"
    assert hrtf.data.dtype == np.float64 and hrtf.data.shape == (M, 2, N)
    np.testing.assert_array_equal(hrtf.data, ir)
    assert hrtf.sampling_rate == FS and hrtf.frequencies is None and not hrtf.delay_applied
    np.testing.assert_allclose(hrtf.positions, POS_NORMALISED)
    assert hrtf.path == str(path)


@pytest.mark.parametrize("convention", ["SimpleFreeFieldHRTF", "GeneralTF"])
def test_tf_conventions(tmp_path, convention):
    path = tmp_path / "set.sofa"
    tf = _ir(n=17) + 1j * _ir(n=17)
    freqs = np.linspace(0, FS / 2, 17)
    sofa = sofar.Sofa(convention)
    sofa.Data_Real, sofa.Data_Imag, sofa.N = tf.real, tf.imag, freqs
    sofa.SourcePosition = POS
    sofar.write_sofa(str(path), sofa)
    hrtf = read_hrtf(path)
    assert hrtf.domain == "tf" and hrtf.convention == convention
    assert hrtf.data.dtype == np.complex128
    np.testing.assert_array_equal(hrtf.data, tf)
    np.testing.assert_array_equal(hrtf.frequencies, freqs)
    assert hrtf.sampling_rate is None  # TF conventions carry none; alignment fills it


def test_unsupported_convention(tmp_path):
    path = tmp_path / "e.sofa"
    sofar.write_sofa(str(path), sofar.Sofa("GeneralFIR-E"))
    with _raises(
        r"'GeneralFIR-E' is not supported; hrtfeval reads "
        r"SimpleFreeFieldHRIR, GeneralFIR, SimpleFreeFieldHRTF, GeneralTF"
    ):
        read_hrtf(path)


def test_no_sofa_conventions_attribute(tmp_path):
    path = tmp_path / "plain.sofa"
    _raw_sofa(path, ir=_ir(), convention=None)
    with _raises("not a SOFA file: it has no global attribute SOFAConventions"):
        read_hrtf(path)


def test_old_version_and_float32(tmp_path):
    path = tmp_path / "old.sofa"
    ir = _ir().astype(np.float32)
    _raw_sofa(path, ir=ir, version="0.6", dtype="f4")
    hrtf = read_hrtf(path)
    assert hrtf.version == "0.6" and hrtf.data.dtype == np.float64
    np.testing.assert_array_equal(hrtf.data, ir.astype(np.float64))
    assert hrtf.meta["title"] == "quirky" and hrtf.meta["listener"] == "KEMAR"


@pytest.mark.parametrize("receivers", [1, 3])
def test_receiver_count(tmp_path, receivers):
    path = tmp_path / "r.sofa"
    sofa = sofar.Sofa("GeneralFIR")
    sofa.Data_IR = _ir(r=receivers)
    sofa.ReceiverPosition = np.zeros((receivers, 3))
    sofa.Data_Delay = np.zeros((1, receivers))
    sofar.write_sofa(str(path), sofa)
    with pytest.raises(HrtfevalError) as err:
        read_hrtf(path)
    assert err.value.message == (
        f"Data.IR has {receivers} receiver(s); hrtfeval scores binaural sets with exactly 2 "
        "(left, right)"
    )
    assert err.value.file == str(path)


def test_non_finite(tmp_path):
    path = tmp_path / "nan.sofa"
    ir = np.zeros((20, 2, 64))
    ir[12, 0, 40], ir[13, 1, 0], ir[19, 1, 63] = np.nan, np.inf, -np.inf
    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    sofa.Data_IR = ir
    sofar.write_sofa(str(path), sofa)
    with _raises(r"^Data.IR has 3 non-finite value\(s\), first at \[12, 0, 40\]$") as err:
        read_hrtf(path)
    assert str(err.value).startswith(str(path))


def test_non_finite_tf(tmp_path):
    path = tmp_path / "nan_tf.sofa"
    tf = _ir(n=5) + 0j
    tf.imag[2, 1, 3] = np.nan
    _raw_sofa(path, convention="GeneralTF", tf=tf, freqs=np.arange(5.0) * 100, fs=None)
    with _raises(r"Data.Imag has 1 non-finite value\(s\), first at \[2, 1, 3\]"):
        read_hrtf(path)


# --------------------------------------------------------------------------------------------
# Positions, units, singleton dimensions


@pytest.mark.parametrize(
    "units",
    [
        "degree, degree, metre",
        "degrees, degrees, meter",
        "deg, deg, m",
        "Degree Degree Metre",
        "DEG,DEG,M",
        "degree,degree,meter",
        None,
    ],
)
def test_spherical_unit_spellings(tmp_path, units):
    path = tmp_path / "u.sofa"
    _raw_sofa(path, ir=_ir(), pos_units=units)
    np.testing.assert_allclose(read_hrtf(path).positions, POS_NORMALISED)


@pytest.mark.parametrize(
    "units", ["rad, rad, m", "radian, radian, meter", "RADIANS RADIANS METRES"]
)
def test_radians_converted(tmp_path, units):
    path = tmp_path / "rad.sofa"
    pos = POS.copy()
    pos[:, :2] = np.deg2rad(pos[:, :2])
    _raw_sofa(path, ir=_ir(), positions=pos, pos_units=units)
    np.testing.assert_allclose(read_hrtf(path).positions, POS_NORMALISED, atol=1e-12)


def _cartesian(pos: np.ndarray) -> np.ndarray:
    az, el = np.deg2rad(pos[:, 0]), np.deg2rad(pos[:, 1])
    return pos[:, 2:3] * np.stack(
        [np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1
    )


@pytest.mark.parametrize(
    ("ptype", "units"),
    [
        ("cartesian", "metre"),
        ("Cartesian", "meter"),
        ("cartesian", "m"),
        ("cartesian", "metre, metre, metre"),
        (None, "metre"),
    ],
)
def test_cartesian_positions(tmp_path, ptype, units):
    path = tmp_path / "cart.sofa"
    _raw_sofa(path, ir=_ir(), positions=_cartesian(POS), pos_type=ptype, pos_units=units)
    got = read_hrtf(path).positions
    # The pole (el 90) has no azimuth: compare directions there, exact values elsewhere.
    np.testing.assert_allclose(got[:5], POS_NORMALISED[:5], atol=1e-9)
    np.testing.assert_allclose(got[5, 1:], POS_NORMALISED[5, 1:], atol=1e-9)


def test_missing_type_spherical_units(tmp_path):
    path = tmp_path / "notype.sofa"
    _raw_sofa(path, ir=_ir(), pos_type=None, pos_units="degree, degree, metre")
    np.testing.assert_allclose(read_hrtf(path).positions, POS_NORMALISED)


@pytest.mark.parametrize(
    ("ptype", "units", "message"),
    [
        (
            "polar",
            "degree, degree, metre",
            r"SourcePosition has Type 'polar'; expected 'spherical' or 'cartesian'",
        ),
        (
            "spherical",
            "gradian, gradian, metre",
            r"spherical with units 'gradian, gradian, metre'; expected 'degree, degree, metre'",
        ),
        ("cartesian", "inch", r"cartesian with units 'inch'; expected 'metre'"),
        (None, "furlong", r"no Type attribute and units 'furlong' do not say"),
    ],
)
def test_unknown_position_type_or_units(tmp_path, ptype, units, message):
    path = tmp_path / "bad.sofa"
    _raw_sofa(path, ir=_ir(), pos_type=ptype, pos_units=units)
    with _raises(message):
        read_hrtf(path)


def test_cartesian_origin_rejected():
    with _raises(r"row 1 is \(0, 0, 0\), which has no direction"):
        parse_source_positions(np.array([[1.0, 0, 0], [0, 0, 0]]), "cartesian", "metre")


def test_singleton_position_broadcast_and_rate_shapes(tmp_path):
    path = tmp_path / "single.sofa"
    _raw_sofa(path, ir=_ir(), positions=np.array([[-90.0, 0, 1]]), fs=np.full(M, FS), fs_units="Hz")
    hrtf = read_hrtf(path)
    assert hrtf.positions.shape == (M, 3)
    np.testing.assert_allclose(hrtf.positions, np.tile([270.0, 0, 1], (M, 1)))
    assert hrtf.sampling_rate == FS


@pytest.mark.parametrize("units", ["hertz", "Hz", "hz", None])
def test_rate_units_accepted(tmp_path, units):
    path = tmp_path / "fs.sofa"
    _raw_sofa(path, ir=_ir(), fs=44100.0, fs_units=units)
    assert read_hrtf(path).sampling_rate == 44100.0


@pytest.mark.parametrize(
    ("fs", "units", "message"),
    [
        (48.0, "kHz", r"Data.SamplingRate has units 'kHz'; expected 'hertz'"),
        (
            np.r_[np.full(M - 1, FS), 44100.0],
            "hertz",
            r"varies across measurements \(44100 to 48000 Hz\)",
        ),
        (0.0, "hertz", r"Data.SamplingRate is \[0\]; expected a positive number"),
        (None, None, r"no variable Data.SamplingRate"),
    ],
)
def test_rate_problems(tmp_path, fs, units, message):
    path = tmp_path / "fs.sofa"
    _raw_sofa(path, ir=_ir(), fs=fs, fs_units=units)
    with _raises(message):
        read_hrtf(path)


# --------------------------------------------------------------------------------------------
# Data.Delay


def _gaussian(center: float, n: int = 64, width: float = 3.0) -> np.ndarray:
    """A pulse smooth enough to be band-limited to float precision: its exact delay is known."""
    return np.exp(-(((np.arange(n) - center) / width) ** 2))


@pytest.mark.parametrize("shape", [(1, 2), (M, 2), (1, 2, 1), (M, 2, 1)])
def test_integer_delay_shifts(tmp_path, shape):
    path = tmp_path / "delay.sofa"
    ir = _ir()
    delay = np.broadcast_to(np.array([3.0, 5.0]).reshape((1, 2) + (1,) * (len(shape) - 2)), shape)
    _raw_sofa(path, ir=ir, delay=np.ascontiguousarray(delay))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random IRs lose energy past N; checked separately
        hrtf = read_hrtf(path)
    assert hrtf.delay_applied and hrtf.data.shape == ir.shape
    for ear, k in ((0, 3), (1, 5)):
        np.testing.assert_array_equal(hrtf.data[:, ear, k:], ir[:, ear, : N - k])
        np.testing.assert_array_equal(hrtf.data[:, ear, :k], 0.0)
    assert hrtf.meta["delay_min_samples"] == 3.0 and hrtf.meta["delay_max_samples"] == 5.0


def test_fractional_delay_matches_analytic_shift(tmp_path):
    path = tmp_path / "frac.sofa"
    # Pulses well inside the 64 samples: the exact delayed pulse is known in closed form.
    ir = np.stack([np.stack([_gaussian(20.0), _gaussian(22.0)])] * M)
    delay = np.linspace(0.25, 4.75, M * 2).reshape(M, 2)
    _sofar_hrir(path, ir=ir, Data_Delay=delay)
    hrtf = read_hrtf(path)
    assert hrtf.delay_applied
    for m in range(M):
        for ear, center in ((0, 20.0), (1, 22.0)):
            np.testing.assert_allclose(
                hrtf.data[m, ear], _gaussian(center + delay[m, ear]), atol=1e-8
            )


def test_zero_delay_leaves_data(tmp_path):
    path = tmp_path / "zero.sofa"
    ir = _sofar_hrir(path, Data_Delay=np.zeros((1, 2)))
    hrtf = read_hrtf(path)
    assert not hrtf.delay_applied
    np.testing.assert_array_equal(hrtf.data, ir)


def test_delay_energy_loss_warns(tmp_path):
    path = tmp_path / "late.sofa"
    ir = np.stack([np.stack([_gaussian(58.0)] * 2)] * M)  # pulse near the end
    _sofar_hrir(path, ir=ir, Data_Delay=np.array([[4.0, 4.0]]))
    with pytest.warns(UserWarning, match=rf"{path.name}: Data.Delay .* past the 64 samples kept"):
        read_hrtf(path)
    # A small delay of an early pulse loses nothing: no warning.
    path2 = tmp_path / "early.sofa"
    early = np.stack([np.stack([_gaussian(20.0)] * 2)] * M)
    _sofar_hrir(path2, ir=early, Data_Delay=np.array([[2.5, 4.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_hrtf(path2)


def test_apply_delay_negative_and_loss_fraction():
    ir = np.zeros((1, 2, 8))
    ir[0, :, 2] = 1.0
    ir[0, :, 7] = 1.0
    out, lost = apply_delay(ir, np.array([[1.0, -2.0]]))
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0, 1, 0, 0, 0, 0])  # sample 7 pushed out
    np.testing.assert_array_equal(out[0, 1], [1, 0, 0, 0, 0, 1, 0, 0])
    assert lost == pytest.approx(0.25)
    # A fractional delay beyond N pushes everything out; no huge FFT is attempted.
    out, lost = apply_delay(ir, np.array([[1e9 + 0.5, 8.0]]))
    assert not out.any() and lost == 1.0


def test_fractional_delay_loss_is_the_tail_energy():
    ir = np.zeros((1, 1, 64))
    ir[0, 0] = _gaussian(40.0)
    out, lost = apply_delay(ir, np.array([[23.5]]))  # centre 63.5: half the pulse is past N
    full = _gaussian(63.5, n=200)
    np.testing.assert_allclose(out[0, 0], full[:64], atol=1e-8)
    assert lost == pytest.approx(np.sum(full[64:] ** 2) / np.sum(full**2), rel=1e-6)


def test_tf_delay_is_linear_phase(tmp_path):
    path = tmp_path / "tfdelay.sofa"
    freqs = np.linspace(0, FS / 2, 9)
    tf = _ir(n=9) + 1j * _ir(n=9)
    _raw_sofa(path, convention="GeneralTF", tf=tf, freqs=freqs, fs=FS, delay=np.array([[2.0, 0.5]]))
    hrtf = read_hrtf(path)
    assert hrtf.delay_applied
    expected = tf * np.exp(-2j * np.pi * freqs * np.array([2.0, 0.5])[:, None] / FS)
    np.testing.assert_allclose(hrtf.data, expected, rtol=1e-12)


def test_tf_delay_without_rate_warns_and_is_ignored(tmp_path):
    path = tmp_path / "tfdelay.sofa"
    tf = _ir(n=9) + 0j
    _raw_sofa(
        path,
        convention="GeneralTF",
        tf=tf,
        freqs=np.arange(9.0),
        fs=None,
        delay=np.array([[2.0, 0.5]]),
    )
    with pytest.warns(UserWarning, match="no sampling rate"):
        hrtf = read_hrtf(path)
    assert not hrtf.delay_applied
    np.testing.assert_array_equal(hrtf.data, tf)


# --------------------------------------------------------------------------------------------
# .pt files


class _Payload:
    """Anything that is not a tensor/dict/number; its __reduce__ would write a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _save(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def test_pt_bare_tensors(tmp_path):
    ir = torch.randn(M, 2, N)
    path = _save(tmp_path / "ir.pt", ir)
    before = _snapshot(path)
    hrtf = read_hrtf(path)
    assert _snapshot(path) == before
    assert hrtf.domain == "ir" and hrtf.convention == "pt" and hrtf.data.dtype == np.float64
    np.testing.assert_array_equal(hrtf.data, ir.double().numpy())
    assert hrtf.sampling_rate is None and hrtf.positions is None and hrtf.frequencies is None

    tf = torch.randn(M, 2, 17, dtype=torch.complex64)
    hrtf = read_hrtf(_save(tmp_path / "tf.pt", tf))
    assert hrtf.domain == "tf" and hrtf.data.dtype == np.complex128 and hrtf.frequencies is None


@pytest.mark.parametrize(
    ("key", "value", "domain"),
    [
        ("hrir", torch.randn(M, 2, N), "ir"),
        ("ir", torch.randn(M, 2, N, dtype=torch.float64), "ir"),
        ("hrtf", torch.randn(M, 2, 17, dtype=torch.complex128), "tf"),
        ("hrtf", torch.rand(M, 2, 17), "magnitude"),
        ("hrtf_db", torch.randn(M, 2, 17) * 10, "db"),
    ],
)
def test_pt_dict_keys(tmp_path, key, value, domain):
    hrtf = read_hrtf(_save(tmp_path / "d.pt", {key: value}))
    assert hrtf.domain == domain and hrtf.meta["data_key"] == key
    np.testing.assert_array_equal(hrtf.data, value.numpy())


@pytest.mark.parametrize("rate", [44100, 44100.0, torch.tensor(44100.0), torch.tensor([44100])])
def test_pt_extras(tmp_path, rate):
    freqs = torch.linspace(0, 22050, 17)
    path = _save(
        tmp_path / "full.pt",
        {
            "hrtf": torch.rand(M, 2, 17),
            "sampling_rate": rate,
            "positions": torch.tensor(POS),
            "frequencies": freqs,
            "note": "ignored",
        },
    )
    hrtf = read_hrtf(path)
    assert hrtf.sampling_rate == 44100.0
    np.testing.assert_allclose(hrtf.positions, POS_NORMALISED)
    np.testing.assert_allclose(hrtf.frequencies, freqs.numpy())
    assert hrtf.meta["ignored_keys"] == ["note"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"sampling_rate": 48000},
            r"the dict has none of the data keys; expected exactly one of 'hrir', 'ir', 'hrtf', "
            r"'hrtf_db'",
        ),
        (
            {"hrir": torch.zeros(M, 2, N), "hrtf": torch.zeros(M, 2, 3)},
            r"the dict has 'hrir', 'hrtf' of the data keys",
        ),
        (torch.zeros(M, N), r"tensor has shape \(6, 32\); expected \(M, 2, N\)"),
        ({"hrir": torch.zeros(M, 1, N)}, r"hrir has 1 receiver\(s\)"),
        ({"hrir": torch.zeros(M, 2, N, dtype=torch.complex64)}, r"hrir is complex"),
        (
            {"hrtf": -torch.rand(M, 2, 5)},
            r"hrtf is real with negative values .* \(put dB magnitudes under 'hrtf_db'\)",
        ),
        (
            {"hrir": torch.full((M, 2, N), float("nan"))},
            r"hrir has 384 non-finite value\(s\), first at \[0, 0, 0\]",
        ),
        (
            {"hrir": torch.zeros(M, 2, N), "sampling_rate": -1},
            r"sampling_rate is -1; expected a positive number",
        ),
        (
            {"hrir": torch.zeros(M, 2, N), "positions": torch.zeros(M, 2)},
            r"positions has shape \(6, 2\); expected real \(6, 3\)",
        ),
        (
            {"hrtf": torch.rand(M, 2, 5), "frequencies": torch.zeros(4)},
            r"frequencies has shape \(4,\); expected \(5,\)",
        ),
        ([torch.zeros(M, 2, N)], r"the .pt file holds a list; expected a tensor \(M, 2, N\)"),
    ],
)
def test_pt_bad_content(tmp_path, obj, message):
    path = _save(tmp_path / "bad.pt", obj)
    with _raises(message):
        read_hrtf(path)


def test_pt_arbitrary_object_rejected_without_running_it(tmp_path):
    marker = tmp_path / "was_executed"
    path = tmp_path / "evil.pt"
    torch.save({"hrir": torch.zeros(M, 2, N), "extra": _Payload(marker)}, path)
    with _raises(r"only tensors, dicts of tensors and numbers are accepted"):
        read_hrtf(path)
    assert not marker.exists()
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    with _raises(r"only tensors, dicts of tensors and numbers are accepted"):
        read_hrtf(plain)
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# Files that are not what they claim


def test_missing_file(tmp_path):
    with _raises("^file not found$"):
        read_hrtf(tmp_path / "nope.sofa")


def test_directory(tmp_path):
    with _raises("is a directory"):
        read_hrtf(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.sofa", b"", r"^not a readable SOFA/netCDF file: the file is empty$"),
        (
            "garbage.sofa",
            b"hello, not a sofa file\n",
            r"^not a readable SOFA/netCDF file: NetCDF: Unknown file format$",
        ),
        ("empty.pt", b"", r"^not a readable PyTorch file: the file is empty$"),
        (
            "garbage.pt",
            b"not a torch file",
            r"cannot unpickle it; only tensors, dicts of tensors and numbers are accepted",
        ),
        ("zip.pt", b"PK\x03\x04 cut", r"^not a readable PyTorch file: "),
        (
            "garbage.txt",
            b"x,y\n1,2\n",
            r"unsupported file format \(extension '.txt', no SOFA/HDF5 signature\); expected a "
            r"SOFA \(.sofa\) or PyTorch \(.pt\) file",
        ),
        ("noext", b"x", r"unsupported file format \(no extension"),
    ],
)
def test_garbage_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with _raises(message):
        read_hrtf(path)


def test_truncated_sofa(tmp_path):
    full = tmp_path / "full.sofa"
    _sofar_hrir(full, ir=_ir(m=6, n=2048))
    cut = tmp_path / "cut.sofa"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with _raises(r"^not a readable SOFA/netCDF file: NetCDF: HDF error \(truncated or corrupt"):
        read_hrtf(cut)


def test_plain_hdf5_is_not_sofa(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as fh:
        fh["x"] = np.zeros(3)
    with _raises("not a SOFA file"):
        read_hrtf(path)


def test_pt_recognised_by_content(tmp_path):
    path = _save(tmp_path / "model_output.bin", {"hrir": torch.ones(M, 2, N)})
    assert read_hrtf(path).domain == "ir"


def test_sofa_recognised_by_content(tmp_path):
    src = tmp_path / "set.sofa"
    ir = _sofar_hrir(src)
    odd = tmp_path / "set.dat"
    shutil.copy(src, odd)
    np.testing.assert_array_equal(read_hrtf(odd).data, ir)


# --------------------------------------------------------------------------------------------
# describe


def test_describe_sofa(tmp_path):
    path = tmp_path / "set.sofa"
    _sofar_hrir(
        path,
        Data_Delay=np.array([[0.0, 2.0]]),
        GLOBAL_Title="My set",
        GLOBAL_DatabaseName="SONICOM",
        GLOBAL_ListenerShortName="P0001",
    )
    before = _snapshot(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = describe(path)
    assert _snapshot(path) == before
    assert json.loads(json.dumps(info)) == info  # plain JSON types only
    assert info["format"] == "SOFA" and info["convention"] == "SimpleFreeFieldHRIR"
    assert info["version"] == "1.0" and info["sofa_version"] == "2.1"
    assert (info["M"], info["R"], info["N"]) == (M, 2, N)
    assert info["sampling_rate"] == FS and info["domain"] == "ir"
    assert info["directions"] == {
        "count": M,
        "azimuth_min_deg": 0.0,
        "azimuth_max_deg": 314.5,
        "elevation_min_deg": -30.0,
        "elevation_max_deg": 90.0,
        "distance_min_m": 1.2,
        "distance_max_m": 1.2,
    }
    assert info["delay"] == {
        "min_samples": 0.0,
        "max_samples": 2.0,
        "nonzero": True,
        "applied": True,
    }
    assert (info["title"], info["database"], info["listener"]) == ("My set", "SONICOM", "P0001")
    assert info["file_size_bytes"] == path.stat().st_size
    assert info["position_units"] == "degree, degree, metre"


def test_describe_pt(tmp_path):
    content = {"hrtf_db": torch.zeros(M, 2, 5), "frequencies": torch.arange(5.0) * 100}
    path = _save(tmp_path / "x.pt", content)
    info = describe(path)
    assert json.loads(json.dumps(info)) == info
    assert info["format"] == "pt" and info["domain"] == "db" and info["directions"] is None
    assert info["frequencies"] == {"count": 5, "min_hz": 0.0, "max_hz": 400.0}
    assert info["sampling_rate"] is None and info["delay"]["nonzero"] is False
