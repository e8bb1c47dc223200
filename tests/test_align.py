"""Alignment of a predicted set to a reference set: directions, rates, lengths, fill-in."""

from __future__ import annotations

import contextlib
import re
import time
import tracemalloc

import numpy as np
import pytest
import sofar

from hrtfeval.align import AlignedPair, align_pair, match_directions
from hrtfeval.errors import HrtfevalError
from hrtfeval.io import read_hrtf
from hrtfeval.model import HRTFSet

FS = 48000.0


def _grid(m: int, seed: int = 0) -> np.ndarray:
    """m directions spread over the sphere (azimuth [0, 360), elevation), distance 1.5 m."""
    rng = np.random.default_rng(seed)
    az = rng.uniform(0, 360, m)
    el = np.rad2deg(np.arcsin(rng.uniform(-1, 1, m)))
    return np.stack([az, el, np.full(m, 1.5)], axis=1)


def _set(
    path: str,
    positions: np.ndarray | None,
    *,
    n: int = 8,
    data: np.ndarray | None = None,
    domain: str = "ir",
    fs: float | None = FS,
    m: int | None = None,
    **kw,
) -> HRTFSet:
    m = positions.shape[0] if m is None else m
    if data is None:
        data = np.arange(m * 2 * n, dtype=float).reshape(m, 2, n)
    return HRTFSet(path=path, data=data, domain=domain, sampling_rate=fs, positions=positions, **kw)


@contextlib.contextmanager
def _raises(pattern: str):
    with pytest.raises(HrtfevalError) as err:
        yield err
    assert re.search(pattern, str(err.value)), str(err.value)
    assert "\n" not in str(err.value)


GRID = _grid(60)
REF = _set("ref.sofa", GRID)


def _check_identity(pair: AlignedPair, ref: HRTFSet = REF) -> None:
    """Every aligned prediction row carries the reference row's data (built to be equal)."""
    np.testing.assert_array_equal(pair.prediction.data, ref.data)
    np.testing.assert_array_equal(pair.reference.data, ref.data)
    assert pair.n_matched == pair.n_reference == ref.n_directions
    assert pair.missing.size == 0


# --------------------------------------------------------------------------------------------
# Direction matching


def test_identical_sets_fast_path():
    pred = _set("pred.pt", GRID.copy())
    pair = align_pair(pred, REF)
    _check_identity(pair)
    assert pair.max_angle_deg == 0.0 and pair.notes == []
    assert pair.prediction.data is pred.data  # no search and no copy


def test_shuffled_wrapped_and_cartesian_copies_align():
    perm = np.random.default_rng(1).permutation(GRID.shape[0])
    # Azimuth in -180..180, shuffled rows, another distance: the same directions.
    wrapped = GRID[perm].copy()
    wrapped[:, 0] = np.where(wrapped[:, 0] > 180, wrapped[:, 0] - 360, wrapped[:, 0])
    wrapped[:, 2] = 2.0
    pred = _set("pred.pt", wrapped, data=REF.data[perm])
    pair = align_pair(pred, REF)
    _check_identity(pair)
    assert pair.max_angle_deg < 1e-9
    assert pair.notes == ["pred.pt: directions re-ordered to match ref.sofa"]
    np.testing.assert_array_equal(pair.prediction.positions, wrapped[np.argsort(perm)])


def test_cartesian_sofa_against_spherical_sofa(tmp_path):
    grid = _grid(40, seed=3)
    ir = np.random.default_rng(2).standard_normal((40, 2, 16))
    perm = np.random.default_rng(4).permutation(40)
    az, el = np.deg2rad(grid[:, 0]), np.deg2rad(grid[:, 1])
    xyz = grid[:, 2:3] * np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
    for name, positions, rows, ptype, units in (
        ("ref.sofa", grid, slice(None), "spherical", "degree, degree, metre"),
        ("pred.sofa", xyz[perm], perm, "cartesian", "metre"),
    ):
        sofa = sofar.Sofa("SimpleFreeFieldHRIR")
        sofa.Data_IR, sofa.Data_SamplingRate = ir[rows], FS
        sofa.SourcePosition = positions
        sofa.SourcePosition_Type, sofa.SourcePosition_Units = ptype, units
        sofar.write_sofa(str(tmp_path / name), sofa)
    pair = align_pair(read_hrtf(tmp_path / "pred.sofa"), read_hrtf(tmp_path / "ref.sofa"))
    np.testing.assert_array_equal(pair.prediction.data, pair.reference.data)
    assert pair.max_angle_deg < 1e-9


