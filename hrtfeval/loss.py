"""The differentiable scoring core: ``metric_values`` and ``hrtf_loss``.

This module implements the ``hrtf_loss`` contract of hrtfpykit (same signature, same numbers) and
exposes the unreduced per-vector values that it is built from, so that every table hrtfeval prints
and the scalar training loss come from one computation.

``torch`` is imported inside the functions: importing :mod:`hrtfeval` (and running
``hrtfeval --help``) never pays for it, and a missing torch gives an :class:`ImportError` with an
install hint at the first call.
"""

from __future__ import annotations

import math

from .constants import INPUT_SCALES, REDUCTIONS
from .constants import LOSS_METRICS as METRICS
from .validate import check_epsilon, check_option

__all__ = [
    "METRICS",
    "INPUT_SCALES",
    "REDUCTIONS",
    "hrtf_loss",
    "metric_values",
    "reduce_values",
    "check_epsilon",
    "check_option",
]


def require_torch(feature: str = "hrtf_loss"):
    """Import torch, or raise ImportError saying that ``feature`` needs it and how to install it."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised with torch hidden
        raise ImportError(
            f"{feature} needs PyTorch, which is not installed: "
            "install it with 'pip install torch' (see https://pytorch.org)"
        ) from exc
    return torch


def _torch():
    return require_torch("hrtf_loss")


def _complex_of(torch, dtype):
    return {torch.float64: torch.complex128, torch.float32: torch.complex64}.get(
        dtype, torch.complex64
    )


def _to_tensor(torch, value, like):
    """Convert a non-tensor to a tensor on ``like``'s device with ``like``'s floating dtype."""
    if isinstance(value, torch.Tensor):
        return value
    if like is None:
        return torch.as_tensor(value)
    if (like.is_floating_point() or like.is_complex()) and not hasattr(value, "dtype"):
        # Python numbers (nested lists) are read at like's precision directly: as_tensor alone
        # would read floats as the default dtype (float32) and lose digits of a float64 pair.
        try:
            return torch.as_tensor(value, dtype=like.dtype, device=like.device)
        except TypeError:  # complex numbers for a real like: keep them complex
            return torch.as_tensor(value, dtype=_complex_of(torch, like.dtype), device=like.device)
    out = torch.as_tensor(value, device=like.device)
    if like.is_floating_point():
        # A complex array stays complex (casting it to a real dtype would drop its imaginary part).
        dtype = _complex_of(torch, like.dtype) if out.is_complex() else like.dtype
        out = out.to(dtype)
    elif like.is_complex() and not out.is_complex():
        out = out.to(like.dtype)
    return out


def _given(value) -> str:
    """A short description of an argument for error messages: its type and a clipped repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _check_input(torch, name: str, value) -> None:
    """Reject what cannot be scored before torch sees it, naming the argument.

    A tensor must be dense (strided), hold data (not ``meta``) and not be quantized; anything
    else must be numbers: a number, a (nested) list or tuple of numbers, or a numeric array.
    """
    if isinstance(value, torch.Tensor):
        if value.is_meta:
            raise ValueError(f"{name} is a meta tensor, which holds no data to score")
        if value.layout != torch.strided:
            raise ValueError(
                f"{name} is a {value.layout} tensor; pass a dense tensor ({name}.to_dense())"
            )
        if value.is_quantized:
            raise ValueError(
                f"{name} is a quantized tensor ({value.dtype}); pass {name}.dequantize()"
            )
        return
    if value is None or isinstance(value, (str, bytes, bytearray, dict, set, frozenset)):
        raise TypeError(
            f"{name} must be a tensor or tensor-convertible numbers (a numpy array or nested "
            f"lists of numbers); got {_given(value)}"
        )
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(kind, str) and kind not in "biufc":  # numpy object, string, datetime arrays
        raise TypeError(
            f"{name} must hold numbers; got a numpy array of dtype {value.dtype} "
            f"(shape {getattr(value, 'shape', '?')})"
        )


def _as_tensor(torch, name: str, value, like):
    """:func:`_to_tensor` with torch's conversion errors replaced by one naming ``name``."""
    _check_input(torch, name, value)
    try:
        return _to_tensor(torch, value, like)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise TypeError(
            f"{name} cannot be converted to a tensor of numbers: got {_given(value)} (nested "
            "lists must be rectangular and hold only numbers; arrays must be numeric)"
        ) from None


