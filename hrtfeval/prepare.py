"""Reading and aligning a pair as the options say, with the checks that must pass before any
heavy computation (memory, FFT length, silent directions)."""

from __future__ import annotations

import numpy as np

from .checks import apply_silent_policy, check_n_fft, check_pair_memory
from .constants import LOCALISATION
from .errors import HrtfevalError
from .options import ScoreOptions


def load_aligned(prediction: str, target: str, options: ScoreOptions, timeout: float | None = None):
    """Read both files and align them (directions, rate, length) as ``options`` say.

    ``timeout`` (s): read the files in a child process that is stopped after that long
    (:func:`hrtfeval.procs.read_in_child`), for callers that cannot afford a hanging reader;
    None reads them here.

    The readers check each file's declared sizes against ``options.max_memory`` before
    reading (the second file within what the first left); then the aligned pair's working
    memory is checked (:func:`check_pair_memory`) and the silent directions handled
    (:func:`apply_silent_policy`), so that a pair that cannot be scored fails here, before any
    heavy computation.
    """
    from .memory import PairReader

    reader = PairReader(not options.ignore_delay, options.max_memory, options.n_fft)
    if timeout is None:
        sets = [reader(prediction), reader(target)]
    else:
        from .procs import read_in_child

        sets = read_in_child(reader, [prediction, target], timeout)
    pred, ref = sets
    return align_sets(pred, ref, options)


def align_sets(pred, ref, options: ScoreOptions):
    """Align two :class:`~hrtfeval.model.HRTFSet` as ``options`` say (nothing to match when
    only the localisation metrics are asked for: each set keeps its own grid)."""
    from .align import AlignedPair, align_pair

    if options.localisation_only:
        return AlignedPair(
            pred,
            ref,
            ref.n_directions,
            np.zeros(0, dtype=np.intp),
            0.0,
            [],
            matched=False,
            originals=(pred, ref),
        )
    aligned = align_pair(
        pred,
        ref,
        tolerance_deg=options.tolerance_deg,
        allow_missing=options.allow_missing,
        length_policy=options.length_policy,
    )
    if any(m in LOCALISATION for m in options.metrics):
        aligned.originals = (pred, ref)
    if options.allow_missing and aligned.n_reference:
        fraction = len(aligned.missing) / aligned.n_reference
        if fraction > options.max_missing:
            raise HrtfevalError(
                f"{len(aligned.missing)} of the {aligned.n_reference} reference directions "
                f"({fraction:.0%}) have no prediction, more than --max-missing "
                f"{options.max_missing:g} ({options.max_missing:.0%}) allows with --allow-missing",
                ref.path,
            )
    if options.exclude is not None:
        from .regions import apply_exclude

        aligned = apply_exclude(aligned, options.exclude, options.tolerance_deg)
    check_n_fft(pred, ref, options)
    check_pair_memory(aligned, options)
    aligned = apply_silent_policy(aligned, options)
    return aligned
