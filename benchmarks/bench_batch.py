"""Speed targets of issues 8 and 17, measured as ratios against baselines timed in the same run.

    python benchmarks/bench_batch.py [--pairs 125] [--small 5] [--repeats 3] [--workdir DIR]
    python benchmarks/bench_batch.py --pairs 8 --small 2 --repeats 1 --reference-pairs 1  # smoke

Builds ``--pairs`` distinct measured-size pairs (793 directions x 2 ears x 256 taps, 48 kHz,
compressed SOFA as sofar writes it; each pair another synthetic subject) and, in each of
``--repeats`` rounds, times one after the other, each in a fresh process:

* the straightforward per-pair LAP evaluation: ``sofar.read_sofa`` of both files and the
  per-direction definitions of ``tests/lap_reference.py`` (ITD, ILD, LSD in Python loops), on
  ``--reference-pairs`` pairs (the official per-pair code's cost per pair);
* reading just ``Data.IR`` of both files of every pair with netCDF4 (CPU time per pair);
* the floor of hrtfeval's own methods (CPU per pair): ``Data.IR`` of both files read as
  hrtfeval reads it (raw chunks, libdeflate, unshuffle; no other metadata) and only the FFTs of
  the LAP metrics (the ITD's float32 transforms, LSD's float64 spectrum) -- a single worker,
  which does all that and more, cannot go below it;
* ``hrtfeval score --pairs ... --preset lap`` with the default workers and with ``--workers 1``,
  each on ``--small`` and on ``--pairs`` pairs back to back: the marginal wall time per pair of a
  round is (t_large - t_small) / (pairs - small).

Every ratio is taken within a round (the round's marginal against the same round's baselines,
so that a slow spell of this shared machine weighs on both) and the median round is checked
(issue 17: at least 120 distinct pairs, hence the default 125):

* default workers: >= 20x faster than the per-pair code, <= 0.5x the netCDF4 read;
* ``--workers 1``: <= 0.6x the netCDF4 read;
* nothing slower: ``hrtfeval score PRED REF`` of one pair against ``python -c "import torch,
  sofar"`` (<= 1.3x), ``--help`` / ``--version`` against ``python -c "import torch"``
  (<= 0.4x), peak memory (all processes) of the large batch against the small one (<= 1.5x).

Prints a table of the measured values, each ratio against its target, and met / NOT MET.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PYTHON,
    ROOT,
    interleaved,
    make_pairs,
    pairs_csv,
    peak_rss,
    print_table,
    verdict,
    wall,
)


def hrtfeval_cmd() -> list[str]:
    exe = Path(PYTHON).with_name("hrtfeval")
    return [str(exe)] if exe.exists() else [PYTHON, "-m", "hrtfeval"]


REFERENCE_CODE = r"""
import sys, time, importlib.util
import numpy as np, sofar
spec = importlib.util.spec_from_file_location("lap_reference", sys.argv[1])
ref_impl = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref_impl)
pairs = [line.split(",") for line in open(sys.argv[2]).read().split()[1:]]
start = time.perf_counter()
for pred_path, ref_path in pairs:
    pred, ref = sofar.read_sofa(pred_path), sofar.read_sofa(ref_path)
    assert np.allclose(pred.SourcePosition, ref.SourcePosition)
    ref_impl.reference_lap(pred.Data_IR, ref.Data_IR, float(ref.Data_SamplingRate))
print((time.perf_counter() - start) / len(pairs))
"""

READ_CODE = r"""
import sys, time
import netCDF4, numpy as np
pairs = [line.split(",") for line in open(sys.argv[1]).read().split()[1:]]
start = time.process_time()
for pair in pairs:
    for path in pair:
        with netCDF4.Dataset(path, "r") as ds:
            np.asarray(ds.variables["Data.IR"][:])
