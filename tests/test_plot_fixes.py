"""Plot fixes of issue 15: titles inside the figure, whiskers at the range, legend names,
no worst-direction ring when there is no error."""

from __future__ import annotations

import numpy as np
import pytest

from hrtfeval import plot, synth
from hrtfeval.scoring import ScoreOptions, load_aligned

pytest.importorskip("matplotlib")
FS = 48000
LONG = "a_very_long_subject_name_" * 6


@pytest.fixture(scope="module")
def long_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("plotfix")
    pos = synth.sphere_grid(40)
    ref = synth.spherical_head_hrirs(pos, FS, 128)
    r = synth.write_sofa(root / f"ref_{LONG}.sofa", ref, pos, FS)
    p = synth.write_sofa(root / f"pred_{LONG}.sofa", synth.degrade(ref, seed=1), pos, FS)
    same = synth.write_sofa(root / "same.sofa", ref, pos, FS)
    opts = ScoreOptions.build(["lsd", "ild"])
    return {
        "aligned": load_aligned(str(p), str(r), opts),
        "same": load_aligned(str(same), str(r), opts),
        "options": opts,
    }


def inside(fig, text) -> bool:
    fig.canvas.draw()
    box = text.get_window_extent(fig.canvas.get_renderer())
    return box.x0 >= -1 and box.x1 <= fig.bbox.width + 1 and box.y1 <= fig.bbox.height + 1


def test_titles_with_long_names_are_not_clipped(long_pair):
    a, opts = long_pair["aligned"], long_pair["options"]
    for view in (
        plot.direction_view(a, "lsd", opts, dpi=40),
        plot.compare_view(a, opts, dpi=40),
    ):
        assert inside(view.figure, view.figure._suptitle)
    freq = plot.frequency_view(a, opts, dpi=40)
    assert inside(freq.figure, freq.figure.axes[0].title)
    doc = {
        "spec": {"metrics": ["lsd"], "source": {"prediction_dir": LONG, "target_dir": LONG}},
        "pairs": [
            {"prediction": "x", "target": "x", "scores": {"lsd": {"overall": 1.0, "unit": "dB"}}}
        ],
    }
    batch = plot.batch_view(doc, dpi=40)
    assert inside(batch.figure, batch.figure._suptitle)


def test_batch_whiskers_span_the_range():
    values = [1.0, 1.1, 1.2, 1.3, 9.0]  # 9.0 lies beyond 1.5 IQR: the whisker must still reach it
    doc = {
        "spec": {"metrics": ["lsd"]},
        "pairs": [
            {
                "prediction": f"p{i}",
                "target": f"p{i}",
                "scores": {"lsd": {"overall": v, "unit": "dB"}},
            }
            for i, v in enumerate(values)
        ],
    }
    view = plot.batch_view(doc, dpi=40)
    ys = [y for line in view.figure.axes[0].get_lines() for y in np.atleast_1d(line.get_ydata())]
    assert max(ys) == pytest.approx(9.0) and min(ys) == pytest.approx(1.0)
    labels = [t.get_text() for leg in view.figure.legends for t in leg.get_texts()]
    assert any("whiskers: range" in t for t in labels)


def test_frequency_legend_names_its_quantity(long_pair):
    view = plot.frequency_view(long_pair["aligned"], long_pair["options"], dpi=40)
    labels = [t.get_text() for t in view.figure.axes[0].get_legend().get_texts()]
    ears = [t for t in labels if " ear" in t]
    assert ears and all("RMS over directions" in t and "mean" not in t for t in ears)


def test_no_worst_ring_without_error(long_pair):
    opts = long_pair["options"]
    none = plot.direction_view(long_pair["same"], "ild", opts, dpi=40)
    rings = [
        c for ax in none.figure.axes for c in ax.collections if c.get_gid() == "worst-direction"
    ]
    assert rings == []
    assert "the same in every direction" in none.figure.axes[0].get_title()
    some = plot.direction_view(long_pair["aligned"], "ild", opts, dpi=40)
    rings = [
        c for ax in some.figure.axes for c in ax.collections if c.get_gid() == "worst-direction"
    ]
    assert len(rings) == 1
