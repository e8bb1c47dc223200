"""The `score` and `info` commands end to end: stdout documents, exit codes, error lines."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.render import fmt

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def score_json(*args: str) -> dict:
    result = invoke("score", *args, "--format", "json", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory):
    """A 60-direction 48 kHz pair (reference, prediction) and the data behind it."""
    root = tmp_path_factory.mktemp("pair")
    positions = synth.sphere_grid(60)
    ref = synth.spherical_head_hrirs(positions, 48000, 128)
    pred = synth.degrade(ref, seed=3)
    ref_path = synth.write_sofa(root / "ref.sofa", ref, positions, 48000)
    pred_path = synth.write_sofa(root / "pred.sofa", pred, positions, 48000)
    return {
        "root": root,
        "positions": positions,
        "ref": ref,
        "pred": pred,
        "ref_path": ref_path,
        "pred_path": pred_path,
    }


def numpy_lsd_lap(pred, ref, fs):
    """The LAP challenge LSD written out with numpy: bins 20 Hz..20 kHz below Nyquist, mean of
    per-direction-and-ear dB RMS."""
    n = ref.shape[-1]
    f = np.fft.fftfreq(n, 1 / fs)[: n // 2]  # k < N/2: no Nyquist bin
    keep = (f >= 20) & (f <= 20000)
    p = 20 * np.log10(np.abs(np.fft.fft(pred, axis=-1)[..., : n // 2][..., keep]))
    t = 20 * np.log10(np.abs(np.fft.fft(ref, axis=-1)[..., : n // 2][..., keep]))
    per = np.sqrt(np.mean((p - t) ** 2, axis=-1))
    return per


def test_sample_data_lsd_json_and_table_agree():
    pred, ref = SAMPLE / "prediction.sofa", SAMPLE / "reference.sofa"
    doc = score_json(pred, ref, "--metric", "lsd")
    assert set(doc) == {"prediction", "target", "spec", "scores", "passed"}
    lsd = doc["scores"]["lsd"]
    assert lsd["unit"] == "dB" and 1.0 < lsd["overall"] < 8.0
    assert lsd["overall"] == pytest.approx((lsd["left"] + lsd["right"]) / 2, rel=1e-12)
    assert doc["spec"]["directions"] == {
        "reference": 440,
        "matched": 440,
        "missing": 0,
        "max_angle_deg": pytest.approx(0, abs=1e-5),
        "tolerance_deg": 0.1,
        "silent": {"prediction": 0, "reference": 0},
        "silent_excluded": None,
    }
    table = invoke("score", pred, ref, "--metric", "lsd", "--device", "cpu")
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if " lsd " in line)
    for key in ("left", "right", "overall"):
        assert fmt(lsd[key]) in row


def test_lap_definition_lsd_on_measured_size_pair(tmp_path):
    """793 directions x 2 ears x 256 taps at 48 kHz, shuffled: the LAP LSD, checked with numpy."""
    positions, ref, pred = synth.make_pair(sampling_rate=48000, n_taps=256, seed=7)
    order = np.random.default_rng(0).permutation(len(positions))
    ref_path = synth.write_sofa(tmp_path / "ref.sofa", ref, positions, 48000)
    pred_path = synth.write_sofa(tmp_path / "pred.sofa", pred[order], positions[order], 48000)
    doc = score_json(pred_path, ref_path, "--metric", "lsd")
    # SOFA stores float64 here, so numpy sees the same numbers the tool reads.
    per = numpy_lsd_lap(pred, ref, 48000)
    assert doc["spec"]["directions"]["matched"] == 793
    assert doc["spec"]["bins"] == 106
    assert doc["scores"]["lsd"]["overall"] == pytest.approx(per.mean(), rel=1e-9)
    assert doc["scores"]["lsd"]["left"] == pytest.approx(per[:, 0].mean(), rel=1e-9)
    assert doc["scores"]["lsd"]["right"] == pytest.approx(per[:, 1].mean(), rel=1e-9)


@pytest.mark.parametrize("variant", ["shuffled", "wrapped", "cartesian"])
def test_reordered_and_reexpressed_grids_score_like_the_original(small_pair, tmp_path, variant):
    p = small_pair
    positions, pred = p["positions"].copy(), p["pred"]
    kwargs = {}
    if variant == "shuffled":
        order = np.random.default_rng(1).permutation(len(positions))
        positions, pred = positions[order], pred[order]
    elif variant == "wrapped":
        positions[:, 0] = np.where(positions[:, 0] > 180, positions[:, 0] - 360, positions[:, 0])
        assert (positions[:, 0] < 0).any()
    else:
        kwargs["position_type"] = "cartesian"
    other = synth.write_sofa(tmp_path / f"{variant}.sofa", pred, positions, 48000, **kwargs)
    metrics = ["-m", "lsd", "-m", "rmse", "-m", "ild", "-m", "itd"]
    base = score_json(p["pred_path"], p["ref_path"], *metrics)["scores"]
    moved = score_json(other, p["ref_path"], *metrics)["scores"]
    for name in base:
        for key in ("left", "right", "overall"):
            if base[name][key] is None:
                assert moved[name][key] is None
            else:
                assert moved[name][key] == pytest.approx(base[name][key], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("convention", ["GeneralFIR", "SimpleFreeFieldHRTF", "GeneralTF"])
def test_every_supported_convention_scores(small_pair, tmp_path, convention):
    p = small_pair
    data, freqs = p["pred"], None
    if convention in ("SimpleFreeFieldHRTF", "GeneralTF"):
        data = np.fft.rfft(p["pred"], axis=-1)
        freqs = np.fft.rfftfreq(p["pred"].shape[-1], 1 / 48000)
    path = synth.write_sofa(
        tmp_path / "x.sofa", data, p["positions"], 48000, convention=convention, frequencies=freqs
    )
    doc = score_json(path, p["ref_path"], "-m", "lsd", "-m", "ild")
    assert doc["spec"]["prediction"]["convention"] == convention
    expected = numpy_lsd_lap(p["pred"], p["ref"], 48000).mean()
    assert doc["scores"]["lsd"]["overall"] == pytest.approx(expected, rel=1e-9)


def test_pt_prediction_without_rate_or_positions_takes_them_from_the_reference(
    small_pair, tmp_path
):
    p = small_pair
    path = synth.write_pt(tmp_path / "pred.pt", p["pred"], key="hrir")
    doc = score_json(path, p["ref_path"], "-m", "lsd")
    expected = numpy_lsd_lap(p["pred"].astype(np.float32).astype(np.float64), p["ref"], 48000)
    assert doc["scores"]["lsd"]["overall"] == pytest.approx(expected.mean(), rel=1e-6)
    assert any("taken from" in note for note in doc["spec"]["notes"])


@pytest.mark.parametrize("fmt_name", ["csv", "markdown"])
def test_csv_and_markdown_hold_the_json_numbers(fmt_name):
    args = [SAMPLE / "prediction.sofa", SAMPLE / "reference.sofa", "-m", "lsd", "-m", "mae"]
    doc = score_json(*args)
    out = invoke("score", *args, "--format", fmt_name, "--device", "cpu")
    assert out.exit_code == 0
    if fmt_name == "csv":
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        assert [r["metric"] for r in rows] == ["lsd", "mae"]
        for r in rows:
            assert float(r["overall"]) == doc["scores"][r["metric"]]["overall"]
    else:
        assert "| Metric | Unit | Left | Right | Overall |" in out.stdout
        assert fmt(doc["scores"]["mae"]["overall"]) in out.stdout


def test_output_file_is_written_and_stdout_stays_empty(tmp_path):
    target = tmp_path / "out.json"
    result = invoke(
        "score", SAMPLE / "prediction.sofa", SAMPLE / "reference.sofa", "-f", "json", "-o", target
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text())["scores"]["lsd"]["overall"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left behind


def test_failed_run_writes_no_output_file(tmp_path):
    target = tmp_path / "out.json"
    result = invoke("score", tmp_path / "missing.sofa", SAMPLE / "reference.sofa", "-o", target)
    assert result.exit_code == 2
    assert not target.exists()


def test_fail_above_exit_codes():
    args = [SAMPLE / "prediction.sofa", SAMPLE / "reference.sofa", "-m", "lsd", "--device", "cpu"]
    value = score_json(*args[:-2])["scores"]["lsd"]["overall"]
    ok = invoke("score", *args, "--fail-above", f"lsd={value + 0.01}", "-f", "json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["passed"] is True
    bad = invoke("score", *args, "--fail-above", f"lsd={value - 0.01}", "-f", "json")
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    assert doc["passed"] is False and doc["scores"]["lsd"]["passed"] is False
    assert doc["scores"]["lsd"]["threshold"] == pytest.approx(value - 0.01)


def test_lap_preset_reports_thresholds():
    doc = score_json(SAMPLE / "prediction.sofa", SAMPLE / "reference.sofa", "--preset", "lap")
    assert list(doc["scores"]) == ["itd", "ild", "lsd"]
    assert doc["spec"]["preset"] == "lap"
    assert {k: v["threshold"] for k, v in doc["scores"].items()} == {
        "itd": 100.0,
        "ild": 4.4,
        "lsd": 7.4,
    }
    assert doc["scores"]["itd"]["unit"] == "µs"
    assert doc["scores"]["itd"]["left"] is None and doc["scores"]["ild"]["right"] is None


def bad_inputs(tmp_path: Path, small_pair) -> list[tuple[list, str]]:
    garbage = tmp_path / "garbage.sofa"
    garbage.write_bytes(b"not a sofa file at all")
    other_rate = synth.write_sofa(
        tmp_path / "rate.sofa", small_pair["pred"], small_pair["positions"], 44100
    )
    sparse = synth.write_sofa(
        tmp_path / "sparse.sofa", small_pair["pred"][:30], small_pair["positions"][:30], 48000
    )
    nan = small_pair["pred"].copy()
    nan[5, 1, 7] = np.nan
    nan_path = synth.write_sofa(tmp_path / "nan.sofa", nan, small_pair["positions"], 48000)
    ref = small_pair["ref_path"]
    return [
        ([tmp_path / "missing.sofa", ref], "missing.sofa"),
        ([garbage, ref], "garbage.sofa"),
        ([other_rate, ref], "44100"),
        ([sparse, ref], "30"),
        ([nan_path, ref], "non-finite"),
        ([small_pair["pred_path"], ref, "--metric", "snr"], "'snr'"),
        ([small_pair["pred_path"], ref, "--fail-above", "lsd"], "METRIC=VALUE"),
        ([small_pair["pred_path"], ref, "--format", "yaml"], "'yaml'"),
        (
            [small_pair["pred_path"], ref, "--freq-min", "30000", "--freq-max", "40000"],
            "no frequency bin",
        ),
        ([small_pair["pred_path"], ref, "--device", "tpu"], "'tpu'"),
    ]


def test_every_error_path_is_one_line_with_exit_2(tmp_path, small_pair):
    for args, needle in bad_inputs(tmp_path, small_pair):
        result = invoke("score", *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == "", args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)
        assert needle in lines[0], (needle, lines[0])
        assert "Traceback" not in result.output


def test_sparse_prediction_with_allow_missing(small_pair, tmp_path):
    sparse = synth.write_sofa(
        tmp_path / "sparse.sofa", small_pair["pred"][:30], small_pair["positions"][:30], 48000
    )
    doc = score_json(sparse, small_pair["ref_path"], "--allow-missing")
    assert doc["spec"]["directions"]["matched"] == 30
    assert doc["spec"]["directions"]["missing"] == 30
    expected = numpy_lsd_lap(small_pair["pred"][:30], small_pair["ref"][:30], 48000).mean()
    assert doc["scores"]["lsd"]["overall"] == pytest.approx(expected, rel=1e-9)


def test_stdout_stays_json_when_a_library_prints(monkeypatch):
    import hrtfeval.io as hio

    real = hio.read_hrtf

    def noisy(path, **kwargs):
        print("sofar: some notice about this file")
        return real(path, **kwargs)

    monkeypatch.setattr(hio, "read_hrtf", noisy)
    result = invoke("score", SAMPLE / "prediction.sofa", SAMPLE / "reference.sofa", "-f", "json")
    assert result.exit_code == 0
    json.loads(result.stdout)
    assert "some notice" in result.stderr


def test_info_json_describes_the_file():
    result = invoke("info", SAMPLE / "reference.sofa", "--format", "json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    text = json.dumps(facts)
    assert "SimpleFreeFieldHRIR" in text and "440" in text and "48000" in text
    table = invoke("info", SAMPLE / "reference.sofa")
    assert table.exit_code == 0 and "SimpleFreeFieldHRIR" in table.stdout


def test_info_on_a_missing_file_is_one_line():
    result = invoke("info", "nope.sofa")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "nope.sofa" in result.stderr


def run(args, **kw):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, **kw)


def entry_point() -> str:
    exe = Path(sys.executable).with_name("hrtfeval")
    if not exe.exists():
        pytest.skip("the hrtfeval console script is not installed next to this Python")
    return str(exe)


def test_installed_entry_point_and_module_smoke():
    out = run(
        [
            entry_point(),
            "score",
            "sample_data/prediction.sofa",
            "sample_data/reference.sofa",
            "--metric",
            "lsd",
            "--format",
            "json",
        ]
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["scores"]["lsd"]["overall"] > 0
    version = run([sys.executable, "-m", "hrtfeval", "--version"])
    assert version.returncode == 0 and version.stdout.startswith("hrtfeval ")
    missing = run([entry_point(), "score", "/nonexistent/a.sofa", "/nonexistent/b.sofa"])
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("Error: ")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_heavy_modules(flag):
    out = run([sys.executable, "-X", "importtime", "-m", "hrtfeval", flag])
    assert out.returncode == 0
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in out.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "typer" in imported or "click" in imported  # the log is really there
    for heavy in ("torch", "sofar", "scipy", "netCDF4", "matplotlib", "h5py", "numpy"):
        assert heavy not in imported, f"{flag} imported {heavy}"
