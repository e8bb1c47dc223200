"""--max-missing (with --allow-missing) and --ignore-delay."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app

runner = CliRunner()


def score(*args):
    return runner.invoke(app, [str(a) for a in args] + ["--device", "cpu", "-f", "json"])


def test_max_missing(tmp_path):
    pos = synth.sphere_grid(100)
    ref = synth.spherical_head_hrirs(pos, 48000, 128, seed=1)
    pred = synth.degrade(ref, seed=2)
    synth.write_sofa(tmp_path / "r.sofa", ref, pos, 48000)
    # 18 of the 100 directions predicted: 82 % missing.
    synth.write_sofa(tmp_path / "p18.sofa", pred[:18], pos[:18], 48000)
    synth.write_sofa(tmp_path / "p60.sofa", pred[:60], pos[:60], 48000)
    res = score("score", tmp_path / "p18.sofa", tmp_path / "r.sofa", "--allow-missing")
    assert res.exit_code == 2
    assert "82 of the 100 reference directions (82%)" in res.stderr
    assert "--max-missing 0.5" in res.stderr and "r.sofa" in res.stderr
    res = score(
        "score",
        tmp_path / "p18.sofa",
        tmp_path / "r.sofa",
        "--allow-missing",
        "--max-missing",
        "0.9",
    )
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)["spec"]["directions"]
    assert d["missing"] == 82 and d["max_missing_fraction"] == 0.9
    res = score("score", tmp_path / "p60.sofa", tmp_path / "r.sofa", "--allow-missing")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["spec"]["directions"]["max_missing_fraction"] == 0.5
    res = score(
        "score",
        tmp_path / "p60.sofa",
        tmp_path / "r.sofa",
        "--allow-missing",
        "--max-missing",
        "1.5",
    )
    assert res.exit_code == 2 and "--max-missing" in res.stderr
    # Without --allow-missing nothing changes: a missing direction is an error.
    res = score("score", tmp_path / "p60.sofa", tmp_path / "r.sofa")
    assert res.exit_code == 2


def test_ignore_delay(tmp_path):
    pos = synth.sphere_grid(30)
    ref = synth.spherical_head_hrirs(pos, 48000, 128, seed=1)
    synth.write_sofa(tmp_path / "r.sofa", ref, pos, 48000)
    synth.write_sofa(tmp_path / "pd.sofa", ref, pos, 48000, delay=np.full((1, 2), 3.0))
    applied = score("score", tmp_path / "pd.sofa", tmp_path / "r.sofa", "-m", "rmse")
    ignored = score(
        "score", tmp_path / "pd.sofa", tmp_path / "r.sofa", "-m", "rmse", "--ignore-delay"
    )
    assert applied.exit_code == 0 and ignored.exit_code == 0, ignored.stderr
    a, b = json.loads(applied.stdout), json.loads(ignored.stdout)
    assert a["spec"]["prediction"]["delay_applied"] is True and "ignore_delay" not in a["spec"]
    assert a["scores"]["rmse"]["overall"] > 1e-3  # the 3-sample shift is an error
    assert b["spec"]["ignore_delay"] is True
    assert b["spec"]["prediction"]["delay_applied"] is False
    assert b["spec"]["prediction"]["delay_ignored"] is True
    assert b["spec"]["reference"]["delay_ignored"] is False
    assert b["scores"]["rmse"]["overall"] < 1e-5  # identical IRs once the delay is ignored
