"""PyTorch side of the datasets: ``collate_samples`` for ``DataLoader`` and ``hrtf_loss``.

``hrtf_loss`` is :func:`hrtfeval.loss.hrtf_loss` itself (the same function object as
``hrtfeval.hrtf_loss``), so a model trained with it is scored by ``hrtfeval score`` with the
same numbers. Importing this module imports torch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..loss import hrtf_loss

__all__ = ["collate_samples", "hrtf_loss"]


def collate_samples(samples: Sequence[Any]) -> Any:
    """Collate dataset samples into a batch (``DataLoader(..., collate_fn=collate_samples)``).

    * dicts are collated key by key (every sample must have the same keys);
    * arrays and tensors of equal shape are stacked on a new first axis into a float32 tensor
      (complex ones keep their complex dtype, bool stays bool);
    * numbers (int, float, bool, numpy scalars) become one tensor (int64, float32, bool);
    * strings, None and anything else become a list, one item per sample (so do numbers mixed
      with None).

    Raises
    ------
    ValueError
        No samples, dicts with different keys, or arrays of different shapes (the message names
        the key and the shapes; index by position or select equal positions to get equal
        shapes).
    """
    if len(samples) == 0:
        raise ValueError("collate_samples needs at least one sample; got an empty batch")
    return _collate(list(samples), "batch")


def _collate(items: list[Any], where: str) -> Any:
    first = items[0]
    if isinstance(first, dict):
        keys = list(first)
        for item in items[1:]:
            if not isinstance(item, dict) or list(item) != keys:
                got = list(item) if isinstance(item, dict) else type(item).__name__
                raise ValueError(f"{where}: samples have different keys: {keys} and {got}")
        return {k: _collate([item[k] for item in items], f"{where}[{k!r}]") for k in keys}
    if all(isinstance(i, (np.ndarray, torch.Tensor)) for i in items):
        tensors = [torch.as_tensor(i) for i in items]
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) > 1:
            raise ValueError(
                f"{where}: cannot stack arrays of different shapes {sorted(shapes)}; index by "
                "position or select the same positions for every subject"
            )
        stacked = torch.stack(tensors)
        if stacked.is_complex() or stacked.dtype == torch.bool:
            return stacked
        return stacked.to(torch.float32)
    if all(isinstance(i, (numbers.Number, np.number, np.bool_)) for i in items):
        if all(isinstance(i, (bool, np.bool_)) for i in items):
            return torch.tensor([bool(i) for i in items], dtype=torch.bool)
        if all(isinstance(i, (numbers.Integral, np.integer)) for i in items):
            return torch.tensor([int(i) for i in items], dtype=torch.int64)
        if all(isinstance(i, (numbers.Real, np.floating, np.integer)) for i in items):
            return torch.tensor([float(i) for i in items], dtype=torch.float32)
        return torch.tensor([complex(i) for i in items], dtype=torch.complex64)
    return list(items)
