"""Writers of the synthetic sets: SOFA files (with sofar) and torch ``.pt`` files, the way
users' files look. Re-exported by :mod:`hrtfeval.synth`; sofar and torch are imported by the
writer that uses them.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

from .synth_geometry import HEAD_RADIUS, _check_positions, _spherical_to_cartesian

#: Conventions that :func:`write_sofa` writes; the first two hold impulse responses.
SOFA_CONVENTIONS = ("SimpleFreeFieldHRIR", "GeneralFIR", "SimpleFreeFieldHRTF", "GeneralTF")

# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_sofar():
    """Send anything sofar prints to stderr and silence its warnings: our stdout is data."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def write_sofa(
    path,
    data,
    positions,
    sampling_rate: float | None,
    convention: str = "SimpleFreeFieldHRIR",
    frequencies=None,
    delay=None,
    position_type: str = "spherical",
    title: str = "hrtfeval synthetic HRTF (spherical-head model)",
    database: str = "hrtfeval synth",
    date: str | None = None,
) -> Path:
    """Write an HRTF set as a SOFA file (AES69) with sofar.

    Parameters
    ----------
    path : str or path-like
        Output file. As in :func:`sofar.write_sofa`, its suffix is replaced by ``.sofa``.
    data : array_like, shape (M, 2, N)
        Real impulse responses for ``SimpleFreeFieldHRIR`` / ``GeneralFIR`` (written to
        ``Data.IR``), complex spectra for ``SimpleFreeFieldHRTF`` / ``GeneralTF`` (``Data.Real``
        and ``Data.Imag``). Ear 0 is the left ear.
    positions : array_like, shape (M, 3)
        Source positions: azimuth (degree), elevation (degree), distance (metre).
    sampling_rate : float or None
        In Hz, written to ``Data.SamplingRate`` for the impulse-response conventions (required
        there). The transfer-function conventions have no such field: there it only serves to
        build the default ``frequencies``.
    convention : str, optional
        One of :data:`SOFA_CONVENTIONS`. Default ``"SimpleFreeFieldHRIR"``.
    frequencies : array_like, shape (N,), optional
        Bin frequencies in Hz for the transfer-function conventions (written to ``N``). Default:
        the rfft grid, ``N`` bins evenly from 0 Hz to ``sampling_rate / 2``.
    delay : array_like, shape (M, 2) or (1, 2), optional
        Broadband delays in samples for ``Data.Delay`` (impulse-response conventions only).
        Default zeros of shape (1, 2).
    position_type : {"spherical", "cartesian"}, optional
        How ``SourcePosition`` is stored: "spherical" (degree, degree, metre) as given, or
        "cartesian" (metre; x front, y left, z up), converted here.
    title, database : str, optional
        ``GLOBAL:Title`` and, where the convention has it, ``GLOBAL:DatabaseName``.
    date : str, optional
        ``"YYYY-MM-DD hh:mm:ss"`` written to ``GLOBAL:DateCreated`` and ``GLOBAL:DateModified``
        instead of the current time, for reproducible files.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        On an unknown convention or position type, shapes that do not match, complex data
        for an impulse-response convention, a ``delay`` for a transfer-function convention, or
        a missing ``sampling_rate`` where one is needed.

    Notes
    -----
    The listener is at the origin looking along +x; the receivers (ears) are at y = +/-0.0875 m.
    sofar's compression default (zlib level 4) is used. Anything sofar prints goes to stderr.
    """
    import sofar

    if convention not in SOFA_CONVENTIONS:
        raise ValueError(
            f"convention must be one of {', '.join(SOFA_CONVENTIONS)}; got {convention!r}"
        )
    if position_type not in ("spherical", "cartesian"):
        raise ValueError(f"position_type must be 'spherical' or 'cartesian'; got {position_type!r}")
    is_ir = convention in ("SimpleFreeFieldHRIR", "GeneralFIR")

    values = np.asarray(data)
    if values.ndim != 3 or values.shape[1] != 2:
        raise ValueError(f"Expected data of shape (M, 2, N), but got {values.shape}")
    m, _, n = values.shape
    pos = _check_positions(positions)
    if pos.shape != (m, 3):
        raise ValueError(
            f"Expected positions of shape ({m}, 3) to match data {values.shape}, "
            f"but got {pos.shape}"
        )
    if is_ir and np.iscomplexobj(values):
        raise ValueError(f"{convention} holds real impulse responses, but data is complex")
    if sampling_rate is None and (is_ir or frequencies is None):
        raise ValueError(f"sampling_rate is needed for {convention} without frequencies")

    source = pos if position_type == "spherical" else _spherical_to_cartesian(pos)
    with _quiet_sofar():
        sofa = sofar.Sofa(convention)
    sofa.GLOBAL_Title = title
    if hasattr(sofa, "GLOBAL_DatabaseName"):
        sofa.GLOBAL_DatabaseName = database
    if hasattr(sofa, "GLOBAL_ListenerShortName"):
        sofa.GLOBAL_ListenerShortName = "synthetic"
    if date is not None:
        sofa.GLOBAL_DateCreated = date
        sofa.GLOBAL_DateModified = date
    sofa.ReceiverPosition = np.array([[0.0, HEAD_RADIUS, 0.0], [0.0, -HEAD_RADIUS, 0.0]])
    sofa.SourcePosition = source
    sofa.SourcePosition_Type = position_type
    sofa.SourcePosition_Units = "degree, degree, metre" if position_type == "spherical" else "metre"

    if is_ir:
        sofa.Data_IR = values.astype(np.float64)
        assert sampling_rate is not None, "checked above"
        sofa.Data_SamplingRate = float(sampling_rate)
        d = np.zeros((1, 2)) if delay is None else np.asarray(delay, dtype=np.float64)
        if d.ndim != 2 or d.shape[1] != 2 or d.shape[0] not in (1, m):
            raise ValueError(f"Expected delay of shape ({m}, 2) or (1, 2), but got {d.shape}")
        sofa.Data_Delay = d
    else:
        if delay is not None:
            raise ValueError(f"{convention} has no Data.Delay; write delays into the phase")
        if frequencies is None:
            assert sampling_rate is not None, "checked above"
            freqs = np.linspace(0.0, float(sampling_rate) / 2.0, n)
        else:
            freqs = np.asarray(frequencies, dtype=np.float64).reshape(-1)
        if freqs.shape != (n,):
            raise ValueError(
                f"Expected frequencies of shape ({n},) to match data {values.shape}, "
                f"but got {freqs.shape}"
            )
        sofa.N = freqs
        sofa.Data_Real = np.real(values).astype(np.float64)
        sofa.Data_Imag = np.imag(values).astype(np.float64)

    target = Path(path).with_suffix(".sofa")
    with _quiet_sofar():
        sofar.write_sofa(str(target), sofa)
    return target