@pytest.mark.parametrize(("offset", "matches"), [(0.05, True), (0.2, False)])
def test_tolerance_boundary(offset, matches):
    moved = GRID.copy()
    moved[7, 1] += offset if moved[7, 1] < 0 else -offset  # along a meridian: angle == offset
    pred = _set("pred.pt", moved)
    if matches:
        pair = align_pair(pred, REF)
        _check_identity(pair)
        assert pair.max_angle_deg == pytest.approx(offset, rel=1e-6)
    else:
        az, el = GRID[7, 0], GRID[7, 1]
        with _raises(
            rf"^pred.pt: 1 of 60 reference directions of ref.sofa have no prediction direction "
            rf"within 0.1 deg \(\(az {az:.4g}, el {el:.4g} deg\)\); widen --position-tolerance "
            rf"\(up to 0.2 deg matches all\) or pass --allow-missing"
        ):
            align_pair(pred, REF)
        assert align_pair(pred, REF, tolerance_deg=0.25).max_angle_deg == pytest.approx(0.2)


def test_great_circle_not_azimuth_difference():
    # At elevation 60 an azimuth step of 0.15 deg is a great-circle step of about 0.075 deg.
    ref = _set("ref.sofa", np.array([[10.0, 60.0, 1.0], [200.0, 0.0, 1.0]]))
    pred = _set("pred.pt", np.array([[200.0, 0.0, 1.0], [10.15, 60.0, 1.0]]), data=ref.data[::-1])
    pair = align_pair(pred, ref)
    np.testing.assert_array_equal(pair.prediction.data, ref.data)
    assert 0.07 < pair.max_angle_deg < 0.08


def test_poles_match_whatever_the_azimuth():
    ref = _set("ref.sofa", np.array([[0.0, 90.0, 1.0], [123.0, -90.0, 1.0]]))
    pred = _set("pred.pt", np.array([[77.0, -90.0, 1.0], [250.0, 90.0, 1.0]]), data=ref.data[::-1])
    np.testing.assert_array_equal(align_pair(pred, ref).prediction.data, ref.data)


def test_missing_directions_error_and_allow_missing():
    keep = np.r_[0:20, 25:60]  # reference rows 20..24 have no prediction
    perm = np.random.default_rng(5).permutation(keep)
    pred = _set("pred.pt", GRID[perm], data=REF.data[perm])
    # Genuinely missing: widening would match them to other reference directions' partners
    # (the hint used to say "widen --position-tolerance (up to 26.4 deg matches all)", and
    # following it gave the error "... both match the predicted direction ...").
    with _raises(
        r"^pred.pt: 5 of 60 reference directions of ref.sofa are missing from the prediction "
        r"\(\(az .*\), \(az .*\), \(az .*\), \.\.\.\): none lies within 0.1 deg, and the "
        r"nearest are other reference directions' matches; pass --allow-missing to score only "
        r"the matched ones$"
    ) as err:
        align_pair(pred, REF)
    assert "widen" not in str(err.value)

    pair = align_pair(pred, REF, allow_missing=True)
    np.testing.assert_array_equal(pair.missing, np.arange(20, 25))
    assert pair.n_reference == 60 and pair.n_matched == 55
    np.testing.assert_array_equal(pair.reference.data, REF.data[keep])
    np.testing.assert_array_equal(pair.prediction.data, REF.data[keep])
    np.testing.assert_array_equal(pair.reference.positions, GRID[keep])
    assert any("5 of 60 directions have no prediction direction" in note for note in pair.notes)


