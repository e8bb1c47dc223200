"""Writing a model's prediction of one subject as a file ``hrtfeval score`` reads.

``.pt`` files follow the schema of :func:`hrtfeval.io.read_pt` (a dict with one data key, plus
``sampling_rate``, ``positions`` and, for spectra, ``frequencies``); ``.sofa`` files are
SimpleFreeFieldHRIR (impulse responses) or SimpleFreeFieldHRTF (complex spectra). The file is
written through :class:`hrtfeval.outputs.OutputPlan` (a temporary file, renamed), which refuses
to replace an input, so a reader never sees half a file and a reference is never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs import ensure_folder
from .spec import HRTFSpec

__all__ = ["PT_KEYS", "save_prediction"]

#: The ``.pt`` data key of each signal hrtfeval can score.
PT_KEYS = {
    "ir": "hrir",
    "tf_complex": "hrtf",
    "tf_magnitude": "hrtf",
    "tf_magnitude_db": "hrtf_db",
}
_SOFA_CONVENTIONS = {"ir": "SimpleFreeFieldHRIR", "tf_complex": "SimpleFreeFieldHRTF"}


def _as_array(prediction: Any) -> np.ndarray:
    detach = getattr(prediction, "detach", None)
    if detach is not None:  # a torch tensor (on any device, with or without grad)
        prediction = detach().cpu().numpy()
    return np.asarray(prediction)


def save_prediction(
    path: str | os.PathLike,
    prediction: Any,
    *,
    spec: HRTFSpec,
    sampling_rate: float | None,
    positions: Any,
    frequencies: Any = None,
    inputs: Any = (),
) -> Path:
    """Write ``prediction`` (P, 2, K) to ``path`` (``.pt`` or ``.sofa``, by suffix).

    Parameters
    ----------
    path : path
        ``.pt`` (any signal in :data:`PT_KEYS`) or ``.sofa`` (``ir`` or ``tf_complex``).
        Missing folders are created.
    prediction : torch.Tensor or array_like, shape (P, 2, K)
        Both ears, left first: hrtfeval scores binaural sets.
    spec : HRTFSpec
        What the prediction holds (its ``signal``).
    sampling_rate : float or None
        In Hz.
    positions : array_like, shape (P, 3)
        Azimuth (degree), elevation (degree), distance (metre) of each row.
    frequencies : array_like, shape (K,), optional
        Bin frequencies in Hz (frequency-domain signals).
    inputs : iterable of path-like, optional
        Files ``path`` must never be (the references): an
        :class:`~hrtfeval.errors.HrtfevalError` instead of a write. An earlier prediction at
        ``path`` is replaced.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        A signal hrtfeval cannot score (tf_real, tf_imag, tf_phase), one ear only, shapes that
        do not match, non-finite values, an unknown suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".pt", ".sofa"):
        raise ValueError(f"prediction files are .pt or .sofa; got {path.name!r}")
    signal = spec.signal
    allowed = PT_KEYS if suffix == ".pt" else _SOFA_CONVENTIONS
    if signal not in allowed:
        raise ValueError(
            f"a {suffix} prediction holds one of the signals {', '.join(map(repr, allowed))}; "
            f"spec {spec.name!r} has signal {signal!r}, which hrtfeval cannot score"
        )
    data = _as_array(prediction)
    if data.ndim != 3 or data.shape[1] != 2:
        raise ValueError(
            f"prediction must have shape (positions, 2, K) with both ears (hrtfeval scores "
            f"binaural sets; predict with ears='both'); got shape {tuple(data.shape)}"
        )
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape != (data.shape[0], 3):
        raise ValueError(
            f"positions must have shape ({data.shape[0]}, 3) to match the prediction "
            f"{tuple(data.shape)}; got {tuple(pos.shape)}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError(f"prediction has {int(np.sum(~np.isfinite(data)))} non-finite value(s)")
    freqs = None
    if spec.domain == "frequency":
        if frequencies is None:
            raise ValueError(f"a {signal!r} prediction needs its bin frequencies (Hz)")
        freqs = np.asarray(frequencies, dtype=np.float64).reshape(-1)
        if freqs.shape != (data.shape[2],):
            raise ValueError(
                f"frequencies must have shape ({data.shape[2]},), one per bin; got "
                f"{tuple(freqs.shape)}"
            )
    if signal == "tf_magnitude" and np.any(data < 0):
        raise ValueError("a 'tf_magnitude' prediction must be >= 0 (linear magnitudes)")
    import tempfile

    from ..outputs import OutputPlan

    plan = OutputPlan(inputs)
    ensure_folder(path.parent)
    target = plan.file(path, "the prediction file", replace_hrtf=True)
    with tempfile.TemporaryDirectory(prefix="hrtfeval-prediction-") as tmp:
        part = Path(tmp) / f"prediction{suffix}"
        if suffix == ".pt":
            _write_pt(part, data, PT_KEYS[signal], sampling_rate, pos, freqs)
        else:
            _write_sofa(part, data, _SOFA_CONVENTIONS[signal], sampling_rate, pos, freqs)
        plan.put(target, part.read_bytes())
    plan.commit()
    return path


def _write_pt(part: Path, data, key, sampling_rate, positions, frequencies) -> None:
    import torch

    dtype = np.complex64 if np.iscomplexobj(data) else np.float32
    payload: dict[str, Any] = {key: torch.from_numpy(np.ascontiguousarray(data, dtype=dtype))}
    if sampling_rate is not None:
        payload["sampling_rate"] = float(sampling_rate)
    payload["positions"] = torch.from_numpy(np.ascontiguousarray(positions))
    if frequencies is not None:
        payload["frequencies"] = torch.from_numpy(np.ascontiguousarray(frequencies))
    with open(part, "wb") as fh:
        torch.save(payload, fh)


def _write_sofa(part: Path, data, convention, sampling_rate, positions, frequencies) -> None:
    from ..synth import write_sofa

    # synth.write_sofa replaces the suffix by .sofa: write there, then move to the .part name.
    tmp = part.with_name(part.name + ".sofa")
    write_sofa(
        tmp,
        np.asarray(data, dtype=np.complex128 if np.iscomplexobj(data) else np.float64),
        positions,
        sampling_rate,
        convention=convention,
        frequencies=frequencies,
        title="hrtfeval prediction",
        database="hrtfeval prediction",
    )
    os.replace(tmp, part)
