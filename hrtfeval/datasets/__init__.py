"""HRTF databases as training datasets: ``HUTUBS``, ``SONICOM``, ``ARI``, ``SOFAFolder``.

A dataset gives samples ``{"inputs": {name: array}, "target": {name: array}, "meta": {...}}``
whose arrays are described by :class:`HRTFSpec`; split by subject (train / validation / test).
:mod:`hrtfeval.datasets.torch` has ``collate_samples`` (for ``torch.utils.data.DataLoader``) and
``hrtf_loss``. Importing this package does not import torch.
"""

from .base import HRTFDataset
from .databases import ARI, HUTUBS, SONICOM
from .export import save_prediction
from .folder import SOFAFolder
from .spec import HRTFSpec
from .splits import split_subjects

__all__ = [
    "ARI",
    "HRTFDataset",
    "HRTFSpec",
    "HUTUBS",
    "SOFAFolder",
    "SONICOM",
    "save_prediction",
    "split_subjects",
]
