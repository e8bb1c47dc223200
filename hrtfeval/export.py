"""``--per-direction FILE``: every matched direction's values as CSV or JSON lines.

One row per direction (and, in a batch, per pair): the pair's names (batch), the reference's
azimuth, elevation (degrees) and distance (metre), then per metric the per-ear values
(``lsd_left_db``, ``lsd_right_db``, ``rmse_left`` ...) or the interaural value (``itd_us``,
``ild_db``). ``rmse``/``mae`` are in the pair's domain, named in ``rmse_domain`` (time:
sample units, magnitude: linear |H|, db: dB). The values are those the scores reduce
(:func:`hrtfeval.scoring.per_direction_errors`), at full float precision. The file is written
with the run's other outputs, all or nothing, when the run is done (:mod:`hrtfeval.outputs`).
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any

from .errors import HrtfevalError
from .metrics import Field, get

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: The unit suffix of each metric's columns (a live view of the registry, :mod:`hrtfeval.metrics`).
UNIT_SUFFIX = Field("suffix")


def export_format(path: str | os.PathLike) -> str:
    """``csv`` or ``jsonl`` from the file name; anything else is an error."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in FORMATS:
        raise HrtfevalError(
            "--per-direction writes .csv or .jsonl (JSON lines) files; "
            f"got {ext or 'no extension'!r}",
            str(path),
        )
    return FORMATS[ext]


def columns(metrics: tuple[str, ...], batch: bool) -> list[str]:
    cols = (["prediction", "target"] if batch else []) + [
        "azimuth_deg",
        "elevation_deg",
        "distance_m",
    ]
    for m in metrics:
        cols += _metric_columns(m)
    if _has_domain(metrics):
        cols.append("rmse_domain")
    return cols


def _metric_columns(metric: str) -> list[str]:
    """``[itd_us]`` (interaural) or ``[lsd_left_db, lsd_right_db]`` (per ear)."""
    entry = get(metric)
    if entry.per_ear:
        return [f"{metric}_left{entry.suffix}", f"{metric}_right{entry.suffix}"]
    return [f"{metric}{entry.suffix}"]


def _has_domain(metrics: tuple[str, ...]) -> bool:
    """Some metric is computed on the rmse/mae domain (the ``rmse_domain`` column)."""
    return any(get(m).kind == "time-or-spectral" for m in metrics)


def per_direction_block(values: dict[str, Any], positions, domain: str | None) -> dict[str, Any]:
    """What a pair carries to the writer: positions and per-metric values as plain lists."""
    import numpy as np

    pos = None if positions is None else np.asarray(positions, dtype=np.float64).tolist()
    return {
        "positions": pos,
        "values": {m: v.detach().cpu().double().numpy().tolist() for m, v in values.items()},
        "domain": domain,
    }


def rows(block: dict[str, Any], metrics: tuple[str, ...], names: tuple[str, str] | None):
    """The rows (dicts in :func:`columns` order) of one pair's block."""
    n = len(next(iter(block["values"].values())))
    pos = block["positions"]
    for i in range(n):
        row: dict[str, Any] = {}
        if names is not None:
            row["prediction"], row["target"] = names
        p = pos[i] if pos is not None else [None, None, None]
        row["azimuth_deg"], row["elevation_deg"] = p[0], p[1]
        row["distance_m"] = p[2] if len(p) > 2 else None
        for m in metrics:
            v = block["values"][m][i]
            keys = _metric_columns(m)
            row.update(zip(keys, v) if len(keys) == 2 else [(keys[0], v)])
        if _has_domain(metrics):
            row["rmse_domain"] = block["domain"]
        yield row


class PerDirectionWriter:
    """Collects the rows of one run; :meth:`finish` returns the file's text, which the caller
    hands to its :class:`~hrtfeval.outputs.OutputPlan` (written all-or-nothing with the other
    outputs, so a failed run leaves no file)."""

    def __init__(self, path: str | os.PathLike, metrics: tuple[str, ...], batch: bool):
        import io

        self.path = str(path)
        self.fmt = export_format(path)
        self.metrics = tuple(metrics)
        self.batch = batch
        self.count = 0
        self._fh = io.StringIO(newline="")
        self._csv = None
        if self.fmt == "csv":
            self._csv = csv.writer(self._fh, lineterminator="\n")
            self._csv.writerow(columns(self.metrics, batch))

    def write(self, block: dict[str, Any], names: tuple[str, str] | None = None) -> None:
        for row in rows(block, self.metrics, names if self.batch else None):
            if self._csv is not None:
                self._csv.writerow(
                    [
                        "" if v is None else (repr(v) if isinstance(v, float) else v)
                        for v in row.values()
                    ]
                )
            else:
                self._fh.write(json.dumps(row, allow_nan=False) + "\n")
            self.count += 1

    def finish(self) -> str:
        """The whole file's text."""
        return self._fh.getvalue()
