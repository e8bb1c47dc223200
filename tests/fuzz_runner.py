"""Run fuzz cases of ``test_fuzz.py`` one after the other in this process, through the CLI.

Usage: ``python tests/fuzz_runner.py CASES.json START WORKDIR``. Each case (a dict with ``id`` and
``argv``) is run with :class:`typer.testing.CliRunner` on :data:`hrtfeval.cli.app`, so the import
of torch is paid once for all cases. On the original stdout this writes one JSON line
``{"start": id}`` before a case and one result line after it; the parent kills this process
when a case runs too long (a hang cannot be interrupted in-process) or sees it die (a crash in
a C library), records that case, and starts a new runner at the next one.

The address space is limited (``HRTFEVAL_FUZZ_MEMORY_LIMIT`` bytes, default 4 GiB) so that a
file that asks for an enormous allocation fails here with an error instead of taking the
machine's memory. What a case writes to the file descriptors 1 and 2 below Python (HDF5
diagnostics, C libraries) is captured in ``WORKDIR/fd/<index>.out|.err`` and reported too.
"""

from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import resource
import sys
import time
import traceback
import warnings
from pathlib import Path

HRTFEVAL_DIR = os.sep + "hrtfeval" + os.sep


def _frames(tb) -> list[str]:
    return [f"{f.filename}:{f.lineno}:{f.name}" for f in traceback.extract_tb(tb)]


def _location(frames: list[str]) -> str | None:
    """The innermost frame inside the hrtfeval package (where the bug is to be fixed)."""
    for frame in reversed(frames):
        path = frame.split(":", 1)[0]
        if HRTFEVAL_DIR in path and os.sep + "tests" + os.sep not in path:
            return frame[frame.index(HRTFEVAL_DIR) + 1 :]
    return None


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text())
    start = int(sys.argv[2])
    workdir = Path(sys.argv[3])
    (workdir / "fd").mkdir(parents=True, exist_ok=True)

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    libc = ctypes.CDLL(None)

    # torch before the memory limit: importing it maps a lot of address space
    import torch  # noqa: F401
    from typer.testing import CliRunner

    from hrtfeval.cli import app

    limit = int(os.environ.get("HRTFEVAL_FUZZ_MEMORY_LIMIT", str(4 << 30)))
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    faulthandler.enable()  # a crash prints the Python stack on fd 2 (the case's capture file)
    runner = CliRunner()
    saved = os.dup(1), os.dup(2)

    for index in range(start, len(cases)):
        case = cases[index]
        proto.write(json.dumps({"start": case["id"], "index": index}) + "\n")
        out_path = workdir / "fd" / f"{index}.out"
        err_path = workdir / "fd" / f"{index}.err"
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with open(out_path, "wb") as fd_out, open(err_path, "wb") as fd_err:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(fd_out.fileno(), 1)
            os.dup2(fd_err.fileno(), 2)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("default")  # as in a fresh process
                    t0 = time.monotonic()
                    result = runner.invoke(app, case["argv"])
                    elapsed = time.monotonic() - t0
            finally:
                libc.fflush(None)
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
        exc = result.exception
        record = {
            "id": case["id"],
            "index": index,
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "fd_stdout": out_path.read_bytes().decode("utf-8", "replace"),
            "fd_stderr": err_path.read_bytes().decode("utf-8", "replace"),
            "elapsed_s": elapsed,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "maxrss_before_kb": rss_before,
            "exception": None,
        }
        if exc is not None and not isinstance(exc, SystemExit):
            frames = _frames(result.exc_info[2]) if result.exc_info else []
            lines = traceback.format_exception_only(type(exc), exc)
            record["exception"] = {
                "type": type(exc).__name__,
                "last_line": lines[-1].strip() if lines else repr(exc),
                "frames": frames,
                "location": _location(frames),
                "innermost": frames[-1] if frames else None,
            }
        proto.write(json.dumps(record) + "\n")
    proto.close()


if __name__ == "__main__":
    main()
