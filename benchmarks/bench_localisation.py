"""CPU time of the localisation model (QE + PE + EB) on a 1550-direction pair, after reading.

The pair is an ARI-like grid (elevation rings -30 ... 80 deg every 5 deg, about 5 deg apart in
azimuth, 1550 directions, az 0 and 180 on every ring), 2 ears x 256 taps at 48 kHz, written as
SOFA files and read back with ``read_hrtf``; the timed part is
``localisation.predict(pred, ref, laterals=(-30, 0, 30))``: DTFs of both sets, the prediction
and the baseline at three lateral angles.

    python benchmarks/bench_localisation.py [--repeats 7]

Prints the median and best CPU time (``time.process_time``, all threads) and wall time per
pair; the target of issue 14 is under 1 s of CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from hrtfeval import localisation, synth
from hrtfeval.io import read_hrtf

N_DIRECTIONS, N_TAPS, FS = 1550, 256, 48000
LATERALS = (-30.0, 0.0, 30.0)


def ari_like_grid(n_directions: int = N_DIRECTIONS) -> np.ndarray:
    """Elevation rings -30 ... 80 deg (5 deg apart), an even number of azimuths per ring
    (so 0 and 180 deg are on it) about proportional to cos(elevation), ``n_directions`` in all."""
    elevations = np.arange(-30.0, 81.0, 5.0)
    weights = np.cos(np.deg2rad(elevations))
    counts = np.maximum(2 * np.round(weights / weights.sum() * n_directions / 2), 2).astype(int)
    i = 0
    while counts.sum() != n_directions:  # spread the rounding error over the rings
        counts[i % counts.size] += 2 if counts.sum() < n_directions else -2
        i += 1
    rows = [
        np.stack([np.arange(c) * (360.0 / c), np.full(c, el), np.full(c, 1.2)], axis=1)
        for el, c in zip(elevations, counts)
    ]
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    positions = ari_like_grid()
    ref_ir = synth.spherical_head_hrirs(positions, sampling_rate=FS, n_taps=N_TAPS)
    pred_ir = synth.degrade(ref_ir, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        ref = read_hrtf(synth.write_sofa(Path(tmp) / "ref.sofa", ref_ir, positions, FS))
        pred = read_hrtf(synth.write_sofa(Path(tmp) / "pred.sofa", pred_ir, positions, FS))

    def run():
        return localisation.predict(pred, ref, laterals=LATERALS)

    result = run()  # warm-up: scipy imports
    cpu, wall = [], []
    for _ in range(args.repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        run()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    sectors = ", ".join(
        f"{s.lateral:+g}: {s.n_targets} targets/{s.template_polar.size} template"
        for s in result.prediction.sectors
    )
    print(f"pair: {ref.n_directions} directions x 2 ears x {N_TAPS} taps at {FS} Hz ({sectors})")
    print(
        f"QE {result.prediction.qe:.3f} % (baseline {result.baseline.qe:.3f} %), "
        f"PE {result.prediction.pe:.3f} deg, EB {result.prediction.eb:.3f} deg"
    )
    print(
        f"CPU per pair: median {statistics.median(cpu):.3f} s, best {min(cpu):.3f} s; "
        f"wall median {statistics.median(wall):.3f} s (target: < 1 s CPU)"
    )


if __name__ == "__main__":
    main()
