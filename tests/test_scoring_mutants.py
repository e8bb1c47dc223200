"""Tests written by breaking the scoring maths on purpose and keeping the ones no test noticed.

Every test here was checked to fail on a deliberate mutation of the code (noted in its
docstring) and to pass on the real code. Expected numbers are hand-computed or come from plain
numpy, never from hrtfeval itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrtfeval.align import match_directions
from hrtfeval.errors import HrtfevalError
from hrtfeval.gates import apply_fail_above, exit_code, pair_passed
from hrtfeval.represent import SetTensors, band_bins, check_same_bins, rfft_frequencies
from hrtfeval.scoring import (
    LAP_THRESHOLDS,
    PairScore,
    ScoreOptions,
    per_direction,
    score_tensors,
)

CPU = torch.device("cpu")
FS = 48000.0


def random_irs(m=9, n=256, seed=0):
    rng = np.random.default_rng(seed)
    decay = np.exp(-np.arange(n) / (n / 8))
    ref = rng.standard_normal((m, 2, n)) * decay
    pred = ref + 0.3 * rng.standard_normal((m, 2, n)) * decay
    return pred, ref


def ir_set(x, fs=FS, n_fft=None):
    return SetTensors(x, "ir", fs, None, CPU, n_fft)


def tf_set(x, fs=FS):
    """Complex rfft spectra of IRs ``x`` (any length), with their bin frequencies."""
    n = x.shape[-1]
    return SetTensors(np.fft.rfft(x, axis=-1), "tf", fs, np.arange(n // 2 + 1) * fs / n, CPU)


def numpy_band(n, fs, fmin, fmax):
    """The LAP band written out: f_k = k fs / n in [fmin, fmax] and k < n / 2."""
    k = np.arange(n // 2 + 1)
    f = k * fs / n
    return (f >= fmin) & (f <= fmax) & (k < n / 2)


# ----------------------------------------------------------------------------------------------
# Band selection (represent.band_bins, scoring.per_direction)


def test_band_edges_are_inclusive_at_both_ends():
    """Mutants: ``f > freq_min`` / ``f < freq_max``. At 48 kHz / 256 taps the bins are 187.5 Hz
    apart: 187.5 Hz is bin 1 and 18750 Hz is bin 100, both inside the band."""
    f = rfft_frequencies(256, FS)
    np.testing.assert_array_equal(band_bins(f, 187.5, 18750.0, FS), np.arange(1, 101))
    # just inside the edges drops them
    np.testing.assert_array_equal(band_bins(f, 187.6, 18749.9, FS), np.arange(2, 100))


def test_band_up_to_nyquist_leaves_out_the_nyquist_bin_in_scores():
    """Mutant: per_direction calls band_bins without the sampling rate, so a band reaching
    fs/2 scores the Nyquist bin. Expected: bins 1..127 of 128 (k < N/2), plain numpy."""
    pred, ref = random_irs(seed=5)
    opts = ScoreOptions.build(["lsd"], freq_min=100.0, freq_max=FS / 2)
    got = per_direction(ir_set(pred), ir_set(ref), "lsd", opts).numpy()
    keep = numpy_band(256, FS, 100.0, FS / 2)
    assert keep.sum() == 127 and not keep[128]
    p = 20 * np.log10(np.abs(np.fft.rfft(pred, axis=-1))[..., keep])
    t = 20 * np.log10(np.abs(np.fft.rfft(ref, axis=-1))[..., keep])
    np.testing.assert_allclose(got, np.sqrt(np.mean((p - t) ** 2, -1) + 1e-12), rtol=1e-9)


def test_nyquist_left_out_when_only_the_prediction_has_a_rate():
    """A reference spectrum without a sampling rate: the prediction's rate still drops the
    Nyquist bin (``ref.sampling_rate or pred.sampling_rate``)."""
    pred, ref = random_irs(seed=6)
    ref_tf = tf_set(ref)
    ref_tf.sampling_rate = None
    opts = ScoreOptions.build(["lsd"], freq_min=100.0, freq_max=FS)
    got = per_direction(ir_set(pred), ref_tf, "lsd", opts).numpy()
    keep = numpy_band(256, FS, 100.0, FS)
    p = 20 * np.log10(np.abs(np.fft.rfft(pred, axis=-1))[..., keep])
    t = 20 * np.log10(np.abs(np.fft.rfft(ref, axis=-1))[..., keep])
    np.testing.assert_allclose(got, np.sqrt(np.mean((p - t) ** 2, -1) + 1e-12), rtol=1e-9)


def test_same_bin_count_on_other_frequencies_is_an_error():
    """Mutant: check_same_bins compares only the bin count."""
    pred, ref = random_irs()
    p = tf_set(pred)
    r = tf_set(ref, fs=44100.0)  # 129 bins as well, but 0..22050 Hz
    with pytest.raises(HrtfevalError, match="different frequency bins"):
        check_same_bins(p, r)
    with pytest.raises(HrtfevalError, match="different frequency bins"):
        score_tensors(p, r, ScoreOptions.build(["lsd"]))


# ----------------------------------------------------------------------------------------------
# Spectra of odd-length sets (represent.SetTensors.fft_length)


def test_odd_length_spectra_keep_their_fft_length():
    """Mutants: fft_length ``2(K-1)`` for a spectrum whose last bin is below Nyquist, and
    ``irfft`` without ``n``. The rfft of 255 taps has 128 bins, the last at 127 fs/255 < fs/2:
    the IRs come back exactly only with n = 255."""
    pred, _ = random_irs(n=255, seed=1)
    tf = tf_set(pred)
    assert tf.n_samples == 128 and tf.fft_length == 255
    np.testing.assert_allclose(tf.impulse_responses().numpy(), pred, atol=1e-12)
    even = tf_set(pred[..., :254])
    assert even.fft_length == 254


def test_ild_and_itd_of_odd_length_spectra_equal_those_of_their_irs():
    """Mutants: the TF ILD computed as if the spectrum came from 2(K-1) samples (Nyquist weight
    on the last bin). Expected ILD: 20 log10(rms_l / rms_r) of the IRs in numpy."""
    pred, ref = random_irs(n=255, seed=2)

    def ild(x):
        rms = np.sqrt(np.mean(x**2, axis=-1))
        return 20 * np.log10(rms[:, 0] / rms[:, 1])

    expected = np.abs(ild(pred) - ild(ref))
    got = per_direction(tf_set(pred), tf_set(ref), "ild", ScoreOptions.build(["ild"])).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    itd_ir = per_direction(ir_set(pred), ir_set(ref), "itd", ScoreOptions.build(["itd"]))
    itd_tf = per_direction(tf_set(pred), tf_set(ref), "itd", ScoreOptions.build(["itd"]))
    np.testing.assert_array_equal(itd_tf.numpy(), itd_ir.numpy())


def test_rmse_in_db_on_db_input():
    """Mutant: dB-domain data taken as linear magnitudes before 20 log10. A prediction stored
    as 20 log10|H| (dB) against a reference IR, ``--domain db``: plain numpy over the band."""
    pred, ref = random_irs(seed=3)
    n = pred.shape[-1]
    freqs = rfft_frequencies(n, FS)
    pred_db = 20 * np.log10(np.abs(np.fft.rfft(pred, axis=-1)))
    p = SetTensors(pred_db, "db", FS, freqs, CPU)
    keep = numpy_band(n, FS, 20.0, 20000.0)
    d = pred_db[..., keep] - 20 * np.log10(np.abs(np.fft.rfft(ref, axis=-1)))[..., keep]
    for metric, per in (
        ("rmse", np.sqrt(np.mean(d**2, -1) + 1e-12)),
        ("mae", np.mean(np.abs(d), -1)),
    ):
        opts = ScoreOptions.build([metric], domain="db")
        got = per_direction(p, ir_set(ref), metric, opts).numpy()
        np.testing.assert_allclose(got, per, rtol=1e-9)
        assert score_tensors(p, ir_set(ref), opts)[metric].unit == "dB"


# ----------------------------------------------------------------------------------------------
# ITD and ILD errors per direction (scoring.per_direction) on hand-built sets


def impulse_set(ears):
    """(M, 2, 512) IRs: per direction ((left sample, left gain), (right sample, right gain))."""
    x = np.zeros((len(ears), 2, 512))
    for i, pair in enumerate(ears):
        for ear, (at, gain) in enumerate(pair):
            x[i, ear, at] = gain
    return x


# Both ears low-passed alike, so each ear's envelope is the other's, shifted: the ITD is exactly
# (left sample - right sample) / fs (positive: left lags). The ILD is 20 log10(left / right gain).
PRED = impulse_set(
    [
        ((40, 2.0), (30, 1.0)),  # ITD +10 samples, ILD +6.02 dB
        ((30, 1.0), (38, 2.0)),  # ITD  -8,         ILD -6.02
        ((30, 1.0), (30, 1.0)),  # ITD   0,         ILD  0
        ((33, 1.0), (30, 1.0)),
    ]
)  # ITD  +3,         ILD  0
REF = impulse_set(
    [
        ((30, 1.0), (35, 1.0)),  # ITD  -5,         ILD  0
        ((34, 1.0), (30, 1.0)),  # ITD  +4,         ILD  0
        ((30, 1.0), (30, 4.0)),  # ITD   0,         ILD -12.04
        ((33, 3.0), (30, 3.0)),
    ]
)  # ITD  +3,         ILD  0
ITD_US = np.array([15.0, 12.0, 0.0, 0.0]) / FS * 1e6  # |dITD|: 312.5, 250, 0, 0 µs
ILD_DB = np.array([20 * math.log10(2), 20 * math.log10(2), 20 * math.log10(4), 0.0])


@pytest.mark.parametrize("method", ["maxiacce", "threshold"])
def test_itd_error_is_absolute_and_in_microseconds(method):
    """Mutants: ``* 1e3`` instead of 1e6, no ``abs`` (the errors of directions 0 and 1 have
    opposite signs and would cancel)."""
    opts = ScoreOptions.build(["itd"], itd_method=method)
    got = per_direction(ir_set(PRED), ir_set(REF), "itd", opts).numpy()
    np.testing.assert_allclose(got, ITD_US, atol=1e-9)
    s = score_tensors(ir_set(PRED), ir_set(REF), opts)["itd"]
    assert s.unit == "µs" and s.left is None and s.right is None
    assert s.overall == pytest.approx(140.625, abs=1e-9)  # (312.5 + 250) / 4
    rms = score_tensors(
        ir_set(PRED), ir_set(REF), ScoreOptions.build(["itd"], itd_method=method, reduction="rms")
    )["itd"]
    assert rms.overall == pytest.approx(math.sqrt((312.5**2 + 250**2) / 4 + 1e-12), rel=1e-12)


def test_ild_error_is_absolute_in_db():
    """Mutant: no ``abs`` on the ILD difference (+6.02, -6.02 and -12.04 dB would cancel)."""
    opts = ScoreOptions.build(["ild"])
    got = per_direction(ir_set(PRED), ir_set(REF), "ild", opts).numpy()
    np.testing.assert_allclose(got, ILD_DB, atol=1e-9)
    s = score_tensors(ir_set(PRED), ir_set(REF), opts)["ild"]
    assert s.unit == "dB" and s.left is None and s.right is None
    assert s.overall == pytest.approx((2 * 20 * math.log10(2) + 20 * math.log10(4)) / 4, abs=1e-9)
    # the same from complex spectra
    tf = score_tensors(tf_set(PRED), tf_set(REF), opts)["ild"]
    assert tf.overall == pytest.approx(s.overall, abs=1e-9)


@pytest.mark.parametrize("fs", [44100.0, 96000.0])
def test_itd_error_uses_the_sets_sampling_rate(fs):
    """Mutants: the ITD at a fixed 48 kHz; the rate taken from the reference only (a reference
    without one must use the prediction's). |dITD| = |dlag| / fs in µs."""
    expected = np.array([15.0, 12.0, 0.0, 0.0]) / fs * 1e6
    opts = ScoreOptions.build(["itd"])
    got = per_direction(ir_set(PRED, fs), ir_set(REF, fs), "itd", opts).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)
    no_rate = per_direction(ir_set(PRED, fs), ir_set(REF, None), "itd", opts).numpy()
    np.testing.assert_allclose(no_rate, expected, atol=1e-9)


