"""Batch scoring: pairing, shards, the streaming runner, outputs, exit codes and merge.

The sets are tiny (50 directions x 2 ears x 128 taps) and built in tmp with hrtfeval.synth;
runs go through the CLI in this process with ``--workers 0``, except the two tests of the
worker pool.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.batch import (
    EXPECTED_TARGETS_FILE,
    Pair,
    merge_documents,
    pair_directories,
    parse_shard,
    read_pairs_csv,
    scan_directory,
    score_stream,
    select_shard,
)
from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError
from hrtfeval.gates import load_document
from hrtfeval.scoring import ScoreOptions

runner = CliRunner()
FS = 48000
# Five good pairs: nested folders, .sofa and .pt mixed (the .pt prediction pairs with a .sofa).
GOOD = {"s0": "sofa", "s1": "pt", "sub/s2": "sofa", "sub/deeper/s3": "sofa", "sub/s4": "pt"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_json(*args, code=0):
    device = ("--device", "cpu") if args[0] == "score" else ()
    result = invoke(*args, "--format", "json", *device)
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout), result


def write_set(root: Path, seed_offset: int = 0) -> None:
    """GOOD pairs under root/pred and root/ref."""
    positions = synth.sphere_grid(50)
    for i, (stem, ext) in enumerate(GOOD.items()):
        ref = synth.spherical_head_hrirs(positions, FS, 128, seed=i)
        pred = synth.degrade(ref, seed=i + seed_offset)
        for side in ("pred", "ref"):
            (root / side / stem).parent.mkdir(parents=True, exist_ok=True)
        synth.write_sofa(root / "ref" / f"{stem}.sofa", ref, positions, FS)
        if ext == "pt":
            synth.write_pt(root / "pred" / f"{stem}.pt", pred, positions, FS)
        else:
            synth.write_sofa(root / "pred" / f"{stem}.sofa", pred, positions, FS)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    write_set(root)
    # Hidden files and other extensions are not paired.
    (root / "pred" / ".cache").mkdir()
    (root / "pred" / ".cache" / "s0.sofa").write_bytes(b"x")
    (root / "pred" / "notes.txt").write_text("not an HRTF")
    return root


@pytest.fixture(scope="module")
def messy(tmp_path_factory, clean) -> Path:
    """The clean set plus one corrupt prediction (in the middle of the sorted list) and one
    prediction without a reference."""
    root = tmp_path_factory.mktemp("messy")
    shutil.copytree(clean / "pred", root / "pred")
    shutil.copytree(clean / "ref", root / "ref")
    (root / "pred" / "s1b.sofa").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # cut-off HDF5
    shutil.copy(root / "ref" / "s0.sofa", root / "ref" / "s1b.sofa")
    shutil.copy(root / "pred" / "s0.sofa", root / "pred" / "orphan.sofa")
    return root


# ----------------------------------------------------------------------------------------------
# Pairing and shards


def test_pairs_by_relative_path_without_extension(clean):
    found = scan_directory(clean / "pred")
    assert found == {
        "s0": "s0.sofa",
        "s1": "s1.pt",
        "sub/s2": "sub/s2.sofa",
        "sub/deeper/s3": "sub/deeper/s3.sofa",
        "sub/s4": "sub/s4.pt",
    }
    pl = pair_directories(clean / "pred", clean / "ref")
    assert [(p.prediction, p.target) for p in pl.pairs] == sorted(
        (f"{k}.{v}", f"{k}.sofa") for k, v in GOOD.items()
    )
    assert pl.unmatched_prediction == pl.unmatched_target == []
    assert Path(pl.pairs[0].prediction_path).is_file()


def test_unmatched_files_are_listed(messy):
    pl = pair_directories(messy / "pred", messy / "ref")
    assert pl.unmatched_prediction == ["orphan.sofa"]
    assert pl.unmatched_target == []
    assert len(pl.pairs) == len(GOOD) + 1


def _tree(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def test_a_list_of_expected_references_scopes_the_unmatched_check(tmp_path):
    """predictions/hrtfeval-targets.txt (e.g. one split of a database) names the references
    the predictions cover: others are out of scope, a named one without a prediction is
    still unmatched."""
    refs = _tree(tmp_path / "ref", ["a.sofa", "b.sofa", "c.sofa", "sub/d.sofa"])
    preds = _tree(tmp_path / "pred", ["a.pt", "sub/d.pt"])
    pl = pair_directories(preds, refs)
    assert pl.unmatched_target == ["b.sofa", "c.sofa"]  # no list: every reference is in scope
    (preds / EXPECTED_TARGETS_FILE).write_text(
        "# the test split\na\nb.sofa  # extension optional\n\nsub/d\n"
    )
    pl = pair_directories(preds, refs)
    assert [p.target for p in pl.pairs] == ["a.sofa", "sub/d.sofa"]
    assert pl.unmatched_target == ["b.sofa"]  # named, no prediction: still an error
    assert pl.source["targets_out_of_scope"] == 1  # c.sofa
    (preds / EXPECTED_TARGETS_FILE).write_text("a\nzzz\n")
    with pytest.raises(HrtfevalError, match="1 reference file.*zzz"):
        pair_directories(preds, refs)
    (preds / EXPECTED_TARGETS_FILE).write_text("# nothing\n\n")
    with pytest.raises(HrtfevalError, match="names no reference"):
        pair_directories(preds, refs)
    (preds / EXPECTED_TARGETS_FILE).unlink()
    os.mkfifo(preds / EXPECTED_TARGETS_FILE)
    with pytest.raises(HrtfevalError, match="FIFO"):
        pair_directories(preds, refs)


def test_same_name_with_two_extensions_is_an_error(tmp_path):
    (tmp_path / "a.sofa").write_bytes(b"")
    (tmp_path / "a.PT").write_bytes(b"")
    with pytest.raises(HrtfevalError, match="a.PT and a.sofa|a.sofa and a.PT"):
        scan_directory(tmp_path)


def test_pairs_csv(tmp_path, clean):
    sheet = tmp_path / "lists" / "pairs.csv"
    sheet.parent.mkdir()
    rel = Path("..") / ".." / clean.name
    sheet.write_text(
        "target,prediction\n"
        f"{clean / 'ref/s0.sofa'},{rel / 'pred/s1.pt'}\n\n"
        f"{clean / 'ref/s0.sofa'},{clean / 'pred/s0.sofa'}\n"
    )
    pl = read_pairs_csv(sheet)
    assert [p.prediction for p in pl.pairs] == sorted(
        [str(rel / "pred/s1.pt"), str(clean / "pred/s0.sofa")]
    )
    assert all(Path(p.prediction_path).exists() or "../" in p.prediction for p in pl.pairs)
    sheet.write_text("pred,ref\na,b\n")
    with pytest.raises(HrtfevalError, match="columns 'prediction' and 'reference'"):
        read_pairs_csv(sheet)
    sheet.write_text("prediction,target\na,b\na,b\n")
    with pytest.raises(HrtfevalError, match="row 3 repeats"):
        read_pairs_csv(sheet)


def test_pairs_csv_reference_column(tmp_path):
    """The project's word for the reference set is "reference": the column may be named so;
    "target" (the older name) means the same."""
    sheet = tmp_path / "pairs.csv"
    sheet.write_text("Prediction, Reference\nb.pt,y.sofa\na.pt,x.sofa\n")
    by_reference = read_pairs_csv(sheet)
    sheet.write_text("prediction,target\nb.pt,y.sofa\na.pt,x.sofa\n")
    assert read_pairs_csv(sheet).pairs == by_reference.pairs
    assert [(p.prediction, p.target) for p in by_reference.pairs] == [
        ("a.pt", "x.sofa"),
        ("b.pt", "y.sofa"),
    ]
    assert by_reference.pairs[0].target_path == str(tmp_path / "x.sofa")
    sheet.write_text("prediction,reference,target\na.pt,x.sofa,x.sofa\n")
    with pytest.raises(HrtfevalError, match="both 'reference' and 'target' columns") as err:
        read_pairs_csv(sheet)
    assert str(sheet) in str(err.value)
    sheet.write_text("prediction,reference\na.pt,\n")
    with pytest.raises(HrtfevalError, match="row 2 needs both a prediction and a reference"):
        read_pairs_csv(sheet)
    sheet.write_text("\n\n")
    with pytest.raises(HrtfevalError, match="expected a header 'prediction,reference'"):
        read_pairs_csv(sheet)


def test_shards_cover_every_pair_once():
    pairs = list(range(17))
    shards = [select_shard(pairs, k, 3) for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == pairs
    assert [len(s) for s in shards] == [6, 6, 5]
    assert parse_shard(" 2/3 ") == (2, 3)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        with pytest.raises(HrtfevalError, match="--shard"):
            parse_shard(bad)


# ----------------------------------------------------------------------------------------------
# Runs and exit codes


def test_clean_run_scores_every_pair_like_single_pair_score(clean):
    doc, result = run_json(
        "score", clean / "pred", clean / "ref", "-m", "lsd", "-m", "itd", "--workers", "0"
    )
    assert doc["counts"] == {"pairs": 5, "scored": 5, "errors": 0, "unmatched": 0, "failed": 0}
    assert doc["spec"]["kind"] == "batch" and doc["spec"]["pairs_total"] == 5
    assert doc["unmatched"] == {"prediction": [], "target": []}
    for entry in doc["pairs"]:
        assert set(entry) == {"prediction", "reference", "target", "spec", "scores", "passed"}
        single, _ = run_json(
            "score",
            clean / "pred" / entry["prediction"],
            clean / "ref" / entry["target"],
            "-m",
            "lsd",
            "-m",
            "itd",
        )
        assert entry["scores"] == single["scores"]
        assert entry["spec"]["n_samples"] == single["spec"]["n_samples"] == 128
    lsd = [e["scores"]["lsd"]["overall"] for e in doc["pairs"]]
    agg = doc["aggregate"]["lsd"]
    assert agg["unit"] == "dB" and agg["n"] == 5
    assert agg["mean"] == pytest.approx(np.mean(lsd), rel=1e-12)
    assert agg["median"] == pytest.approx(np.median(lsd), rel=1e-12)
    assert (agg["min"], agg["max"]) == (min(lsd), max(lsd))
    assert list(doc) == ["spec", "pairs", "unmatched", "aggregate", "counts"]


def test_corrupt_pair_is_reported_and_the_run_goes_on(messy):
    doc, result = run_json("score", messy / "pred", messy / "ref", "--workers", "0", code=2)
    assert doc["counts"] == {"pairs": 6, "scored": 5, "errors": 1, "unmatched": 1, "failed": 0}
    (bad,) = [e for e in doc["pairs"] if "error" in e]
    assert bad["prediction"] == "s1b.sofa"
    assert "s1b.sofa" in bad["error"] and "SOFA" in bad["error"]
    assert set(bad) == {"prediction", "reference", "target", "error"}
    assert doc["unmatched"] == {"prediction": ["orphan.sofa"], "target": []}
    assert "orphan.sofa" in result.stderr and "s1b.sofa" in result.stderr
    # --ignore-unmatched does not hide an error
    _, result = run_json(
        "score", messy / "pred", messy / "ref", "--workers", "0", "--ignore-unmatched", code=2
    )


def test_unmatched_gives_exit_2_unless_ignored(tmp_path, clean):
    shutil.copytree(clean / "pred", tmp_path / "pred")
    shutil.copytree(clean / "ref", tmp_path / "ref")
    shutil.copy(clean / "ref" / "s0.sofa", tmp_path / "ref" / "extra.sofa")
    doc, _ = run_json("score", tmp_path / "pred", tmp_path / "ref", "--workers", "0", code=2)
    assert doc["unmatched"] == {"prediction": [], "target": ["extra.sofa"]}
    doc, _ = run_json(
        "score", tmp_path / "pred", tmp_path / "ref", "--workers", "0", "--ignore-unmatched", code=0
    )
    assert doc["counts"]["unmatched"] == 1 and doc["spec"]["ignore_unmatched"] is True


@pytest.mark.parametrize(
    "args,message",
    [
        (["EMPTY", "EMPTY2"], "nothing to score"),
        (["PRED", "FILE"], "is a directory but REFERENCE is not"),
        (["PRED"], "needs PREDICTION and REFERENCE"),
        (["PRED", "REF", "--pairs", "x.csv"], "not both"),
        (["PRED", "REF", "--shard", "4/3"], "--shard"),
        (["FILE", "FILE", "--shard", "1/2"], "--shard are for batch runs"),
        (["PRED", "REF", "--format", "yaml"], "--format"),
    ],
)
def test_usage_errors_exit_2(tmp_path, clean, args, message):
    (tmp_path / "e1").mkdir()
    (tmp_path / "e2").mkdir()
    names = {
        "EMPTY": tmp_path / "e1",
        "EMPTY2": tmp_path / "e2",
        "PRED": clean / "pred",
        "REF": clean / "ref",
        "FILE": clean / "ref" / "s0.sofa",
    }
    result = invoke("score", *[names.get(a, a) for a in args], "--workers", "0")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and message in result.stderr


def test_fail_above_checks_every_pair(clean):
    doc, _ = run_json("score", clean / "pred", clean / "ref", "--workers", "0")
    values = sorted(e["scores"]["lsd"]["overall"] for e in doc["pairs"])
    limit = (values[2] + values[3]) / 2  # two pairs above
    doc, _ = run_json(
        "score",
        clean / "pred",
        clean / "ref",
        "--workers",
        "0",
        "--fail-above",
        f"lsd={limit}",
        code=1,
    )
    failed = [e["prediction"] for e in doc["pairs"] if e["passed"] is False]
    assert len(failed) == 2 and doc["counts"]["failed"] == 2
    assert all(e["scores"]["lsd"]["threshold"] == limit for e in doc["pairs"])
    table = invoke(
        "score",
        clean / "pred",
        clean / "ref",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--fail-above",
        f"lsd={limit}",
    )
    assert table.exit_code == 1
    assert table.stdout.count("FAIL lsd") == 2 and "2 failed" in table.stdout
    doc, _ = run_json(
        "score",
        clean / "pred",
        clean / "ref",
        "--workers",
        "0",
        "--fail-above",
        f"lsd={values[-1]}",
        code=0,
    )


# ----------------------------------------------------------------------------------------------
# Formats


def test_jsonl_streams_pairs_then_a_summary(messy, tmp_path):
    result = invoke(
        "score",
        messy / "pred",
        messy / "ref",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--format",
        "jsonl",
    )
    assert result.exit_code == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [x["prediction"] for x in lines[:-1]] == sorted(
        [f"{k}.{v}" for k, v in GOOD.items()] + ["s1b.sofa"]
    )
    summary = lines[-1]
    assert "pairs" not in summary and summary["counts"]["errors"] == 1
    assert summary["unmatched"]["prediction"] == ["orphan.sofa"]
    out = tmp_path / "run.jsonl"
    out.write_text(result.stdout)
    doc, _ = run_json("score", messy / "pred", messy / "ref", "--workers", "0", code=2)
    assert load_document(out) == doc
    # --output: written through a temporary file, renamed at the end
    target = tmp_path / "out.jsonl"
    result = invoke(
        "score",
        messy / "pred",
        messy / "ref",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--format",
        "jsonl",
        "--output",
        target,
    )
    assert result.stdout == "" and load_document(target) == doc
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_csv_markdown_and_table(messy):
    args = [
        "score",
        messy / "pred",
        messy / "ref",
        "--workers",
        "0",
        "--device",
        "cpu",
        "-m",
        "lsd",
        "-m",
        "ild",
    ]
    result = invoke(*args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "prediction",
        "reference",
        "lsd_left",
        "lsd_right",
        "lsd_overall",
        "ild_left",
        "ild_right",
        "ild_overall",
        "passed",
        "error",
    ]
    assert len(rows) == 7  # 6 pairs + the unmatched file
    bad = [r for r in rows if r["prediction"] == "s1b.sofa"][0]
    assert bad["error"] and bad["lsd_overall"] == ""
    assert float(rows[0]["lsd_overall"]) > 0 and rows[0]["ild_left"] == ""
    md = invoke(*args, "--format", "markdown").stdout
    assert "| Prediction |" in md and "**mean**" in md and "1 errored" in md
    table = invoke(*args, "--per-ear").stdout
    for text in ("lsd L", "lsd R", "ild [dB]", "median", "5 scored", "orphan.sofa", "error"):
        assert text in table
    assert "ild L" not in table


def test_stdout_holds_only_the_document(messy, tmp_path):
    result = invoke(
        "score",
        messy / "pred",
        messy / "ref",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--format",
        "json",
    )
    json.loads(result.stdout)
    assert "warning" in result.stderr and "error:" in result.stderr
    out = tmp_path / "doc.json"
    result = invoke(
        "score",
        messy / "pred",
        messy / "ref",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--format",
        "json",
        "--output",
        out,
        "--quiet",
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert json.loads(out.read_text())["counts"]["errors"] == 1


def test_pairs_file_run(tmp_path, clean):
    sheet = tmp_path / "pairs.csv"
    sheet.write_text(
        "prediction,target\n"
        f"{clean / 'pred/s1.pt'},{clean / 'ref/s1.sofa'}\n"
        f"{clean / 'pred/s0.sofa'},{clean / 'ref/s0.sofa'}\n"
    )
    doc, _ = run_json("score", "--pairs", sheet, "--workers", "0")
    assert doc["counts"]["scored"] == 2
    assert doc["spec"]["source"] == {"pairs_file": str(sheet)}
    assert doc["pairs"][0]["prediction"] == str(clean / "pred/s0.sofa")


# ----------------------------------------------------------------------------------------------
# Shards and merge


def shard_docs(root, tmp_path, n=3):
    """Score every shard K/n of root into tmp_path/shardK.json."""
    code = 2 if (root / "pred" / "orphan.sofa").exists() else 0
    paths = []
    for k in range(1, n + 1):
        doc, _ = run_json(
            "score", root / "pred", root / "ref", "--workers", "0", "--shard", f"{k}/{n}", code=code
        )
        assert doc["spec"]["shard"] == f"{k}/{n}"
        path = tmp_path / f"shard{k}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def test_shards_merge_to_the_single_run(messy, tmp_path):
    single, _ = run_json("score", messy / "pred", messy / "ref", "--workers", "0", code=2)
    paths = shard_docs(messy, tmp_path)
    docs = [json.loads(p.read_text()) for p in paths]
    names = [(e["prediction"], e["target"]) for d in docs for e in d["pairs"]]
    assert sorted(names) == [(e["prediction"], e["target"]) for e in single["pairs"]]
    assert len(set(names)) == len(names)
    merged, result = run_json("merge", *paths, code=2)
    assert merged == single
    # merge renders like score: a table by default, and JSON lines
    table = invoke("merge", *paths)
    assert table.exit_code == 2 and "mean" in table.stdout
    assert "missing_shards" not in merged["spec"] and "missing_shards" not in merged["counts"]


def test_a_missing_shard_is_an_error_unless_allowed(messy, tmp_path):
    paths = shard_docs(messy, tmp_path)
    docs = [json.loads(p.read_text()) for p in paths]
    for quiet in ((), ("-q",)):
        result = invoke("merge", paths[0], paths[2], "--format", "json", *quiet)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.startswith("Error: shard(s) 2/3 missing: the documents cover")
        assert "--allow-missing-shards" in result.stderr
    with pytest.raises(HrtfevalError, match="shard\\(s\\) 2/3 missing"):
        merge_documents([docs[0], docs[2]], ["a", "c"])
    # allowed: the document says so in spec, notes and counts, also with --quiet
    partial, result = run_json("merge", paths[0], paths[2], "--allow-missing-shards", "-q", code=2)
    assert "shard(s) 2/3 missing" in result.stderr
    assert partial["spec"]["shard"] == "1,3/3"
    assert partial["spec"]["missing_shards"] == ["2/3"]
    assert partial["counts"]["missing_shards"] == 1
    assert any("2/3 missing" in n for n in partial["spec"]["notes"])
    assert partial["counts"]["pairs"] == len(docs[0]["pairs"]) + len(docs[2]["pairs"])
    table = invoke("merge", paths[0], paths[2], "--allow-missing-shards")
    assert "1 shard(s) MISSING: 2/3" in table.stdout
    report = tmp_path / "partial.xml"
    invoke("merge", paths[0], paths[2], "--allow-missing-shards", "--junit", report, "-q")
    assert '<testcase classname="shards" name="shard 2/3">' in report.read_text()
    # the partial merge and the missing shard merge to the whole run
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(partial))
    whole, _ = run_json("merge", path, paths[1], code=2)
    single, _ = run_json("merge", *paths, code=2)
    assert whole == single


def test_merge_refuses_a_shard_with_pairs_left_out(clean, tmp_path):
    paths = shard_docs(clean, tmp_path, 2)
    doc = json.loads(paths[1].read_text())
    del doc["pairs"][0]
    paths[1].write_text(json.dumps(doc))
    result = invoke("merge", *paths)
    assert result.exit_code == 2
    assert f"{paths[1]}: holds 1 pair(s), but shard 2/2 of a run of 5 pairs has 2" in result.stderr
    doc["spec"]["shard"] = "3/2"
    paths[1].write_text(json.dumps(doc))
    result = invoke("merge", *paths)
    assert result.exit_code == 2 and "spec.shard is '3/2'" in result.stderr
    # shards of a run split in 3 and of one split in 2
    third, _ = run_json("score", clean / "pred", clean / "ref", "--workers", "0", "--shard", "2/3")
    paths[1].write_text(json.dumps(third))
    result = invoke("merge", *paths)
    assert (
        result.exit_code == 2 and "the shards split the run differently: 1/2, 2/3" in result.stderr
    )


def test_merge_refuses_overlap_and_other_options(clean, tmp_path):
    paths = shard_docs(clean, tmp_path, 2)
    result = invoke("merge", paths[0], paths[0])
    assert result.exit_code == 2 and "given twice" in result.stderr
    doc = json.loads(paths[1].read_text())
    doc["spec"]["shard"] = "1/2"
    with pytest.raises(HrtfevalError, match="overlap|given twice"):
        merge_documents([json.loads(paths[0].read_text()), doc], ["a", "b"])
    unsharded = json.loads(paths[0].read_text())
    unsharded["spec"]["shard"] = None
    other = dict(unsharded, spec=dict(unsharded["spec"]))
    with pytest.raises(HrtfevalError, match="overlap"):
        merge_documents([unsharded, other], ["a", "b"])
    other_opts, _ = run_json(
        "score",
        clean / "pred",
        clean / "ref",
        "--workers",
        "0",
        "--shard",
        "2/2",
        "--freq-max",
        "16000",
    )
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other_opts))
    result = invoke("merge", paths[0], path)
    assert result.exit_code == 2 and "spec differs in band_hz" in result.stderr
    result = invoke("merge", paths[0], clean / "ref" / "s0.sofa")
    assert result.exit_code == 2


def test_merge_applies_fail_above(clean, tmp_path):
    paths = shard_docs(clean, tmp_path, 2)
    merged, _ = run_json("merge", *paths, code=0)
    top = max(e["scores"]["lsd"]["overall"] for e in merged["pairs"])
    merged, _ = run_json("merge", *paths, "--fail-above", f"lsd={top - 1e-9}", code=1)
    assert merged["counts"]["failed"] == 1
    assert merged["spec"]["thresholds"]["lsd"]["limit"] == top - 1e-9


# ----------------------------------------------------------------------------------------------
# Runner: stacked (GPU-style) batches and the worker pool


def test_stacked_batches_equal_pair_by_pair(messy):
    pl = pair_directories(messy / "pred", messy / "ref")
    # a pair with another length breaks the stack in the middle
    positions = synth.sphere_grid(50)
    odd = messy / "odd"
    odd.mkdir(exist_ok=True)
    ref = synth.spherical_head_hrirs(positions, FS, 160)
    synth.write_sofa(odd / "r.sofa", ref, positions, FS)
    synth.write_sofa(odd / "p.sofa", synth.degrade(ref, seed=9), positions, FS)
    pairs = (
        pl.pairs[:3] + [Pair("odd", "odd", str(odd / "p.sofa"), str(odd / "r.sofa"))] + pl.pairs[3:]
    )
    options = ScoreOptions.build(["lsd", "rmse", "itd", "ild"], fail_above={"lsd": 3.0})
    plain = list(score_stream(pairs, options, "cpu", 0, stack=False))
    stacked = list(score_stream(pairs, options, "cpu", 0, stack=True, batch_size=2))
    assert [r.pair for r in plain] == [r.pair for r in stacked] == pairs
    for a, b in zip(plain, stacked):
        assert (a.error is None) == (b.error is None)
        if a.error is not None:
            assert a.error == b.error
            continue
        assert a.score["spec"] == b.score["spec"]
        assert a.score["passed"] == b.score["passed"]
        for m, s in a.score["scores"].items():
            t = b.score["scores"][m]
            for key in ("left", "right", "overall"):
                if s[key] is None:  # itd / ild have no per-ear values
                    assert t[key] is None
                else:
                    assert t[key] == pytest.approx(s[key], rel=1e-12, abs=1e-12)
            assert (t["unit"], t["threshold"], t["passed"]) == (
                s["unit"],
                s["threshold"],
                s["passed"],
            )


def test_worker_pool_gives_the_same_document(messy):
    """The process pool (2 workers, and the stacked path through it) against in-process."""
    in_process, _ = run_json(
        "score", messy / "pred", messy / "ref", "-m", "lsd", "-m", "itd", "--workers", "0", code=2
    )
    pooled, _ = run_json(
        "score", messy / "pred", messy / "ref", "-m", "lsd", "-m", "itd", "--workers", "2", code=2
    )
    assert pooled == in_process
    pl = pair_directories(messy / "pred", messy / "ref")
    options = ScoreOptions.build(["lsd"])
    stacked = list(score_stream(pl.pairs, options, "cpu", 2, stack=True, batch_size=4))
    for r, e in zip(stacked, in_process["pairs"]):
        assert (r.error is None) == ("error" not in e)
        if r.error is None:
            assert r.score["scores"]["lsd"]["overall"] == pytest.approx(
                e["scores"]["lsd"]["overall"], rel=1e-12
            )


def _dies_on_3(job):
    """A job function whose worker process dies on job 3 (as a crashing native reader would)."""
    import os

    if job == 3:
        os._exit(7)
    return "ok", job * 10


def test_a_dying_worker_costs_only_its_pair():
    from hrtfeval.batch import WorkerPool, ordered_map

    pool = WorkerPool(2)
    assert pool.start("cpu") == "cpu"
    try:
        results = list(ordered_map(_dies_on_3, list(range(7)), pool, 4))
    finally:
        pool.close()
    assert [r for i, r in enumerate(results) if i != 3] == [
        ("ok", i * 10) for i in range(7) if i != 3
    ]
    assert results[3][0] == "error" and "worker process died" in results[3][1]
