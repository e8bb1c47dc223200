"""The documents hrtfeval writes and reads back: a pair entry and a batch document.

``to_dict()`` gives the JSON object in the documented key order (byte-identical JSON to the
dictionaries the scorer builds); ``from_dict()`` reads one from disk (``merge``, ``--baseline``,
``compare``, the batch picture), whether it names the reference ``reference`` or, as documents
before 13 do, only ``target``. Blocks the model does not look into (a pair's ``spec``, ``bands``,
``regions``, the ``aggregate``) stay as they are, in their place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .scores import MetricScore, PairScore, pair_names, reference_name
from .spec import Spec
from .verdicts import Threshold, exit_code, pair_passed

_NAME_KEYS = ("prediction", "reference", "target")


@dataclass
class PairEntry:
    """One pair of a batch document (or a single-pair document): its names, then either its
    ``scores`` (with ``spec``, ``passed`` and optional blocks) or the ``error`` that stopped it.

    ``blocks`` holds every other key of the entry (``spec``, ``scores``, ``passed``, ``bands``,
    ``regions``, ``regression``, ``error``...) in the order written.
    """

    prediction: str
    reference: str
    blocks: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> PairEntry:
        rest = {k: v for k, v in entry.items() if k not in _NAME_KEYS}
        return cls(entry["prediction"], reference_name(entry), rest)

    def to_dict(self) -> dict[str, Any]:
        return {**pair_names(self.prediction, self.reference), **self.blocks}

    @property
    def key(self) -> tuple[str, str]:
        """What pairs are matched by across documents (:func:`entry_key`)."""
        return (self.prediction, self.reference)

    @property
    def error(self) -> str | None:
        return self.blocks.get("error")

    @property
    def scored(self) -> bool:
        return "scores" in self.blocks

    def scores(self) -> dict[str, MetricScore]:
        """The entry's metric scores (empty for a pair that errored)."""
        return {m: MetricScore.from_dict(m, s) for m, s in self.blocks.get("scores", {}).items()}

    @property
    def passed(self) -> bool | None:
        """The pair's verdict from its checks (:func:`hrtfeval.results.pair_passed`)."""
        return pair_passed(self.blocks)

    @property
    def stated_passed(self) -> bool | None:
        """The ``passed`` the entry states (None for an entry that errored)."""
        return self.blocks.get("passed")

    @property
    def spec(self) -> Spec | None:
        """The pair's spec (a batch entry: its per-pair facts), or None."""
        spec = self.blocks.get("spec")
        return None if spec is None else Spec(spec)

    @property
    def has_regression(self) -> bool:
        """Whether the entry was compared with a baseline (its block may be null)."""
        return "regression" in self.blocks

    @property
    def regression(self) -> dict[str, dict[str, Any]] | None:
        """``{metric: {baseline, value, delta, max, passed}}``; None: not in the baseline."""
        return self.blocks.get("regression")

    @property
    def regions(self) -> dict[str, Any] | None:
        return self.blocks.get("regions")

    @property
    def bands(self) -> dict[str, Any] | None:
        return self.blocks.get("bands")

    def failed_checks(self) -> list[str]:
        """The names of the checks that failed: metrics, then ``Δmetric`` regressions."""
        out = [m for m, s in self.scores().items() if s.passed is False]
        out += [f"Δ{m}" for m, r in (self.regression or {}).items() if r["passed"] is False]
        return out


def pair_entry(doc: dict[str, Any] | PairScore | PairEntry) -> PairEntry:
    """A single-pair document (or batch entry) as a :class:`PairEntry`: read once, at the top of
    a renderer."""
    if isinstance(doc, PairEntry):
        return doc
    if isinstance(doc, PairScore):
        doc = doc.to_dict()
    return PairEntry.from_dict(doc)


@dataclass
class BatchDocument:
    """A batch document: ``spec``, ``pairs``, ``unmatched``, ``aggregate`` and the optional
    ``region_aggregate``, ``band_aggregate`` and ``regression`` blocks, then ``counts``.

    ``regression`` is ``None`` both for "no baseline" and, with :attr:`has_regression`, for a
    document whose block is null.
    """

    spec: dict[str, Any]
    pairs: list[PairEntry]
    unmatched: dict[str, list[str]] = field(
        default_factory=lambda: {"prediction": [], "target": []}
    )
    aggregate: dict[str, Any] = field(default_factory=dict)
    region_aggregate: Any = None  # regions.aggregate_regions, when pairs have regions
    band_aggregate: Any = None  # bands.aggregate_bands, when pairs have bands
    regression: dict[str, Any] | None = None
    has_regression: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BatchDocument:
        return cls(
            doc["spec"],
            [PairEntry.from_dict(e) for e in doc["pairs"]],
            doc.get("unmatched") or {"prediction": [], "target": []},
            doc.get("aggregate") or {},
            doc.get("region_aggregate"),
            doc.get("band_aggregate"),
            doc.get("regression"),
            "regression" in doc,
            doc.get("counts") or {},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "spec": self.spec,
            "pairs": [e.to_dict() for e in self.pairs],
            "unmatched": self.unmatched,
            "aggregate": self.aggregate,
        }
        if self.region_aggregate is not None:
            out["region_aggregate"] = self.region_aggregate
        if self.band_aggregate is not None:
            out["band_aggregate"] = self.band_aggregate
        if self.has_regression:
            out["regression"] = self.regression
        out["counts"] = self.counts
        return out

    @classmethod
    def of(cls, doc: dict[str, Any] | BatchDocument) -> BatchDocument:
        """``doc`` as a :class:`BatchDocument` (read once, at the top of a renderer)."""
        return doc if isinstance(doc, BatchDocument) else cls.from_dict(doc)

    @property
    def settings(self) -> Spec:
        """The batch spec through its typed accessors."""
        return Spec(self.spec)

    @property
    def thresholds(self) -> dict[str, Threshold]:
        return self.settings.thresholds

    @property
    def shard(self) -> str | None:
        return self.spec.get("shard")

    @property
    def exit_code(self) -> int:
        return exit_code(self.to_dict())