def test_epsilon_option_reaches_values_and_reductions():
    """Mutants: ``--epsilon`` ignored per direction, or in the reduction. Identical inputs give
    sqrt(eps) per direction; the rms reduction adds eps once more: sqrt(eps + eps)."""
    _, ref = random_irs()
    eps = 1e-4
    for reduction, overall in (("mean", 1e-2), ("rms", math.sqrt(2e-4))):
        opts = ScoreOptions.build(["rmse", "lsd"], epsilon=eps, reduction=reduction)
        values = per_direction(ir_set(ref), ir_set(ref), "rmse", opts).numpy()
        np.testing.assert_allclose(values, 1e-2, rtol=1e-12)
        scores = score_tensors(ir_set(ref), ir_set(ref), opts)
        for metric in ("rmse", "lsd"):
            s = scores[metric]
            assert s.left == pytest.approx(overall, rel=1e-12)
            assert s.overall == pytest.approx(overall, rel=1e-12)


def test_lsd_floor_is_the_epsilon_option():
    """|H| is floored at --epsilon before dB: a zero prediction against a flat reference of
    magnitude 1 is 20 log10(1 / eps) dB off in every bin."""
    n = 64
    ref = np.zeros((3, 2, n))
    ref[..., 0] = 1.0  # unit impulse: |H| = 1 in every bin
    opts = ScoreOptions.build(["lsd"], epsilon=1e-3)
    got = per_direction(ir_set(np.zeros_like(ref)), ir_set(ref), "lsd", opts).numpy()
    np.testing.assert_allclose(got, math.sqrt(60.0**2 + 1e-3), rtol=1e-12)


