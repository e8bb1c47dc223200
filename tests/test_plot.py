"""The pictures: every view renders (png, svg), shows the scoring API's numbers, fails cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import plot, synth
from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError
from hrtfeval.scoring import ScoreOptions, load_aligned, per_direction_errors, reduce_pair

matplotlib_image = pytest.importorskip("matplotlib.image")

runner = CliRunner()
FS = 48000
DPI = 40  # small images keep the tests fast; the size check is the same at any dpi


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A 60-direction 48 kHz HRIR pair as SOFA, its aligned form, and a magnitude-only copy."""
    root = tmp_path_factory.mktemp("plot")
    positions = synth.sphere_grid(60)
    ref = synth.spherical_head_hrirs(positions, FS, 128)
    pred = synth.degrade(ref, seed=3)
    ref_path = synth.write_sofa(root / "ref.sofa", ref, positions, FS)
    pred_path = synth.write_sofa(root / "pred.sofa", pred, positions, FS)
    mag_ref = synth.write_pt(
        root / "ref_mag.pt", np.abs(np.fft.rfft(ref, axis=-1)), positions, FS, key="hrtf"
    )
    mag_pred = synth.write_pt(
        root / "pred_mag.pt", np.abs(np.fft.rfft(pred, axis=-1)), positions, FS, key="hrtf"
    )
    options = ScoreOptions.build(["lsd", "itd", "ild"])
    aligned = load_aligned(str(pred_path), str(ref_path), options)
    return {
        "root": root,
        "ref": ref_path,
        "pred": pred_path,
        "mag_ref": mag_ref,
        "mag_pred": mag_pred,
        "options": options,
        "aligned": aligned,
        "positions": positions,
    }


def check_png(path: Path, size: tuple[int, int]) -> None:
    """The PNG opens, has ``size`` = (width, height) pixels and is not blank."""
    image = matplotlib_image.imread(path)
    assert (image.shape[1], image.shape[0]) == size
    assert float(np.var(image[..., :3])) > 0.0


def check_svg(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def render(view: plot.View, root: Path, name: str) -> None:
    png = plot.save_view(view, root / f"{name}.png", DPI)
    check_png(png, view.pixel_size(DPI))
    check_svg(plot.save_view(view, root / f"{name}.svg"))


# --- the views, from the library ------------------------------------------------------------


@pytest.mark.parametrize("metric", ["lsd", "rmse", "itd", "ild"])
def test_direction_view_plots_the_scoring_values(pair, metric):
    options = pair["options"]
    view = plot.direction_view(pair["aligned"], metric, options, "cpu", dpi=DPI)
    expected = per_direction_errors(pair["aligned"], metric, options, "cpu")
    np.testing.assert_array_equal(view.data["values"], expected.values.numpy())
    np.testing.assert_array_equal(view.data["positions"], expected.positions)
    assert view.data["unit"] == expected.unit
    score = reduce_pair(expected.values, metric, expected.unit, options)
    assert view.data["overall"] == score.overall
    # the numbers drawn are the scatter's colours, panel by panel (left, right / interaural)
    axes = [ax for ax in view.figure.axes if ax.name == "hammer"]
    assert len(axes) == (1 if metric in ("itd", "ild") else 2)
    for ear, ax in enumerate(axes):
        drawn = np.sort(np.asarray(ax.collections[0].get_array()))
        vals = (
            view.data["values"] if view.data["values"].ndim == 1 else (view.data["values"][:, ear])
        )
        np.testing.assert_array_equal(drawn, np.sort(vals))
    render(view, pair["root"], f"dir_{metric}")


def test_direction_view_overall_matches_score_command(pair):
    result = invoke(
        "score", pair["pred"], pair["ref"], "--metric", "lsd", "--format", "json", "--device", "cpu"
    )
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)["scores"]["lsd"]
    view = plot.direction_view(pair["aligned"], "lsd", pair["options"], dpi=DPI)
    assert view.data["overall"] == pytest.approx(scores["overall"], rel=1e-12)
    assert view.data["left"] == pytest.approx(scores["left"], rel=1e-12)
    title = view.figure.get_suptitle()
    assert "pred.sofa" in title and "ref.sofa" in title and f"{scores['overall']:.3g}" in title


