"""Output safety: no output over an input, outputs checked before the run and written all or
nothing, the format from the extension, special files (devices, FIFOs, links) kept as they are,
file modes, temporary files, long names."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
FS = 48000
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, needle: str = "") -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A small 48 kHz pair: (prediction, reference)."""
    root = tmp_path_factory.mktemp("outputs_pair")
    positions = synth.sphere_grid(30)
    ref = synth.spherical_head_hrirs(positions, FS, 128)
    pred = synth.degrade(ref, seed=1)
    return (
        synth.write_sofa(root / "pred.sofa", pred, positions, FS),
        synth.write_sofa(root / "ref.sofa", ref, positions, FS),
    )


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """Three pairs under pred/ and ref/."""
    root = tmp_path_factory.mktemp("outputs_batch")
    positions = synth.sphere_grid(20)
    for side in ("pred", "ref"):
        (root / side).mkdir()
    for i in range(3):
        ref = synth.spherical_head_hrirs(positions, FS, 128, seed=i)
        synth.write_sofa(root / "ref" / f"p{i}.sofa", ref, positions, FS)
        synth.write_sofa(root / "pred" / f"p{i}.sofa", synth.degrade(ref, seed=i), positions, FS)
    return root


def score(*args):
    # --workers only for a batch: for one pair it is a usage error (issue 13)
    batch = "--pairs" in map(str, args) or os.path.isdir(args[0])
    return invoke("score", *args, "--device", "cpu", *(["--workers", "0"] if batch else []))


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------------------------
# Data loss: an output never replaces an input


def test_output_that_is_the_reference_is_refused(pair, tmp_path):
    pred, ref = pair
    victim = tmp_path / "ref.sofa"
    victim.write_bytes(ref.read_bytes())
    before = victim.read_bytes()
    result = score(pred, victim, "-f", "json", "-o", victim)
    one_error_line(result, "would overwrite an input")
    assert victim.read_bytes() == before


@pytest.mark.parametrize("how", ["symlink", "hardlink", "other_sofa", "other_pt"])
def test_output_through_links_or_over_hrtf_data_is_refused(pair, tmp_path, how):
    pred, ref = pair
    victim = tmp_path / "ref.sofa"
    victim.write_bytes(ref.read_bytes())
    if how == "symlink":
        out = tmp_path / "out.json"
        out.symlink_to(victim)
        args, needle = (pred, victim), "input"
    elif how == "hardlink":
        out = tmp_path / "out.json"
        os.link(victim, out)
        args, needle = (pred, victim), "input"
    else:
        # Not an input of this run, but HRTF data all the same.
        out = tmp_path / ("other.sofa" if how == "other_sofa" else "other.PT")
        out.write_bytes(b"precious measured data")
        args, needle = (pred, ref), "existing"
    before = victim.read_bytes(), out.read_bytes()
    result = score(*args, "-f", "json", "-o", out)
    one_error_line(result, needle)
    assert (victim.read_bytes(), out.read_bytes()) == before


def test_junit_over_the_baseline_and_batch_inputs_is_refused(dirs, tmp_path):
    base = tmp_path / "base.json"
    ok = score(dirs / "pred", dirs / "ref", "-f", "json", "-o", base, "--quiet")
    assert ok.exit_code == 0, ok.output
    saved = base.read_bytes()
    result = score(dirs / "pred", dirs / "ref", "--baseline", base, "--junit", base)
    one_error_line(result, "input")
    assert base.read_bytes() == saved
    # A file of one of the pairs, given through a symbolic link with a harmless name.
    link = tmp_path / "scores.csv"
    link.symlink_to(dirs / "ref" / "p1.sofa")
    result = score(dirs / "pred", dirs / "ref", "-o", link)
    one_error_line(result, "input")
    assert (dirs / "ref" / "p1.sofa").read_bytes()[:4] == b"\x89HDF"


