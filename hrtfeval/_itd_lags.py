"""The ITD lag engine behind :func:`hrtfeval.cues.itd_seconds`: the LAP low-pass, the Hilbert
envelope, the MaxIACCe correlation and the onset threshold, in whole samples, vectorised over
directions in torch.

* MaxIACCe, fast path (CPU and CUDA alike): the low-pass as one FFT convolution with the
  filter's first N impulse-response samples (:func:`lowpass_impulse_response`), the Hilbert
  envelope (the same N-point analytic signal as ``scipy.signal.hilbert``) and the full
  correlation ``c`` (an FFT of length >= 2N - 1), all in float32, an ear whose peak lies
  outside [2**-32, 2**32] first scaled by a power of two (which changes no lag and no verdict:
  :func:`_in_range`). The envelopes are >= 0, so every true ``c`` is >= 0 and the largest ``|c|`` is
  the largest ``c``. Its lag is kept only where the largest ``c`` beats the second largest by
  more than this path can be off: ``tol * u_left * u_right`` with ``u = ||e|| + (5e-6 / tol)
  ||x||`` per ear (envelope and scaled input: float32 rounding in the low-pass is relative to
  its input, at most 1.83e-7 ||x|| in the envelope, also where nearly all the energy lies above
  the cut-off). ``tol`` is 2e-5 (float32 rounding of ``c`` measured at most 5.3e-7 of
  ``||e_left|| ||e_right||``) plus 120 times how far the FFT low-pass is from
  ``lfilter``'s rounded (b, a) recursion at this rate (about 3e-10 at 48 kHz, 2e-7 at 96 kHz; at
  192 kHz and above the tolerance would be too loose and every direction takes the exact path).
  About 2 % of the directions of a measured set fall below it; those are recomputed by the same
  path in float64, whose tolerance is ``1e-12`` plus the same 120 times the low-pass discrepancy
  (its ``c`` differs from the exact path's by 0.6 to 1.4 times that discrepancy, measured from
  44.1 to 96 kHz, 128 to 2048 taps): that settles nearly all of them without the per-sample
  recursion below.
* Exact path (directions neither pass vouches for, and the ``threshold`` method):
  ``scipy.signal.lfilter`` in float64 on the CPU -- the very recursion of the per-direction
  official code, bit for bit -- then the envelope and correlation through float64 FFTs, which
  agree with the direct computations to rounding (~1e-16 relative).

Importing this module imports numpy only; torch is imported at the first call. ``scipy.signal``
is never imported (about 1 s): the Butterworth design and ``lfilter`` are numpy ports of scipy's,
equal bit for bit (:mod:`hrtfeval._iir`).
"""

from __future__ import annotations

import functools
import math
from numbers import Real

import numpy as np

from . import _iir
from .loss import require_torch

#: Low-pass applied before either ITD estimator (LAP evaluation): cutoff in Hz and order.
LOWPASS_CUTOFF_HZ = 3000.0
LOWPASS_ORDER = 10
#: Onset level of the ``"threshold"`` ITD estimator, in dB below each ear's energy-envelope peak.
ONSET_THRESHOLD_DB = -10.0


def _torch():
    return require_torch("hrtfeval.cues")


def _check_sampling_rate(sampling_rate) -> float:
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, Real):
        raise ValueError(f"sampling_rate must be a positive number of Hz; got {sampling_rate!r}")
    fs = float(sampling_rate)
    if not math.isfinite(fs) or fs <= 0.0:
        raise ValueError(f"sampling_rate must be a positive number of Hz; got {sampling_rate!r}")
    return fs


def _check_lowpass(fs: float, cutoff, order) -> tuple[float, int]:
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive integer; got {order!r}")
    cutoff = float(cutoff)
    if not 0.0 < cutoff < fs / 2:
        raise ValueError(
            f"the {cutoff:g} Hz low-pass needs a sampling rate above {2 * cutoff:g} Hz "
            f"(and a positive cutoff); got sampling_rate={fs:g}"
        )
    return cutoff, order


