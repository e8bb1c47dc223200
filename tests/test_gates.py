"""CI gates: baseline regression (up and down), exit codes, JUnit XML, JSON lines documents."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError
from hrtfeval.gates import (
    Baseline,
    annotate_pair,
    exit_code,
    junit_cases,
    junit_xml,
    load_document,
    regression_block,
)

runner = CliRunner()
FS = 48000


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def score(*args, code=0, fmt="json"):
    # --workers only for a batch: for one pair it is a usage error (issue 13)
    workers = ["--workers", "0"] if "--pairs" in map(str, args) or Path(args[0]).is_dir() else []
    result = invoke("score", *args, "--format", fmt, "--device", "cpu", *workers)
    assert code is None or result.exit_code == code, result.stderr
    return json.loads(result.stdout) if fmt == "json" else result


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    """Four pairs under pred/ and ref/."""
    root = tmp_path_factory.mktemp("gates")
    positions = synth.sphere_grid(40)
    for side in ("pred", "ref"):
        (root / side).mkdir()
    for i in range(4):
        ref = synth.spherical_head_hrirs(positions, FS, 128, seed=i)
        synth.write_sofa(root / "ref" / f"p{i}.sofa", ref, positions, FS)
        synth.write_sofa(root / "pred" / f"p{i}.sofa", synth.degrade(ref, seed=i), positions, FS)
    return root


@pytest.fixture(scope="module")
def run(sets) -> dict:
    return score(sets / "pred", sets / "ref", "-m", "lsd", "-m", "itd")


def baseline_file(tmp_path, doc, shift=None, drop=None) -> Path:
    """``doc`` with ``shift[i]`` subtracted from pair i's lsd (so the new run is worse by it),
    without pair ``drop``."""
    base = copy.deepcopy(doc)
    for i, delta in (shift or {}).items():
        base["pairs"][i]["scores"]["lsd"]["overall"] -= delta
    if drop is not None:
        del base["pairs"][drop]
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(base))
    return path


def test_same_run_as_baseline_has_zero_deltas(sets, run, tmp_path):
    path = baseline_file(tmp_path, run)
    doc = score(
        sets / "pred",
        sets / "ref",
        "-m",
        "lsd",
        "-m",
        "itd",
        "--baseline",
        path,
        "--max-regression",
        "lsd=0",
        "--max-regression",
        "itd=0",
    )
    for e in doc["pairs"]:
        assert e["regression"]["lsd"] == {
            "baseline": e["scores"]["lsd"]["overall"],
            "value": e["scores"]["lsd"]["overall"],
            "delta": 0.0,
            "max": 0.0,
            "passed": True,
        }
        assert e["passed"] is True
    reg = doc["regression"]
    assert reg["baseline"] == str(path) and reg["max"] == {"lsd": 0.0, "itd": 0.0}
    assert reg["aggregate"]["lsd"]["delta"] == 0.0 and reg["aggregate"]["lsd"]["n"] == 4
    assert reg["missing"] == [] and reg["regressed"] == [] and reg["passed"] is True
    assert list(doc)[-2:] == ["regression", "counts"]


@pytest.mark.parametrize("limit,code", [(0.49, 1), (0.51, 0)])
def test_one_pair_regression_fails_exactly_above_the_limit(sets, run, tmp_path, limit, code):
    path = baseline_file(tmp_path, run, shift={1: 0.5})
    doc = score(
        sets / "pred",
        sets / "ref",
        "-m",
        "lsd",
        "-m",
        "itd",
        "--baseline",
        path,
        "--max-regression",
        f"lsd={limit}",
        code=code,
    )
    delta = doc["pairs"][1]["regression"]["lsd"]["delta"]
    assert delta == pytest.approx(0.5, abs=1e-12)
    assert doc["pairs"][1]["passed"] is (code == 0)
    assert doc["counts"]["failed"] == (1 if code else 0)
    # the mean grew by 0.5 / 4, below both limits
    assert doc["regression"]["aggregate"]["lsd"]["delta"] == pytest.approx(0.125, abs=1e-12)
    assert doc["regression"]["passed"] is True
    if code:
        assert doc["regression"]["regressed"] == [
            {"prediction": "p1.sofa", "target": "p1.sofa", "metrics": ["lsd"]}
        ]


@pytest.mark.parametrize("limit,code", [(0.15, 0), (0.05, 1)])
def test_aggregate_mean_regression(sets, run, tmp_path, limit, code):
    """Every pair +0.1: per-pair checks at the limit decide nothing, the mean check does."""
    path = baseline_file(tmp_path, run, shift={i: 0.1 for i in range(4)})
    result = score(
        sets / "pred",
        sets / "ref",
        "-m",
        "lsd",
        "--baseline",
        path,
        "--max-regression",
        f"lsd={limit}",
        code=code,
        fmt="table",
    )
    assert "Δlsd" in result.stdout and "vs baseline" in result.stdout
    assert ("FAIL" in result.stdout) is bool(code)


def test_improvement_passes_and_missing_pairs_are_reported(sets, run, tmp_path):
    path = baseline_file(tmp_path, run, shift={0: -1.0, 2: -2.0}, drop=3)
    doc = score(
        sets / "pred", sets / "ref", "-m", "lsd", "--baseline", path, "--max-regression", "lsd=0"
    )
    assert doc["pairs"][0]["regression"]["lsd"]["delta"] == pytest.approx(-1.0)
    assert doc["pairs"][3]["regression"] is None and doc["pairs"][3]["passed"] is None
    assert doc["regression"]["missing"] == [{"prediction": "p3.sofa", "target": "p3.sofa"}]
    assert doc["regression"]["aggregate"]["lsd"]["n"] == 3
    table = score(sets / "pred", sets / "ref", "-m", "lsd", "--baseline", path, fmt="table")
    assert "not in the baseline (1): p3.sofa" in table.stdout


def test_regression_usage_errors(sets, run, tmp_path):
    path = baseline_file(tmp_path, run)
    result = invoke("score", sets / "pred", sets / "ref", "--max-regression", "lsd=1")
    assert result.exit_code == 2 and "needs --baseline" in result.stderr
    result = invoke(
        "score",
        sets / "pred",
        sets / "ref",
        "-m",
        "lsd",
        "-m",
        "ild",
        "--baseline",
        path,
        "--max-regression",
        "ild=1",
    )
    assert result.exit_code == 2 and "baseline has no ild" in result.stderr
    result = invoke(
        "score", sets / "pred", sets / "ref", "--baseline", path, "--max-regression", "itd=1"
    )
    assert result.exit_code == 2 and "not scored" in result.stderr
    result = invoke("score", sets / "pred", sets / "ref", "--baseline", tmp_path / "none.json")
    assert result.exit_code == 2 and "not found" in result.stderr


def test_single_pair_baseline_and_junit(sets, tmp_path):
    pred, ref = sets / "pred" / "p0.sofa", sets / "ref" / "p0.sofa"
    single = score(pred, ref, "-m", "lsd")
    single["scores"]["lsd"]["overall"] -= 0.3
    path = tmp_path / "old.json"
    path.write_text(json.dumps(single))
    report = tmp_path / "junit.xml"
    doc = score(
        pred,
        ref,
        "-m",
        "lsd",
        "--baseline",
        path,
        "--max-regression",
        "lsd=0.2",
        "--junit",
        report,
        code=1,
    )
    assert doc["regression"]["lsd"]["delta"] == pytest.approx(0.3)
    assert doc["passed"] is False
    suite = ET.parse(report).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "1", "0")
    score(pred, ref, "-m", "lsd", "--baseline", path, "--max-regression", "lsd=0.4")
    table = score(
        pred,
        ref,
        "-m",
        "lsd",
        "--baseline",
        path,
        "--max-regression",
        "lsd=0.2",
        fmt="table",
        code=1,
    )
    assert "lsd: " in table.stdout and "FAIL" in table.stdout


def test_junit_counts_failures_and_errors(tmp_path, sets):
    root = tmp_path / "j"
    for side in ("pred", "ref"):
        (root / side).mkdir(parents=True)
        for i in range(3):
            (root / side / f"p{i}.sofa").write_bytes((sets / side / f"p{i}.sofa").read_bytes())
    (root / "pred" / "p1.sofa").write_bytes(b"not a sofa file")
    (root / "ref" / "lonely.sofa").write_bytes(b"")
    doc = score(root / "pred", root / "ref", "-m", "lsd", "-m", "itd", code=2)
    scored = sorted(
        (e["scores"]["lsd"]["overall"], e["prediction"]) for e in doc["pairs"] if "scores" in e
    )
    limit, worst = scored[0][0], scored[-1][1]  # the worse of the two scored pairs fails
    report = tmp_path / "report.xml"
    doc = score(
        root / "pred",
        root / "ref",
        "-m",
        "lsd",
        "-m",
        "itd",
        "--fail-above",
        f"lsd={limit}",
        "--fail-above",
        "itd=1000",
        "--junit",
        report,
        code=2,
    )
    root_el = ET.parse(report).getroot()
    cases = root_el.findall(".//testcase")
    # 2 scored pairs x 2 checks, 1 errored pair, 1 unmatched file
    assert len(cases) == 6 == int(root_el.get("tests"))
    assert len(root_el.findall(".//testcase/failure")) == 1 == int(root_el.get("failures"))
    assert len(root_el.findall(".//testcase/error")) == 2 == int(root_el.get("errors"))
    failure = root_el.find(".//testcase/failure/..")
    assert failure.get("classname") == worst and failure.get("name").startswith("lsd <=")
    errored = [c for c in cases if c.find("error") is not None]
    assert {c.get("classname") for c in errored} == {"p1.sofa", "lonely.sofa"}


def test_junit_of_a_passing_run_without_checks(run):
    cases = junit_cases(run)
    assert [c["name"] for c in cases] == ["score"] * 4
    assert all(c["outcome"] == "pass" for c in cases)
    ET.fromstring(junit_xml(run))


def test_exit_code_rules(run):
    doc = copy.deepcopy(run)
    assert exit_code(doc) == 0
    doc["counts"]["failed"] = 1
    assert exit_code(doc) == 1
    doc["counts"]["unmatched"] = 1
    assert exit_code(doc) == 2
    doc["spec"]["ignore_unmatched"] = True
    assert exit_code(doc) == 1
    doc["counts"]["failed"] = 0
    doc["regression"] = {"passed": False}
    assert exit_code(doc) == 1
    doc["counts"]["errors"] = 1
    assert exit_code(doc) == 2
    assert exit_code({"scores": {}, "passed": False}) == 1


def test_baseline_lookup_falls_back_on_the_target(run):
    base = Baseline(run, "old")
    other = copy.deepcopy(run["pairs"][2])
    other["prediction"] = "model_v2/p2.sofa"
    annotate_pair(other, base, {"lsd": 0.0})
    assert other["regression"]["lsd"]["delta"] == 0.0
    block = regression_block([other], "old", {"lsd": 0.0})
    assert block["aggregate"]["lsd"]["n"] == 1 and block["passed"] is True


def test_load_document_reads_json_lines(tmp_path, run):
    lines = [json.dumps(e) for e in run["pairs"]]
    lines.append(json.dumps({k: v for k, v in run.items() if k != "pairs"}))
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert load_document(path) == run
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(HrtfevalError, match="no final summary"):
        load_document(path)
    path.write_text('{"something": 1}')
    with pytest.raises(HrtfevalError, match="not a score document"):
        load_document(path)


def test_merge_recomputes_regression_and_accepts_a_baseline(sets, run, tmp_path):
    path = baseline_file(tmp_path, run, shift={0: 0.5})
    shards = []
    for k in (1, 2):
        doc = score(
            sets / "pred",
            sets / "ref",
            "-m",
            "lsd",
            "-m",
            "itd",
            "--shard",
            f"{k}/2",
            "--baseline",
            path,
            "--max-regression",
            "lsd=0.2",
            code=1 if k == 1 else 0,
        )
        shards.append(tmp_path / f"s{k}.json")
        shards[-1].write_text(json.dumps(doc))
    whole = score(
        sets / "pred",
        sets / "ref",
        "-m",
        "lsd",
        "-m",
        "itd",
        "--baseline",
        path,
        "--max-regression",
        "lsd=0.2",
        code=1,
    )
    merged = invoke("merge", *shards, "--format", "json")
    assert merged.exit_code == 1
    assert json.loads(merged.stdout) == whole
    # a looser limit given to merge replaces the shards' comparison
    merged = invoke(
        "merge", *shards, "--format", "json", "--baseline", path, "--max-regression", "lsd=0.6"
    )
    assert merged.exit_code == 0
    assert json.loads(merged.stdout)["regression"]["max"] == {"lsd": 0.6}


def test_merge_fail_above_on_a_preset_metric_says_which_threshold_it_replaced(sets, tmp_path):
    doc = tmp_path / "lap.json"
    run = invoke("score", sets / "pred", sets / "ref", "--preset", "lap", "-o", doc, "-j", "0")
    assert run.exit_code in (0, 1), run.output
    merged = invoke("merge", doc, "--fail-above", "lsd=50", "-f", "json")
    lsd = json.loads(merged.stdout)["spec"]["thresholds"]["lsd"]
    assert lsd["limit"] == 50 and lsd["replaces"]["source"] == "lap"
    assert lsd["replaces"]["limit"] == 7.4
# ----------------------------------------------------------------------------------------------
# Malformed documents: one line, exit 2, naming the file and what is wrong


def _malformed(run) -> dict[str, tuple[str, str]]:
    """name -> (file text, what the error must say)."""

    def edited(edit):
        doc = copy.deepcopy(run)
        edit(doc)
        return json.dumps(doc)

    def set_overall(value):
        return edited(lambda d: d["pairs"][1]["scores"]["lsd"].__setitem__("overall", value))

    nested = '{"spec": {}, "pairs": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return {
        "metric dict": ('{"lsd": {}}', "not a score document"),
        "metric number": ('{"lsd": 5}', "not a score document"),
        "overall null": (set_overall(None), "pairs[1].scores.lsd.overall is null"),
        "overall string": (set_overall("0.5"), "pairs[1].scores.lsd.overall is a string"),
        "400 digits": (set_overall(10**400), "pairs[1].scores.lsd.overall is an integer of 401"),
        "spec string": (edited(lambda d: d.__setitem__("spec", "lsd")), "spec is a string"),
        "no spec": (edited(lambda d: d.pop("spec")), "spec is missing"),
        "pairs of ints": (edited(lambda d: d.__setitem__("pairs", [1, 2])), "pairs[0] is a number"),
        "pairs object": (edited(lambda d: d.__setitem__("pairs", {})), "pairs is an object"),
        "scores list": (
            edited(lambda d: d["pairs"][0].__setitem__("scores", [1])),
            "pairs[0].scores is a list",
        ),
        "no target": (
            edited(lambda d: [d["pairs"][2].pop(k) for k in ("reference", "target")]),
            "pairs[2].target is missing",
        ),
        "bad shard": (edited(lambda d: d["spec"].__setitem__("shard", "x")), "spec.shard"),
        "regression list": (
            edited(lambda d: d["pairs"][0].__setitem__("regression", [])),
            "pairs[0].regression is a list",
        ),
        "unmatched number": (edited(lambda d: d.__setitem__("unmatched", 3)), "unmatched is a"),
        "deeply nested": (nested, "nested too deeply"),
        "pair twice": (
            edited(lambda d: d["pairs"].append(copy.deepcopy(d["pairs"][1]))),
            "pairs[4] repeats the pair of pairs[1] (p1.sofa)",
        ),
        "NaN": (set_overall(float("nan")), "holds the number NaN"),
        "Infinity": (set_overall(float("inf")), "holds the number Infinity"),
        "-Infinity": (set_overall(float("-inf")), "holds the number -Infinity"),
    }


MALFORMED = (
    "metric dict",
    "metric number",
    "overall null",
    "overall string",
    "400 digits",
    "spec string",
    "no spec",
    "pairs of ints",
    "pairs object",
    "scores list",
    "no target",
    "bad shard",
    "regression list",
    "unmatched number",
    "deeply nested",
    "pair twice",
    "NaN",
    "Infinity",
    "-Infinity",
)


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_documents_are_one_line_errors(case, run, sets, tmp_path):
    text, expected = _malformed(run)[case]
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(HrtfevalError, match=re.escape(expected)) as info:
        load_document(path)
    assert info.value.file == str(path)
    pred, ref = sets / "pred" / "p0.sofa", sets / "ref" / "p0.sofa"
    for args in (("merge", path), ("score", pred, ref, "--baseline", path)):
        result = invoke(*args, "--format", "json")
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), result.stderr
        assert expected in lines[0]


def test_malformed_json_lines_name_the_line(run, tmp_path):
    lines = [json.dumps(e) for e in run["pairs"]]
    lines[1] = lines[1].replace(str(run["pairs"][1]["scores"]["lsd"]["overall"]), "NaN", 1)
    lines.append(json.dumps({k: v for k, v in run.items() if k != "pairs"}))
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HrtfevalError, match=r"holds the number NaN \(line 2\)"):
        load_document(path)


# ----------------------------------------------------------------------------------------------
# A baseline scored with other definitions is refused, naming the fields


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (("--freq-max", "16000"), "band_hz: [20.0, 16000.0] in the baseline, [20.0, 20000.0] here"),
        (("--reduction", "rms"), 'reduction: "rms" in the baseline, "mean" here'),
        (("--epsilon", "1e-6"), "epsilon: 1e-06 in the baseline, 1e-12 here"),
        (("--itd-method", "threshold"), 'itd_method: "threshold" in the baseline'),
        (("--n-fft", "256"), "n_fft: 256 in the baseline, null here"),
        (("--length-policy", "pad"), "length_policy"),
        (("--position-tolerance", "1"), "tolerance_deg: 1.0 in the baseline, 0.1 here"),
        (("--preset", "lap"), 'preset: "lap" in the baseline, null here'),
    ],
)
def test_baseline_of_other_definitions_is_refused(sets, tmp_path, options, field):
    old = score(sets / "pred", sets / "ref", "-m", "lsd", "-m", "itd", *options, code=None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    for pred, ref in ((sets / "pred", sets / "ref"), (sets / "pred/p0.sofa", sets / "ref/p0.sofa")):
        result = invoke(
            "score", pred, ref, "-m", "lsd", "-m", "itd", "--baseline", path, "--format", "json"
        )
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert result.stderr.startswith(f"Error: {path}: the baseline was scored with other defi")
        assert field in result.stderr and len(result.stderr.splitlines()) == 1


def test_single_pair_baseline_of_other_definitions_is_refused(sets, tmp_path):
    pred, ref = sets / "pred" / "p0.sofa", sets / "ref" / "p0.sofa"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(score(pred, ref, "--reduction", "rms")))
    result = invoke("score", sets / "pred", sets / "ref", "--baseline", path)
    assert result.exit_code == 2 and 'reduction: "rms" in the baseline' in result.stderr
    # per pair: the FFT length a single-pair baseline used
    path.write_text(json.dumps(score(pred, ref, "--n-fft", "256")))
    result = invoke("score", pred, ref, "--baseline", path, "--format", "json")
    assert result.exit_code == 2, result.output
    assert "n_fft: 256 in the baseline, 128 here" in result.stderr
    assert "bins: " in result.stderr


def test_baseline_differing_only_in_run_facts_is_compared(sets, tmp_path):
    # another device name, shard, thresholds, metric list, notes and source: same numbers
    old = score(
        sets / "pred", sets / "ref", "-m", "lsd", "--shard", "1/2", "--fail-above", "lsd=100"
    )
    old["spec"]["device"] = "cuda:0"
    old["spec"]["notes"] = ["scored elsewhere"]
    old["spec"]["source"] = {"prediction_dir": "/elsewhere/pred", "target_dir": "/elsewhere/ref"}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    doc = score(sets / "pred", sets / "ref", "-m", "lsd", "-m", "ild", "--baseline", path)
    assert doc["pairs"][0]["regression"]["lsd"]["delta"] == 0.0
    # definitions of a metric the baseline does not score do not matter
    doc = score(
        sets / "pred",
        sets / "ref",
        "-m",
        "lsd",
        "-m",
        "itd",
        "--itd-method",
        "threshold",
        "--baseline",
        path,
    )
    assert doc["regression"]["aggregate"]["lsd"]["n"] == 2


def test_merge_refuses_a_baseline_of_other_definitions(sets, run, tmp_path):
    old = score(sets / "pred", sets / "ref", "-m", "lsd", "--freq-max", "16000")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    shard = tmp_path / "all.json"
    shard.write_text(json.dumps(run))
    result = invoke("merge", shard, "--baseline", path)
    assert result.exit_code == 2 and "band_hz: [20.0, 16000.0] in the baseline" in result.stderr


def test_one_list_of_the_keys_that_change_numbers():
    from hrtfeval.batch import RUN_SPEC_KEYS, batch_spec
    from hrtfeval.gates import SCORING_SPEC_KEYS
    from hrtfeval.scoring import ScoreOptions

    from hrtfeval.gates import NOT_SCORING_SPEC_KEYS, scoring_spec

    every_option = ScoreOptions.build(
        ["lsd", "itd"],
        allow_missing=True,
        ignore_delay=True,
        exclude="x.csv",
        exclude_silent=True,
        weighting="area",
        bands="octave",
        regions=("upper",),
        region_tolerance=5.0,
    )
    for options in (every_option, ScoreOptions.build(["qe"], laterals=(0.0, 30.0))):
        spec = batch_spec(options, "cpu", {}, shard=None, pairs_total=1, ignore_unmatched=False)
        # Every key of a batch spec is either in the one list or known not to change numbers.
        assert set(scoring_spec(spec)) - {"definitions"} <= set(SCORING_SPEC_KEYS)
        assert not set(SCORING_SPEC_KEYS) & set(NOT_SCORING_SPEC_KEYS)
    spec = batch_spec(every_option, "cpu", {}, shard=None, pairs_total=1, ignore_unmatched=False)
    assert set(SCORING_SPEC_KEYS) - {"localisation"} <= set(spec)
    assert not set(SCORING_SPEC_KEYS) & set(RUN_SPEC_KEYS)


def test_baseline_pair_with_other_delay_handling_or_bins_is_refused(sets, run, tmp_path):
    for key, value, field in (
        ("reference", {"delay_applied": True}, "reference.delay_applied: true in the baseline"),
        ("bins", 3, "bins: 3 in the baseline"),
    ):
        old = copy.deepcopy(run)
        spec = old["pairs"][2]["spec"]
        spec[key] = {**spec[key], **value} if isinstance(value, dict) else value
        path = tmp_path / "old.json"
        path.write_text(json.dumps(old))
        result = invoke("score", sets / "pred", sets / "ref", "-m", "lsd", "--baseline", path)
        assert result.exit_code == 2 and result.stdout == ""
        assert "the baseline's pair p2.sofa, p2.sofa was scored with other definitions" in (
            result.stderr
        )
        assert field in result.stderr


def test_baseline_with_other_rules_in_its_definitions_is_refused(sets, run, tmp_path):
    # e.g. an older hrtfeval that scored the Nyquist bin: same options, another bins rule
    old = copy.deepcopy(run)
    old["spec"]["definitions"]["lsd"] = old["spec"]["definitions"]["lsd"].replace(
        "f_k < fs/2", "f_k <= fs/2"
    )
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    result = invoke("score", sets / "pred", sets / "ref", "-m", "lsd", "--baseline", path)
    assert result.exit_code == 2 and "definitions.lsd: " in result.stderr
    pred, ref = sets / "pred" / "p0.sofa", sets / "ref" / "p0.sofa"
    single = score(pred, ref, "-m", "lsd", "-m", "itd")
    single["spec"]["definitions"]["itd"] = "another estimator"
    path.write_text(json.dumps(single))
    result = invoke("score", pred, ref, "-m", "itd", "--baseline", path)
    assert result.exit_code == 2 and 'definitions.itd: "another estimator"' in result.stderr
    score(pred, ref, "-m", "lsd", "--baseline", path)  # lsd alone: the itd rule does not matter
