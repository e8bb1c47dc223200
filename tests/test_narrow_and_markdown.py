"""Tables at 80 columns keep every number whole; Markdown shows its context as visible lines."""

from __future__ import annotations

import io
import json
import re

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.render import fmt
from hrtfeval.render.batch import batch_table

runner = CliRunner()


def batch_doc(tmp_path, names):
    pos = synth.sphere_grid(20)
    for i, name in enumerate(names):
        ref = synth.spherical_head_hrirs(pos, 48000, 128, seed=i)
        for side in ("p", "r"):
            (tmp_path / side).mkdir(exist_ok=True)
        synth.write_sofa(tmp_path / "r" / f"{name}.sofa", ref, pos, 48000)
        synth.write_sofa(tmp_path / "p" / f"{name}.sofa", synth.degrade(ref, seed=i), pos, 48000)
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p"),
            str(tmp_path / "r"),
            "--workers",
            "0",
            "--device",
            "cpu",
            "--preset",
            "lap",
            "-m",
            "rmse",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def test_batch_table_at_80_columns_keeps_numbers_whole(tmp_path):
    doc = batch_doc(tmp_path, ["subject_with_a_rather_long_name_01", "subject_02"])
    buf = io.StringIO()
    batch_table(doc, Console(file=buf, width=80, no_color=True), per_ear=True)
    text = buf.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.startswith("│")]
    cells = [c.strip() for line in body for c in line.strip("│").split("│")]
    # Every value of the document appears whole (to some precision) in one cell.
    for e in doc["pairs"]:
        for m in ("itd", "ild", "lsd", "rmse"):
            for field in ("left", "right", "overall"):
                v = e["scores"][m][field]
                if v is not None:
                    assert any(fmt(v, d) in cells for d in (6, 5, 4, 3)), (m, field, v)
    # A number is never split over two lines: no cell holds a bare digit fragment.
    assert all(not re.fullmatch(r"\d{1,2}", c) for c in cells)


def test_markdown_context_is_visible(tmp_path):
    doc = batch_doc(tmp_path, ["a_1", "b_2"])
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p" / "a_1.sofa"),
            str(tmp_path / "r" / "a_1.sofa"),
            "--preset",
            "lap",
            "--device",
            "cpu",
            "-f",
            "markdown",
        ],
    )
    assert res.exit_code == 0
    out = res.stdout
    assert "<!--" not in out
    assert "preset lap" in out and "band 20-20000 Hz" in out
    assert "thresholds itd \\< 100 (lap)" in out
    assert "a\\_1.sofa" in out  # underscores escaped: the name is shown as written
    res = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "p"),
            str(tmp_path / "r"),
            "--workers",
            "0",
            "--preset",
            "lap",
            "--device",
            "cpu",
            "-f",
            "markdown",
        ],
    )
    assert "<!--" not in res.stdout and "thresholds itd \\< 100" in res.stdout
    assert doc["counts"]["scored"] == 2 and np.isfinite(doc["aggregate"]["lsd"]["mean"])
