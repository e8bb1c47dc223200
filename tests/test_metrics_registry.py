"""The metric registry (hrtfeval.metrics): one entry is all a new metric needs.

A toy metric (the peak dB difference over the band, per direction and ear) is registered in a
copy of the registry, with its function defined here: ``score`` then computes it, states its
unit and definition, checks a threshold on it, renders it in every format, writes it to the
per-direction file and plots it, with no other file of the package changed.
"""

from __future__ import annotations

import csv
import io
import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import constants, metrics, synth
from hrtfeval.cli import app
from hrtfeval.metrics import DefinitionContext, Metric

runner = CliRunner()


def toy_errors(pred, ref, metric, options):
    """Per direction and ear max_k |20log10|P_k| - 20log10|T_k|| over the band (dB)."""
    from hrtfeval.pair_metrics import band_index

    bins = band_index(pred, ref, options)
    eps = options.epsilon
    return (pred.magnitude_db(bins, eps) - ref.magnitude_db(bins, eps)).abs().amax(dim=-1)


def toy_text(c: DefinitionContext) -> str:
    return f"per direction and ear max_k |20log10|P_k| - 20log10|T_k|| over {c.band}; {c.reduction}"


TOY = Metric(
    "toy", "spectral", "dB", toy_text, toy_errors,
    label="max|ΔdB|", title="peak dB error", suffix="_db",
)  # fmt: skip

#: The names hrtfeval.constants derives from the registry, as it derives them.
DERIVED = {
    "METRICS": lambda: metrics.names(),
    "INTERAURAL": lambda: metrics.names("interaural"),
    "LOCALISATION": lambda: metrics.names("localisation"),
    "SIGNED_METRICS": metrics.signed_names,
}


def use_registry(monkeypatch, registry: dict[str, Metric]) -> None:
    """Score with ``registry``, as if hrtfeval/metrics.py listed it: the registry is replaced
    and the name tuples derived from it (and imported by name elsewhere) are derived again."""
    old = {name: getattr(constants, name) for name in DERIVED}
    assert old == {name: derive() for name, derive in DERIVED.items()}
    monkeypatch.setattr(metrics, "REGISTRY", registry)
    new = {name: derive() for name, derive in DERIVED.items()}
    for module in [m for n, m in sys.modules.items() if n.split(".")[0] == "hrtfeval"]:
        for attr, value in list(vars(module).items()):
            for name, before in old.items():
                if value is before:
                    monkeypatch.setattr(module, attr, new[name])


@pytest.fixture
def toy(monkeypatch):
    use_registry(monkeypatch, {**metrics.REGISTRY, "toy": TOY})


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    positions = synth.sphere_grid(30)
    ref = synth.spherical_head_hrirs(positions, 48000, 128)
    pred = synth.degrade(ref, seed=3)
    return (
        str(synth.write_sofa(root / "pred.sofa", pred, positions, 48000)),
        str(synth.write_sofa(root / "ref.sofa", ref, positions, 48000)),
    )


def _score(pair, *args):
    result = runner.invoke(app, ["score", *pair, "-m", "lsd", "-m", "toy", *args])
    return result


def test_registry_lists_every_metric_once_in_constants_order():
    assert constants.METRICS == ("lsd", "rmse", "mae", "itd", "ild", "qe", "pe", "eb")
    assert constants.INTERAURAL == ("itd", "ild")
    assert constants.LOCALISATION == ("qe", "pe", "eb")
    assert constants.SIGNED_METRICS == ("eb",)
    assert all(m.kind in metrics.KINDS for m in metrics.REGISTRY.values())
    assert [metrics.unit(m, "db") for m in ("rmse", "lsd", "itd", "qe")] == ["dB", "dB", "µs", "%"]
    assert metrics.unit("mae", "time") == ""


def test_unknown_without_the_entry(pair):
    result = _score(pair, "-f", "json")
    assert result.exit_code == 2
    assert "toy" in result.output


def test_score_computes_units_and_defines_the_toy(toy, pair):
    result = _score(pair, "-f", "json", "--device", "cpu", "--fail-above", "toy=1000")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    lsd, got = doc["scores"]["lsd"], doc["scores"]["toy"]
    assert list(doc["scores"]) == ["lsd", "toy"]
    assert got["unit"] == "dB"
    # The peak of |dB difference| is at least its RMS (the lsd), ear by ear.
    for key in ("left", "right", "overall"):
        assert np.isfinite(got[key]) and got[key] >= lsd[key] - 1e-6
    assert got["threshold"] == 1000 and got["passed"] is True
    definition = doc["spec"]["definitions"]["toy"]
    assert definition.startswith("per direction and ear max_k |20log10|P_k| - 20log10|T_k||")
    assert "bins)" in definition and definition.endswith("mean over directions")
    assert doc["spec"]["bins"] is not None  # a spectral metric: the band's bins are counted


def test_toy_fails_its_threshold(toy, pair):
    result = _score(pair, "-f", "json", "--device", "cpu", "--fail-above", "toy=0.001")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["scores"]["toy"]["passed"] is False


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_toy_renders(toy, pair, fmt):
    result = _score(pair, "-f", fmt, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "toy" in result.stdout and "dB" in result.stdout


def test_toy_per_direction_file(toy, pair, tmp_path):
    out = tmp_path / "dirs.csv"
    result = _score(pair, "-f", "json", "--device", "cpu", "--per-direction", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {"toy_left_db", "toy_right_db"} <= set(rows[0])
    toy = np.array([[float(r["toy_left_db"]), float(r["toy_right_db"])] for r in rows])
    overall = json.loads(result.stdout)["scores"]["toy"]["overall"]
    np.testing.assert_allclose(toy.mean(), overall, rtol=1e-9)


def test_toy_plots_with_its_labels(toy, pair):
    from matplotlib.text import Text

    from hrtfeval.options import ScoreOptions
    from hrtfeval.plot import pair_view
    from hrtfeval.scoring import load_aligned

    options = ScoreOptions.build(["toy"])
    view = pair_view(load_aligned(*pair, options), "direction", options, metric="toy")
    text = " ".join(t.get_text() for t in view.figure.findobj(Text))
    assert "peak dB error by direction" in text and "max|ΔdB|" in text
    assert view.data["values"].shape[-1] == 2


def test_an_interaural_entry_by_module_path(monkeypatch, pair, tmp_path):
    """An interaural metric named by ``"module:function"`` (imported on first call): one value
    per direction, one per-direction column, no per-ear values."""
    twin = Metric("ild2", "interaural", "dB", "a copy of ild", ".pair_metrics:ild_errors")
    use_registry(monkeypatch, {**metrics.REGISTRY, "ild2": twin})
    out = tmp_path / "dirs.csv"
    args = ["score", *pair, "-m", "ild", "-m", "ild2", "-f", "json", "--device", "cpu"]
    result = runner.invoke(app, [*args, "--per-direction", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["scores"]
    assert scores["ild2"]["left"] is None and scores["ild2"]["unit"] == "dB"
    assert scores["ild2"]["overall"] == scores["ild"]["overall"]
    assert json.loads(result.stdout)["spec"]["definitions"]["ild2"] == "a copy of ild"
    header = out.read_text().splitlines()[0].split(",")
    assert header[-2:] == ["ild_db", "ild2"]
