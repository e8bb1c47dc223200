"""The ``spec`` of a document as typed data: how a pair or a batch was scored.

:class:`Spec` is a typed view over the stored mapping: its accessors read the fields that the
renderers and the gates need (preset, thresholds as :class:`~.verdicts.Threshold`, definitions,
metrics, directions, band, reduction, weighting, device, notes, shard...), and :meth:`Spec.
to_dict` gives back the very mapping it was made from, so the JSON keeps its keys and order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .verdicts import Threshold, thresholds_of

#: The two files of a single-pair spec (and of a batch entry's spec).
SIDES = ("prediction", "reference")


@dataclass(frozen=True)
class Spec:
    """A document's ``spec`` (single-pair, batch entry or batch), read through typed accessors.

    ``data`` is the stored mapping itself (not a copy): :meth:`to_dict` returns it unchanged.
    """

    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Spec:
        return cls({} if data is None else data)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def get(self, key: str, default: Any = None) -> Any:
        """A field the accessors do not name (``None`` when absent)."""
        return self.data.get(key, default)

    # -- what was scored and how -------------------------------------------------------------
    @property
    def metrics(self) -> list[str]:
        return list(self.data.get("metrics") or [])

    @property
    def preset(self) -> str | None:
        return self.data.get("preset")

    @property
    def thresholds(self) -> dict[str, Threshold]:
        """The checks by metric (``REGION.METRIC`` for a region check)."""
        return thresholds_of(self.data)

    @property
    def definitions(self) -> dict[str, str]:
        return dict(self.data.get("definitions") or {})

    @property
    def band_hz(self) -> tuple[float, float]:
        lo, hi = self.data["band_hz"]
        return lo, hi

    @property
    def reduction(self) -> str:
        return self.data["reduction"]

    @property
    def weighting(self) -> Any:
        """``"area"`` (batch), the resolved weighting block (a pair) or None."""
        return self.data.get("weighting")

    @property
    def localisation(self) -> dict[str, Any] | None:
        return self.data.get("localisation")

    @property
    def notes(self) -> list[str]:
        return list(self.data.get("notes") or [])

    # -- the pair's facts -------------------------------------------------------------------
    @property
    def directions(self) -> dict[str, Any]:
        return self.data.get("directions") or {}

    @property
    def matched_fraction(self) -> float | None:
        """``directions.matched_fraction`` (matched / reference directions), or None."""
        d = self.directions
        if d.get("matched_fraction") is not None:
            return float(d["matched_fraction"])
        if d.get("reference") and d.get("matched") is not None:  # None: each on its own grid
            return d["matched"] / d["reference"]
        return None

    def file(self, side: str) -> dict[str, Any]:
        """The facts of the ``prediction`` or ``reference`` file (convention, delay...)."""
        return self.data[side]

    # -- the run ----------------------------------------------------------------------------
    @property
    def device(self) -> str | None:
        return self.data.get("device")

    @property
    def shard(self) -> str | None:
        return self.data.get("shard")

    @property
    def pairs_total(self) -> int | None:
        return self.data.get("pairs_total")

    @property
    def missing_shards(self) -> list[str]:
        return list(self.data.get("missing_shards") or [])

    @property
    def ignore_unmatched(self) -> bool:
        return bool(self.data.get("ignore_unmatched"))

    @property
    def source(self) -> dict[str, str]:
        return self.data.get("source") or {}
