"""Checks on an aligned pair before it is scored: FFT length, working memory, silent ears."""

from __future__ import annotations

import numpy as np

from .constants import INTERAURAL
from .errors import HrtfevalError, HrtfevalWarning
from .model import IR, format_directions
from .options import ScoreOptions
from .pair_metrics import _pair_label


def check_n_fft(pred, ref, options: ScoreOptions) -> None:
    """``--n-fft`` with two sets of spectra is a usage error: it sets the FFT length of impulse
    responses, and spectra are scored at the bins they hold (it would be silently ignored)."""
    if options.n_fft is not None and pred.domain != IR and ref.domain != IR:
        raise HrtfevalError(
            f"--n-fft {options.n_fft} cannot apply: both files hold spectra "
            f"({pred.domain}, {ref.domain}), not impulse responses, and are scored at their "
            "own frequency bins; leave --n-fft out",
            _pair_label(pred, ref),
        )


def check_pair_memory(aligned, options: ScoreOptions) -> None:
    """Raise HrtfevalError when the aligned pair's working-memory estimate (data and spectra at
    the scored FFT length, :func:`hrtfeval.memory.set_bytes`) exceeds ``options.max_memory``."""
    from .memory import check_size, set_bytes

    p, r = aligned.prediction, aligned.reference
    need = sum(set_bytes(s.data.shape, s.domain, options.n_fft) for s in (p, r))
    n_fft = f" at n_fft {options.n_fft}" if options.n_fft else ""
    check_size(
        need,
        options.memory_limit,
        f"scoring {p.n_directions} x 2 x {p.n_samples} against {r.n_directions} x 2 x "
        f"{r.n_samples}{n_fft}",
        _pair_label(p, r),
    )


def _silent_text(hrtf, mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    verb = "has" if rows.size == 1 else "have"
    return (
        f"{rows.size} of its {mask.size} scored directions {verb} a silent ear (all zeros): "
        + format_directions(hrtf.positions, rows)
    )


def check_silent(aligned, options: ScoreOptions) -> None:
    """Raise HrtfevalError when the ITD or ILD is asked for and a file of the pair has silent
    directions among the scored ones: the cues are undefined there."""
    interaural = [m for m in options.metrics if m in INTERAURAL]
    if not interaural:
        return
    for hrtf in (aligned.prediction, aligned.reference):
        mask = hrtf.silent_mask()
        if mask.any():
            asked = (
                f"--preset {options.preset}"
                if options.preset
                else "--metric " + "/".join(interaural)
            )
            raise HrtfevalError(
                f"{_silent_text(hrtf, mask)}; the ITD and ILD ({asked}) are undefined there: "
                "pass --exclude-silent to score the other directions",
                hrtf.path,
            )


def apply_silent_policy(aligned, options: ScoreOptions):
    """The pair with its silent directions handled as ``options`` say.

    A silent direction has an ear whose data are all zeros (:attr:`HRTFSet.silent`). With
    ``exclude_silent`` the directions silent in either file are left out (counts per file in
    ``silent_excluded`` and a note); at least one must remain. Otherwise the ITD and ILD are
    an error (:func:`check_silent`) and spectral metrics score them, with one
    :class:`~hrtfeval.errors.HrtfevalWarning` per file naming them.
    """
    import warnings
    from dataclasses import replace

    from .align import _take

    p, r = aligned.prediction, aligned.reference
    sp, sr = p.silent_mask(), r.silent_mask()
    if options.exclude_silent:
        counts = {"prediction": int(sp.sum()), "reference": int(sr.sum())}
        drop = sp | sr
        if not drop.any():
            return replace(aligned, silent_excluded=counts)
        keep = np.flatnonzero(~drop)
        if keep.size == 0:
            raise HrtfevalError(
                f"every one of the {drop.size} matched directions has a silent ear (all zeros) in "
                f"{p.path} or {r.path}: nothing is left to score with --exclude-silent"
            )
        notes = list(aligned.notes)
        for hrtf, mask in ((p, sp), (r, sr)):
            if mask.any():
                notes.append(
                    f"{hrtf.path}: {_silent_text(hrtf, mask)}; left out (--exclude-silent)"
                )
        return replace(
            aligned,
            prediction=_take(p, keep),
            reference=_take(r, keep),
            notes=notes,
            silent_excluded=counts,
        )
    check_silent(aligned, options)
    for hrtf, mask in ((p, sp), (r, sr)):
        if mask.any():
            warnings.warn(
                HrtfevalWarning(
                    f"{_silent_text(hrtf, mask)}; spectral metrics score them as they are "
                    "(pass --exclude-silent to leave them out)",
                    hrtf.path,
                ),
                stacklevel=2,
            )
    return aligned
