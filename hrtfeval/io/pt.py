"""PyTorch (``.pt``) files -> :class:`~hrtfeval.model.HRTFSet` (``torch.load(weights_only=True)``;
torch is imported only when a file is read)."""

from __future__ import annotations

import math
import os
import pickle
import re
import warnings
from typing import Any, BinaryIO

import numpy as np

from ..errors import HrtfevalError
from ..model import DB, IR, MAGNITUDE, TF, HRTFSet
from .checks import _Budget, _check_data, _check_file, _check_finite, _exception_line
from .positions import _parse_positions

#: The data keys a ``.pt`` dict may hold (exactly one of them).
PT_DATA_KEYS = ("hrir", "ir", "hrtf", "hrtf_db")
_PT_OPTIONAL_KEYS = ("sampling_rate", "positions", "frequencies")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format


def read_pt(
    path: str | os.PathLike,
    *,
    max_memory: int | None = None,
    n_fft: int | None = None,
    reserved: int = 0,
) -> HRTFSet:
    """Read a ``torch.save`` file into an :class:`HRTFSet` (``weights_only=True``: no code runs).

    Accepted content:

    * a tensor of shape (M, 2, N): real -> ``"ir"``, complex -> ``"tf"``;
    * a dict with exactly one data key -- ``"hrir"`` or ``"ir"`` (real, time domain),
      ``"hrtf"`` (complex -> ``"tf"``, real -> linear ``"magnitude"``) or ``"hrtf_db"``
      (``"db"``) -- and optionally ``"sampling_rate"`` (Hz; a number or one-element tensor),
      ``"positions"`` ((M, 3) azimuth degree, elevation degree, distance metre) and
      ``"frequencies"`` ((N,) Hz, frequency-domain data only). Other keys are ignored (listed in
      ``meta["ignored_keys"]``).

    Missing rate, positions or frequencies stay ``None``; :func:`hrtfeval.align.align_pair` fills
    them from the other file. Data become float64 (complex128 when complex); quantized tensors
    are dequantized; meta, sparse and nested tensors are refused. Each tensor's size is checked
    against ``max_memory`` (see :func:`read_hrtf`) before it is converted, so an expanded
    (stride-0) tensor cannot blow up.

    Raises
    ------
    HrtfevalError
        Unreadable file, an object other than tensors/dicts/numbers, no or several data keys,
        wrong shapes, non-finite values.
    """
    name = str(path)
    _check_file(path, "PyTorch")
    budget = _Budget(max_memory, n_fft, reserved)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        raise HrtfevalError(
            "reading .pt files needs PyTorch (pip install torch)", file=name
        ) from None

    _check_zip_crc(name)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols and storages; the user gets our message instead.
            warnings.simplefilter("ignore")
            obj = torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        detail = (
            f"it holds {found.group(1)}, which is not loaded for safety"
            if found
            else "torch.load(weights_only=True) cannot unpickle it"
        )
        raise HrtfevalError(
            f"{detail}; only tensors, dicts of tensors and numbers are accepted", file=name
        ) from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/... on corrupt files
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise HrtfevalError(f"not a readable PyTorch file: {reason}", file=name) from None

    meta: dict[str, Any] = {"format": "pt"}
    if isinstance(obj, torch.Tensor):
        key, raw, extras = "tensor", obj, {}
    elif isinstance(obj, dict):
        keys = [k for k in obj if k in PT_DATA_KEYS]
        if len(keys) != 1:
            present = ", ".join(repr(k) for k in keys) if keys else "none"
            raise HrtfevalError(
                f"the dict has {present} of the data keys; expected exactly one of "
                + ", ".join(repr(k) for k in PT_DATA_KEYS),
                file=name,
            )
        key, raw = keys[0], obj[keys[0]]
        extras = {k: obj[k] for k in _PT_OPTIONAL_KEYS if k in obj}
        known = PT_DATA_KEYS + _PT_OPTIONAL_KEYS
        ignored = sorted(str(k) for k in obj if k not in known)
        if ignored:
            meta["ignored_keys"] = ignored
    else:
        raise HrtfevalError(
            f"the .pt file holds a {type(obj).__name__}; expected a tensor (M, 2, N) or a dict "
            "with one of " + ", ".join(repr(k) for k in PT_DATA_KEYS),
            file=name,
        )
    meta["data_key"] = key

    data = _pt_array(raw, key, name, budget, data=True)
    domain = _pt_domain(data, key, name)
    silent = _check_data(data, key, name)

    sampling_rate = _pt_sampling_rate(extras.get("sampling_rate"), name)
    positions = stored_positions = None
    if extras.get("positions") is not None:
        positions, stored_positions = _pt_positions(
            extras["positions"], data.shape[0], name, budget
        )
    frequencies = None
    if extras.get("frequencies") is not None:
        if domain == IR:
            meta.setdefault("ignored_keys", []).append("frequencies")
        else:
            frequencies = _pt_frequencies(extras["frequencies"], data.shape[2], name, budget)

    return HRTFSet(
        path=name,
        data=data,
        domain=domain,
        sampling_rate=sampling_rate,
        positions=positions,
        frequencies=frequencies,
        convention="pt",
        version="",
        delay_applied=False,
        meta=meta,
        silent=silent,
        stored_positions=stored_positions,
    )


