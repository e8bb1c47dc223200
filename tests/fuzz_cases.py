"""The fuzz cases of ``test_fuzz.py``: small sample files, many malformed variants of them, and
the command line each one is scored with.

Everything is a deterministic function of the seed: the same seed gives the same files and the
same commands. Three families of cases:

* ``bytes``: the sample files (SOFA written by sofar, a netCDF-3 SOFA, a zip ``.pt`` and a legacy
  ``.pt``) truncated, bit-flipped, overwritten, zeroed, shifted or extended at random places
  (the first 16 kB of metadata, the ``Data.IR`` chunk, the zip directory, anywhere);
* ``sofa`` / ``h5`` / ``pt``: files written with netCDF4 / h5py / torch whose structure is wrong
  in one named way (wrong ranks, dimensions that disagree with the data, NaN/Inf in data,
  positions or rates, zero/negative/string rates, 1-tap or enormous IRs, 0 or 1 directions, ...);
* ``special`` / ``output``: FIFOs, directories, devices and links named like inputs, and
  ``--output`` paths that point at an input, a directory or nowhere.

Reproduce one case by hand::

    python tests/fuzz_cases.py --out /tmp/fuzzcase --only sofa-rate_nan [--seed N --cases N]

which writes the case's files under ``--out`` and prints the command to run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import stat
import sys
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_SEED = 20261201
DEFAULT_BYTE_CASES = 40  # 60 took ~30 s on a loaded 2-core machine; HRTFEVAL_FUZZ_CASES for more
N_DIRECTIONS = 40
N_TAPS = 96
SAMPLING_RATE = 48000
ALL_METRICS = ["-m", "lsd", "-m", "rmse", "-m", "mae", "-m", "itd", "-m", "ild"]
#: Transfer-function SOFA files carry no sampling rate, which the ITD needs.
TF_METRICS = ["-m", "lsd", "-m", "rmse", "-m", "mae", "-m", "ild"]
COMMON = ["--device", "cpu"]


@dataclass
class Case:
    """One command on one set of files, and what must hold afterwards.

    ``argv`` follows ``hrtfeval``; ``inputs`` are files whose bytes must not change; ``output``
    is the ``-o`` file (in ``out_dir``, which must hold nothing else afterwards); ``expect`` is
    the exit code the case must give when the answer is not a matter of taste (2 for a file
    that cannot be scored honestly, 0 for a valid file), else None (only the invariants).
    """

    id: str
    group: str
    note: str
    argv: list[str]
    inputs: list[str] = field(default_factory=list)
    output: str | None = None
    out_dir: str | None = None
    expect: int | None = None
    mutated: str | None = None  # the malformed file, which the error line should name
    subprocess: bool = False
    #: For byte damage to a format with checksums (HDF5 SOFA, zip .pt): the id of the case that
    #: runs the same command on the intact file; an exit 0 must give the same numbers.
    baseline: str | None = None

    def command(self) -> str:
        return "python -m hrtfeval " + " ".join(shlex.quote(a) for a in self.argv)


def sha256(path: str | os.PathLike) -> str | None:
    """Content hash of a regular file (None for anything else: FIFOs must not be opened)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"<{stat.filemode(st.st_mode)}>"
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


# --------------------------------------------------------------------------------------------
# Sample arrays


def sample_arrays():
    """(positions (M, 3), reference IRs (M, 2, N), prediction IRs) as float32-exact float64."""
    from hrtfeval import synth

    positions = synth.sphere_grid(N_DIRECTIONS)
    ref = synth.spherical_head_hrirs(positions, SAMPLING_RATE, N_TAPS)
    ref = ref.astype(np.float32).astype(np.float64)
    pred = synth.degrade(ref, seed=3).astype(np.float32).astype(np.float64)
    return positions, ref, pred


# --------------------------------------------------------------------------------------------
# A SOFA writer with netCDF4 that writes exactly what it is given (wrong things included)


def sofa_spec(ir, positions, fs=SAMPLING_RATE):
    """A minimal SimpleFreeFieldHRIR as a dict: ``dims``, ``globals``, ``vars`` name ->
    ``{"dims": (...), "data": array, "attrs": {...}, "dtype": optional}``."""
    m, r, n = ir.shape
    return {
        "format": "NETCDF4",
        "dims": {"I": 1, "C": 3, "R": r, "E": 1, "M": m, "N": n},
        "globals": {
            "Conventions": "SOFA",
            "Version": "2.1",
            "SOFAConventions": "SimpleFreeFieldHRIR",
            "SOFAConventionsVersion": "1.0",
            "DataType": "FIR",
            "RoomType": "free field",
            "Title": "hrtfeval fuzz sample",
            "DatabaseName": "hrtfeval fuzz",
            "APIName": "hrtfeval tests",
            "APIVersion": "0",
            "AuthorContact": "",
            "License": "MIT",
            "Organization": "",
            "DateCreated": "2025-01-01 00:00:00",
            "DateModified": "2025-01-01 00:00:00",
        },
        "vars": {
            "ListenerPosition": {
                "dims": ("I", "C"),
                "data": np.zeros((1, 3)),
                "attrs": {"Type": "cartesian", "Units": "metre"},
            },
            "ReceiverPosition": {
                "dims": ("R", "C", "I"),
                "data": np.array([[0, 0.0875, 0], [0, -0.0875, 0]] + [[0, 0, 0.1]] * (r - 2))[
                    :r, :, None
                ],
                "attrs": {"Type": "cartesian", "Units": "metre"},
            },
            "SourcePosition": {
                "dims": ("M", "C"),
                "data": np.asarray(positions, dtype=np.float64),
                "attrs": {"Type": "spherical", "Units": "degree, degree, metre"},
            },
            "EmitterPosition": {
                "dims": ("E", "C", "I"),
                "data": np.zeros((1, 3, 1)),
                "attrs": {"Type": "cartesian", "Units": "metre"},
            },
            "Data.IR": {"dims": ("M", "R", "N"), "data": np.asarray(ir), "attrs": {}},
            "Data.SamplingRate": {
                "dims": ("I",),
                "data": np.array([float(fs)]),
                "attrs": {"Units": "hertz"},
            },
            "Data.Delay": {"dims": ("I", "R"), "data": np.zeros((1, r)), "attrs": {}},
        },
    }


def tf_spec(ir, positions, fs=SAMPLING_RATE):
    """A SimpleFreeFieldHRTF spec: Data.Real/Data.Imag at the rfft frequencies in N."""
    spectrum = np.fft.rfft(ir, axis=-1)
    k = spectrum.shape[-1]
    spec = sofa_spec(ir, positions, fs)
    spec["dims"]["N"] = k
    spec["globals"].update(SOFAConventions="SimpleFreeFieldHRTF", DataType="TF")
    v = spec["vars"]
    del v["Data.IR"], v["Data.SamplingRate"], v["Data.Delay"]
    v["Data.Real"] = {"dims": ("M", "R", "N"), "data": spectrum.real.copy(), "attrs": {}}
    v["Data.Imag"] = {"dims": ("M", "R", "N"), "data": spectrum.imag.copy(), "attrs": {}}
    v["N"] = {
        "dims": ("N",),
        "data": np.fft.rfftfreq(ir.shape[-1], 1 / fs),
        "attrs": {"Units": "hertz"},
    }
    return spec


