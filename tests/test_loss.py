"""Tests for ``hrtfeval.loss``: ``hrtf_loss``, ``metric_values`` and ``reduce_values``.

Expected numbers come from two sources that do not share code with the implementation:

* a plain numpy reference (``ref_*`` below), written from the hrtfpykit ``hrtf_loss`` contract
  and ``shared/spec/hrtf_loss-notes.md``, compared over a grid of shapes, metrics, scales,
  reductions, epsilons and dtypes;
* small cases worked out by hand, written as literals.

Each group also aims to fail on a specific plausible bug (sum instead of mean, a dropped epsilon,
``abs`` instead of ``clamp`` for real linear input, natural log, a missing square root, "rms"
applied to 1-D input, ...); the comments name the bug a case is there to catch.
"""

from __future__ import annotations

import itertools
import math
import re
import sys

import numpy as np
import pytest
import torch

from hrtfeval import hrtf_loss, metric_values, reduce_values

METRICS = ("rmse", "mae", "lsd")
INPUT_SCALES = ("db", "linear")
REDUCTIONS = ("mean", "rms")
EPSILONS = (1e-12, 1e-6, 1e-2)
SHAPES = ((7,), (3, 5), (2, 3, 4), (2, 2, 3, 6))
DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)

# float64 results agree with the float64 numpy reference to rounding; float32 ones are computed
# in single precision (means, log10), so they get a looser, still bug-revealing, tolerance.
RTOL = {
    torch.float32: 1e-4,
    torch.complex64: 1e-4,
    torch.float64: 1e-10,
    torch.complex128: 1e-10,
}

cuda_only = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def needs_cuda(test):
    for mark in cuda_only:
        test = mark(test)
    return test


# --------------------------------------------------------------------------------------------
# Independent numpy reference
# --------------------------------------------------------------------------------------------


def ref_to_db(x: np.ndarray, eps: float) -> np.ndarray:
    """Linear magnitude -> dB: complex values become their modulus, real values are clamped."""
    magnitude = np.abs(x) if np.iscomplexobj(x) else x
    return 20.0 * np.log10(np.maximum(magnitude, eps))


def ref_metric_values(p, t, metric: str, input_scale: str, eps: float) -> np.ndarray:
    """Per-vector values over the last axis (shape ``p.shape[:-1]``)."""
    p = np.asarray(p)
    t = np.asarray(t)
    if metric == "rmse":
        return np.sqrt(np.mean(np.abs(p - t) ** 2, axis=-1) + eps)
    if metric == "mae":
        return np.mean(np.abs(p - t), axis=-1)
    if input_scale == "linear":
        p, t = ref_to_db(p, eps), ref_to_db(t, eps)
    return np.sqrt(np.mean((p - t) ** 2, axis=-1) + eps)


def ref_reduce(values, reduction: str, eps: float) -> float:
    """Reduce per-vector values; a single value (1-D input) is the result as it is."""
    values = np.asarray(values)
    if values.ndim == 0:
        return float(values)
    if reduction == "mean":
        return float(np.mean(values))
    return float(np.sqrt(np.mean(values**2) + eps))


def ref_loss(p, t, metric: str, input_scale: str, reduction: str, eps: float) -> float:
    return ref_reduce(ref_metric_values(p, t, metric, input_scale, eps), reduction, eps)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """The exact values a tensor holds, widened to float64/complex128 for the reference."""
    x = x.detach().cpu()
    return x.to(torch.complex128 if x.is_complex() else torch.float64).numpy()


def make_pair(shape, dtype, input_scale: str, seed: int = 0):
    """Random prediction/target of ``shape`` and ``dtype``.

    Linear magnitudes are mostly positive, with about one value in ten negative or near zero so
    the clamp at epsilon is exercised; dB values span a realistic range including negatives.
    """
    rng = np.random.default_rng(seed)
    low, high = (-0.2, 2.0) if input_scale == "linear" else (-40.0, 10.0)

    def draw():
        x = rng.uniform(low, high, size=shape)
        if dtype.is_complex:
            x = x + 1j * rng.uniform(low, high, size=shape)
        return torch.as_tensor(x).to(dtype)

    return draw(), draw()


def grid_cases() -> list:
    cases = []
    for shape, metric, scale, reduction, eps, dtype in itertools.product(
        SHAPES, METRICS, INPUT_SCALES, REDUCTIONS, EPSILONS, DTYPES
    ):
        if metric == "lsd" and scale == "db" and dtype.is_complex:
            continue  # a ValueError by contract, tested separately
        cases.append(
            pytest.param(
                shape,
                metric,
                scale,
                reduction,
                eps,
                dtype,
                id=f"{len(shape)}d-{metric}-{scale}-{reduction}-{eps:g}-{str(dtype)[6:]}",
            )
        )
    return cases


