"""The ITD low-pass without ``scipy.signal``: Butterworth (b, a) design and ``lfilter`` in numpy.

Importing ``scipy.signal`` costs about 1 s (it imports ``scipy.stats``, ``scipy.interpolate``,
the window functions, ...), more than everything else a one-pair ``score`` does besides importing
torch. The ITD needs only two of its functions, so they are written here in numpy, each doing the
very floating-point operations of scipy's, in the same order:

* :func:`butter_lowpass_ba` is ``scipy.signal.butter(order, wn)`` (digital low-pass, ``"ba"``
  output): the analogue prototype poles ``-exp(j pi m / (2 order))``, ``m = -order+1, ...,
  order-1`` step 2, pre-warped to ``4 tan(pi wn / 2)``, the bilinear transform at ``fs = 2``, and
  the polynomials built by repeated ``np.convolve`` (scipy's ``zpk2tf``).
* :func:`lfilter` is ``scipy.signal.lfilter(b, a, x, axis=-1)`` from rest: the transposed
  direct form II recursion of scipy's C loop (``y = z0 + b0 x``, then ``z_i = (z_{i+1} +
  x b_{i+1}) - y a_{i+1}``), run over the samples and vectorised over every other axis.

Both are bit for bit equal to scipy's (tests/test_iir.py checks it against the installed scipy,
over orders, cutoffs and inputs), so the LAP ITDs stay those of the official evaluation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["butter_lowpass_ba", "lfilter"]


def _poly(roots: np.ndarray) -> np.ndarray:
    """Coefficients of ``prod (s - r)``, highest power first, as scipy's ``zpk2tf`` builds them."""
    coefficients = np.ones((1,), dtype=roots.dtype)
    one = np.ones_like(roots[0])
    for root in roots:
        coefficients = np.convolve(coefficients, np.stack((one, -root)), mode="full")
    if np.iscomplexobj(coefficients):
        # Roots in conjugate pairs: the polynomial is real (its imaginary parts are rounding).
        imag = np.imag(np.asarray(roots, dtype=np.complex128))
        if np.all(np.sort(imag) == np.sort(-imag)):
            coefficients = np.array(np.real(coefficients), copy=True)
    return coefficients


def butter_lowpass_ba(order: int, wn: float) -> tuple[np.ndarray, np.ndarray]:
    """Digital Butterworth low-pass in (b, a) form, equal to ``scipy.signal.butter(order, wn)``.

    Parameters
    ----------
    order : int
        Filter order, at least 1.
    wn : float
        -3 dB frequency as a fraction of the Nyquist frequency, strictly between 0 and 1.

    Returns
    -------
    b, a : numpy.ndarray, shape (order + 1,), float64
        Numerator and denominator, highest power of ``z**-1`` last (``a[0] == 1``).

    Raises
    ------
    ValueError
        ``order`` not a positive integer or ``wn`` not in (0, 1).
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive integer; got {order!r}")
    cutoff = np.asarray(wn, dtype=np.float64)
    if cutoff.ndim != 0 or not 0.0 < float(cutoff) < 1.0:
        raise ValueError(f"wn must be one number strictly between 0 and 1; got {cutoff!r}")
    # Analogue prototype: no zeros, poles on the unit circle's left half, gain 1.
    m = np.arange(-order + 1, order, 2, dtype=np.float64)
    poles = -np.exp(1j * np.pi * m / (2 * order))
    zeros = np.asarray([], dtype=np.float64)
    gain = 1.0
    # Pre-warp for the bilinear transform at fs = 2 and scale the prototype to that cutoff.
    fs = 2.0
    warped = float(2 * fs * np.tan(np.pi * cutoff / fs))
    degree = poles.shape[0] - zeros.shape[0]
    zeros = warped * zeros
    poles = warped * poles
    gain = gain * warped**degree
    # Bilinear transform; the zeros at infinity go to z = -1.
    fs2 = 2.0 * fs
    zeros_z = np.concatenate(((fs2 + zeros) / (fs2 - zeros), -np.ones(degree)))
    poles_z = (fs2 + poles) / (fs2 - poles)
    gain_z = gain * np.real(np.prod(fs2 - zeros) / np.prod(fs2 - poles))
    gain_z = np.atleast_1d(np.asarray(gain_z, dtype=np.float64))
    b = np.multiply(gain_z, _poly(zeros_z))
    a = np.atleast_1d(_poly(poles_z))
    return b, a


def lfilter(b, a, x) -> np.ndarray:
    """``scipy.signal.lfilter(b, a, x, axis=-1)`` from rest, for real float64 data.

    Parameters
    ----------
    b, a : array-like, shape (L,)
        Numerator and denominator of the same length L >= 2, ``a[0] != 0`` (both are divided by
        ``a[0]``, as scipy does).
    x : array-like, shape (..., N)
        Real signals, filtered along the last axis; computed in float64.

    Returns
    -------
    numpy.ndarray, shape (..., N), float64
    """
    b = np.asarray(b, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if b.ndim != 1 or b.shape != a.shape or b.shape[0] < 2:
        raise ValueError(
            f"b and a must be 1-D of one length >= 2; got shapes {b.shape} and {a.shape}"
        )
    b = b / a[0]
    a = a / a[0]
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    # Samples first: each step of the recursion then works on contiguous rows of all signals.
    xt = np.ascontiguousarray(x.reshape(-1, shape[-1]).T)
    yt = np.empty_like(xt)
    order = b.shape[0] - 1
    # z_0 .. z_{order-1}, then a row of -0.0 that is never written: x + -0.0 is x exactly (signed
    # zeros too), so the last state x b_L - y a_L comes out of the same (z + x b) - y a as the
    # others. Five ufunc calls a sample, into preallocated rows: the loop's cost is per call.
    state = np.zeros((order + 1, xt.shape[1]))
    state[order] = -0.0
    z0, head, tail = state[0], state[:order], state[1:]
    b_col, a_rest = b[:, None], a[1:, None]
    bx = np.empty_like(state)
    bx_rest = bx[1:]
    ay = np.empty_like(head)
    multiply, add, subtract = np.multiply, np.add, np.subtract
    for k in range(xt.shape[0]):
        yn = yt[k]
        multiply(b_col, xt[k], out=bx)
        add(z0, bx[0], out=yn)  # y = z_0 + x b_0
        # z_i = (z_{i+1} + x b_{i+1}) - y a_{i+1}, each from the previous step's z_{i+1}.
        add(tail, bx_rest, out=bx_rest)
        multiply(a_rest, yn, out=ay)
        subtract(bx_rest, ay, out=head)
    return yt.T.reshape(shape)