def test_output_over_the_pairs_csv_or_a_merged_document_is_refused(dirs, tmp_path):
    csv_file = tmp_path / "pairs.csv"
    csv_file.write_text(
        "prediction,target\n"
        + "".join(f"{dirs}/pred/p{i}.sofa,{dirs}/ref/p{i}.sofa\n" for i in range(3))
    )
    saved = csv_file.read_text()
    result = score("--pairs", csv_file, "-f", "csv", "-o", csv_file)
    one_error_line(result, "input")
    assert csv_file.read_text() == saved
    doc = tmp_path / "run.json"
    assert score("--pairs", csv_file, "-o", doc, "-q").exit_code == 0
    text = doc.read_text()
    merged = invoke("merge", doc, "-f", "json", "-o", doc)
    one_error_line(merged, "input")
    assert doc.read_text() == text


def test_plot_output_through_a_link_to_an_input_is_refused(pair, tmp_path):
    pred, ref = pair
    victim = tmp_path / "ref.sofa"
    victim.write_bytes(ref.read_bytes())
    link = tmp_path / "picture.png"
    link.symlink_to(victim)
    result = invoke("plot", pred, victim, "-o", link, "--device", "cpu")
    one_error_line(result, "input")
    assert victim.read_bytes() == ref.read_bytes()


def test_the_same_file_for_two_outputs_is_refused(pair, tmp_path):
    out = tmp_path / "out.json"
    result = score(*pair, "-f", "json", "-o", out, "--junit", out)
    one_error_line(result, "--junit")
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Checked before the run, written all or nothing


def test_unwritable_outputs_fail_before_any_scoring(pair, dirs, tmp_path, monkeypatch):
    import hrtfeval.batch
    import hrtfeval.scoring

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored although an output cannot be written")

    monkeypatch.setattr(hrtfeval.scoring, "load_aligned", no_scoring)
    monkeypatch.setattr(hrtfeval.batch, "run_batch", no_scoring)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for args, needle in [
        ((*pair, "-o", tmp_path / "missing" / "out.json"), "does not exist"),
        ((*pair, "--junit", tmp_path / "missing" / "out.xml"), "does not exist"),
        ((*pair, "--plot", a_file / "plots"), "file.txt"),
        ((dirs / "pred", dirs / "ref", "-o", tmp_path / "missing" / "out.json"), "missing"),
        ((dirs / "pred", dirs / "ref", "--plot", a_file), "not a folder"),
    ]:
        one_error_line(score(*args), needle)
    result = invoke("plot", *pair, "-o", tmp_path / "missing" / "x.png", "--device", "cpu")
    one_error_line(result, "does not exist")
    assert listing(tmp_path) == ["file.txt"]


def test_a_folder_without_write_permission_fails_before_scoring(pair, tmp_path, monkeypatch):
    """As root every folder is writable, so the refusal of the file system is simulated."""
    import hrtfeval.outputs
    import hrtfeval.scoring

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored although the output cannot be written")

    monkeypatch.setattr(hrtfeval.outputs.tempfile, "mkstemp", refused)
    monkeypatch.setattr(hrtfeval.scoring, "load_aligned", no_scoring)
    line = one_error_line(score(*pair, "-o", tmp_path / "out.json"), "Permission denied")
    assert "--output" in line and str(tmp_path) in line


def test_an_output_that_fails_leaves_none_behind(pair, tmp_path):
    """Before: -o was written, then --junit failed (exit 2) and the JSON stayed."""
    out = tmp_path / "out.json"
    result = score(*pair, "-o", out, "--junit", tmp_path / "no" / "report.xml")
    one_error_line(result, "report.xml")
    assert listing(tmp_path) == []