# --------------------------------------------------------------------------------------------
# Reference grid
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "metric", "scale", "reduction", "eps", "dtype"), grid_cases())
def test_matches_numpy_reference(shape, metric, scale, reduction, eps, dtype):
    prediction, target = make_pair(shape, dtype, scale, seed=len(shape))
    p_ref, t_ref = to_numpy(prediction), to_numpy(target)
    rtol = RTOL[dtype]

    values = metric_values(prediction, target, metric=metric, input_scale=scale, epsilon=eps)
    expected_values = ref_metric_values(p_ref, t_ref, metric, scale, eps)
    assert tuple(values.shape) == shape[:-1]
    np.testing.assert_allclose(to_numpy(values), expected_values, rtol=rtol, atol=0)

    loss = hrtf_loss(
        prediction,
        target,
        metric=metric,
        input_scale=scale,
        reduction_method=reduction,
        epsilon=eps,
    )
    assert loss.dim() == 0
    assert loss.dtype == dtype.to_real()
    expected = ref_loss(p_ref, t_ref, metric, scale, reduction, eps)
    np.testing.assert_allclose(float(loss), expected, rtol=rtol, atol=0)

    # hrtf_loss is reduce_values(metric_values(...)): the tables and the loss cannot disagree.
    reduced = reduce_values(values, reduction, eps)
    np.testing.assert_allclose(float(reduced), float(loss), rtol=rtol, atol=0)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("convert", [np.asarray, lambda x: x.tolist()], ids=["numpy", "list"])
def test_numpy_and_list_inputs_match_tensors(metric, convert):
    prediction, target = make_pair((2, 3, 8), torch.float64, "linear", seed=3)
    expected = hrtf_loss(prediction, target, metric=metric, input_scale="linear")
    p_plain, t_plain = convert(prediction.numpy()), convert(target.numpy())
    # Either argument may be the non-tensor one; it takes the tensor argument's float dtype.
    for p, t in ((p_plain, target), (prediction, t_plain)):
        loss = hrtf_loss(p, t, metric=metric, input_scale="linear")
        assert loss.dtype == torch.float64
        assert float(loss) == pytest.approx(float(expected), rel=1e-12)


def test_two_numpy_float64_arrays_give_float64():
    prediction, target = make_pair((4, 6), torch.float64, "db", seed=4)
    loss = hrtf_loss(prediction.numpy(), target.numpy(), metric="lsd", reduction_method="rms")
    assert loss.dtype == torch.float64
    expected = ref_loss(prediction.numpy(), target.numpy(), "lsd", "db", "rms", 1e-12)
    assert float(loss) == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------

EPS = 1e-12
# 20*log10(1e-12) = -240 dB: where a real linear value <= epsilon lands after the clamp.
FLOOR_DB = -240.0

