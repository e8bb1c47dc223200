"""Malformed and hostile inputs: every one gives exit code 2 and one line naming the file, quickly
and within bounded memory; silent directions, memory limits, warnings (issue 12, inputs).

Every file is built here: written with sofar, then damaged (truncated, bytes flipped, variables
replaced through h5py) or written field by field with netCDF4 / h5py / torch.save.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest
import sofar
import torch
from typer.testing import CliRunner

from hrtfeval.cli import app
from hrtfeval.errors import HrtfevalError, HrtfevalWarning
from hrtfeval.io import describe, read_hrtf
from hrtfeval.memory import default_limit, parse_size, set_bytes

runner = CliRunner()
FS = 48000.0
M, N = 8, 64
POS = np.array([[a, e, 1.2] for a in (0.0, 90.0, 180.0, 270.0) for e in (0.0, 30.0)])
RNG = np.random.default_rng(12)
IR = RNG.standard_normal((M, 2, N)) * np.exp(-np.arange(N) / 8.0)


def _write(path: Path, ir=IR, positions=POS, **fields) -> Path:
    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    sofa.Data_IR = ir
    sofa.Data_SamplingRate = FS
    sofa.SourcePosition = positions
    for key, value in fields.items():
        setattr(sofa, key, value)
    sofar.write_sofa(str(path), sofa)
    return path


def _one_line_error(result, *needles: str) -> str:
    """Exit code 2, exactly one stderr line ``Error: ...`` containing ``needles``, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert all(line.startswith(("Error:", "warning:")) for line in lines), result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _score(*args: str):
    return runner.invoke(app, ["score", *map(str, args)])


# --------------------------------------------------------------------------------------------
# SourcePosition is mandatory in SOFA


