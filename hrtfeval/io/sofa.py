"""SOFA (``.sofa``) files -> :class:`~hrtfeval.model.HRTFSet`: conventions, the data variables,
sampling rate and source positions."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ..coords import is_hertz
from ..errors import HrtfevalError
from ..model import IR, TF, HRTFSet, silent_rows
from .backend import SofaFile, Unhandled, open_fast, open_general
from .checks import (
    _Budget,
    _check_data,
    _check_file,
    _check_finite,
    _exception_line,
    _fmt_values,
)
from .delay import _apply_sofa_delay, _sofa_delay
from .positions import _parse_positions
from .variables import _MRN, _attr, _per_measurement, _read_var

#: The SOFA conventions hrtfeval reads, and the domain each one gives.
SOFA_CONVENTIONS = {
    "SimpleFreeFieldHRIR": IR,
    "GeneralFIR": IR,
    "SimpleFreeFieldHRTF": TF,
    "GeneralTF": TF,
}
#: Older names of the conventions above, read as the convention they were renamed to.
#: ``SimpleFreeFieldTF`` (versions 0.4 and 1.0) became ``SimpleFreeFieldHRTF``.
SOFA_CONVENTION_ALIASES = {"SimpleFreeFieldTF": "SimpleFreeFieldHRTF"}


def read_sofa(
    path: str | os.PathLike,
    *,
    apply_delay: bool = True,
    max_memory: int | None = None,
    n_fft: int | None = None,
    reserved: int = 0,
) -> HRTFSet:
    """Read a SOFA file (read-only, only the variables needed) into an :class:`HRTFSet`.

    ``Data.IR`` (SimpleFreeFieldHRIR, GeneralFIR) gives domain ``"ir"``; ``Data.Real`` +
    ``Data.Imag`` at the frequencies in variable ``N`` (SimpleFreeFieldHRTF, GeneralTF) give
    domain ``"tf"``. Receiver 0 is the left ear, receiver 1 the right.

    A non-zero ``Data.Delay`` (samples) is applied to the data (see :func:`apply_delay`); the
    IRs keep their length N, so energy pushed past sample N is lost (a warning names the file
    when that exceeds 0.1 % of the set's energy). For ``"tf"`` the spectrum is multiplied by
    ``exp(-2j*pi*f*d/fs)`` when the sampling rate is known.

    Source positions become azimuth in [0, 360) degree, elevation in degree and distance in
    metre whatever the file's ``Type`` (spherical or cartesian) and ``Units`` spelling.
    ``SourcePosition`` is mandatory (AES69): a file without a readable one is an error, never
    matched by row order. ``Data.Delay`` must be finite and >= 0.

    ``max_memory``, ``n_fft`` and ``reserved`` bound the memory as in :func:`read_hrtf`.

    Raises
    ------
    HrtfevalError
        See :func:`read_hrtf`.
    """
    name = str(path)
    _check_file(path, "SOFA/netCDF")
    budget = _Budget(max_memory, n_fft, reserved)
    # netCDF-4 files through h5py (~20x cheaper to open); anything else, or anything that
    # back-end does not handle, through netCDF4 itself.
    fast = open_fast(name)
    if fast is not None:
        hrtf = _read_fast(fast, name, apply_delay, budget)
        if hrtf is not None:
            return hrtf
        budget.used = 0
    with open_general(name) as ds:
        try:
            return _read_sofa_dataset(ds, name, apply_delay, budget)
        except HrtfevalError:
            raise
        except (OSError, RuntimeError) as exc:  # "NetCDF: HDF error" on damaged metadata
            raise HrtfevalError(
                f"not a readable SOFA/netCDF file: {_exception_line(exc)} (corrupt HDF5 file?)",
                file=name,
            ) from None


def _read_fast(ds: SofaFile, file: str, apply_delay: bool, budget: _Budget) -> HRTFSet | None:
    """:func:`_read_sofa_dataset` through the fast back-end, or None when it hit a call that
    back-end does not answer (:class:`~.backend.Unhandled`). Its warnings are only raised when
    it succeeds: the general back-end, reading the file again, would raise them again."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with ds:
                hrtf = _read_sofa_dataset(ds, file, apply_delay, budget)
        except Unhandled:
            return None
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return hrtf


def _read_sofa_dataset(
    ds: SofaFile, file: str, apply_delay: bool = True, budget: _Budget | None = None
) -> HRTFSet:
    convention = _attr(ds, "SOFAConventions")
    if convention is None:
        raise HrtfevalError(
            "not a SOFA file: it has no global attribute SOFAConventions", file=file
        )
    version = _attr(ds, "SOFAConventionsVersion") or ""
    domain = _convention_domain(convention)
    if domain is None:
        raise HrtfevalError(
            f"SOFA convention {convention!r} is not supported; hrtfeval reads "
            + ", ".join(SOFA_CONVENTIONS)
            + "".join(
                f" and {old} (the old name of {new})"
                for old, new in SOFA_CONVENTION_ALIASES.items()
            ),
            file=file,
        )

    if domain == IR:
        (data, silent), frequencies = _sofa_ir(ds, file, budget), None
    else:
        data, frequencies, silent = _sofa_tf(ds, file, budget)
    m_count = data.shape[0]

    sampling_rate = _sofa_sampling_rate(ds, m_count, file, budget, required=domain == IR)
    positions, pos_meta, stored_positions = _sofa_positions(ds, m_count, file, budget)
    delay = _sofa_delay(ds, m_count, sampling_rate, file, budget)

    meta: dict[str, Any] = {"format": "SOFA", "sofa_version": _attr(ds, "Version") or ""}
    for key, attr in (
        ("title", "Title"),
        ("database", "DatabaseName"),
        ("listener", "ListenerShortName"),
        ("data_type", "DataType"),
    ):
        value = _attr(ds, attr)
        if value:
            meta[key] = value
    meta.update(pos_meta)

    delay_applied = False
    if delay is not None:
        meta["delay_min_samples"] = float(delay.min())
        meta["delay_max_samples"] = float(delay.max())
        if np.any(delay != 0) and not apply_delay:
            meta["delay_ignored"] = True
        elif np.any(delay != 0):
            data, delay_applied = _apply_sofa_delay(
                data, delay, domain, sampling_rate, frequencies, file
            )
            if delay_applied and domain == IR:
                silent = silent_rows(data)  # a delay can push a whole response past N
    meta["delay_applied"] = delay_applied

    return HRTFSet(
        path=file,
        data=data,
        domain=domain,
        sampling_rate=sampling_rate,
        positions=positions,
        frequencies=frequencies,
        convention=convention,
        version=version,
        delay_applied=delay_applied,
        meta=meta,
        silent=silent,
        stored_positions=stored_positions,
    )


def _convention_domain(convention: str) -> str | None:
    """The domain of a convention name, also for old names and other capitalisations."""
    known = {
        **SOFA_CONVENTIONS,
        **{old: SOFA_CONVENTIONS[new] for old, new in SOFA_CONVENTION_ALIASES.items()},
    }
    if convention in known:
        return known[convention]
    folded = {name.lower(): domain for name, domain in known.items()}
    return folded.get(convention.lower())


def _sofa_ir(ds: SofaFile, file: str, budget: _Budget | None) -> tuple[np.ndarray, np.ndarray]:
    fill: list = []
    got = _read_var(ds, "Data.IR", file, _MRN, budget=budget, data_domain=IR, fill=fill)
    if got is None:
        raise HrtfevalError("SOFA file has no variable Data.IR", file=file)
    values = got[0]
    if values.dtype != np.float64:
        values = values.astype(np.float64)
    return values, _check_data(values, "Data.IR", file, fill[0])


def _sofa_tf(
    ds: SofaFile, file: str, budget: _Budget | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fills: list = []
    real = _read_var(ds, "Data.Real", file, _MRN, budget=budget, data_domain=TF, fill=fills)
    imag = _read_var(ds, "Data.Imag", file, _MRN, budget=budget, fill=fills)
    if real is None or imag is None:
        pairs = (("Data.Real", real), ("Data.Imag", imag))
        missing = " and ".join(n for n, v in pairs if v is None)
        raise HrtfevalError(f"SOFA file has no variable {missing}", file=file)
    re_part = real[0].astype(np.float64, copy=False)
    im_part = imag[0].astype(np.float64, copy=False)
    silent_re = _check_data(re_part, "Data.Real", file, fills[0])
    silent_im = _check_data(im_part, "Data.Imag", file, fills[1])
    if re_part.shape != im_part.shape:
        raise HrtfevalError(
            f"Data.Real has shape {re_part.shape} but Data.Imag has shape {im_part.shape}; "
            "expected equal shapes",
            file=file,
        )
    data = re_part + 1j * im_part
    # An ear is silent when both parts are zero; silent_rows of the complex data decides for
    # the few directions where each part has a silent ear (not necessarily the same one).
    maybe = np.flatnonzero(silent_re & silent_im)
    silent = np.zeros(data.shape[0], dtype=bool)
    if maybe.size:
        silent[maybe] = silent_rows(data[maybe])

    freq = _read_var(ds, "N", file, budget=budget)
    if freq is None:
        raise HrtfevalError(
            "SOFA file has no variable N (the frequencies of Data.Real/Data.Imag)", file=file
        )
    frequencies = np.asarray(freq[0], dtype=np.float64).reshape(-1)
    if frequencies.shape[0] != data.shape[2]:
        raise HrtfevalError(
            f"variable N has {frequencies.shape[0]} frequencies but Data.Real has "
            f"{data.shape[2]} bins; expected equal counts",
            file=file,
        )
    _check_finite(frequencies, "N", file)
    units = _attr(ds.variables["N"], "Units")
    if units is not None and not is_hertz(units):
        raise HrtfevalError(
            f"variable N has units {units!r}; expected 'hertz' (or 'Hz')", file=file
        )
    return data, frequencies, silent


def _sofa_sampling_rate(
    ds: SofaFile, m_count: int, file: str, budget: _Budget | None = None, *, required: bool
) -> float | None:
    got = _read_var(ds, "Data.SamplingRate", file, budget=budget)
    if got is None:
        if required:
            raise HrtfevalError("SOFA file has no variable Data.SamplingRate", file=file)
        return None  # TF conventions need no rate; alignment takes the other file's if needed
    values = np.asarray(got[0], dtype=np.float64).reshape(-1)
    if values.size not in (1, m_count):
        raise HrtfevalError(
            f"Data.SamplingRate has {values.size} values; expected 1 or M={m_count}", file=file
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise HrtfevalError(
            f"Data.SamplingRate is {_fmt_values(values)}; expected a positive number of hertz",
            file=file,
        )
    if values.max() - values.min() > 1e-9 * values.max():
        raise HrtfevalError(
            f"Data.SamplingRate varies across measurements ({values.min():g} to "
            f"{values.max():g} Hz); expected one rate for the whole set",
            file=file,
        )
    units = _attr(ds.variables["Data.SamplingRate"], "Units")
    if units is not None and not is_hertz(units):
        raise HrtfevalError(
            f"Data.SamplingRate has units {units!r}; expected 'hertz' (or 'Hz')", file=file
        )
    return float(values[0])


def _sofa_positions(
    ds: SofaFile, m_count: int, file: str, budget: _Budget | None = None
) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
    got = _read_var(ds, "SourcePosition", file, ("M", "C"), ("I", "C"), budget=budget)
    if got is None:
        # Mandatory in AES69: without it the rows cannot be matched by direction, and taking
        # them to be in the other file's order would score a misread.
        raise HrtfevalError(
            "SOFA file has no readable variable SourcePosition (missing or damaged; it is "
            "mandatory in AES69), so its directions "
            "are unknown",
            file=file,
        )
    values, dims = got
    values = np.asarray(values, dtype=np.float64)
    # Some old files carry a trailing singleton (e.g. (M, C, 1)).
    while values.ndim > 2 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 1 and values.shape[0] == 3:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != 3:
        raise HrtfevalError(
            f"SourcePosition has shape {tuple(values.shape)}; expected (M, 3) or (1, 3)",
            file=file,
        )
    values = _per_measurement(values, dims, m_count, "SourcePosition", file)
    var = ds.variables["SourcePosition"]
    ptype, units = _attr(var, "Type"), _attr(var, "Units")
    positions, stored = _parse_positions(values, ptype, units, "SourcePosition", file)
    return positions, {"position_type": ptype or "", "position_units": units or ""}, stored