def test_commit_is_all_or_nothing_and_leaves_no_temporary_file(tmp_path):
    from hrtfeval.errors import HrtfevalError
    from hrtfeval.outputs import OutputPlan

    (tmp_path / "b").mkdir()
    plan = OutputPlan()
    first = plan.file(tmp_path / "a.json", "--output")
    second = plan.file(tmp_path / "b" / "report.xml", "--junit")
    plot = plan.folder(tmp_path / "plots" / "deep", "--plot")
    plan.put(first, "{}")
    plan.put(second, "<xml/>")
    plan.put_in(plot, "x.png", b"png")
    (tmp_path / "b").rmdir()  # the folder goes away while the run scores
    with pytest.raises(HrtfevalError, match="report.xml"):
        plan.commit()
    assert listing(tmp_path) == []  # no a.json, no temporary file, no plots/ folder


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_any_exception_during_the_write_removes_the_temporary_files(tmp_path, monkeypatch, exc):
    from hrtfeval import outputs

    plan = outputs.OutputPlan()
    plan.put(plan.file(tmp_path / "a.json", "--output"), "{}")
    plan.put(plan.file(tmp_path / "b.xml", "--junit"), "<xml/>")

    def interrupted(src, dst):
        raise exc()

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(exc):
        plan.commit()
    assert listing(tmp_path) == []


def test_no_output_file_exists_while_a_batch_runs(dirs, tmp_path, monkeypatch):
    """Before: the JSON lines output had a temporary file (with partial content) from the start;
    a SIGTERM left it behind."""
    import hrtfeval.batch.runner

    real = hrtfeval.batch.runner.make_entry
    seen = []

    def watching(result):
        seen.append(listing(tmp_path))
        return real(result)

    monkeypatch.setattr(hrtfeval.batch.runner, "make_entry", watching)
    out = tmp_path / "out.jsonl"
    result = score(dirs / "pred", dirs / "ref", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert seen == [[], [], []]
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and "aggregate" in json.loads(lines[-1])


def test_interrupted_batch_leaves_nothing(dirs, tmp_path, monkeypatch):
    import hrtfeval.batch.runner

    calls = []

    def interrupt(result):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {"prediction": "x", "target": "y", "error": "e"}

    monkeypatch.setattr(hrtfeval.batch.runner, "make_entry", interrupt)
    result = score(
        dirs / "pred", dirs / "ref", "-o", tmp_path / "out.jsonl", "--junit", tmp_path / "r.xml"
    )
    assert result.exit_code == 130
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------------------------
# The format follows the extension


@pytest.mark.parametrize(
    "name,check",
    [
        ("scores.json", lambda text: json.loads(text)["scores"]),
        ("scores.csv", lambda text: text.startswith("metric,unit,")),
        ("scores.md", lambda text: "| Metric | Unit |" in text),
    ],
)
def test_format_follows_the_output_extension(pair, tmp_path, name, check):
    out = tmp_path / name
    result = score(*pair, "-o", out)
    assert result.exit_code == 0, result.output
    assert check(out.read_text())


def test_batch_jsonl_from_the_extension(dirs, tmp_path):
    out = tmp_path / "scores.jsonl"
    assert score(dirs / "pred", dirs / "ref", "-o", out, "-q").exit_code == 0
    objs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [o["prediction"] for o in objs[:3]] == ["p0.sofa", "p1.sofa", "p2.sofa"]


@pytest.mark.parametrize(
    "fmt,name", [("csv", "x.json"), ("table", "x.json"), ("json", "x.md"), ("json", "x.jsonl")]
)
def test_format_contradicting_the_extension_is_a_usage_error(pair, tmp_path, fmt, name):
    one_error_line(score(*pair, "-f", fmt, "-o", tmp_path / name), "extension")
    assert listing(tmp_path) == []


def test_explicit_format_with_another_extension_is_kept(pair, tmp_path):
    out = tmp_path / "scores.txt"
    assert score(*pair, "-f", "json", "-o", out).exit_code == 0
    json.loads(out.read_text())


# --------------------------------------------------------------------------------------------
# Special files, links, directories, modes, long names


def test_symlink_output_writes_its_target_and_stays_a_link(pair, tmp_path):
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)  # dangling: the target is created
    assert score(*pair, "-o", link).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["scores"]
    # and once more, over the now existing target
    assert score(*pair, "-o", link, "-m", "rmse").exit_code == 0
    assert link.is_symlink() and "rmse" in json.loads(real.read_text())["scores"]


