"""What one ``score`` run reads, checks and writes: handed explicitly by the command to the
pair path (:mod:`.score_pair`) and the batch path (:mod:`.score_batch`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
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

    @classmethod
    def of(cls, given: Mapping[str, Any], **computed: Any) -> ScoreRun:
        """The run of the command parameters ``given`` (by name, the command's ``locals()`` on
        entry), with the values the command worked out (``options``, ``fmt`` ...) in
        ``computed``: each field takes the computed value, else the parameter of its name."""
        return cls(
            **{
                f.name: computed[f.name] if f.name in computed else given[f.name]
                for f in fields(cls)
            }
        )