@functools.lru_cache(maxsize=64)
def _butterworth_ba(fs: float, cutoff: float, order: int):
    b, a = _iir.butter_lowpass_ba(order, cutoff / (fs / 2))
    b.setflags(write=False)
    a.setflags(write=False)
    return b, a


@functools.lru_cache(maxsize=64)
def lowpass_impulse_response(
    sampling_rate: float,
    n: int,
    cutoff: float = LOWPASS_CUTOFF_HZ,
    order: int = LOWPASS_ORDER,
) -> np.ndarray:
    """First ``n`` samples of the impulse response of the ITD low-pass filter.

    The filter is ``scipy.signal.butter(order, cutoff / (sampling_rate / 2))`` in (b, a) form,
    run by ``scipy.signal.lfilter`` on a unit impulse. Filtering an ``n``-sample signal from rest
    with ``lfilter`` equals convolving it with these ``n`` samples up to rounding (see the module
    notes for how large that rounding gets), which is how :func:`itd_seconds` filters all
    directions with one FFT on CUDA.

    Parameters
    ----------
    sampling_rate : float
        In Hz, positive, above ``2 * cutoff``.
    n : int
        Number of samples, at least 1.
    cutoff : float, default 3000.0
        -3 dB frequency in Hz.
    order : int, default 10
        Butterworth order.

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        Read-only: the array is cached (``functools.lru_cache``) and shared between calls.

    Raises
    ------
    ValueError
        ``sampling_rate`` not positive, ``n`` or ``order`` below 1, or ``cutoff`` not strictly
        between 0 and ``sampling_rate / 2``.
    """
    fs = _check_sampling_rate(sampling_rate)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples; got {n!r}")
    cutoff, order = _check_lowpass(fs, cutoff, order)
    b, a = _butterworth_ba(fs, cutoff, order)
    impulse = np.zeros(n)
    impulse[0] = 1.0
    response = _iir.lfilter(b, a, impulse)
    response.setflags(write=False)
    return response


