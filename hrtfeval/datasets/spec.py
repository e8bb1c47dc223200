"""``HRTFSpec``: which signal of an HRTF set a dataset gives, and how its rows are indexed.

A spec is validated when it is built (a bad combination is a ``ValueError`` that says what was
given and what is allowed) and then applied to one subject's :class:`~hrtfeval.model.HRTFSet`
by :func:`subject_signal`, which returns a ``(P, E, K)`` array: P selected positions, E selected
ears, K samples (time) or bins (frequency). :func:`sample_shape` says how a dataset slices that
array into samples for the spec's ``index_by``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import HrtfevalError
from ..model import IR, TF, HRTFSet

__all__ = [
    "DOMAINS",
    "SIGNALS",
    "EARS",
    "INDEX_BY",
    "DB_FLOOR",
    "HRTFSpec",
    "subject_signal",
    "sample_shape",
]

#: ``time``: impulse responses; ``frequency``: rfft spectra at the IR length.
DOMAINS = ("time", "frequency")
#: The signals of each domain.
SIGNALS = {
    "time": ("ir",),
    "frequency": (
        "tf_complex",
        "tf_real",
        "tf_imag",
        "tf_magnitude",
        "tf_magnitude_db",
        "tf_phase",
    ),
}
EARS = ("both", "left", "right")
#: The allowed ``index_by`` tuples; rows run subject -> position -> ear.
INDEX_BY = (
    ("subject",),
    ("subject", "position"),
    ("subject", "ear"),
    ("subject", "position", "ear"),
)
#: Magnitudes below this (linear) are raised to it before ``20*log10`` (-240 dB), so that an
#: exact zero gives a finite dB value.
DB_FLOOR = 1e-12
_EAR_INDEX = {"left": (0,), "right": (1,), "both": (0, 1)}
_EAR_NAMES = ("left", "right")


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    options = ", ".join(repr(a) for a in allowed)
    raise ValueError(f"HRTFSpec {name} must be one of {options}; got {value!r}")


@dataclass(frozen=True)
class HRTFSpec:
    """What a dataset gives for one key of ``inputs`` or ``target``.

    Parameters
    ----------
    domain : {"time", "frequency"}, default "time"
    signal : str, optional
        ``"ir"`` (time domain: impulse responses, linear amplitude) or, in the frequency domain
        (``numpy.fft.rfft`` at the IR length, bins at ``rfftfreq(N, 1/fs)`` Hz):
        ``"tf_complex"`` (complex spectrum), ``"tf_real"``, ``"tf_imag"``, ``"tf_magnitude"``
        (|X|, linear), ``"tf_magnitude_db"`` (20*log10|X|, dB; |X| floored at
        :data:`DB_FLOOR`), ``"tf_phase"`` (angle of X in degrees, in (-180, 180]).
        Default: ``"ir"`` for the time domain, ``"tf_complex"`` for the frequency domain.
    ears : {"both", "left", "right"}, default "both"
    index_by : tuple of str, default ("subject",)
        One of ``("subject",)``, ``("subject", "position")``, ``("subject", "ear")``,
        ``("subject", "position", "ear")``: what one sample of the dataset is. Shapes per
        sample (P positions, K samples or bins): ``(subject,)`` -> (P, 2, K), or (P, K) for one
        ear; ``(subject, position)`` -> (2, K), or (K,) for one ear; ``(subject, ear)`` ->
        (P, K); ``(subject, position, ear)`` -> (K,).
    positions : "all" or sequence of int, default "all"
        Measurement indices (rows of the SOFA file, 0-based) to keep, in the order given.
    frequency_bands : (lo, hi) or sequence of (lo, hi), optional
        Frequency domain only: keep the bins with ``lo <= f <= hi`` (Hz) for at least one band.
    name : str, default "hrtf"
        The key of this array in the sample's ``inputs`` / ``target`` dict.

    Raises
    ------
    ValueError
        On an unknown option or a combination that does not exist (``signal="ir"`` in the
        frequency domain, ``frequency_bands`` in the time domain, ...).
    """

    domain: str = "time"
    signal: str | None = None
    ears: str = "both"
    index_by: tuple[str, ...] = ("subject",)
    positions: Any = "all"
    frequency_bands: Any = None
    name: str = "hrtf"

    def __post_init__(self) -> None:
        domain = _choice("domain", self.domain, DOMAINS)
        allowed = SIGNALS[domain]
        if self.signal is None:
            signal = allowed[0]
        elif isinstance(self.signal, str) and self.signal.strip().lower() in allowed:
            signal = self.signal.strip().lower()
        else:
            every = [s for d in DOMAINS for s in SIGNALS[d]]
            hint = ""
            if isinstance(self.signal, str) and self.signal.strip().lower() in every:
                hint = f" (signal {self.signal!r} belongs to the other domain)"
            raise ValueError(
                f"HRTFSpec signal for domain {domain!r} must be one of "
                f"{', '.join(repr(s) for s in allowed)}; got {self.signal!r}{hint}"
            )
        ears = _choice("ears", self.ears, EARS)
        index_by: Any = self.index_by
        if isinstance(index_by, str):
            index_by = (index_by,)
        try:
            index_by = tuple(str(k).strip().lower() for k in index_by)
        except TypeError:
            index_by = None
        if index_by not in INDEX_BY:
            options = ", ".join(repr(t) for t in INDEX_BY)
            raise ValueError(
                f"HRTFSpec index_by must be one of {options} (rows in subject -> position -> "
                f"ear order); got {self.index_by!r}"
            )
        positions = _check_positions(self.positions)
        bands = _check_bands(self.frequency_bands)
        if bands is not None and domain != "frequency":
            raise ValueError(
                f"HRTFSpec frequency_bands apply to domain 'frequency' only; got "
                f"frequency_bands={self.frequency_bands!r} with domain={domain!r}"
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"HRTFSpec name must be a non-empty string; got {self.name!r}")
        for key, value in (
            ("domain", domain),
            ("signal", signal),
            ("ears", ears),
            ("index_by", index_by),
            ("positions", positions),
            ("frequency_bands", bands),
        ):
            object.__setattr__(self, key, value)

    @property
    def ear_indices(self) -> tuple[int, ...]:
        """Receiver indices kept: (0,), (1,) or (0, 1) (0 = left)."""
        return _EAR_INDEX[self.ears]

    @property
    def ear_names(self) -> tuple[str, ...]:
        return tuple(_EAR_NAMES[i] for i in self.ear_indices)


def _check_positions(value: Any) -> str | tuple[int, ...]:
    if isinstance(value, str):
        if value.strip().lower() == "all":
            return "all"
    else:
        try:
            items: list[Any] | None = (
                list(np.asarray(value).reshape(-1)) if not np.isscalar(value) else [value]
            )
        except (TypeError, ValueError):
            items = None
        if items and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) and i >= 0
            for i in items
        ):
            if len(set(int(i) for i in items)) != len(items):
                raise ValueError(f"HRTFSpec positions must not repeat an index; got {value!r}")
            return tuple(int(i) for i in items)
    raise ValueError(
        f"HRTFSpec positions must be 'all' or a non-empty sequence of measurement indices "
        f"(int >= 0); got {value!r}"
    )


def _check_bands(value: Any) -> tuple[tuple[float, float], ...] | None:
    if value is None:
        return None
    error = ValueError(
        "HRTFSpec frequency_bands must be (lo, hi) in Hz or a sequence of such pairs, with "
        f"0 <= lo <= hi finite; got {value!r}"
    )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise error from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise error
    if (
        not np.all(np.isfinite(array))
        or np.any(array[:, 0] < 0)
        or np.any(array[:, 0] > array[:, 1])
    ):
        raise error
    return tuple((float(lo), float(hi)) for lo, hi in array)


def sample_shape(spec: HRTFSpec, n_positions: int, n_bins: int) -> tuple[int, ...]:
    """The shape of one sample of ``spec`` for a subject with ``n_positions`` selected rows."""
    n_ears = len(spec.ear_indices)
    keep_ears = "ear" not in spec.index_by and n_ears == 2
    shape = []
    if "position" not in spec.index_by:
        shape.append(n_positions)
    if keep_ears:
        shape.append(2)
    shape.append(n_bins)
    return tuple(shape)


def subject_signal(hrtf: HRTFSet, spec: HRTFSpec) -> tuple[np.ndarray, np.ndarray]:
    """The spec's signal for one subject: ``(values, position_indices)``.

    Returns
    -------
    values : numpy.ndarray, shape (P, E, K)
        float32 (complex64 for ``tf_complex``). P = selected positions, E = selected ears
        (left first), K = samples or bins.
    position_indices : numpy.ndarray of int, shape (P,)
        The file's measurement index of each row.

    Raises
    ------
    HrtfevalError
        The file cannot give the signal (no impulse responses for ``"ir"``, no sampling rate for
        a spectrum), a position index past the file's measurements, or no bin in the bands.
    """
    m_count = hrtf.n_directions
    if spec.positions == "all":
        rows = np.arange(m_count)
    else:
        rows = np.asarray(spec.positions, dtype=np.int64)
        if rows.max() >= m_count:
            raise HrtfevalError(
                f"HRTFSpec positions ask for measurement index {int(rows.max())}, but the file "
                f"has {m_count} measurements (indices 0..{m_count - 1})",
                file=hrtf.path,
            )
    data = hrtf.data[rows][:, list(spec.ear_indices)]
    if spec.domain == "time":
        if hrtf.domain != IR:
            raise HrtfevalError(
                f"HRTFSpec signal 'ir' needs impulse responses, but the file holds "
                f"{hrtf.domain!r} data ({hrtf.convention}); use domain='frequency'",
                file=hrtf.path,
            )
        return np.ascontiguousarray(data, dtype=np.float32), rows

    freqs = _frequencies(hrtf, spec)
    if hrtf.domain == IR:
        spectrum = np.fft.rfft(np.asarray(data, dtype=np.float64), n=hrtf.n_samples, axis=-1)
    else:
        spectrum = np.asarray(data, dtype=np.complex128)
    if spec.frequency_bands is not None:
        spectrum = spectrum[..., _band_mask(freqs, spec, hrtf.path)]
    return _spectral(spectrum, spec.signal), rows


def bin_frequencies(hrtf: HRTFSet, spec: HRTFSpec) -> np.ndarray | None:
    """Bin frequencies (Hz) of the spec's frequency-domain signal for ``hrtf``; None for time."""
    if spec.domain == "time":
        return None
    freqs = _frequencies(hrtf, spec)
    if spec.frequency_bands is not None:
        freqs = freqs[_band_mask(freqs, spec, hrtf.path)]
    return freqs