def test_widening_is_suggested_only_when_it_matches_every_direction():
    shifted = GRID.copy()
    shifted[:5, 1] += np.array([0.3, 0.2, 0.7, 0.1, 0.25])  # 5 rows a little off
    shifted[:5, 1] = np.clip(shifted[:5, 1], -90, 90)
    pred = _set("pred.pt", shifted, data=REF.data)
    with _raises(
        r"^pred.pt: \d of 60 reference directions of ref.sofa have no prediction direction "
        r"within 0.1 deg .*; widen --position-tolerance \(up to ([0-9.]+) deg matches all\) or "
        r"pass --allow-missing"
    ) as err:
        align_pair(pred, REF)
    needed = float(re.search(r"up to ([0-9.]+) deg", str(err.value)).group(1))
    _check_identity(align_pair(pred, REF, tolerance_deg=needed))  # the advice works
    # the same grid rotated: nothing matches, widening does
    rotated = GRID.copy()
    rotated[:, 0] = np.mod(rotated[:, 0] + 0.5, 360)
    with _raises(r"widen --position-tolerance \(up to ([0-9.]+) deg matches all\)") as err:
        align_pair(_set("pred.pt", rotated, data=REF.data), REF)
    needed = float(re.search(r"up to ([0-9.]+) deg", str(err.value)).group(1))
    _check_identity(align_pair(_set("pred.pt", rotated, data=REF.data), REF, tolerance_deg=needed))


def test_nothing_matches_even_with_allow_missing():
    pred = _set("pred.pt", _grid(10, seed=9))
    with _raises(r"^pred.pt: none of the 60 reference directions of ref.sofa has a prediction"):
        align_pair(pred, REF, allow_missing=True)


def test_prediction_superset_is_subset():
    extra = np.r_[GRID, _grid(30, seed=11)]
    data = np.r_[REF.data, np.zeros((30, 2, 8))]
    perm = np.random.default_rng(6).permutation(90)
    pair = align_pair(_set("pred.pt", extra[perm], data=data[perm]), REF)
    _check_identity(pair)
    assert pair.notes == ["pred.pt: 60 of its 90 directions used, in the order of ref.sofa"]


def test_duplicate_reference_directions_are_kept():
    ref = _set("ref.sofa", np.r_[GRID[:5], GRID[2:3]])
    pred = _set("pred.pt", GRID[:5][::-1], data=ref.data[:5][::-1])
    pair = align_pair(pred, ref)
    assert pair.n_matched == 6
    np.testing.assert_array_equal(pair.prediction.data, ref.data[[0, 1, 2, 3, 4, 2]])


def test_repeated_directions_with_different_data_pair_in_file_order():
    # The reference stores direction 2 twice (rows 2 and 6, other data); the prediction is a
    # reordered copy. Both reference rows used to match one prediction row (LSD 0.0056, 2.4 dB
    # in that direction, instead of a perfect score).
    ref = _set("ref.sofa", np.r_[GRID[:6], GRID[2:3]])
    perm = np.array([5, 2, 0, 4, 6, 1, 3])  # rows 2 and 6 keep their order
    pred = _set("pred.pt", ref.positions[perm], data=ref.data[perm])
    pair = align_pair(pred, ref)
    np.testing.assert_array_equal(pair.prediction.data, ref.data)
    index, _ = match_directions(pred.positions, ref.positions, 0.1)
    np.testing.assert_array_equal(index, np.argsort(perm))
    # the same grid in the same order: row by row
    np.testing.assert_array_equal(align_pair(ref, ref).prediction.data, ref.data)


