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