def write_pt(path, data, positions=None, sampling_rate=None, key: str | None = "hrir") -> Path:
    """Save an HRTF set with :func:`torch.save`, as model code usually does.

    Parameters
    ----------
    path : str or path-like
        Output file (``.pt`` by custom; written as given).
    data : array_like, shape (M, 2, N)
        Impulse responses or magnitudes, stored as a float32 tensor (complex64 if complex).
    positions : array_like, shape (M, 3), optional
        Azimuth (degree), elevation (degree), distance (metre), stored as float64 under
        ``"positions"``.
    sampling_rate : float, optional
        In Hz, stored as a Python float under ``"sampling_rate"``.
    key : str or None, optional
        Dictionary key of the data (default ``"hrir"``). ``None`` saves the bare tensor.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If ``key`` is None but ``positions`` or ``sampling_rate`` is given (a bare tensor cannot
        carry them), or if the shapes do not match.
    """
    import torch

    values = np.asarray(data)
    dtype = np.complex64 if np.iscomplexobj(values) else np.float32
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=dtype))
    target = Path(path)
    if key is None:
        if positions is not None or sampling_rate is not None:
            raise ValueError("a bare tensor (key=None) cannot carry positions or sampling_rate")
        torch.save(tensor, target)
        return target
    payload: dict = {key: tensor}
    if sampling_rate is not None:
        payload["sampling_rate"] = float(sampling_rate)
    if positions is not None:
        pos = _check_positions(positions)
        if values.ndim < 1 or pos.shape[0] != values.shape[0]:
            raise ValueError(
                f"Expected positions of shape ({values.shape[0] if values.ndim else 0}, 3) to "
                f"match data {values.shape}, but got {pos.shape}"
            )
        payload["positions"] = torch.from_numpy(np.ascontiguousarray(pos, dtype=np.float64))
    torch.save(payload, target)
    return target