print((time.process_time() - start) / len(pairs))
"""


# What a pair costs at the least with hrtfeval's own methods, CPU per pair, one thread: reading
# Data.IR of both files as hrtfeval does (raw chunks, libdeflate, byte unshuffle; no other
# metadata), and only the FFTs of the LAP metrics (the ITD's six float32 transforms per block, in
# the blocks hrtfeval uses, lengths fixed by the definitions, and LSD's float64 spectrum). The
# elementwise work, the metadata, alignment and the documents come on top: a single worker
# cannot go below.
FLOOR_CODE = r"""
import sys, time
import h5py, numpy as np, torch
from hrtfeval._itd_lags import _blocks, _fast_length
from hrtfeval.batch.jobs import keep_heap_memory
from hrtfeval.io import _h5fast
torch.set_num_threads(1)
keep_heap_memory()  # as in a batch worker
pairs = [line.split(",") for line in open(sys.argv[1]).read().split()[1:]]
read = fft = 0.0
for k, pair in enumerate([pairs[0]] + pairs):  # the first pass warms up (not counted)
    if k == 1:
        read = fft = 0.0
    for path in pair:
        start = time.process_time()
        fid = h5py.h5f.open(path.encode(), h5py.h5f.ACC_RDONLY)
        dataset = h5py.h5d.open(fid, b"Data.IR")
        data = _h5fast.read_dataset(dataset)
        if data is None:  # a layout the raw-chunk path does not decode: HDF5's own read
            data = np.empty(dataset.shape, dataset.dtype)
            dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, data)
        fid.close()
        read += time.process_time() - start
        x = torch.from_numpy(data)
        n = x.shape[-1]
        m = _fast_length(2 * n - 1)  # the ITD's transform length
        start = time.process_time()
        for _, block in _blocks(x):
            block = block.to(torch.float32)
            y = torch.fft.irfft(torch.fft.rfft(block, n=m), n=m)[..., :n]
            e = torch.fft.irfft(torch.fft.rfft(y, n=n), n=n)
            c = torch.fft.rfft(e, n=m)
            torch.fft.irfft(c[:, 0], n=m)
        torch.fft.rfft(x, n=n)
        fft += time.process_time() - start
