"""--per-direction: the exported rows are the values of per_direction_errors, CSV and JSON lines."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.scoring import ScoreOptions, load_aligned, per_direction_errors

runner = CliRunner()


def write_pairs(root, n=2):
    pos = synth.sphere_grid(24)
    for i in range(n):
        ref = synth.spherical_head_hrirs(pos, 48000, 128, seed=i)
        for side in ("p", "r"):
            (root / side).mkdir(parents=True, exist_ok=True)
        synth.write_sofa(root / "r" / f"s{i}.sofa", ref, pos, 48000)
        synth.write_sofa(root / "p" / f"s{i}.sofa", synth.degrade(ref, seed=i + 5), pos, 48000)
    return pos


def reference_values(p, r, metric):
    opts = ScoreOptions.build([metric])
    aligned = load_aligned(str(p), str(r), opts)
    return per_direction_errors(aligned, metric, opts), aligned.reference.positions


def test_single_pair_csv(tmp_path):
    write_pairs(tmp_path, 1)
    p, r = tmp_path / "p" / "s0.sofa", tmp_path / "r" / "s0.sofa"
    out = tmp_path / "dirs.csv"
    res = runner.invoke(
        app,
        [
            "score",
            str(p),
            str(r),
            "-m",
            "lsd",
            "-m",
            "itd",
            "-m",
            "mae",
            "--device",
            "cpu",
            "--per-direction",
            str(out),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    assert "per_direction" not in json.loads(res.stdout)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "azimuth_deg",
        "elevation_deg",
        "distance_m",
        "lsd_left_db",
        "lsd_right_db",
        "itd_us",
        "mae_left",
        "mae_right",
        "rmse_domain",
    ]
    lsd, pos = reference_values(p, r, "lsd")
    itd, _ = reference_values(p, r, "itd")
    assert len(rows) == len(pos)
    got = np.array([[float(x["lsd_left_db"]), float(x["lsd_right_db"])] for x in rows])
    assert np.array_equal(got, lsd.values.numpy())  # full precision: the same floats
    assert np.array_equal([float(x["itd_us"]) for x in rows], itd.values.numpy())
    assert np.array_equal(
        [[float(x["azimuth_deg"]), float(x["elevation_deg"])] for x in rows], pos[:, :2]
    )
    assert {x["rmse_domain"] for x in rows} == {"time"}
    # The mean of the exported values is the score.
    assert json.loads(res.stdout)["scores"]["lsd"]["overall"] == pytest.approx(
        got.mean(), rel=1e-12
    )


def test_batch_jsonl_has_pair_names(tmp_path):
    pos = write_pairs(tmp_path, 2)
    out = tmp_path / "dirs.jsonl"
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p"),
            str(tmp_path / "r"),
            "--workers",
            "0",
            "-m",
            "ild",
            "--device",
            "cpu",
            "--per-direction",
            str(out),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 * len(pos)
    assert [r["prediction"] for r in rows[:: len(pos)]] == ["s0.sofa", "s1.sofa"]
    ild, _ = reference_values(tmp_path / "p" / "s1.sofa", tmp_path / "r" / "s1.sofa", "ild")
    assert [r["ild_db"] for r in rows[len(pos) :]] == ild.values.numpy().tolist()
    doc = json.loads(res.stdout)
    assert all("per_direction" not in e for e in doc["pairs"])


def test_bad_extension_and_no_partial_file(tmp_path):
    write_pairs(tmp_path, 1)
    p, r = tmp_path / "p" / "s0.sofa", tmp_path / "r" / "s0.sofa"
    res = runner.invoke(app, ["score", str(p), str(r), "--per-direction", str(tmp_path / "x.xlsx")])
    assert res.exit_code == 2 and ".csv or .jsonl" in res.stderr
    # A run that fails after the export started leaves neither the file nor a temporary file.
    res = runner.invoke(
        app,
        [
            "score",
            str(p),
            str(r),
            "--region",
            "elevation:89:90",
            "--fail-above",
            "elevation:89:90.lsd=1",
            "--device",
            "cpu",
            "--per-direction",
            str(tmp_path / "d.csv"),
        ],
    )
    assert res.exit_code == 2
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p", "r"]
    # A batch that fails once the export file is open (nothing to score) removes it.
    (tmp_path / "e1").mkdir()
    (tmp_path / "e2").mkdir()
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "e1"),
            str(tmp_path / "e2"),
            "--per-direction",
            str(tmp_path / "d.csv"),
        ],
    )
    assert res.exit_code == 2 and "nothing to score" in res.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["e1", "e2", "p", "r"]
