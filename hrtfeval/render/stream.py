"""Streamed batch output: JSON lines (one object per pair, then the summary) and the progress
bar on stderr."""

from __future__ import annotations

import sys
from typing import Any

from .batch import jsonl_line


class JsonlWriter:
    """``--format jsonl`` on stdout: each pair's line is written (and flushed) as soon as it is
    scored, the summary line by :meth:`finish`. (A ``--output`` file gets the whole document at
    the end of the run, with the other outputs: see :mod:`hrtfeval.outputs`.)"""

    def __init__(self, stream):
        self._fh = stream

    def write(self, obj: dict[str, Any]) -> None:
        self._fh.write(jsonl_line(obj))
        self._fh.flush()

    def finish(self, summary: dict[str, Any]) -> None:
        self.write(summary)


# ----------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Pairs done / total, rate and ETA on stderr; draws nothing unless ``enabled`` (a TTY)."""

    def __init__(self, enabled: bool, stream=None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._progress: Any = None  # a rich Progress while drawing
        self._task: Any = None

    def start(self, total: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        class RateColumn(TextColumn):
            def render(self, task):
                from rich.text import Text

                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:.1f} pairs/s")

        self._progress = RichProgress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            RateColumn(""),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("scoring", total=total)

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