def test_float32_data_is_scored_in_float64():
    """Mutant: float32 sets scored in float32. Expected: numpy float64 on the same values."""
    pred, ref = (x.astype(np.float32) for x in random_irs(seed=8))
    p64, t64 = pred.astype(np.float64), ref.astype(np.float64)
    keep = numpy_band(256, FS, 20.0, 20000.0)
    d = 20 * np.log10(np.abs(np.fft.rfft(p64, axis=-1))[..., keep]) - 20 * np.log10(
        np.abs(np.fft.rfft(t64, axis=-1))[..., keep]
    )
    got = per_direction(ir_set(pred), ir_set(ref), "lsd", ScoreOptions.build(["lsd"])).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.sqrt(np.mean(d**2, -1) + 1e-12), rtol=1e-10)


# ----------------------------------------------------------------------------------------------
# Thresholds and verdicts


def test_every_lap_threshold_is_strict():
    """Mutant: one LAP threshold with ``<=``. LAP: a metric passes *below* its threshold."""
    for metric, limit in (("itd", 100.0), ("ild", 4.4), ("lsd", 7.4)):
        check = LAP_THRESHOLDS[metric]
        assert (check.limit, check.op) == (limit, "<")
        assert not check.passes(limit)
        assert check.passes(limit - 1e-9)
        assert not check.passes(limit + 1e-9)