def write_spec(path: Path, spec: dict) -> Path:
    """Write a spec with netCDF4 (any dims/shapes/dtypes it allows)."""
    import netCDF4

    fmt = spec.get("format", "NETCDF4")
    with netCDF4.Dataset(str(path), "w", format=fmt) as ds:
        for name, size in spec["dims"].items():
            ds.createDimension(name, size)
        for key, value in spec["globals"].items():
            ds.setncattr(key, value)
        for name, var in spec["vars"].items():
            data = var["data"]
            dtype = var.get("dtype")
            if dtype is str:
                v = ds.createVariable(name, str, var["dims"])
                flat = np.asarray(data, dtype=object)
                if flat.ndim == 0:
                    v.assignValue(str(flat[()]))
                else:
                    v[...] = flat
            else:
                data = np.asarray(data)
                dt = dtype or (data.dtype if data.dtype.kind in "iuf" else "f8")
                fill = var.get("fill", False)
                v = ds.createVariable(name, dt, var["dims"], fill_value=fill)
                for key, value in var["attrs"].items():
                    if key.startswith("_"):
                        continue
                    v.setncattr(key, value)
                v.set_auto_maskandscale(False)
                if data.size:
                    if data.ndim == 0:
                        v.assignValue(data[()])
                    else:
                        v[...] = data
                continue
            for key, value in var["attrs"].items():
                v.setncattr(key, value)
    return path


def resize(spec, *, m=None, n=None, r=None):
    """Cut or tile the spec's data to m directions / n taps / r receivers."""
    v = spec["vars"]
    if "Data.IR" in v:
        ir = v["Data.IR"]["data"]
        if m is not None:
            ir = np.resize(ir, (m,) + ir.shape[1:]) if m else ir[:0]
            pos = v["SourcePosition"]["data"]
            v["SourcePosition"]["data"] = np.resize(pos, (m, 3)) if m else pos[:0]
            spec["dims"]["M"] = m
        if r is not None:
            ir = np.concatenate([ir] * 2, axis=1)[:, :r] if r else ir[:, :0]
            spec["dims"]["R"] = r
            v["ReceiverPosition"]["data"] = np.resize(
                v["ReceiverPosition"]["data"], (max(r, 1), 3, 1)
            )[:r]
            v["Data.Delay"]["data"] = np.zeros((1, r))
        if n is not None:
            out = np.zeros(ir.shape[:2] + (n,))
            k = min(n, ir.shape[2])
            out[..., :k] = ir[..., :k]
            ir = out
            spec["dims"]["N"] = n
        v["Data.IR"]["data"] = ir
    return spec


# --------------------------------------------------------------------------------------------
# SOFA structure mutations: name -> (function(spec), expected exit code or None)


def _set(var, **kw):
    def fn(spec):
        spec["vars"][var].update(kw)

    return fn


def _ir(fn):
    def mutate(spec):
        spec["vars"]["Data.IR"]["data"] = fn(spec["vars"]["Data.IR"]["data"].copy())

    return mutate


def _at(array, index, value):
    array[index] = value
    return array


def _pos(fn):
    def mutate(spec):
        spec["vars"]["SourcePosition"]["data"] = fn(spec["vars"]["SourcePosition"]["data"].copy())

    return mutate


def _rate(values, dims=("I",), **kw):
    def mutate(spec):
        var = spec["vars"]["Data.SamplingRate"]
        var.update(data=np.asarray(values) if kw.get("dtype") is not str else values, dims=dims)
        var.update(kw)

    return mutate


def _delay(values, dims=("I", "R"), attrs=None):
    def mutate(spec):
        m = spec["dims"]["M"]
        data = values(m) if callable(values) else np.asarray(values, dtype=np.float64)
        spec["vars"]["Data.Delay"] = {"dims": dims, "data": data, "attrs": attrs or {}}

    return mutate


def _glob(**kw):
    def mutate(spec):
        for key, value in kw.items():
            if value is None:
                spec["globals"].pop(key, None)
            else:
                spec["globals"][key] = value

    return mutate


def _attr(var, key, value):
    def mutate(spec):
        if value is None:
            spec["vars"][var]["attrs"].pop(key, None)
        else:
            spec["vars"][var]["attrs"][key] = value

    return mutate


def _drop(var):
    def mutate(spec):
        del spec["vars"][var]

    return mutate


def _seq(*fns):
    def mutate(spec):
        for fn in fns:
            fn(spec)

    return mutate


def _dims(var, dims, transpose=None, new_dims=None):
    def mutate(spec):
        v = spec["vars"][var]
        if transpose is not None:
            v["data"] = np.ascontiguousarray(np.transpose(v["data"], transpose))
        v["dims"] = dims
        for name, size in (new_dims or {}).items():
            spec["dims"][name] = size

    return mutate


def _reshape_ir(shape_fn, dims, new_dims=None):
    def mutate(spec):
        v = spec["vars"]["Data.IR"]
        v["data"] = shape_fn(v["data"])
        v["dims"] = dims
        for name, size in (new_dims or {}).items():
            spec["dims"][name] = size

    return mutate


def _fmt(fmt):
    def mutate(spec):
        spec["format"] = fmt

    return mutate


def _resized(**kw):
    return lambda spec: resize(spec, **kw)


def _long_ir(spec):
    resize(spec, m=2)
    resize(spec, n=2**16)


def _pos_rows(delta):
    def mutate(spec):
        pos = spec["vars"]["SourcePosition"]["data"]
        m = pos.shape[0] + delta
        spec["dims"]["M2"] = m
        spec["vars"]["SourcePosition"].update(data=np.resize(pos, (m, 3)), dims=("M2", "C"))

    return mutate


def _pos_cols(k):
    def mutate(spec):
        pos = spec["vars"]["SourcePosition"]["data"]
        spec["dims"][f"C{k}"] = k
        spec["vars"]["SourcePosition"].update(
            data=np.resize(pos, (pos.shape[0], k)), dims=("M", f"C{k}")
        )

    return mutate


def _pos_first_row_only(spec):
    v = spec["vars"]["SourcePosition"]
    v.update(dims=("I", "C"), data=v["data"][:1])


def _duplicate_rows(pos):
    pos[1::2] = pos[0::2][: pos[1::2].shape[0]]
    return pos


def _scaled_int16(spec):
    v = spec["vars"]["Data.IR"]
    v["data"] = np.round(v["data"] * 3000).astype(np.int16)


def _packed(scale):
    def mutate(spec):
        v = spec["vars"]["Data.IR"]
        v["data"] = np.round(v["data"] * 1000).astype(np.int16)
        v["attrs"]["scale_factor"] = scale
        v["attrs"]["add_offset"] = 0.0 if not isinstance(scale, str) else "x"

    return mutate


def _ir_as(dtype):
    def mutate(spec):
        v = spec["vars"]["Data.IR"]
        if dtype is str:
            v.update(data=np.vectorize(lambda x: f"{x:.6g}", otypes=[object])(v["data"]), dtype=str)
        else:
            v.update(dtype=dtype, data=v["data"].astype(dtype))

    return mutate


def _tf(fn=None):
    def mutate(spec):
        ir = spec["vars"]["Data.IR"]["data"]
        pos = spec["vars"]["SourcePosition"]["data"]
        fmt = spec["format"]
        spec.clear()
        spec.update(tf_spec(ir, pos))
        spec["format"] = fmt
        if fn is not None:
            fn(spec)

    return mutate


def _tf_freq(fn):
    def mutate(spec):
        spec["vars"]["N"]["data"] = fn(spec["vars"]["N"]["data"].copy())

    return mutate


def _ir_last(spec):
    """Define Data.IR last, so that its values end the file."""
    spec["vars"]["Data.IR"] = spec["vars"].pop("Data.IR")


def _tf_imag_shorter(spec):
    spec["dims"]["N2"] = spec["dims"]["N"] - 1
    v = spec["vars"]["Data.Imag"]
    v.update(data=v["data"][..., :-1], dims=("M", "R", "N2"))


