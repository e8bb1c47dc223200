"""--bands: IEC 61260-1 base-10 and ERB band edges by hand, per-band LSD against numpy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.bands import assign_bins, band_list, erb_frequency, erb_number
from hrtfeval.cli import app

runner = CliRunner()


def test_octave_edges_by_hand():
    bands = band_list("octave", 20, 20000)
    centres = [b.centre for b in bands]
    # f_m = 1000 * 10**(3x/10): 31.62, 63.10, 125.9, ..., 15849 Hz.
    expected = [1000 * 10 ** (0.3 * x) for x in range(-5, 5)]
    assert centres == pytest.approx(expected, rel=1e-12)
    one_k = bands[5]
    assert one_k.centre == pytest.approx(1000.0)
    assert one_k.lower == pytest.approx(1000 * 10**-0.15, rel=1e-12)  # 707.946 Hz
    assert one_k.upper == pytest.approx(1000 * 10**0.15, rel=1e-12)  # 1412.54 Hz
    assert one_k.lower == pytest.approx(707.9458, abs=1e-4)
    for a, b in zip(bands, bands[1:]):
        assert a.upper == pytest.approx(b.lower, rel=1e-12)  # contiguous


def test_third_octave_edges_by_hand():
    bands = band_list("third-octave", 900, 1300)
    assert [round(b.centre, 3) for b in bands] == [1000.0, 1258.925]
    b = bands[1]
    assert b.lower == pytest.approx(1000 * 10 ** (0.1 - 0.05), rel=1e-12)  # 1122.02 Hz
    assert b.upper == pytest.approx(1000 * 10 ** (0.1 + 0.05), rel=1e-12)  # 1412.54 Hz
    # Centres 25.12 Hz (x = -16) ... 19953 Hz (x = 13); 19.95 Hz lies below 20 Hz.
    assert len(band_list("third-octave", 20, 20000)) == 30
    assert band_list("third-octave", 20, 20000)[0].centre == pytest.approx(1000 * 10**-1.6)


def test_erb_edges_by_hand():
    e = 21.4 * math.log10(1 + 0.00437 * 1000.0)
    assert float(erb_number(1000.0)) == pytest.approx(e)
    assert float(erb_frequency(e)) == pytest.approx(1000.0)
    bands = band_list("erb", 500, 2000)
    n0 = math.floor(21.4 * math.log10(1 + 0.00437 * 500) - 0.5)
    for b in bands:
        n = round(float(erb_number(b.lower)))
        assert b.lower == pytest.approx((10 ** (n / 21.4) - 1) / 0.00437, rel=1e-12)
        assert b.upper == pytest.approx((10 ** ((n + 1) / 21.4) - 1) / 0.00437, rel=1e-12)
        assert b.centre == pytest.approx((10 ** ((n + 0.5) / 21.4) - 1) / 0.00437, rel=1e-12)
        assert 500 <= b.centre <= 2000
    assert round(float(erb_number(bands[0].lower))) >= n0


def test_bins_go_to_one_band_and_empty_bands_are_left_out():
    f = np.arange(129) * 48000 / 256  # 187.5 Hz bins
    scored = np.arange(1, 128)
    kept, left = assign_bins(f, scored, band_list("third-octave", 20, 20000))
    used = np.concatenate([idx for _, idx in kept])
    assert len(used) == len(set(used.tolist()))
    # 187.5 Hz bins: the third-octaves below about 200 Hz hold no bin (bin 1 is at 187.5 Hz).
    assert [round(b.centre, 1) for b in left][:3] == [25.1, 31.6, 39.8]
    assert all(b.upper <= 187.5 or b.lower > 187.5 for b in left)
    for band, idx in kept:
        assert np.all((f[idx] >= band.lower) & (f[idx] < band.upper))


def test_cli_bands_against_numpy(tmp_path):
    grid = synth.sphere_grid(30)
    ref = synth.spherical_head_hrirs(grid, 48000, 256, seed=1)
    pred = synth.degrade(ref, seed=2)
    synth.write_sofa(tmp_path / "r.sofa", ref, grid, 48000)
    synth.write_sofa(tmp_path / "p.sofa", pred, grid, 48000)
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p.sofa"),
            str(tmp_path / "r.sofa"),
            "--bands",
            "octave",
            "-m",
            "lsd",
            "-m",
            "mae",
            "--domain",
            "db",
            "--device",
            "cpu",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    block = doc["bands"]
    assert block["kind"] == "octave" and block["metrics"] == ["lsd", "mae"]
    assert doc["spec"]["bands"] == "octave"
    f = np.fft.rfftfreq(256, 1 / 48000)
    P = 20 * np.log10(np.maximum(np.abs(np.fft.rfft(pred, axis=-1)), 1e-12))
    T = 20 * np.log10(np.maximum(np.abs(np.fft.rfft(ref, axis=-1)), 1e-12))
    for b in block["bands"]:
        sel = (f >= 20) & (f <= 20000) & (f < 24000) & (f >= b["lower_hz"]) & (f < b["upper_hz"])
        assert b["bins"] == int(sel.sum()) > 0
        d = P[..., sel] - T[..., sel]
        lsd = np.sqrt(np.mean(d**2, axis=-1) + 1e-12)  # (M, 2)
        assert b["scores"]["lsd"]["overall"] == pytest.approx(lsd.mean(), rel=1e-9)
        assert b["scores"]["lsd"]["left"] == pytest.approx(lsd[:, 0].mean(), rel=1e-9)
        assert b["scores"]["mae"]["overall"] == pytest.approx(
            np.abs(d).mean(axis=-1).mean(), rel=1e-9
        )
    left = [b["centre_hz"] for b in block["left_out"]]
    assert left and all(c < 200 for c in left)  # 187.5 Hz bins: the lowest octaves are empty
    assert any("left out" in n for n in block["notes"])
    # The full-band scores are those of a run without --bands.
    plain = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p.sofa"),
            str(tmp_path / "r.sofa"),
            "-m",
            "lsd",
            "-m",
            "mae",
            "--domain",
            "db",
            "--device",
            "cpu",
            "-f",
            "json",
        ],
    )
    assert json.loads(plain.stdout)["scores"] == doc["scores"]
    assert "bands" not in json.loads(plain.stdout)
    # Table and Markdown show a band table.
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p.sofa"),
            str(tmp_path / "r.sofa"),
            "--bands",
            "erb",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0 and "erb bands" in res.stdout
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p.sofa"),
            str(tmp_path / "r.sofa"),
            "--bands",
            "erb",
            "--device",
            "cpu",
            "-f",
            "markdown",
        ],
    )
    assert "**erb bands (dB)**" in res.stdout
    res = runner.invoke(
        app, ["score", str(tmp_path / "p.sofa"), str(tmp_path / "r.sofa"), "--bands", "decade"]
    )
    assert res.exit_code == 2 and "--bands" in res.stderr


def test_batch_entries_carry_bands(tmp_path):
    from hrtfeval.batch import find_pairs, run_batch
    from hrtfeval.scoring import ScoreOptions

    grid = synth.sphere_grid(20)
    for i in range(2):
        ref = synth.spherical_head_hrirs(grid, 48000, 128, seed=i)
        for side in ("p", "r"):
            (tmp_path / side).mkdir(exist_ok=True)
        synth.write_sofa(tmp_path / "r" / f"s{i}.sofa", ref, grid, 48000)
        synth.write_sofa(tmp_path / "p" / f"s{i}.sofa", synth.degrade(ref, seed=i), grid, 48000)
    opts = ScoreOptions.build(["lsd"], bands="third-octave")
    pl = find_pairs(tmp_path / "p", tmp_path / "r", None)
    a = run_batch(pl, opts, device="cpu", workers=0, stack=True)
    b = run_batch(pl, opts, device="cpu", workers=0, stack=False)
    assert a["spec"]["bands"] == "third-octave"
    for x, y in zip(a["pairs"], b["pairs"]):
        assert x["bands"] == y["bands"] and x["bands"]["bands"]
    agg = a["band_aggregate"]
    assert [g["centre_hz"] for g in agg] == [
        b["centre_hz"] for b in a["pairs"][0]["bands"]["bands"]
    ]
    for i, g in enumerate(agg):
        vals = [e["bands"]["bands"][i]["scores"]["lsd"]["overall"] for e in a["pairs"]]
        assert g["pairs"] == 2 and g["scores"]["lsd"]["mean"] == pytest.approx(np.mean(vals))
