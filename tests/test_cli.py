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
    assert set(doc) == {"prediction", "reference", "target", "spec", "scores", "passed"}
    lsd = doc["scores"]["lsd"]
    assert lsd["unit"] == "dB" and 1.0 < lsd["overall"] < 8.0
    assert lsd["overall"] == pytest.approx((lsd["left"] + lsd["right"]) / 2, rel=1e-12)
    assert doc["spec"]["directions"] == {
        "reference": 440,
        "matched": 440,
        "missing": 0,
        "matched_fraction": 1.0,
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


# --------------------------------------------------------------------------------------------
# CLI validation (issue 12): limits, band, FFT length, preset, click's errors, names, pipes


def one_error(result, needle: str = "") -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("limit", ["-1", "nan", "inf", "-inf", "-0.5"])
def test_negative_or_non_finite_limits_are_usage_errors(small_pair, tmp_path, limit):
    p = small_pair
    args = [p["pred_path"], p["ref_path"], "--device", "cpu"]
    one_error(invoke("score", *args, "--fail-above", f"lsd={limit}"), "--fail-above")
    base = tmp_path / "base.json"
    assert invoke("score", *args, "-f", "json", "-o", base).exit_code == 0
    one_error(
        invoke("score", *args, "--baseline", base, "--max-regression", f"lsd={limit}"),
        "--max-regression",
    )


def test_zero_limits_are_allowed(small_pair):
    p = small_pair
    result = invoke("score", p["pred_path"], p["ref_path"], "--fail-above", "lsd=0", "-f", "json")
    assert result.exit_code == 1 and json.loads(result.stdout)["scores"]["lsd"]["threshold"] == 0


@pytest.mark.parametrize(
    "option,value",
    [
        ("--freq-max", "inf"),
        ("--freq-max", "nan"),
        ("--freq-min", "-20"),
        ("--freq-min", "nan"),
        ("--freq-max", "-1"),
    ],
)
def test_non_finite_or_negative_frequencies_are_usage_errors(small_pair, option, value):
    p = small_pair
    one_error(invoke("score", p["pred_path"], p["ref_path"], option, value, "--device", "cpu"))


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    """4 directions x 128 taps: cheap even for a huge FFT."""
    root = tmp_path_factory.mktemp("tiny")
    positions = synth.sphere_grid(4)
    ref = synth.spherical_head_hrirs(positions, 48000, 128)
    pred = synth.degrade(ref, seed=2)
    return (
        synth.write_sofa(root / "pred.sofa", pred, positions, 48000),
        synth.write_sofa(root / "ref.sofa", ref, positions, 48000),
        pred,
        ref,
    )


def test_n_fft_is_bounded(tiny_pair):
    MAX_N_FFT = 65536  # hrtfeval.scoring.MAX_N_FFT
    one_error(invoke("score", *tiny_pair[:2], "--n-fft", "1000000"), str(MAX_N_FFT))
    assert invoke("score", *tiny_pair[:2], "--n-fft", str(MAX_N_FFT), "-f", "json").exit_code == 0


def test_n_fft_shorter_than_the_irs_is_an_error(tiny_pair):
    """Before: rfft(n=64) silently cut the 128-tap responses (and the LSD changed)."""
    one_error(invoke("score", *tiny_pair[:2], "--n-fft", "64"), "shorter than the impulse")


def test_n_fft_longer_than_the_irs_zero_pads_and_says_so(tiny_pair):
    pred_path, ref_path, pred, ref = tiny_pair
    doc = score_json(pred_path, ref_path, "--n-fft", "512")
    assert doc["spec"]["n_fft"] == 512
    assert doc["spec"]["zero_padding"] == {"from_samples": 128, "to_n_fft": 512}
    f = np.fft.rfftfreq(512, 1 / 48000)
    keep = (f >= 20) & (f <= 20000) & (f < 24000)

    def db(x):
        return 20 * np.log10(np.abs(np.fft.rfft(x, n=512, axis=-1))[..., keep])

    expected = np.sqrt(np.mean((db(pred) - db(ref)) ** 2, axis=-1)).mean()
    assert doc["scores"]["lsd"]["overall"] == pytest.approx(expected, rel=1e-9)
    assert score_json(pred_path, ref_path)["spec"]["zero_padding"] is None
    table = invoke("score", pred_path, ref_path, "--n-fft", "512")
    assert "zero-padded from 128 samples" in table.stdout


@pytest.mark.parametrize(
    "option,value",
    [
        ("--freq-min", "100"),
        ("--freq-max", "16000"),
        ("--reduction", "rms"),
        ("--itd-method", "threshold"),
        ("--n-fft", "512"),
        ("--epsilon", "1e-6"),
        ("--domain", "db"),
        ("--weighting", "area"),
    ],
)
def test_preset_with_an_option_that_changes_its_definitions_is_a_usage_error(option, value):
    result = invoke(
        "score",
        SAMPLE / "prediction.sofa",
        SAMPLE / "reference.sofa",
        "--preset",
        "lap",
        option,
        value,
    )
    one_error(result, f"--preset lap fixes {option}")


def test_preset_with_its_own_values_is_accepted():
    doc = score_json(
        SAMPLE / "prediction.sofa",
        SAMPLE / "reference.sofa",
        "--preset",
        "lap",
        "--freq-min",
        "20",
        "--reduction",
        "mean",
    )
    assert doc["spec"]["preset"] == "lap"


def test_fail_above_on_a_preset_metric_says_which_threshold_it_replaced():
    args = [SAMPLE / "prediction.sofa", SAMPLE / "reference.sofa", "--preset", "lap"]
    doc = score_json(*args, "--fail-above", "lsd=5")
    lsd = doc["spec"]["thresholds"]["lsd"]
    assert lsd["source"] == "fail-above" and lsd["limit"] == 5
    assert lsd["replaces"] == {"limit": 7.4, "rule": "passes when value < limit", "source": "lap"}
    assert "replaces" not in doc["spec"]["thresholds"]["itd"]
    table = invoke("score", *args, "--fail-above", "lsd=5", "--device", "cpu")
    assert "lsd <= 5 (--fail-above, replaces preset lap's < 7.4)" in table.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["score", "a.sofa", "b.sofa", "--workers", "x"], "--workers"),
        (["score", "a.sofa", "b.sofa", "--workers", "-3"], "--workers"),
        (["score", "a.sofa", "b.sofa", "--bogus"], "--bogus"),
        (["merge"], "Missing argument"),
        (["plot", "a.sofa", "b.sofa"], "--output"),
        (["plot", "a.sofa", "b.sofa", "-o", "x.png", "--dpi", "5"], "--dpi"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_click_usage_errors_are_one_error_line(args, needle):
    result = invoke(*args)
    line = one_error(result, needle)
    if "-3" not in args:  # click's own checks point to --help; -3 is checked by hrtfeval
        assert "--help" in line


def test_no_arguments_still_show_the_help():
    result = invoke()
    assert "Usage:" in result.output and "score" in result.output


def test_control_characters_of_file_names_are_escaped(small_pair, tmp_path):
    p = small_pair
    evil = tmp_path / "x\x1b[2Jy.sofa"
    missing = invoke("score", evil, p["ref_path"])
    line = one_error(missing, "x\\x1b[2Jy.sofa")
    assert "\x1b" not in line
    evil.write_bytes(p["pred_path"].read_bytes())
    table = invoke("score", evil, p["ref_path"], "--device", "cpu")
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.output and "x\\x1b[2Jy.sofa" in table.stdout
    doc = json.loads(invoke("score", evil, p["ref_path"], "-f", "json").stdout)
    assert doc["prediction"] == str(evil)  # JSON keeps the real name (escaped by JSON itself)


def test_control_characters_in_batch_names_are_escaped(small_pair, tmp_path):
    for side, src in (("pred", "pred_path"), ("ref", "ref_path")):
        (tmp_path / side).mkdir()
        (tmp_path / side / "a\x07\x1bb.sofa").write_bytes(small_pair[src].read_bytes())
    (tmp_path / "pred" / "lonely\x1b.sofa").write_bytes(small_pair["pred_path"].read_bytes())
    result = invoke(
        "score", tmp_path / "pred", tmp_path / "ref", "--workers", "0", "-f", "markdown"
    )
    assert result.exit_code == 2  # the unmatched file
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "a\\x07\\x1bb.sofa" in result.stdout and "lonely\\x1b.sofa" in result.stderr


def test_printable_escapes_c0_c1_and_undecodable_bytes():
    from hrtfeval.render import printable

    assert printable("a\x1bb\x9bc\udcffd\u2028é") == "a\\x1bb\\x9bc\\xffd\\u2028é"
    assert printable("a\nb\tc", keep_whitespace=True) == "a\nb\tc"
    assert printable("a\nb") == "a\\x0ab"


def test_pt_without_positions_is_a_warning_on_stderr_in_batch_and_single_runs(small_pair, tmp_path):
    p = small_pair
    (tmp_path / "pred").mkdir()
    (tmp_path / "ref").mkdir()
    synth.write_pt(tmp_path / "pred" / "s1.pt", p["pred"], key="hrir", sampling_rate=48000)
    (tmp_path / "ref" / "s1.sofa").write_bytes(p["ref_path"].read_bytes())
    batch = invoke("score", tmp_path / "pred", tmp_path / "ref", "-f", "json", "--workers", "0")
    assert batch.exit_code == 0, batch.output
    warnings = [line for line in batch.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "s1.pt: no positions" in warnings[0], batch.stderr
    single = invoke("score", tmp_path / "pred" / "s1.pt", p["ref_path"], "-f", "json")
    assert (
        single.exit_code == 0 and "warning: " in single.stderr and "no positions" in single.stderr
    )
    quiet = invoke("score", tmp_path / "pred", tmp_path / "ref", "-q", "--workers", "0")
    assert "warning" not in quiet.stderr


@pytest.mark.parametrize("fmt_args", [["-f", "json"], ["-f", "csv"], []])
def test_broken_pipe_exits_quietly_with_141(fmt_args):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hrtfeval",
            "score",
            "sample_data/prediction.sofa",
            "sample_data/reference.sofa",
            "--device",
            "cpu",
            *fmt_args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=dict(os.environ, NO_COLOR="1"),
    )
    proc.stdout.close()  # the reader is gone before anything is written (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == "", err


def test_broken_pipe_in_a_streamed_batch(tmp_path, small_pair):
    for side, src in (("pred", "pred_path"), ("ref", "ref_path")):
        (tmp_path / side).mkdir()
        for i in range(3):
            (tmp_path / side / f"p{i}.sofa").write_bytes(small_pair[src].read_bytes())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hrtfeval",
            "score",
            tmp_path / "pred",
            tmp_path / "ref",
            "-f",
            "jsonl",
            "--workers",
            "0",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


def test_readme_lists_the_signal_exit_codes():
    text = (ROOT / "README.md").read_text()
    for code in ("130", "141", "143"):
        assert f"| {code} |" in text, code


def test_info_table_escapes_and_does_not_parse_markup_from_the_file(small_pair, tmp_path):
    p = small_pair
    path = synth.write_sofa(
        tmp_path / "t.sofa", p["ref"], p["positions"], 48000, title="evil\x1b[2J [/bold] title"
    )
    result = invoke("info", path)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "evil\\x1b[2J [/bold] title" in result.stdout
def _coloured_table(doc) -> str:
    from rich.console import Console

    from hrtfeval.render import pair_table

    buf = io.StringIO()
    pair_table(doc, Console(file=buf, force_terminal=True, color_system="standard", width=200))
    return buf.getvalue()


@pytest.mark.parametrize(("n_pred", "warned"), [(11, True), (53, True), (54, False)])
def test_matched_fraction_in_the_spec_and_a_warning_colour_below_90_percent(
    small_pair, tmp_path, n_pred, warned
):
    sparse = synth.write_sofa(
        tmp_path / "sparse.sofa",
        small_pair["pred"][:n_pred],
        small_pair["positions"][:n_pred],
        48000,
    )
    more = ("--max-missing", "1")  # 11 of 60 is more missing than the default 0.5 allows
    doc = score_json(sparse, small_pair["ref_path"], "--allow-missing", *more)
    assert doc["spec"]["directions"]["matched_fraction"] == n_pred / 60
    percent = f"{100 * n_pred / 60:.3g} % matched"
    table = invoke("score", sparse, small_pair["ref_path"], "--allow-missing", *more, "--device", "cpu")
    assert table.exit_code == 0 and percent in table.stdout
    coloured = _coloured_table(doc)
    line = next(x for x in coloured.splitlines() if percent in x)
    assert ("\x1b[1;33m" in line) is warned, repr(line)
    # batch: per pair, and a warning line under the table
    for side, data in (("pred", small_pair["pred"][:n_pred]), ("ref", small_pair["ref"])):
        (tmp_path / side).mkdir()
        grid = small_pair["positions"][: len(data)]
        synth.write_sofa(tmp_path / side / "a.sofa", data, grid, 48000)
    args = ("score", tmp_path / "pred", tmp_path / "ref", "--allow-missing", *more, "--workers", "0")
    batch = json.loads(invoke(*args, "--format", "json").stdout)
    assert batch["pairs"][0]["spec"]["directions"]["matched_fraction"] == n_pred / 60
    table = invoke(*args)
    assert ("directions matched below 90 % (1): a.sofa" in table.stdout) is warned


def test_full_coverage_has_fraction_one(small_pair):
    doc = score_json(small_pair["pred_path"], small_pair["ref_path"])
    assert doc["spec"]["directions"]["matched_fraction"] == 1.0
    assert "% matched" not in _coloured_table(doc)
