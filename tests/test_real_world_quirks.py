"""Readers and alignment on files shaped like the published HRTF databases.

Every file here is written in the test itself with netCDF4 (or h5py / sofar), copying what the
real files of a database look like: dimension names and order, variable shapes and dtypes,
attribute spellings, delays, grids. Where each quirk was seen is noted next to its test.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.align import align_pair, match_directions
from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError
from hrtfeval.io import apply_delay, parse_source_positions, read_hrtf
from hrtfeval.model import spherical_to_unit

# Every test runs through both SOFA readers (h5py, netCDF4): see conftest.py.
pytestmark = pytest.mark.usefixtures("both_sofa_readers")

runner = CliRunner()


# --------------------------------------------------------------------------------------------
# Helpers


def _sofa(
    path: Path,
    *,
    ir: np.ndarray | None = None,
    tf: np.ndarray | None = None,
    freqs: np.ndarray | None = None,
    positions: np.ndarray,
    fs: float | np.ndarray | None = 48000.0,
    convention: str | None = "SimpleFreeFieldHRIR",
    convention_version: str | None = "1.0",
    sofa_version: str | None = "1.0",
    pos_type: str | None = "spherical",
    pos_units: str | None = "degree, degree, metre",
    fs_units: str | None = "hertz",
    delay: np.ndarray | None = None,
    delay_dims: tuple[str, ...] | None = None,
    delay_units: str | None = None,
    dtype: str = "f8",
    fmt: str = "NETCDF4",
    fill_value: float | None = None,
    extra_globals: dict[str, str] | None = None,
    geometry: bool = True,
    compress: str | None = None,
) -> Path:
    """A SOFA file laid out as the SOFA Toolbox / API_MO writes it.

    Dimensions I, C, R, E, N, M (and S for strings is omitted: nothing here is a string
    variable); Data.IR (M, R, N); Data.SamplingRate (I) or (M); SourcePosition (M, C);
    ReceiverPosition (R, C, I) = (2, 3, 1); EmitterPosition (E, C, I); ListenerPosition /
    ListenerUp / ListenerView (I, C); Data.Delay (I, R) or (M, R). ``compress``: None
    (contiguous), "deflate" or "shuffle+deflate" for every variable, as the SOFA APIs and sofar
    store them.
    """
    data = ir if ir is not None else tf
    m, r, n = data.shape
    with netCDF4.Dataset(str(path), "w", format=fmt) as ds:
        attrs = {
            "Conventions": "SOFA",
            "Version": sofa_version,
            "SOFAConventions": convention,
            "SOFAConventionsVersion": convention_version,
            "APIName": "ARI SOFA API for Matlab/Octave",
            "APIVersion": "1.0.2",
            "DataType": "FIR" if ir is not None else "TF",
            "RoomType": "free field",
            "Title": "",
            "DateCreated": "2017-02-10 15:09:21",
            "ListenerShortName": "NH2",
            "DatabaseName": "ARI",
        }
        attrs.update(extra_globals or {})
        for key, value in attrs.items():
            if value is not None:
                ds.setncattr(key, value)
        for dim, size in (("I", 1), ("C", 3), ("R", r), ("E", 1), ("N", n), ("M", m)):
            ds.createDimension(dim, size)

        def var(name, values, dims, dt="f8", **attributes):
            kwargs = {} if fill_value is None else {"fill_value": fill_value}
            if compress and fmt.startswith("NETCDF4"):
                kwargs.update(zlib=True, complevel=4, shuffle=compress.startswith("shuffle"))
            v = ds.createVariable(name, dt, dims, **kwargs)
            v[:] = values
            for key, value in attributes.items():
                if value is not None:
                    v.setncattr(key, value)
            return v

        if geometry:
            var("ListenerPosition", [[0.0, 0.0, 0.0]], ("I", "C"), Type="cartesian", Units="metre")
            var("ListenerUp", [[0.0, 0.0, 1.0]], ("I", "C"))
            var("ListenerView", [[1.0, 0.0, 0.0]], ("I", "C"), Type="cartesian", Units="metre")
            var(
                "ReceiverPosition",
                [[[0.0], [0.09], [0.0]], [[0.0], [-0.09], [0.0]]][:r],
                ("R", "C", "I"),
                Type="cartesian",
                Units="metre",
            )
            var(
                "EmitterPosition",
                [[[0.0], [0.0], [0.0]]],
                ("E", "C", "I"),
                Type="cartesian",
                Units="metre",
            )
        var("SourcePosition", positions, ("M", "C"), dt=dtype, Type=pos_type, Units=pos_units)
        if ir is not None:
            var("Data.IR", ir, ("M", "R", "N"), dt=dtype)
        else:
            var("Data.Real", tf.real, ("M", "R", "N"), dt=dtype)
            var("Data.Imag", tf.imag, ("M", "R", "N"), dt=dtype)
            var("N", freqs, ("N",), LongName="frequency", Units="hertz")
        if fs is not None:
            fs_arr = np.atleast_1d(np.asarray(fs, dtype=float))
            var(
                "Data.SamplingRate",
                fs_arr,
                ("M",) if fs_arr.size == m > 1 else ("I",),
                Units=fs_units,
            )
        if delay is not None:
            dims = delay_dims or (("M", "R") if delay.shape[0] == m > 1 else ("I", "R"))
            var("Data.Delay", delay, dims, dt=dtype, Units=delay_units)
    return path


def _score(pred: Path, ref: Path, *metrics: str, extra: tuple[str, ...] = ()) -> dict:
    args = ["score", str(pred), str(ref)]
    for metric in metrics:
        args += ["-m", metric]
    result = runner.invoke(app, [*args, *extra, "--format", "json", "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _info(path: Path) -> dict:
    result = runner.invoke(app, ["info", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _same_directions(a: np.ndarray, b: np.ndarray, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(spherical_to_unit(a), spherical_to_unit(b), rtol=0, atol=atol)


def _noise(m: int, n: int, seed: int = 0) -> np.ndarray:
    """Decaying noise 'impulse responses' (cheap, and every direction distinct)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, 2, n)) * np.exp(-np.arange(n) / (n / 6))


