"""Stacked scoring (the CUDA path): aligned pairs of one shape, domain and rate scored as one
batch; every row goes through the single-pair assembly (``scoring.score_values``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .jobs import PairResult, error_text
from .pairing import Pair


def stack_key(aligned) -> tuple:
    """Pairs with equal keys can be stacked: same shapes, dtypes, domains, rates and bins."""

    def facts(s):
        freqs = None if s.frequencies is None else s.frequencies.tobytes()
        return (s.data.shape, s.data.dtype.str, s.domain, s.sampling_rate, freqs)

    return facts(aligned.prediction) + facts(aligned.reference)


def score_group(group: list[tuple[Pair, Any]], options, device) -> Iterator[PairResult]:
    """Score aligned pairs of one :func:`stack_key` as one stacked batch on ``device``.

    If the stacked computation fails, every pair is scored on its own so that the error is
    reported for the pair that causes it.
    """
    if not group:
        return
    from ..scoring import score_aligned, score_values, spectral_values

    def one_by_one():
        for pair, aligned in group:
            try:
                yield PairResult(pair, score=score_aligned(aligned, options, device).as_dict())
            except Exception as exc:  # noqa: BLE001
                yield PairResult(pair, error=error_text(exc))

    if options.localisation_only:  # nothing to stack: the model runs on each pair's own sets
        yield from one_by_one()
        return
    try:
        pred_t, ref_t = stacked_tensors([a for _, a in group], options, device)
        values = spectral_values(pred_t, ref_t, options)
    except Exception:  # noqa: BLE001 - fall back to one by one, which names the failing pair
        yield from one_by_one()
        return
    for b, (pair, aligned) in enumerate(group):
        try:
            row = {m: v[b] for m, v in values.items()}
            score = score_values(aligned, options, device, pred_t, ref_t, row, stacked=True)
            yield PairResult(pair, score=score.as_dict())
        except Exception as exc:  # noqa: BLE001
            yield PairResult(pair, error=error_text(exc))


def stacked_tensors(aligned: list, options, device):
    """:class:`~hrtfeval.represent.SetTensors` of the predictions and the references of
    ``aligned`` (equal :func:`stack_key`), stacked on a leading axis: ``(B, M, 2, N)``."""
    import numpy as np

    from ..represent import SetTensors

    def stacked(sets):
        first = sets[0]
        return SetTensors(
            np.stack([s.data for s in sets]),
            first.domain,
            first.sampling_rate,
            first.frequencies,
            device,
            options.n_fft,
            first.path,
        )

    return (stacked([a.prediction for a in aligned]), stacked([a.reference for a in aligned]))
