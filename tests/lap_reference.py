"""Straightforward per-direction ITD / ILD, written from the LAP evaluation's definitions.

This is the independent reference that ``tests/test_cues.py`` and ``benchmarks/bench_cues.py``
compare :mod:`hrtfeval.cues` against: a Python loop over directions that calls
``scipy.signal.butter`` / ``lfilter`` / ``hilbert`` and ``np.correlate`` exactly as the
definitions say, with no vectorisation and no FFT tricks. It also builds the deterministic
synthetic HRIR sets both use. It does not import hrtfeval.
"""

from __future__ import annotations

import numpy as np
from scipy import signal


def reference_itd_seconds(ir, sampling_rate, method="maxiacce"):
    """ITD in seconds of each direction of ``ir`` (M, 2, N); positive when the left ear lags."""
    ir = np.asarray(ir, dtype=np.float64)
    n = ir.shape[-1]
    b, a = signal.butter(10, 3000 / (sampling_rate / 2))
    itd = np.empty(ir.shape[0])
    for i in range(ir.shape[0]):
        left = np.abs(signal.hilbert(signal.lfilter(b, a, ir[i, 0])))
        right = np.abs(signal.hilbert(signal.lfilter(b, a, ir[i, 1])))
        if method == "maxiacce":
            correlation = np.correlate(left, right, "full")
            lag = np.argmax(np.abs(correlation)) - (n - 1)
        elif method == "threshold":
            lag = _onset(left) - _onset(right)
        else:
            raise ValueError(method)
        itd[i] = lag / sampling_rate
    return itd


def _onset(envelope):
    """First sample where the energy envelope is within 10 dB of its peak."""
    energy = envelope**2
    with np.errstate(divide="ignore", invalid="ignore"):
        level_db = 10 * np.log10(energy / energy.max())
    return int(np.argmax(level_db >= -10))


def reference_ild_db(ir):
    """ILD in dB of each direction of ``ir`` (M, 2, N): 20*log10(rms_left) - 20*log10(rms_right)."""
    ir = np.asarray(ir, dtype=np.float64)
    ild = np.empty(ir.shape[0])
    for i in range(ir.shape[0]):
        rms_left = np.sqrt(np.mean(ir[i, 0] ** 2))
        rms_right = np.sqrt(np.mean(ir[i, 1] ** 2))
        ild[i] = 20 * np.log10(rms_left) - 20 * np.log10(rms_right)
    return ild


