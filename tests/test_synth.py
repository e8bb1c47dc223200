"""Tests of hrtfeval.synth and of the sample data made with it.

The expected values are computed here with plain numpy (onsets, cross-correlation, an rfft LSD),
independently of the code under test.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from hrtfeval import synth

sofar = pytest.importorskip("sofar")

FS = 48000
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_FILES = ("reference.sofa", "prediction.sofa", "prediction.pt")


def lsd_db(prediction: np.ndarray, target: np.ndarray, fs: float = FS) -> float:
    """Mean over vectors of sqrt(mean_k (20log10|P| - 20log10|T|)^2), bins 20 Hz..20 kHz."""
    n = target.shape[-1]
    f = np.fft.rfftfreq(n, 1.0 / fs)
    keep = (f >= 20.0) & (f <= 20000.0) & (f < fs / 2)
    p = 20 * np.log10(np.abs(np.fft.rfft(prediction, axis=-1))[..., keep])
    t = 20 * np.log10(np.abs(np.fft.rfft(target, axis=-1))[..., keep])
    return float(np.sqrt(np.mean((p - t) ** 2, axis=-1)).mean())


def onset(ir: np.ndarray, threshold: float = 0.5) -> int:
    """First sample reaching ``threshold`` times the peak magnitude."""
    return int(np.argmax(np.abs(ir) >= threshold * np.abs(ir).max()))


def itd_xcorr_s(left: np.ndarray, right: np.ndarray, fs: float = FS) -> float:
    """Right-ear lag behind the left ear in seconds, from the cross-correlation peak."""
    upsample = 8  # sub-sample resolution by zero-padding the spectra
    n = 2 * len(left)
    spec = np.fft.rfft(right, n) * np.conj(np.fft.rfft(left, n))
    cc = np.fft.irfft(spec, n * upsample)
    lag = int(np.argmax(cc))
    if lag > n * upsample // 2:
        lag -= n * upsample
    return lag / (fs * upsample)


# ------------------------------------------------------------------------------------- grids


@pytest.mark.parametrize("n", [1, 2, 50, 440, 2000])
def test_sphere_grid_counts_ranges_unique(n):
    grid = synth.sphere_grid(n)
    assert grid.shape == (n, 3)
    assert grid.dtype == np.float64
    assert np.all((grid[:, 0] >= 0) & (grid[:, 0] < 360))
    assert np.all((grid[:, 1] >= -90) & (grid[:, 1] <= 90))
    np.testing.assert_array_equal(grid[:, 2], 1.2)
    assert len(np.unique(np.round(grid[:, :2], 6), axis=0)) == n
    np.testing.assert_array_equal(grid, synth.sphere_grid(n))


def test_sphere_grid_is_near_uniform():
    grid = synth.sphere_grid(1000)
    u = synth._unit_vectors(grid[:, 0], grid[:, 1])
    assert np.linalg.norm(u.mean(axis=0)) < 0.01  # balanced over the sphere
    # Nearest-neighbour angles stay within a narrow band around the ideal spacing.
    cos = np.clip(u @ u.T, -1, 1)
    np.fill_diagonal(cos, -1)
    nearest = np.rad2deg(np.arccos(cos.max(axis=1)))
    assert nearest.min() > 0.6 * np.median(nearest)
    assert nearest.max() < 1.6 * np.median(nearest)


def test_measured_grid_has_793_unique_directions():
    grid = synth.measured_grid()
    assert grid.shape == (793, 3)
    assert len(np.unique(np.round(grid[:, :2], 6), axis=0)) == 793
    assert np.all((grid[:, 0] >= 0) & (grid[:, 0] < 360))
    assert grid[:, 1].min() == -45 and grid[:, 1].max() == 90
    assert np.sum(grid[:, 1] == 90) == 1
    # Fewer azimuths toward the pole; the front, left, back and right are on the horizon.
    counts = {el: np.sum(grid[:, 1] == el) for el in (0, 45, 85)}
    assert counts[0] > counts[45] > counts[85]
    horizon = grid[grid[:, 1] == 0, 0]
    assert {0.0, 90.0, 180.0, 270.0} <= set(horizon.tolist())


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_sphere_grid_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="n_directions"):
        synth.sphere_grid(bad)


# --------------------------------------------------------------------------- spherical head


@pytest.fixture(scope="module")
def horizon():
    azimuths = np.arange(0.0, 360.0, 10.0)
    positions = np.stack([azimuths, np.zeros_like(azimuths), np.full_like(azimuths, 1.2)], 1)
    return positions, synth.spherical_head_hrirs(positions)


def test_hrirs_shape_dtype_deterministic(horizon):
    positions, h = horizon
    assert h.shape == (len(positions), 2, 256)
    assert h.dtype == np.float64
    assert np.all(np.isfinite(h))
    np.testing.assert_array_equal(h, synth.spherical_head_hrirs(positions))
    # A seed gives another, equally deterministic subject.
    a = synth.spherical_head_hrirs(positions, seed=3)
    np.testing.assert_array_equal(a, synth.spherical_head_hrirs(positions, seed=3))
    assert not np.allclose(a, h)


def test_left_source_is_louder_and_earlier_at_the_left_ear():
    h = synth.spherical_head_hrirs([[90.0, 0.0, 1.2], [60.0, 20.0, 1.2]])
    for left, right in h:
        assert np.sum(left**2) > 2 * np.sum(right**2)
        assert onset(left) < onset(right)


def test_mirror_symmetry(horizon):
    positions, h = horizon
    az = positions[:, 0]
    mirrored = synth.spherical_head_hrirs(np.stack([-az, positions[:, 1], positions[:, 2]], 1))
    np.testing.assert_allclose(h[:, 0], mirrored[:, 1], atol=1e-12)
    np.testing.assert_allclose(h[:, 1], mirrored[:, 0], atol=1e-12)


def test_median_plane_sources_reach_both_ears_alike():
    h = synth.spherical_head_hrirs([[0.0, 0.0, 1.2], [180.0, 30.0, 1.2], [0.0, 90.0, 1.2]])
    np.testing.assert_allclose(h[:, 0], h[:, 1], atol=1e-12)


def test_itd_at_90_degrees():
    (left, right), (left_r, right_r) = synth.spherical_head_hrirs(
        [[90.0, 0.0, 1.2], [270.0, 0.0, 1.2]]
    )
    itd = itd_xcorr_s(left, right)
    assert 0.5e-3 <= itd <= 0.8e-3
    assert 0.5e-3 <= (onset(right) - onset(left)) / FS <= 0.8e-3
    assert itd_xcorr_s(left_r, right_r) == pytest.approx(-itd)


def test_itd_grows_with_lateral_angle(horizon):
    positions, h = horizon
    itds = np.array([itd_xcorr_s(left, right) for left, right in h])
    front = itds[positions[:, 0] <= 90]  # 0, 10, ..., 90 deg
    assert abs(front[0]) < 1e-5
    assert np.all(np.diff(front) > 0)


def test_spectra_depend_on_elevation():
    h = synth.spherical_head_hrirs([[0.0, -40.0, 1.2], [0.0, 0.0, 1.2], [0.0, 40.0, 1.2]])
    mag = 20 * np.log10(np.abs(np.fft.rfft(h[:, 0], axis=-1)))
    assert lsd_db(h[0:1, 0], h[1:2, 0]) > 1.0
    assert lsd_db(h[2:3, 0], h[1:2, 0]) > 1.0
    # 0 Hz is the unit-gain sphere at every direction.
    np.testing.assert_allclose(mag[:, 0], 0.0, atol=0.05)


@pytest.mark.parametrize("fs,n_taps", [(44100, 256), (96000, 512), (16000, 64)])
def test_other_rates_keep_the_itd(fs, n_taps):
    ((left, right),) = synth.spherical_head_hrirs([[90.0, 0.0, 1.2]], fs, n_taps)
    assert 0.5e-3 <= itd_xcorr_s(left, right, fs) <= 0.8e-3


def test_hrirs_reject_bad_input():
    with pytest.raises(ValueError, match="positions"):
        synth.spherical_head_hrirs(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="n_taps"):
        synth.spherical_head_hrirs([[0.0, 0.0, 1.2]], n_taps=32)
    with pytest.raises(ValueError, match="sampling_rate"):
        synth.spherical_head_hrirs([[0.0, 0.0, 1.2]], sampling_rate=0)


# ---------------------------------------------------------------------------------- degrade


@pytest.fixture(scope="module")
def pair():
    return synth.make_pair(200)


def test_degrade_gives_a_few_db_lsd(pair):
    _, reference, prediction = pair
    assert prediction.shape == reference.shape
    assert 1.0 <= lsd_db(prediction, reference) <= 8.0
    # Phase and onsets are kept: the ITD of each prediction matches the reference.
    for (lp, rp), (lt, rt) in zip(prediction[::20], reference[::20]):
        assert itd_xcorr_s(lp, rp) == pytest.approx(itd_xcorr_s(lt, rt), abs=2 / FS)


def test_degrade_is_deterministic_per_seed(pair):
    _, reference, prediction = pair
    np.testing.assert_array_equal(prediction, synth.degrade(reference, seed=0))
    assert not np.allclose(prediction, synth.degrade(reference, seed=1))


def test_degrade_strength_follows_its_parameters(pair):
    _, reference, _ = pair
    identity = synth.degrade(reference, smoothing=None, noise_db=0.0, gain_db=0.0)
    np.testing.assert_allclose(identity, reference, atol=1e-12)
    mild = lsd_db(synth.degrade(reference, noise_db=0.5, gain_db=0.5), reference)
    strong = lsd_db(synth.degrade(reference, noise_db=3.0, gain_db=2.0), reference)
    assert mild < strong


def test_make_pair_defaults_to_the_measured_grid():
    positions, reference, prediction = synth.make_pair(n_taps=128)
    assert positions.shape == (793, 3)
    assert reference.shape == prediction.shape == (793, 2, 128)


# ---------------------------------------------------------------------------------- writers


@pytest.fixture(scope="module")
def small():
    positions = synth.sphere_grid(12)
    return positions, synth.spherical_head_hrirs(positions, n_taps=128)


@pytest.mark.parametrize("position_type", ["spherical", "cartesian"])
@pytest.mark.parametrize("convention", synth.SOFA_CONVENTIONS)
def test_write_sofa_round_trip(tmp_path, small, capsys, convention, position_type):
    positions, hrirs = small
    is_ir = convention in ("SimpleFreeFieldHRIR", "GeneralFIR")
    delay = np.arange(24, dtype=float).reshape(12, 2) if is_ir else None
    freqs = np.fft.rfftfreq(128, 1 / FS)
    data = hrirs if is_ir else np.fft.rfft(hrirs, axis=-1)
    path = synth.write_sofa(
        tmp_path / "set.sofa",
        data,
        positions,
        FS,
        convention=convention,
        frequencies=None if is_ir else freqs,
        delay=delay,
        position_type=position_type,
    )
    assert path == tmp_path / "set.sofa"

    sofa = sofar.read_sofa(str(path))
    sofa.verify()
    assert sofa.GLOBAL_SOFAConventions == convention
    if is_ir:
        np.testing.assert_array_equal(sofa.Data_IR, hrirs)
        assert sofa.Data_SamplingRate == FS
        np.testing.assert_array_equal(sofa.Data_Delay, delay)
    else:
        np.testing.assert_array_equal(sofa.Data_Real + 1j * sofa.Data_Imag, data)
        np.testing.assert_allclose(sofa.N, freqs)
    np.testing.assert_allclose(sofa.ReceiverPosition.reshape(2, 3)[:, 1], [0.0875, -0.0875])
    assert sofa.SourcePosition_Type == position_type
    if position_type == "spherical":
        np.testing.assert_allclose(sofa.SourcePosition, positions)
        assert sofa.SourcePosition_Units == "degree, degree, metre"
    else:
        xyz = sofa.SourcePosition
        np.testing.assert_allclose(np.linalg.norm(xyz, axis=1), positions[:, 2])
        az = np.mod(np.rad2deg(np.arctan2(xyz[:, 1], xyz[:, 0])), 360)
        el = np.rad2deg(np.arcsin(xyz[:, 2] / np.linalg.norm(xyz, axis=1)))
        az_err = (az - positions[:, 0] + 180) % 360 - 180
        np.testing.assert_allclose(az_err, 0, atol=1e-9)
        np.testing.assert_allclose(el, positions[:, 1], atol=1e-9)
    assert capsys.readouterr().out == ""


def test_write_sofa_default_delay_date_and_frequencies(tmp_path, small):
    positions, hrirs = small
    path = synth.write_sofa(tmp_path / "a", hrirs, positions, FS, date="2020-02-02 02:02:02")
    sofa = sofar.read_sofa(str(path))
    assert path.suffix == ".sofa"
    np.testing.assert_array_equal(sofa.Data_Delay, [[0.0, 0.0]])
    assert sofa.GLOBAL_DateCreated == sofa.GLOBAL_DateModified == "2020-02-02 02:02:02"
    spectra = np.fft.rfft(hrirs, axis=-1)
    path = synth.write_sofa(tmp_path / "b", spectra, positions, FS, convention="GeneralTF")
    np.testing.assert_allclose(sofar.read_sofa(str(path)).N, np.fft.rfftfreq(128, 1 / FS))


def test_write_sofa_rejects_bad_input(tmp_path, small):
    positions, hrirs = small
    with pytest.raises(ValueError, match="convention"):
        synth.write_sofa(tmp_path / "x", hrirs, positions, FS, convention="FreeFieldDirectivityTF")
    with pytest.raises(ValueError, match="positions"):
        synth.write_sofa(tmp_path / "x", hrirs, positions[:5], FS)
    with pytest.raises(ValueError, match="delay"):
        synth.write_sofa(tmp_path / "x", hrirs, positions, FS, delay=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="Data.Delay"):
        synth.write_sofa(
            tmp_path / "x", hrirs + 0j, positions, FS, convention="GeneralTF", delay=[[1, 1]]
        )
    with pytest.raises(ValueError, match="complex"):
        synth.write_sofa(tmp_path / "x", hrirs + 1j, positions, FS)


def test_write_pt(tmp_path, small):
    torch = pytest.importorskip("torch")
    positions, hrirs = small
    path = synth.write_pt(tmp_path / "p.pt", hrirs, positions, FS)
    loaded = torch.load(path)
    assert set(loaded) == {"hrir", "sampling_rate", "positions"}
    assert loaded["hrir"].dtype == torch.float32 and loaded["hrir"].shape == (12, 2, 128)
    assert loaded["positions"].dtype == torch.float64
    assert loaded["sampling_rate"] == 48000.0
    np.testing.assert_array_equal(loaded["hrir"].numpy(), hrirs.astype(np.float32))

    synth.write_pt(tmp_path / "m.pt", np.abs(hrirs), key="magnitude")
    assert set(torch.load(tmp_path / "m.pt")) == {"magnitude"}
    synth.write_pt(tmp_path / "t.pt", hrirs, key=None)
    assert torch.is_tensor(torch.load(tmp_path / "t.pt"))
    with pytest.raises(ValueError, match="bare tensor"):
        synth.write_pt(tmp_path / "t.pt", hrirs, positions, key=None)


# ------------------------------------------------------------------------------ sample data


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_files_exist_and_are_small(name):
    path = SAMPLE_DIR / name
    assert path.is_file(), f"{path} is missing: run python sample_data/make_sample_data.py"
    assert path.stat().st_size < 2_000_000


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_data")
    script = runpy.run_path(str(SAMPLE_DIR / "make_sample_data.py"), run_name="sample_data")
    written = script["main"](["--out", str(out)])
    assert sorted(p.name for p in written) == sorted(SAMPLE_FILES)
    return out


@pytest.mark.parametrize("name", ["reference.sofa", "prediction.sofa"])
def test_sample_sofa_verify_and_regenerate(regenerated, name):
    committed = sofar.read_sofa(str(SAMPLE_DIR / name))
    committed.verify()
    fresh = sofar.read_sofa(str(regenerated / name))
    assert committed.GLOBAL_SOFAConventions == "SimpleFreeFieldHRIR"
    assert committed.Data_IR.shape == (440, 2, 256)
    assert committed.Data_SamplingRate == 48000
    np.testing.assert_array_equal(fresh.SourcePosition, committed.SourcePosition)
    np.testing.assert_array_equal(fresh.Data_IR, committed.Data_IR)
    assert fresh.GLOBAL_DateCreated == committed.GLOBAL_DateCreated


def test_sample_pt_matches_prediction_sofa(regenerated):
    torch = pytest.importorskip("torch")
    committed = torch.load(SAMPLE_DIR / "prediction.pt")
    fresh = torch.load(regenerated / "prediction.pt")
    assert committed["sampling_rate"] == fresh["sampling_rate"] == 48000.0
    assert torch.equal(committed["hrir"], fresh["hrir"])
    assert torch.equal(committed["positions"], fresh["positions"])
    sofa = sofar.read_sofa(str(SAMPLE_DIR / "prediction.sofa"))
    np.testing.assert_array_equal(committed["hrir"].numpy(), sofa.Data_IR)
    np.testing.assert_array_equal(committed["positions"].numpy(), sofa.SourcePosition)


def test_sample_prediction_is_a_shuffled_degraded_reference():
    reference = sofar.read_sofa(str(SAMPLE_DIR / "reference.sofa"))
    prediction = sofar.read_sofa(str(SAMPLE_DIR / "prediction.sofa"))
    ref_pos, pred_pos = reference.SourcePosition, prediction.SourcePosition
    assert not np.array_equal(ref_pos, pred_pos)
    index = {tuple(p): i for i, p in enumerate(ref_pos)}
    order = np.array([index[tuple(p)] for p in pred_pos])
    assert sorted(order) == list(range(440))
    assert 1.0 <= lsd_db(prediction.Data_IR, reference.Data_IR[order]) <= 8.0
