"""Regenerate the sample HRTF files in this folder, deterministically.

Writes, into ``--out`` (default: this script's folder):

* ``reference.sofa``: SimpleFreeFieldHRIR, 48 kHz, 256 taps, 440 directions on a Fibonacci
  grid, 2 ears: :func:`hrtfeval.synth.spherical_head_hrirs` (the nominal spherical head).
* ``prediction.sofa``: the same directions in a shuffled order, holding
  :func:`hrtfeval.synth.degrade` of the reference (a plausible model output, a few dB LSD off).
* ``prediction.pt``: the same prediction, in the same order, as a torch dict
  ``{"hrir": (440, 2, 256) float32, "sampling_rate": 48000.0, "positions": (440, 3) float64}``.

The impulse responses are rounded to float32 before writing, so that the SOFA and the torch
prediction hold the same numbers and the files stay small. The SOFA dates are fixed, so that a
rerun gives the same file contents. Usage::

    python sample_data/make_sample_data.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from hrtfeval import synth
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from hrtfeval import synth

N_DIRECTIONS = 440
SAMPLING_RATE = 48000
N_TAPS = 256
DEGRADE_SEED = 0
SHUFFLE_SEED = 1
DATE = "2025-01-01 00:00:00"


def make_arrays():
    """The sample data as arrays.

    Returns
    -------
    dict
        ``positions`` (440, 3) and ``reference`` (440, 2, 256) in grid order;
        ``prediction_positions`` (440, 3) and ``prediction`` (440, 2, 256) in the shuffled order
        of the prediction files. IRs are float32 values held in float64 arrays.
    """
    import numpy as np

    positions = synth.sphere_grid(N_DIRECTIONS)
    reference = synth.spherical_head_hrirs(positions, sampling_rate=SAMPLING_RATE, n_taps=N_TAPS)
    reference = reference.astype(np.float32).astype(np.float64)
    prediction = synth.degrade(reference, seed=DEGRADE_SEED)
    prediction = prediction.astype(np.float32).astype(np.float64)
    order = np.random.default_rng(SHUFFLE_SEED).permutation(N_DIRECTIONS)
    return {
        "positions": positions,
        "reference": reference,
        "prediction_positions": positions[order],
        "prediction": prediction[order],
    }


def main(argv: list[str] | None = None) -> list[Path]:
    """Write the three sample files into ``--out`` and return their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write into (default: this script's folder)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    arrays = make_arrays()
    written = [
        synth.write_sofa(
            out / "reference.sofa",
            arrays["reference"],
            arrays["positions"],
            SAMPLING_RATE,
            title="hrtfeval sample reference (synthetic spherical head)",
            database="hrtfeval sample data",
            date=DATE,
        ),
        synth.write_sofa(
            out / "prediction.sofa",
            arrays["prediction"],
            arrays["prediction_positions"],
            SAMPLING_RATE,
            title="hrtfeval sample prediction (degraded reference, shuffled order)",
            database="hrtfeval sample data",
            date=DATE,
        ),
        synth.write_pt(
            out / "prediction.pt",
            arrays["prediction"],
            positions=arrays["prediction_positions"],
            sampling_rate=SAMPLING_RATE,
        ),
    ]
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)", file=sys.stderr)
    return written


if __name__ == "__main__":
    main()