@functools.cache
def _fast_length(n: int) -> int:
    """Smallest 2**a * 3**b * 5**c >= n (a length the FFT backends handle fast)."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = 1 << (-(-n // p35) - 1).bit_length()
            best = min(best, p2 * p35)
            p35 *= 3
        p5 *= 5
    return best


# Samples per ITD block: 512 directions of 256 taps (each block's ~10 intermediates, 1-4 MB
# each, stay bounded on dense grids). The directions of a set are split into equal blocks, as
# many as the set holds such blocks rounded (so up to 1.5 times this): a set of 793 directions is
# 2 blocks, not 4 with a small one. Measured on 40 pairs of 793 directions (2026-12-02, same
# process, interleaved): 18.7-19.9 ms a pair against 21.1-22.6 with blocks of 256 directions,
# 20.4-21.3 against 22.8-23.7 with a second process doing the same (two batch workers).
_ITD_BLOCK_SAMPLES = 512 * 256


def _lowpass(torch, x, fs: float):
    """The LAP low-pass along the last axis of float64 CPU ``x``: ``scipy.signal.lfilter``'s
    recursion of the per-direction official code, bit for bit (its numpy port,
    :func:`hrtfeval._iir.lfilter`, which needs no ``scipy.signal`` import)."""
    b, a = _butterworth_ba(fs, LOWPASS_CUTOFF_HZ, LOWPASS_ORDER)
    return torch.from_numpy(_iir.lfilter(b, a, x.detach().numpy()))


def _hilbert_envelope(torch, y, fused: bool = False):
    """``|scipy.signal.hilbert(y)|`` along the last axis (in ``y``'s real dtype). ``fused``: the
    squares summed by one ``addcmul`` (one pass less; its rounding may differ by an ulp, so only
    the fast path, whose tolerance covers float rounding, asks for it)."""
    n = y.shape[-1]
    # scipy.signal.hilbert multiplies the n-point FFT by h = [1, 2, ..., 2, 1 (n even), 0, ...].
    # h = 1 + sign, so the analytic signal is y + j*H{y} with H{y} = irfft(-j * sign * rfft(y)),
    # sign = [0, 1, ..., 1, 0 (n even)]: two real n-point transforms instead of a complex one.
    # The sign is applied as zeroed end bins and one scalar product (the same products as a
    # multiplication by sign * -1j, in one pass less).
    spectrum = torch.fft.rfft(y, n=n)
    spectrum[..., 0] = 0.0
    if n % 2 == 0:
        spectrum[..., -1] = 0.0
    # In place where a temporary is not needed again (the same operations, fewer passes over
    # memory): the ITD's blocks are ~1 MB, so every extra buffer costs a pass.
    quadrature = torch.fft.irfft(spectrum.mul_(-1j), n=n)
    if fused:
        return quadrature.mul_(quadrature).addcmul_(y, y).sqrt_()
    return quadrature.mul_(quadrature).add_(y * y).sqrt_()


def _correlation(torch, envelope, n: int, m: int):
    """Circular cross-correlation of the left with the right envelope, length ``m >= 2n - 1``.

    ``irfft(L * conj(R))[k] = sum_t l[t + k] r[t]``: lag k >= 0 sits at index k, lag k < 0 at
    index m + k; indices n .. m - n hold no lag (zero up to rounding).
    """
    spectra = torch.fft.rfft(envelope, n=m)
    return torch.fft.irfft(spectra[..., 0, :].mul_(spectra[..., 1, :].conj()), n=m)


def _exact_lags(torch, x, fs: float, method: str):
    """ITD in whole samples (int64) of IRs ``x`` (..., 2, N), exactly as the official code: the
    low-pass is ``lfilter`` in float64 on the CPU (the result goes back to ``x``'s device)."""
    n = x.shape[-1]
    envelope = _hilbert_envelope(torch, _lowpass(torch, x.detach().to("cpu", torch.float64), fs))
    if method == "maxiacce":
        m = _fast_length(2 * n - 1)
        circular = _correlation(torch, envelope, n, m)
        # Reassemble np.correlate's "full" order, lags -(n-1) .. n-1, so that argmax breaks ties
        # the way np.argmax does.
        full = torch.cat([circular[..., m - (n - 1) :], circular[..., :n]], dim=-1)
        lags = full.abs().argmax(dim=-1) - (n - 1)
    else:
        energy = envelope * envelope
        peak = energy.amax(dim=-1, keepdim=True)
        reached = energy >= peak * 10.0 ** (ONSET_THRESHOLD_DB / 10.0)
        # argmax returns the first maximum: the first sample that reaches the threshold.
        onset = reached.to(torch.uint8).argmax(dim=-1)
        lags = onset[..., 0] - onset[..., 1]
    return lags.to(x.device)


# The fast MaxIACCe path (float32 FFTs, FFT low-pass) and when its lag is trusted. Its error in
# the correlation comes from float32 rounding -- at most 5.3e-7 of ||e_left|| * ||e_right||
# measured from 44.1 to 96 kHz, 128 to 4096 taps, on sets whose energy is mostly below the
# cut-off; see _INPUT_ROUNDING for the others -- and from the FFT low-pass differing from lfilter's
# rounded recursion (see _lowpass_discrepancy). A lag is kept when the best c beats the second
# best by more than a tolerance well above both; otherwise that direction is settled by the
# float64 pass or _exact_lags (_settle).
_FAST_ROUNDING = 2e-5
_FAST_LOWPASS_MARGIN = 120.0
_FAST_MAX_TOLERANCE = 1e-3
# The float32 envelope's error, ||e32 - e_exact||, is at most 1.83e-7 * ||x|| (the scaled input)
# from float32 rounding, measured on the benchmark's sets, the test suite's synthetic HRIRs
# (44.1 to 96 kHz, 256 to 2048 taps), decaying white noise and sets whose energy lies 10^4 times
# above the cut-off (where it is 1.3e-2 * ||e||: a bound on ||e|| alone let such sets through
# with wrong lags). Through the correlation that is at most 1.83e-7 * (||x_l|| ||e_r|| +
# ||e_l|| ||x_r||); the gap test adds 5e-6 times that cross term (u = ||e|| + (5e-6 / tol) ||x||),
# 13.7 times what a gap of twice the error needs. In float64 the same term is ~1e-16.
# (The low-pass discrepancy is covered by tol's own term: relative to ||x|| it is at most about
# its probe value, and ||x|| / ||e|| is 2 to 3.5 for measured and synthetic sets.)
_INPUT_ROUNDING = 5e-6
_INPUT_ROUNDING64 = 1e-13
# The same path in float64, for the directions the float32 pass cannot vouch for: float64
# rounding is ~1e-15 of the bound, so the low-pass discrepancy dominates its tolerance.
_FAST64_ROUNDING = 1e-12


@functools.lru_cache(maxsize=64)
def _lowpass_discrepancy(fs: float, n: int) -> float:
    """Largest ``||lfilter(x) - fft_convolution(x)|| / ||lfilter(x)||`` over a fixed probe.

    The (b, a) recursion of an order-10 Butterworth filter is ill-conditioned: its rounding grows
    with the sampling rate (about 3e-10 at 48 kHz, 2e-7 at 96 kHz, 1e-4 at 192 kHz, nearly
    independent of the signal and of N). The probe is seeded white noise plus an impulse.
    """
    b, a = _butterworth_ba(fs, LOWPASS_CUTOFF_HZ, LOWPASS_ORDER)
    probe = np.random.default_rng(20261125).standard_normal((16, n))
    probe[0] = 0.0
    probe[0, 0] = 1.0
    exact = _iir.lfilter(b, a, probe)
    m = _fast_length(2 * n - 1)
    h = lowpass_impulse_response(fs, n)
    conv = np.fft.irfft(np.fft.rfft(probe, m) * np.fft.rfft(h, m), m)[:, :n]
    with np.errstate(all="ignore"):
        ratio = np.linalg.norm(exact - conv, axis=-1) / np.linalg.norm(exact, axis=-1)
    worst = float(np.max(ratio))
    return worst if math.isfinite(worst) else math.inf


def _fast_tolerance(fs: float, n: int, double: bool = False) -> float | None:
    """Relative gap under which a fast MaxIACCe lag is recomputed; None: no fast path.
    ``double``: the tolerance of the float64 pass."""
    rounding = _FAST64_ROUNDING if double else _FAST_ROUNDING
    tol = rounding + _FAST_LOWPASS_MARGIN * _lowpass_discrepancy(fs, n)
    return tol if tol <= _FAST_MAX_TOLERANCE else None


@functools.lru_cache(maxsize=16)
def _lowpass_spectrum(fs: float, n: int, m: int, device, double: bool = False):
    torch = _torch()
    dtype = torch.float64 if double else torch.float32
    h = torch.from_numpy(lowpass_impulse_response(fs, n).copy()).to(device, dtype)
    return torch.fft.rfft(h, n=m)


# Ears whose peak lies in [2**-_SAFE_EXPONENT, 2**_SAFE_EXPONENT] (or is 0) go to float32 as they
# are; others are first scaled by a power of two. Either way float32 neither overflows nor
# underflows in the fast path: its largest values are ~N * peak_left * peak_right (< 2**80 for N
# up to 2**16), its smallest meaningful ones ~1e-7 of that (> 2**-100).
_SAFE_EXPONENT = 32


def _in_range(torch, x, double: bool):
    """``x`` in the fast path's dtype, every ear within a range where the transforms neither
    overflow nor underflow.

    Every step of the fast path (FFTs, products with fixed spectra, squares, square roots of
    squares, the norms and the gap test) commutes with scaling an ear by a power of two, up to
    subnormal results (far below any tolerance), so scaling changes no lag and no verdict: it
    is only done where an ear's peak is out of range (the data in units far from 1), in float64
    before the rounding to float32. The float64 pass (few rows) always scales.
    """
    if not double:
        converted = x.to(torch.float32)
        peak = converted.abs().amax(dim=-1)
        small, large = 2.0**-_SAFE_EXPONENT, 2.0**_SAFE_EXPONENT
        fine = (peak >= small) & (peak <= large)
        if not bool(fine.all()):
            # A peak of 0 in float32 is fine only where the ear is silent in x too (float32
            # also rounds ears below ~1e-45 to 0).
            zero = ~fine & (peak == 0)
            fine[zero] = x[zero].abs().amax(dim=-1) == 0
        if bool(fine.all()):
            return converted
    # Each ear scaled by a power of two (exact; |c| is only scaled, its argmax stays).
    exponent = torch.frexp(x.abs().amax(dim=-1, keepdim=True)).exponent
    return (x * torch.exp2(-exponent.to(x.dtype))).to(torch.float64 if double else torch.float32)


def _maxiacce_fast(torch, x, fs: float, tol: float, double: bool = False):
    """MaxIACCe lags of ``x`` (D, 2, N) in float32 (``double``: float64) on its device, and
    which of them are sure.

    Returns ``(lags, sure)``: int64 and bool, shape (D,). Where ``sure`` holds, the best ``c``
    exceeds the second best by more than ``tol * u_left * u_right`` (``u = ||e|| + w ||x||``,
    ``w`` the input rounding over ``tol``), more than this path can differ from the exact one,
    so the lag is the exact path's lag.
    """
    n = x.shape[-1]
    m = _fast_length(2 * n - 1)
    scaled = _in_range(torch, x, double)
    spectrum = torch.fft.rfft(scaled, n=m).mul_(_lowpass_spectrum(fs, n, m, x.device, double))
    lowpassed = torch.fft.irfft(spectrum, n=m)[..., :n]
    envelope = _hilbert_envelope(torch, lowpassed, fused=True)
    circular = _correlation(torch, envelope, n, m)
    best, second, index = _top_two(torch, circular)
    # The gap must beat tol * u_left * u_right, u = ||e|| + (input rounding / tol) * ||x|| per
    # ear (both scaled): float rounding in the FFT low-pass is relative to the input the filter
    # sees, not to what it keeps, so an ear whose energy lies mostly above the cut-off carries
    # envelope errors far above ||e|| * eps (see _INPUT_ROUNDING).
    weight = (_INPUT_ROUNDING64 if double else _INPUT_ROUNDING) / tol
    bound = torch.linalg.vector_norm(scaled, dim=-1).mul_(weight)
    bound.add_(torch.linalg.vector_norm(envelope, dim=-1))
    sure = best - second > tol * bound[..., 0] * bound[..., 1]
    return torch.where(index < n, index, index - m), sure


def _top_two(torch, c):
    """(largest, second largest, index of the largest) of ``c`` along its last axis.

    ``c`` is a correlation of envelopes (>= 0), so every true value is >= 0 and the largest
    ``c`` is the largest ``|c|`` unless all of them are below rounding, where the gap is below
    the tolerance anyway (not sure). The same holds for indices n .. m - n, which hold no lag,
    only rounding. On the CPU through numpy's argmax and max (several times cheaper than
    torch's topk there); ``c`` is overwritten.
    """
    if c.device.type != "cpu":
        top = c.topk(2, dim=-1)
        return top.values[..., 0], top.values[..., 1], top.indices[..., 0]
    values = c.detach().numpy()
    index = values.argmax(axis=-1)
    rows = np.arange(index.shape[0])
    best = values[rows, index]
    values[rows, index] = -np.inf
    second = values.max(axis=-1)
    return torch.from_numpy(best), torch.from_numpy(second), torch.from_numpy(index).long()


def _blocks(x):
    """(start, block) over the directions of ``x`` (D, 2, N): blocks of about
    ``_ITD_BLOCK_SAMPLES`` (at most 1.5 times that, or one direction), whose sizes differ by at
    most one direction."""
    count = x.shape[0]
    per_block = max(1, _ITD_BLOCK_SAMPLES // x.shape[-1])
    blocks = max(1, min(count, round(count / per_block)))
    size, extra = divmod(count, blocks)
    out, start = [], 0
    for k in range(blocks if count else 0):
        stop = start + size + (k < extra)
        out.append((start, x[start:stop]))
        start = stop
    return out


def _cat(torch, parts, like):
    if not parts:
        return torch.empty(0, dtype=torch.int64, device=like.device)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _exact_in_blocks(torch, x, fs: float, method: str):
    """:func:`_exact_lags` of ``x`` (D, 2, N), block by block."""
    return _cat(torch, [_exact_lags(torch, b, fs, method) for _, b in _blocks(x)], x)


def _fast_in_blocks(torch, x, fs: float, tol: float, double: bool = False):
    """:func:`_maxiacce_fast` of ``x`` (D, 2, N), block by block: ``(lags, unsure)``, the lags
    (D,) and the indices of the rows it cannot vouch for (None when it vouches for all)."""
    parts, unsure = [], []
    for start, block in _blocks(x):
        lags, sure = _maxiacce_fast(torch, block, fs, tol, double)
        parts.append(lags)
        if not bool(sure.all()):
            unsure.append((~sure).nonzero().squeeze(1) + start)
    return _cat(torch, parts, x), (torch.cat(unsure) if unsure else None)


def _itd_lags(torch, sets: list, fs: float, method: str, fast: bool = True) -> list:
    """ITD in whole samples (int64) of every set of IRs in ``sets``, each shaped (D_k, 2, N).

    Directions are independent: they are worked through in blocks, so that the intermediates
    (about 10 copies of the data) stay bounded on dense grids. MaxIACCe runs the fast path and
    settles the directions whose lag it cannot vouch for -- those of all sets in one call -- in
    float64 and, where that cannot vouch either, with :func:`_exact_lags` (:func:`_settle`), so
    every lag equals :func:`_exact_lags`'s.
    """
    n = sets[0].shape[-1]
    tol = _fast_tolerance(fs, n) if fast and method == "maxiacce" else None
    if tol is None:
        return [_exact_in_blocks(torch, x, fs, method) for x in sets]
    out, redo, where = [], [], []
    for k, x in enumerate(sets):
        lags, unsure = _fast_in_blocks(torch, x, fs, tol)
        out.append(lags)
        if unsure is not None:
            redo.append(x[unsure])
            where.append((k, unsure))
    if redo:
        lags = _settle(torch, torch.cat(redo), fs, n, method)
        done = 0
        for k, index in where:
            out[k][index] = lags[done : done + index.numel()]
            done += index.numel()
    return out


def _settle(torch, rows, fs: float, n: int, method: str):
    """The exact lags of ``rows`` (D, 2, N) the float32 pass could not vouch for: the fast
    path again in float64, then :func:`_exact_lags` for the rows that pass cannot vouch for
    either (true near-ties; the recursion costs a few ms however few rows it gets)."""
    tol = _fast_tolerance(fs, n, double=True)
    if tol is None:  # pragma: no cover - the float32 pass ran, so this tolerance is smaller
        return _exact_in_blocks(torch, rows, fs, method)
    lags, unsure = _fast_in_blocks(torch, rows, fs, tol, double=True)
    if unsure is not None:
        lags[unsure] = _exact_in_blocks(torch, rows[unsure], fs, method)
    return lags
