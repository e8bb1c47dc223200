"""Argument validators shared by the scoring core and its callers: an option among a fixed set
of names, a positive tolerance. Each raises ``ValueError`` naming the argument, what was given and
what is allowed. Re-exported by :mod:`hrtfeval.loss`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_epsilon", "check_option", "normalise_name"]


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