HAND_CASES = [
    # p - t = [0, 1, 2]: mean square 5/3, mean absolute 1.
    ("rmse-123", [1, 2, 3], [1, 1, 1], {"metric": "rmse"}, math.sqrt(5 / 3 + EPS)),
    ("mae-123", [1, 2, 3], [1, 1, 1], {"metric": "mae"}, 1.0),
    ("lsd-db-123", [1, 2, 3], [1, 1, 1], {"metric": "lsd"}, math.sqrt(5 / 3 + EPS)),
    # 1.2909944487358056 is sqrt(5/3): a literal guard against a wrong formula in both places.
    ("rmse-literal", [1, 2, 3], [1, 1, 1], {}, 1.2909944487358056),
    # rmse/mae ignore input_scale: negative values are not clamped there.
    (
        "rmse-ignores-linear",
        [-1, 2, 3],
        [1, 1, 1],
        {"metric": "rmse", "input_scale": "linear"},
        math.sqrt(3 + EPS),
    ),
    (
        "mae-ignores-linear",
        [-1, 2, 3],
        [1, 1, 1],
        {"metric": "mae", "input_scale": "linear"},
        5 / 3,
    ),
    # Linear 10 vs 1 is 20 dB apart (natural log would give 46.05, 10*log10 would give 10).
    (
        "lsd-linear-20db",
        [10, 1],
        [1, 1],
        {"metric": "lsd", "input_scale": "linear"},
        math.sqrt(20.0**2 / 2 + EPS),
    ),
    # 100 -> 40 dB, 1e-3 -> -60 dB.
    (
        "lsd-linear-40-60",
        [100, 1e-3],
        [1, 1],
        {"metric": "lsd", "input_scale": "linear"},
        math.sqrt((40.0**2 + 60.0**2) / 2 + EPS),
    ),
    # A negative real linear value is clamped to epsilon (-240 dB), not made absolute (0 dB).
    (
        "lsd-linear-negative-clamped",
        [-1, 1],
        [1, 1],
        {"metric": "lsd", "input_scale": "linear"},
        math.sqrt(FLOOR_DB**2 / 2 + EPS),
    ),
    (
        "lsd-linear-negative-literal",
        [-1, 1],
        [1, 1],
        {"metric": "lsd", "input_scale": "linear"},
        169.7056274847714,
    ),
    (
        "lsd-linear-zero-clamped",
        [0, 1],
        [1, 1],
        {"metric": "lsd", "input_scale": "linear"},
        math.sqrt(FLOOR_DB**2 / 2 + EPS),
    ),
    # With epsilon = 1e-3 the floor is 20*log10(1e-3) = -60 dB and the root adds 1e-3.
    (
        "lsd-linear-floor-eps-1e-3",
        [-5, 0, 1],
        [1, 1, 1],
        {"metric": "lsd", "input_scale": "linear", "epsilon": 1e-3},
        math.sqrt((60.0**2 + 60.0**2) / 3 + 1e-3),
    ),
    # Complex: |3+4j - 0| = 5, so mean |d|^2 = 12.5 and mean |d| = 2.5 (real part alone: 3).
    ("rmse-complex", [3 + 4j, 1], [0, 1], {"metric": "rmse"}, math.sqrt(12.5 + EPS)),
    ("mae-complex", [3 + 4j, 1], [0, 1], {"metric": "mae"}, 2.5),
    # Complex linear goes through abs: |3+4j| = 5 vs 0.5 is 20 dB; |-1| = |1j| = 1 is 0 dB (a
    # complex -1 is *not* clamped, unlike a real one).
    (
        "lsd-linear-complex",
        [3 + 4j, 1j],
        [0.5, -1],
        {"metric": "lsd", "input_scale": "linear"},
        math.sqrt(20.0**2 / 2 + EPS),
    ),
    # Complex moduli past 1.3e154 overflow when squared (the fast |x|**2 path): 1e200 vs 1e199
    # is still 20 dB, and 3+4j vs 5 is 0 dB.
    (
        "lsd-linear-complex-huge",
        [1e200 + 0j, 3 + 4j],
        [1e199 + 0j, 5 + 0j],
        {"metric": "lsd", "input_scale": "linear"},
        math.sqrt(20.0**2 / 2 + EPS),
    ),
    # An epsilon whose square underflows: the floor is still 20*log10(1e-200) = -4000 dB.
    (
        "lsd-linear-complex-tiny-epsilon",
        [0j, 1 + 0j],
        [1 + 0j, 1 + 0j],
        {"metric": "lsd", "input_scale": "linear", "epsilon": 1e-200},
        math.sqrt(4000.0**2 / 2 + 1e-200),
    ),
    # 1-D input: the single value is the result; "rms" must not add a second epsilon or square.
    (
        "rmse-1d-rms-unreduced",
        [1, 2, 3],
        [1, 1, 1],
        {"reduction_method": "rms", "epsilon": 1e-2},
        math.sqrt(5 / 3 + 1e-2),
    ),
    (
        "mae-1d-rms-unreduced",
        [1, 2, 3],
        [1, 1, 1],
        {"metric": "mae", "reduction_method": "rms", "epsilon": 1e-2},
        1.0,
    ),
    # 2-D: per-vector rmse values a = sqrt(5/3 + e) and b = sqrt(0 + e) = 0.1 with e = 1e-2.
    (
        "rmse-2d-mean",
        [[1, 2, 3], [1, 1, 1]],
        [[1, 1, 1], [1, 1, 1]],
        {"epsilon": 1e-2},
        (math.sqrt(5 / 3 + 1e-2) + 0.1) / 2,
    ),
    (
        "rmse-2d-rms",
        [[1, 2, 3], [1, 1, 1]],
        [[1, 1, 1], [1, 1, 1]],
        {"reduction_method": "rms", "epsilon": 1e-2},
        math.sqrt(((5 / 3 + 1e-2) + 1e-2) / 2 + 1e-2),
    ),
    # 2-D mae per vector: [1, 0]; mean 0.5; rms sqrt((1 + 0)/2 + e).
    ("mae-2d-mean", [[1, 2, 3], [4, 4, 4]], [[1, 1, 1], [4, 4, 4]], {"metric": "mae"}, 0.5),
    (
        "mae-2d-rms",
        [[1, 2, 3], [4, 4, 4]],
        [[1, 1, 1], [4, 4, 4]],
        {"metric": "mae", "reduction_method": "rms", "epsilon": 1e-2},
        math.sqrt(0.5 + 1e-2),
    ),
    # The docstring example: zeros vs ones in dB, every vector at 1 dB.
    (
        "docstring-example",
        np.zeros((4, 2, 129)),
        np.ones((4, 2, 129)),
        {"metric": "lsd"},
        math.sqrt(1 + EPS),
    ),
]


@pytest.mark.parametrize(
    ("prediction", "target", "kwargs", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in HAND_CASES],
)
def test_hand_computed(prediction, target, kwargs, expected):
    dtype = torch.complex128 if np.iscomplexobj(prediction) else torch.float64
    p = torch.as_tensor(np.asarray(prediction)).to(dtype)
    t = torch.as_tensor(np.asarray(target)).to(dtype)
    loss = hrtf_loss(p, t, **kwargs)
    assert loss.dtype == torch.float64
    assert float(loss) == pytest.approx(expected, rel=1e-12, abs=0)