def _check_zip_crc(name: str) -> None:
    """A zip-format ``.pt`` file whose entries fail their CRC-32 check -> HrtfevalError.

    ``torch.load`` never checks the CRCs, so a flipped byte in the tensor data would be read
    as data. One streaming pass over the file (which is read anyway), in bounded memory.
    """
    try:
        fh = open(name, "rb")
    except OSError:
        return  # torch.load reports it
    with fh:  # one handle: its signature, then the archive
        try:
            if fh.read(4) != _ZIP_MAGIC:
                return  # a legacy (pickle) file: no checksums to check
        except OSError:
            return
        bad = _first_bad_entry(fh, name)
    if bad is not None:
        raise HrtfevalError(
            f"not a readable PyTorch file: its entry {bad!r} fails its CRC-32 check (the file "
            "is damaged)",
            file=name,
        )


def _first_bad_entry(fh: BinaryIO, name: str) -> str | None:
    """The first entry of the zip archive ``fh`` that fails its CRC-32 check, or None."""
    import zipfile
    import zlib

    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as archive:
            return archive.testzip()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise HrtfevalError(
            f"not a readable PyTorch file: damaged zip archive ({_exception_line(exc)})",
            file=name,
        ) from None


def _pt_array(
    value: Any, key: str, file: str, budget: _Budget | None = None, *, data: bool = False
) -> np.ndarray:
    """A tensor / ndarray / number list -> float64 or complex128 ndarray.

    Its size is charged to ``budget`` first (as the data set when ``data``); tensors that hold
    no plain values (meta, sparse, nested) are an error; quantized ones are dequantized.
    """
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_meta:
            raise HrtfevalError(
                f"{key} is a meta tensor (a shape without values); expected a tensor of numbers",
                file=file,
            )
        if value.is_nested or value.layout != torch.strided:
            layout = "nested" if value.is_nested else str(value.layout).replace("torch.", "")
            raise HrtfevalError(
                f"{key} is a {layout} tensor; expected a dense tensor (save tensor.to_dense())",
                file=file,
            )
        if budget is not None:
            shape = tuple(value.shape)
            complex_ = value.is_complex()
            if data:
                domain = TF if complex_ else IR
                budget.take_data(shape, domain, 16 if complex_ else 8, key, file)
            else:
                budget.take(value.numel() * 16, f"{key} of shape {shape}", file)
        value = value.detach()
        if value.is_quantized:
            value = value.dequantize()
        value = value.cpu()
        if value.is_complex():
            return value.to(torch.complex128).numpy()
        if value.dtype == torch.bool:
            raise HrtfevalError(f"{key} is a bool tensor; expected numbers", file=file)
        return value.to(torch.float64).numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        array = None
    if array is None or array.dtype.kind not in "iufc":
        raise HrtfevalError(
            f"{key} is a {type(value).__name__}; expected a tensor of numbers", file=file
        )
    if budget is not None:
        budget.take(array.size * 16, f"{key} of shape {tuple(array.shape)}", file)
    return array.astype(np.complex128 if array.dtype.kind == "c" else np.float64)


def _pt_domain(data: np.ndarray, key: str, file: str) -> str:
    is_complex = np.iscomplexobj(data)
    if key == "tensor":
        return TF if is_complex else IR
    if key in ("hrir", "ir"):
        if is_complex:
            raise HrtfevalError(
                f"{key} is complex; expected real impulse responses (put complex spectra "
                "under 'hrtf')",
                file=file,
            )
        return IR
    if key == "hrtf_db":
        if is_complex:
            raise HrtfevalError(
                "hrtf_db is complex; expected real dB magnitudes (put complex spectra under "
                "'hrtf')",
                file=file,
            )
        return DB
    # "hrtf"
    if is_complex:
        return TF
    if data.size and np.nanmin(data) < 0:
        raise HrtfevalError(
            f"hrtf is real with negative values (min {np.nanmin(data):g}); expected linear "
            "magnitudes >= 0 (put dB magnitudes under 'hrtf_db')",
            file=file,
        )
    return MAGNITUDE


def _pt_sampling_rate(value: Any, file: str) -> float | None:
    if value is None:
        return None
    import torch

    rate: float | None = None
    if isinstance(value, torch.Tensor):
        if value.numel() == 1 and not value.is_complex():
            try:
                rate = float(value.reshape(-1)[0])
            except (RuntimeError, NotImplementedError, TypeError, ValueError):
                rate = None  # a meta, sparse or other tensor without a plain value
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        rate = float(value)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        shown = tuple(value.shape) if isinstance(value, torch.Tensor) else value
        raise HrtfevalError(
            f"sampling_rate is {shown!r}; expected a positive number of hertz (or a "
            "one-element tensor)",
            file=file,
        )
    return rate


def _pt_positions(
    value: Any, m_count: int, file: str, budget: _Budget | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    positions = _pt_array(value, "positions", file, budget)
    if np.iscomplexobj(positions) or positions.shape != (m_count, 3):
        raise HrtfevalError(
            f"positions has shape {tuple(positions.shape)}; expected real ({m_count}, 3) "
            "azimuth degree, elevation degree, distance metre",
            file=file,
        )
    return _parse_positions(positions, "spherical", "degree, degree, metre", "positions", file)


def _pt_frequencies(
    value: Any, n_count: int, file: str, budget: _Budget | None = None
) -> np.ndarray:
    freqs = _pt_array(value, "frequencies", file, budget)
    if np.iscomplexobj(freqs) or freqs.reshape(-1).shape != (n_count,):
        raise HrtfevalError(
            f"frequencies has shape {tuple(freqs.shape)}; expected ({n_count},) hertz, one per bin",
            file=file,
        )
    freqs = freqs.reshape(-1)
    _check_finite(freqs, "frequencies", file)
    return freqs
