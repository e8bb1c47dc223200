"""Speed of hrtfeval.cues against the per-direction reference loop, in the same process.

A "pair" is what scoring one submission costs: the cue of a predicted and of a reference set,
each 793 directions x 2 ears x 256 taps at 48 kHz (deterministic synthetic HRIRs from
``tests/lap_reference.py``, which also holds the per-direction reference code).

    python benchmarks/bench_cues.py [--repeats 7] [--threads N] [--device cpu|cuda]

Prints the median and best time per pair of each implementation and their ratios (the best is
the steadier number on a shared machine); checks first that both give the same ITDs (exactly)
and ILDs (to 1e-9 dB).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from hrtfeval import cues

ROOT = Path(__file__).resolve().parent.parent
N_DIRECTIONS, N_TAPS, FS = 793, 256, 48000


def _load_reference():
    # The tests own the reference; load it by path rather than making tests a package.
    spec = importlib.util.spec_from_file_location("lap_reference", ROOT / "tests/lap_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seconds(fn, repeats, sync):
    """(median, best) wall time of ``fn`` over ``repeats`` runs after one warm-up run."""
    fn()  # warm-up: lru caches, FFT plans, CUDA context
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    ref = _load_reference()
    sets = [ref.synthetic_hrirs(N_DIRECTIONS, N_TAPS, FS, seed=s)[0] for s in (0, 1)]
    tensors = [torch.from_numpy(s).to(device) for s in sets]

    cases = {
        "ITD maxiacce": (
            lambda: [ref.reference_itd_seconds(s, FS, "maxiacce") for s in sets],
            lambda: [cues.itd_seconds(t, FS, "maxiacce") for t in tensors],
        ),
        "ITD threshold": (
            lambda: [ref.reference_itd_seconds(s, FS, "threshold") for s in sets],
            lambda: [cues.itd_seconds(t, FS, "threshold") for t in tensors],
        ),
        "ILD": (
            lambda: [ref.reference_ild_db(s) for s in sets],
            lambda: [cues.ild_db(t) for t in tensors],
        ),
    }

    # Same answers first: a fast wrong answer is not worth timing.
    for name, (slow, fast) in cases.items():
        for expected, got in zip(slow(), fast()):
            got = got.cpu().numpy()
            if name.startswith("ITD"):
                mismatches = int(np.sum(got != expected))
                assert mismatches == 0, f"{name}: {mismatches} directions differ"
            else:
                np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)

    print(
        f"hrtfeval.cues vs per-direction loop: pair = 2 sets x {N_DIRECTIONS} directions x 2 ears "
        f"x {N_TAPS} taps, {FS} Hz; device {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s); ms per pair, median / best of {args.repeats}"
    )
    header = f"{'cue':<14} {'loop':>15} {'hrtfeval.cues':>15} {'speed-up':>15}"
    print(header)
    print("-" * len(header))
    totals = np.zeros(4)
    for name, (slow, fast) in cases.items():
        times = np.array(
            _seconds(slow, args.repeats, lambda: None) + _seconds(fast, args.repeats, sync)
        )
        totals += times
        _row(name, times)
    print("-" * len(header))
    _row("all three", totals)


def _row(name, times):
    slow_median, slow_best, fast_median, fast_best = times
    print(
        f"{name:<14} {slow_median * 1e3:7.2f} / {slow_best * 1e3:5.2f} "
        f"{fast_median * 1e3:7.2f} / {fast_best * 1e3:5.2f} "
        f"{slow_median / fast_median:6.1f}x / {slow_best / fast_best:5.1f}x"
    )


if __name__ == "__main__":
    main()
