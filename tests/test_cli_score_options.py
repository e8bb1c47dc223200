"""``score``'s options for one pair and for a batch: batch-only options given for one pair are
a usage error (issue 13), and the second set is called REFERENCE."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrtfeval.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
PAIR = [str(SAMPLE / "prediction.sofa"), str(SAMPLE / "reference.sofa")]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    "args,named",
    [
        (["--workers", "2"], "--workers"),
        (["-j", "0"], "--workers"),
        (["--per-ear"], "--per-ear"),
        (["--ignore-unmatched"], "--ignore-unmatched"),
        (["--shard", "1/2"], "--shard"),
    ],
)
def test_a_batch_only_option_for_one_pair_is_a_usage_error(args, named):
    # Before: --workers, --per-ear and --ignore-unmatched were read by the batch path only and
    # silently ignored for one pair; --shard failed only after the options were checked.
    result = invoke("score", *PAIR, *args, "-f", "json")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {named} is for batch runs (directories or --pairs); got one pair\n"
    )


def test_every_batch_only_option_given_is_named_in_one_line():
    result = invoke("score", *PAIR, "--per-ear", "-j", "1", "--shard", "1/2")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --workers, --per-ear, --shard are for batch runs (directories or --pairs); "
        "got one pair\n"
    )


def test_batch_only_options_are_taken_by_a_batch(tmp_path):
    for folder, source in (("pred", "prediction.sofa"), ("ref", "reference.sofa")):
        (tmp_path / folder).mkdir()
        shutil.copy(SAMPLE / source, tmp_path / folder / "s.sofa")
    result = invoke(
        "score",
        tmp_path / "pred",
        tmp_path / "ref",
        "--workers",
        "0",
        "--per-ear",
        "--ignore-unmatched",
        "--shard",
        "1/1",
        "-f",
        "json",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["pairs"]) == 1


def test_defaults_of_batch_only_options_are_no_error_for_one_pair():
    result = invoke("score", *PAIR, "-f", "json", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["scores"]["lsd"]["overall"] > 0


def test_the_second_set_is_called_reference(tmp_path):
    # Before: TARGET in the usage line, the arguments and the messages.
    text = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "80"}, terminal_width=80).stdout
    assert "score [OPTIONS] [PREDICTION] [REFERENCE]" in " ".join(text.split())
    assert "TARGET" not in text and "Score PREDICTION against REFERENCE" in text
    result = invoke("score", PAIR[0])
    assert result.exit_code == 2 and "score needs PREDICTION and REFERENCE" in result.stderr
    (tmp_path / "pred").mkdir()
    result = invoke("score", tmp_path / "pred", PAIR[1])
    assert "PREDICTION is a directory but REFERENCE is not" in result.stderr
    for folder in ("pred", "ref"):
        (tmp_path / folder).mkdir(exist_ok=True)
        shutil.copy(SAMPLE / "reference.sofa", tmp_path / folder / "s.sofa")
    shutil.copy(SAMPLE / "reference.sofa", tmp_path / "ref" / "extra.sofa")
    result = invoke("score", tmp_path / "pred", tmp_path / "ref", "-j", "0", "-f", "json")
    assert result.exit_code == 2
    assert "warning: 1 reference file(s) without a prediction: extra.sofa" in result.stderr
    assert json.loads(result.stdout)["unmatched"]["target"] == ["extra.sofa"]  # the key stays
