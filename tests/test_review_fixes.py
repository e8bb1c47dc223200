"""Fixes from the review of the merged code (notes/review.md): one test per defect."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.scoring import ScoreOptions

runner = CliRunner()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    pos, ref, pred = synth.make_pair(60, n_taps=128)
    for d in ("P", "T"):
        (root / d).mkdir()
    synth.write_sofa(root / "P" / "s0.sofa", pred, pos, 48000)
    synth.write_sofa(root / "T" / "s0.sofa", ref, pos, 48000)
    excl = root / "excl.csv"
    excl.write_text("azimuth,elevation\n" + "".join(f"{a},{e}\n" for a, e, _ in pos[:5]))
    return root


LOCALISATION_OPTIONS = [
    ("--exclude", {"exclude": "x.csv"}),
    ("--exclude-silent", {"exclude_silent": True}),
    ("--region", {"regions": ("upper",)}),
    ("--bands", {"bands": "octave"}),
    ("--weighting area", {"weighting": "area"}),
    ("--per-direction", {"per_direction": True}),
]


@pytest.mark.parametrize("option,kwargs", LOCALISATION_OPTIONS)
@pytest.mark.parametrize("metrics", [["qe"], ["lsd", "eb"]])
def test_localisation_metrics_refuse_options_they_do_not_apply(option, kwargs, metrics):
    with pytest.raises(ValueError) as info:
        ScoreOptions.build(metrics, **kwargs)
    text = str(info.value)
    assert option in text and "lsd/rmse/mae/itd/ild" in text and "localisation" in text
    ScoreOptions.build(["lsd"], **kwargs)  # the spectral metrics take them


def test_region_check_on_a_localisation_metric_is_refused():
    with pytest.raises(ValueError, match="upper.qe"):
        ScoreOptions.build(["lsd", "qe"], regions=("upper",), fail_above={"upper.qe": 1.0})


@pytest.mark.parametrize(
    "extra",
    [
        ["--exclude", "{root}/excl.csv"],
        ["--exclude-silent"],
        ["--region", "upper"],
        ["--bands", "octave"],
        ["--weighting", "area"],
        ["--per-direction", "{root}/pd.csv"],
    ],
)
def test_cli_single_pair_and_batch_refuse_localisation_with_option(pair, extra):
    extra = [e.format(root=pair) for e in extra]
    for p, t in ((pair / "P" / "s0.sofa", pair / "T" / "s0.sofa"), (pair / "P", pair / "T")):
        res = runner.invoke(
            app, ["score", str(p), str(t), "-m", "lsd", "-m", "qe", "--device", "cpu", *extra]
        )
        assert res.exit_code == 2, res.stderr
        assert res.stderr.count("\n") == 1 and extra[0] in res.stderr, res.stderr
        assert not (pair / "pd.csv").exists()


def test_cli_plot_localisation_refuses_exclude_silent(pair, tmp_path):
    res = runner.invoke(
        app,
        [
            "plot",
            str(pair / "P" / "s0.sofa"),
            str(pair / "T" / "s0.sofa"),
            "--view",
            "localisation",
            "--exclude-silent",
            "-o",
            str(tmp_path / "x.png"),
        ],
    )
    assert res.exit_code == 2, res.stderr
    assert "--exclude-silent" in res.stderr and res.stderr.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# 6. eb is a signed bias: checks and comparisons use |eb|


def test_fail_above_eb_checks_the_size_of_the_bias():
    from hrtfeval.gates import apply_fail_above
    from hrtfeval.scoring import ScoreOptions

    opts = ScoreOptions.build(["eb"], fail_above={"eb": 5.0})
    check = opts.threshold_map["eb"]
    assert check.passes(4.0, "eb") and check.passes(-4.0, "eb")
    assert not check.passes(-40.0, "eb") and not check.passes(40.0, "eb")
    assert check.to_spec("eb")["rule"] == "passes when |value| <= limit"
    assert ScoreOptions.build(["lsd"], fail_above={"lsd": 5.0}).threshold_map["lsd"].to_spec(
        "lsd"
    )["rule"] == "passes when value <= limit"
    doc = {
        "spec": {"metrics": ["eb"]},
        "scores": {"eb": {"unit": "deg", "overall": -40.0, "threshold": None, "passed": None}},
    }
    apply_fail_above(doc, {"eb": 5.0})
    assert doc["scores"]["eb"]["passed"] is False
    assert doc["spec"]["thresholds"]["eb"]["rule"] == "passes when |value| <= limit"


def test_regression_of_eb_compares_sizes():
    from hrtfeval.gates import _delta, regression_block

    r = _delta(-2.0, -30.0, 1.0, signed=True)  # the bias grew from 2 to 30 degrees
    assert r["delta"] == pytest.approx(28.0) and r["passed"] is False and r["of"] == "|value|"
    r = _delta(-30.0, 2.0, 1.0, signed=True)
    assert r["delta"] == pytest.approx(-28.0) and r["passed"] is True
    entries = [
        {"prediction": "a", "target": "a", "regression": {"eb": _delta(1.0, -10.0, 1.0, True)}},
        {"prediction": "b", "target": "b", "regression": {"eb": _delta(-1.0, 10.0, 1.0, True)}},
    ]
    agg = regression_block(entries, "base.json", {"eb": 1.0})["aggregate"]["eb"]
    assert agg["delta"] == pytest.approx(9.0) and agg["passed"] is False


def test_compare_treats_a_larger_bias_as_worse():
    from hrtfeval.compare import compare_documents

    def doc(values):
        d = {
            "spec": {"kind": "batch", "metrics": ["eb"], "thresholds": {}, "pairs_total": 8},
            "pairs": [],
        }
        for i, v in enumerate(values):
            d["pairs"].append(
                {
                    "prediction": f"s{i}.sofa",
                    "target": f"s{i}.sofa",
                    "spec": {"directions": {"matched": 10}},
                    "scores": {"eb": {"unit": "deg", "overall": v}},
                }
            )
        return d

    a = doc([-1.0, 1.0, -2.0, 2.0, -1.5, 1.5, -0.5, 0.5])
    b = doc([-30.0, -31.0, -32.0, -33.0, -34.0, -35.0, -36.0, -37.0])
    out = compare_documents(a, b, ("a.json", "b.json"), n_resamples=200)["metrics"]["eb"]
    assert out["worse"] == 8 and out["mean_diff"] > 25


# ---------------------------------------------------------------------------------------------
# 3. --baseline: every number-changing option is compared, presence included; 4. direction
# counts and baselines without the run's pairs


def score(*args, code=None):
    res = runner.invoke(app, ["score", *map(str, args), "--device", "cpu", "-q"])
    if code is not None:
        assert res.exit_code == code, (args, res.stderr)
    return res


@pytest.fixture(scope="module")
def baselines(pair):
    out = {}
    single = (pair / "P" / "s0.sofa", pair / "T" / "s0.sofa")
    batch = (pair / "P", pair / "T")
    for kind, (p, t) in (("single", single), ("batch", batch)):
        out[kind, "spectral"] = pair / f"{kind}-spectral.json"
        score(p, t, "-m", "lsd", "-m", "itd", "-o", out[kind, "spectral"], code=0)
        out[kind, "qe"] = pair / f"{kind}-qe.json"
        score(p, t, "-m", "qe", "-o", out[kind, "qe"], code=0)
    return out


SPECTRAL_OPTIONS = [
    (["--ignore-delay"], "ignore_delay"),
    (["--exclude", "{root}/excl.csv"], "exclude"),
    (["--exclude-silent"], "exclude_silent"),
    (["--allow-missing", "--max-missing", "0.9"], "max_missing"),
    (["--weighting", "area"], "weighting"),
    (["--bands", "octave"], "bands"),
    (["--region", "upper"], "regions"),
]
QE_OPTIONS = [
    (["--lateral", "30"], "localisation"),
    (["--sensitivity", "0.3"], "localisation"),
    (["--no-dtf"], "localisation"),
]


@pytest.mark.parametrize("kind", ["single", "batch"])
@pytest.mark.parametrize("extra,key", SPECTRAL_OPTIONS + QE_OPTIONS)
def test_baseline_with_other_options_is_refused(pair, baselines, kind, extra, key):
    extra = [e.format(root=pair) for e in extra]
    metrics = ["-m", "qe"] if key == "localisation" else ["-m", "lsd", "-m", "itd"]
    base = baselines[kind, "qe" if key == "localisation" else "spectral"]
    p, t = (
        (pair / "P" / "s0.sofa", pair / "T" / "s0.sofa")
        if kind == "single"
        else (pair / "P", pair / "T")
    )
    res = score(p, t, *metrics, *extra, "--baseline", base)
    assert res.exit_code == 2, res.stderr
    assert key in res.stderr and res.stderr.count("\n") == 1, res.stderr
    if extra[0] == "--lateral":
        return  # (this small grid has too few directions near 30 deg to score qe there)
    # The same options on both sides are compared.
    same = pair / f"same-{kind}-{key}.json"
    score(p, t, *metrics, *extra, "-o", same, code=0)
    score(p, t, *metrics, *extra, "--baseline", same, "--max-regression", metrics[1] + "=0", code=0)


def test_baseline_over_more_directions_is_refused(pair, baselines, tmp_path):
    pos, ref, pred = synth.make_pair(60, n_taps=128)
    (tmp_path / "PH").mkdir()
    synth.write_sofa(tmp_path / "PH" / "s0.sofa", pred[:30], pos[:30], 48000)
    for kind, p, t in (
        ("single", tmp_path / "PH" / "s0.sofa", pair / "T" / "s0.sofa"),
        ("batch", tmp_path / "PH", pair / "T"),
    ):
        # A model that predicts half the directions must not "pass" against a full baseline.
        base = pair / f"{kind}-missing.json"
        score(*((pair / "P" / "s0.sofa", pair / "T" / "s0.sofa") if kind == "single"
                else (pair / "P", pair / "T")),
              "-m", "lsd", "--allow-missing", "--max-missing", "0.9", "-o", base, code=0)
        res = score(p, t, "-m", "lsd", "--allow-missing", "--max-missing", "0.9",
                    "--baseline", base, "--max-regression", "lsd=0.01")
        assert res.exit_code == 2, res.stderr
        assert "directions.matched" in res.stderr and "s0.sofa" in res.stderr, res.stderr


def test_baseline_without_the_runs_pairs_is_an_error(pair, baselines, tmp_path):
    # A batch run against a single-pair document of other files: nothing is compared.
    res = score(pair / "P", pair / "T", "-m", "lsd", "-m", "itd",
                "--baseline", baselines["single", "spectral"], "--max-regression", "lsd=0.5")
    assert res.exit_code == 2, res.stderr
    assert "none of the run's 1 scored pair" in res.stderr and "single-spectral.json" in res.stderr
    # A single-pair run against a batch baseline that does not have its files.
    other = tmp_path / "other.sofa"
    pos, ref, pred = synth.make_pair(60, n_taps=128)
    synth.write_sofa(other, ref, pos, 48000)
    res = score(pair / "P" / "s0.sofa", other, "-m", "lsd", "-m", "itd",
                "--baseline", baselines["batch", "spectral"])
    assert res.exit_code == 2, res.stderr
    assert "batch-spectral.json" in res.stderr


# ---------------------------------------------------------------------------------------------
# 8. merge errors name the documents


def test_merge_errors_name_the_documents(baselines):
    from hrtfeval.batch import merge_documents
    from hrtfeval.errors import HrtfevalError

    doc = json.loads(baselines["batch", "spectral"].read_text())

    def copy(**spec):
        d = json.loads(json.dumps(doc))
        d["spec"].update(spec)
        return d

    with pytest.raises(HrtfevalError) as info:
        merge_documents([copy(shard="1/2"), copy(shard=None)], ["one.json", "two.json"])
    assert "one.json" in str(info.value) and "two.json" in str(info.value)
    with pytest.raises(HrtfevalError) as info:
        merge_documents([copy(shard="1/2"), copy(shard="2/3")], ["one.json", "two.json"])
    assert "one.json: 1/2" in str(info.value) and "two.json: 2/3" in str(info.value)
    a, b = copy(shard="1/2", pairs_total=2), copy(shard="2/2", pairs_total=2)
    b["pairs"][0]["prediction"] = b["pairs"][0]["reference"] = b["pairs"][0]["target"] = "s1.sofa"
    a["regression"] = {"baseline": "old.json", "max": {"lsd": 0.1}}
    with pytest.raises(HrtfevalError) as info:
        merge_documents([a, b], ["one.json", "two.json"])
    text = str(info.value)
    assert "one.json: baseline old.json" in text and "two.json: no baseline" in text


# ---------------------------------------------------------------------------------------------
# 9. one home: weighting schemes, row selection


def test_weighting_schemes_have_one_home():
    # ScoreOptions and the weights module check --weighting against the one list of schemes.
    from hrtfeval import constants, weights

    assert weights.SCHEMES is constants.WEIGHTINGS
    with pytest.raises(ValueError, match="--weighting must be one of 'none', 'area'; got 'volume'"):
        ScoreOptions.build(["lsd"], weighting="volume")
    with pytest.raises(ValueError, match="--weighting"):
        weights.check_scheme("volume")
    assert ScoreOptions.build(["lsd"], weighting=" Area ").weighting == "area"


def test_apply_exclude_keeps_the_silent_mask_in_step(pair):
    from hrtfeval.regions import apply_exclude
    from hrtfeval.scoring import load_aligned

    opts = ScoreOptions.build(["lsd"])
    aligned = load_aligned(str(pair / "P" / "s0.sofa"), str(pair / "T" / "s0.sofa"), opts)
    for s in (aligned.prediction, aligned.reference):
        s.silent_mask()
    assert aligned.prediction.silent is not None
    out = apply_exclude(aligned, str(pair / "excl.csv"), opts.tolerance_deg)
    for s in (out.prediction, out.reference):
        assert s.silent is not None and s.silent.shape[0] == s.data.shape[0] == 55