def test_fifo_output_is_written_into_not_replaced(pair, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so the writer does not block
    try:
        result = score(*pair, "-f", "json", "-o", fifo)
        assert result.exit_code == 0, result.output
        data = b""
        while True:
            try:
                chunk = os.read(reader, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(data)["scores"]["lsd"]["overall"] > 0
    assert listing(tmp_path) == ["pipe"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_character_device_output_stays_a_device(pair, tmp_path):
    """A null device of our own in tmp_path (before: replaced by a regular file, as /dev/null
    was when run as root)."""
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    assert score(*pair, "-f", "json", "-o", dev).exit_code == 0
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert listing(tmp_path) == ["null"]


def test_dev_null_output_stays_a_character_device(pair):
    # Only with the fix present: the old code replaced the real /dev/null when run as root.
    pytest.importorskip("hrtfeval.outputs")
    assert score(*pair, "-f", "json", "-o", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_jsonl_output_on_a_directory_is_one_line_and_leaves_nothing(dirs, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    one_error_line(score(dirs / "pred", dirs / "ref", "-f", "jsonl", "-o", folder), "directory")
    assert listing(folder) == []


def test_new_outputs_get_the_normal_mode(dirs, tmp_path):
    old = os.umask(0o022)
    try:
        for fmt in ("json", "jsonl", "csv"):
            out = tmp_path / f"a.{fmt}"
            assert score(dirs / "pred", dirs / "ref", "-f", fmt, "-o", out, "-q").exit_code == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"a.json": 0o644, "a.jsonl": 0o644, "a.csv": 0o644}


def test_an_existing_output_keeps_its_mode(pair, tmp_path):
    out = tmp_path / "out.json"
    out.write_text("old")
    out.chmod(0o640)
    assert score(*pair, "-o", out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() != "old"


def test_too_long_names_are_one_line(pair, tmp_path):
    long = "a" * 300
    one_error_line(score(tmp_path / f"{long}.sofa", pair[1]), "long")
    one_error_line(score(pair[0], tmp_path / long / "ref.sofa"), "long")
    one_error_line(score(tmp_path / long, tmp_path / "x"), "long")
    one_error_line(score(*pair, "-o", tmp_path / f"{long}.json"), "long")


def test_a_long_but_legal_name_is_written(pair, tmp_path):
    """Before: the temporary file's name (the target's name plus a prefix and a suffix) went
    over 255 bytes, so a legal 250-byte name could not be written."""
    out = tmp_path / ("b" * 245 + ".json")
    assert score(*pair, "-o", out).exit_code == 0
    assert listing(tmp_path) == [out.name]


def test_plot_folder_is_written_with_the_document(pair, tmp_path):
    plots = tmp_path / "plots" / "run1"
    out = tmp_path / "out.json"
    result = score(*pair, "-o", out, "--plot", plots, "-m", "lsd")
    assert result.exit_code == 0, result.output
    assert "lsd_by_direction.png" in listing(plots) and out.exists()
    assert (plots / "lsd_by_direction.png").read_bytes()[:4] == b"\x89PNG"


def test_a_file_name_that_is_not_utf8_is_written_back_as_its_bytes(pair, tmp_path):
    """Before: 'utf-8' codec can't encode character '\\udcff' (exit 2, nothing written)."""
    name = os.fsdecode(b"bad\xff.sofa")
    pred = tmp_path / name
    pred.write_bytes(pair[0].read_bytes())
    out = tmp_path / "out.json"
    result = score(pred, pair[1], "-o", out)
    assert result.exit_code == 0, result.output
    assert b"bad\xff.sofa" in out.read_bytes()


def test_output_file_and_plot_folder_on_one_path_is_refused(pair, tmp_path):
    one_error_line(score(*pair, "-o", tmp_path / "x", "--plot", tmp_path / "x"), "--plot")
    assert listing(tmp_path) == []