SOFA_MUTATIONS = {
    # valid variants: must score (exit 0)
    "ok": (lambda spec: None, 0),
    "ok_netcdf3": (_fmt("NETCDF3_CLASSIC"), 0),
    "ok_netcdf4_classic": (_fmt("NETCDF4_CLASSIC"), 0),
    "ok_transposed_ir": (_dims("Data.IR", ("N", "R", "M"), (2, 1, 0)), 0),
    "ok_transposed_positions": (_dims("SourcePosition", ("C", "M"), (1, 0)), 0),
    "ok_rate_int32": (_rate(np.array([SAMPLING_RATE], dtype=np.int32)), 0),
    "ok_convention_lowercase": (_glob(SOFAConventions="simplefreefieldhrir"), 0),
    "ok_delay_per_direction": (
        _delay(lambda m: np.linspace(0, 3.5, 2 * m).reshape(m, 2), ("M", "R")),
        0,
    ),
    "ok_delay_seconds": (_delay([[1e-4, 1e-4]], attrs={"Units": "second"}), 0),
    "ok_title_huge_nonascii": (_glob(Title="é\x01" * 50000), 0),
    "ok_tf": (_tf(), 0),
    # Data.IR values
    "ir_nan_one": (_ir(lambda a: _at(a, (3, 1, 10), np.nan)), 2),
    "ir_inf_one": (_ir(lambda a: _at(a, (0, 0, 0), np.inf)), 2),
    "ir_all_neginf": (_ir(lambda a: np.full_like(a, -np.inf)), 2),
    "ir_huge_values": (_ir(lambda a: a * 1e300), None),
    "ir_denormal": (_ir(lambda a: a * 1e-310), None),
    "ir_silent_some_directions": (_ir(lambda a: _at(a, slice(None, None, 5), 0.0)), None),
    "ir_silent_one_ear": (_ir(lambda a: _at(a, (slice(None), 1), 0.0)), None),
    "ir_all_silent": (_ir(np.zeros_like), None),
    # Data.IR sizes
    "ir_1tap": (_resized(n=1), 2),
    "ir_2tap": (_resized(n=2), None),
    "ir_3tap": (_resized(n=3), None),
    "ir_65536tap_2dir": (_long_ir, None),
    "m0_no_directions": (_resized(m=0), 2),
    "m1_one_direction": (_resized(m=1), None),
    "r1_one_receiver": (_resized(r=1), 2),
    "r3_three_receivers": (_resized(r=3), 2),
    # Data.IR ranks and dimensions
    "ir_rank1": (_reshape_ir(lambda a: a[0, 0], ("N",)), 2),
    "ir_rank2": (_reshape_ir(lambda a: a[:, 0], ("M", "N")), 2),
    "ir_rank4": (_reshape_ir(lambda a: a[..., None], ("M", "R", "N", "I")), 2),
    "ir_scalar": (_reshape_ir(lambda a: np.asarray(a[0, 0, 0]), ()), 2),
    "ir_dims_renamed": (
        _dims("Data.IR", ("X", "Y", "Z"), new_dims={"X": N_DIRECTIONS, "Y": 2, "Z": N_TAPS}),
        None,
    ),
    "ir_stored_NRM_unnamed": (
        _dims("Data.IR", ("Z", "Y", "X"), (2, 1, 0), {"X": N_DIRECTIONS, "Y": 2, "Z": N_TAPS}),
        2,
    ),
    "ir_missing": (_drop("Data.IR"), 2),
    "ir_int16": (_scaled_int16, None),
    "ir_packed_int16": (_packed(1e-3), None),
    "ir_packed_string_scale": (_packed("abc"), 2),
    "ir_string_values": (_ir_as(str), 2),
    "ir_char_values": (_ir_as("S1"), 2),
    "ir_unlimited_m": (lambda spec: spec["dims"].update(M=None), 0),
    # SourcePosition
    "pos_nan": (_pos(lambda p: _at(p, (2, 0), np.nan)), 2),
    "pos_inf": (_pos(lambda p: _at(p, (5, 1), np.inf)), 2),
    "pos_distance_nan": (_pos(lambda p: _at(p, (7, 2), np.nan)), 2),
    "pos_huge_azimuth": (_pos(lambda p: _at(p, (0, 0), 1e308)), None),
    "pos_rows_fewer": (_pos_rows(-1), 2),
    "pos_rows_more": (_pos_rows(+1), 2),
    "pos_cols_2": (_pos_cols(2), 2),
    "pos_cols_4": (_pos_cols(4), 2),
    "pos_single_row": (_pos_first_row_only, None),
    "pos_missing": (_drop("SourcePosition"), None),
    "pos_units_misspelled": (_attr("SourcePosition", "Units", "degre, degree, metre"), 2),
    "pos_units_missing": (_attr("SourcePosition", "Units", None), None),
    "pos_units_number": (_attr("SourcePosition", "Units", 3.0), 2),
    "pos_type_misspelled": (_attr("SourcePosition", "Type", "spherial"), 2),
    "pos_type_cartesian_degree_units": (_attr("SourcePosition", "Type", "cartesian"), 2),
    "pos_cartesian_origin_row": (
        _seq(
            _attr("SourcePosition", "Type", "cartesian"),
            _attr("SourcePosition", "Units", "metre"),
            _pos(lambda p: _at(p, 4, 0.0)),
        ),
        2,
    ),
    "pos_duplicate_directions": (_pos(_duplicate_rows), None),
    "pos_all_same_direction": (_pos(lambda p: np.broadcast_to(p[:1], p.shape).copy()), None),
    # Data.SamplingRate
    "rate_nan": (_rate([np.nan]), 2),
    "rate_inf": (_rate([np.inf]), 2),
    "rate_zero": (_rate([0.0]), 2),
    "rate_negative": (_rate([-48000.0]), 2),
    "rate_tiny": (_rate([1e-300]), None),
    "rate_huge": (_rate([1e300]), None),
    "rate_100hz": (_rate([100.0]), None),
    "rate_string": (_rate(np.array(["48000"], dtype=object), dtype=str), 2),
    "rate_char": (
        _seq(
            lambda s: s["dims"].update(S5=5),
            _rate(np.array([b"4", b"8", b"0", b"0", b"0"]), dims=("S5",), dtype="S1"),
        ),
        2,
    ),
    "rate_missing": (_drop("Data.SamplingRate"), 2),
    "rate_varying": (_rate(np.linspace(44100, 48000, N_DIRECTIONS), dims=("M",)), 2),
    "rate_two_values": (_rate([48000.0, 48000.0], dims=("R",)), None),
    "rate_units_khz": (_seq(_rate([48.0]), _attr("Data.SamplingRate", "Units", "kHz")), 2),
    "rate_units_misspelled": (_attr("Data.SamplingRate", "Units", "hertzz"), 2),
    # Data.Delay
    "delay_negative": (_delay([[-5.0, -5.0]]), None),
    "delay_nan": (_delay([[np.nan, 0.0]]), 2),
    "delay_inf": (_delay([[0.0, np.inf]]), 2),
    "delay_huge": (_delay([[1e12, 1e12]]), None),
    "delay_huge_fraction": (_delay([[1e6 + 0.5, 0.25]]), None),
    "delay_shape_3": (
        _seq(lambda s: s["dims"].update(X3=3), _delay([[1.0, 2.0, 3.0]], ("I", "X3"))),
        2,
    ),
    "delay_units_ms": (_delay([[1.0, 1.0]], attrs={"Units": "ms"}), 2),
    # global attributes
    "conventions_missing": (_glob(SOFAConventions=None), 2),
    "conventions_unknown": (_glob(SOFAConventions="FreeFieldDirectivityTF"), 2),
    "conventions_empty": (_glob(SOFAConventions=""), 2),
    "conventions_number": (_glob(SOFAConventions=3), 2),
    # transfer functions
    "tf_freq_count_mismatch": (
        _tf(
            lambda s: (
                s["vars"]["N"].update(data=s["vars"]["N"]["data"][:-1], dims=("K",))
                or s["dims"].update(K=s["dims"]["N"] - 1)
            )
        ),
        2,
    ),
    "tf_freq_nan": (_tf(_tf_freq(lambda f: _at(f, 3, np.nan))), 2),
    "tf_freq_units_khz": (_tf(_attr("N", "Units", "kHz")), 2),
    "tf_freq_all_zero": (_tf(_tf_freq(np.zeros_like)), None),
    "tf_freq_decreasing": (_tf(_tf_freq(lambda f: f[::-1].copy())), None),
    "tf_imag_missing": (_tf(_drop("Data.Imag")), 2),
    "tf_imag_shorter": (_tf(_tf_imag_shorter), 2),
    "tf_real_nan": (_tf(lambda s: _at(s["vars"]["Data.Real"]["data"], (0, 0, 1), np.nan)), 2),
    # netCDF-3 (read by the netCDF4 library, not h5py)
    "nc3_rate_nan": (_seq(_fmt("NETCDF3_CLASSIC"), _rate([np.nan])), 2),
    "nc3_ir_1tap": (_seq(_fmt("NETCDF3_CLASSIC"), _resized(n=1)), 2),
    "nc3_m0_record_dim": (
        _seq(_fmt("NETCDF3_CLASSIC"), _resized(m=0), lambda s: s["dims"].update(M=None)),
        2,
    ),
    "nc3_pos_rows_fewer": (_seq(_fmt("NETCDF3_CLASSIC"), _pos_rows(-1)), 2),
    # a netCDF-3 file has no checksums: a cut-off file must be caught by its size
    "nc3_truncated_ir_written_last": (_seq(_fmt("NETCDF3_CLASSIC"), _ir_last), 2),
    "netcdf4_truncated_ir_written_last": (_ir_last, 2),
}


