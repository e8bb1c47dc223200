"""Start-up of one pair: `score --preset lap` and `info`, as ratios of `python -c "import torch"`.

Issue 15's targets: one 710-direction, 512-tap pair scored with ``--preset lap`` in at most 1.3x
the time of importing torch, and ``info`` on a 1550-direction file in at most 0.6x.

    python benchmarks/bench_startup.py [--repeats 7] [--taps-info 256] [--keep DIR]

Builds the files in a temporary folder (synthetic subjects, hrtfeval.synth), then runs every
command in a fresh process, ``--repeats`` rounds, the commands in turn within a round (so that the
load of a shared machine falls on all alike). Prints each command's median wall time and its
ratio to the baseline: the median over the rounds of (command / baseline of the same round), and
whether each target is met. ``info --cues`` is shown for comparison (it has no target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HRTFEVAL, PYTHON, interleaved_runs

FS = 48000
TARGETS = {"score --preset lap": 1.3, "info": 0.6}


def build(root: Path, taps_info: int) -> dict[str, Path]:
    from hrtfeval import synth

    positions, ref, pred = synth.make_pair(n_directions=710, sampling_rate=FS, n_taps=512, seed=7)
    files = {
        "pred": synth.write_sofa(root / "pred_710x512.sofa", pred, positions, FS),
        "ref": synth.write_sofa(root / "ref_710x512.sofa", ref, positions, FS),
    }
    grid = synth.sphere_grid(1550)
    files["info"] = synth.write_sofa(
        root / "ref_1550.sofa", synth.spherical_head_hrirs(grid, FS, taps_info), grid, FS
    )
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds (at least 5)")
    parser.add_argument(
        "--taps-info", type=int, default=256, help="taps of the 1550-direction file"
    )
    parser.add_argument("--keep", type=Path, default=None, help="build the files here, keep them")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")

    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        files = build(root, args.taps_info)
        commands = {
            "import torch": [PYTHON, "-c", "import torch"],
            "score --preset lap": [
                *HRTFEVAL,
                "score",
                str(files["pred"]),
                str(files["ref"]),
                "--preset",
                "lap",
            ],
            "info": [*HRTFEVAL, "info", str(files["info"])],
            "info --cues": [*HRTFEVAL, "info", str(files["info"]), "--cues"],
        }
        # One untimed round first: page cache, .pyc files.
        interleaved_runs(commands, 1)
        runs = interleaved_runs(commands, args.repeats)

    base = runs["import torch"]
    print(f"{args.repeats} rounds, fresh processes, interleaved; python {sys.version.split()[0]}")
    print(f"{'command':<22}{'median s':>10}{'ratio':>8}{'target':>9}  met")
    print(f"{'import torch':<22}{statistics.median(base):>10.2f}{1.0:>8.2f}")
    all_met = True
    for name, times in runs.items():
        if name == "import torch":
            continue
        ratio = statistics.median(t / b for t, b in zip(times, base))
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if ratio <= target else "NO")
        all_met &= met != "NO"
        shown = "" if target is None else f"<= {target:.1f}"
        print(f"{name:<22}{statistics.median(times):>10.2f}{ratio:>8.2f}{shown:>9}  {met}")
    print("all targets met" if all_met else "some target NOT met")


if __name__ == "__main__":
    main()
