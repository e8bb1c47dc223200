"""hrtfeval compare: paired statistics against scipy, refusals, CLI exit codes and formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.compare import compare_documents, paired_statistics
from hrtfeval.errors import HrtfevalError

runner = CliRunner()


def make_doc(values: dict[str, list[float]], names=None, **spec_changes) -> dict:
    """A batch document with the given per-pair overall values (same order for every metric)."""
    metrics = list(values)
    n = len(next(iter(values.values())))
    names = names or [f"s{i:02d}.sofa" for i in range(n)]
    spec = {
        "hrtfeval": "x",
        "kind": "batch",
        "metrics": metrics,
        "preset": None,
        "band_hz": [20.0, 20000.0],
        "reduction": "mean",
        "thresholds": {},
        "pairs_total": n,
        "shard": None,
        "device": "cpu",
        "source": {"prediction_dir": "a"},
        "ignore_unmatched": False,
        "notes": [],
    }
    spec.update(spec_changes)
    pairs = []
    for i, name in enumerate(names):
        scores = {
            m: {
                "unit": "dB",
                "left": None,
                "right": None,
                "overall": values[m][i],
                "threshold": None,
                "passed": None,
            }
            for m in metrics
        }
        pairs.append(
            {
                "prediction": name,
                "target": name,
                "spec": {"bins": 100, "domain": None, "directions": {"matched": 50}},
                "scores": scores,
                "passed": None,
            }
        )
    return {"spec": spec, "pairs": pairs}


RNG = np.random.default_rng(7)
A = RNG.normal(5.0, 1.0, 30)
B = A + RNG.normal(0.3, 0.4, 30)  # B worse by about 0.3


def test_paired_statistics_match_scipy():
    r = paired_statistics(A, B, n_resamples=2000, seed=3)
    d = B - A
    assert r["n"] == 30
    assert r["mean_a"] == pytest.approx(A.mean(), rel=1e-12)
    assert r["mean_b"] == pytest.approx(B.mean(), rel=1e-12)
    assert r["mean_diff"] == pytest.approx(d.mean(), rel=1e-12)
    assert r["median_diff"] == pytest.approx(np.median(d), rel=1e-12)
    assert r["p_two_sided"] == pytest.approx(stats.wilcoxon(d).pvalue, rel=1e-12)
    assert r["p_b_worse"] == pytest.approx(
        stats.wilcoxon(B, A, alternative="greater").pvalue, rel=1e-12
    )
    assert (r["better"], r["worse"], r["equal"]) == (int((d < 0).sum()), int((d > 0).sum()), 0)
    # Percentile bootstrap of the mean difference, resampling pairs: the same interval as an
    # independent resampling of indices with the same generator is not guaranteed, but the
    # scipy call with the same seed is, and the interval must be close to the t-interval.
    ref = stats.bootstrap(
        (A, B),
        lambda x, y, axis=-1: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(3),
    ).confidence_interval
    assert r["mean_diff_ci"] == pytest.approx([ref.low, ref.high], rel=1e-12)
    half = stats.t.ppf(0.975, 29) * d.std(ddof=1) / np.sqrt(30)
    assert r["mean_diff_ci"][0] == pytest.approx(d.mean() - half, abs=0.4 * half)
    assert r["mean_diff_ci"][1] == pytest.approx(d.mean() + half, abs=0.4 * half)
    lo, hi = r["median_diff_ci"]
    assert lo <= r["median_diff"] <= hi


def test_bootstrap_is_seeded_and_resampling_by_hand_agrees():
    r1 = paired_statistics(A, B, n_resamples=4000, seed=11)
    r2 = paired_statistics(A, B, n_resamples=4000, seed=11)
    assert r1 == r2
    # An independent percentile bootstrap (numpy only) lands within Monte Carlo error.
    d = B - A
    idx = np.random.default_rng(99).integers(0, 30, size=(20000, 30))
    means = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    assert r1["mean_diff_ci"] == pytest.approx([lo, hi], abs=0.03)


def test_no_change_gives_p_one_and_zero_width_intervals():
    r = paired_statistics(A, A, n_resamples=200)
    assert r["p_two_sided"] == r["p_b_worse"] == 1.0
    assert r["mean_diff_ci"] == [0.0, 0.0] and r["equal"] == 30


def test_fewer_than_two_pairs_is_refused():
    with pytest.raises(HrtfevalError, match="at least 2"):
        paired_statistics([1.0], [2.0])


def test_compare_documents_lists_worst_and_verdict():
    a, b = make_doc({"lsd": list(A)}), make_doc({"lsd": list(B)})
    doc = compare_documents(a, b, ("a.json", "b.json"), n_resamples=500, fail_if_worse=True)
    r = doc["metrics"]["lsd"]
    d = B - A
    assert r["significantly_worse"] is True and doc["passed"] is False
    worst = r["worst"]
    assert [w["delta"] for w in worst] == pytest.approx(sorted(d[d > 0], reverse=True)[:5])
    assert worst[0]["target"] == f"s{int(np.argmax(d)):02d}.sofa"
    # The other way round B is better: no failure.
    back = compare_documents(b, a, ("b.json", "a.json"), n_resamples=500, fail_if_worse=True)
    assert back["passed"] is True and back["metrics"]["lsd"]["better"] == r["worse"]
    assert back["metrics"]["lsd"]["p_two_sided"] == pytest.approx(r["p_two_sided"])
    assert "greater" in doc["spec"]["wilcoxon"]["p_b_worse"]
    assert doc["spec"]["bootstrap"]["resamples"] == 500


def test_compare_refuses_other_options_pairs_and_errors():
    a = make_doc({"lsd": [1.0, 2.0, 3.0]})
    with pytest.raises(HrtfevalError, match=r"b.json.*band_hz"):
        compare_documents(
            a, make_doc({"lsd": [1.0, 2.0, 3.0]}, band_hz=[100.0, 16000.0]), ("a.json", "b.json")
        )
    other = make_doc({"lsd": [1.0, 2.0, 3.0]}, names=["s00.sofa", "s01.sofa", "x.sofa"])
    with pytest.raises(HrtfevalError, match=r"only in a.json: s02.sofa; only in b.json: x.sofa"):
        compare_documents(a, other, ("a.json", "b.json"))
    broken = make_doc({"lsd": [1.0, 2.0, 3.0]})
    broken["pairs"][1] = {"prediction": "s01.sofa", "target": "s01.sofa", "error": "bad file"}
    with pytest.raises(HrtfevalError, match="s01.sofa was not scored.*bad file"):
        compare_documents(a, broken, ("a.json", "b.json"))
    fewer = make_doc({"lsd": [1.0, 2.0, 3.0]})
    fewer["pairs"][0]["spec"]["directions"]["matched"] = 40
    with pytest.raises(HrtfevalError, match="matched directions 50 vs 40"):
        compare_documents(a, fewer, ("a.json", "b.json"))
    # Thresholds, device and source do not change the numbers: accepted.
    same = make_doc(
        {"lsd": [1.0, 2.5, 3.0]},
        thresholds={"lsd": {"limit": 7.4}},
        device="cuda:0",
        source={"prediction_dir": "b"},
    )
    assert compare_documents(a, same, n_resamples=200)["spec"]["pairs"] == 3


def test_pairs_matched_by_target_when_prediction_names_differ():
    a = make_doc({"lsd": [1.0, 2.0, 3.0]})
    b = make_doc({"lsd": [1.5, 2.0, 3.0]})
    for e in b["pairs"]:
        e["prediction"] = "modelB/" + e["prediction"]
    r = compare_documents(a, b, n_resamples=200)["metrics"]["lsd"]
    assert r["worst"][0]["prediction_b"] == "modelB/s00.sofa" and r["worse"] == 1


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_cli_compare_formats_and_exit_codes(tmp_path):
    a = write(tmp_path / "a.json", make_doc({"lsd": list(A), "itd": list(A * 10)}))
    b = write(tmp_path / "b.json", make_doc({"lsd": list(B), "itd": list(A * 10)}))
    res = runner.invoke(app, ["compare", str(a), str(b), "-f", "json", "--resamples", "500"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["passed"] is None and doc["metrics"]["itd"]["equal"] == 30
    res = runner.invoke(app, ["compare", str(a), str(b), "--fail-if-worse", "--resamples", "500"])
    assert res.exit_code == 1, res.stderr
    assert "Δmean" in res.stdout and "WORSE" in res.stdout and "s" in res.stdout
    res = runner.invoke(app, ["compare", str(b), str(a), "--fail-if-worse", "-f", "markdown"])
    assert res.exit_code == 0
    assert "<!--" not in res.stdout and res.stdout.startswith(f"A  {b}")
    assert "| lsd |" in res.stdout
    # Bad input: one line, exit 2.
    bad = write(tmp_path / "c.json", make_doc({"lsd": list(B)}, reduction="rms"))
    res = runner.invoke(app, ["compare", str(a), str(bad)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "reduction" in res.stderr and "metrics" in res.stderr
    res = runner.invoke(app, ["compare", str(a), str(b), "--alpha", "2"])
    assert res.exit_code == 2 and "--alpha" in res.stderr


def test_cli_compare_on_scored_batches(tmp_path):
    """Two real batch runs: model B is degraded more than model A on every pair."""
    positions = synth.sphere_grid(40)
    for i in range(4):
        ref = synth.spherical_head_hrirs(positions, 48000, 128, seed=i)
        worse = ref + 2.0 * (synth.degrade(ref, seed=i) - ref)
        for side in ("ref", "a", "b"):
            (tmp_path / side).mkdir(exist_ok=True)
        synth.write_sofa(tmp_path / "ref" / f"s{i}.sofa", ref, positions, 48000)
        synth.write_sofa(
            tmp_path / "a" / f"s{i}.sofa", synth.degrade(ref, seed=i), positions, 48000
        )
        synth.write_sofa(tmp_path / "b" / f"s{i}.sofa", worse, positions, 48000)
    for side in ("a", "b"):
        res = runner.invoke(
            app,
            [
                "score",
                str(tmp_path / side),
                str(tmp_path / "ref"),
                "--workers",
                "0",
                "--device",
                "cpu",
                "-f",
                "json",
                "-o",
                str(tmp_path / f"{side}.json"),
            ],
        )
        assert res.exit_code == 0, res.stderr
    res = runner.invoke(
        app,
        [
            "compare",
            str(tmp_path / "a.json"),
            str(tmp_path / "b.json"),
            "-f",
            "json",
            "--resamples",
            "300",
        ],
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    r = doc["metrics"]["lsd"]
    assert r["mean_a"] == pytest.approx(a["aggregate"]["lsd"]["mean"], rel=1e-12)
    assert r["mean_b"] == pytest.approx(b["aggregate"]["lsd"]["mean"], rel=1e-12)
    assert r["worse"] == 4 and r["p_b_worse"] == pytest.approx(1 / 16)


def test_cli_compare_output_file_goes_through_the_output_plan(tmp_path):
    """compare -o: the extension decides the format, and -o over an input is refused."""
    a = write(tmp_path / "a.json", make_doc({"lsd": list(A)}))
    b = write(tmp_path / "b.json", make_doc({"lsd": list(B)}))
    out = tmp_path / "cmp.json"
    res = runner.invoke(app, ["compare", str(a), str(b), "--resamples", "200", "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    assert json.loads(out.read_text())["metrics"]["lsd"]["better"] >= 0
    md = tmp_path / "cmp.md"
    res = runner.invoke(app, ["compare", str(a), str(b), "--resamples", "200", "-o", str(md)])
    assert res.exit_code == 0, res.stderr
    assert "| lsd |" in md.read_text()
    before = b.read_bytes()
    res = runner.invoke(app, ["compare", str(a), str(b), "--resamples", "200", "-o", str(b)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert b.read_bytes() == before
