"""Argument validators shared by the scoring core and its callers: an option among a fixed set
of names (the one normaliser of option values), a positive tolerance, the localisation model's
lateral angles and sensitivity. Each raises ``ValueError`` naming the argument, what was given and
what is allowed. Re-exported by :mod:`hrtfeval.loss`.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import HrtfevalError

__all__ = [
    "check_epsilon",
    "check_laterals",
    "check_option",
    "check_sensitivity",
    "normalise_name",
]


def normalise_name(text: str) -> str:
    """An option's name or value as it is compared and stored: stripped and lower-cased
    (``" LSD "`` -> ``"lsd"``, ``"Horizontal.LSD"`` -> ``"horizontal.lsd"``)."""
    return text.strip().lower()


def check_option(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return ``value`` normalised (:func:`normalise_name`) if it is one of ``allowed``, else
    raise ValueError."""
    if isinstance(value, str):
        key = normalise_name(value)
        if key in allowed:
            return key
    options = ", ".join(repr(a) for a in allowed)
    raise ValueError(f"{name} must be one of {options}; got {value!r}")


def check_epsilon(epsilon: Any) -> float:
    """Return ``epsilon`` as a float if it is a finite positive real number, else raise ValueError.

    ``bool`` is rejected (``True`` is not a tolerance); numeric strings such as ``"1e-3"`` are
    accepted, as ``float()`` accepts them.
    """
    if isinstance(epsilon, bool):
        raise ValueError(f"epsilon must be a finite positive real number; got {epsilon!r}")
    try:
        value = float(epsilon)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int such as 10**400
        raise ValueError(
            f"epsilon must be a finite positive real number; got {epsilon!r}"
        ) from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"epsilon must be a finite positive real number; got {epsilon!r}")
    return value


def check_laterals(laterals: Any) -> tuple[float, ...]:
    """Lateral angles of the localisation model as a tuple of floats in [-90, 90] degrees,
    duplicates removed (order kept); None is the model's default (0)."""
    if laterals is None:
        from .localisation_params import LATERAL

        laterals = (LATERAL,)
    elif isinstance(laterals, (str, bytes)) or not hasattr(laterals, "__iter__"):
        laterals = (laterals,)
    out: list[float] = []
    for value in laterals:
        v = float(value)
        if not (-90.0 <= v <= 90.0):
            raise HrtfevalError(f"a lateral angle must lie in -90 ... 90 degrees, got {value!r}")
        v = v + 0.0  # -0.0 -> 0.0
        if v not in out:
            out.append(v)
    if not out:
        raise HrtfevalError("give at least one lateral angle")
    return tuple(out)


def check_sensitivity(sensitivity: Any) -> float:
    """The localisation model's sensitivity as a positive finite float."""
    s = float(sensitivity)
    if not (math.isfinite(s) and s > 0):
        raise HrtfevalError(f"the sensitivity must be a positive number, got {sensitivity!r}")
    return s