@pytest.mark.parametrize(("n_ref", "n_pred"), [(2, 3), (1, 2), (3, 2)])
def test_repeated_directions_held_unequally_often_is_an_error(n_ref, n_pred):
    def extra(n):
        return np.repeat(GRID[2:3], n - 1, axis=0)

    ref = _set("ref.sofa", np.r_[GRID[:6], extra(n_ref)])
    pred = _set("pred.pt", np.r_[GRID[:6][::-1], extra(n_pred)])
    az, el = GRID[2, 0], GRID[2, 1]
    with _raises(
        rf"^the direction \(az {az:.4g}, el {el:.4g} deg\) at 1.5 m is stored {n_pred} "
        rf"times in pred.pt, but {n_ref} rows of ref.sofa match it: .* remove the extra rows$"
    ):
        align_pair(pred, ref)


def test_many_rows_at_one_point_stay_linear_in_memory():
    # 20000 directions all at one point used to build 20000 x 20000 matrices (9.7 GB).
    m = 20000
    point = np.tile([[30.0, 10.0, 1.2]], (m, 1))
    data = np.random.default_rng(1).standard_normal((m, 2, 4))
    ref = _set("ref.sofa", point, data=data)
    tracemalloc.start()
    start = time.perf_counter()
    pair = align_pair(_set("pred.pt", point.copy(), data=data[::-1].copy()), ref)
    # not the row-by-row shortcut; 19999 rows for 20000 cannot be paired
    with _raises(r"stored 19999 times in the prediction, but 20000 rows of the reference"):
        match_directions(point[:-1], point, 0.1)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(pair.prediction.data, data[::-1])  # file order
    assert elapsed < 3.0 and peak < 100e6


def test_distinct_reference_directions_sharing_one_prediction_is_an_error():
    ref = _set("ref.sofa", np.array([[10.0, 0.0, 1.0], [11.0, 0.0, 1.0]]))
    pred = _set("pred.pt", np.array([[10.5, 0.0, 1.0]]))
    with _raises(
        r"both match the predicted direction \(az 10.5, el 0 deg\) within 1 deg; "
        r"lower --position-tolerance"
    ):
        align_pair(pred, ref, tolerance_deg=1.0)


def test_dense_grid_is_fast_and_memory_linear():
    m = 40000
    grid = _grid(m, seed=12)
    data = np.random.default_rng(13).standard_normal((m, 2, 4))
    perm = np.random.default_rng(14).permutation(m)
    wrapped = grid[perm].copy()  # shuffled: the k-d tree path, not the row-by-row shortcut
    wrapped[:, 0] = np.where(wrapped[:, 0] > 180, wrapped[:, 0] - 360, wrapped[:, 0])
    ref = _set("ref.sofa", grid, data=data)
    pred = _set("pred.pt", wrapped, data=data[perm])
    tracemalloc.start()
    start = time.perf_counter()
    pair = align_pair(pred, ref)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(pair.prediction.data, data)
    assert elapsed < 3.0
    # An M x M float64 matrix alone would be 12.8 GB; the data here are ~1.3 MB per set.
    assert peak < 100e6


def test_match_directions_reports_unmatched():
    index, angle = match_directions(GRID[:3], GRID[:5], 0.1)
    np.testing.assert_array_equal(index, [0, 1, 2, -1, -1])
    assert np.all(np.isnan(angle[3:])) and np.all(angle[:3] < 1e-9)


# --------------------------------------------------------------------------------------------
# Sampling rate, positions and frequencies filled in from the other file


def test_rate_mismatch():
    with _raises(r"^sampling rates differ: pred.pt is at 44100 Hz, ref.sofa at 48000 Hz"):
        align_pair(_set("pred.pt", GRID, fs=44100.0), REF)
    align_pair(_set("pred.pt", GRID, fs=FS * (1 + 1e-8)), REF)  # within 1e-6 relative