print(read / len(pairs), fft / len(pairs))
"""


def run_python_values(code: str, *args: str) -> list[float]:
    """The numbers on the last line ``code`` prints, run in a fresh interpreter."""
    out = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.strip().splitlines()[-1].split()]


def run_python(code: str, *args: str) -> float:
    return run_python_values(code, *args)[0]


#: Worker settings timed: the default and one worker process.
MODES = {"default": [], "workers 1": ["--workers", "1"]}


def timed_rounds(args, cli, csvs: dict[str, Path]) -> list[dict[str, float]]:
    """One dict a round: ``reference`` and ``read`` (s per pair), ``<mode> small/large`` (wall s)
    and ``<mode> marginal`` (s per pair), all measured within the round, back to back."""
    batch = [*cli, "score", "--preset", "lap", "--format", "json", "--quiet"]
    rounds = []
    for r in range(args.repeats):
        got = {
            "reference": run_python(
                REFERENCE_CODE, str(ROOT / "tests/lap_reference.py"), str(csvs["reference"])
            ),
            "read": run_python(READ_CODE, str(csvs["large"])),
        }
        got["floor read"], got["floor fft"] = run_python_values(FLOOR_CODE, str(csvs["large"]))
        for mode, extra in MODES.items():
            for size in ("small", "large"):
                got[f"{mode} {size}"] = wall([*batch, *extra, "--pairs", str(csvs[size])])
            got[f"{mode} marginal"] = (got[f"{mode} large"] - got[f"{mode} small"]) / (
                args.pairs - args.small
            )
        print(
            f"round {r + 1}/{args.repeats}: reference {got['reference'] * 1e3:.0f} ms, read "
            f"{got['read'] * 1e3:.1f} ms, floor "
            f"{(got['floor read'] + got['floor fft']) * 1e3:.1f} ms, marginal default "
            f"{got['default marginal'] * 1e3:.1f} "
            f"ms, --workers 1 {got['workers 1 marginal'] * 1e3:.1f} ms per pair",
            file=sys.stderr,
        )
        rounds.append(got)
    return rounds


def median_of(rounds: list[dict[str, float]], fn) -> float:
    return statistics.median(fn(r) for r in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pairs", type=int, default=125, help="large batch size (default 125; issue 17: >= 120)"
    )
    parser.add_argument("--small", type=int, default=5, help="small batch size (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (the median is checked)")
    parser.add_argument(
        "--reference-pairs",
        type=int,
        default=5,
        help="pairs timed with the per-direction reference (default 5)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the generated files here (default: a temporary folder)",
    )
    args = parser.parse_args()
    if args.pairs <= args.small:
        parser.error("--pairs must be larger than --small")
    if args.repeats < 1 or args.reference_pairs < 1:
        parser.error("--repeats and --reference-pairs must be at least 1")

    tmp = None
    work = args.workdir
    if work is None:
        tmp = tempfile.mkdtemp(prefix="hrtfeval-bench-")
        work = Path(tmp)
    try:
        t0 = time.perf_counter()
        pairs = make_pairs(work, args.pairs)
        print(
            f"built {len(pairs)} distinct pairs (793x2x256, 48 kHz) in "
            f"{time.perf_counter() - t0:.1f} s under {work}",
            file=sys.stderr,
        )
        csvs = {
            "small": pairs_csv(work / "small.csv", pairs[: args.small]),
            "large": pairs_csv(work / "large.csv", pairs),
            "reference": pairs_csv(work / "reference.csv", pairs[: args.reference_pairs]),
        }
        cli = hrtfeval_cmd()
        rounds = timed_rounds(args, cli, csvs)

        batch = [*cli, "score", "--preset", "lap", "--format", "json", "--quiet", "--pairs"]
        _, small_mib = peak_rss([*batch, str(csvs["small"])])
        _, large_mib = peak_rss([*batch, str(csvs["large"])])

        pred0, ref0 = map(str, pairs[0])
        single = interleaved(
            {
                "score": [*cli, "score", pred0, ref0],
                "imports": [PYTHON, "-c", "import torch, sofar"],
                "help": [*cli, "--help"],
                "version": [*cli, "--version"],
                "torch": [PYTHON, "-c", "import torch"],
            },
            max(args.repeats, 5),
        )

        ms = 1e3
        med = {k: median_of(rounds, lambda r, k=k: r[k]) for k in rounds[0]}
        best = {k: min(r[k] for r in rounds) for k in rounds[0]}
        speedup = median_of(rounds, lambda r: r["reference"] / r["default marginal"])
        default_read = median_of(rounds, lambda r: r["default marginal"] / r["read"])
        single_read = median_of(rounds, lambda r: r["workers 1 marginal"] / r["read"])
        floor_read = median_of(rounds, lambda r: (r["floor read"] + r["floor fft"]) / r["read"])
        rows = [
            (
                "reference per pair (sofar + per-direction loops), median round",
                f"{med['reference'] * ms:.1f} ms",
                "",
                "",
            ),
            (
                "read Data.IR of both files (netCDF4), CPU per pair, median round",
                f"{med['read'] * ms:.1f} ms",
                "",
                "",
            ),
            (
                "floor: Data.IR of both files as hrtfeval reads it (raw chunks, libdeflate, "
                "unshuffle), CPU per pair",
                f"{med['floor read'] * ms:.1f} ms",
                "",
                "",
            ),
            (
                "floor: only the FFTs of ITD (float32) and LSD (float64), CPU per pair",
                f"{med['floor fft'] * ms:.1f} ms",
                "",
                "",
            ),
            (
                "floor total / netCDF4 read (what no single worker can go below)",
                f"{floor_read:.2f}x",
                "",
                "",
            ),
        ]
        for mode in MODES:
            rows += [
                (
                    f"batch {mode}, {args.small} / {args.pairs} pairs, median round",
                    f"{med[f'{mode} small']:.2f} / {med[f'{mode} large']:.2f} s",
                    "",
                    "",
                ),
                (
                    f"batch {mode}, marginal wall per pair (best / median round)",
                    f"{best[f'{mode} marginal'] * ms:.1f} / {med[f'{mode} marginal'] * ms:.1f} ms",
                    "",
                    "",
                ),
            ]
        rows += [
            (
                "default: speed-up over the per-pair code (median round)",
                f"{speedup:.1f}x",
                ">= 20x",
                verdict(speedup >= 20),  # a negative marginal (noise) fails all three
            ),
            (
                "default: marginal / netCDF4 read (median round)",
                f"{default_read:.2f}x",
                "<= 0.5x",
                verdict(0 < default_read <= 0.5),
            ),
            (
                "--workers 1: marginal / netCDF4 read (median round)",
                f"{single_read:.2f}x",
                "<= 0.6x",
                verdict(0 < single_read <= 0.6),
            ),
            (
                "single score / import torch+sofar",
                f"{single['score'][0]:.2f} / {single['imports'][0]:.2f} s = "
                f"{single['score'][0] / single['imports'][0]:.2f}x",
                "<= 1.3x",
                verdict(single["score"][0] / single["imports"][0] <= 1.3),
            ),
            (
                "--help / import torch",
                f"{single['help'][0]:.3f} / {single['torch'][0]:.2f} s = "
                f"{single['help'][0] / single['torch'][0]:.2f}x",
                "<= 0.4x",
                verdict(single["help"][0] / single["torch"][0] <= 0.4),
            ),
            (
                "--version / import torch",
                f"{single['version'][0]:.3f} / {single['torch'][0]:.2f} s = "
                f"{single['version'][0] / single['torch'][0]:.2f}x",
                "<= 0.4x",
                verdict(single["version"][0] / single["torch"][0] <= 0.4),
            ),
            (
                f"peak RSS (all processes), {args.pairs} / {args.small} pairs",
                f"{large_mib} / {small_mib} MiB = {large_mib / small_mib:.2f}x",
                "<= 1.5x",
                verdict(large_mib / small_mib <= 1.5),
            ),
        ]
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        note = "" if args.pairs >= 120 else "; fewer than 120 pairs: a smoke test"
        print_table(
            f"hrtfeval batch speed ({cpus} CPUs, {args.pairs} distinct pairs, median of "
            f"{args.repeats} rounds; {time.strftime('%Y-%m-%d')}{note})",
            rows,
        )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