def _truncate_to(path: Path, fraction: float) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * fraction))


def _truncate_to_70_percent(path: Path) -> None:
    _truncate_to(path, 0.7)


#: Applied to the written file (after write_spec) for the mutations named here.
POST_WRITE = {
    "nc3_truncated_ir_written_last": lambda path: _truncate_to(path, 0.99),
    "netcdf4_truncated_ir_written_last": _truncate_to_70_percent,
}


# --------------------------------------------------------------------------------------------
# HDF5-level mutations of the sofar-written file (what netCDF4 refuses to write)


def _h5_replace(f, name, make):
    """Replace dataset ``name`` by ``make(f, attrs)`` (attributes other than dimension ones kept)."""
    attrs = {
        k: v
        for k, v in f[name].attrs.items()
        if k not in ("DIMENSION_LIST", "REFERENCE_LIST", "_Netcdf4Dimid", "_Netcdf4Coordinates")
    }
    del f[name]
    obj = make(f)
    if obj is not None and hasattr(obj, "attrs"):
        for k, v in attrs.items():
            obj.attrs[k] = v
    return obj


def _attach(ds, f, names):
    for axis, name in enumerate(names):
        ds.dims[axis].attach_scale(f[name])


def h5_mutation(name):
    import h5py

    def ir_shape_mismatch(f):
        data = f["Data.IR"][...]
        ds = _h5_replace(
            f,
            "Data.IR",
            lambda f: f.create_dataset("Data.IR", data=data[:-1], chunks=True, compression="gzip"),
        )
        _attach(ds, f, ["M", "R", "N"])  # DIMENSION_LIST says M (40) but the data has 39 rows

    def pos_shape_mismatch(f):
        data = f["SourcePosition"][...]
        ds = _h5_replace(
            f,
            "SourcePosition",
            lambda f: f.create_dataset(
                "SourcePosition", data=np.resize(data, (data.shape[0] + 7, 3))
            ),
        )
        _attach(ds, f, ["M", "C"])

    def ir_group(f):
        _h5_replace(f, "Data.IR", lambda f: f.create_group("Data.IR"))

    def ir_complex(f):
        data = f["Data.IR"][...]
        ds = _h5_replace(
            f, "Data.IR", lambda f: f.create_dataset("Data.IR", data=data.astype(np.complex128))
        )
        _attach(ds, f, ["M", "R", "N"])

    def ir_scalar(f):
        _h5_replace(f, "Data.IR", lambda f: f.create_dataset("Data.IR", data=1.0))

    def ir_vlen(f):
        dt = h5py.vlen_dtype(np.float64)

        def make(f):
            ds = f.create_dataset("Data.IR", (N_DIRECTIONS, 2), dtype=dt)
            for i in range(N_DIRECTIONS):
                for j in range(2):
                    ds[i, j] = np.arange(i % 5 + 1, dtype=np.float64)
            return ds

        ds = _h5_replace(f, "Data.IR", make)
        _attach(ds, f, ["M", "R"])

    def ir_declared(taps, fill=0.0):
        def mutate(f):
            def make(f):
                return f.create_dataset(
                    "Data.IR",
                    (N_DIRECTIONS, 2, taps),
                    dtype="f8",
                    chunks=(1, 1, min(taps, 2**20)),
                    compression="gzip",
                    fillvalue=fill,
                )

            _h5_replace(f, "Data.IR", make)

        return mutate

    def ir_unwritten_same_shape(fill):
        def mutate(f):
            def make(f):
                return f.create_dataset(
                    "Data.IR",
                    (N_DIRECTIONS, 2, N_TAPS),
                    dtype="f8",
                    chunks=(1, 2, N_TAPS),
                    compression="gzip",
                    fillvalue=fill,
                )

            ds = _h5_replace(f, "Data.IR", make)
            _attach(ds, f, ["M", "R", "N"])
            ds[0] = 1e-3  # one chunk written, the others are fill values

        return mutate

    def rate_fixed_string(f):
        ds = _h5_replace(
            f,
            "Data.SamplingRate",
            lambda f: f.create_dataset("Data.SamplingRate", data=np.array([b"48000"], dtype="S8")),
        )
        _attach(ds, f, ["I"])

    def conventions_int(f):
        f.attrs["SOFAConventions"] = np.array([1, 2, 3])

    def conventions_list(f):
        f.attrs.create(
            "SOFAConventions", ["SimpleFreeFieldHRIR", "GeneralFIR"], dtype=h5py.string_dtype()
        )

    def conventions_bytes(f):
        f.attrs["SOFAConventions"] = np.void(b"\xff\xfe\x00junk")

    def ir_external_link(f):
        del f["Data.IR"]
        f["Data.IR"] = h5py.ExternalLink("does_not_exist.h5", "/Data.IR")

    def ir_soft_link_loop(f):
        del f["Data.IR"]
        f["Data.IR"] = h5py.SoftLink("/Data.IR")

    def rate_compound(f):
        dt = np.dtype([("a", "f8"), ("b", "i4")])
        ds = _h5_replace(
            f,
            "Data.SamplingRate",
            lambda f: f.create_dataset("Data.SamplingRate", data=np.zeros(1, dtype=dt)),
        )
        _attach(ds, f, ["I"])

    table = {
        "h5_ir_rows_disagree_with_dimension_M": (ir_shape_mismatch, 2),
        "h5_pos_rows_disagree_with_dimension_M": (pos_shape_mismatch, 2),
        "h5_ir_is_a_group": (ir_group, 2),
        "h5_ir_complex": (ir_complex, 2),
        "h5_ir_scalar": (ir_scalar, 2),
        "h5_ir_vlen_rows": (ir_vlen, 2),
        "h5_ir_declared_2p31_taps_unwritten": (ir_declared(2**31), 2),
        "h5_ir_declared_2p22_taps_unwritten": (ir_declared(2**22), 2),
        "h5_ir_unwritten_chunks_fill_0": (ir_unwritten_same_shape(0.0), None),
        "h5_ir_unwritten_chunks_fill_nan": (ir_unwritten_same_shape(np.nan), 2),
        "h5_rate_fixed_string": (rate_fixed_string, 2),
        "h5_rate_compound": (rate_compound, 2),
        "h5_conventions_int_array": (conventions_int, 2),
        "h5_conventions_string_list": (conventions_list, 2),
        "h5_conventions_opaque_bytes": (conventions_bytes, 2),
        "h5_ir_external_link_missing": (ir_external_link, 2),
        "h5_ir_soft_link_loop": (ir_soft_link_loop, 2),
    }
    return table if name is None else table[name]


def write_h5_mutant(src: Path, dst: Path, name: str) -> Path:
    import h5py

    shutil.copyfile(src, dst)
    fn, _ = h5_mutation(None)[name]
    with h5py.File(dst, "r+") as f:
        fn(f)
    return dst