def test_rate_and_positions_taken_from_reference():
    pred = _set("pred.pt", None, fs=None, m=60)
    pair = align_pair(pred, REF)
    _check_identity(pair)
    assert pair.prediction.sampling_rate == FS
    np.testing.assert_array_equal(pair.prediction.positions, GRID)
    assert pair.notes == [
        "pred.pt: sampling rate 48000 Hz taken from ref.sofa",
        "pred.pt: no positions; its 60 prediction rows are taken to be in the order of ref.sofa",
    ]
    assert pred.sampling_rate is None and pred.positions is None  # inputs untouched


def test_reference_takes_prediction_rate():
    ref = _set("ref.sofa", GRID, fs=None)
    pair = align_pair(_set("pred.pt", GRID), ref)
    assert pair.reference.sampling_rate == FS and ref.sampling_rate is None
    assert pair.notes == ["ref.sofa: sampling rate 48000 Hz taken from pred.pt"]


def test_no_positions_and_different_count():
    with _raises(
        r"^pred.pt: has no positions and M=100 differs from reference M=60, so directions "
        r"cannot be matched$"
    ):
        align_pair(_set("pred.pt", None, m=100), REF)


def test_neither_has_positions():
    pair = align_pair(_set("pred.pt", None, m=4), _set("ref.pt", None, m=4))
    assert pair.n_matched == 4 and "rows are matched by index" in pair.notes[0]
    with _raises(r"neither pred.pt nor ref.pt has positions and their direction counts differ"):
        align_pair(_set("pred.pt", None, m=4), _set("ref.pt", None, m=5))


def test_no_rate_in_either_file():
    with _raises(r"^no sampling rate in either file \(pred.pt, ref.sofa\)"):
        align_pair(_set("pred.pt", GRID, fs=None), _set("ref.sofa", GRID, fs=None))


def test_frequency_domain_without_rates_is_fine_with_frequencies():
    freqs = np.linspace(0, 24000, 5)
    kw = dict(domain="db", fs=None, n=5, frequencies=freqs)
    pair = align_pair(_set("pred.pt", GRID, **kw), _set("ref.sofa", GRID, **kw))
    assert pair.prediction.sampling_rate is None and pair.notes == []


def test_frequencies_filled_as_rfft_bins():
    pred = _set("pred.pt", GRID, domain="magnitude", fs=None, n=5)
    ref = _set(
        "ref.sofa",
        GRID,
        domain="tf",
        n=5,
        data=np.ones((60, 2, 5), complex),
        frequencies=np.linspace(0, 24000, 5),
    )
    pair = align_pair(pred, ref)
    np.testing.assert_allclose(pair.prediction.frequencies, [0, 6000, 12000, 18000, 24000])
    assert "pred.pt: 5 bins taken as rfft bins of a 8-point FFT (0 to 24000 Hz)" in pair.notes


def test_frequency_bins_differ():
    ref = _set(
        "ref.sofa",
        GRID,
        domain="tf",
        n=5,
        data=np.ones((60, 2, 5), complex),
        frequencies=np.linspace(0, 24000, 5),
    )
    pred = _set("pred.pt", GRID, domain="db", n=9)
    with _raises(
        r"^frequency bins differ: pred.pt has 9 bins \(0 to 24000 Hz\), ref.sofa has 5 bins "
        r"\(0 to 24000 Hz\)$"
    ):
        align_pair(pred, ref)


def test_mixed_domains_allowed():
    ref = _set(
        "ref.sofa",
        GRID,
        domain="tf",
        n=5,
        data=np.ones((60, 2, 5), complex),
        fs=None,
        frequencies=np.linspace(0, 24000, 5),
    )
    pair = align_pair(_set("pred.pt", GRID, n=8), ref)
    assert pair.prediction.n_samples == 8 and pair.reference.n_samples == 5


# --------------------------------------------------------------------------------------------
# IR lengths and options


