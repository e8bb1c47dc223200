"""The memory limit of one scored pair: ``--max-memory``, its default and the size estimates.

A SOFA file of a few kB can declare a compressed ``Data.IR`` of 61 GiB, and a ``.pt`` file an
expanded (stride-0) tensor of any size; a huge ``--n-fft`` makes spectra of any size from a small
set. The readers check each array's declared size before allocating it, and scoring checks the
pair's working-memory estimate before computing, so such inputs fail with one line instead of
running the machine out of memory.
"""

from __future__ import annotations

import math
import os
import re

from .errors import HrtfevalError

#: Share of the machine's memory (physical RAM, or a smaller cgroup limit) one pair may use by
#: default.
DEFAULT_MEMORY_SHARE = 0.5
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def parse_size(text: str | int, option: str = "--max-memory") -> int:
    """``"8GiB"``, ``"8G"`` (10**9), ``"512MiB"``, ``"1.5g"`` or a number of bytes -> bytes.

    Raises
    ------
    HrtfevalError
        Not a positive size.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = float(text)
    else:
        found = re.fullmatch(
            r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text)
        )
        unit = found.group(2).lower() if found else ""
        if not found or unit not in _UNITS:
            raise HrtfevalError(
                f"{option} takes a size such as 8GiB, 8G, 500MiB or a number of bytes; got {text!r}"
            )
        value = float(found.group(1)) * _UNITS[unit]
    if not math.isfinite(value) or value < 1:
        raise HrtfevalError(f"{option} must be a positive size; got {text!r}")
    return int(value)


def machine_memory() -> int | None:
    """Bytes of memory this process can use: physical RAM, or a smaller cgroup limit or
    address-space limit (``ulimit -v``)."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        pass
    for path in _CGROUP_FILES:
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = int(text)
            if limit > 0 and (total is None or limit < total):
                total = limit
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        soft = -1
    if soft not in (-1, getattr(resource, "RLIM_INFINITY", -1)) and soft > 0:
        total = soft if total is None else min(total, soft)
    return total if total and total > 0 else None


def default_limit() -> int:
    """The default ``--max-memory``: :data:`DEFAULT_MEMORY_SHARE` of :func:`machine_memory`
    (8 GiB when the machine's memory cannot be read)."""
    total = machine_memory()
    return int(total * DEFAULT_MEMORY_SHARE) if total else 8 * 1024**3


def format_size(n_bytes: float) -> str:
    """Bytes as a short binary size (``61 GiB``)."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} TiB"  # pragma: no cover


def check_size(n_bytes: float, limit: int, what: str, file: str | None = None) -> None:
    """Raise HrtfevalError when ``n_bytes`` (an estimate) exceeds ``limit``."""
    if n_bytes > limit:
        raise HrtfevalError(
            f"{what} needs about {format_size(n_bytes)}, above the memory limit of "
            f"{format_size(limit)}; raise --max-memory if the machine has the memory",
            file=file,
        )


#: Spectrum-sized arrays one set needs while scored: its spectrum and the temporaries of the
#: spectral metrics (magnitudes, dB values, differences) -- an estimate, rounded up.
SPECTRA_PER_SET = 3


def set_bytes(
    shape: tuple[int, ...], domain: str, n_fft: int | None = None, itemsize: int = 8
) -> int:
    """Estimated bytes to read one set of ``shape`` (M, R, N) and score it.

    The values as stored (``itemsize`` bytes each) and as float64, plus
    :data:`SPECTRA_PER_SET` complex128 spectra: of length ``n_fft // 2 + 1`` (``n_fft`` default
    N) for impulse responses (``domain="ir"``), of N bins otherwise (for ``"tf"`` the stored
    values are one of the two parts, real or imaginary).
    """
    dims = [max(int(d), 0) for d in shape]
    if len(dims) >= 3:
        rows, n = math.prod(dims[:-1]), dims[-1]
    else:
        rows, n = 1, math.prod(dims)
    stored = rows * n * (itemsize + (0 if itemsize == 8 else 8))
    if domain == "ir":
        bins = (int(n_fft) if n_fft else n) // 2 + 1
        stored_total = stored
    else:
        bins = n
        stored_total = stored + rows * n * 16  # the complex (or float64) data itself
    return int(stored_total + SPECTRA_PER_SET * rows * bins * 16)


class PairReader:
    """:func:`hrtfeval.io.read_hrtf` for the files of one pair, in turn: each file may use the
    memory (``max_memory`` bytes, default :func:`default_limit`) that the files before it left.

    Picklable and cheap to build (no numpy): the CLI makes one before it imports anything heavy
    and hands it to the child process that reads (:class:`hrtfeval.procs.ChildRead`).
    """

    def __init__(
        self, apply_delay: bool = True, max_memory: int | None = None, n_fft: int | None = None
    ):
        self.apply_delay, self.max_memory, self.n_fft = apply_delay, max_memory, n_fft
        self.used = 0

    def prepare(self) -> None:
        """Import the SOFA readers (numpy, h5py): a reading child does it before its time limit
        starts, so that ``--timeout`` bounds reading files, not importing libraries."""
        from .io import _h5sofa  # noqa: F401

    def __call__(self, path):
        from .io import read_hrtf

        limit = default_limit() if self.max_memory is None else self.max_memory
        hrtf = read_hrtf(
            path,
            apply_delay=self.apply_delay,
            max_memory=limit,
            n_fft=self.n_fft,
            reserved=self.used,
        )
        self.used += set_bytes(hrtf.data.shape, hrtf.domain, self.n_fft)
        return hrtf
