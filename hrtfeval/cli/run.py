"""What one ``score`` run reads, checks and writes: handed explicitly by the command to the
pair path (:mod:`.score_pair`) and the batch path (:mod:`.score_batch`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ScoreRun:
    """The inputs, checks and outputs of one ``score`` run, as given on the command line.

    ``options`` are the validated ``ScoreOptions``; ``base`` the loaded ``--baseline`` (None
    without one) and ``limits`` the ``--max-regression`` limits; ``timeout`` the seconds one
    pair may take to read (in a batch: to read and score; None: no limit).
    """

    prediction: Path | None
    reference: Path | None
    options: Any
    device: str
    fmt: str
    output: Path | None
    junit: Path | None
    plot_dir: Path | None
    per_direction: Path | None
    quiet: bool
    base: Any
    baseline: Path | None
    limits: dict[str, float]
    exclude: Path | None
    timeout: float | None