def test_frequency_view(pair):
    view = plot.frequency_view(pair["aligned"], pair["options"], dpi=DPI)
    f, lsd = view.data["frequencies"], view.data["lsd"]
    assert lsd.shape == (2, f.size) and f.min() > 0 and f.max() < FS / 2
    # independent numpy: RMS over directions of the dB difference, per ear and bin
    ref, pred = pair["aligned"].reference.data, pair["aligned"].prediction.data
    n = ref.shape[-1]
    bins = np.fft.rfftfreq(n, 1 / FS)
    keep = (bins > 0) & (bins < FS / 2)
    diff = 20 * np.log10(np.abs(np.fft.rfft(pred, axis=-1)[..., keep])) - 20 * np.log10(
        np.abs(np.fft.rfft(ref, axis=-1)[..., keep])
    )
    np.testing.assert_allclose(lsd, np.sqrt(np.mean(diff**2, axis=0)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(f, bins[keep])
    render(view, pair["root"], "freq")


def test_compare_view_picks_the_nearest_direction(pair):
    positions = pair["aligned"].reference.positions
    target = positions[7]
    view = plot.compare_view(
        pair["aligned"], pair["options"], (target[0] + 1.0, target[1]), dpi=DPI
    )
    assert view.data["index"] == 7 and view.data["angle_deg"] < 1.5
    assert view.data["prediction_db"].shape == view.data["reference_db"].shape
    assert view.data["prediction_db"].shape[0] == 2
    titles = [ax.get_title() for ax in view.figure.axes]
    assert "LEFT ear" in titles and "RIGHT ear" in titles
    assert "#7" in view.figure.get_suptitle()
    render(view, pair["root"], "compare")


def batch_document() -> dict:
    def entry(i, lsd, itd, passed):
        return {
            "prediction": f"p{i}.sofa",
            "target": f"r{i}.sofa",
            "passed": passed,
            "scores": {
                "lsd": {
                    "unit": "dB",
                    "left": lsd,
                    "right": lsd,
                    "overall": lsd,
                    "threshold": 7.4,
                    "passed": lsd < 7.4,
                },
                "itd": {
                    "unit": "µs",
                    "left": None,
                    "right": None,
                    "overall": itd,
                    "threshold": 100.0,
                    "passed": itd < 100,
                },
            },
        }

    return {
        "spec": {"preset": "lap"},
        "pairs": [
            entry(1, 4.2, 35.0, True),
            entry(2, 8.1, 40.0, False),
            entry(3, 5.5, 120.0, False),
            {"prediction": "p4.sofa", "target": "r4.sofa", "error": "bad file"},
        ],
        "aggregate": {},
        "counts": {"pairs": 4, "scored": 3, "errors": 1},
    }


def test_batch_view(pair):
    view = plot.batch_view(batch_document(), source="results.json", dpi=DPI)
    np.testing.assert_array_equal(view.data["lsd"], [4.2, 8.1, 5.5])
    np.testing.assert_array_equal(view.data["itd"], [35.0, 40.0, 120.0])
    assert view.data["failed"] == 1
    # the thresholds are drawn as horizontal lines at their values
    levels = {
        round(float(line.get_ydata()[0]), 6)
        for ax in view.figure.axes
        for line in ax.get_lines()
        if line.get_linestyle() == "--"
    }
    assert {7.4, 100.0} <= levels
    render(view, pair["root"], "batch")


def test_batch_view_of_a_single_pair_document(pair):
    doc = {
        "prediction": "p.sofa",
        "target": "r.sofa",
        "spec": {},
        "passed": None,
        "scores": {
            "lsd": {
                "unit": "dB",
                "left": 3.0,
                "right": 3.2,
                "overall": 3.1,
                "threshold": None,
                "passed": None,
            }
        },
    }
    view = plot.batch_view(doc, dpi=DPI)
    np.testing.assert_array_equal(view.data["lsd"], [3.1])
    render(view, pair["root"], "single")


def test_bad_documents_and_formats(tmp_path):
    with pytest.raises(HrtfevalError, match="results JSON"):
        plot.batch_view({"something": 1})
    with pytest.raises(HrtfevalError, match=r"\.png, \.svg or \.pdf"):
        plot.image_format(tmp_path / "x.jpg")
    assert [plot.image_format(f"a.{e}") for e in ("PNG", "svg", "pdf")] == ["png", "svg", "pdf"]


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize("view", ["direction", "frequency", "compare"])
def test_cli_pair_views(pair, tmp_path, view):
    out = tmp_path / f"{view}.png"
    result = invoke(
        "plot",
        pair["pred"],
        pair["ref"],
        "--view",
        view,
        "--metric",
        "ild",
        "--direction",
        "-90",
        "0",
        "-o",
        out,
        "--dpi",
        DPI,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    image = matplotlib_image.imread(out)
    assert float(np.var(image[..., :3])) > 0.0


def test_cli_png_size_follows_dpi(pair, tmp_path):
    out = tmp_path / "lsd.png"
    result = invoke("plot", pair["pred"], pair["ref"], "-o", out, "--dpi", 50)
    assert result.exit_code == 0, result.stderr
    view = plot.direction_view(pair["aligned"], "lsd", pair["options"])
    check_png(out, view.pixel_size(50))


def test_cli_batch_view_and_pdf(pair, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(batch_document()), encoding="utf-8")
    out = tmp_path / "batch.pdf"
    result = invoke("plot", results, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF")


def one_line_error(result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_cli_itd_of_magnitude_only_data_is_a_clear_error(pair, tmp_path):
    out = tmp_path / "itd.png"
    line = one_line_error(
        invoke("plot", pair["mag_pred"], pair["mag_ref"], "--metric", "itd", "-o", out)
    )
    assert "ITD" in line and "pred_mag.pt" in line
    assert not out.exists()
    # the spectral views of the same magnitude-only data work
    assert (
        invoke(
            "plot",
            pair["mag_pred"],
            pair["mag_ref"],
            "--view",
            "frequency",
            "-o",
            out,
            "--dpi",
            DPI,
        ).exit_code
        == 0
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["-o", "x.jpg"], "png"),
        (["-o", "x.png", "--view", "batch"], "batch view"),
        (["-o", "x.png", "--view", "sideways"], "view"),
        (["-o", "x.png", "--metric", "snr"], "metric"),
        (["-o", "x.png", "--view", "compare", "--direction", "0", "95"], "elevation"),
    ],
)
def test_cli_usage_errors(pair, tmp_path, args, words):
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    line = one_line_error(invoke("plot", pair["pred"], pair["ref"], *args))
    assert words in line


def test_cli_one_file_must_be_results_json(pair, tmp_path):
    line = one_line_error(invoke("plot", pair["pred"], "-o", tmp_path / "x.png"))
    assert "results JSON" in line
    line = one_line_error(
        invoke("plot", pair["pred"], "--view", "frequency", "-o", tmp_path / "x.png")
    )
    assert "two files" in line


def test_score_plot_dir_writes_the_standard_views(pair, tmp_path):
    out = tmp_path / "plots"
    result = invoke(
        "score",
        pair["pred"],
        pair["ref"],
        "--preset",
        "lap",
        "--format",
        "json",
        "--plot",
        out,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)  # stdout is still only the document
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "compare_az0_el0.png",
        "ild_by_direction.png",
        "itd_by_direction.png",
        "lsd_by_direction.png",
        "lsd_by_frequency.png",
    ]
    for name in names:
        assert float(np.var(matplotlib_image.imread(out / name)[..., :3])) > 0.0


def test_score_plot_draws_the_scored_values(pair, tmp_path, monkeypatch):
    """score --plot computes the numbers once: one tensor build per set and one per-direction
    pass per metric; the views draw the score's values and tensors."""
    from hrtfeval import scoring
    from hrtfeval.represent import SetTensors

    builds: list[str] = []
    passes: list[str] = []
    from_set = SetTensors.from_set.__func__
    per_direction = scoring.per_direction

    def counted_from_set(cls, hrtf, *args, **kwargs):
        builds.append(hrtf.path)
        return from_set(cls, hrtf, *args, **kwargs)

    def counted_per_direction(pred, ref, metric, options):
        passes.append(metric)
        return per_direction(pred, ref, metric, options)

    monkeypatch.setattr(SetTensors, "from_set", classmethod(counted_from_set))
    monkeypatch.setattr(scoring, "per_direction", counted_per_direction)
    out = tmp_path / "plots"
    args = ("score", pair["pred"], pair["ref"], "--preset", "lap", "-f", "json", "--plot", out)
    result = invoke(*args, "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert len(builds) == 2 and {Path(b).name for b in builds} == {"pred.sofa", "ref.sofa"}
    assert sorted(passes) == ["ild", "itd", "lsd"]
    assert len(list(out.iterdir())) == 5


def test_help_does_not_import_matplotlib():
    code = (
        "import sys; from typer.testing import CliRunner; from hrtfeval.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
        "r = CliRunner().invoke(app, ['plot', '--help']); assert r.exit_code == 0; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
