"""`--preset lap` end to end against the straightforward per-direction LAP definitions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app


def _load_reference():
    path = Path(__file__).with_name("lap_reference.py")
    spec = importlib.util.spec_from_file_location("lap_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref_impl = _load_reference()
runner = CliRunner()


def lap_json(pred, ref):
    result = runner.invoke(
        app, ["score", str(pred), str(ref), "--preset", "lap", "-f", "json", "--device", "cpu"]
    )
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def measured_pair(tmp_path_factory):
    """A measured-size pair: 793 directions x 2 ears x 256 taps at 48 kHz, prediction shuffled."""
    root = tmp_path_factory.mktemp("lap")
    positions, ref, pred = synth.make_pair(sampling_rate=48000, n_taps=256, seed=5)
    order = np.random.default_rng(2).permutation(len(positions))
    ref_path = synth.write_sofa(root / "ref.sofa", ref, positions, 48000)
    pred_path = synth.write_sofa(root / "pred.sofa", pred[order], positions[order], 48000)
    return ref_path, pred_path, ref, pred


def test_lap_preset_matches_the_official_definitions(measured_pair):
    ref_path, pred_path, ref, pred = measured_pair
    code, doc = lap_json(pred_path, ref_path)
    expected = ref_impl.reference_lap(pred, ref, 48000)
    assert doc["spec"]["directions"]["matched"] == 793
    for metric in ("itd", "ild", "lsd"):
        assert doc["scores"][metric]["overall"] == pytest.approx(expected[metric], rel=1e-6), metric
    assert expected["itd"] > 0 and expected["ild"] > 0  # the comparison is not vacuous
    assert code == (0 if doc["passed"] else 1)


def test_lap_itd_threshold_fails_the_run(measured_pair, tmp_path):
    """Delaying the right ear by 6 samples (125 µs at 48 kHz) fails the 100 µs ITD threshold."""
    ref_path, _, ref, _ = measured_pair
    positions = synth.measured_grid()
    shifted = ref.copy()
    shifted[:, 1, 6:] = ref[:, 1, :-6]
    shifted[:, 1, :6] = 0.0
    pred_path = synth.write_sofa(tmp_path / "late.sofa", shifted, positions, 48000)
    code, doc = lap_json(pred_path, ref_path)
    expected = ref_impl.reference_lap(shifted, ref, 48000)
    assert doc["scores"]["itd"]["overall"] == pytest.approx(expected["itd"], rel=1e-6)
    assert doc["scores"]["itd"]["overall"] > 100.0
    assert doc["scores"]["itd"]["passed"] is False
    assert doc["scores"]["ild"]["passed"] is True
    assert doc["passed"] is False and code == 1