def _fractional_delay(x, delay, length):
    """``x`` delayed by ``delay`` (>= 0, fractional) samples, band-limited, cut to ``length``."""
    m = 4 * max(len(x), length)
    k = np.arange(m // 2 + 1)
    spectrum = np.fft.rfft(x, m) * np.exp(-2j * np.pi * k * delay / m)
    # Taper the top fifth of the band so the fractional-delay sinc does not ring for long.
    taper = np.clip((k / (m // 2) - 0.8) / 0.2, 0.0, 1.0)
    spectrum *= 0.5 + 0.5 * np.cos(np.pi * taper)
    return np.fft.irfft(spectrum, m)[:length]


def synthetic_hrirs(n_directions, n_taps, sampling_rate, seed=0, noise_floor=1e-3):
    """A deterministic synthetic HRIR set shaped (n_directions, 2, n_taps), float64.

    Directions sweep the lateral angle from the left (-90 deg) to the right (+90 deg). Each ear
    is a short burst (a pulse followed by decaying noise, or by a few decaying sinusoids,
    alternating) that differs a little between the ears, delayed by an onset plus an interaural
    delay of up to ~660 us (``+`` = left ear later) that is a whole number of samples for a
    third of the directions, exactly half a sample for some and an arbitrary fraction for the
    rest; the far ear is attenuated by up to ~20 dB, and white noise at ``noise_floor`` times
    the peak (-60 dB by default) is added to every sample.

    Returns
    -------
    ir : numpy.ndarray, shape (n_directions, 2, n_taps)
    delay_samples : numpy.ndarray, shape (n_directions,)
        The interaural delay that was applied (left minus right), in samples.
    """
    rng = np.random.default_rng(seed)
    scale = sampling_rate / 48000.0
    burst_len = max(8, int(round(24 * scale)))
    ir = np.empty((n_directions, 2, n_taps))
    delays = np.empty(n_directions)
    lateral = np.linspace(-np.pi / 2, np.pi / 2, n_directions)
    for i, theta in enumerate(lateral):
        t = np.arange(burst_len)
        tau = rng.uniform(3.0, 8.0) * scale
        if i % 2 == 0:
            common = rng.standard_normal(burst_len)
            own = rng.standard_normal((2, burst_len))
        else:
            f = rng.uniform(300, 0.4 * sampling_rate, size=(3, 1)) / sampling_rate
            phase = rng.uniform(0, 2 * np.pi, size=(3, 1))
            common = np.cos(2 * np.pi * f * t + phase).sum(axis=0)
            own = 0.5 * rng.standard_normal((2, burst_len))
        bursts = 0.5 * (common + 0.3 * own) * np.exp(-t / tau)
        bursts[:, 0] += 1.0  # the direct sound: a broadband pulse, as in measured HRIRs

        delay = 0.00066 * sampling_rate * np.sin(theta) + rng.uniform(-0.5, 0.5)
        if i % 3 == 0:
            delay = np.round(delay)
        elif i % 7 == 1:
            delay = np.floor(delay) + 0.5
        onset = rng.uniform(4, 12) * scale
        far_gain = 10 ** (-(20 * abs(np.sin(theta)) + rng.uniform(-1, 1)) / 20)
        left = _fractional_delay(bursts[0], onset + max(delay, 0.0), n_taps)
        right = _fractional_delay(bursts[1], onset + max(-delay, 0.0), n_taps)
        if delay > 0:  # source on the right: the left ear is the far one
            left *= far_gain
        else:
            right *= far_gain
        peak = max(np.abs(left).max(), np.abs(right).max())
        ir[i, 0] = left + noise_floor * peak * rng.standard_normal(n_taps)
        ir[i, 1] = right + noise_floor * peak * rng.standard_normal(n_taps)
        delays[i] = delay
    return ir, delays


def reference_lsd_db(pred_ir, ref_ir, sampling_rate, freq_min=20.0, freq_max=20000.0):
    """LSD of each direction and ear (M, 2), written out per direction: |FFT| in dB over the bins
    with freq_min <= f <= freq_max among the first N/2 bins (no Nyquist bin), RMS over them."""
    pred_ir = np.asarray(pred_ir, dtype=np.float64)
    ref_ir = np.asarray(ref_ir, dtype=np.float64)
    n = ref_ir.shape[-1]
    freqs = np.fft.fftfreq(n, 1.0 / sampling_rate)[: n // 2]
    band = (freqs >= freq_min) & (freqs <= freq_max)
    out = np.empty(ref_ir.shape[:2])
    for i in range(ref_ir.shape[0]):
        for ear in range(2):
            p = 20 * np.log10(np.abs(np.fft.fft(pred_ir[i, ear]))[: n // 2][band])
            t = 20 * np.log10(np.abs(np.fft.fft(ref_ir[i, ear]))[: n // 2][band])
            out[i, ear] = np.sqrt(np.mean((p - t) ** 2))
    return out


def reference_lap(pred_ir, ref_ir, sampling_rate):
    """The three LAP challenge numbers of one aligned pair: ITD difference (µs, mean |dITD|),
    ILD difference (dB, mean |dILD|) and LSD (dB, mean over directions and ears)."""
    itd = np.abs(
        reference_itd_seconds(pred_ir, sampling_rate) - reference_itd_seconds(ref_ir, sampling_rate)
    )
    ild = np.abs(reference_ild_db(pred_ir) - reference_ild_db(ref_ir))
    lsd = reference_lsd_db(pred_ir, ref_ir, sampling_rate)
    return {
        "itd": float(np.mean(itd) * 1e6),
        "ild": float(np.mean(ild)),
        "lsd": float(np.mean(lsd)),
    }