def test_a_pair_passes_only_when_every_check_passes():
    """Mutant: PairScore.passed = any(...) instead of all(...)."""
    pred, ref = random_irs()
    p, r = ir_set(pred), ir_set(ref)
    values = score_tensors(p, r, ScoreOptions.build(["lsd", "rmse"]))
    lsd, rmse = values["lsd"].overall, values["rmse"].overall
    mixed = ScoreOptions.build(["lsd", "rmse"], fail_above={"lsd": lsd, "rmse": rmse * 0.5})
    scores = score_tensors(p, r, mixed)
    assert scores["lsd"].passed is True and scores["rmse"].passed is False
    assert PairScore("p", "t", {}, scores).passed is False
    both = score_tensors(
        p, r, ScoreOptions.build(["lsd", "rmse"], fail_above={"lsd": lsd, "rmse": rmse})
    )
    assert PairScore("p", "t", {}, both).passed is True
    assert PairScore("p", "t", {}, score_tensors(p, r, ScoreOptions.build(["lsd"]))).passed is None


def _doc(overalls):
    pairs = [
        {
            "prediction": f"p{i}",
            "target": f"p{i}",
            "scores": {
                "lsd": {
                    "unit": "dB",
                    "left": v,
                    "right": v,
                    "overall": v,
                    "threshold": None,
                    "passed": None,
                }
            },
            "passed": None,
        }
        for i, v in enumerate(overalls)
    ]
    return {"spec": {"metrics": ["lsd"]}, "pairs": pairs}