def _onsets(ir: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    env = np.abs(ir)
    return np.argmax(env > fraction * env.max(axis=-1, keepdims=True), axis=-1)


# --------------------------------------------------------------------------------------------
# The databases' grids, sizes and header spellings


# name, M, N, fs, sofa version, convention version, units, type, dtype, distance, delay dims.
# Direction counts, lengths and rates as the databases publish them where known; the 3D3A and
# Club Fritz rows are illustrative (96 kHz with long responses; cartesian positions).
DATABASES = [
    # ARI (hrtf_nh*.sofa, API_MO 0.4 era): version 0.6 / 0.4, "meter", Data.Delay (I, R).
    (
        "ARI",
        1550,
        256,
        48000.0,
        "0.6",
        "0.4",
        "degree, degree, meter",
        "spherical",
        "f8",
        1.2,
        ("I", "R"),
    ),
    # CIPIC (SOFA conversion): 1250 directions, 200 taps at 44.1 kHz.
    (
        "CIPIC",
        1250,
        200,
        44100.0,
        "0.6",
        "0.4",
        "degree, degree, meter",
        "spherical",
        "f8",
        1.0,
        ("I", "R"),
    ),
    # LISTEN (IRCAM, SOFA C++ API): 187 directions at 1.95 m, 512 taps.
    (
        "LISTEN",
        187,
        512,
        44100.0,
        "1.0",
        "1.0",
        "degree, degree, metre",
        "spherical",
        "f8",
        1.95,
        ("I", "R"),
    ),
    # HUTUBS: 440 directions, 256 taps, 44.1 kHz, 1.47 m.
    (
        "HUTUBS",
        440,
        256,
        44100.0,
        "1.0",
        "1.0",
        "degree, degree, metre",
        "spherical",
        "f8",
        1.47,
        ("I", "R"),
    ),
    # SONICOM 48 kHz / 96 kHz: 793 directions, Data.Delay (M, R).
    (
        "SONICOM",
        793,
        256,
        48000.0,
        "2.1",
        "1.0",
        "degree, degree, metre",
        "spherical",
        "f8",
        1.5,
        ("M", "R"),
    ),
    (
        "SONICOM-96k",
        793,
        512,
        96000.0,
        "2.1",
        "1.0",
        "degree, degree, metre",
        "spherical",
        "f8",
        1.5,
        ("M", "R"),
    ),
    # SADIE II: dense KU100 grid (8802 directions); stored as float32 here.
    (
        "SADIE II",
        8802,
        256,
        48000.0,
        "1.0",
        "1.0",
        "degree, degree, meter",
        "Spherical",
        "f4",
        1.2,
        ("I", "R"),
    ),
    # RIEC: 865 directions at 1.5 m, 512 taps.
    (
        "RIEC",
        865,
        512,
        48000.0,
        "1.0",
        "1.0",
        "degree, degree, metre",
        "spherical",
        "f8",
        1.5,
        ("I", "R"),
    ),
    # MIT KEMAR (SOFA conversion): 710 directions, 512 taps at 44.1 kHz, 1.4 m.
    (
        "MIT KEMAR",
        710,
        512,
        44100.0,
        "0.6",
        "0.4",
        "degree, degree, meter",
        "spherical",
        "f8",
        1.4,
        ("I", "R"),
    ),
    # TH Köln KU100 Lebedev L2702: 128 taps at 48 kHz, 3.25 m.
    (
        "TH Koeln",
        2702,
        128,
        48000.0,
        "1.0",
        "1.0",
        "degree, degree, metre",
        "spherical",
        "f8",
        3.25,
        ("I", "R"),
    ),
    # 3D3A (Princeton): 96 kHz, long responses (illustrative sizes).
    (
        "3D3A",
        648,
        2048,
        96000.0,
        "1.0",
        "1.0",
        "degree, degree, metre",
        "spherical",
        "f8",
        0.76,
        ("I", "R"),
    ),
    # Club Fritz: several labs' measurements of one head; cartesian positions (illustrative).
    ("Club Fritz", 500, 256, 44100.0, "1.0", "1.0", "metre", "cartesian", "f8", 2.0, ("I", "R")),
]


@pytest.mark.parametrize(
    (
        "name",
        "m",
        "n",
        "fs",
        "version",
        "conv_version",
        "units",
        "ptype",
        "dtype",
        "dist",
        "delay_dims",
    ),
    DATABASES,
    ids=[d[0] for d in DATABASES],
)
def test_database_like_files_read_score_and_describe(
    tmp_path, name, m, n, fs, version, conv_version, units, ptype, dtype, dist, delay_dims
):
    grid = synth.sphere_grid(m, distance=dist)
    ir = _noise(m, n, seed=m).astype(dtype)
    if ptype.lower() == "cartesian":
        stored = spherical_to_unit(grid) * grid[:, 2:]
    else:
        stored = grid.copy()
        stored[:, 0] = np.where(stored[:, 0] > 180, stored[:, 0] - 360, stored[:, 0])
    delay = np.zeros((m, 2) if delay_dims[0] == "M" else (1, 2))
    # Published files are deflate-compressed (some with the shuffle filter); a few are not.
    compress = ("shuffle+deflate", "deflate", None)[m % 3]
    ref = _sofa(
        tmp_path / "ref.sofa",
        ir=ir,
        positions=stored,
        fs=fs,
        sofa_version=version,
        convention_version=conv_version,
        pos_type=ptype,
        pos_units=units,
        dtype=dtype,
        delay=delay,
        delay_dims=delay_dims,
        compress=compress,
    )

    hrtf = read_hrtf(ref)
    assert hrtf.data.shape == (m, 2, n) and hrtf.data.dtype == np.float64
    assert hrtf.sampling_rate == fs and hrtf.version == conv_version
    np.testing.assert_array_equal(hrtf.data, ir.astype(np.float64))
    _same_directions(hrtf.positions, grid, atol=1e-6 if dtype == "f4" else 1e-12)
    np.testing.assert_allclose(hrtf.positions[:, 2], dist, rtol=1e-6)

    # A prediction of the same data on the same grid, shuffled, in plain degree/metre: ~0.
    perm = np.random.default_rng(1).permutation(m)
    pred = _sofa(
        tmp_path / "pred.sofa",
        ir=ir[perm].astype(np.float64),
        positions=grid[perm],
        fs=fs,
        sofa_version="2.1",
        geometry=False,
    )
    doc = _score(pred, ref, "lsd", "rmse")
    assert doc["spec"]["directions"]["matched"] == m
    assert doc["scores"]["lsd"]["overall"] < 1e-5
    assert doc["scores"]["rmse"]["overall"] < 1e-5

    info = _info(ref)
    assert (info["M"], info["R"], info["N"], info["sampling_rate"]) == (m, 2, n, fs)
    assert (
        -90.0
        <= info["directions"]["elevation_min_deg"]
        <= info["directions"]["elevation_max_deg"]
        <= 90.0
    )
    assert info["delay"] == {
        "min_samples": 0.0,
        "max_samples": 0.0,
        "nonzero": False,
        "applied": False,
    }


# --------------------------------------------------------------------------------------------
# SONICOM "NoITD" files: minimum-phase / onset-aligned responses, ITD in Data.Delay
#
# SONICOM's README: "For each file, there is also a 'NoITD' version which has the ITDs removed
# [...] by time-shifting each measurement so that all the onsets were aligned. The amount of
# shifted samples is stored as metadata in the SOFA file" (Data.Delay, M x R samples).


@pytest.fixture(scope="module")
def sonicom_like(tmp_path_factory):
    root = tmp_path_factory.mktemp("sonicom")
    fs, n = 48000.0, 256
    grid = synth.measured_grid(distance=1.5)  # 793 directions, like SONICOM's grid
    baked = synth.spherical_head_hrirs(grid, fs, n, seed=4)
    shift = _onsets(baked) - 8  # tens of samples: 0.3-1.1 ms of time of arrival
    assert shift.min() > 0 and shift.max() > 30
    aligned = np.zeros_like(baked)
    for m in range(baked.shape[0]):
        for r in range(2):
            aligned[m, r, : n - shift[m, r]] = baked[m, r, shift[m, r] :]
    extra = {"DatabaseName": "SONICOM", "ListenerShortName": "P0001"}
    ref = _sofa(
        root / "P0001_FreeFieldCompMinPhase_48kHz.sofa",
        ir=baked,
        positions=grid,
        fs=fs,
        sofa_version="2.1",
        delay=np.zeros((1, 2)),
        extra_globals=extra,
    )
    noitd = _sofa(
        root / "P0001_FreeFieldCompMinPhase_NoITD_48kHz.sofa",
        ir=aligned,
        positions=grid,
        fs=fs,
        sofa_version="2.1",
        delay=shift.astype(np.float64),
        delay_dims=("M", "R"),
        extra_globals=extra,
    )
    return {
        "root": root,
        "fs": fs,
        "grid": grid,
        "baked": baked,
        "shift": shift,
        "ref": ref,
        "noitd": noitd,
    }


def test_noitd_delay_is_applied_on_read(sonicom_like):
    s = sonicom_like
    hrtf = read_hrtf(s["noitd"])
    assert hrtf.delay_applied and hrtf.meta["delay_applied"]
    assert hrtf.meta["delay_max_samples"] == s["shift"].max()
    # What the onset alignment cut away (pre-onset ringing) is all that differs.
    dropped = np.zeros_like(s["baked"])
    for m in range(dropped.shape[0]):
        for r in range(2):
            dropped[m, r, : s["shift"][m, r]] = s["baked"][m, r, : s["shift"][m, r]]
    np.testing.assert_allclose(hrtf.data, s["baked"] - dropped, atol=1e-12)
    info = _info(s["noitd"])
    assert info["delay"]["nonzero"] and info["delay"]["applied"]
    assert info["delay"]["min_samples"] == s["shift"].min()


@pytest.mark.parametrize("direction", ["noitd_vs_baked", "baked_vs_noitd"])
def test_noitd_scores_like_the_file_with_the_itd_in_the_responses(sonicom_like, direction):
    s = sonicom_like
    pred, ref = (s["noitd"], s["ref"]) if direction == "noitd_vs_baked" else (s["ref"], s["noitd"])
    doc = _score(pred, ref, "itd", "ild", "lsd")
    assert doc["spec"]["directions"]["matched"] == 793
    assert doc["scores"]["itd"]["overall"] < 1.0  # µs: the same lag in (almost) every direction
    assert doc["scores"]["ild"]["overall"] < 0.05  # dB
    assert doc["scores"]["lsd"]["overall"] < 0.3  # dB, from the pre-onset samples cut away
    side = "prediction" if direction == "noitd_vs_baked" else "reference"
    assert doc["spec"][side]["delay_applied"] is True


def test_noitd_against_ignoring_the_delay_is_far_off(sonicom_like):
    """Sanity check of the test above: without Data.Delay the ITDs are gone."""
    s = sonicom_like
    with netCDF4.Dataset(str(s["noitd"])) as ds:
        aligned = np.asarray(ds["Data.IR"][:])
    stripped = synth.write_sofa(s["root"] / "stripped.sofa", aligned, s["grid"], s["fs"])
    doc = _score(stripped, s["ref"], "itd")
    assert doc["scores"]["itd"]["overall"] > 50.0


def test_fractional_noitd_delays(tmp_path, sonicom_like):
    """Onsets aligned to a fraction of a sample (band-limited shift), delays non-integer."""
    s = sonicom_like
    n = s["baked"].shape[-1]
    frac = np.random.default_rng(5).uniform(0.05, 0.95, s["shift"].shape)
    delay = s["shift"] + frac
    n_fft = 4 * n
    spec = np.fft.rfft(s["baked"], n=n_fft)
    bins = np.arange(spec.shape[-1]) / n_fft
    aligned = np.fft.irfft(spec * np.exp(2j * np.pi * delay[..., None] * bins), n=n_fft)[..., :n]
    path = _sofa(
        tmp_path / "P0001_NoITD_frac.sofa",
        ir=aligned.astype(np.float32),
        positions=s["grid"],
        fs=s["fs"],
        delay=delay.astype(np.float32),
        dtype="f4",
        delay_dims=("M", "R"),
    )
    hrtf = read_hrtf(path)
    assert hrtf.delay_applied
    doc = _score(path, s["ref"], "itd", "lsd")
    assert doc["scores"]["itd"]["overall"] < 25.0  # at most ~1 sample (20.8 µs) anywhere
    assert doc["scores"]["lsd"]["overall"] < 0.5


def test_delay_of_one_row_for_all_measurements(tmp_path, sonicom_like):
    """Data.Delay (I, R): one delay per ear for the whole set (broadcast over M)."""
    s = sonicom_like
    path = _sofa(
        tmp_path / "common.sofa",
        ir=s["baked"],
        positions=s["grid"],
        fs=s["fs"],
        delay=np.array([[3.0, 5.0]]),
        delay_dims=("I", "R"),
    )
    hrtf = read_hrtf(path)
    expected, _ = apply_delay(s["baked"], np.array([3.0, 5.0]))
    np.testing.assert_array_equal(hrtf.data, expected)


def test_delay_one_value_per_measurement(tmp_path):
    """Data.Delay written with the single dimension M: the same delay for both ears."""
    grid = synth.sphere_grid(12)
    ir = _noise(12, 64)
    delay = np.arange(12, dtype=float)
    path = _sofa(tmp_path / "m.sofa", ir=ir, positions=grid, delay=delay, delay_dims=("M",))
    expected, _ = apply_delay(ir, np.repeat(delay[:, None], 2, axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the energy pushed past N is not the point here
        np.testing.assert_array_equal(read_hrtf(path).data, expected)


def test_delay_stored_in_seconds(tmp_path):
    """Some writers store Data.Delay in seconds and say so in Data.Delay:Units."""
    grid = synth.sphere_grid(8)
    ir = _noise(8, 128)
    samples = np.tile([[4.0, 9.0]], (8, 1))
    path = _sofa(
        tmp_path / "s.sofa",
        ir=ir,
        positions=grid,
        fs=48000.0,
        delay=samples / 48000.0,
        delay_units="second",
    )
    hrtf = read_hrtf(path)
    np.testing.assert_allclose(hrtf.meta["delay_max_samples"], 9.0)
    np.testing.assert_allclose(hrtf.data, apply_delay(ir, samples)[0], atol=1e-9)


def test_delay_with_unknown_units_is_an_error(tmp_path):
    path = _sofa(
        tmp_path / "u.sofa",
        ir=_noise(4, 32),
        positions=synth.sphere_grid(4),
        delay=np.ones((1, 2)),
        delay_units="furlong",
    )
    with pytest.raises(HrtfevalError, match="Data.Delay has units 'furlong'"):
        read_hrtf(path)


def test_h5py_rewritten_delay_without_dimension_scales(tmp_path, sonicom_like):
    """A Data.Delay replaced with h5py (delete + create_dataset, gzip): no netCDF dimensions.

    Tools that extract the delays of an existing SOFA file do exactly this (e.g. VISR's
    extractDelayInSofaFile): netCDF then sees the dataset with 'phony' dimension names.
    """
    s = sonicom_like
    path = tmp_path / "rewritten.sofa"
    path.write_bytes(Path(s["noitd"]).read_bytes())
    with h5py.File(path, "r+") as f:
        del f["Data.Delay"]
        f.create_dataset("Data.Delay", data=s["shift"].astype(np.float64), compression="gzip")
    with h5py.File(path, "r") as f:
        assert "DIMENSION_LIST" not in f["Data.Delay"].attrs
    np.testing.assert_array_equal(read_hrtf(path).data, read_hrtf(s["noitd"]).data)


# --------------------------------------------------------------------------------------------
# Grids: poles measured at several azimuths, several distances, elevations modulo 360


def _pole_ring_grid() -> np.ndarray:
    """The zenith and nadir measured at 8 azimuths each, plus a horizontal ring."""
    az = np.arange(0.0, 360.0, 45.0)
    rows = [
        np.c_[az, np.full(8, 90.0), np.ones(8)],
        np.c_[az, np.full(8, -90.0), np.ones(8)],
        np.c_[az, np.zeros(8), np.ones(8)],
    ]
    return np.concatenate(rows)


def test_pole_rows_pair_by_azimuth_label_when_both_have_them(tmp_path):
    grid = _pole_ring_grid()
    ir = _noise(len(grid), 64, seed=3)  # every pole row holds a different measurement
    ref = _sofa(tmp_path / "ref.sofa", ir=ir, positions=grid)
    perm = np.random.default_rng(2).permutation(len(grid))
    pred = _sofa(tmp_path / "pred.sofa", ir=ir[perm], positions=grid[perm])
    pair = align_pair(read_hrtf(pred), read_hrtf(ref))
    np.testing.assert_array_equal(pair.prediction.data, ir)
    doc = _score(pred, ref, "lsd")
    assert doc["scores"]["lsd"]["overall"] < 1e-5 and doc["spec"]["directions"]["matched"] == 24


def test_pole_rows_match_a_pole_with_any_azimuth_label(tmp_path):
    grid = _pole_ring_grid()
    ir = _noise(len(grid), 64, seed=3)
    ref = _sofa(tmp_path / "ref.sofa", ir=ir, positions=grid)
    # The prediction has each pole once, labelled with azimuths the reference never uses.
    pred_grid = np.r_[[[123.0, 90.0, 1.2], [-77.0, -90.0, 1.2]], grid[16:]]
    pred_ir = np.r_[ir[:1], ir[8:9], ir[16:]]
    pred = _sofa(tmp_path / "pred.sofa", ir=pred_ir, positions=pred_grid)
    pair = align_pair(read_hrtf(pred), read_hrtf(ref))
    assert pair.n_matched == 24 and pair.max_angle_deg < 1e-6
    np.testing.assert_array_equal(pair.prediction.data[:8], np.repeat(ir[:1], 8, axis=0))
    np.testing.assert_array_equal(pair.prediction.data[8:16], np.repeat(ir[8:9], 8, axis=0))
    doc = _score(pred, ref, "lsd")
    assert doc["spec"]["directions"]["matched"] == 24


def test_several_distances_per_direction_pair_by_distance(tmp_path):
    """SCUT's near-field KEMAR set holds every direction at several distances in one file."""
    base = synth.sphere_grid(40)
    radii = [0.2, 0.5, 1.0]
    grid = np.concatenate([np.c_[base[:, :2], np.full(40, r)] for r in radii])
    ir = _noise(len(grid), 64, seed=9)
    ref = _sofa(tmp_path / "scut.sofa", ir=ir, positions=grid, fs=44100.0)
    perm = np.random.default_rng(3).permutation(len(grid))
    pred = synth.write_sofa(tmp_path / "pred.sofa", ir[perm], grid[perm], 44100.0)
    pair = align_pair(read_hrtf(pred), read_hrtf(ref))
    np.testing.assert_array_equal(pair.prediction.data, ir)
    np.testing.assert_allclose(pair.prediction.positions[:, 2], grid[:, 2])


def test_duplicate_directions_keep_the_row_order_when_grids_agree():
    grid = np.r_[_pole_ring_grid(), _pole_ring_grid()]  # every row twice, labels included
    index, angles = match_directions(grid, grid, 0.1)
    np.testing.assert_array_equal(index, np.arange(len(grid)))
    index, _ = match_directions(grid[::-1], grid, 0.1)
    np.testing.assert_allclose(grid[::-1][index], grid)


def test_listen_elevations_modulo_360(tmp_path):
    """LISTEN's raw files name elevations modulo 360 ("315 to 345 for source below your head").

    Such elevations (and any past a pole) are the same directions as the usual [-90, 90] ones.
    """
    grid = np.array(
        [
            [0.0, -45.0, 1.95],
            [90.0, -15.0, 1.95],
            [180.0, 0.0, 1.95],
            [270.0, 30.0, 1.95],
            [15.0, 90.0, 1.95],
            [30.0, -30.0, 1.95],
        ]
    )
    stored = grid.copy()
    stored[:, 1] = np.mod(stored[:, 1], 360.0)  # 315, 345, 0, 30, 90, 330
    ir = _noise(len(grid), 128)
    ref = _sofa(tmp_path / "IRC_1002_C_HRIR.sofa", ir=ir, positions=stored, fs=44100.0)
    hrtf = read_hrtf(ref)
    np.testing.assert_allclose(hrtf.positions, grid, atol=1e-12)
    info = _info(ref)
    assert info["directions"]["elevation_min_deg"] == -45.0
    assert info["directions"]["elevation_max_deg"] == 90.0
    pred = synth.write_sofa(tmp_path / "pred.sofa", ir[::-1], grid[::-1], 44100.0)
    assert _score(pred, ref, "lsd")["scores"]["lsd"]["overall"] < 1e-5


def test_elevations_past_the_pole_and_azimuths_past_360():
    raw = np.array(
        [
            [0.0, 100.0, 1.0],
            [370.0, -100.0, 1.0],
            [-10.0, 180.0, 1.0],
            [720.0, 450.0, 1.0],
            [45.0, -270.0, 2.0],
        ]
    )
    got = parse_source_positions(raw, "Spherical", "degrees, degrees, meters")
    assert np.all((-90.0 <= got[:, 1]) & (got[:, 1] <= 90.0))
    assert np.all((0.0 <= got[:, 0]) & (got[:, 0] < 360.0))
    np.testing.assert_allclose(
        got[:3], [[180.0, 80.0, 1.0], [190.0, -80.0, 1.0], [170.0, 0.0, 1.0]], atol=1e-12
    )
    _same_directions(got, raw)
    np.testing.assert_array_equal(got[:, 2], raw[:, 2])


def test_pt_positions_are_folded_too(tmp_path):
    import torch

    ir = _noise(3, 32)
    path = tmp_path / "pred.pt"
    torch.save(
        {
            "hrir": torch.from_numpy(ir),
            "sampling_rate": 48000,
            "positions": torch.tensor([[0.0, 315.0, 1.0], [10.0, 0.0, 1.0], [20.0, 30.0, 1.0]]),
        },
        path,
    )
    np.testing.assert_allclose(read_hrtf(path).positions[0], [0.0, -45.0, 1.0], atol=1e-12)


# --------------------------------------------------------------------------------------------
# Attributes: spellings, missing ones, how they are stored


@pytest.mark.parametrize(
    ("ptype", "units"),
    [
        ("Spherical", "degree, degree, metre"),
        ("SPHERICAL", "degree, degree, meter"),
        ("spherical", "degrees, degrees, meters"),
        ("spherical", "degree,degree,metre"),
        ("spherical", "deg deg m"),
        (None, "degree, degree, metre"),  # Units on the variable, Type missing
        (None, None),  # both missing: SOFA's default for SourcePosition
        ("spherical", None),
    ],
)
def test_source_position_spellings(tmp_path, ptype, units):
    grid = synth.sphere_grid(10)
    stored = grid.copy()
    stored[:, 0] -= 360.0  # azimuths written as -360..0
    path = _sofa(
        tmp_path / "p.sofa", ir=_noise(10, 32), positions=stored, pos_type=ptype, pos_units=units
    )
    np.testing.assert_allclose(read_hrtf(path).positions, grid, atol=1e-9)


def test_list_valued_and_padded_string_attributes(tmp_path):
    """NC_STRING attributes with several values, and fixed-length HDF5 strings with padding."""
    grid = synth.sphere_grid(6)
    path = _sofa(
        tmp_path / "a.sofa", ir=_noise(6, 32), positions=grid, pos_units=None, pos_type=None
    )
    with netCDF4.Dataset(str(path), "a") as ds:
        ds["SourcePosition"].setncattr_string("Units", ["degree", "degree", "metre"])
        ds["SourcePosition"].setncattr_string("Type", ["spherical"])
    hrtf = read_hrtf(path)
    np.testing.assert_allclose(hrtf.positions, grid, atol=1e-9)
    assert hrtf.meta["position_units"] == "degree, degree, metre"

    for pad in (h5py.h5t.STR_NULLPAD, h5py.h5t.STR_NULLTERM, h5py.h5t.STR_SPACEPAD):
        with h5py.File(path, "r+") as f:
            for obj, key, value in (
                (f, "SOFAConventions", "SimpleFreeFieldHRIR"),
                (f["SourcePosition"], "Type", "spherical"),
            ):
                if key in obj.attrs:
                    del obj.attrs[key]
                dt = h5py.h5t.C_S1.copy()
                dt.set_size(32)
                dt.set_strpad(pad)
                attr = h5py.h5a.create(obj.id, key.encode(), dt, h5py.h5s.create(h5py.h5s.SCALAR))
                attr.write(np.array(value.encode(), dtype="S32"))
        assert read_hrtf(path).convention == "SimpleFreeFieldHRIR"


def test_only_sofa_conventions_among_the_global_attributes(tmp_path):
    grid = synth.sphere_grid(6)
    ir = _noise(6, 64)
    path = tmp_path / "bare.sofa"
    with netCDF4.Dataset(str(path), "w") as ds:
        ds.SOFAConventions = "SimpleFreeFieldHRIR"
        for dim, size in (("I", 1), ("C", 3), ("R", 2), ("N", 64), ("M", 6)):
            ds.createDimension(dim, size)
        ds.createVariable("Data.IR", "f8", ("M", "R", "N"))[:] = ir
        ds.createVariable("Data.SamplingRate", "f8", ("I",))[:] = 44100.0
        ds.createVariable("SourcePosition", "f8", ("M", "C"))[:] = grid
    hrtf = read_hrtf(path)
    assert hrtf.version == "" and hrtf.sampling_rate == 44100.0
    np.testing.assert_allclose(hrtf.positions, grid)
    info = _info(path)
    assert info["title"] is None and info["database"] is None and info["sofa_version"] == ""
    assert _score(path, path, "lsd")["scores"]["lsd"]["overall"] < 1e-5


def test_old_convention_name_simple_free_field_tf(tmp_path):
    """SimpleFreeFieldTF (versions 0.4 / 1.0) is the old name of SimpleFreeFieldHRTF."""
    grid = synth.sphere_grid(8)
    ir = _noise(8, 64)
    spec = np.fft.rfft(ir, axis=-1)
    freqs = np.fft.rfftfreq(64, 1 / 48000.0)
    path = _sofa(
        tmp_path / "tf.sofa",
        tf=spec,
        freqs=freqs,
        positions=grid,
        fs=None,
        convention="SimpleFreeFieldTF",
        convention_version="0.4",
        sofa_version="0.6",
    )
    hrtf = read_hrtf(path)
    assert hrtf.domain == "tf" and hrtf.convention == "SimpleFreeFieldTF"
    np.testing.assert_allclose(hrtf.data, spec)
    np.testing.assert_allclose(hrtf.frequencies, freqs)
    ref = synth.write_sofa(tmp_path / "ref.sofa", ir, grid, 48000.0)
    assert _score(path, ref, "lsd")["scores"]["lsd"]["overall"] < 1e-5


def test_convention_name_capitalisation(tmp_path):
    grid = synth.sphere_grid(4)
    path = _sofa(
        tmp_path / "c.sofa", ir=_noise(4, 32), positions=grid, convention="simplefreefieldhrir"
    )
    assert read_hrtf(path).domain == "ir"


def test_unsupported_sos_convention_names_what_is_read(tmp_path):
    """IRCAM's BiLi sets are also published as SimpleFreeFieldSOS (biquads, Data.SOS)."""
    path = tmp_path / "sos.sofa"
    with netCDF4.Dataset(str(path), "w") as ds:
        ds.Conventions = "SOFA"
        ds.SOFAConventions = "SimpleFreeFieldSOS"
        ds.createDimension("M", 2)
    with pytest.raises(
        HrtfevalError,
        match=r"'SimpleFreeFieldSOS' is not supported; hrtfeval "
        r"reads SimpleFreeFieldHRIR, .*SimpleFreeFieldTF",
    ):
        read_hrtf(path)


# --------------------------------------------------------------------------------------------
# Storage: netCDF classic, plain HDF5, fill values, dtypes


@pytest.mark.parametrize("fmt", ["NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET", "NETCDF4_CLASSIC"])
def test_netcdf_classic_formats(tmp_path, fmt):
    grid = synth.sphere_grid(20)
    ir = _noise(20, 64).astype(np.float32)
    path = _sofa(
        tmp_path / "classic.sofa",
        ir=ir,
        positions=grid,
        fs=44100.0,
        fmt=fmt,
        dtype="f4",
        delay=np.zeros((1, 2)),
    )
    hrtf = read_hrtf(path)
    np.testing.assert_array_equal(hrtf.data, ir.astype(np.float64))
    assert _info(path)["M"] == 20
    assert _score(path, path, "lsd")["scores"]["lsd"]["overall"] < 1e-5


def test_plain_hdf5_file_written_with_h5py(tmp_path):
    """No netCDF dimension scales at all (h5py or MATLAB's h5write): netCDF names them itself."""
    grid = synth.sphere_grid(10)
    ir = _noise(10, 64)
    path = tmp_path / "h5.sofa"
    with h5py.File(path, "w") as f:
        f.attrs["Conventions"] = np.bytes_("SOFA")
        f.attrs["SOFAConventions"] = np.bytes_("SimpleFreeFieldHRIR")
        f.attrs["SOFAConventionsVersion"] = "1.0"
        f.create_dataset("Data.IR", data=ir.astype(np.float32))
        rate = f.create_dataset("Data.SamplingRate", data=[48000.0])
        rate.attrs["Units"] = np.bytes_("hertz")
        source = f.create_dataset("SourcePosition", data=grid)
        source.attrs["Type"] = np.bytes_("spherical")
        source.attrs["Units"] = "degree, degree, metre"
        f.create_dataset("Data.Delay", data=np.zeros((1, 2)))
    hrtf = read_hrtf(path)
    np.testing.assert_allclose(hrtf.data, ir, rtol=1e-6)
    np.testing.assert_allclose(hrtf.positions, grid)


@pytest.mark.parametrize("compress", [None, "shuffle+deflate"])
def test_fill_values_are_data_not_missing_values(tmp_path, compress):
    """Variables with a _FillValue equal to real data (0 here): netCDF4 would mask every 0.

    Azimuth 0, elevation 0 and silent samples are ordinary values; masked arrays would turn
    them into fill values or NaN (seen with SADIE II files read through pysofaconventions).
    """
    grid = np.array([[0.0, 0.0, 1.2], [90.0, 0.0, 1.2], [0.0, 45.0, 1.2], [270.0, -30.0, 1.2]])
    ir = _noise(4, 64)
    ir[:, :, :5] = 0.0
    delay = np.array([[0.0, 2.0]] * 4)
    path = _sofa(
        tmp_path / "fill.sofa",
        ir=ir,
        positions=grid,
        fill_value=0.0,
        delay=delay,
        compress=compress,
    )
    with netCDF4.Dataset(str(path)) as ds:
        assert np.ma.is_masked(ds["SourcePosition"][:])  # the trap being avoided
    hrtf = read_hrtf(path)
    assert not np.ma.isMaskedArray(hrtf.data) and not np.ma.isMaskedArray(hrtf.positions)
    np.testing.assert_array_equal(hrtf.positions, grid)
    np.testing.assert_array_equal(hrtf.data, apply_delay(ir, delay)[0])
    assert _score(path, path, "lsd", "itd")["scores"]["lsd"]["overall"] < 1e-5


@pytest.mark.parametrize("compress", [None, "deflate", "shuffle+deflate"])
def test_variables_stored_in_column_major_dimension_order(tmp_path, compress):
    """Dimensions named as in AES69 but stored reversed, as MATLAB's column-major order has them.

    (No published database seen doing this; a netCDF writer that skips the SOFA Toolbox's
    dimension flip would. The names say which axis is which, so the reader follows them.)
    """
    grid = synth.sphere_grid(7)
    ir = _noise(7, 48)
    delay = np.tile([[1.0, 3.0]], (7, 1))
    path = tmp_path / "colmajor.sofa"
    with netCDF4.Dataset(str(path), "w") as ds:
        ds.Conventions = "SOFA"
        ds.SOFAConventions = "SimpleFreeFieldHRIR"
        for dim, size in (("I", 1), ("C", 3), ("R", 2), ("N", 48), ("M", 7)):
            ds.createDimension(dim, size)
        kwargs = {"zlib": True, "shuffle": compress == "shuffle+deflate"} if compress else {}
        ds.createVariable("Data.IR", "f8", ("N", "R", "M"), **kwargs)[:] = ir.transpose(2, 1, 0)
        ds.createVariable("Data.SamplingRate", "f8", ("I",))[:] = 48000.0
        pos = ds.createVariable("SourcePosition", "f8", ("C", "M"), **kwargs)
        pos[:] = grid.T
        pos.Type, pos.Units = "spherical", "degree, degree, metre"
        ds.createVariable("Data.Delay", "f8", ("R", "M"), **kwargs)[:] = delay.T
    hrtf = read_hrtf(path)
    np.testing.assert_allclose(hrtf.positions, grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, _ = apply_delay(ir, delay)
    np.testing.assert_array_equal(hrtf.data, expected)


def test_receiver_positions_do_not_reorder_the_ears(tmp_path):
    """Receiver 0 is the left ear whatever ReceiverPosition (R, C, I) says.

    Old versions of the ARI SOFA API for Matlab (up to 1.1.0) wrote the two receiver positions
    mirrored (receiver 0 at y < 0) without swapping the data; libmysofa accepts such files with
    a warning and keeps the data order. hrtfeval does not read ReceiverPosition at all.
    """
    grid = np.array([[90.0, 0.0, 1.2], [270.0, 0.0, 1.2]])  # left, right
    ir = np.zeros((2, 2, 64))
    ir[0, 0, 10], ir[0, 1, 10] = 1.0, 0.1  # source on the left: receiver 0 louder
    ir[1, 0, 10], ir[1, 1, 10] = 0.1, 1.0
    path = _sofa(tmp_path / "rp.sofa", ir=ir, positions=grid, extra_globals={"APIVersion": "0.4.3"})
    with netCDF4.Dataset(str(path), "a") as ds:
        ds["ReceiverPosition"][:] = [[[0.0], [-0.09], [0.0]], [[0.0], [0.09], [0.0]]]
    np.testing.assert_array_equal(read_hrtf(path).data, ir)


def test_sampling_rate_per_measurement_and_float32_everything(tmp_path):
    grid = synth.sphere_grid(16).astype(np.float32)
    ir = _noise(16, 64).astype(np.float32)
    path = _sofa(
        tmp_path / "f32.sofa",
        ir=ir,
        positions=grid,
        fs=np.full(16, 96000.0),
        dtype="f4",
        fs_units="Hz",
        delay=np.zeros((16, 2), np.float32),
    )
    hrtf = read_hrtf(path)
    assert hrtf.sampling_rate == 96000.0 and hrtf.data.dtype == np.float64
    _same_directions(hrtf.positions, grid.astype(np.float64), atol=1e-6)
    assert _info(path)["sampling_rate"] == 96000.0
