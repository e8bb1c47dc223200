"""Memory targets of issue 8: flat in the number of pairs, bounded for dense grids.

    python benchmarks/bench_memory.py [--pairs 1000] [--small 10] [--directions 40000]

* Peak resident memory (summed over the process and its workers, sampled from /proc) of
  ``hrtfeval score --preset lap`` on ``--pairs`` pairs against ``--small`` pairs: the target is a
  ratio of at most 1.5. Memory does not depend on whether files are distinct, so the large batch
  links a few distinct measured-size files (793 x 2 x 256, 48 kHz) under many names.
* Peak resident memory of scoring one pair with ``--directions`` directions (a dense grid, 256
  taps, 48 kHz) with ``--preset lap``: the target is at most 2 GiB.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, make_pairs, peak_rss, print_table, verdict  # noqa: E402


def hrtfeval_cmd() -> list[str]:
    exe = Path(PYTHON).with_name("hrtfeval")
    return [str(exe)] if exe.exists() else [PYTHON, "-m", "hrtfeval"]


def linked_batch(root: Path, sources, count: int) -> tuple[Path, Path]:
    """Directories pred/ and ref/ with ``count`` pairs, each a link to one of ``sources``."""
    pred_dir, ref_dir = root / "pred", root / "ref"
    pred_dir.mkdir(parents=True)
    ref_dir.mkdir(parents=True)
    for i in range(count):
        pred, ref = sources[i % len(sources)]
        (pred_dir / f"s{i:05d}.sofa").symlink_to(pred)
        (ref_dir / f"s{i:05d}.sofa").symlink_to(ref)
    return pred_dir, ref_dir


def dense_pair(root: Path, n_directions: int) -> tuple[Path, Path]:
    from hrtfeval import synth

    positions = synth.sphere_grid(n_directions)
    ref = synth.spherical_head_hrirs(positions, 48000, 256)
    pred = synth.degrade(ref, seed=1)
    order = np.random.default_rng(0).permutation(n_directions)  # make alignment search
    return (
        synth.write_sofa(root / "dense_pred.sofa", pred[order], positions[order], 48000),
        synth.write_sofa(root / "dense_ref.sofa", ref, positions, 48000),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--distinct", type=int, default=10, help="distinct files behind the links")
    parser.add_argument("--directions", type=int, default=40000)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hrtfeval-mem-"))
    try:
        t0 = time.perf_counter()
        sources = make_pairs(tmp / "distinct", args.distinct)
        small = linked_batch(tmp / "small", sources, args.small)
        large = linked_batch(tmp / "large", sources, args.pairs)
        dense = dense_pair(tmp, args.directions)
        print(f"built the inputs in {time.perf_counter() - t0:.1f} s under {tmp}", file=sys.stderr)

        cli = hrtfeval_cmd()
        batch = [*cli, "score", "--preset", "lap", "--format", "json", "--quiet"]
        small_s, small_mib = peak_rss([*batch, *map(str, small)])
        large_s, large_mib = peak_rss([*batch, *map(str, large)])
        dense_s, dense_mib = peak_rss(
            [
                *cli,
                "score",
                *map(str, dense),
                "--preset",
                "lap",
                "--format",
                "json",
                "--device",
                "cpu",
            ]
        )
        ratio = large_mib / small_mib
        rows = [
            (
                f"batch of {args.small} pairs: peak RSS (all processes)",
                f"{small_mib} MiB",
                "",
                f"{small_s:.1f} s",
            ),
            (
                f"batch of {args.pairs} pairs: peak RSS (all processes)",
                f"{large_mib} MiB",
                "",
                f"{large_s:.1f} s",
            ),
            (
                f"{args.pairs} / {args.small} pairs",
                f"{ratio:.2f}x",
                "<= 1.5x",
                verdict(ratio <= 1.5),
            ),
            (
                f"one pair of {args.directions} directions (--preset lap)",
                f"{dense_mib} MiB in {dense_s:.1f} s",
                "<= 2048 MiB",
                verdict(dense_mib <= 2048),
            ),
        ]
        print_table(f"hrtfeval memory ({time.strftime('%Y-%m-%d')})", rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
