"""The metric registry: one :class:`Metric` entry per metric, and every fact about it.

Adding a metric is one entry in :data:`REGISTRY` plus its per-direction function (in the module
that holds its maths): its name, kind, unit, sign, plot labels, per-direction-file column suffix
and the definition stated in the output's ``spec`` are all read from here
(:mod:`hrtfeval.constants` derives the name tuples from it). Importing this module is light:
the per-direction functions are named by ``"module:function"`` and imported when first called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: What a metric compares, which decides how it is computed, reduced and written:
#: ``spectral`` per direction and ear over the band; ``time-or-spectral`` per direction and ear
#: on the rmse/mae domain (``--domain``); ``interaural`` one value per direction;
#: ``localisation`` the localisation model on each set's own grid.
KINDS = ("spectral", "time-or-spectral", "interaural", "localisation")


@dataclass(frozen=True)
class DefinitionContext:
    """What a definition's text is built from (:func:`hrtfeval.spec.definitions`).

    Attributes
    ----------
    options : ScoreOptions
        The run's options (``itd_method`` ...).
    domain : str
        What rmse/mae compare: ``time``, ``magnitude`` or ``db``.
    band : str
        The scored band in words, with its bin count when known.
    reduction : str
        The reduction over directions in words.
    """

    options: Any
    domain: str
    band: str
    reduction: str


@dataclass(frozen=True)
class Metric:
    """Everything the layers need to know about one metric.

    Attributes
    ----------
    name : str
        The metric's name on the command line and in every output.
    kind : str
        One of :data:`KINDS`.
    unit : str or callable
        The unit of its values, or a function of the rmse/mae domain giving it.
    signed : bool
        The sign carries meaning (a bias): checks compare the absolute value.
    definition : str or callable
        Its definition in the output's ``spec``, or a function of a
        :class:`DefinitionContext` giving it.
    values : str or callable or None
        The per-direction function ``f(pred, ref, metric, options)`` of two
        :class:`~hrtfeval.represent.SetTensors` (``(..., M, 2)`` per ear, ``(..., M)``
        interaural), or ``"module:function"`` naming it (imported on first call); None for the
        localisation metrics (scored by :mod:`hrtfeval.perceptual`).
    label : str or None
        Short label on plots (None: the plots' own fallback).
    title : str or None
        Name in plot titles (None: the plots' own fallback).
    suffix : str
        Unit suffix of its columns in the ``--per-direction`` file (``"_db"``).
    """

    name: str
    kind: str
    unit: str | Callable[[str], str]
    definition: str | Callable[[DefinitionContext], str]
    values: str | Callable[..., Any] | None = None
    signed: bool = False
    label: str | None = None
    title: str | None = None
    suffix: str = ""

    @property
    def per_ear(self) -> bool:
        """Values per direction and ear (``(..., M, 2)``)."""
        return self.kind in ("spectral", "time-or-spectral")

    def unit_in(self, domain: str) -> str:
        """The unit of the values when rmse/mae compare ``domain``."""
        return self.unit(domain) if callable(self.unit) else self.unit

    def define(self, context: DefinitionContext) -> str:
        """The definition's text for the output's ``spec.definitions``."""
        return self.definition(context) if callable(self.definition) else self.definition

    def per_direction(self, pred, ref, options):
        """Per-direction values of this metric from two SetTensors."""
        fn = self.values
        if fn is None:
            raise ValueError(f"{self.name} has no per-direction values")
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(importlib.import_module(module, __package__), attr)
        return fn(pred, ref, self.name, options)


# --- definition texts ----------------------------------------------------------------------


def _lsd_text(c: DefinitionContext) -> str:
    return (
        f"per direction and ear sqrt(mean_k (20log10|P_k| - 20log10|T_k|)^2 + eps) over "
        f"{c.band}, |.| floored at eps; {c.reduction}"
    )


def _on_domain(core: str) -> Callable[[DefinitionContext], str]:
    """The rmse/mae text: ``core`` on the samples or bins of the rmse/mae domain."""

    def text(c: DefinitionContext) -> str:
        what = {
            "time": "impulse response samples",
            "magnitude": f"|H_k| over {c.band}",
            "db": f"20log10|H_k| over {c.band}",
        }[c.domain]
        return f"per direction and ear {core} on {what}; {c.reduction}"

    return text


def _itd_text(c: DefinitionContext) -> str:
    method = c.options.itd_method
    return (
        f"|ITD_pred - ITD_ref| per direction ({method}: 3 kHz order-10 "
        f"Butterworth low-pass, "
        + (
            "max of |xcorr| of Hilbert envelopes"
            if method == "maxiacce"
            else "-10 dB onset of the energy envelope"
        )
        + f"), in microseconds; {c.reduction}"
    )


def _ild_text(c: DefinitionContext) -> str:
    return (
        f"|ILD_pred - ILD_ref| per direction, ILD = 20log10(rms_left) - 20log10(rms_right); "
        f"{c.reduction}"
    )


def _db_or_linear(domain: str) -> str:
    return "dB" if domain == "db" else ""


# --- the registry --------------------------------------------------------------------------

_PAIR = ".pair_metrics:"

#: Every metric ``score`` knows, by name, in the order tables and documents list them.
REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "lsd", "spectral", "dB", _lsd_text, _PAIR + "lsd_errors",
            label="LSD", title="log-spectral distance", suffix="_db",
        ),
        Metric(
            "rmse", "time-or-spectral", _db_or_linear,
            _on_domain("sqrt(mean(|p - t|^2) + eps)"), _PAIR + "rmse_mae_errors",
            label="RMSE", title="RMSE",
        ),
        Metric(
            "mae", "time-or-spectral", _db_or_linear, _on_domain("mean(|p - t|)"),
            _PAIR + "rmse_mae_errors", label="MAE", title="MAE",
        ),
        Metric(
            "itd", "interaural", "µs", _itd_text, _PAIR + "itd_errors",
            label="|ΔITD|", title="ITD error", suffix="_us",
        ),
        Metric(
            "ild", "interaural", "dB", _ild_text, _PAIR + "ild_errors",
            label="|ΔILD|", title="ILD error", suffix="_db",
        ),
        Metric(
            "qe", "localisation", "%",
            "predicted quadrant error rate (%): response probability >= 90 deg polar from the "
            "target, mean over targets (Baumgartner et al. 2014; REF = listener's template, "
            "PRED = targets); chance level about 51 %",
        ),
        Metric(
            "pe", "localisation", "deg",
            "predicted local polar RMS error (deg) over responses < 90 deg from the target, "
            "mean over targets; chance level about 50 deg",
        ),
        Metric(
            "eb", "localisation", "deg",
            "predicted elevation bias (deg): mean local response minus target polar angle, "
            "targets below 80 deg polar; positive = heard higher",
            signed=True,
        ),
    )
}  # fmt: skip


def get(name: str) -> Metric:
    """The registry's entry of ``name`` (a KeyError for an unknown name: options are checked)."""
    return REGISTRY[name]


def names(*kinds: str) -> tuple[str, ...]:
    """The registered metric names (of ``kinds``, all when none is given), in registry order."""
    return tuple(m.name for m in REGISTRY.values() if not kinds or m.kind in kinds)


def signed_names() -> tuple[str, ...]:
    """The metrics whose sign carries meaning."""
    return tuple(m.name for m in REGISTRY.values() if m.signed)


def unit(name: str, domain: str = "") -> str:
    """The unit of ``name``'s values when rmse/mae compare ``domain``."""
    return get(name).unit_in(domain)


class Field(Mapping[str, str]):
    """A live, read-only ``{name: value}`` view of one attribute of the registry's entries,
    leaving out the entries where it is empty (``Field("label")["lsd"] == "LSD"``)."""

    def __init__(self, attribute: str, *kinds: str):
        self.attribute = attribute
        self.kinds = kinds

    def _items(self) -> dict[str, str]:
        return {
            m.name: getattr(m, self.attribute)
            for m in REGISTRY.values()
            if getattr(m, self.attribute) and (not self.kinds or m.kind in self.kinds)
        }

    def __getitem__(self, key: str) -> str:
        return self._items()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"Field({self.attribute!r}): {self._items()!r}"
