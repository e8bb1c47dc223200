"""hrtfeval._iir (the ITD low-pass without scipy.signal) is bit for bit scipy.signal's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from hrtfeval import _iir

RATES = (8000, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)


@pytest.mark.parametrize("order", range(1, 17))
def test_butter_equals_scipy_bit_for_bit(order):
    cutoffs = [3000 / (fs / 2) for fs in RATES]
    cutoffs += list(np.random.default_rng(order).uniform(1e-4, 1 - 1e-4, 60))
    cutoffs += [1e-6, 0.5, 0.999999]
    for wn in cutoffs:
        b, a = _iir.butter_lowpass_ba(order, wn)
        b_ref, a_ref = signal.butter(order, wn)
        assert b.dtype == b_ref.dtype == a.dtype == a_ref.dtype == np.float64
        np.testing.assert_array_equal(b, b_ref, err_msg=f"b, order {order}, wn {wn!r}")
        np.testing.assert_array_equal(a, a_ref, err_msg=f"a, order {order}, wn {wn!r}")


@pytest.mark.parametrize("order, wn", [(10, 3000 / 24000), (10, 3000 / 96000), (1, 0.3), (4, 0.9)])
@pytest.mark.parametrize("shape", [(1, 1), (7,), (16, 256), (3, 2, 513), (1420, 64)])
def test_lfilter_equals_scipy_bit_for_bit(order, wn, shape):
    rng = np.random.default_rng(sum(shape) + order)
    # Rows of very different scales, an impulse and a silent row: rounding must match at each.
    x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-9, 4, shape[:-1] + (1,))
    flat = x.reshape(-1, shape[-1])
    flat[0] = 0.0
    flat[0, 0] = 1.0
    if flat.shape[0] > 1:
        flat[-1] = 0.0
    b, a = signal.butter(order, wn)
    got = _iir.lfilter(b, a, x)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_array_equal(got, signal.lfilter(b, a, x, axis=-1))


def test_lfilter_normalises_by_a0_as_scipy_does():
    b, a = signal.butter(3, 0.2)
    x = np.random.default_rng(0).standard_normal((5, 100))
    np.testing.assert_array_equal(
        _iir.lfilter(b * 3.0, a * 3.0, x), signal.lfilter(b * 3.0, a * 3.0, x)
    )


@pytest.mark.parametrize("order, wn", [(0, 0.5), (True, 0.5), (2.0, 0.5), (2, 0.0), (2, 1.0)])
def test_butter_rejects_bad_arguments(order, wn):
    with pytest.raises(ValueError):
        _iir.butter_lowpass_ba(order, wn)


def test_itd_imports_no_scipy_signal():
    # The point of the port: an ITD (fast path, exact path and threshold) costs no scipy.signal.
    code = (
        "import sys, torch; from hrtfeval import _itd_lags, cues; "
        "x = torch.randn(40, 2, 128, dtype=torch.float64); "
        "cues.itd_seconds(x, 48000); cues.itd_seconds(x, 48000, 'threshold'); "
        "_itd_lags._exact_lags(torch, x, 48000.0, 'maxiacce'); "
        "print('scipy.signal' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