def _prepare(prediction, target):
    """Validate and convert to tensors of one compute dtype; return (p, t, result dtype)."""
    torch = _torch()
    p_is_t = isinstance(prediction, torch.Tensor)
    t_is_t = isinstance(target, torch.Tensor)
    p = _as_tensor(torch, "prediction", prediction, target if t_is_t and not p_is_t else None)
    t = _as_tensor(torch, "target", target, p if p_is_t or not t_is_t else None)

    if p.device != t.device:
        raise ValueError(
            "prediction and target must be on the same device; "
            f"got prediction on {p.device} and target on {t.device}"
        )
    if p.dim() == 0 or t.dim() == 0:
        raise ValueError(
            "prediction and target must have at least one axis (the last axis is scored); "
            f"got shapes {tuple(p.shape)} and {tuple(t.shape)}"
        )
    if p.shape != t.shape:
        raise ValueError(
            "prediction and target must have the same shape (no broadcasting); "
            f"got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    if p.numel() == 0:
        raise ValueError(
            f"prediction and target are empty (shape {tuple(p.shape)}); nothing to score"
        )

    dtype = torch.promote_types(p.dtype, t.dtype)
    if not (dtype.is_floating_point or dtype.is_complex):
        dtype = torch.get_default_dtype()
    # Half precision: compute in single precision (epsilon=1e-12 underflows to 0 in float16
    # and 20*log10(0) is -inf), then hand the result back in the input's precision.
    if dtype in (torch.float16, torch.bfloat16):
        compute, result = torch.float32, dtype
    elif dtype == torch.complex32:
        compute, result = torch.complex64, torch.float16
    else:
        compute = dtype
        result = dtype.to_real() if dtype.is_complex else dtype
    return p.to(compute), t.to(compute), result


def metric_values(
    prediction,
    target,
    metric: str = "rmse",
    input_scale: str = "db",
    epsilon: float = 1e-12,
):
    """Per-vector metric values over the last axis, before any reduction.

    Parameters
    ----------
    prediction, target : torch.Tensor or tensor-convertible, shape ``(..., K)``
        Same shape, at least one axis; the last axis (``K`` samples or frequency bins) is scored.
        Numpy arrays and nested lists are converted with ``torch.as_tensor`` onto the device and
        floating dtype of the tensor argument. Integer and bool inputs become the default float
        dtype.
    metric : {"rmse", "mae", "lsd"}
        ``rmse``: ``sqrt(mean(|p - t|**2) + epsilon)``; ``mae``: ``mean(|p - t|)``
        (``|.|`` is the complex modulus for complex input); ``lsd``:
        ``sqrt(mean((P_dB - T_dB)**2) + epsilon)`` in dB.
    input_scale : {"db", "linear"}
        Only used by ``lsd``. ``"db"``: the inputs already are dB magnitudes. ``"linear"``: they
        are converted with ``20*log10(clamp(x, min=epsilon))``; complex values go through
        ``abs`` first, but real values are *clamped, not made absolute*: a negative linear value
        counts as ``epsilon`` (-240 dB at the default).
    epsilon : float
        Finite positive floor for the dB conversion and inside the square roots. Identical inputs
        give ``sqrt(epsilon)`` (1e-6 at the default) for rmse and lsd, not 0.

    Returns
    -------
    torch.Tensor
        Shape ``prediction.shape[:-1]`` (0-d for 1-D input), real, differentiable.

    Raises
    ------
    ValueError
        Unknown option; shapes differ; 0-d or empty input; different devices; epsilon not a
        finite positive number; complex input with ``metric="lsd", input_scale="db"``.
    ImportError
        PyTorch is not installed.
    """
    metric = check_option("metric", metric, METRICS)
    input_scale = check_option("input_scale", input_scale, INPUT_SCALES)
    eps = check_epsilon(epsilon)
    p, t, result_dtype = _prepare(prediction, target)
    torch = _torch()

    if metric == "lsd":
        if input_scale == "db":
            if p.is_complex():
                raise ValueError(
                    "complex input cannot be read as dB magnitudes (input_scale='db'); "
                    "pass input_scale='linear' for complex spectra"
                )
            p_db, t_db = p, t
        else:
            p_db, t_db = linear_to_db(torch, p, eps), linear_to_db(torch, t, eps)
        d = p_db - t_db
        values = torch.sqrt(torch.mean(d * d, dim=-1) + eps)
    else:
        d = p - t
        if metric == "rmse":
            sq = d.real * d.real + d.imag * d.imag if d.is_complex() else d * d
            values = torch.sqrt(torch.mean(sq, dim=-1) + eps)
        else:
            values = torch.mean(d.abs(), dim=-1)
    return values.to(result_dtype)


def linear_to_db(torch, x, eps: float):
    """``20*log10(clamp(x, min=eps))``, of ``|x|`` for complex ``x`` (the lsd's linear input)."""
    if x.is_complex():
        if x.dtype == torch.complex128 and eps * eps >= torch.finfo(torch.float64).tiny:
            # 20*log10(max(|x|, eps)) == 10*log10(max(|x|**2, eps**2)): torch's complex abs is
            # several times slower on the CPU than the two squares. |x|**2 overflows only above
            # 1.3e154; should it, take the modulus after all.
            # Squared as one contiguous (..., 2) array, then one sum into a contiguous result:
            # the same two products and one sum per value as x.real**2 + x.imag**2, in ~0.6
            # of the time (squaring the strided real and imaginary views is the slow part).
            squares = torch.view_as_real(x).square()
            power = squares[..., 0] + squares[..., 1]
            # power >= 0: without NaNs it holds an inf exactly when its largest value is inf
            # (one reduction; isinf + any costs ~10x more). A NaN makes amax NaN: look then.
            peak = float(power.detach().amax()) if power.numel() else 0.0
            overflow = bool(torch.isinf(power).any()) if math.isnan(peak) else peak == math.inf
            if not overflow:
                # In place on the temporary: the same operations, fewer passes over memory.
                return power.clamp_(min=eps * eps).log10_().mul_(10.0)
        x = x.abs()
    return 20.0 * torch.log10(torch.clamp(x, min=eps))


def reduce_values(values, reduction_method: str = "mean", epsilon: float = 1e-12):
    """Reduce metric values to one number: ``"mean"`` or ``"rms"`` (``sqrt(mean(v**2) + epsilon)``).

    A 0-d ``values`` (from 1-D inputs) is returned as it is: there is nothing left to reduce, so
    ``"rms"`` adds no ``epsilon`` there.
    """
    reduction_method = check_option("reduction_method", reduction_method, REDUCTIONS)
    eps = check_epsilon(epsilon)
    torch = _torch()
    values = _as_tensor(torch, "values", values, None)
    if not (values.is_floating_point() or values.is_complex()):
        values = values.to(torch.get_default_dtype())
    if values.dim() == 0:
        return values
    if values.numel() == 0:
        raise ValueError("no metric values to reduce (empty selection)")
    work = values.float() if values.dtype in (torch.float16, torch.bfloat16) else values
    if reduction_method == "mean":
        out = work.mean()
    else:
        out = torch.sqrt(torch.mean(work * work) + eps)
    return out.to(values.dtype)


def hrtf_loss(
    prediction,
    target,
    metric: str = "rmse",
    input_scale: str = "db",
    reduction_method: str = "mean",
    epsilon: float = 1e-12,
):
    """Scalar, differentiable loss between HRTF/HRIR predictions and targets.

    Same contract and numbers as ``hrtfpykit.datasets.torch.hrtf_loss``. The last axis is the
    acoustic axis being scored (HRIR samples, or frequency bins); :func:`metric_values` reduces
    it, then the remaining axes (batch, positions, ears, ...) are reduced with
    ``reduction_method``.

    Parameters
    ----------
    prediction, target : torch.Tensor or tensor-convertible, shape ``(..., K)``
        See :func:`metric_values`.
    metric : {"rmse", "mae", "lsd"}, default "rmse"
        Case-insensitive; surrounding spaces are ignored.
    input_scale : {"db", "linear"}, default "db"
        How ``lsd`` reads its inputs; ignored by ``rmse`` and ``mae``. With ``"linear"``, real
        values are clamped at ``epsilon`` (not made absolute) before ``20*log10``; complex values
        are replaced by their modulus first.
    reduction_method : {"mean", "rms"}, default "mean"
        ``"mean"`` averages the per-vector values; ``"rms"`` is ``sqrt(mean(v**2) + epsilon)``.
        For 1-D inputs the single per-vector value is the result and no reduction is applied.
    epsilon : float, default 1e-12
        Finite positive floor used by the dB conversion and inside square roots.

    Returns
    -------
    torch.Tensor
        0-d tensor in the promoted input dtype (the real dtype for complex input); supports
        ``.backward()``.

    Raises
    ------
    ImportError
        PyTorch is unavailable.
    ValueError
        An option is not supported, shapes differ, inputs are 0-d, epsilon is not finite and
        positive, or complex input is given with ``metric="lsd", input_scale="db"``.

    Notes
    -----
    Where the reference silently misbehaves, this implementation is stricter:

    * empty inputs (any axis of length 0) raise ValueError instead of returning NaN;
    * float16 / bfloat16 (and complex32) inputs are computed in float32 (complex64) internally,
      so ``epsilon`` does not underflow to 0 and give inf/NaN, and the result is returned in the
      input dtype;
    * prediction and target on different devices raise ValueError naming both devices.

    Examples
    --------
    >>> import torch
    >>> from hrtfeval import hrtf_loss
    >>> pred = torch.zeros(4, 2, 129, requires_grad=True)
    >>> loss = hrtf_loss(pred, torch.ones(4, 2, 129), metric="lsd", input_scale="db")
    >>> loss.backward()
    >>> round(float(loss), 6)
    1.0
    """
    check_option("reduction_method", reduction_method, REDUCTIONS)
    values = metric_values(prediction, target, metric, input_scale, epsilon)
    return reduce_values(values, reduction_method, epsilon)
