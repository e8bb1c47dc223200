"""Processes and signals: stop signals, children that die with the main process, time limits on
reading, worker imports, folder links.

Runs that must be stopped go through the installed CLI in a subprocess of its own session
(``start_new_session``): its process group then holds the main process, the forkserver, the
resource tracker and the workers, so "nothing left running" is "the group is empty". A file
that hangs the reader is simulated by a ``sitecustomize`` module that makes ``read_hrtf``
sleep for files whose name contains ``stall`` (in every process, workers included), or, in
this process, by monkeypatching ``read_hrtf`` (forked reader children inherit it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrtfeval import synth
from hrtfeval.batch import pair_directories, scan_directory, score_stream
from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError
from hrtfeval.scoring import ScoreOptions

ROOT = Path(__file__).resolve().parents[1]
FS = 48000
runner = CliRunner()

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process checks read /proc"
)

STALL_HOOK = textwrap.dedent(
    """
    import os
    import time

    if os.environ.get("HRTFEVAL_TEST_STALL"):
        import hrtfeval.io as _io

        _real = _io.read_hrtf

        def _read_hrtf(path, **kwargs):
            if os.environ["HRTFEVAL_TEST_STALL"] in os.path.basename(str(path)):
                marks = os.environ.get("HRTFEVAL_TEST_STALL_MARKS")
                if marks:  # tell the test which process is stuck now
                    open(os.path.join(marks, str(os.getpid())), "w").close()
                while True:  # as HDF5 does on a damaged attribute
                    time.sleep(0.05)
            return _real(path, **kwargs)

        _io.read_hrtf = _read_hrtf
    """
)


@pytest.fixture(scope="module")
def one_pair(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("one")
    positions = synth.sphere_grid(40)
    ref = synth.spherical_head_hrirs(positions, FS, 128, seed=1)
    pred = synth.degrade(ref, seed=2)
    synth.write_sofa(root / "p.sofa", pred, positions, FS)
    synth.write_sofa(root / "r.sofa", ref, positions, FS)
    return {"pred": root / "p.sofa", "ref": root / "r.sofa", "root": root}


def write_spinning_sofa(path: Path) -> Path:
    """A small SOFA file that makes HDF5 loop forever while the attributes are read: the size
    of the first object in the global heap (a DIMENSION_LIST reference, 8 bytes) set to 10 -
    the bit flipped in a damaged MIT KEMAR file (0x08 -> 0x0A)."""
    import numpy as np
    import sofar

    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    sofa.Data_IR = np.random.default_rng(0).standard_normal((10, 2, 32))
    sofa.SourcePosition = np.column_stack([np.arange(10) * 36.0, np.zeros(10), np.ones(10)])
    sofa.Data_SamplingRate = FS
    sofar.write_sofa(str(path), sofa, compression=0)
    data = bytearray(path.read_bytes())
    heap = data.find(b"GCOL")  # header: signature, version, 3 reserved, size (8)
    size_at = heap + 16 + 8  # first object: index (2), references (2), reserved (4), size (8)
    if heap < 0 or data[size_at] != 0x08:
        pytest.skip("this netCDF/HDF5 library lays out the global heap differently")
    data[size_at] = 0x0A
    path.write_bytes(data)
    return path


def make_batch(root: Path, one_pair: dict, names: list[str]) -> Path:
    for side, src in (("pred", one_pair["pred"]), ("ref", one_pair["ref"])):
        (root / side).mkdir(parents=True)
        for name in names:
            shutil.copy(src, root / side / f"{name}.sofa")
    return root


@pytest.fixture
def hook_env(tmp_path) -> dict:
    """Environment of a CLI subprocess with the stall hook installed."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STALL_HOOK)
    marks = tmp_path / "stalled"
    marks.mkdir()
    env = dict(
        os.environ,
        NO_COLOR="1",
        HRTFEVAL_TEST_STALL="stall",
        HRTFEVAL_TEST_STALL_MARKS=str(marks),
    )
    env["PYTHONPATH"] = os.pathsep.join([str(hook), str(ROOT)])
    return env


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "hrtfeval", *[str(a) for a in args]]