def test_stored_fail_above_passes_at_the_limit():
    """Mutant: ``merge --fail-above`` (apply_fail_above) with ``<`` instead of ``<=``."""
    doc = _doc([1.5, 1.25, 1.5000001])
    apply_fail_above(doc, {"lsd": 1.5})
    assert [e["scores"]["lsd"]["passed"] for e in doc["pairs"]] == [True, True, False]
    assert [e["passed"] for e in doc["pairs"]] == [True, True, False]
    assert doc["spec"]["thresholds"]["lsd"]["rule"] == "passes when value <= limit"


def test_pair_verdict_needs_every_check():
    """Mutant: gates.pair_passed with any(...) instead of all(...)."""
    entry = {
        "scores": {"lsd": {"passed": True}, "itd": {"passed": None}},
        "regression": {"lsd": {"passed": False}},
    }
    assert pair_passed(entry) is False
    entry["regression"]["lsd"]["passed"] = True
    assert pair_passed(entry) is True
    assert pair_passed({"scores": {"lsd": {"passed": None}}, "regression": None}) is None
    assert pair_passed({"scores": {"lsd": {"passed": False}, "ild": {"passed": True}}}) is False


def test_single_pair_exit_code_without_checks_is_0():
    """Mutant: a single-pair document with ``passed`` None (no checks) giving exit code 1."""
    assert exit_code({"scores": {}, "passed": None}) == 0
    assert exit_code({"scores": {}, "passed": True}) == 0
    assert exit_code({"scores": {}, "passed": False}) == 1


# ----------------------------------------------------------------------------------------------
# Alignment: the k-d tree search of large grids


@pytest.mark.parametrize("tolerance", [10.0, 12.6, 90.0])
def test_kd_tree_search_with_wide_tolerances(monkeypatch, tolerance):
    """Mutant: the k-d tree's chord bound computed from the tolerance in radians instead of
    degrees (at 12.6 deg: 2 sin(6.3 rad) = 0.034, a 1.9 deg bound). Expected: nearest directions
    by great-circle angle from a dense numpy arccos matrix."""
    import hrtfeval.grid_match as align_module

    monkeypatch.setattr(align_module, "_BRUTE_FORCE_PAIRS", 0)  # force the k-d tree
    rng = np.random.default_rng(7)
    ref = np.column_stack([rng.uniform(0, 360, 40), rng.uniform(-90, 90, 40), np.ones(40)])
    pred = np.column_stack([rng.uniform(-180, 180, 60), rng.uniform(-90, 90, 60), np.ones(60)])

    def unit(pos):
        az, el = np.deg2rad(pos[:, 0]), np.deg2rad(pos[:, 1])
        return np.column_stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])

    angles = np.rad2deg(np.arccos(np.clip(unit(ref) @ unit(pred).T, -1.0, 1.0)))
    nearest, best = angles.argmin(axis=1), angles.min(axis=1)
    found = best <= tolerance
    assert found.any() and (tolerance > 20 or not found.all())
    index, angle = match_directions(pred, ref, tolerance)
    np.testing.assert_array_equal(index, np.where(found, nearest, -1))
    np.testing.assert_allclose(angle[found], best[found], atol=1e-6)
    assert np.isnan(angle[~found]).all()


# ----------------------------------------------------------------------------------------------
# Positions