def test_metric_values_hand_computed():
    p = torch.tensor([[-1.0, 1.0], [10.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    t = torch.ones(3, 2, dtype=torch.float64)
    values = metric_values(p, t, metric="lsd", input_scale="linear")
    expected = [math.sqrt(FLOOR_DB**2 / 2 + EPS), math.sqrt(200 + EPS), 1e-6]
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("metric", ["rmse", "lsd"])
@pytest.mark.parametrize("input_scale", INPUT_SCALES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 2, 3)])
def test_identical_inputs_give_sqrt_epsilon(metric, input_scale, shape):
    # Includes negative and zero values: for lsd-linear they clamp to the same floor.
    x = torch.linspace(-1.0, 3.0, math.prod(shape), dtype=torch.float64).reshape(shape)
    loss = hrtf_loss(x, x.clone(), metric=metric, input_scale=input_scale)
    assert float(loss) == pytest.approx(1e-6, rel=1e-9)
    values = metric_values(x, x.clone(), metric=metric, input_scale=input_scale)
    np.testing.assert_allclose(values.numpy(), 1e-6, rtol=1e-9)


def test_identical_inputs_mae_is_zero():
    x = torch.randn(3, 4, dtype=torch.float64)
    assert float(hrtf_loss(x, x.clone(), metric="mae")) == 0.0


@pytest.mark.parametrize("epsilon", [1e-12, 1e-4])
def test_identical_inputs_rms_reduction_adds_epsilon_once_more(epsilon):
    x = torch.ones(2, 3, 4, dtype=torch.float64)
    # Each value is sqrt(e); rms gives sqrt(mean(e) + e) = sqrt(2e). 1-D input stays at sqrt(e).
    loss = hrtf_loss(x, x.clone(), reduction_method="rms", epsilon=epsilon)
    assert float(loss) == pytest.approx(math.sqrt(2 * epsilon), rel=1e-9)
    loss_1d = hrtf_loss(x[0, 0], x[0, 0].clone(), reduction_method="rms", epsilon=epsilon)
    assert float(loss_1d) == pytest.approx(math.sqrt(epsilon), rel=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_rmse_and_mae_ignore_input_scale(metric):
    prediction, target = make_pair((3, 6), torch.float64, "linear", seed=5)
    db = hrtf_loss(prediction, target, metric=metric, input_scale="db")
    linear = hrtf_loss(prediction, target, metric=metric, input_scale="linear")
    if metric == "lsd":
        assert float(db) != pytest.approx(float(linear), rel=1e-3)
    else:
        assert float(db) == float(linear)


def test_reduce_values_hand_computed():
    values = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert float(reduce_values(values, "mean")) == 3.5
    assert float(reduce_values(values, "rms", epsilon=1e-2)) == pytest.approx(
        math.sqrt(12.5 + 1e-2), rel=1e-12
    )
    grid = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    assert float(reduce_values(grid, "mean")) == 2.5
    assert float(reduce_values(grid, "rms", epsilon=1e-2)) == pytest.approx(
        math.sqrt(7.5 + 1e-2), rel=1e-12
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reduce_values_returns_0d_input_unchanged(reduction):
    value = torch.tensor(0.25, dtype=torch.float64)
    out = reduce_values(value, reduction, epsilon=1e-2)
    assert out.dim() == 0
    assert float(out) == 0.25


@pytest.mark.parametrize(
    ("metric", "scale", "reduction"),
    [("rmse", "db", "mean"), ("mae", "db", "rms"), ("lsd", "db", "rms"), ("lsd", "linear", "mean")],
)
def test_options_are_case_insensitive_and_stripped(metric, scale, reduction):
    prediction, target = make_pair((3, 5), torch.float64, "linear", seed=6)
    expected = hrtf_loss(prediction, target, metric, scale, reduction)
    for variant in (str.upper, str.title, lambda s: f"  {s.upper()}\t"):
        loss = hrtf_loss(
            prediction,
            target,
            metric=variant(metric),
            input_scale=variant(scale),
            reduction_method=variant(reduction),
        )
        assert float(loss) == float(expected)
    values = metric_values(prediction, target, f" {metric.upper()} ", f" {scale.title()} ")
    assert torch.equal(values, metric_values(prediction, target, metric, scale))


@pytest.mark.parametrize(
    ("epsilon", "value"),
    [("1e-3", 1e-3), (" 0.01 ", 1e-2), (1, 1.0), (np.float32(1e-3), float(np.float32(1e-3)))],
)
def test_epsilon_is_converted_with_float(epsilon, value):
    x = torch.ones(4, dtype=torch.float64)
    loss = hrtf_loss(x, x.clone(), epsilon=epsilon)
    assert float(loss) == pytest.approx(math.sqrt(value), rel=1e-12)


def test_default_arguments():
    # Defaults: rmse, db, mean, epsilon 1e-12.
    p = torch.tensor([[0.0, 3.0], [0.0, 0.0]], dtype=torch.float64)
    t = torch.zeros(2, 2, dtype=torch.float64)
    expected = (math.sqrt(4.5 + 1e-12) + math.sqrt(1e-12)) / 2
    assert float(hrtf_loss(p, t)) == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------


def gradcheck_inputs(metric: str, input_scale: str, shape, dtype=torch.float64):
    """Float64 inputs away from the points where the loss is not differentiable.

    lsd-linear: magnitudes in [0.5, 2], far above the clamp at epsilon; mae: |p - t| >= 0.3,
    away from the kink of |.| at 0.
    """
    gen = torch.Generator().manual_seed(7)
    real = dtype.to_real()

    def uniform(low, high):
        return low + (high - low) * torch.rand(shape, generator=gen, dtype=real)

    if metric == "lsd" and input_scale == "linear":
        p, t = uniform(0.5, 2.0), uniform(0.5, 2.0)
        if dtype.is_complex:
            # Rotate by random phases: the magnitudes stay in [0.5, 2].
            p = p * torch.exp(1j * uniform(0.0, 6.0))
            t = t * torch.exp(1j * uniform(0.0, 6.0))
    else:
        p = uniform(-3.0, 3.0)
        sign = torch.where(torch.rand(shape, generator=gen, dtype=real) < 0.5, -1.0, 1.0)
        t = p + sign * uniform(0.3, 1.0)
        if dtype.is_complex:
            p = p + 1j * uniform(-3.0, 3.0)
            t = t + 1j * uniform(-3.0, 3.0)
    return p.to(dtype).requires_grad_(), t.to(dtype).requires_grad_()


GRAD_CASES = [("rmse", "db"), ("mae", "db"), ("lsd", "db"), ("lsd", "linear")]


@pytest.mark.parametrize(("metric", "scale"), GRAD_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6,), (2, 3, 5)])
def test_gradcheck_float64(metric, scale, reduction, shape):
    p, t = gradcheck_inputs(metric, scale, shape)

    def loss_fn(prediction, target):
        return hrtf_loss(prediction, target, metric, scale, reduction, epsilon=1e-6)

    assert torch.autograd.gradcheck(loss_fn, (p, t), eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize(("metric", "scale"), [("rmse", "db"), ("mae", "db"), ("lsd", "linear")])
def test_gradcheck_complex128(metric, scale):
    p, t = gradcheck_inputs(metric, scale, (2, 4), dtype=torch.complex128)

    def loss_fn(prediction, target):
        return hrtf_loss(prediction, target, metric, scale, "rms", epsilon=1e-6)

    assert torch.autograd.gradcheck(loss_fn, (p, t), eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize(("metric", "scale"), GRAD_CASES)
@pytest.mark.parametrize(
    "as_target",
    [lambda t: t.numpy(), lambda t: t.tolist(), lambda t: t],
    ids=["numpy-target", "list-target", "tensor-target"],
)
def test_gradient_flows_to_prediction(metric, scale, as_target):
    p, t = gradcheck_inputs(metric, scale, (3, 8), dtype=torch.float32)
    target = as_target(t.detach())
    weight = torch.tensor(1.5, requires_grad=True)
    # A non-leaf prediction (as a model output is): the gradient must reach the parameter too.
    prediction = p.detach() * weight
    prediction.retain_grad()
    loss = hrtf_loss(prediction, target, metric=metric, input_scale=scale)
    assert loss.requires_grad
    loss.backward()
    for grad in (prediction.grad, weight.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_rmse_gradient_is_analytic():
    # d/dp sqrt(mean((p - t)^2) + e) = (p - t) / (K * loss), here with a numpy target.
    p = torch.tensor([1.0, 2.0, 3.0, -1.0], dtype=torch.float64, requires_grad=True)
    t = np.array([0.5, 2.5, 1.0, 0.0])
    loss = hrtf_loss(p, t)
    loss.backward()
    expected = (p.detach().numpy() - t) / (4 * float(loss.detach()))
    np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-12)


def test_lsd_linear_gradient_is_analytic():
    # d/dp of sqrt(mean(D^2) + e), D = 20 log10 p - 20 log10 t, is D * 20 / (p ln 10) / (K loss).
    p = torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 1.0, 4.0], dtype=torch.float64)
    loss = hrtf_loss(p, t, metric="lsd", input_scale="linear")
    loss.backward()
    p_np, t_np = p.detach().numpy(), t.numpy()
    diff_db = 20 * np.log10(p_np) - 20 * np.log10(t_np)
    expected = diff_db * 20 / (p_np * np.log(10)) / (3 * float(loss.detach()))
    np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _ok_pair():
    return torch.ones(2, 3), torch.zeros(2, 3)


@pytest.mark.parametrize("bad", ["rsme", "l2", "", "ls d", None, 1])
def test_unknown_metric(bad):
    p, t = _ok_pair()
    with pytest.raises(ValueError, match=re.escape(repr(bad))) as info:
        hrtf_loss(p, t, metric=bad)
    # The message lists what is allowed.
    assert all(name in str(info.value) for name in METRICS)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        metric_values(p, t, metric=bad)


@pytest.mark.parametrize("bad", ["log", "decibel", "linear-db", None])
def test_unknown_input_scale(bad):
    p, t = _ok_pair()
    # Checked for every metric, even those that do not use input_scale.
    for metric in METRICS:
        with pytest.raises(ValueError, match=re.escape(repr(bad))) as info:
            hrtf_loss(p, t, metric=metric, input_scale=bad)
        assert all(name in str(info.value) for name in INPUT_SCALES)


@pytest.mark.parametrize("bad", ["sum", "median", "none", None])
def test_unknown_reduction(bad):
    p, t = _ok_pair()
    with pytest.raises(ValueError, match=re.escape(repr(bad))) as info:
        hrtf_loss(p, t, reduction_method=bad)
    assert all(name in str(info.value) for name in REDUCTIONS)
    # Also for 1-D inputs, where the reduction is not applied.
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        hrtf_loss(p[0], t[0], reduction_method=bad)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        reduce_values(torch.ones(3), bad)


@pytest.mark.parametrize(
    "bad",
    [
        True,
        False,
        "abc",
        "",
        None,
        [1e-3],
        float("nan"),
        float("inf"),
        -float("inf"),
        "nan",
        "inf",
        0,
        0.0,
        -1e-3,
        "-1e-3",
        1j,
    ],
    ids=repr,
)
def test_bad_epsilon(bad):
    p, t = _ok_pair()
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        hrtf_loss(p, t, epsilon=bad)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        metric_values(p, t, epsilon=bad)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        reduce_values(torch.ones(3), epsilon=bad)


@pytest.mark.parametrize(
    ("p_shape", "t_shape"),
    [
        ((2, 3), (3, 2)),
        ((3,), (4,)),
        ((2, 3), (1, 3)),  # broadcastable, still rejected
        ((3,), (2, 3)),  # broadcastable, still rejected
        ((2, 1), (2, 4)),  # broadcastable, still rejected
    ],
)
def test_shape_mismatch(p_shape, t_shape):
    p, t = torch.ones(p_shape), torch.zeros(t_shape)
    for a, b in ((p, t), (t, p)):
        with pytest.raises(ValueError) as info:
            hrtf_loss(a, b)
        message = str(info.value)
        assert str(tuple(a.shape)) in message and str(tuple(b.shape)) in message
    with pytest.raises(ValueError, match="shape"):
        hrtf_loss(p.numpy(), t.tolist())


@pytest.mark.parametrize(
    ("prediction", "target"),
    [
        (torch.tensor(1.0), torch.tensor(2.0)),
        (1.0, 2.0),
        (np.float64(1.0), np.float64(1.0)),
        (torch.tensor(1.0), torch.ones(1)),
        (torch.ones(1), torch.tensor(1.0)),
    ],
    ids=["tensors", "floats", "numpy-scalars", "0d-vs-1d", "1d-vs-0d"],
)
def test_zero_dim_inputs(prediction, target):
    with pytest.raises(ValueError, match=re.escape("()")):
        hrtf_loss(prediction, target)
    with pytest.raises(ValueError, match=re.escape("()")):
        metric_values(prediction, target)


@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3), (2, 0, 4)])
@pytest.mark.parametrize("metric", METRICS)
def test_empty_inputs(shape, metric):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        hrtf_loss(torch.ones(shape), torch.ones(shape), metric=metric)


