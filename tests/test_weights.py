"""--weighting area: spherical Voronoi weights on hand-built grids, weighted reductions, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError
from hrtfeval.weights import area_weights, weighted_reduce

runner = CliRunner()


def ring_grid(elevations, n_az=72, zenith=True):
    rows = [[a, e, 1.0] for e in elevations for a in np.arange(n_az) * (360.0 / n_az)]
    if zenith:
        rows.append([0.0, 90.0, 1.0])
    return np.array(rows)


def band(lo, hi):
    """Solid angle (sr) between two elevations (degrees)."""
    return 2 * math.pi * (math.sin(math.radians(hi)) - math.sin(math.radians(lo)))


def fibonacci(n):
    i = np.arange(n) + 0.5
    el = np.degrees(np.arcsin(1 - 2 * i / n))
    az = np.mod(i * 180.0 * (3 - math.sqrt(5)), 360.0)
    return np.c_[az, el, np.ones(n)]


def test_ring_grid_with_an_unmeasured_cap():
    # 72 azimuths, elevations -45 ... 75 deg in 15 deg steps (9 rings), plus the zenith.
    els = np.arange(-45.0, 76.0, 15.0)
    pos = ring_grid(els)
    w = area_weights(pos)
    # The lower cap is cut half a ring step (7.5 deg) below the lowest ring.
    assert w.clip_deg[0] == pytest.approx(-52.5)
    covered = band(-52.5, 90)
    assert w.covered_sr == pytest.approx(covered, rel=1e-12)
    assert w.values.sum() == pytest.approx(covered, rel=1e-12)
    assert w.covered_fraction == pytest.approx(covered / (4 * math.pi))
    # Each ring's cells are (to within the great-circle bulge of their borders) the latitude
    # band halfway to the next rings; the border ring's band stops at -52.5 deg.
    for e in els:
        ring = np.isclose(pos[:, 1], e)
        expected = band(max(e - 7.5, -52.5), min(e + 7.5, 90))
        assert w.values[ring].sum() == pytest.approx(expected, rel=2e-3)
        assert np.ptp(w.values[ring]) < 1e-6 * w.values[ring].max()  # symmetric: equal cells
    top = np.isclose(pos[:, 1], 75)
    point_share = top.sum() / len(pos)
    weight_share = w.values[top].sum() / w.values.sum()
    ratio = point_share / weight_share
    assert ratio == pytest.approx((72 / 649) / (band(67.5, 82.5) / covered), rel=2e-3)
    assert 2.9 < ratio < 3.0
    # Without the clip, the -45 ring would absorb the whole lower cap.
    low = np.isclose(pos[:, 1], -45)
    assert w.values[low].sum() < 0.5 * band(-90, -37.5)


def test_fibonacci_grid_weights_are_near_equal():
    w = area_weights(fibonacci(600))
    assert w.covered_fraction == pytest.approx(1.0, rel=1e-12)
    assert w.clip_deg == (-90.0, 90.0)
    assert np.std(w.values) / np.mean(w.values) < 0.02
    assert w.values.sum() == pytest.approx(4 * math.pi, rel=1e-12)


def test_capped_fibonacci_grid_is_clipped_by_its_spacing():
    pos = fibonacci(2000)
    pos = pos[pos[:, 1] > -40]
    w = area_weights(pos)
    spacing = math.degrees(math.sqrt(4 * math.pi / 2000))  # about 4.5 deg
    assert -40 - spacing < w.clip_deg[0] < -40
    assert w.values.sum() == pytest.approx(band(w.clip_deg[0], 90), rel=1e-9)
    lowest = pos[:, 1] < pos[:, 1].min() + 1
    assert w.values[lowest].max() < 3 * np.median(w.values)


def test_duplicates_share_one_cell():
    pos = ring_grid(np.arange(-45.0, 76.0, 15.0))
    w = area_weights(pos)
    doubled = area_weights(np.vstack([pos, pos[:5]]))
    assert doubled.covered_sr == pytest.approx(w.covered_sr, rel=1e-12)
    assert doubled.values[:5] == pytest.approx(w.values[:5] / 2)
    assert doubled.values[-5:] == pytest.approx(w.values[:5] / 2)
    assert doubled.values[5:-5] == pytest.approx(w.values[5:])


def test_too_few_directions():
    with pytest.raises(HrtfevalError, match="at least 4 distinct"):
        area_weights(np.array([[0, 0, 1], [90, 0, 1], [0, 0, 1.2]]))


def test_weighted_reduce_against_numpy():
    v = torch.rand(50, 2, dtype=torch.float64)
    w = np.random.default_rng(1).random(50)
    ref = (w[:, None] * v.numpy()).sum() / (2 * w.sum())
    assert float(weighted_reduce(v, w)) == pytest.approx(ref, rel=1e-12)
    rms = math.sqrt((w[:, None] * v.numpy() ** 2).sum() / (2 * w.sum()) + 1e-12)
    assert float(weighted_reduce(v, w, "rms")) == pytest.approx(rms, rel=1e-12)
    assert float(weighted_reduce(v[:, 0], np.ones(50))) == pytest.approx(float(v[:, 0].mean()))
    with pytest.raises(ValueError, match="one value per direction"):
        weighted_reduce(v, w[:3])


def test_cli_weighting_area(tmp_path):
    # An equal-area (Fibonacci) grid: weighted and unweighted agree closely.
    fib = fibonacci(300)
    ref = synth.spherical_head_hrirs(fib, 48000, 128, seed=1)
    synth.write_sofa(tmp_path / "r.sofa", ref, fib, 48000)
    synth.write_sofa(tmp_path / "p.sofa", synth.degrade(ref, seed=2), fib, 48000)

    def score(*extra, files=("p.sofa", "r.sofa")):
        res = runner.invoke(
            app,
            [
                "score",
                *(str(tmp_path / f) for f in files),
                "-m",
                "lsd",
                "-m",
                "itd",
                "--device",
                "cpu",
                "-f",
                "json",
                *extra,
            ],
        )
        assert res.exit_code == 0, res.stderr
        return json.loads(res.stdout)

    plain, weighted = score(), score("--weighting", "area")
    assert "weighting" not in plain["spec"]
    assert weighted["spec"]["weighting"]["scheme"] == "area"
    assert weighted["spec"]["weighting"]["covered_fraction"] == pytest.approx(1.0)
    assert "sum(w v) / sum(w)" in weighted["spec"]["definitions"]["lsd"]
    for m in ("lsd", "itd"):
        a, b = plain["scores"][m]["overall"], weighted["scores"][m]["overall"]
        assert b == pytest.approx(a, rel=0.02)
    # A ring grid: the weighted value is the per-direction values reduced with area_weights.
    grid = ring_grid(np.arange(-45.0, 76.0, 15.0), n_az=24)
    ref = synth.spherical_head_hrirs(grid, 48000, 128, seed=3)
    synth.write_sofa(tmp_path / "r2.sofa", ref, grid, 48000)
    synth.write_sofa(tmp_path / "p2.sofa", synth.degrade(ref, seed=4), grid, 48000)
    doc = score("--weighting", "area", files=("p2.sofa", "r2.sofa"))
    from hrtfeval.scoring import ScoreOptions, load_aligned, per_direction_errors

    opts = ScoreOptions.build(["lsd"])
    aligned = load_aligned(str(tmp_path / "p2.sofa"), str(tmp_path / "r2.sofa"), opts)
    values = per_direction_errors(aligned, "lsd", opts).values.numpy()
    w = area_weights(aligned.reference.positions).values
    assert doc["scores"]["lsd"]["overall"] == pytest.approx(
        (w[:, None] * values).sum() / (2 * w.sum()), rel=1e-9
    )
    assert doc["scores"]["lsd"]["left"] == pytest.approx(
        (w * values[:, 0]).sum() / w.sum(), rel=1e-9
    )
    res = runner.invoke(
        app,
        ["score", str(tmp_path / "p2.sofa"), str(tmp_path / "r2.sofa"), "--weighting", "volume"],
    )
    assert res.exit_code == 2 and "weighting" in res.stderr


def test_batch_weighting_area_stacked_equals_pair_by_pair(tmp_path):
    from hrtfeval.batch import find_pairs, run_batch
    from hrtfeval.scoring import ScoreOptions, score_files

    grid = ring_grid(np.arange(-45.0, 76.0, 15.0), n_az=24)
    for i in range(3):
        ref = synth.spherical_head_hrirs(grid, 48000, 128, seed=i)
        for side in ("p", "r"):
            (tmp_path / side).mkdir(exist_ok=True)
        synth.write_sofa(tmp_path / "r" / f"s{i}.sofa", ref, grid, 48000)
        synth.write_sofa(tmp_path / "p" / f"s{i}.sofa", synth.degrade(ref, seed=i), grid, 48000)
    opts = ScoreOptions.build(["lsd", "ild"], weighting="area")
    pl = find_pairs(tmp_path / "p", tmp_path / "r", None)
    stacked = run_batch(pl, opts, device="cpu", workers=0, stack=True)
    plain = run_batch(pl, opts, device="cpu", workers=0, stack=False)
    assert stacked["spec"]["weighting"] == "area"
    for a, b in zip(stacked["pairs"], plain["pairs"]):
        assert a["scores"] == b["scores"]
        assert a["spec"]["weighting"]["scheme"] == "area"
        single = score_files(
            str(tmp_path / "p" / a["prediction"]), str(tmp_path / "r" / a["target"]), opts, "cpu"
        )
        assert a["scores"]["lsd"]["overall"] == single.scores["lsd"].overall
