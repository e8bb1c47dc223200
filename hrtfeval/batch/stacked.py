"""Stacked scoring (the CUDA path): consecutive aligned pairs of one shape, domain and rate are
scored as one batch; every row goes through the single-pair assembly (``scoring.score_values``),
so the numbers are those of pair-by-pair scoring.

The pairs are read and aligned by :func:`hrtfeval.batch.jobs.load_job` (in the workers, or in this
process), exactly as on the pair-by-pair path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .jobs import Outcome, PairResult, guarded, score_aligned_dict
from .pairing import Pair

if TYPE_CHECKING:
    from ..align import AlignedPair
    from ..represent import SetTensors
    from ..scoring import ScoreOptions


def stack_key(aligned: AlignedPair) -> tuple:
    """Pairs with equal keys can be stacked: same shapes, dtypes, domains, rates and bins."""

    def facts(s: Any) -> tuple:
        freqs = None if s.frequencies is None else s.frequencies.tobytes()
        return (s.data.shape, s.data.dtype.str, s.domain, s.sampling_rate, freqs)

    return facts(aligned.prediction) + facts(aligned.reference)


def score_stacked(
    pairs: list[Pair],
    loaded: Iterable[Outcome],
    options: ScoreOptions,
    device: Any,
    batch_size: int,
) -> Iterator[PairResult]:
    """Score ``pairs`` from their :func:`~hrtfeval.batch.jobs.load_job` outcomes (in order), in
    groups of consecutive pairs of one :func:`stack_key`, at most ``batch_size`` a group; a pair
    that failed to load is an error where it stands. One :class:`PairResult` per pair, in order.
    """
    group: list[tuple[Pair, Any]] = []
    for pair, outcome in zip(pairs, loaded):
        status, aligned = outcome
        if status != "ok":
            yield from score_group(group, options, device)
            group = []
            yield PairResult.of(pair, outcome)
            continue
        if group and (len(group) >= batch_size or stack_key(group[0][1]) != stack_key(aligned)):
            yield from score_group(group, options, device)
            group = []
        group.append((pair, aligned))
    yield from score_group(group, options, device)


def score_group(
    group: list[tuple[Pair, Any]], options: ScoreOptions, device: Any
) -> Iterator[PairResult]:
    """Score aligned pairs of one :func:`stack_key` as one stacked batch on ``device``.

    If the stacked computation fails, every pair is scored on its own so that the error is
    reported for the pair that causes it.
    """
    if not group:
        return
    from ..scoring import spectral_values

    def one_by_one() -> Iterator[PairResult]:
        for pair, aligned in group:
            yield PairResult.of(pair, guarded(score_aligned_dict, aligned, options, device))

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
        yield PairResult.of(
            pair, guarded(_row_score, aligned, options, device, pred_t, ref_t, values, b)
        )


def _row_score(
    aligned: AlignedPair,
    options: ScoreOptions,
    device: Any,
    pred_t: SetTensors,
    ref_t: SetTensors,
    values: dict[str, Any],
    b: int,
) -> dict[str, Any]:
    """Row ``b`` of a stacked batch (the per-direction ``values`` of the whole stack) -> that
    pair's ``PairScore.as_dict()``, assembled as for a single pair."""
    from ..scoring import score_values

    row = {m: v[b] for m, v in values.items()}
    score = score_values(
        aligned, options, device, pred_t, ref_t, row, stacked=True, with_definitions=False
    )
    return score.as_dict()


def stacked_tensors(
    aligned: list[AlignedPair], options: ScoreOptions, device: Any
) -> tuple[SetTensors, SetTensors]:
    """:class:`~hrtfeval.represent.SetTensors` of the predictions and the references of
    ``aligned`` (equal :func:`stack_key`), stacked on a leading axis: ``(B, M, 2, N)``."""
    import numpy as np

    from ..represent import SetTensors

    def stacked(sets: list[Any]) -> SetTensors:
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