def test_reduce_values_rejects_empty():
    with pytest.raises(ValueError):
        reduce_values(torch.ones(0))


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_complex_lsd_db_is_rejected(dtype):
    p, t = make_pair((2, 4), dtype, "linear")
    with pytest.raises(ValueError, match="complex") as info:
        hrtf_loss(p, t, metric="lsd", input_scale="db")
    assert "linear" in str(info.value)  # says what works instead
    # Also when only one side is complex.
    with pytest.raises(ValueError, match="complex"):
        hrtf_loss(p, t.real.contiguous(), metric=" LSD ", input_scale="DB")


@pytest.mark.parametrize("function", [hrtf_loss, metric_values], ids=lambda f: f.__name__)
def test_missing_torch_gives_install_hint(monkeypatch, function):
    # A None entry in sys.modules makes `import torch` raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="pip install torch"):
        function([1.0, 2.0], [1.0, 1.0])


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------


@pytest.fixture
def default_float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
@pytest.mark.parametrize("metric", METRICS)
def test_integer_and_bool_inputs_use_default_float_dtype(dtype, metric):
    p = torch.tensor([[1, 0, 1], [1, 1, 0]]).to(dtype)
    t = torch.tensor([[0, 0, 1], [1, 1, 1]]).to(dtype)
    loss = hrtf_loss(p, t, metric=metric, input_scale="linear")
    assert loss.dtype == torch.get_default_dtype()
    expected = ref_loss(p.double().numpy(), t.double().numpy(), metric, "linear", "mean", 1e-12)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert metric_values(p, t, metric=metric).dtype == torch.get_default_dtype()