# --------------------------------------------------------------------------------------------
# .pt mutations: name -> (function() -> object to torch.save, expected exit code)


def pt_mutations(pred, positions):
    import torch

    hrir = torch.from_numpy(pred.astype(np.float32))
    pos = torch.from_numpy(positions.copy())
    base = {"hrir": hrir, "sampling_rate": float(SAMPLING_RATE), "positions": pos}

    def with_(**kw):
        def make():
            d = dict(base)
            for k, v in kw.items():
                if v is _DROP:
                    d.pop(k, None)
                else:
                    d[k] = v() if callable(v) and not isinstance(v, torch.Tensor) else v
            return d

        return make

    def nan_at(t, index, value=float("nan")):
        t = t.clone()
        t[index] = value
        return t

    def sparse_coo():
        return hrir.to_sparse()

    def sparse_csr():
        return hrir.reshape(-1, N_TAPS).to_sparse_csr()

    def expanded(taps):
        return lambda: torch.zeros(1, 1, 1).expand(N_DIRECTIONS, 2, taps)

    def quantized():
        return torch.quantize_per_tensor(hrir, 1e-4, 0, torch.qint32)

    spectrum = torch.fft.rfft(hrir.double(), dim=-1)
    freqs = torch.fft.rfftfreq(N_TAPS, 1 / SAMPLING_RATE).double()
    tf = {"hrtf": spectrum, "frequencies": freqs, "positions": pos}

    def tf_with(**kw):
        def make():
            d = dict(tf)
            d.update({k: v() if callable(v) else v for k, v in kw.items()})
            return d

        return make

    import datetime

    return {
        "ok": (lambda: base, 0),
        "ok_legacy_format": (lambda: base, 0),  # written with the old (non-zip) serialization
        "ok_noncontiguous": (
            with_(hrir=lambda: hrir.permute(2, 1, 0).contiguous().permute(2, 1, 0)),
            0,
        ),
        "ok_requires_grad": (with_(hrir=lambda: hrir.clone().requires_grad_(True)), 0),
        "ok_rate_int_tensor": (with_(sampling_rate=lambda: torch.tensor(SAMPLING_RATE)), 0),
        "ok_tf": (lambda: tf, None),
        "bare_tensor": (lambda: hrir, None),
        "missing_data_key": (with_(hrir=_DROP), 2),
        "two_data_keys": (with_(ir=lambda: hrir), 2),
        "hrir_nested_lists": (with_(hrir=lambda: hrir.tolist()), None),
        "hrir_ragged_lists": (with_(hrir=lambda: [[[0.0] * 3, [0.0]]] * N_DIRECTIONS), 2),
        "hrir_string": (with_(hrir="not a tensor"), 2),
        "hrir_dict": (with_(hrir=lambda: {"left": hrir[:, 0], "right": [1, {"x": None}]}), 2),
        "hrir_none": (with_(hrir=None), 2),
        "hrir_int64": (with_(hrir=lambda: (hrir * 1000).long()), None),
        "hrir_uint8": (with_(hrir=lambda: (hrir * 100 + 128).to(torch.uint8)), None),
        "hrir_bool": (with_(hrir=lambda: hrir > 0), 2),
        "hrir_float16": (with_(hrir=lambda: hrir.half()), None),
        "hrir_bfloat16": (with_(hrir=lambda: hrir.bfloat16()), None),
        "hrir_complex": (with_(hrir=lambda: hrir.to(torch.complex64)), 2),
        "hrir_sparse_coo": (with_(hrir=sparse_coo), None),
        "hrir_sparse_csr_2d": (with_(hrir=sparse_csr), 2),
        "hrir_quantized": (with_(hrir=quantized), None),
        "hrir_meta_device": (
            with_(hrir=lambda: torch.empty(N_DIRECTIONS, 2, N_TAPS, device="meta")),
            2,
        ),
        "hrir_nan": (with_(hrir=lambda: nan_at(hrir, (1, 0, 5))), 2),
        "hrir_inf": (with_(hrir=lambda: nan_at(hrir, (2, 1, 0), float("inf"))), 2),
        "hrir_rank1": (with_(hrir=lambda: hrir[0, 0]), 2),
        "hrir_rank2": (with_(hrir=lambda: hrir[:, 0]), 2),
        "hrir_rank4": (with_(hrir=lambda: hrir[..., None]), 2),
        "hrir_scalar": (with_(hrir=lambda: torch.tensor(1.0)), 2),
        "hrir_one_receiver": (with_(hrir=lambda: hrir[:, :1]), 2),
        "hrir_three_receivers": (with_(hrir=lambda: torch.cat([hrir, hrir[:, :1]], 1)), 2),
        "hrir_no_directions": (with_(hrir=lambda: hrir[:0], positions=lambda: pos[:0]), 2),
        "hrir_one_direction": (with_(hrir=lambda: hrir[:1], positions=lambda: pos[:1]), None),
        "hrir_1tap": (with_(hrir=lambda: hrir[..., :1]), 2),
        "hrir_0tap": (with_(hrir=lambda: hrir[..., :0]), 2),
        "hrir_expanded_2p28_taps": (with_(hrir=expanded(2**28)), 2),
        "hrir_expanded_2p18_taps": (with_(hrir=expanded(2**18)), None),
        "hrir_silent": (with_(hrir=lambda: torch.zeros_like(hrir)), None),
        "rate_string": (with_(sampling_rate="48000"), 2),
        "rate_zero": (with_(sampling_rate=0.0), 2),
        "rate_negative": (with_(sampling_rate=-48000.0), 2),
        "rate_nan": (with_(sampling_rate=float("nan")), 2),
        "rate_inf": (with_(sampling_rate=float("inf")), 2),
        "rate_two_values": (with_(sampling_rate=lambda: torch.tensor([48000.0, 44100.0])), 2),
        "rate_bool": (with_(sampling_rate=True), 2),
        "rate_complex_tensor": (with_(sampling_rate=lambda: torch.tensor(48000 + 0j)), 2),
        "rate_list": (with_(sampling_rate=lambda: [48000.0]), 2),
        "rate_none": (with_(sampling_rate=None), None),
        "rate_tiny": (with_(sampling_rate=1e-300), None),
        "rate_int_10e400": (with_(sampling_rate=10**400), 2),
        "rate_nan_tensor": (with_(sampling_rate=lambda: torch.tensor(float("nan"))), 2),
        "positions_nan": (with_(positions=lambda: nan_at(pos, (3, 1))), 2),
        "positions_inf": (with_(positions=lambda: nan_at(pos, (0, 2), float("inf"))), 2),
        "positions_cols_2": (with_(positions=lambda: pos[:, :2]), 2),
        "positions_rows_fewer": (with_(positions=lambda: pos[:-1]), 2),
        "positions_string": (with_(positions="front"), 2),
        "positions_complex": (with_(positions=lambda: pos.to(torch.complex128)), 2),
        "positions_lists": (with_(positions=lambda: pos.tolist()), None),
        "positions_duplicates": (
            with_(positions=lambda: pos[torch.arange(N_DIRECTIONS) // 2 * 2]),
            None,
        ),
        "positions_huge": (with_(positions=lambda: nan_at(pos, (0, 0), 1e308)), None),
        "tf_freq_count_mismatch": (tf_with(frequencies=lambda: freqs[:-1]), 2),
        "tf_freq_nan": (tf_with(frequencies=lambda: nan_at(freqs, 2)), 2),
        "tf_freq_string": (tf_with(frequencies="linear"), 2),
        "tf_real_negative": (tf_with(hrtf=lambda: spectrum.real), 2),
        "tf_db_complex": (lambda: {"hrtf_db": spectrum, "positions": pos}, 2),
        "keys_not_strings": (lambda: {**base, 1: hrir, (2, 3): "x"}, None),
        "top_list": (lambda: [hrir, SAMPLING_RATE], 2),
        "top_tuple": (lambda: (hrir,), 2),
        "top_int": (lambda: 7, 2),
        "top_string": (lambda: "hrir", 2),
        "top_none": (lambda: None, 2),
        "top_nested_dict": (lambda: {"data": base}, 2),
        "unsafe_global": (lambda: {**base, "when": datetime.datetime(2025, 1, 1)}, 2),
    }


class _Drop:
    pass


_DROP = _Drop()


def _raw_pt_files(root: Path, pred, positions):
    """.pt-named files that torch.save did not write: name -> (writer(path), expected)."""
    import pickle

    def plain_pickle(path):
        path.write_bytes(
            pickle.dumps({"hrir": pred, "sampling_rate": 48000.0, "positions": positions})
        )

    def npy(path):
        with open(path, "wb") as fh:
            np.save(fh, pred)

    def foreign_zip(path):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "not a torch file")

    def text(path):
        path.write_text("hrir = [0.1, 0.2]\n")

    return {
        "raw_plain_pickle_numpy": (plain_pickle, 2),
        "raw_npy_file": (npy, 2),
        "raw_foreign_zip": (foreign_zip, 2),
        "raw_text_file": (text, 2),
    }


# --------------------------------------------------------------------------------------------
# Byte-level mutations


def _regions(path: Path, kind: str) -> dict[str, tuple[int, int]]:
    """Byte ranges worth hitting: metadata head, data chunk, zip directory / tail, anywhere."""
    size = path.stat().st_size
    regions = {
        "head16k": (0, min(size, 16384)),
        "anywhere": (0, size),
        "tail4k": (max(0, size - 4096), size),
    }
    if kind == "sofa":
        import h5py

        with h5py.File(path, "r") as f:
            info = f["Data.IR"].id.get_chunk_info(0)
            regions["ir_chunk"] = (info.byte_offset, info.byte_offset + info.size)
            rate = f["Data.SamplingRate"].id.get_chunk_info(0)
            regions["rate_chunk"] = (rate.byte_offset, rate.byte_offset + rate.size)
    elif kind == "pt_zip":
        with zipfile.ZipFile(path) as z:
            for item in z.infolist():
                if item.filename.endswith("data.pkl"):
                    start = item.header_offset
                    regions["pickle"] = (
                        start,
                        start + 30 + len(item.filename) + item.compress_size + 64,
                    )
                elif "/data/0" in item.filename:
                    start = item.header_offset + 30 + len(item.filename)
                    regions["tensor_data"] = (start, start + item.compress_size)
    return {k: (a, b) for k, (a, b) in regions.items() if b > a}


#: Formats whose bytes are checksummed (HDF5 metadata checksums and deflate's Adler-32; the
#: zip's CRC-32), so that damage can always be told from data. netCDF-3 and the legacy torch
#: format have none: damaged values there can look like data.
CHECKSUMMED_KINDS = ("sofa", "pt_zip")

BYTE_OPS = (
    "truncate",
    "flip_bits",
    "flip_byte",
    "random_range",
    "zero_range",
    "ff_range",
    "insert",
    "delete",
    "append",
)


def mutate_bytes(
    data: bytes, op: str, lo: int, hi: int, rng: np.random.Generator
) -> tuple[bytes, str]:
    """Apply one byte mutation inside [lo, hi); returns the new bytes and a description."""
    b = bytearray(data)
    at = int(rng.integers(lo, hi))
    if op == "truncate":
        return bytes(b[:at]), f"truncate at {at} of {len(b)}"
    if op == "flip_bits":
        k = int(rng.integers(1, 9))
        where = sorted(int(x) for x in rng.integers(lo, hi, size=k))
        bits = [int(x) for x in rng.integers(0, 8, size=k)]
        for w, bit in zip(where, bits):
            b[w] ^= 1 << bit
        return bytes(b), f"flip bits {list(zip(where, bits))}"
    if op == "flip_byte":
        b[at] ^= 0xFF
        return bytes(b), f"invert byte {at}"
    length = int(rng.integers(1, 257))
    end = min(at + length, len(b))
    if op == "random_range":
        b[at:end] = rng.integers(0, 256, size=end - at, dtype=np.uint8).tobytes()
        return bytes(b), f"random bytes [{at}, {end})"
    if op == "zero_range":
        end = min(at + length * 16, len(b))
        b[at:end] = bytes(end - at)
        return bytes(b), f"zero bytes [{at}, {end})"
    if op == "ff_range":
        b[at:end] = b"\xff" * (end - at)
        return bytes(b), f"0xFF bytes [{at}, {end})"
    if op == "insert":
        junk = rng.integers(0, 256, size=min(length, 64), dtype=np.uint8).tobytes()
        return bytes(b[:at] + junk + b[at:]), f"insert {len(junk)} bytes at {at}"
    if op == "delete":
        end = min(at + min(length, 64), len(b))
        return bytes(b[:at] + b[end:]), f"delete bytes [{at}, {end})"
    if op == "append":
        junk = rng.integers(0, 256, size=length * 8, dtype=np.uint8).tobytes()
        return bytes(b + junk), f"append {len(junk)} bytes"
    raise ValueError(op)


# --------------------------------------------------------------------------------------------
# Building every case


def _torch_save(obj, path: Path, legacy: bool = False) -> Path:
    import torch

    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def build_base(root: Path) -> dict[str, Path]:
    """The intact sample files every case starts from."""
    from hrtfeval import synth

    root.mkdir(parents=True, exist_ok=True)
    positions, ref, pred = sample_arrays()
    base = {
        "ref.sofa": synth.write_sofa(
            root / "ref.sofa", ref, positions, SAMPLING_RATE, date="2025-01-01 00:00:00"
        ),
        "pred.sofa": synth.write_sofa(
            root / "pred.sofa", pred, positions, SAMPLING_RATE, date="2025-01-01 00:00:00"
        ),
        "pred.pt": synth.write_pt(
            root / "pred.pt", pred, positions=positions, sampling_rate=SAMPLING_RATE
        ),
    }
    spec = sofa_spec(pred, positions)
    spec["format"] = "NETCDF3_CLASSIC"
    base["pred_nc3.sofa"] = write_spec(root / "pred_nc3.sofa", spec)
    import torch

    obj = torch.load(base["pred.pt"], weights_only=True)
    base["pred_legacy.pt"] = _torch_save(obj, root / "pred_legacy.pt", legacy=True)
    return base


def _score_argv(pred, ref, output=None, metrics=ALL_METRICS, extra=()):
    argv = ["score", str(pred), str(ref), *metrics, *COMMON, "-f", "json", *extra]
    if output is not None:
        argv += ["-o", str(output)]
    return argv


def build_cases(
    root: Path,
    seed: int = DEFAULT_SEED,
    n_byte_cases: int = DEFAULT_BYTE_CASES,
    only: set[str] | None = None,
) -> tuple[list[Case], dict[str, Path]]:
    """Write every case's files under ``root`` and return the cases and the base files."""
    root = Path(root)
    base = build_base(root / "base")
    positions, ref_arrays, pred_arrays = sample_arrays()
    cases: list[Case] = []

    def want(case_id):
        return only is None or case_id in only

    def case_dir(case_id):
        d = root / "cases" / case_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def out_of(d, use_output):
        if not use_output:
            return None, None
        (d / "out").mkdir(exist_ok=True)
        return str(d / "out" / "out.json"), str(d / "out")

    # --- bytes ---------------------------------------------------------------------------
    rng = np.random.default_rng(seed)
    targets = [
        ("ref.sofa", "sofa", "target"),
        ("pred.sofa", "sofa", "prediction"),
        ("pred.pt", "pt_zip", "prediction"),
        ("pred_legacy.pt", "pt_legacy", "prediction"),
        ("pred_nc3.sofa", "nc3", "prediction"),
    ]
    regions = {name: _regions(base[name], kind) for name, kind, _ in targets}
    options = [ALL_METRICS, ["--preset", "lap"], []]
    baselines: dict[str, Case] = {}
    for i in range(n_byte_cases):
        name, kind, role = targets[int(rng.integers(len(targets)))]
        region_name = sorted(regions[name])[int(rng.integers(len(regions[name])))]
        lo, hi = regions[name][region_name]
        op = BYTE_OPS[int(rng.integers(len(BYTE_OPS)))]
        command = "info" if rng.random() < 0.2 else "score"
        use_output = bool(rng.random() < 0.4)
        metrics = options[int(rng.integers(len(options)))]
        sub_seed = int(rng.integers(2**31))
        case_id = f"bytes-{i:03d}-{Path(name).stem}-{op}-{region_name}"
        if not want(case_id):
            continue
        d = case_dir(case_id)
        data, how = mutate_bytes(
            base[name].read_bytes(), op, lo, hi, np.random.default_rng(sub_seed)
        )
        mutant = d / name
        mutant.write_bytes(data)
        output, out_dir = out_of(d, use_output and command == "score")
        if command == "info":
            argv = ["info", str(mutant), "-f", "json"]
            inputs = [str(mutant)]
        elif role == "target":
            argv = _score_argv(base["pred.sofa"], mutant, output, metrics)
            inputs = [str(mutant), str(base["pred.sofa"])]
        else:
            argv = _score_argv(mutant, base["ref.sofa"], output, metrics)
            inputs = [str(mutant), str(base["ref.sofa"])]
        intact = [str(base[name]) if a == str(mutant) else a for a in argv]
        if "-o" in intact:
            del intact[intact.index("-o") : intact.index("-o") + 2]
        key = json.dumps(intact)
        if key not in baselines:
            baselines[key] = Case(
                f"baseline-{len(baselines):02d}",
                "baseline",
                f"the intact files, as {case_id}",
                intact,
                [p for p in intact if p.startswith(str(root))],
                expect=0,
            )
        checked = kind in CHECKSUMMED_KINDS
        cases.append(
            Case(
                case_id,
                "bytes",
                f"{name}: {how} (region {region_name} [{lo}, {hi}))",
                argv,
                inputs,
                output,
                out_dir,
                2 if op == "truncate" else None,
                str(mutant),
                baseline=baselines[key].id if checked else None,
            )
        )
    cases.extend(baselines.values())

    # --- SOFA structure (netCDF4 writer) -------------------------------------------------
    for index, (name, (fn, expect)) in enumerate(SOFA_MUTATIONS.items()):
        case_id = f"sofa-{name}"
        if not want(case_id):
            continue
        d = case_dir(case_id)
        paths = []
        for label, arrays in (("pred", pred_arrays), ("ref", ref_arrays)):
            spec = sofa_spec(arrays, positions)
            fn(spec)
            paths.append(write_spec(d / f"{label}.sofa", spec))
            if name in POST_WRITE:
                POST_WRITE[name](paths[-1])
        output, out_dir = out_of(d, index % 2 == 1)
        metrics = TF_METRICS if "tf" in name.split("_") else ALL_METRICS
        cases.append(
            Case(
                case_id,
                "sofa",
                f"netCDF4-written SOFA pair, both files: {name}",
                _score_argv(paths[0], paths[1], output, metrics),
                [str(p) for p in paths],
                output,
                out_dir,
                expect,
                str(paths[0]),
            )
        )
        if index % 3 == 0:
            cases.append(
                Case(
                    case_id + "-info",
                    "sofa",
                    f"info of a netCDF4-written SOFA: {name}",
                    ["info", str(paths[1]), "-f", "json"],
                    [str(paths[1])],
                    None,
                    None,
                    expect,
                    str(paths[1]),
                )
            )

    # --- HDF5-level structure (h5py on the sofar file) -----------------------------------
    for index, (name, (_, expect)) in enumerate(h5_mutation(None).items()):
        case_id = f"h5-{name}"
        if not want(case_id):
            continue
        d = case_dir(case_id)
        mutant = write_h5_mutant(base["ref.sofa"], d / "ref.sofa", name)
        output, out_dir = out_of(d, index % 2 == 0)
        cases.append(
            Case(
                case_id,
                "h5",
                f"sofar-written reference edited with h5py: {name}",
                _score_argv(base["pred.sofa"], mutant, output),
                [str(mutant), str(base["pred.sofa"])],
                output,
                out_dir,
                expect,
                str(mutant),
            )
        )

    # --- .pt structure -------------------------------------------------------------------
    for index, (name, (make, expect)) in enumerate(pt_mutations(pred_arrays, positions).items()):
        case_id = f"pt-{name}"
        if not want(case_id):
            continue
        d = case_dir(case_id)
        with warnings.catch_warnings():  # torch's notes on beta/deprecated tensor kinds
            warnings.simplefilter("ignore")
            mutant = _torch_save(make(), d / "pred.pt", legacy=name == "ok_legacy_format")
        output, out_dir = out_of(d, index % 2 == 0)
        cases.append(
            Case(
                case_id,
                "pt",
                f"torch.save'd prediction: {name}",
                _score_argv(mutant, base["ref.sofa"], output),
                [str(mutant), str(base["ref.sofa"])],
                output,
                out_dir,
                expect,
                str(mutant),
            )
        )
    for name, (write, expect) in _raw_pt_files(root, pred_arrays, positions).items():
        case_id = f"pt-{name}"
        if not want(case_id):
            continue
        d = case_dir(case_id)
        mutant = d / "pred.pt"
        write(mutant)
        cases.append(
            Case(
                case_id,
                "pt",
                f"a .pt file not written by torch.save: {name}",
                _score_argv(mutant, base["ref.sofa"]),
                [str(mutant), str(base["ref.sofa"])],
                None,
                None,
                expect,
                str(mutant),
            )
        )

    # --- batches: one bad pair must not take the others down ------------------------------
    cases.extend(_batch_cases(base, want, case_dir, pred_arrays, positions))

    # --- special files -------------------------------------------------------------------
    cases.extend(_special_cases(root, base, want, case_dir, out_of))
    cases.extend(_output_cases(root, base, want, case_dir))
    return cases, base


def _batch_cases(base, want, case_dir, pred_arrays, positions):
    """Two folders in which some predictions are broken; the intact pair must still score."""
    pt = pt_mutations(pred_arrays, positions)

    def sofa(name):
        def write(path):
            spec = sofa_spec(pred_arrays, positions)
            SOFA_MUTATIONS[name][0](spec)
            write_spec(path, spec)

        return write

    def pt_file(name):
        def write(path):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _torch_save(pt[name][0](), path)

        return write

    def truncated(path):
        path.write_bytes(base["pred.sofa"].read_bytes()[:5000])

    layouts = {
        # in this process (-j 0): every reader error class in one run
        "batch-broken_files_in_process": (
            ["-j", "0"],
            {
                "a_intact.sofa": lambda path: shutil.copyfile(base["pred.sofa"], path),
                "b_truncated.sofa": truncated,
                "c_rate_10e400.pt": pt_file("rate_int_10e400"),
                "d_sparse.pt": pt_file("hrir_sparse_coo"),
                "e_expanded_2p28.pt": pt_file("hrir_expanded_2p28_taps"),
                "f_rate_string.sofa": sofa("rate_string"),
                "g_rate_nan.sofa": sofa("rate_nan"),
            },
        ),
        # in a worker process (-j 1): a file that blocks its reader
        "batch-fifo_in_worker": (
            ["-j", "1"],
            {
                "a_intact.sofa": lambda path: shutil.copyfile(base["pred.sofa"], path),
                "z_fifo.sofa": os.mkfifo,
            },
        ),
    }
    cases = []
    for case_id, (options, files) in layouts.items():
        if not want(case_id):
            continue
        d = case_dir(case_id)
        (d / "pred").mkdir()
        (d / "ref").mkdir()
        (d / "out").mkdir()
        inputs = []
        for name, write in files.items():
            write(d / "pred" / name)
            ref = d / "ref" / (Path(name).stem + ".sofa")
            shutil.copyfile(base["ref.sofa"], ref)
            inputs += [str(d / "pred" / name), str(ref)]
        output = d / "out" / "out.json"
        argv = _score_argv(
            d / "pred", d / "ref", output, metrics=["--preset", "lap"], extra=options
        )
        note = f"batch ({' '.join(options)}) over predictions: {', '.join(files)}"
        cases.append(
            Case(
                case_id,
                "batch",
                note,
                argv,
                inputs,
                str(output),
                str(d / "out"),
                2,
                str(d / "pred" / "x"),
            )
        )
    return cases


def _special_cases(root, base, want, case_dir, out_of):
    ref = base["ref.sofa"]
    pred = base["pred.sofa"]

    def fifo(p):
        os.mkfifo(p)

    def symlink(target):
        return lambda p: os.symlink(target, p)

    def directory(p):
        p.mkdir()

    def empty(p):
        p.write_bytes(b"")

    def sparse_1gib(p):
        with open(p, "wb") as fh:
            fh.truncate(2**30)

    def unreadable(p):
        shutil.copyfile(pred, p)
        os.chmod(p, 0)

    def loop(p):
        os.symlink(p.name, p)

    def sofa_named_pt(p):
        shutil.copyfile(pred, p)

    def pt_named_sofa(p):
        shutil.copyfile(base["pred.pt"], p)

    specials = [
        ("fifo_sofa", "x.sofa", fifo, 2),
        ("fifo_pt", "x.pt", fifo, 2),
        ("directory_named_sofa", "x.sofa", directory, 2),
        ("dev_zero_named_sofa", "x.sofa", symlink("/dev/zero"), 2),
        ("dev_null_named_pt", "x.pt", symlink("/dev/null"), 2),
        ("dev_urandom_named_pt", "x.pt", symlink("/dev/urandom"), 2),
        ("dangling_symlink", "x.sofa", symlink("/nonexistent/really.sofa"), 2),
        ("symlink_loop", "x.sofa", loop, 2),
        ("empty_sofa", "x.sofa", empty, 2),
        ("empty_pt", "x.pt", empty, 2),
        ("sparse_1gib_zeros_sofa", "x.sofa", sparse_1gib, 2),
        ("missing_file", "x.sofa", lambda p: None, 2),
        ("newline_in_missing_name", "x\nError: fake.sofa", lambda p: None, 2),
        ("sofa_content_named_pt", "x.pt", sofa_named_pt, 0),
        ("pt_content_named_sofa", "x.sofa", pt_named_sofa, None),
    ]
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        specials.append(("unreadable_file", "x.sofa", unreadable, 2))
    cases = []
    for index, (name, filename, make, expect) in enumerate(specials):
        case_id = f"special-{name}"
        if not want(case_id):
            continue
        d = case_dir(case_id)
        p = d / filename
        make(p)
        output, out_dir = out_of(d, index % 2 == 0)
        cases.append(
            Case(
                case_id,
                "special",
                f"prediction is {name.replace('_', ' ')}",
                _score_argv(p, ref, output, metrics=[]),
                [str(ref)],
                output,
                out_dir,
                expect,
                str(p),
            )
        )
    # both arguments directories named like files: a batch over two empty folders
    case_id = "special-two_directories_named_sofa"
    if want(case_id):
        d = case_dir(case_id)
        (d / "a.sofa").mkdir()
        (d / "b.sofa").mkdir()
        output, out_dir = out_of(d, True)
        cases.append(
            Case(
                case_id,
                "special",
                "both arguments are (empty) directories named .sofa",
                _score_argv(d / "a.sofa", d / "b.sofa", output, metrics=[], extra=["-j", "0"]),
                [],
                output,
                out_dir,
                None,
                None,
            )
        )
    return cases


def _output_cases(root, base, want, case_dir):
    """--output / --junit paths that would overwrite an input, or cannot be written."""
    cases = []
    specs = [
        ("output_is_the_prediction", lambda d, p, r: p, 2),
        ("output_is_the_target", lambda d, p, r: r, 2),
        # an atomic rename replaces the link itself, so these may succeed: the hashes decide
        (
            "output_is_a_symlink_to_the_target",
            lambda d, p, r: _link(d / "out" / "link.json", r, os.symlink),
            None,
        ),
        (
            "output_is_a_hardlink_of_the_target",
            lambda d, p, r: _link(d / "out" / "hard.json", r, os.link),
            None,
        ),
        ("output_is_a_directory", lambda d, p, r: _mkdir(d / "out" / "dir.json"), 2),
        ("output_in_missing_directory", lambda d, p, r: d / "out" / "nope" / "out.json", None),
        ("junit_is_the_target", None, 2),
    ]
    for name, make, expect in specs:
        case_id = f"output-{name}"
        if not want(case_id):
            continue
        d = case_dir(case_id)
        (d / "out").mkdir(exist_ok=True)
        pred = d / "pred.sofa"
        ref = d / "ref.sofa"
        shutil.copyfile(base["pred.sofa"], pred)
        shutil.copyfile(base["ref.sofa"], ref)
        if make is None:
            argv = _score_argv(pred, ref, None, metrics=[], extra=["--junit", str(ref)])
            output = None
        else:
            output = make(d, pred, ref)
            argv = _score_argv(pred, ref, output, metrics=[])
        inputs = [str(pred), str(ref)]
        # the folder checked for left-over files: where the output goes
        out_dir = str(Path(output).parent) if output is not None else None
        cases.append(
            Case(
                case_id,
                "output",
                name.replace("_", " "),
                argv,
                inputs,
                None if output is None else str(output),
                out_dir,
                expect,
                None,
            )
        )
    return cases


def _link(link: Path, target: Path, how):
    how(target, link)
    return link


def _mkdir(p: Path):
    p.mkdir()
    return p


def subprocess_cases(root: Path, base: dict[str, Path]) -> list[Case]:
    """A few cases run through the real entry point (``python -m hrtfeval``)."""
    root = Path(root) / "subprocess"
    cases = []
    pred, ref = base["pred.sofa"], base["ref.sofa"]

    def add(case_id, note, make_pred, expect):
        d = root / case_id
        (d / "out").mkdir(parents=True)
        mutant = make_pred(d)
        output = d / "out" / "out.json"
        cases.append(
            Case(
                case_id,
                "subprocess",
                note,
                _score_argv(mutant, ref, output, metrics=["--preset", "lap"]),
                [str(mutant), str(ref)],
                str(output),
                str(d / "out"),
                expect,
                str(mutant),
                subprocess=True,
            )
        )

    add(
        "subprocess-ok",
        "the intact pair",
        lambda d: Path(shutil.copyfile(pred, d / "pred.sofa")),
        0,
    )
    add(
        "subprocess-truncated_sofa",
        "prediction SOFA cut in half",
        lambda d: _write(d / "pred.sofa", pred.read_bytes()[: pred.stat().st_size // 2]),
        2,
    )

    def pt_string_rate(d):
        import torch

        obj = torch.load(base["pred.pt"], weights_only=True)
        obj["sampling_rate"] = "48000"
        return _torch_save(obj, d / "pred.pt")

    add("subprocess-pt_rate_string", "prediction .pt with sampling_rate '48000'", pt_string_rate, 2)
    return cases


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="write fuzz cases and print their commands")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--seed", type=int, default=int(os.environ.get("HRTFEVAL_FUZZ_SEED", DEFAULT_SEED))
    )
    parser.add_argument(
        "--cases", type=int, default=int(os.environ.get("HRTFEVAL_FUZZ_CASES", DEFAULT_BYTE_CASES))
    )
    parser.add_argument("--only", action="append", help="case id (repeatable); default all")
    args = parser.parse_args(argv)
    cases, _ = build_cases(args.out, args.seed, args.cases, set(args.only) if args.only else None)
    for case in cases:
        print(
            json.dumps({"id": case.id, "note": case.note, "expect": case.expect}), file=sys.stderr
        )
        print(case.command())
    return cases


if __name__ == "__main__":
    main()
