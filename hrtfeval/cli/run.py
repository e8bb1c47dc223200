"""What one ``score`` run reads, checks and writes: handed explicitly by the command to the
pair path (:mod:`.score_pair`) and the batch path (:mod:`.score_batch`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class ScoreRun:
    """The inputs, checks and outputs of one ``score`` run, as given on the command line.

    ``options`` are the validated ``ScoreOptions``; ``base`` the loaded ``--baseline`` (None
    without one) and ``limits`` the ``--max-regression`` limits; ``timeout`` the seconds one
    pair may take to read (in a batch: to read and score).
    """

    prediction: Optional[Path]
    reference: Optional[Path]
    options: Any
    device: str
    fmt: str
    output: Optional[Path]
    junit: Optional[Path]
    plot_dir: Optional[Path]
    per_direction: Optional[Path]
    quiet: bool
    base: Any
    baseline: Optional[Path]
    limits: dict[str, float]
    exclude: Optional[Path]
    timeout: float