def test_length_policies():
    pred = _set("pred.pt", GRID, n=12)
    with _raises(
        r"^impulse responses differ in length: pred.pt has 12 samples, ref.sofa has 8; "
        r"pass --length-policy truncate\|pad$"
    ):
        align_pair(pred, REF)

    cut = align_pair(pred, REF, length_policy="truncate")
    assert cut.prediction.n_samples == cut.reference.n_samples == 8
    np.testing.assert_array_equal(cut.prediction.data, pred.data[:, :, :8])
    assert cut.notes == ["pred.pt: impulse responses truncated from 12 to 8 samples"]

    padded = align_pair(pred, REF, length_policy="pad")
    assert padded.prediction.n_samples == padded.reference.n_samples == 12
    np.testing.assert_array_equal(padded.reference.data[:, :, :8], REF.data)
    np.testing.assert_array_equal(padded.reference.data[:, :, 8:], 0.0)
    assert REF.n_samples == 8  # the caller's set is not padded in place


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length_policy": "stretch"}, r"length policy 'stretch' is not one of error, truncate"),
        ({"tolerance_deg": -1}, r"position tolerance -1 is not an angle from 0 to 180 degree"),
        ({"tolerance_deg": float("nan")}, r"position tolerance nan is not an angle"),
    ],
)
def test_bad_options(kwargs, message):
    with _raises(message):
        align_pair(REF, REF, **kwargs)


def test_zero_tolerance_matches_exact_copies():
    wrapped = GRID.copy()
    wrapped[:, 0] -= 360.0
    pred = _set("pred.pt", wrapped[::-1], data=REF.data[::-1])
    _check_identity(align_pair(pred, REF, tolerance_deg=0))


@pytest.mark.parametrize("tolerance", [0.1, 2.0])
def test_brute_force_and_kd_tree_searches_agree(monkeypatch, tolerance):
    """Small grids use chunked dot products, large ones a KD-tree: same matches either way."""
    import hrtfeval.grid_match as grid_match

    rng = np.random.default_rng(11)
    ref = np.column_stack([rng.uniform(-180, 180, 700), rng.uniform(-90, 90, 700), np.ones(700)])
    pred = ref[rng.permutation(700)].copy()
    pred[:, :2] += rng.normal(0, 0.06, (700, 2))  # some within 0.1 deg, some not
    pred = pred[:650]  # and some reference directions without any partner
    monkeypatch.setattr(grid_match, "_CHUNK_ELEMENTS", 1000)  # several chunks of 1 row
    brute = match_directions(pred, ref, tolerance)
    monkeypatch.setattr(grid_match, "_BRUTE_FORCE_PAIRS", 0)
    tree = match_directions(pred, ref, tolerance)
    np.testing.assert_array_equal(brute[0], tree[0])
    np.testing.assert_allclose(brute[1], tree[1], equal_nan=True)
    assert (brute[0] == -1).any() and (brute[0] >= 0).any()


def test_group_rows_is_the_partition_of_np_unique_also_on_hash_collisions():
    from hrtfeval.grid_match import _group_rows

    rng = np.random.default_rng(0)
    key = rng.integers(-(10**9), 10**9, size=(300, 3))
    key[100:110] = key[5]  # a group of 11
    key[200] = key[7]
    group, counts = _group_rows(key)
    _, expected, expected_counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    expected = expected.reshape(-1)
    # The same partition: a one-to-one map between the two numberings.
    assert len(set(zip(group.tolist(), expected.tolist()))) == len(counts) == len(expected_counts)
    assert sorted(counts) == sorted(expected_counts)
    assert counts[group[5]] == 11 and group[200] == group[7]

    # Two different rows with the same hash (built by solving for the last column): the
    # check against each group's first row notices, and the exact grouping is used.
    c1, c2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)

    def head(k0):
        h = np.uint64(k0) * c1
        return (h ^ (h >> np.uint64(31))) * c2

    with np.errstate(over="ignore"):
        last = np.array([head(1) + np.uint64(5) - head(2)], dtype=np.uint64).view(np.int64)[0]
    collide = np.array([[1, 5], [2, last], [3, 3]], dtype=np.int64)
    group, counts = _group_rows(collide)
    assert sorted(counts) == [1, 1, 1] and len(set(group.tolist())) == 3