def test_cartesian_azimuth_stays_below_360():
    """Bug found while mutating: a cartesian position just below the +x axis (y = -1e-20, e.g.
    from sin(2 pi) rounding) came out at azimuth 360.0, outside the documented [0, 360)."""
    from hrtfeval.io import parse_source_positions

    xyz = np.array([[1.0, -1e-20, 0.0], [2.0, -1e-300, 0.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 1.0]])
    out = parse_source_positions(xyz, "cartesian", "metre")
    assert ((out[:, 0] >= 0.0) & (out[:, 0] < 360.0)).all()
    np.testing.assert_allclose(out[:, 0], [0.0, 0.0, 270.0, 180.0], atol=1e-12)
    np.testing.assert_allclose(out[:, 1], [0.0, 0.0, 0.0, 45.0], atol=1e-12)
    np.testing.assert_allclose(out[:, 2], [1.0, 2.0, 1.0, math.sqrt(2.0)], rtol=1e-15)


# ----------------------------------------------------------------------------------------------
# Batch: shards, aggregate statistics, baseline lookup


def test_shard_k_of_n_takes_every_nth_pair():
    """Mutant: contiguous blocks instead of ``i % N == K - 1`` (the README's definition)."""
    from hrtfeval.batch import select_shard

    pairs = list(range(10))
    assert select_shard(pairs, 1, 3) == [0, 3, 6, 9]
    assert select_shard(pairs, 2, 3) == [1, 4, 7]
    assert select_shard(pairs, 3, 3) == [2, 5, 8]
    assert select_shard(pairs, 4, 12) == [3]
    assert select_shard(pairs, 12, 12) == []


def test_aggregate_statistics_by_hand():
    """Mutants: median_low (an even count has two middle values), mean/median confusion."""
    from hrtfeval.batch import aggregate, stats

    assert stats([4.0, 1.0, 10.0, 2.0]) == {
        "mean": 4.25,
        "median": 3.0,
        "min": 1.0,
        "max": 10.0,
        "n": 4,
    }
    assert stats([]) == {"mean": None, "median": None, "min": None, "max": None, "n": 0}
    doc = _doc([4.0, 1.0, 10.0, 2.0])
    doc["pairs"].append({"prediction": "x", "target": "x", "error": "broken"})
    agg = aggregate(doc["pairs"], ["lsd"])["lsd"]
    assert (agg["unit"], agg["mean"], agg["median"], agg["n"]) == ("dB", 4.25, 3.0, 4)


def test_baseline_falls_back_on_the_target_only_when_it_is_unique():
    """Mutant: the fallback by target name also for a target the baseline holds twice."""
    from hrtfeval.gates import Baseline

    doc = _doc([1.0, 2.0])
    doc["pairs"][1]["target"] = "p0"  # two baseline pairs for target p0
    doc["pairs"].append({**_doc([3.0])["pairs"][0], "prediction": "q", "target": "t"})
    base = Baseline(doc, "old")
    assert base.lookup("model_b/p0", "p0") is None
    assert base.lookup("p1", "p0")["scores"]["lsd"]["overall"] == 2.0
    assert base.lookup("model_b/t", "t")["scores"]["lsd"]["overall"] == 3.0


def test_option_spellings_are_normalised_for_the_spec():
    """Bug found while mutating: ScoreOptions.build(reduction="MEAN", itd_method="MaxIACCe",
    domain="DB") scored correctly but the spec described the rms reduction and the -10 dB onset,
    and batch_spec raised KeyError 'DB'."""
    from hrtfeval.batch import batch_spec
    from hrtfeval.scoring import definitions

    opts = ScoreOptions.build(
        ["lsd", "itd", "rmse"],
        reduction=" MEAN ",
        itd_method="MaxIACCe",
        domain="DB",
        length_policy="Pad",
    )
    assert (opts.reduction, opts.itd_method, opts.domain, opts.length_policy) == (
        "mean",
        "maxiacce",
        "db",
        "pad",
    )
    text = definitions(opts, "db", 106)
    assert text["lsd"].endswith("; mean over directions")
    assert "Hilbert envelopes" in text["itd"]
    spec = batch_spec(opts, "cpu", {}, shard=None, pairs_total=1, ignore_unmatched=False)
    assert spec["domain"] == "db" and "20log10|H_k|" in spec["definitions"]["rmse"]