def _frequencies(hrtf: HRTFSet, spec: HRTFSpec) -> np.ndarray:
    """All bin frequencies (Hz) of the file's spectrum: the rfft grid of its IRs, or its N."""
    if hrtf.domain == IR:
        if hrtf.sampling_rate is None:
            raise HrtfevalError(
                "a spectrum needs the sampling rate, and the file has none", file=hrtf.path
            )
        return np.fft.rfftfreq(hrtf.n_samples, d=1.0 / float(hrtf.sampling_rate))
    if hrtf.domain == TF and hrtf.frequencies is not None:
        return np.asarray(hrtf.frequencies, dtype=np.float64)
    raise HrtfevalError(
        f"HRTFSpec signal {spec.signal!r} needs impulse responses or complex spectra with "
        f"bin frequencies; the file holds {hrtf.domain!r} data",
        file=hrtf.path,
    )


def _band_mask(freqs: np.ndarray, spec: HRTFSpec, file: str) -> np.ndarray:
    keep = np.zeros(freqs.shape, dtype=bool)
    for lo, hi in spec.frequency_bands:
        keep |= (freqs >= lo) & (freqs <= hi)
    if not keep.any():
        raise HrtfevalError(
            f"HRTFSpec frequency_bands {list(spec.frequency_bands)} hold none of the file's "
            f"{freqs.size} bins ({freqs.min():g} to {freqs.max():g} Hz)",
            file=file,
        )
    return keep


def _spectral(x: np.ndarray, signal: str | None) -> np.ndarray:
    if signal == "tf_complex":
        return np.ascontiguousarray(x, dtype=np.complex64)
    if signal == "tf_real":
        out = x.real
    elif signal == "tf_imag":
        out = x.imag
    elif signal == "tf_magnitude":
        out = np.abs(x)
    elif signal == "tf_magnitude_db":
        out = 20.0 * np.log10(np.maximum(np.abs(x), DB_FLOOR))
    elif signal == "tf_phase":
        out = np.angle(x, deg=True)
    else:  # pragma: no cover - HRTFSpec validates the signal
        raise AssertionError(signal)
    return np.ascontiguousarray(out, dtype=np.float32)


def positions_count(spec: HRTFSpec, m_count: int) -> int:
    """Rows a subject with ``m_count`` measurements gives for ``spec`` (P)."""
    return m_count if spec.positions == "all" else len(spec.positions)