def group_members(pgid: int) -> list[str]:
    """``pid name`` of the processes in process group ``pgid`` (zombies left out)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(f"{entry} {name}")
    return found


def wait_group_empty(pgid: int, within: float = 10.0) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        left = group_members(pgid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def wait_for(predicate, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------
# Stop signals during a batch


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, to_group, code",
    [
        (signal.SIGTERM, False, 143),  # kill PID
        (signal.SIGTERM, True, 143),  # timeout(1), a job scheduler
        (signal.SIGINT, True, 130),  # Ctrl-C in a terminal (pressed twice: still clean)
    ],
)
def test_a_stop_signal_leaves_nothing_behind(tmp_path, one_pair, hook_env, sig, to_group, code):
    # s00 is scored, the other 29 pairs hang in their readers: only the signal ends the run.
    names = ["s00"] + [f"stall{i:02d}" for i in range(1, 30)]
    root = make_batch(tmp_path / "data", one_pair, names)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        cli_command(
            "score",
            root / "pred",
            root / "ref",
            "-f",
            "jsonl",
            "-o",
            out,
            "--workers",
            "2",
            "--device",
            "cpu",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hook_env,
        start_new_session=True,
    )
    try:
        # Both workers are stuck in a reader (s00 went before them): the run is in the middle.
        # (The output file is written at the end, all or nothing: nothing to see there yet.)
        wait_for(
            lambda: len(os.listdir(tmp_path / "stalled")) >= 2,
            240,
            "both workers to be stuck in a reader",
        )
        time.sleep(0.5)
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        if sig == signal.SIGINT:
            time.sleep(0.02)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, stderr
    assert not out.exists()
    assert tmp_files(tmp_path) == []
    assert wait_group_empty(proc.pid) == []
    assert "Traceback" not in stderr
    assert "leaked" not in stderr
    assert stderr.strip().splitlines()[-1] == f"Interrupted ({sig.name})."
    assert stdout == ""


@pytest.mark.slow
def test_workers_die_with_a_killed_main_process(tmp_path, one_pair, hook_env):
    """SIGKILL of the main process (no handler runs): the forkserver and the workers, stuck in
    their readers, still go within seconds."""
    root = make_batch(tmp_path / "data", one_pair, ["s00", "stall01", "stall02", "stall03"])
    proc = subprocess.Popen(
        cli_command(
            "score",
            root / "pred",
            root / "ref",
            "-f",
            "jsonl",
            "--workers",
            "2",
            "--device",
            "cpu",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=hook_env,
        start_new_session=True,
    )
    try:
        first = proc.stdout.readline()  # s00 is scored: the workers are up and stuck now
        assert json.loads(first)["prediction"] == "s00.sofa"
        time.sleep(0.5)
        assert len(group_members(proc.pid)) >= 4  # main, forkserver, tracker, 2 workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert wait_group_empty(proc.pid) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.stdout.close()


@pytest.mark.slow
def test_the_reader_child_dies_with_a_killed_main_process(tmp_path, one_pair, hook_env):
    stall = tmp_path / "stall.sofa"
    shutil.copy(one_pair["pred"], stall)
    proc = subprocess.Popen(
        cli_command("score", stall, one_pair["ref"], "-f", "json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=hook_env,
        start_new_session=True,
    )
    try:
        wait_for(lambda: os.listdir(tmp_path / "stalled"), 120, "the reader child to be stuck")
        assert len(group_members(proc.pid)) >= 2  # the main process and its reading child
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert wait_group_empty(proc.pid) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.5])  # 0: while the main process still imports torch
def test_a_stop_signal_during_one_pair(tmp_path, one_pair, hook_env, delay):
    stall = tmp_path / "stall.sofa"
    shutil.copy(one_pair["pred"], stall)
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        cli_command("score", stall, one_pair["ref"], "-f", "json", "-o", out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hook_env,
        start_new_session=True,
    )
    try:
        wait_for(lambda: os.listdir(tmp_path / "stalled"), 120, "the reader child to be stuck")
        assert len(group_members(proc.pid)) >= 2  # the main process and its reading child
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, stderr
    assert wait_group_empty(proc.pid) == []
    assert stderr.strip() == "Interrupted (SIGTERM)." and stdout == ""
    assert not out.exists() and tmp_files(tmp_path) == []


# ----------------------------------------------------------------------------------------------
# Time limits


@pytest.mark.slow
def test_a_hanging_pair_in_a_batch_is_an_error_and_the_run_goes_on(tmp_path, one_pair):
    """The real thing: HDF5 spins on the damaged file; the stuck worker is killed."""
    root = make_batch(tmp_path / "data", one_pair, ["a", "b_stall", "c", "d", "e"])
    write_spinning_sofa(root / "pred" / "b_stall.sofa")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.monotonic()
    out = subprocess.run(  # noqa: PLW1510 - the return code is checked
        cli_command(
            "score",
            root / "pred",
            root / "ref",
            "-f",
            "json",
            "--workers",
            "2",
            "--timeout",
            "4",
            "--device",
            "cpu",
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    doc = json.loads(out.stdout)
    by_name = {e["prediction"]: e for e in doc["pairs"]}
    assert "--timeout" in by_name["b_stall.sofa"]["error"]
    assert all("scores" in by_name[f"{n}.sofa"] for n in "acde")
    assert doc["counts"]["scored"] == 4 and doc["counts"]["errors"] == 1
    assert time.monotonic() - t0 < 200
    assert "Traceback" not in out.stderr


def stalling_reader(monkeypatch):
    import hrtfeval.io as hio

    real = hio.read_hrtf

    def read_hrtf(path, **kwargs):
        if "stall" in os.path.basename(str(path)):
            while True:
                time.sleep(0.05)
        return real(path, **kwargs)

    monkeypatch.setattr(hio, "read_hrtf", read_hrtf)


def test_a_hanging_pair_without_workers_is_an_error_too(tmp_path, one_pair):
    root = make_batch(tmp_path / "data", one_pair, ["a", "b_stall", "c"])
    write_spinning_sofa(root / "pred" / "b_stall.sofa")
    result = runner.invoke(
        app,
        [
            "score",
            str(root / "pred"),
            str(root / "ref"),
            "-f",
            "json",
            "--workers",
            "0",
            "--timeout",
            "2",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 2, result.stderr
    doc = json.loads(result.stdout)
    errors = {e["prediction"]: e.get("error") for e in doc["pairs"]}
    assert errors["a.sofa"] is None and errors["c.sofa"] is None
    assert "--timeout" in errors["b_stall.sofa"] and "b_stall.sofa" in errors["b_stall.sofa"]
    assert doc["spec"]["timeout_s"] == 2


@pytest.mark.parametrize("command", ["score", "info", "plot"])
def test_one_hanging_file_is_a_one_line_error_after_the_timeout(
    tmp_path, one_pair, monkeypatch, command
):
    stalling_reader(monkeypatch)
    stall = tmp_path / "stall.sofa"
    shutil.copy(one_pair["pred"], stall)
    args = {
        "score": ["score", str(one_pair["pred"]), str(stall)],
        "info": ["info", str(stall)],
        "plot": ["plot", str(stall), str(one_pair["ref"]), "-o", str(tmp_path / "x.png")],
    }[command]
    t0 = time.monotonic()
    result = runner.invoke(app, [*args, "--timeout", "1.5"])
    assert result.exit_code == 2, result.output
    assert time.monotonic() - t0 < 60
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert str(stall) in lines[0] and "--timeout" in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_a_file_that_makes_hdf5_spin_is_an_error_after_the_timeout(tmp_path, one_pair):
    spin = write_spinning_sofa(tmp_path / "spin.sofa")
    t0 = time.monotonic()
    result = runner.invoke(app, ["score", str(spin), str(one_pair["ref"]), "--timeout", "3"])
    assert result.exit_code == 2, result.output
    assert time.monotonic() - t0 < 60
    assert result.stderr.startswith(f"Error: {spin}: reading took longer than 3 s (--timeout)")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_never_blocks(tmp_path, one_pair):
    fifo = tmp_path / "x.sofa"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    result = runner.invoke(app, ["score", str(fifo), str(one_pair["ref"]), "--timeout", "3"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and str(fifo) in result.stderr
    assert time.monotonic() - t0 < 60
    # In a batch the pair is an error at once, its files are never opened.
    root = make_batch(tmp_path / "data", one_pair, ["a", "b"])
    (root / "pred" / "b.sofa").unlink()
    os.mkfifo(root / "pred" / "b.sofa")
    result = runner.invoke(
        app, ["score", str(root / "pred"), str(root / "ref"), "-f", "json", "--workers", "0"]
    )
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert "scores" in doc["pairs"][0]
    assert "FIFO" in doc["pairs"][1]["error"]
    # A FIFO as the --pairs file.
    sheet = tmp_path / "pairs.csv"
    os.mkfifo(sheet)
    result = runner.invoke(app, ["score", "--pairs", str(sheet)])
    assert result.exit_code == 2 and "FIFO" in result.stderr
    # FIFOs where a JSON document is read: --baseline, merge, plot RESULTS.json.
    doc_fifo = tmp_path / "doc.json"
    os.mkfifo(doc_fifo)
    for args in (
        ["score", str(one_pair["pred"]), str(one_pair["ref"]), "--baseline", str(doc_fifo)],
        ["merge", str(doc_fifo)],
        ["plot", str(doc_fifo), "-o", str(tmp_path / "b.png")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "FIFO" in result.stderr, (args, result.stderr)


def test_a_child_reads_a_large_pt_file_after_torch_used_threads_here(tmp_path):
    """A forked reader of a process whose torch thread pool ran (``--workers 0`` after some
    pairs, the tests) converts a large tensor: without one thread it waits forever."""
    import torch

    from hrtfeval.io import read_hrtf
    from hrtfeval.procs import read_in_child

    positions = synth.sphere_grid(400)
    hrirs = synth.spherical_head_hrirs(positions, FS, 256, seed=3)
    synth.write_pt(tmp_path / "big.pt", hrirs, positions, FS)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.randn(2_000_000).exp().sum()  # the pool is up now
        t0 = time.monotonic()
        (hrtf,) = read_in_child(read_hrtf, [tmp_path / "big.pt"], 60)
    finally:
        torch.set_num_threads(saved)
    assert time.monotonic() - t0 < 50
    assert hrtf.data.shape == (400, 2, 256)


def _sleeps_on_2(job):
    if job == 2:
        time.sleep(3600)
    return "ok", job * 10


def test_a_job_over_the_time_limit_costs_only_itself():
    from hrtfeval.batch import WorkerPool, ordered_map

    pool = WorkerPool(2, timeout=3)
    assert pool.start("cpu") == "cpu"
    try:
        pids = {w.proc.pid for w in pool._workers}
        results = list(ordered_map(_sleeps_on_2, list(range(7)), pool, 4))
        assert len(pool._workers) == 2  # the stuck one was replaced
        assert {w.proc.pid for w in pool._workers} != pids
    finally:
        pool.close()
    assert [r for i, r in enumerate(results) if i != 2] == [
        ("ok", i * 10) for i in range(7) if i != 2
    ]
    assert results[2][0] == "error" and "--timeout" in results[2][1]


# ----------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize("value", ["-1", "-5"])
def test_negative_workers_is_a_one_line_error(one_pair, value):
    root = one_pair["root"]
    result = runner.invoke(app, ["score", str(root), str(root), "--workers", value])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --workers") and value in lines[0]
    with pytest.raises(HrtfevalError, match="--workers"):
        list(score_stream([], ScoreOptions.build(["lsd"]), "cpu", -2))


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf"])
def test_bad_timeout_is_a_one_line_error(one_pair, value):
    result = runner.invoke(
        app, ["score", str(one_pair["pred"]), str(one_pair["ref"]), "--timeout", value]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --timeout") and "\n" not in result.stderr.strip()


def test_the_time_limit_is_stated_in_the_single_pair_spec(one_pair):
    args = ["score", str(one_pair["pred"]), str(one_pair["ref"]), "-f", "json", "--device", "cpu"]
    doc = json.loads(runner.invoke(app, args).stdout)
    assert doc["spec"]["timeout_s"] == 120
    doc = json.loads(runner.invoke(app, [*args, "--timeout", "30"]).stdout)
    assert doc["spec"]["timeout_s"] == 30


# ----------------------------------------------------------------------------------------------
# Worker imports


@pytest.mark.slow
def test_workers_import_the_package_of_the_main_process(tmp_path, one_pair):
    """A folder named hrtfeval in the working directory must not shadow the package in the
    workers (the forkserver's ``python -c`` puts the working directory first on sys.path).
    The package is found as an editable install finds it: not through PYTHONPATH."""
    root = make_batch(tmp_path / "data", one_pair, ["a", "b", "c"])
    work = tmp_path / "work"
    (work / "hrtfeval").mkdir(parents=True)  # e.g. a folder of results
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from hrtfeval.cli import main; "
        f"sys.argv = ['hrtfeval', 'score', {str(root / 'pred')!r}, {str(root / 'ref')!r}, "
        "'-f', 'json', '--workers', '2', '--device', 'cpu']; main()"
    )
    out = subprocess.run(  # noqa: PLW1510 - the return code is checked
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["counts"]["scored"] == 3


# ----------------------------------------------------------------------------------------------
# Folder links


def test_folder_links_are_followed_once(tmp_path, one_pair):
    root = make_batch(tmp_path / "data", one_pair, ["a", "b"])
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(one_pair["pred"], outside / "c.sofa")
    shutil.copy(one_pair["ref"], root / "ref" / "c.sofa")
    os.symlink("..", root / "pred" / "loop")  # an ancestor: never entered
    os.symlink(".", root / "pred" / "self")  # the folder itself: scanned once already
    os.symlink(outside, root / "pred" / "ext")  # elsewhere: followed once
    os.symlink("..", outside / "back")  # a loop out there, too
    (root / "ref" / "c.sofa").rename(root / "ref" / "c_moved.sofa")
    (root / "ref" / "ext").mkdir()
    shutil.copy(one_pair["ref"], root / "ref" / "ext" / "c.sofa")
    code = (
        "import json, sys; from hrtfeval.batch import scan_directory; "
        f"print(json.dumps(scan_directory({str(root / 'pred')!r})))"
    )
    out = subprocess.run(  # noqa: PLW1510 - the return code is checked
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"a": "a.sofa", "b": "b.sofa", "ext/c": "ext/c.sofa"}
    pl = pair_directories(root / "pred", root / "ref")
    assert [p.prediction for p in pl.pairs] == ["a.sofa", "b.sofa", "ext/c.sofa"]
    assert pl.unmatched_prediction == [] and pl.unmatched_target == ["c_moved.sofa"]


def test_a_link_to_a_folder_keeps_the_real_name(tmp_path, one_pair):
    root = make_batch(tmp_path / "data", one_pair, ["a"])
    (root / "pred" / "real").mkdir()
    shutil.copy(one_pair["pred"], root / "pred" / "real" / "x.sofa")
    os.symlink("real", root / "pred" / "alias")  # sorts before "real"
    assert scan_directory(root / "pred") == {"a": "a.sofa", "real/x": "real/x.sofa"}


# ----------------------------------------------------------------------------------------------
# The reading child's time limit counts the child's reading only


def _quick_read(path):
    return f"read {path}"


def _slow_read(path):
    time.sleep(0.6)
    return f"read {path}"


def test_a_finished_child_read_is_returned_however_late_it_is_asked_for():
    """The parent imports torch (1.5-3 s on a loaded machine) between starting the child and
    asking for its result: that time was counted against --timeout, so two good files gave
    'reading took longer than 1.5 s'."""
    from hrtfeval.procs import ChildRead

    child = ChildRead(_slow_read, ["a", "b"], timeout=1.5)
    time.sleep(3.0)  # the parent busy elsewhere, well past the limit
    assert child.result() == ["read a", "read b"]
    child = ChildRead(_quick_read, ["a"], timeout=0.5)
    time.sleep(1.5)
    assert child.result() == ["read a"]


def test_the_time_limit_still_bounds_a_child_that_hangs():
    from hrtfeval.procs import ChildRead

    child = ChildRead(_sleeps_forever, ["x.sofa", "y.sofa"], timeout=1.0)
    time.sleep(0.2)
    t0 = time.monotonic()
    with pytest.raises(HrtfevalError, match=r"x\.sofa: reading took longer than 1 s"):
        child.result()
    assert time.monotonic() - t0 < 30


def _sleeps_forever(path):
    while True:
        time.sleep(0.05)


def test_a_second_stop_signal_after_the_first_is_ignored_until_exit():
    """A double Ctrl-C whose second press came after the clean-up (when the handlers were
    restored) killed the process by SIGINT: exit status -2 instead of 130."""
    from hrtfeval.procs import Interrupted, signals_as_exceptions

    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(Interrupted), signals_as_exceptions():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler raises here
        os.kill(os.getpid(), signal.SIGINT)  # the second press: must not raise KeyboardInterrupt
        time.sleep(0.2)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, before if s == signal.SIGINT else signal.SIG_DFL)