@pytest.mark.usefixtures("default_float64")
def test_integer_inputs_follow_a_changed_default_dtype():
    p = torch.tensor([1, 2, 3])
    loss = hrtf_loss(p, [1, 1, 1])
    assert loss.dtype == torch.float64
    assert float(loss) == pytest.approx(math.sqrt(5 / 3 + 1e-12), rel=1e-12)


def test_int_lists_use_default_float_dtype():
    loss = hrtf_loss([[1, 2, 3]], [[1, 1, 1]], metric="mae")
    assert loss.dtype == torch.get_default_dtype()
    assert float(loss) == 1.0


@pytest.mark.parametrize(
    ("p_dtype", "t_dtype", "expected"),
    [
        (torch.float64, torch.float64, torch.float64),
        (torch.float32, torch.float32, torch.float32),
        (torch.float32, torch.float64, torch.float64),  # promoted
        (torch.int64, torch.float64, torch.float64),
        (torch.complex128, torch.complex128, torch.float64),
        (torch.complex64, torch.complex64, torch.float32),
        (torch.complex64, torch.float64, torch.float64),  # promoted to complex128
    ],
)
def test_result_dtype_is_promoted_real_dtype(p_dtype, t_dtype, expected):
    p = torch.arange(1, 7).reshape(2, 3).to(p_dtype)
    t = torch.ones(2, 3).to(t_dtype)
    for metric, scale in (("rmse", "db"), ("mae", "db"), ("lsd", "linear")):
        assert hrtf_loss(p, t, metric, scale).dtype == expected
        assert metric_values(p, t, metric, scale).dtype == expected


@pytest.mark.parametrize("metric", METRICS)
def test_float32_tensor_with_float64_numpy_stays_float32(metric):
    prediction, target = make_pair((3, 7), torch.float32, "linear", seed=8)
    expected = float(hrtf_loss(prediction, target, metric, "linear"))
    target64 = target.double().numpy()
    for p, t in ((prediction, target64), (target64, prediction)):
        loss = hrtf_loss(p, t, metric, "linear")
        assert loss.dtype == torch.float32
    assert float(hrtf_loss(prediction, target64, metric, "linear")) == pytest.approx(
        expected, rel=1e-6
    )