@pytest.mark.usefixtures("both_sofa_readers")
def test_sofa_without_source_position_is_an_error_not_row_order(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    perm = np.roll(np.arange(M), 3)
    pred = _write(tmp_path / "pred.sofa", ir=IR[perm], positions=POS[perm])
    with h5py.File(pred, "a") as f:
        del f["SourcePosition"]
    _one_line_error(_score(pred, ref), "pred.sofa", "SourcePosition")


def test_damaged_source_position_is_an_error(tmp_path):
    """A flipped byte in SourcePosition's object header (a checksum error for HDF5): the
    netCDF4 fall-back then sees no SourcePosition; before, the rows were matched by order."""
    ref = _write(tmp_path / "ref.sofa")
    perm = np.roll(np.arange(M), 3)
    pred = _write(tmp_path / "pred.sofa", ir=IR[perm], positions=POS[perm])
    with h5py.File(pred, "r") as f:
        header = h5py.h5o.get_info(f["SourcePosition"].id).addr
    raw = bytearray(pred.read_bytes())
    raw[header + 10] ^= 0xFF
    pred.write_bytes(bytes(raw))
    _one_line_error(_score(pred, ref), "pred.sofa", "SourcePosition")


def test_pt_without_positions_keeps_the_documented_fall_back(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    torch.save({"hrir": torch.from_numpy(IR), "sampling_rate": FS}, tmp_path / "pred.pt")
    result = _score(tmp_path / "pred.pt", ref, "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["scores"]["lsd"]["overall"] < 1e-5
    assert any("no positions" in n for n in doc["spec"]["notes"])


# --------------------------------------------------------------------------------------------
# Data.Delay


@pytest.mark.usefixtures("both_sofa_readers")
@pytest.mark.parametrize("delay", [[[-5.0, 3.0]], [[0.0, -0.5]], [[np.nan, 0.0]], [[np.inf, 0.0]]])
def test_negative_or_non_finite_delay_is_an_error(tmp_path, delay):
    path = _write(tmp_path / "d.sofa", Data_Delay=np.tile(delay, (M, 1)))
    with pytest.raises(HrtfevalError, match="Data.Delay") as err:
        read_hrtf(path)
    assert err.value.file == str(path) and "\n" not in str(err.value)


@pytest.mark.usefixtures("both_sofa_readers")
def test_zero_and_positive_delays_still_read(tmp_path):
    path = _write(tmp_path / "d.sofa", Data_Delay=np.tile([[0.0, 2.0]], (M, 1)))
    hrtf = read_hrtf(path)
    np.testing.assert_array_equal(hrtf.data[:, 1, 2:], IR[:, 1, :-2])


# --------------------------------------------------------------------------------------------
# Silent directions


def _silent_pair(tmp_path: Path, rows=(2, 5)) -> tuple[Path, Path, np.ndarray]:
    ir = IR.copy()
    ir[list(rows)] = 0.0
    return _write(tmp_path / "silent.sofa", ir=ir), _write(tmp_path / "ref.sofa"), ir


@pytest.mark.usefixtures("both_sofa_readers")
def test_reader_marks_silent_directions(tmp_path):
    ir = IR.copy()
    ir[3] = 0.0
    ir[6, 1] = 0.0  # one ear silent is enough: its ILD is infinite
    hrtf = read_hrtf(_write(tmp_path / "s.sofa", ir=ir))
    np.testing.assert_array_equal(np.flatnonzero(hrtf.silent), [3, 6])
    ir[0, 0, :2] = [1.0, -1.0]  # sums to zero but is not silent
    hrtf = read_hrtf(_write(tmp_path / "t.sofa", ir=ir))
    np.testing.assert_array_equal(np.flatnonzero(hrtf.silent), [3, 6])


@pytest.mark.usefixtures("both_sofa_readers")
def test_reader_marks_silent_tf_directions(tmp_path):
    sofa = sofar.Sofa("SimpleFreeFieldHRTF")
    tf = np.fft.rfft(IR, axis=-1)
    tf[1] = 0.0
    tf[4, 0] = 1j * tf[4, 0].imag  # real part zero only: not silent
    sofa.Data_Real, sofa.Data_Imag = tf.real, tf.imag
    sofa.N = np.fft.rfftfreq(N, 1 / FS)
    sofa.SourcePosition = POS
    sofar.write_sofa(str(tmp_path / "tf.sofa"), sofa)
    hrtf = read_hrtf(tmp_path / "tf.sofa")
    np.testing.assert_array_equal(np.flatnonzero(hrtf.silent), [1])


def test_pt_silent_directions(tmp_path):
    ir = IR.copy()
    ir[7] = 0.0
    torch.save({"hrir": torch.from_numpy(ir), "sampling_rate": FS}, tmp_path / "s.pt")
    np.testing.assert_array_equal(np.flatnonzero(read_hrtf(tmp_path / "s.pt").silent), [7])


@pytest.mark.parametrize(
    "args", [["-m", "ild"], ["-m", "itd"], ["--preset", "lap"], ["-m", "lsd", "-m", "itd"]]
)
def test_silent_directions_are_an_error_for_cues_naming_file_count_and_directions(
    tmp_path, monkeypatch, args
):
    silent, _, _ = _silent_pair(tmp_path)
    import hrtfeval.scoring

    def no_scoring(*a, **k):  # fail fast: nothing is computed before the check
        raise AssertionError("scored before the silent check")

    monkeypatch.setattr(hrtfeval.scoring, "tensors_for", no_scoring)
    line = _one_line_error(
        _score(silent, silent, *args),
        "silent.sofa",
        "2 of its 8 scored directions have a silent ear",
        "(az 90, el 0 deg), (az 180, el 30 deg)",
        "--exclude-silent",
    )
    assert "non-finite" not in line


def test_exclude_silent_scores_the_other_directions(tmp_path):
    silent, ref, _ = _silent_pair(tmp_path)
    keep = [i for i in range(M) if i not in (2, 5)]
    alone = _write(tmp_path / "kept.sofa", ir=IR[keep], positions=POS[keep])
    result = _score(silent, ref, "--preset", "lap", "-m", "rmse", "--exclude-silent", "-f", "json")
    assert result.exit_code in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    d = doc["spec"]["directions"]
    assert d["matched"] == 6 and d["reference"] == 8
    assert d["silent_excluded"] == {"prediction": 2, "reference": 0}
    assert d["silent"] == {"prediction": 0, "reference": 0}
    assert doc["spec"]["exclude_silent"] is True
    assert any("left out (--exclude-silent)" in n for n in doc["spec"]["notes"])
    # The same numbers as scoring a file that only holds the other directions.
    expected = json.loads(
        _score(alone, ref, "--preset", "lap", "-m", "rmse", "--allow-missing", "-f", "json").stdout
    )
    for metric in ("itd", "ild", "lsd", "rmse"):
        assert doc["scores"][metric]["overall"] == pytest.approx(
            expected["scores"][metric]["overall"], rel=1e-12
        )


def test_silent_directions_warn_once_for_spectral_metrics(tmp_path):
    silent, ref, _ = _silent_pair(tmp_path)
    result = _score(silent, ref, "-m", "lsd", "-f", "json")
    assert result.exit_code == 0, result.stderr
    warns = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warns) == 1 and "silent.sofa" in warns[0] and "2 of its 8" in warns[0]
    assert len(result.stderr.splitlines()) == 1
    # Defined and large: 20 log10(eps) against the measured spectrum in the two directions.
    doc = json.loads(result.stdout)
    assert doc["scores"]["lsd"]["overall"] > 50
    assert doc["spec"]["directions"]["silent"] == {"prediction": 2, "reference": 0}
    assert doc["spec"]["directions"]["silent_excluded"] is None


def test_silent_directions_in_batch_are_a_per_pair_error(tmp_path):
    pred_dir, ref_dir = tmp_path / "pred", tmp_path / "ref"
    pred_dir.mkdir()
    ref_dir.mkdir()
    silent, ref, _ = _silent_pair(tmp_path)
    shutil.copy(silent, pred_dir / "a.sofa")
    shutil.copy(ref, ref_dir / "a.sofa")
    shutil.copy(ref, pred_dir / "b.sofa")
    shutil.copy(ref, ref_dir / "b.sofa")
    result = _score(pred_dir, ref_dir, "-m", "ild", "-j", "0", "-f", "json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    entries = {e["prediction"]: e for e in doc["pairs"]}
    assert "silent ear" in entries["a.sofa"]["error"] and "a.sofa" in entries["a.sofa"]["error"]
    assert "scores" in entries["b.sofa"]
    result = _score(pred_dir, ref_dir, "-m", "ild", "-j", "0", "-f", "json", "--exclude-silent")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["spec"]["exclude_silent"] is True
    a = next(e for e in doc["pairs"] if e["prediction"] == "a.sofa")
    assert a["spec"]["directions"]["silent_excluded"] == {"prediction": 2, "reference": 0}


def test_info_lists_silent_directions(tmp_path):
    silent, _, _ = _silent_pair(tmp_path)
    facts = describe(silent, cues=True)
    assert facts["silent_directions"] == {
        "count": 2,
        "first": [
            {"azimuth_deg": 90.0, "elevation_deg": 0.0},
            {"azimuth_deg": 180.0, "elevation_deg": 30.0},
        ],
    }
    assert "unavailable" not in facts["cues"]  # the cue ranges leave the silent ones out
    result = runner.invoke(app, ["info", str(silent)])
    assert result.exit_code == 0 and "silent_directions" in result.stdout


# --------------------------------------------------------------------------------------------
# Memory limits


def test_parse_size():
    assert parse_size("8GiB") == 8 * 1024**3
    assert parse_size("8G") == 8 * 10**9
    assert parse_size("512 mib") == 512 * 1024**2
    assert parse_size("1000") == 1000
    assert parse_size("1.5k") == 1500
    for bad in ("", "12x", "-1G", "0", "GiB", "nan"):
        with pytest.raises(HrtfevalError, match="--max-memory"):
            parse_size(bad)
    assert 0 < default_limit()


def _declared(path: Path, shape, chunks, write_chunk: bool = False) -> Path:
    """A sofar file whose Data.IR is replaced by a compressed one declaring ``shape``."""
    _write(path)
    with h5py.File(path, "a") as f:
        del f["Data.IR"]
        ds = f.create_dataset("Data.IR", shape=shape, dtype="f8", chunks=chunks, compression="gzip")
        if write_chunk:
            ds[0, 0, :8] = 1.0
    assert path.stat().st_size < 200_000
    return path


@pytest.mark.usefixtures("both_sofa_readers")
def test_memory_bomb_declared_shape_fails_before_reading(tmp_path):
    bomb = _declared(tmp_path / "bomb.sofa", (1_000_000, 2, 4096), (1, 2, 4096))
    with pytest.raises(
        HrtfevalError, match=r"\(1000000, 2, 4096\).*above the memory limit of 1 GiB"
    ):
        read_hrtf(bomb, max_memory=1024**3)
    ref = _write(tmp_path / "ref.sofa")
    _one_line_error(_score(ref, bomb, "--max-memory", "1GiB"), "bomb.sofa", "1 GiB")


def test_zero_chunk_bomb_fails_fast(tmp_path):
    bomb = _declared(tmp_path / "zeros.sofa", (440, 2, 500_000), (1, 2, 65536), write_chunk=True)
    ref = _write(tmp_path / "ref.sofa")
    _one_line_error(_score(ref, bomb, "--max-memory", "2G"), "zeros.sofa", "above the memory")


def test_expanded_pt_tensor_fails_before_materialising(tmp_path):
    torch.save(
        {
            "hrir": torch.zeros(1, 1, 1, dtype=torch.float64).expand(1_000_000, 2, 8192),
            "sampling_rate": FS,
        },
        tmp_path / "big.pt",
    )
    assert (tmp_path / "big.pt").stat().st_size < 10_000
    with pytest.raises(HrtfevalError, match=r"\(1000000, 2, 8192\).*memory limit"):
        read_hrtf(tmp_path / "big.pt", max_memory=8 * 1024**3)
    torch.save(
        {"hrir": torch.from_numpy(IR), "positions": torch.zeros(1, 3).expand(10**9, 3)},
        tmp_path / "pos.pt",
    )
    with pytest.raises(HrtfevalError, match=r"positions of shape \(1000000000, 3\)"):
        read_hrtf(tmp_path / "pos.pt", max_memory=8 * 1024**3)


def test_huge_n_fft_fails_on_the_pair_estimate(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    line = _one_line_error(_score(ref, ref, "--n-fft", "65536", "--max-memory", "20MB"))
    assert "ref.sofa" in line and "19.1 MiB" in line


def test_pair_estimate_counts_both_sets(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    one = set_bytes((M, 2, N), "ir")
    # Room for one set, not for two.
    line = _one_line_error(_score(ref, ref, "--max-memory", str(int(one * 1.5))))
    assert "other set" in line
    assert _score(ref, ref, "--max-memory", str(2 * one + 10_000)).exit_code == 0


def test_max_memory_is_in_the_spec(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    doc = json.loads(_score(ref, ref, "--max-memory", "3GiB", "-f", "json").stdout)
    assert doc["spec"]["max_memory_bytes"] == 3 * 1024**3
    doc = json.loads(_score(ref, ref, "-f", "json").stdout)
    assert doc["spec"]["max_memory_bytes"] == default_limit()


# --------------------------------------------------------------------------------------------
# Tracebacks that became one line


def test_one_frequency_bin_tf_for_cues(tmp_path):
    sofa = sofar.Sofa("SimpleFreeFieldHRTF")
    sofa.Data_Real = RNG.standard_normal((M, 2, 1))
    sofa.Data_Imag = np.zeros((M, 2, 1))
    sofa.N = np.array([1000.0])
    sofa.SourcePosition = POS
    sofar.write_sofa(str(tmp_path / "one.sofa"), sofa)
    ref = _write(tmp_path / "ref.sofa")
    for args in (["-m", "ild"], ["-m", "itd"], ["--preset", "lap"]):
        _one_line_error(_score(tmp_path / "one.sofa", tmp_path / "one.sofa", *args), "one.sofa")
        _one_line_error(_score(tmp_path / "one.sofa", ref, *args))


@pytest.mark.parametrize("kind", ["meta", "sparse", "nested"])
def test_pt_tensors_without_plain_values(tmp_path, kind):
    if kind == "meta":
        tensor = torch.empty(M, 2, N, device="meta")
    elif kind == "sparse":
        tensor = torch.from_numpy(IR).to_sparse()
    else:
        tensor = torch.nested.nested_tensor([torch.zeros(2, N), torch.zeros(2, N)])
    path = tmp_path / f"{kind}.pt"
    try:
        torch.save({"hrir": tensor, "sampling_rate": FS}, path)
    except Exception:  # noqa: BLE001 - this torch cannot save it: nothing to read
        pytest.skip(f"torch cannot save a {kind} tensor")
    _one_line_error(_score(path, path), f"{kind}.pt")
    torch.save(
        {
            "hrir": torch.from_numpy(IR),
            "sampling_rate": tensor.reshape(-1)[:1]
            if kind == "meta"
            else torch.tensor([FS]).to_sparse(),
        },
        tmp_path / "rate.pt",
    )
    _one_line_error(_score(tmp_path / "rate.pt", tmp_path / "rate.pt"), "rate.pt")


def test_pt_quantized_tensor_is_dequantized(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated in recent torch
        q = torch.quantize_per_tensor(torch.from_numpy(IR).float(), 0.01, 0, torch.qint32)
    torch.save(
        {"hrir": q, "sampling_rate": FS, "positions": torch.from_numpy(POS)}, tmp_path / "q.pt"
    )
    hrtf = read_hrtf(tmp_path / "q.pt")
    np.testing.assert_allclose(hrtf.data, q.dequantize().double().numpy())


def _replace_variable(path: Path, name: str, values: np.ndarray) -> None:
    with h5py.File(path, "a") as f:
        del f[name]
        f.create_dataset(name, data=values)


@pytest.mark.usefixtures("both_sofa_readers")
@pytest.mark.parametrize("name", ["Data.IR", "Data.SamplingRate"])
def test_compound_complex_dtype(tmp_path, name):
    path = _write(tmp_path / "c.sofa")
    values = IR.astype(np.complex128) if name == "Data.IR" else np.array([FS], dtype=np.complex128)
    _replace_variable(path, name, values)
    with pytest.raises(HrtfevalError, match=f"{name} has values of type compound") as err:
        read_hrtf(path)
    assert err.value.file == str(path)


@pytest.mark.usefixtures("both_sofa_readers")
def test_string_sampling_rate(tmp_path):
    path = tmp_path / "s.sofa"
    with netCDF4.Dataset(path, "w") as ds:
        ds.Conventions, ds.SOFAConventions, ds.SOFAConventionsVersion = (
            "SOFA",
            "SimpleFreeFieldHRIR",
            "1.0",
        )
        for dim, size in (("I", 1), ("M", M), ("R", 2), ("N", N), ("C", 3)):
            ds.createDimension(dim, size)
        ds.createVariable("Data.IR", "f8", ("M", "R", "N"))[:] = IR
        ds.createVariable("SourcePosition", "f8", ("M", "C"))[:] = POS
        rate = ds.createVariable("Data.SamplingRate", str, ("I",))
        rate[0] = "48000"
    with pytest.raises(HrtfevalError, match="Data.SamplingRate has values of type"):
        read_hrtf(path)


def test_netcdf4_fallback_errors_are_one_line(tmp_path, monkeypatch):
    """netCDF4's RuntimeError ('NetCDF: HDF error') on damaged metadata becomes one line."""
    import hrtfeval.io._h5sofa

    path = _write(tmp_path / "x.sofa")
    monkeypatch.setattr(hrtfeval.io._h5sofa, "open_dataset", lambda p: None)

    class Broken:
        def __init__(self, *a, **k):
            raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(netCDF4, "Dataset", Broken)
    with pytest.raises(HrtfevalError, match="HDF error") as err:
        read_hrtf(path)
    assert err.value.file == str(path)


# --------------------------------------------------------------------------------------------
# Files that are not regular files


def test_fifo_directory_and_device_are_refused_up_front(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    fifo = tmp_path / "x.sofa"
    os.mkfifo(fifo)
    with pytest.raises(HrtfevalError, match="FIFO") as err:
        read_hrtf(fifo)  # before the fix: open() blocked forever
    assert err.value.file == str(fifo)
    _one_line_error(_score(fifo, ref), "x.sofa", "FIFO")
    folder = tmp_path / "d.sofa"
    folder.mkdir()
    with pytest.raises(HrtfevalError, match="directory"):
        read_hrtf(folder)
    if os.path.exists("/dev/zero") and stat.S_ISCHR(os.stat("/dev/zero").st_mode):
        with pytest.raises(HrtfevalError, match="device"):
            read_hrtf("/dev/zero")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_one_line(tmp_path):
    path = _write(tmp_path / "locked.sofa")
    path.chmod(0)
    try:
        with pytest.raises(HrtfevalError, match="ermission") as err:
            read_hrtf(path)
        assert err.value.file == str(path)
    finally:
        path.chmod(0o644)


# --------------------------------------------------------------------------------------------
# Errors about an input name it


def test_empty_band_names_the_files(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    _one_line_error(
        _score(ref, ref, "--freq-min", "30000", "--freq-max", "40000"),
        "ref.sofa",
        "no frequency bin",
    )


def test_low_rate_itd_names_the_file(tmp_path):
    path = tmp_path / "low.sofa"
    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    sofa.Data_IR, sofa.Data_SamplingRate, sofa.SourcePosition = IR, 4000.0, POS
    sofar.write_sofa(str(path), sofa)
    _one_line_error(_score(path, path, "-m", "itd"), "low.sofa", "3000 Hz low-pass")


def test_itd_of_different_lengths_names_both_files(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    sofa = sofar.Sofa("SimpleFreeFieldHRTF")
    tf = np.fft.rfft(IR, n=2 * N, axis=-1)
    sofa.Data_Real, sofa.Data_Imag = tf.real, tf.imag
    sofa.N = np.fft.rfftfreq(2 * N, 1 / FS)
    sofa.SourcePosition = POS
    sofar.write_sofa(str(tmp_path / "tf.sofa"), sofa)
    _one_line_error(_score(tmp_path / "tf.sofa", ref, "-m", "itd"), "tf.sofa", "ref.sofa")
    _one_line_error(_score(tmp_path / "tf.sofa", ref, "-m", "lsd"), "tf.sofa", "ref.sofa")


# --------------------------------------------------------------------------------------------
# Warnings: one line each, naming the file


def test_reader_warning_is_one_line_naming_the_file(tmp_path):
    ir = np.zeros((M, 2, N))
    ir[:, :, N - 4] = 1.0
    path = _write(tmp_path / "late.sofa", ir=ir + 1e-3, Data_Delay=np.tile([[10.0, 10.0]], (M, 1)))
    result = _score(path, path, "-m", "lsd")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {path}: Data.Delay"), lines
    assert "UserWarning" not in result.stderr and ".py:" not in result.stderr


def test_library_warnings_are_named_and_one_line(tmp_path, monkeypatch):
    import hrtfeval.io.sofa

    path = _write(tmp_path / "w.sofa")
    original = hrtfeval.io.sofa._read_sofa_dataset

    def noisy(*a, **k):
        warnings.warn("a library\nsays two lines", RuntimeWarning)
        warnings.warn("a library\nsays two lines", RuntimeWarning)  # repeated: shown once
        return original(*a, **k)

    monkeypatch.setattr(hrtfeval.io.sofa, "_read_sofa_dataset", noisy)
    with pytest.warns(HrtfevalWarning, match=r"w.sofa: a library says two lines"):
        read_hrtf(path)
    result = runner.invoke(app, ["info", str(path)])
    assert result.stderr.splitlines() == [f"warning: {path}: a library says two lines"]


@pytest.mark.parametrize("quiet", [False, True])
def test_batch_worker_warnings_are_one_line_once(tmp_path, quiet):
    """A worker's warning is one line, once; with --quiet there is none (workers included)."""
    pred_dir, ref_dir = tmp_path / "pred", tmp_path / "ref"
    pred_dir.mkdir()
    ref_dir.mkdir()
    ir = np.zeros((M, 2, N))
    ir[:, :, N - 4] = 1.0
    _write(pred_dir / "a.sofa", ir=ir + 1e-3, Data_Delay=np.tile([[10.0, 10.0]], (M, 1)))
    _write(ref_dir / "a.sofa", ir=ir + 1e-3)
    _write(pred_dir / "b.sofa")
    _write(ref_dir / "b.sofa")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hrtfeval",
            "score",
            str(pred_dir),
            str(ref_dir),
            "-j",
            "2",
            "-f",
            "json",
            *(["-q"] if quiet else []),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if quiet:
        assert lines == []
        return
    lines = [line for line in lines if "scored ·" not in line]  # the run's summary line
    assert (
        len(lines) == 1 and lines[0].startswith("warning: ") and "a.sofa: Data.Delay" in lines[0]
    ), lines


def test_quiet_silences_warnings_but_not_errors(tmp_path):
    silent, ref, _ = _silent_pair(tmp_path)
    result = _score(silent, ref, "-m", "lsd", "-f", "json", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    json.loads(result.stdout)
    _one_line_error(_score(silent, ref, "-m", "ild", "-q"), "silent.sofa")


def test_warnings_before_an_error_are_not_shown(tmp_path):
    """A command that ends in an error prints the Error line alone: the warnings raised on the
    way (here: a delay pushing energy past N, then a silent set refused) were printed first,
    in Python's two-line format."""
    ir = np.zeros((M, 2, N))
    ir[:, :, N - 4] = 1.0
    path = _write(tmp_path / "late.sofa", ir=ir, Data_Delay=np.tile([[10.0, 10.0]], (M, 1)))
    result = _score(path, path, "-m", "ild")
    _one_line_error(result, "late.sofa")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("domain", ["SimpleFreeFieldHRTF"])
def test_n_fft_with_two_sets_of_spectra_is_a_usage_error(tmp_path, domain):
    """--n-fft sets the FFT length of impulse responses; with spectra on both sides it was
    silently ignored."""
    sofa = sofar.Sofa(domain)
    spec = np.fft.rfft(IR, axis=-1)
    sofa.Data_Real, sofa.Data_Imag = spec.real, spec.imag
    sofa.N = np.fft.rfftfreq(N, 1 / FS)
    sofa.SourcePosition = POS
    path = tmp_path / "tf.sofa"
    sofar.write_sofa(str(path), sofa)
    assert _score(path, path, "-m", "lsd").exit_code == 0
    _one_line_error(_score(path, path, "-m", "lsd", "--n-fft", "128"), "--n-fft", "tf.sofa")
    ir_file = _write(tmp_path / "ir.sofa")
    assert _score(ir_file, ir_file, "-m", "lsd", "--n-fft", "128").exit_code == 0


# --------------------------------------------------------------------------------------------
# Damaged files: truncated at many offsets, flipped bits


def _damaged(tmp_path: Path) -> list[Path]:
    src = _write(tmp_path / "good.sofa").read_bytes()
    rng = np.random.default_rng(2026)
    out = []
    for cut in (
        0,
        8,
        100,
        600,
        2000,
        5000,
        12000,
        30000,
        len(src) // 2,
        len(src) - 200,
        len(src) - 1,
    ):
        path = tmp_path / f"cut{cut}.sofa"
        path.write_bytes(src[:cut])
        out.append(path)
    for k in range(16):
        raw = bytearray(src)
        at = int(rng.integers(len(raw)))
        raw[at] ^= 1 << int(rng.integers(8))
        path = tmp_path / f"flip{k}.sofa"
        path.write_bytes(bytes(raw))
        out.append(path)
    return out


@pytest.mark.usefixtures("both_sofa_readers")
def test_damaged_sofa_files_give_one_line_or_a_score(tmp_path):
    ref = _write(tmp_path / "ref.sofa")
    for path in _damaged(tmp_path):
        result = _score(path, ref, "-m", "lsd", "-m", "itd", "-f", "json")
        if result.exit_code == 0:  # a flipped bit in padding or an unused attribute
            assert json.loads(result.stdout)["scores"]
            continue
        _one_line_error(result, path.name)


def test_damaged_file_prints_no_hdf5_diagnostics(tmp_path):
    """The C libraries' own error stacks (HDF5-DIAG) must not reach stderr either."""
    src = _write(tmp_path / "good.sofa").read_bytes()
    (tmp_path / "cut.sofa").write_bytes(src[: len(src) // 2])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "hrtfeval", "info", str(tmp_path / "cut.sofa")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr


@pytest.mark.parametrize(
    "content",
    [
        {"hrir": torch.zeros(0, 2, N)},
        {"hrir": torch.zeros(1, 2, 1), "sampling_rate": FS},
        {"hrir": torch.zeros(M, 3, N)},
        {"hrir": torch.zeros(M, N)},
        {"hrir": torch.full((M, 2, N), float("nan"))},
        {"hrir": torch.from_numpy(IR), "sampling_rate": float("inf")},
        {"hrir": torch.from_numpy(IR), "sampling_rate": -1.0},
        {"hrir": torch.from_numpy(IR), "sampling_rate": "48000"},
        {"hrir": torch.from_numpy(IR), "positions": torch.full((M, 3), float("nan"))},
    ],
)
def test_malformed_pt_files(tmp_path, content):
    path = tmp_path / "bad.pt"
    torch.save(content, path)
    result = _score(path, path, "-m", "lsd", "-m", "itd")
    _one_line_error(result, "bad.pt")


def test_truncated_pt_files(tmp_path):
    torch.save({"hrir": torch.from_numpy(IR), "sampling_rate": FS}, tmp_path / "good.pt")
    src = (tmp_path / "good.pt").read_bytes()
    for cut in (1, 10, 100, len(src) // 2, len(src) - 10):
        path = tmp_path / f"cut{cut}.pt"
        path.write_bytes(src[:cut])
        _one_line_error(_score(path, path), path.name)


@pytest.mark.usefixtures("both_sofa_readers")
def test_never_written_data_is_an_error_not_a_score(tmp_path):
    """Elements never written read as netCDF's fill value 9.97e36 (also what a damaged chunk
    index gives): before, they were scored (LSD 244 dB)."""
    path = tmp_path / "partial.sofa"
    _write(path)
    with h5py.File(path, "a") as f:
        ir = f["Data.IR"]
        keep = dict(ir.attrs)
        del f["Data.IR"]
        new = f.create_dataset(
            "Data.IR", shape=(M, 2, N), dtype="f8", chunks=(1, 2, N), fillvalue=9.969209968386869e36
        )
        new[:5] = IR[:5]  # rows 5..7 never written
        for key, value in keep.items():
            if key != "DIMENSION_LIST":
                new.attrs[key] = value
    with pytest.raises(
        HrtfevalError, match=r"Data.IR has 384 element\(s\) equal to its fill value"
    ):
        read_hrtf(path)


# --------------------------------------------------------------------------------------------
# Damage the libraries do not see (fix12): zip CRC, netCDF-3 length, packing attributes


def test_damaged_tensor_data_in_a_zip_pt_is_an_error_not_a_score(tmp_path):
    """torch.load never checks the zip entries' CRC-32: one inverted byte of the tensor data
    was read as data (ILD max 78 dB instead of 18 dB in the fuzz case)."""
    import zipfile

    good = tmp_path / "good.pt"
    torch.save({"hrir": torch.from_numpy(IR), "sampling_rate": FS}, good)
    with zipfile.ZipFile(good) as archive:
        entry = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    # The entry's data start after its local header (30 bytes + name + extra field).
    raw = bytearray(good.read_bytes())
    name_len, extra_len = (
        int.from_bytes(raw[entry.header_offset + k : entry.header_offset + k + 2], "little")
        for k in (26, 28)
    )
    start = entry.header_offset + 30 + name_len + extra_len
    raw[start + 100] ^= 0xFF
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(raw))
    assert not np.array_equal(
        torch.load(bad, weights_only=True)["hrir"].numpy(), IR
    )  # torch reads it
    _one_line_error(_score(bad, good), "bad.pt", "CRC-32", entry.filename)
    assert read_hrtf(good).data.shape == (M, 2, N)  # an intact file still reads


def _sofa_header(ds) -> None:
    """The attributes, dimensions, positions and rate of a SimpleFreeFieldHRIR file."""
    ds.Conventions, ds.SOFAConventions, ds.SOFAConventionsVersion = (
        "SOFA",
        "SimpleFreeFieldHRIR",
        "1.0",
    )
    for dim, size in (("I", 1), ("M", M), ("R", 2), ("N", N), ("C", 3)):
        ds.createDimension(dim, size)
    ds.createVariable("SourcePosition", "f8", ("M", "C"))[:] = POS
    ds.createVariable("Data.SamplingRate", "f8", ("I",))[:] = FS


def _nc3(path: Path, fmt: str = "NETCDF3_CLASSIC") -> Path:
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        _sofa_header(ds)
        ds.createVariable("Data.IR", "f8", ("M", "R", "N"))[:] = IR  # written last
    return path


@pytest.mark.parametrize("fmt", ["NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET", "NETCDF3_64BIT_DATA"])
def test_truncated_netcdf3_file_is_an_error_not_zeros(tmp_path, fmt):
    """netCDF-C reads the values past the end of a cut classic file as zeros: it was scored."""
    good = _nc3(tmp_path / "good.sofa", fmt)
    assert np.array_equal(read_hrtf(good).data, IR)
    src = good.read_bytes()
    for cut in (len(src) - 8, len(src) - 300, 200, 40):
        path = tmp_path / f"cut{cut}.sofa"
        path.write_bytes(src[:cut])
        line = _one_line_error(_score(path, good), path.name)
        assert "truncated" in line or "header" in line, line


def test_needed_size_of_netcdf3_files_with_records(tmp_path):
    """The header's declared size (with record variables) never exceeds a whole file's size, and
    one byte less of data is caught."""
    from hrtfeval.io._nc3 import needed_size

    for fmt in ("NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET", "NETCDF3_64BIT_DATA"):
        path = tmp_path / f"{fmt}.nc"
        with netCDF4.Dataset(path, "w", format=fmt) as ds:
            ds.createDimension("t", None)
            ds.createDimension("n", 3)
            ds.setncattr("note", "text")
            ds.createVariable("a", "f8", ("t", "n"))[:] = np.ones((4, 3))
            ds.createVariable("b", "i1", ("t",))[:] = np.arange(4)
            ds.createVariable("c", "i2", ("n",))[:] = np.arange(3)
        size = path.stat().st_size
        with open(path, "rb") as fh:
            need = needed_size(fh)
        assert size - 4 < need <= size, (fmt, need, size)


@pytest.mark.usefixtures("both_sofa_readers")
@pytest.mark.parametrize("scale", ["abc", np.nan, np.array([1.0, 2.0])])
def test_invalid_scale_factor_is_an_error_not_raw_integers(tmp_path, scale):
    """netCDF4 hands back the raw packed integers (with a warning) when scale_factor is not a
    number: rmse 33 instead of 0.01 in the fuzz case."""
    path = tmp_path / "packed.sofa"
    _write(path)
    with netCDF4.Dataset(path, "a") as ds:
        ds["Data.IR"].setncattr("scale_factor", scale)
    # (a float64 variable with a string scale_factor: netCDF4 leaves the values as they are)
    with pytest.raises(HrtfevalError, match="Data.IR has scale_factor"):
        read_hrtf(path)


@pytest.mark.usefixtures("both_sofa_readers")
def test_valid_packing_is_applied(tmp_path):
    path = tmp_path / "packed.sofa"
    with netCDF4.Dataset(path, "w") as ds:
        _sofa_header(ds)
        var = ds.createVariable("Data.IR", "i2", ("M", "R", "N"))
        var.scale_factor, var.add_offset = 1e-4, 0.5
        var[:] = IR
    np.testing.assert_allclose(read_hrtf(path).data, IR, atol=1e-4)


def test_zip_content_named_sofa_is_read_as_pt(tmp_path):
    """The format is recognised from the content first: a torch zip named .sofa was read as
    netCDF ('NetCDF: Unknown file format')."""
    path = tmp_path / "x.sofa"
    torch.save({"hrir": torch.from_numpy(IR), "sampling_rate": FS}, path)
    assert np.array_equal(read_hrtf(path).data, IR)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_character_device_is_not_a_regular_file(tmp_path):
    link = tmp_path / "zero.pt"
    link.symlink_to("/dev/zero")
    line = _one_line_error(_score(link, link), "zero.pt", "a device")
    assert "empty" not in line


def test_batch_workers_share_the_memory_limit():
    """Each of W workers holds a pair at once: each gets a W-th of --max-memory (before, each had
    the whole limit, so a run could use W times it)."""
    from hrtfeval.batch import BatchScorer
    from hrtfeval.scoring import ScoreOptions

    options = ScoreOptions(max_memory=8_000_000)
    assert BatchScorer(options, "cpu", 4, n_pairs=10).options.max_memory == 2_000_000
    assert BatchScorer(options, "cpu", 4, n_pairs=2).options.max_memory == 4_000_000
    assert BatchScorer(options, "cpu", 0, n_pairs=10).options.max_memory == 8_000_000
    assert BatchScorer(options, "cpu", 4, n_pairs=1).options.max_memory == 8_000_000
    assert options.max_memory == 8_000_000  # the caller's options (and the spec) keep the total


def test_default_memory_limit_respects_an_address_space_limit(monkeypatch):
    """Under ``ulimit -v 4GiB`` half the physical memory is no limit at all: a file declaring
    2.7 GB of never-written chunks was read for 15 s before the fill values were found."""
    import resource

    from hrtfeval import memory

    monkeypatch.setattr(resource, "getrlimit", lambda which: (4 * 1024**3, resource.RLIM_INFINITY))
    assert memory.machine_memory() <= 4 * 1024**3
    assert memory.default_limit() <= 2 * 1024**3
