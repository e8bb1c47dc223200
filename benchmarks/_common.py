"""Shared pieces of the benchmark scripts: distinct test files, cold timings, peak RSS.

Every timing is of a fresh process (`subprocess`), so nothing cached in an interpreter helps; the
files of a run are distinct (each pair is another synthetic subject), so no library cache of an
open file helps either. Ratios are measured against baselines timed in the same run.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HRTFEVAL = [PYTHON, "-m", "hrtfeval"]


def load_reference():
    """tests/lap_reference.py: the straightforward per-direction LAP definitions."""
    spec = importlib.util.spec_from_file_location("lap_reference", ROOT / "tests/lap_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_pair(args) -> None:
    root, index, n_directions, n_taps, fs = args
    from hrtfeval import synth

    name = f"subject_{index:04d}.sofa"
    if (root / "pred" / name).exists() and (root / "ref" / name).exists():
        return
    positions, ref, pred = synth.make_pair(
        n_directions=n_directions, sampling_rate=fs, n_taps=n_taps, seed=1000 + index
    )
    synth.write_sofa(root / "ref" / name, ref, positions, fs)
    synth.write_sofa(root / "pred" / name, pred, positions, fs)


def make_pairs(
    root: Path, count: int, n_directions: int | None = None, n_taps: int = 256, fs: int = 48000
) -> list[tuple[Path, Path]]:
    """``count`` distinct measured-size pairs (793 x 2 x 256 at 48 kHz by default) under root."""
    (root / "pred").mkdir(parents=True, exist_ok=True)
    (root / "ref").mkdir(parents=True, exist_ok=True)
    jobs = [(root, i, n_directions, n_taps, fs) for i in range(count)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_write_pair, jobs))
    names = [f"subject_{i:04d}.sofa" for i in range(count)]
    return [(root / "pred" / n, root / "ref" / n) for n in names]


def pairs_csv(path: Path, pairs) -> Path:
    lines = ["prediction,target"] + [f"{p},{t}" for p, t in pairs]
    path.write_text("\n".join(lines) + "\n")
    return path


def wall(cmd: list[str], env: dict | None = None) -> float:
    """Wall time of one fresh process; fails loudly if the command fails (exit 0 or 1 only)."""
    start = time.perf_counter()
    done = subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"benchmark command failed ({done.returncode}): {' '.join(map(str, cmd))}"
            f"\n{done.stderr}"
        )
    return elapsed


def best_and_median(fn, repeats: int) -> tuple[float, float]:
    times = [fn() for _ in range(repeats)]
    return min(times), statistics.median(times)


def interleaved_runs(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each command, ``repeats`` rounds, the commands run in turn within a round
    so that load affects all alike; entry i of every list is from round i."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(repeats):
        for key, cmd in commands.items():
            times[key].append(wall(cmd))
    return times


def interleaved(commands: dict[str, list[str]], repeats: int) -> dict[str, tuple[float, float]]:
    """(best, median) wall time of each command over :func:`interleaved_runs`."""
    runs = interleaved_runs(commands, repeats)
    return {k: (min(v), statistics.median(v)) for k, v in runs.items()}


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, KiB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def peak_rss(cmd: list[str], interval: float = 0.02) -> tuple[float, int]:
    """(wall seconds, peak summed RSS in MiB of the process tree) of one run of ``cmd``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kib(proc.pid))
            time.sleep(interval)

    start = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(
            f"benchmark command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{err}"
        )
    return elapsed, peak // 1024


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Rows of (what, measured, target, verdict) as a plain aligned table on stdout."""
    head = ("measure", "value", "target", "")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(4)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()
