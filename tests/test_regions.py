"""--region / --exclude: masks on hand-built grids, region scores, batch, merge and gates."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError
from hrtfeval.regions import parse_region, region_mask, typical_spacing_deg

runner = CliRunner()


def grid(az_step=30.0, els=(-60.0, -30.0, 0.0, 30.0, 60.0)):
    """Rings every az_step degrees at the elevations, plus both poles."""
    rows = [[a, e, 1.0] for e in els for a in np.arange(0.0, 360.0, az_step)]
    rows += [[0.0, 90.0, 1.0], [0.0, -90.0, 1.0]]
    return np.array(rows)


def names(pos, mask):
    return {(round(a, 6), round(e, 6)) for a, e in pos[mask, :2]}


def test_planes_and_halves_by_hand():
    pos = grid()
    # 12 azimuths on the 0 ring: horizontal is that ring.
    assert names(pos, region_mask(parse_region("horizontal"), pos, 5)) == {
        (a, 0.0) for a in np.arange(0.0, 360.0, 30.0)
    }
    # Median plane: azimuth 0 and 180 on every ring, plus both poles.
    med = names(pos, region_mask(parse_region("median"), pos, 5))
    assert med == {(a, e) for a in (0.0, 180.0) for e in (-60.0, -30.0, 0.0, 30.0, 60.0)} | {
        (0.0, 90.0),
        (0.0, -90.0),
    }
    # Frontal plane: azimuth 90 and 270 on every ring, plus the poles.
    fr = names(pos, region_mask(parse_region("frontal"), pos, 5))
    assert fr == {(a, e) for a in (90.0, 270.0) for e in (-60.0, -30.0, 0.0, 30.0, 60.0)} | {
        (0.0, 90.0),
        (0.0, -90.0),
    }
    # Lateral angle of (az 30, el 60) is asin(cos60 sin30) = 14.48 deg: in the median plane only
    # from a tolerance of 14.48 deg.
    p = np.array([[30.0, 60.0, 1.0]])
    assert not region_mask(parse_region("median"), p, 14.4)[0]
    assert region_mask(parse_region("median"), p, 14.5)[0]
    up = region_mask(parse_region("upper"), pos, 0)
    low = region_mask(parse_region("lower"), pos, 0)
    assert up.sum() == 12 * 3 + 1 and low.sum() == 12 * 3 + 1  # the 0 ring is in both
    front = region_mask(parse_region("front"), pos, 0)
    back = region_mask(parse_region("back"), pos, 0)
    # Azimuths 0, 30, 60, 90, 270, 300, 330 (7) are front; 90 ... 270 (7) back; poles in both.
    assert front.sum() == 7 * 5 + 2 and back.sum() == 7 * 5 + 2


def test_ranges_wrap():
    pos = grid()
    a = region_mask(parse_region("azimuth:-30:30"), pos, 0)
    b = region_mask(parse_region("azimuth:330:30"), pos, 0)
    assert np.array_equal(a, b)
    assert {x for x, _ in names(pos, a)} == {0.0, 30.0, 330.0}
    c = region_mask(parse_region("azimuth:90:180"), pos, 0)
    assert {x for x, e in names(pos, c) if abs(e) < 90} == {90.0, 120.0, 150.0, 180.0}
    e = region_mask(parse_region("elevation:-30:30"), pos, 0)
    assert e.sum() == 36
    assert region_mask(parse_region("azimuth:0:360"), pos, 0).all()


def test_bad_region_names():
    for text in ("sideways", "elevation:10", "elevation:40:20", "azimuth:a:b"):
        with pytest.raises(ValueError, match="region"):
            parse_region(text)


def test_typical_spacing():
    pos = grid(az_step=10.0, els=(0.0,))  # one ring, 10 deg apart (+ the poles, 90 deg away)
    assert typical_spacing_deg(pos) == pytest.approx(10.0)


def write_pair(root, pos, seed=0, stem="x"):
    ref = synth.spherical_head_hrirs(pos, 48000, 128, seed=seed)
    pred = synth.degrade(ref, seed=seed + 1)
    root.mkdir(parents=True, exist_ok=True)
    (root / "p").mkdir(exist_ok=True)
    (root / "r").mkdir(exist_ok=True)
    synth.write_sofa(root / "p" / f"{stem}.sofa", pred, pos, 48000)
    synth.write_sofa(root / "r" / f"{stem}.sofa", ref, pos, 48000)
    return root / "p" / f"{stem}.sofa", root / "r" / f"{stem}.sofa"


def cli(*args, code=0):
    device = ["--device", "cpu"] if args[0] == "score" else []
    res = runner.invoke(app, [str(a) for a in args] + device)
    assert res.exit_code == code, res.stderr
    return res


def test_region_scores_are_the_subset_reductions(tmp_path):
    pos = grid()
    p, r = write_pair(tmp_path, pos)
    res = cli(
        "score",
        p,
        r,
        "-m",
        "lsd",
        "-m",
        "ild",
        "--region",
        "horizontal",
        "--region",
        "azimuth:-30:30",
        "--region",
        "elevation:70:80",
        "-f",
        "json",
    )
    doc = json.loads(res.stdout)
    from hrtfeval.scoring import ScoreOptions, load_aligned, per_direction_errors

    opts = ScoreOptions.build(["lsd"])
    aligned = load_aligned(str(p), str(r), opts)
    lsd = per_direction_errors(aligned, "lsd", opts).values.numpy()
    ild = per_direction_errors(aligned, "ild", opts).values.numpy()
    hor = np.isclose(aligned.reference.positions[:, 1], 0)
    block = doc["regions"]["horizontal"]
    assert block["directions"] == 12
    assert block["scores"]["lsd"]["overall"] == pytest.approx(lsd[hor].mean(), rel=1e-12)
    assert block["scores"]["lsd"]["right"] == pytest.approx(lsd[hor, 1].mean(), rel=1e-12)
    assert block["scores"]["ild"]["overall"] == pytest.approx(ild[hor].mean(), rel=1e-12)
    assert doc["regions"]["azimuth:-30:30"]["directions"] == 3 * 5 + 2
    assert doc["regions"]["elevation:70:80"] == {
        "directions": 0,
        "scores": {},
        "note": "no direction of the grid lies in this region",
    }
    spec = doc["spec"]["regions"]
    assert spec["tolerance_deg"] == pytest.approx(typical_spacing_deg(pos) / 2)
    assert "default: half" in spec["tolerance"]
    # The full-sphere scores are those of a plain run.
    plain = json.loads(cli("score", p, r, "-m", "lsd", "-m", "ild", "-f", "json").stdout)
    assert plain["scores"] == doc["scores"] and "regions" not in plain
    # An explicit tolerance is stated; a region check fails the run with exit 1.
    res = cli(
        "score",
        p,
        r,
        "--region",
        "median",
        "--region-tolerance",
        "1",
        "--fail-above",
        "median.lsd=0.01",
        "-f",
        "json",
        code=1,
    )
    doc = json.loads(res.stdout)
    assert doc["spec"]["regions"]["tolerance"] == "--region-tolerance"
    assert doc["regions"]["median"]["scores"]["lsd"]["passed"] is False
    assert doc["scores"]["lsd"]["passed"] is None and doc["passed"] is False
    assert doc["spec"]["thresholds"]["median.lsd"]["limit"] == 0.01
    # A check on an empty region is an error, not a pass.
    res = cli(
        "score",
        p,
        r,
        "--region",
        "elevation:70:80",
        "--fail-above",
        "elevation:70:80.lsd=9",
        code=2,
    )
    assert "holds none" in res.stderr
    res = cli("score", p, r, "--fail-above", "horizontal.lsd=9", code=2)
    assert "add --region horizontal" in res.stderr


def test_exclude_csv_and_sofa(tmp_path):
    pos = grid()
    p, r = write_pair(tmp_path, pos)
    csv_path = tmp_path / "sparse.csv"
    csv_path.write_text("azimuth,elevation\n0,0\n90,0\n180,0\n270,0\n45,10\n")
    # A listed direction that is not in the grid is an error (a misread must not leave some in).
    res = cli("score", p, r, "--exclude", csv_path, code=2)
    assert "1 of its 5 directions are not in the reference grid" in res.stderr
    assert "(45, 10)" in res.stderr
    csv_path = tmp_path / "sparse4.csv"
    csv_path.write_text("azimuth,elevation\n0,0\n90,0\n180,0\n270,0\n")
    doc = json.loads(cli("score", p, r, "--exclude", csv_path, "-f", "json").stdout)
    d = doc["spec"]["directions"]
    assert d["matched"] == len(pos) - 4 and d["excluded"] == 4
    from hrtfeval.scoring import ScoreOptions, load_aligned, per_direction_errors

    opts = ScoreOptions.build(["lsd"])
    lsd = per_direction_errors(load_aligned(str(p), str(r), opts), "lsd", opts).values.numpy()
    keep = ~(np.isclose(pos[:, 1], 0) & np.isin(pos[:, 0], [0, 90, 180, 270]))
    assert doc["scores"]["lsd"]["overall"] == pytest.approx(lsd[keep].mean(), rel=1e-12)
    # A SOFA file of the sparse directions does the same.
    sparse = pos[np.isclose(pos[:, 1], 0) & np.isin(pos[:, 0], [0, 90, 180, 270])]
    synth.write_sofa(
        tmp_path / "sparse.sofa", synth.spherical_head_hrirs(sparse, 48000, 128), sparse, 48000
    )
    doc2 = json.loads(
        cli("score", p, r, "--exclude", tmp_path / "sparse.sofa", "-f", "json").stdout
    )
    assert doc2["scores"] == doc["scores"]
    # A file that matches nothing (radians?) is an error.
    (tmp_path / "rad.csv").write_text("0.5,0.1\n1.5,0.2\n")
    res = cli("score", p, r, "--exclude", tmp_path / "rad.csv", code=2)
    assert "none of its 2 directions" in res.stderr
    (tmp_path / "bad.csv").write_text("az,el\n0,zero\n")
    res = cli("score", p, r, "--exclude", tmp_path / "bad.csv", code=2)
    assert "row 2" in res.stderr


def test_batch_merge_and_gates(tmp_path):
    pos = grid()
    for i in range(3):
        write_pair(tmp_path, pos, seed=i, stem=f"s{i}")
    args = [
        "score",
        tmp_path / "p",
        tmp_path / "r",
        "--workers",
        "0",
        "--region",
        "horizontal",
        "-m",
        "lsd",
        "-f",
        "json",
    ]
    full = json.loads(cli(*args).stdout)
    agg = full["region_aggregate"]["horizontal"]
    vals = [e["regions"]["horizontal"]["scores"]["lsd"]["overall"] for e in full["pairs"]]
    assert agg["scores"]["lsd"]["mean"] == pytest.approx(np.mean(vals), rel=1e-12)
    assert agg["directions"]["mean"] == 12
    assert full["spec"]["regions"] == ["horizontal"]
    # A region gate in the run and in merge.
    limit = float(np.median(vals))
    gated = json.loads(cli(*args, "--fail-above", f"horizontal.lsd={limit}", code=1).stdout)
    assert gated["counts"]["failed"] == sum(v > limit for v in vals)
    from hrtfeval.render.junit import junit_cases

    failures = [c for c in junit_cases(gated) if c["outcome"] == "failure"]
    assert len(failures) == gated["counts"]["failed"]
    assert all(c["name"].startswith("horizontal.lsd <=") for c in failures)
    for k in (1, 2):
        (tmp_path / f"shard{k}.json").write_text(cli(*args, "--shard", f"{k}/2").stdout)
    merged = cli("merge", tmp_path / "shard1.json", tmp_path / "shard2.json", "-f", "json")
    mdoc = json.loads(merged.stdout)
    assert mdoc["region_aggregate"] == full["region_aggregate"]
    res = runner.invoke(
        app,
        [
            "merge",
            str(tmp_path / "shard1.json"),
            str(tmp_path / "shard2.json"),
            "-f",
            "json",
            "--fail-above",
            f"horizontal.lsd={limit}",
        ],
    )
    assert res.exit_code == 1, res.stderr
    assert json.loads(res.stdout)["counts"]["failed"] == gated["counts"]["failed"]
    res = runner.invoke(
        app,
        [
            "merge",
            str(tmp_path / "shard1.json"),
            "--allow-missing-shards",
            "--fail-above",
            "median.lsd=1",
        ],
    )
    assert res.exit_code == 2 and "median" in res.stderr
    # Stacked batches give the same regions as pair by pair.
    from hrtfeval.batch import find_pairs, run_batch
    from hrtfeval.scoring import ScoreOptions

    opts = ScoreOptions.build(["lsd", "itd"], regions=("front", "elevation:-30:30"))
    pl = find_pairs(tmp_path / "p", tmp_path / "r", None)
    a = run_batch(pl, opts, device="cpu", workers=0, stack=True)
    b = run_batch(pl, opts, device="cpu", workers=0, stack=False)
    assert [e["regions"] for e in a["pairs"]] == [e["regions"] for e in b["pairs"]]


def test_options_refuse_bad_region_input():
    from hrtfeval.scoring import ScoreOptions

    with pytest.raises(ValueError, match="--region-tolerance"):
        ScoreOptions.build(["lsd"], regions=("horizontal",), region_tolerance=-1.0)
    with pytest.raises(ValueError, match="not scored; add --metric itd"):
        ScoreOptions.build(["lsd"], regions=("horizontal",), fail_above={"horizontal.itd": 5})
    with pytest.raises(HrtfevalError):
        from hrtfeval.regions import apply_region_fail_above

        apply_region_fail_above({"spec": {}, "pairs": []}, {"upper.lsd": 1})


def test_exclude_csv_header_names_the_columns(tmp_path):
    """The header decides which column is the azimuth: elevation,azimuth is not misread."""
    from hrtfeval.regions import _EXCLUDE_CACHE, read_exclude

    _EXCLUDE_CACHE.clear()
    expected = np.array([[90.0, 30.0], [180.0, -30.0]])
    for name, text in (
        ("plain.csv", "90,30\n180,-30\n"),
        ("azel.csv", "azimuth,elevation\n90,30\n180,-30\n"),
        ("elaz.csv", "Elevation,Azimuth\n30,90\n-30,180\n"),
        ("short.csv", "id,EL,Az\nx,30,90\ny,-30,180\n"),
    ):
        (tmp_path / name).write_text(text)
        np.testing.assert_array_equal(read_exclude(str(tmp_path / name)), expected)
    (tmp_path / "bad.csv").write_text("theta,phi\n30,90\n")
    with pytest.raises(HrtfevalError, match="must name one azimuth column"):
        read_exclude(str(tmp_path / "bad.csv"))
    # End to end: the swapped file leaves out the same directions as the plain one.
    pos = grid()
    p, r = write_pair(tmp_path, pos)
    a = json.loads(cli("score", p, r, "--exclude", tmp_path / "plain.csv", "-f", "json").stdout)
    b = json.loads(cli("score", p, r, "--exclude", tmp_path / "elaz.csv", "-f", "json").stdout)
    assert a["spec"]["directions"]["excluded"] == 2 and a["scores"] == b["scores"]
