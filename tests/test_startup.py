"""Start-up cost of one pair (issue 15): what `info` and `score` import, `info --cues`,
and the help screens (panels, metavariables, full command summaries)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
runner = CliRunner()


def _imported(args: list[str]) -> set[str]:
    """Every module a fresh ``python -m hrtfeval ARGS`` imports (the reading child included:
    it is forked, and ``-X importtime`` reports its imports on the same stderr)."""
    env = dict(os.environ, NO_COLOR="1")
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hrtfeval", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    names = {
        line.split("|")[-1].strip()
        for line in out.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "typer" in names  # the log is really there
    return names


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("startup")
    positions = synth.sphere_grid(40)
    ref = synth.spherical_head_hrirs(positions, 48000, 128)
    pred = synth.degrade(ref, seed=5)
    return (
        synth.write_sofa(root / "pred.sofa", pred, positions, 48000),
        synth.write_sofa(root / "ref.sofa", ref, positions, 48000),
    )


def test_info_imports_no_torch_or_scipy_without_cues(pair):
    names = _imported(["info", str(pair[1]), "--format", "json"])
    for heavy in ("torch", "scipy", "matplotlib", "netCDF4", "sofar"):
        assert heavy not in names, f"info imported {heavy}"


def test_score_lap_imports_no_scipy_signal(pair):
    names = _imported(["score", str(pair[0]), str(pair[1]), "--preset", "lap", "-f", "json"])
    assert "torch" in names  # it did score
    for heavy in ("scipy.signal", "scipy.interpolate", "scipy.stats", "matplotlib", "netCDF4"):
        assert heavy not in names, f"score --preset lap imported {heavy}"
    # issue 13: one pair imports neither the batch modules nor the other commands' libraries
    for unneeded in (
        "hrtfeval.batch",
        "hrtfeval.render_batch",
        "hrtfeval.compare",
        "hrtfeval.plot",
    ):
        assert unneeded not in names, f"score of one pair imported {unneeded}"


def test_info_cue_ranges_only_with_cues(pair):
    plain = runner.invoke(app, ["info", str(pair[1]), "--format", "json"])
    with_cues = runner.invoke(app, ["info", str(pair[1]), "--format", "json", "--cues"])
    assert plain.exit_code == 0 and with_cues.exit_code == 0, plain.stderr + with_cues.stderr
    facts, facts_cues = json.loads(plain.stdout), json.loads(with_cues.stdout)
    assert "cues" not in facts
    ranges = facts_cues.pop("cues")
    assert set(ranges) == {"ild_min_db", "ild_max_db", "itd_min_us", "itd_max_us"}
    assert ranges["itd_min_us"] < 0 < ranges["itd_max_us"]  # sources on both sides
    assert list(facts_cues) == list(facts) and facts_cues == facts  # the rest is unchanged
    table = runner.invoke(app, ["info", str(pair[1])])
    table_cues = runner.invoke(app, ["info", str(pair[1]), "--cues"])
    assert "itd_min_us" not in table.stdout and "itd_min_us" in table_cues.stdout


def test_a_pair_is_scored_on_one_cpu_thread_and_the_setting_restored(pair, monkeypatch):
    # torch's pool of threads waits for itself on a busy machine (seconds for one pair).
    import torch

    from hrtfeval import scoring
    from hrtfeval.io import read_hrtf

    seen = []
    real = scoring._score_aligned

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "_score_aligned", spy)
    options = scoring.ScoreOptions(metrics=("lsd", "itd"))
    aligned = scoring.align_sets(read_hrtf(pair[0]), read_hrtf(pair[1]), options)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = scoring.score_aligned(aligned, options, torch.device("cpu"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
    assert seen == [1] and result.scores["lsd"] is not None


# --------------------------------------------------------------------------------------------
# Help screens


COMMANDS = ("score", "merge", "info", "plot", "compare")
# Python types as typer shows them (`<list[Path]>`, `<path>`) and its `{FILE}` usage style.
TYPE_METAVAR = r"<(list\[\w+\]|path|str|int|float|bool|text|integer)>|\{[A-Za-z]"


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_score_help_is_in_panels_at_80_columns():
    import re

    text = _help("score")
    titles = [line[:-1] for line in text.splitlines() if re.fullmatch(r"[A-Z][\w ]+:", line)]
    assert titles == [
        "Arguments",
        "What to score",
        "Matching directions",
        "Batch",
        "CI gates",
        "Output",
        "Run",
    ]
    assert "Options:" not in text  # nothing left outside a panel
    assert max(len(line) for line in text.splitlines()) <= 80
    section = text.split("CI gates:")[1].split("Output:")[0]
    assert "--fail-above" in section and "--junit" in section and "--metric" not in section


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_a_panel_and_no_python_type_is_shown(command):
    import re

    from hrtfeval.cli.help import panel_of

    group = typer_main_group()
    ctx = group.make_context("hrtfeval", [command, "--help"], resilient_parsing=True)
    cmd = group.get_command(ctx, command)
    missing = [
        p.name
        for p in cmd.get_params(ctx)
        if p.param_type_name == "option" and not p.hidden and panel_of(p) is None
    ]
    assert missing == [], f"options of {command} without a panel (hrtfeval/cli/help.py PANELS)"
    text = _help(command)
    assert not re.search(TYPE_METAVAR, text), re.search(TYPE_METAVAR, text)
    assert "Options:" not in text


def typer_main_group():
    import typer

    return typer.main.get_command(app)


def test_top_level_help_lists_each_summary_in_full():
    import typer

    text = _help()
    listing = " ".join(text.split("Commands:")[1].split())
    group = typer.main.get_command(app)
    for name in COMMANDS:
        summary = group.get_command(None, name).help.split("\n\n")[0]
        assert " ".join(summary.split()) in listing, name
    assert "..." not in listing