def test_float32_tensor_with_complex_numpy_keeps_imaginary_part():
    prediction = torch.zeros(2, 2, dtype=torch.float32)
    target = np.array([[3 + 4j, 0], [0, 0]], dtype=np.complex128)
    loss = hrtf_loss(prediction, target, metric="mae")
    assert loss.dtype == torch.float32
    # Per-vector mae: [2.5, 0] -> mean 1.25 (dropping the imaginary part would give 0.75).
    assert float(loss) == pytest.approx(1.25, rel=1e-6)


def test_python_numbers_are_read_at_the_tensor_precision():
    # 0.1 read as float32 first would be 0.10000000149..., visible in a float64 result.
    target = torch.zeros(3, dtype=torch.float64)
    loss = hrtf_loss([0.1, 0.2, 0.3], target, metric="mae")
    assert loss.dtype == torch.float64
    assert float(loss) == pytest.approx(0.2, rel=1e-15)
    # Complex numbers in a list next to a real float64 tensor keep their imaginary part...
    loss = hrtf_loss(torch.zeros(2, dtype=torch.float64), [0.1 + 0.1j, 0], metric="mae")
    assert loss.dtype == torch.float64
    assert float(loss) == pytest.approx(math.hypot(0.1, 0.1) / 2, rel=1e-15)
    # ...and real numbers next to a complex128 tensor keep their digits.
    loss = hrtf_loss([0.1, 0.3], torch.zeros(2, dtype=torch.complex128), metric="mae")
    assert loss.dtype == torch.float64
    assert float(loss) == pytest.approx(0.2, rel=1e-15)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(("metric", "scale"), GRAD_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_half_precision(dtype, metric, scale, reduction):
    prediction, target = make_pair((2, 3, 16), torch.float32, scale, seed=9)
    prediction, target = prediction.to(dtype), target.to(dtype)
    loss = hrtf_loss(prediction, target, metric, scale, reduction)
    assert loss.dtype == dtype
    assert torch.isfinite(loss)
    expected = ref_loss(to_numpy(prediction), to_numpy(target), metric, scale, reduction, 1e-12)
    assert float(loss) == pytest.approx(expected, rel=2e-2)
    assert metric_values(prediction, target, metric, scale).dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(("metric", "scale"), [("rmse", "db"), ("lsd", "db"), ("lsd", "linear")])
def test_half_precision_identical_inputs_are_finite(dtype, metric, scale):
    # In float16, epsilon = 1e-12 underflows to 0: computed in half precision, the clamp would
    # give log10(0) = -inf (and -inf - -inf = nan), and sqrt(0 + eps) would be 0, not 1e-6.
    x = torch.tensor([[-1.0, 0.0, 0.5, 2.0], [1.0, 1.0, 0.0, -3.0]]).to(dtype)
    loss = hrtf_loss(x, x.clone(), metric, scale)
    assert loss.dtype == dtype
    assert torch.isfinite(loss)
    assert float(loss) == pytest.approx(1e-6, rel=0.1)


def test_half_precision_gradient():
    p = torch.tensor([[0.5, 1.0, 2.0]], dtype=torch.float16, requires_grad=True)
    loss = hrtf_loss(p, np.ones((1, 3)), metric="lsd", input_scale="linear")
    loss.backward()
    assert p.grad is not None and p.grad.dtype == torch.float16
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------------
# CUDA (skipped without a device)
# --------------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64])
@pytest.mark.parametrize(("metric", "scale"), GRAD_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cuda_matches_cpu(dtype, metric, scale, reduction):
    if dtype.is_complex and (metric, scale) == ("lsd", "db"):
        pytest.skip("complex dB input is a ValueError")
    prediction, target = make_pair((2, 3, 33), dtype, scale, seed=10)
    cpu = hrtf_loss(prediction, target, metric, scale, reduction)
    gpu = hrtf_loss(prediction.cuda(), target.cuda(), metric, scale, reduction)
    assert gpu.device.type == "cuda"
    assert gpu.dtype == cpu.dtype
    assert float(gpu) == pytest.approx(float(cpu), rel=1e-5)


@needs_cuda
def test_cuda_numpy_target_follows_prediction_device_and_gradient():
    prediction = torch.rand(2, 8, device="cuda", requires_grad=True)
    target = np.random.default_rng(11).uniform(0.5, 2.0, size=(2, 8))
    loss = hrtf_loss(prediction, target, metric="lsd", input_scale="linear")
    assert loss.device.type == "cuda" and loss.dtype == torch.float32
    loss.backward()
    assert prediction.grad is not None and torch.isfinite(prediction.grad).all()
    expected = ref_loss(
        to_numpy(prediction), target.astype(np.float32), "lsd", "linear", "mean", 1e-12
    )
    assert float(loss) == pytest.approx(expected, rel=1e-4)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_half_precision_identical_inputs_are_finite(dtype):
    x = torch.tensor([[-1.0, 0.0, 0.5, 2.0]], device="cuda").to(dtype)
    loss = hrtf_loss(x, x.clone(), "lsd", "linear")
    assert loss.dtype == dtype and torch.isfinite(loss)


@needs_cuda
def test_different_devices_are_rejected():
    cpu, gpu = torch.ones(2, 3), torch.ones(2, 3, device="cuda")
    for prediction, target in ((cpu, gpu), (gpu, cpu)):
        with pytest.raises(ValueError, match="device") as info:
            hrtf_loss(prediction, target)
        message = str(info.value)
        assert "cpu" in message and "cuda" in message


# ----------------------------------------------------------------------------------------------
# Inputs that cannot become tensors: one error naming the argument, never torch's internals


def _unconvertible():
    quantized = torch.quantize_per_tensor(torch.ones(3, 4), 0.1, 0, torch.quint8)
    return {
        "str": ("abc", TypeError, "got str 'abc'"),
        "bytes": (b"ab", TypeError, "got bytes"),
        "None": (None, TypeError, "got NoneType"),
        "dict": ({"a": 1}, TypeError, "got dict"),
        "set": ({1, 2}, TypeError, "got set"),
        "object array": (np.array([1, "a"], dtype=object), TypeError, "dtype object"),
        "string array": (np.full((3, 4), "a"), TypeError, "dtype <U1"),
        "list of str": ([["a"] * 4] * 3, TypeError, "cannot be converted"),
        "ragged list": ([[1.0, 2.0], [3.0]], TypeError, "cannot be converted"),
        "meta tensor": (torch.ones(3, 4, device="meta"), ValueError, "meta tensor"),
        "sparse tensor": (torch.ones(3, 4).to_sparse(), ValueError, "sparse_coo tensor"),
        "quantized tensor": (quantized, ValueError, "quantized tensor"),
    }


_UNCONVERTIBLE = (
    "str",
    "bytes",
    "None",
    "dict",
    "set",
    "object array",
    "string array",
    "list of str",
    "ragged list",
    "meta tensor",
    "sparse tensor",
    "quantized tensor",
)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", _UNCONVERTIBLE)
@pytest.mark.parametrize("side", ["prediction", "target"])
def test_unconvertible_inputs_name_the_argument(case, side):
    bad, error, what = _unconvertible()[case]
    good = torch.ones(3, 4)
    args = (bad, good) if side == "prediction" else (good, bad)
    with pytest.raises(error) as info:
        hrtf_loss(*args)
    message = str(info.value)
    assert message.startswith(side) and what in message, message
    for internal in ("new():", "expected sequence", "must be real number", "too many dim"):
        assert internal not in message, message
    with pytest.raises(error, match=f"^{side}"):
        metric_values(*args, metric="lsd")


@pytest.mark.parametrize(
    "bad", [10**400, "1e400", -(10**400)], ids=["int 10**400", "'1e400'", "-int 10**400"]
)
def test_overflowing_epsilon_is_a_value_error(bad):
    p, t = _ok_pair()
    with pytest.raises(ValueError, match="epsilon must be a finite positive real number"):
        hrtf_loss(p, t, epsilon=bad)
    with pytest.raises(ValueError, match="epsilon"):
        reduce_values(torch.ones(3), epsilon=bad)


def test_nan_in_gives_nan_out_as_torch_losses_do():
    p = torch.tensor([[float("nan"), 1.0], [1.0, 1.0]])
    for metric in METRICS:
        assert math.isnan(float(hrtf_loss(p, torch.ones(2, 2), metric=metric)))
    assert math.isnan(float(torch.nn.functional.mse_loss(p, torch.ones(2, 2))))


def test_reduce_values_converts_or_names_its_argument():
    assert float(reduce_values([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert float(reduce_values(np.array([1, 2, 3]))) == pytest.approx(2.0)
    for bad in ("abc", None, {"a": 1}):
        with pytest.raises(TypeError, match="^values must be a tensor"):
            reduce_values(bad)


def test_lsd_overflow_fallback_is_not_hidden_by_a_nan_elsewhere():
    # The |x|**2 fast path falls back to |x| where a square overflows; a NaN in another vector
    # (whose own value is NaN) must not hide that overflow from the check.
    from hrtfeval.loss import metric_values

    c128 = torch.complex128
    pred = torch.tensor([[complex(math.nan, 0.0), 1 + 0j], [1e200 + 0j, 3 + 4j]], dtype=c128)
    ref = torch.tensor([[1 + 0j, 1 + 0j], [1e199 + 0j, 5 + 0j]], dtype=c128)
    values = metric_values(pred, ref, "lsd", "linear")
    assert math.isnan(float(values[0]))
    assert float(values[1]) == pytest.approx(math.sqrt(20.0**2 / 2 + EPS), rel=1e-12)


def test_linear_to_db_of_an_empty_complex_set_is_empty():
    # No bins selected (e.g. SetTensors.magnitude_db with an empty band): an empty result, as
    # before the overflow check became one amax (which raises on an empty tensor).
    from hrtfeval.loss import linear_to_db

    out = linear_to_db(torch, torch.zeros((3, 2, 0), dtype=torch.complex128), 1e-12)
    assert out.shape == (3, 2, 0) and out.dtype == torch.float64


def test_lsd_of_complex_spectra_that_require_grad_warns_nothing():
    # The overflow check reads one number from the power; on a tensor that requires grad that
    # read must not warn (training loops call this every step).
    import warnings

    from hrtfeval.loss import metric_values

    rng = np.random.default_rng(3)
    pred = torch.from_numpy(rng.standard_normal((4, 2, 9)) + 1j * rng.standard_normal((4, 2, 9)))
    ref = torch.from_numpy(rng.standard_normal((4, 2, 9)) + 1j * rng.standard_normal((4, 2, 9)))
    pred.requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric_values(pred, ref, "lsd", "linear").sum().backward()
    assert pred.grad is not None
