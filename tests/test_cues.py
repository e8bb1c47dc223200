"""hrtfeval.cues against an independent per-direction numpy/scipy reference (lap_reference.py)."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import signal

from hrtfeval import _itd_lags, cues


def _load_reference():
    # Loaded by path so that it works whatever pytest's import mode is.
    path = Path(__file__).with_name("lap_reference.py")
    spec = importlib.util.spec_from_file_location("lap_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

N_DIRECTIONS = 200
# (sampling rate in Hz, taps)
CONFIGS = [
    (48000, 256),
    (44100, 256),
    (96000, 256),
    (96000, 512),
    (48000, 128),
    (48000, 512),
    (44100, 128),
]


@functools.lru_cache(maxsize=None)
def _synthetic(fs, n, seed=1, noise_floor=1e-3):
    ir, delays = ref.synthetic_hrirs(N_DIRECTIONS, n, fs, seed=seed, noise_floor=noise_floor)
    ir.setflags(write=False)
    return ir, delays


def _itd(ir, fs, method="maxiacce"):
    return cues.itd_seconds(torch.from_numpy(np.array(ir)), fs, method=method).numpy()


def _ild(ir):
    return cues.ild_db(torch.from_numpy(np.array(ir))).numpy()


# --------------------------------------------------------------------------- the reference


@pytest.mark.parametrize("method", cues.ITD_METHODS)
@pytest.mark.parametrize("fs, n", CONFIGS)
def test_itd_equals_reference_for_every_direction(fs, n, method):
    ir, _ = _synthetic(fs, n)
    expected = ref.reference_itd_seconds(ir, fs, method)
    got = cues.itd_seconds(torch.from_numpy(np.array(ir)), fs, method=method)
    assert got.dtype == torch.float64
    assert tuple(got.shape) == (N_DIRECTIONS,)
    # Same lag for every direction, hence bit-identical lag / fs.
    np.testing.assert_array_equal(got.numpy(), expected)
    # The set must exercise many different lags for this to mean something.
    assert len(np.unique(expected)) > 40


@pytest.mark.parametrize("method", cues.ITD_METHODS)
@pytest.mark.parametrize("fs, n", CONFIGS)
def test_exact_path_equals_reference(fs, n, method):
    # The path every unsure fast lag falls back to (and the threshold method's only path).
    ir, _ = _synthetic(fs, n)
    lags = _itd_lags._exact_lags(torch, torch.from_numpy(np.array(ir)), float(fs), method)
    np.testing.assert_array_equal(lags.numpy() / fs, ref.reference_itd_seconds(ir, fs, method))


@pytest.mark.parametrize("fs, n", CONFIGS)
def test_fast_maxiacce_lags_it_is_sure_of_are_the_reference_lags(fs, n):
    ir, _ = _synthetic(fs, n)
    x = torch.from_numpy(np.array(ir))
    tol = _itd_lags._fast_tolerance(float(fs), n)
    assert tol is not None and _itd_lags._FAST_ROUNDING <= tol < 1e-4
    lags, sure = _itd_lags._maxiacce_fast(torch, x, float(fs), tol)
    expected = ref.reference_itd_seconds(ir, fs)
    np.testing.assert_array_equal((lags.numpy() / fs)[sure.numpy()], expected[sure.numpy()])
    # The fast path must carry nearly all directions, or it is no faster than the exact one. At
    # 96 kHz these synthetic sets carry energy up to 38 kHz (||x|| is 3.2-3.5 times ||e||, which
    # widens the gap test's input term) and the low-pass discrepancy dominates tol.
    assert sure.double().mean() > (0.9 if fs < 90000 else 0.8)
    # Whatever the data's units: every ear is scaled by a power of two before float32.
    for factor in (1e-30, 1e30):
        scaled_lags, scaled_sure = _itd_lags._maxiacce_fast(torch, x * factor, float(fs), tol)
        assert torch.equal(scaled_sure, sure)
        assert torch.equal(scaled_lags, lags)


def test_fast_path_scales_only_ears_out_of_range():
    # In range (or silent): converted as they are; out of range: each ear by a power of two,
    # before the rounding to float32 (a peak of 2**200 would overflow float32 otherwise).
    x = torch.from_numpy(np.random.default_rng(5).standard_normal((6, 2, 64)))
    x[1, 0] = 0.0
    x[2, 1] *= 2.0 ** (_itd_lags._SAFE_EXPONENT - 3)  # peak below 2**SAFE (|x| < 8 here)
    assert torch.equal(_itd_lags._in_range(torch, x, False), x.to(torch.float32))
    for factor in (2.0 ** (_itd_lags._SAFE_EXPONENT + 2), 2.0**200, 2.0**-200):
        y = x.clone()
        y[3, 1] *= factor
        got = _itd_lags._in_range(torch, y, False)
        assert got.dtype == torch.float32 and bool(torch.isfinite(got).all())
        peaks = got.abs().amax(dim=-1)
        assert bool(((peaks >= 0.5) & (peaks <= 1.0) | (peaks == 0)).all())
        exponent = torch.frexp(y[3, 1].abs().max()).exponent
        assert torch.equal(got[3, 1], (y[3, 1] * torch.exp2(-exponent.double())).float())
    # The float64 pass always scales.
    assert bool((_itd_lags._in_range(torch, x, True).abs().amax(dim=-1) <= 1.0).all())


def _near_tie(fs: float, n: int, first: int, second: int, onset: int = 60):
    """IRs whose MaxIACCe correlation has two separate peaks equal to ~1e-9 relative.

    Right ear: an impulse at ``onset``; left ear: impulses at ``first`` and ``second``, the
    second one's gain found by bisection (on the exact path) so that both peaks are as high.
    """
    n_lags = 2 * n - 1
    split = (first + second) // 2 - onset + (n - 1)  # between the two peaks, in "full" order

    def build(gain):
        ir = np.zeros((1, 2, n))
        ir[0, 1, onset] = 1.0
        ir[0, 0, first] = 1.0
        ir[0, 0, second] = gain
        return torch.from_numpy(ir)

    def difference(gain):
        x = build(gain)
        env = _itd_lags._hilbert_envelope(torch, _itd_lags._lowpass(torch, x, fs))
        m = _itd_lags._fast_length(n_lags)
        circ = _itd_lags._correlation(torch, env, n, m)[0]
        full = torch.cat([circ[m - (n - 1) :], circ[:n]]).abs()
        norms = torch.linalg.vector_norm(env[0], dim=-1)
        return float((full[:split].max() - full[split:].max()) / (norms[0] * norms[1]))

    # As close as the exact path's own rounding allows (its 96 kHz recursion is noisier), and
    # well below the float64 pass's tolerance at every rate tested.
    limit = 1e-9 if fs < 90000 else 1e-8
    lo, hi = 0.25, 4.0
    assert difference(lo) * difference(hi) < 0
    for _ in range(80):
        mid = (lo + hi) / 2
        if difference(mid) * difference(lo) > 0:
            lo = mid
        else:
            hi = mid
        if abs(difference(mid)) < limit:
            break
    assert abs(difference(mid)) < limit
    return build(mid)


@pytest.mark.parametrize("fs, n", [(48000, 256), (44100, 256), (96000, 512)])
def test_near_ties_are_recomputed_on_the_exact_path(fs, n, monkeypatch):
    # Two lags whose correlations are equal to ~1e-9: neither float32 nor the float64 pass can
    # tell them apart, so neither may vouch for either, and the result is the exact path's.
    x = torch.cat(
        [
            _near_tie(float(fs), n, first, second)
            for first, second in [(20, 120), (30, 130), (40, 150), (25, 140), (45, 160), (15, 110)]
        ]
    )
    _, sure = _itd_lags._maxiacce_fast(torch, x, float(fs), _itd_lags._fast_tolerance(float(fs), n))
    assert not sure.any()
    # Nor can the float64 pass: these are left to the recursion.
    tol64 = _itd_lags._fast_tolerance(float(fs), n, double=True)
    _, sure64 = _itd_lags._maxiacce_fast(torch, x, float(fs), tol64, double=True)
    assert not sure64.any()
    exact = _itd_lags._exact_lags(torch, x, float(fs), "maxiacce")
    recursion = _itd_lags._exact_lags
    rows = []

    def counted(torch_, block, *args):
        rows.append(block.shape[0])
        return recursion(torch_, block, *args)

    monkeypatch.setattr(_itd_lags, "_exact_lags", counted)
    np.testing.assert_array_equal(cues.itd_seconds(x, fs).numpy(), exact.numpy() / fs)
    assert sum(rows) == x.shape[0]  # every one of them went through the recursion


def test_fast_path_is_used_only_where_lfilter_rounding_allows():
    # The (b, a) recursion's rounding grows with the rate: about 3e-10 of the signal at 48 kHz,
    # 2e-7 at 96 kHz, 1e-4 at 192 kHz, where the tolerance would be too loose to help.
    d48 = _itd_lags._lowpass_discrepancy(48000.0, 256)
    d96 = _itd_lags._lowpass_discrepancy(96000.0, 256)
    d192 = _itd_lags._lowpass_discrepancy(192000.0, 512)
    assert 1e-11 < d48 < 3e-9 and 3e-8 < d96 < 2e-6 and d192 > 1e-5
    assert _itd_lags._fast_tolerance(48000.0, 256) < _itd_lags._fast_tolerance(96000.0, 256)
    assert _itd_lags._fast_tolerance(192000.0, 512) is None
    # ... where the exact path alone computes the lags, still equal to the reference.
    ir, _ = ref.synthetic_hrirs(40, 512, 192000, seed=4, noise_floor=1e-3)
    np.testing.assert_array_equal(
        _itd(ir, 192000), ref.reference_itd_seconds(ir, 192000, "maxiacce")
    )


@pytest.mark.parametrize("fs, n", CONFIGS)
def test_ild_equals_reference(fs, n):
    ir, _ = _synthetic(fs, n)
    expected = ref.reference_ild_db(ir)
    got = cues.ild_db(torch.from_numpy(np.array(ir)))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=0)
    assert expected.min() < -15 and expected.max() > 15


@pytest.mark.parametrize("method", cues.ITD_METHODS)
def test_itd_sign_follows_the_applied_delay(method):
    # The synthetic set delays the left ear by +d samples (source on the right) ...
    ir, delays = _synthetic(48000, 256)
    itd_samples = _itd(ir, 48000, method) * 48000
    assert np.corrcoef(itd_samples, delays)[0, 1] > 0.95
    # ... and ILD is positive where the left ear is the near (louder) one.
    ild = _ild(ir)
    assert np.all(ild[delays < -15] > 0) and np.all(ild[delays > 15] < 0)


def test_ties_resolve_to_the_first_lag_like_np_argmax():
    # All-zero envelopes correlate to zero at every lag: np.argmax picks lag -(N-1).
    n = 64
    ir = np.zeros((3, 2, n))
    ir[1, 0, 5] = 1.0  # one silent ear: the correlation is zero everywhere too
    expected = ref.reference_itd_seconds(ir, 48000)
    np.testing.assert_array_equal(_itd(ir, 48000), expected)
    assert expected[0] == -(n - 1) / 48000


# --------------------------------------------------------------------------- known shifts


def _delay_ear(ir, ear, k):
    out = np.array(ir)
    out[:, ear, k:] = ir[:, ear, :-k]
    out[:, ear, :k] = 0.0
    return out


@pytest.mark.parametrize("method", cues.ITD_METHODS)
@pytest.mark.parametrize("ear, k", [(0, 1), (0, 4), (1, 1), (1, 7), (0, 20)])
def test_delaying_one_ear_by_k_samples_changes_itd_by_k_over_fs(method, ear, k):
    fs = 48000
    ir, _ = _synthetic(fs, 256, noise_floor=0.0)
    before = _itd(ir, fs, method)
    after = _itd(_delay_ear(ir, ear, k), fs, method)
    # Delaying the left ear makes the ITD larger (positive: left lags), the right ear smaller.
    change = (after - before) * fs
    expected = k if ear == 0 else -k
    if method == "threshold":
        np.testing.assert_allclose(change, expected, rtol=0, atol=1e-9)
    else:
        # MaxIACCe is not exactly shift-equivariant: the Hilbert envelopes have long tails, so
        # moving one ear changes the linear correlation a little, and its broad peak has
        # neighbouring lags within ~1e-5 of each other. A few directions move by k +/- 1.
        exact = np.isclose(change, expected, rtol=0, atol=1e-9)
        assert exact.mean() >= 0.95, f"only {exact.mean():.1%} moved by exactly {expected}"
        assert np.all(np.abs(change - expected) <= 1 + 1e-9)


@pytest.mark.parametrize("method", cues.ITD_METHODS)
@pytest.mark.parametrize("k", [-9, -1, 0, 2, 5])
def test_pure_delay_gives_k_over_fs(method, k):
    fs, n = 48000, 128
    pulse = signal.windows.hann(9)
    ir = np.zeros((2, n))
    ir[1, 30 : 30 + 9] = pulse  # right ear
    ir[0, 30 + k : 30 + k + 9] = pulse  # left ear, k samples later
    got = cues.itd_seconds(torch.from_numpy(ir), fs, method=method)
    assert got.shape == ()
    assert float(got) == k / fs
    assert ref.reference_itd_seconds(ir[None], fs, method)[0] == k / fs


@pytest.mark.parametrize("ear, gain", [(0, 0.5), (0, 3.0), (1, 0.1), (1, 2.0)])
def test_scaling_one_ear_by_g_changes_ild_by_20_log10_g(ear, gain):
    ir, _ = _synthetic(48000, 256)
    scaled = np.array(ir)
    scaled[:, ear] *= gain
    change = 20 * np.log10(gain) * (1 if ear == 0 else -1)
    np.testing.assert_allclose(_ild(scaled) - _ild(ir), change, rtol=0, atol=1e-9)
    # A level change alone leaves the ITD where it was.
    np.testing.assert_array_equal(_itd(scaled, 48000), _itd(ir, 48000))


# --------------------------------------------------------------------------- spectra


@pytest.mark.parametrize("n", [255, 256, 129, 2, 1])
def test_ild_from_spectrum_equals_ild_of_the_irs(n):
    ir, _ = _synthetic(48000, max(n, 8))
    ir = torch.from_numpy(np.array(ir[:, :, :n]))
    expected = cues.ild_db(ir)
    spectrum = torch.fft.rfft(ir)
    for given in (spectrum, spectrum.abs(), spectrum.numpy()):
        got = cues.ild_db_from_spectrum(given, n_fft=n)
        assert got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
    # Single precision spectra are accepted (and computed in double precision).
    got32 = cues.ild_db_from_spectrum(spectrum.to(torch.complex64), n_fft=n)
    np.testing.assert_allclose(got32.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- shapes, dtypes


@pytest.mark.parametrize("method", cues.ITD_METHODS)
def test_leading_batch_dims(method):
    ir, _ = _synthetic(48000, 256)
    flat = torch.from_numpy(np.array(ir[:15]))
    batched = flat.reshape(3, 5, 2, 256)
    itd = cues.itd_seconds(batched, 48000, method=method)
    assert itd.shape == (3, 5)
    assert torch.equal(itd, cues.itd_seconds(flat, 48000, method=method).reshape(3, 5))
    ild = cues.ild_db(batched)
    assert ild.shape == (3, 5)
    torch.testing.assert_close(ild, cues.ild_db(flat).reshape(3, 5), rtol=1e-12, atol=1e-12)
    spectrum = torch.fft.rfft(batched)
    torch.testing.assert_close(cues.ild_db_from_spectrum(spectrum, 256), ild, rtol=1e-9, atol=1e-12)
    # One direction without any batch axis gives 0-d results.
    assert cues.itd_seconds(flat[0], 48000, method=method).shape == ()
    assert cues.ild_db(flat[0]).shape == ()


@pytest.mark.parametrize("method", cues.ITD_METHODS)
def test_float32_input(method):
    ir, _ = _synthetic(44100, 256)
    ir32 = torch.from_numpy(np.array(ir)).to(torch.float32)
    itd = cues.itd_seconds(ir32, 44100, method=method)
    assert itd.dtype == torch.float64
    # Computed in float64: the same as the float64 reference on the float32 values.
    np.testing.assert_array_equal(
        itd.numpy(), ref.reference_itd_seconds(ir32.double().numpy(), 44100, method)
    )
    ild = cues.ild_db(ir32)
    assert ild.dtype == torch.float64
    np.testing.assert_allclose(ild.numpy(), ref.reference_ild_db(ir32.double().numpy()), rtol=1e-9)


def test_numpy_input_and_integer_sampling_rate_types():
    ir, _ = _synthetic(48000, 128)
    np.testing.assert_array_equal(
        cues.itd_seconds(ir, np.int64(48000)).numpy(), cues.itd_seconds(ir, 48000.0).numpy()
    )
    np.testing.assert_array_equal(cues.ild_db(ir).numpy(), _ild(ir))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", cues.ITD_METHODS)
def test_cuda_equals_cpu(method):
    ir, _ = _synthetic(48000, 256)
    cpu = torch.from_numpy(np.array(ir))
    gpu = cpu.to("cuda")
    itd = cues.itd_seconds(gpu, 48000, method=method)
    assert itd.device.type == "cuda"
    assert torch.equal(itd.cpu(), cues.itd_seconds(cpu, 48000, method=method))
    torch.testing.assert_close(cues.ild_db(gpu).cpu(), cues.ild_db(cpu), rtol=1e-9, atol=0)
    torch.testing.assert_close(
        cues.ild_db_from_spectrum(torch.fft.rfft(gpu), 256).cpu(),
        cues.ild_db(cpu),
        rtol=1e-9,
        atol=1e-12,
    )


# --------------------------------------------------------------------------- the filter


def test_lowpass_impulse_response_is_lfilter_of_an_impulse_and_cached():
    h = cues.lowpass_impulse_response(48000, 256)
    b, a = signal.butter(10, 3000 / (48000 / 2))
    np.testing.assert_array_equal(h, signal.lfilter(b, a, signal.unit_impulse(256)))
    assert cues.lowpass_impulse_response(48000, 256) is h
    assert not h.flags.writeable
    # The identity the FFT low-pass relies on: lfilter from rest == truncated convolution, up to
    # the rounding that the ill-conditioned (b, a) recursion amplifies (~3e-10 at 48 kHz).
    x = np.random.default_rng(0).standard_normal(256)
    y = signal.lfilter(b, a, x)
    np.testing.assert_allclose(np.convolve(x, h)[:256], y, rtol=0, atol=1e-8 * np.abs(y).max())
    # The CPU path is lfilter itself, bit for bit, for any number of leading axes.
    batch = np.random.default_rng(1).standard_normal((3, 2, 256))
    np.testing.assert_array_equal(
        _itd_lags._lowpass(torch, torch.from_numpy(batch), 48000.0).numpy(),
        [[signal.lfilter(b, a, row) for row in pair] for pair in batch],
    )


@pytest.mark.parametrize("n", [2, 3, 255, 256])
def test_hilbert_envelope_equals_scipy(n):
    # Broadband input with a DC offset, so that the DC and Nyquist bins matter (after the 3 kHz
    # low-pass they barely do, and the ITD tests alone would not notice them being wrong).
    x = np.random.default_rng(n).standard_normal((4, 2, n)) + 0.5
    got = _itd_lags._hilbert_envelope(torch, torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, np.abs(signal.hilbert(x)), rtol=1e-12, atol=1e-12)


def test_importing_cues_imports_neither_scipy_signal_nor_torch():
    code = (
        "import sys, hrtfeval.cues; "
        "print(sorted(m for m in ('scipy.signal', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- errors, helpers


@pytest.mark.parametrize(
    "shape, match",
    [
        ((10, 3, 64), r"\(\.\.\., 2, N\).*\(10, 3, 64\)"),
        ((64,), r"\(\.\.\., 2, N\)"),
        ((4, 2, 1), r"at least 2 sample"),
        ((4, 2, 0), r"at least 2 sample"),
    ],
)
def test_itd_rejects_bad_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        cues.itd_seconds(torch.zeros(shape), 48000)


@pytest.mark.parametrize("fs", [0, -48000, float("nan"), float("inf"), True, "48000", None])
def test_itd_rejects_bad_sampling_rates(fs):
    with pytest.raises(ValueError, match="sampling_rate must be a positive number"):
        cues.itd_seconds(torch.zeros(2, 64), fs)


def test_other_errors():
    with pytest.raises(ValueError, match="above 6000 Hz"):
        cues.itd_seconds(torch.zeros(2, 64), 4000)
    with pytest.raises(ValueError, match="method must be one of 'maxiacce', 'threshold'"):
        cues.itd_seconds(torch.zeros(2, 64), 48000, method="xcorr")
    with pytest.raises(ValueError, match="real impulse responses"):
        cues.itd_seconds(torch.zeros(2, 64, dtype=torch.complex128), 48000)
    with pytest.raises(ValueError, match="NaN or infinite"):
        cues.ild_db(torch.full((2, 64), float("nan")))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, N\)"):
        cues.ild_db(torch.ones(5, 1, 64))
    with pytest.raises(ValueError, match="at least 1 sample"):
        cues.ild_db(torch.ones(5, 2, 0))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, 129\).*\(4, 2, 128\)"):
        cues.ild_db_from_spectrum(torch.ones(4, 2, 128), n_fft=256)
    with pytest.raises(ValueError, match="n_fft must be a positive integer"):
        cues.ild_db_from_spectrum(torch.ones(4, 2, 1), n_fft=0)
    with pytest.raises(ValueError, match="same shape"):
        cues.itd_error_us(torch.zeros(3), torch.zeros(4))


def test_error_helpers():
    pred = torch.tensor([1e-4, -2e-4, 0.0], dtype=torch.float64)
    reference = torch.tensor([-5e-5, -2e-4, 1e-6], dtype=torch.float64)
    torch.testing.assert_close(
        cues.itd_error_us(pred, reference),
        torch.tensor([150.0, 0.0, 1.0], dtype=torch.float64),
    )
    torch.testing.assert_close(
        cues.ild_error_db([3.0, -1.0], [1.0, 2.0]), torch.tensor([2.0, 3.0], dtype=torch.float64)
    )


def test_cue_ranges_for_info(tmp_path):
    """`info` shows the ITD/ILD ranges of a set; a pure left/right delay and gain show up in them."""
    from hrtfeval.cues import cue_ranges
    from hrtfeval.model import HRTFSet

    fs, n = 48000.0, 128
    ir = np.zeros((3, 2, n))
    for m, (shift, gain) in enumerate([(0, 1.0), (4, 2.0), (-6, 0.5)]):
        ir[m, 0, 20] = gain  # left
        ir[m, 1, 20 - shift] = 1.0  # right: earlier by `shift` samples
    ranges = cue_ranges(HRTFSet("x.sofa", ir, "ir", fs))
    assert ranges["itd_min_us"] == pytest.approx(-6 / fs * 1e6)
    assert ranges["itd_max_us"] == pytest.approx(4 / fs * 1e6)
    assert ranges["ild_min_db"] == pytest.approx(20 * np.log10(0.5))
    assert ranges["ild_max_db"] == pytest.approx(20 * np.log10(2.0))
    magnitude = HRTFSet(
        "m.pt",
        np.abs(np.fft.rfft(ir, axis=-1)),
        "magnitude",
        fs,
        frequencies=np.fft.rfftfreq(n, 1 / fs),
    )
    only_ild = cue_ranges(magnitude)
    assert "itd_min_us" not in only_ild
    assert only_ild["ild_max_db"] == pytest.approx(20 * np.log10(2.0))


def test_itd_blocks_over_directions_give_the_same_lags(monkeypatch):
    """Dense grids are processed in blocks of directions; blocking must not change any lag."""
    rng = np.random.default_rng(4)
    ir = rng.standard_normal((3, 7, 2, 96)) * np.exp(-np.arange(96) / 12)
    whole = cues.itd_seconds(ir, 48000)
    monkeypatch.setattr(_itd_lags, "_ITD_BLOCK_SAMPLES", 96 * 2)  # blocks of 2 directions
    blocked = cues.itd_seconds(ir, 48000)
    assert blocked.shape == (3, 7)
    assert torch.equal(whole, blocked)
    single = cues.itd_seconds(ir[0, 0], 48000)
    assert single.shape == () and float(single) == float(whole[0, 0])


@pytest.mark.parametrize("block_directions", [None, 3])
def test_itd_of_several_sets_at_once_equals_one_call_per_set(monkeypatch, block_directions):
    # Near ties in both sets, so that the exact recomputation serves both sets in one call and
    # its results must land in the right set and direction.
    ir_a, _ = _synthetic(48000, 256)
    tie = _near_tie(48000.0, 256, 20, 120).numpy()
    set_a = np.concatenate([ir_a[:30], tie, ir_a[30:40]])
    set_b = np.concatenate([tie, _near_tie(48000.0, 256, 35, 125).numpy(), ir_a[40:60]])
    expected = [_itd(s, 48000) for s in (set_a, set_b)]
    if block_directions:
        monkeypatch.setattr(_itd_lags, "_ITD_BLOCK_SAMPLES", 256 * block_directions)
    got = cues.itd_seconds_many([set_a, set_b], 48000)
    assert [g.shape for g in got] == [(41,), (22,)]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.numpy(), e)
    exact = [
        _itd_lags._exact_lags(torch, torch.from_numpy(s), 48000.0, "maxiacce")
        for s in (set_a, set_b)
    ]
    for g, e in zip(got, exact):
        np.testing.assert_array_equal(g.numpy(), e.numpy() / 48000)
    assert cues.itd_seconds_many([], 48000) == []
    with pytest.raises(ValueError, match="one length"):
        cues.itd_seconds_many([set_a, set_a[..., :128]], 48000)


@pytest.mark.parametrize("fs, n", [(48000, 256), (44100, 1024), (96000, 2048)])
def test_itd_of_unstructured_responses_equals_reference(fs, n):
    # White-noise "responses" with random decays: broad, many-peaked correlations, so many
    # directions sit near a tie and the fast path must hand them over; every lag must still be
    # the per-direction reference's.
    rng = np.random.default_rng(n)
    m = 120
    decay = rng.uniform(5, n / 2, size=(m, 2, 1))
    ir = rng.standard_normal((m, 2, n)) * np.exp(-np.arange(n) / decay)
    ir *= 10.0 ** rng.uniform(-3, 3, size=(m, 2, 1))  # ears at very different levels
    got = cues.itd_seconds(torch.from_numpy(ir), fs).numpy()
    np.testing.assert_array_equal(got, ref.reference_itd_seconds(ir, fs, "maxiacce"))
    _, sure = _itd_lags._maxiacce_fast(
        torch, torch.from_numpy(ir), float(fs), _itd_lags._fast_tolerance(float(fs), n)
    )
    assert 0.5 < sure.double().mean() < 1.0  # both paths are exercised


@pytest.mark.parametrize(
    "fs, n, share", [(48000, 256, 0.8), (44100, 1024, 0.8), (48000, 128, 0.8), (96000, 2048, 0.2)]
)
def test_float64_pass_settles_what_float32_cannot_and_only_with_the_exact_lag(fs, n, share):
    # The directions the float32 pass hands over go through the same path in float64 first:
    # every lag it vouches for must be the per-direction reference's, and it must vouch for
    # most of them (else the per-sample recursion would run for nearly every set). At 96 kHz
    # the low-pass discrepancy (~1e-7), not float32 rounding, sets both tolerances: the float64
    # pass settles fewer there.
    rng = np.random.default_rng(n + 7)
    m = 600
    decay = rng.uniform(5, n / 2, size=(m, 2, 1))
    ir = rng.standard_normal((m, 2, n)) * np.exp(-np.arange(n) / decay)
    ir *= 10.0 ** rng.uniform(-3, 3, size=(m, 2, 1))
    x = torch.from_numpy(ir)
    _, sure32 = _itd_lags._maxiacce_fast(torch, x, float(fs), _itd_lags._fast_tolerance(fs, n))
    handed = ~sure32
    assert handed.sum() >= 4
    tol64 = _itd_lags._fast_tolerance(float(fs), n, double=True)
    assert tol64 < _itd_lags._fast_tolerance(float(fs), n)
    lags, sure = _itd_lags._maxiacce_fast(torch, x[handed], float(fs), tol64, double=True)
    expected = ref.reference_itd_seconds(ir[handed.numpy()], fs, "maxiacce")
    np.testing.assert_array_equal((lags.numpy() / fs)[sure.numpy()], expected[sure.numpy()])
    assert sure.double().mean() > share
    # The tiered result, exact path included, equals the reference for every direction.
    np.testing.assert_array_equal(
        cues.itd_seconds(x, fs).numpy(), ref.reference_itd_seconds(ir, fs, "maxiacce")
    )


@pytest.mark.parametrize(
    "count, n",
    [(0, 256), (1, 256), (793, 256), (11950, 256), (100, 2048), (10**6, 256), (3, 2**20)],
)
def test_itd_blocks_partition_the_directions_into_equal_bounded_blocks(count, n):
    x = torch.zeros(1, 2, n).expand(count, 2, n)  # a view: no memory for 10**6 directions
    blocks = _itd_lags._blocks(x)
    sizes = [b.shape[0] for _, b in blocks]
    assert sum(sizes) == count
    assert [start for start, _ in blocks] == [sum(sizes[:k]) for k in range(len(sizes))]
    if sizes:
        assert max(sizes) - min(sizes) <= 1
        assert max(sizes) * n <= 1.5 * _itd_lags._ITD_BLOCK_SAMPLES or max(sizes) == 1
    if count == 793:
        assert sizes == [397, 396]  # two blocks, not three full ones and a small one


def test_fast_itd_certificate_holds_when_most_energy_is_above_the_cutoff(monkeypatch):
    # Two impulses per ear plus a windowed tone above 10 kHz at 10^4 times their level: the
    # low-pass removes nearly all of the energy, but the float32 rounding stays relative to the
    # input. A gap test scaled by ||e|| alone vouched for wrong lags on such sets; every lag
    # must be the exact path's.
    rng = np.random.default_rng(5)
    fs, n, count = 48000.0, 256, 2000
    t = np.arange(n)
    ir = np.zeros((count, 2, n))
    rows = np.arange(count)[:, None]
    ears = np.arange(2)[None, :]
    ir[rows, ears, rng.integers(10, 200, size=(count, 2))] = 1.0
    ir[rows, ears, rng.integers(10, 200, size=(count, 2))] += rng.uniform(0.3, 1.0, (count, 2))
    centre = rng.integers(40, 200, size=(count, 2, 1))
    width = rng.uniform(5, 40, size=(count, 2, 1))
    tone = np.sin(
        2 * np.pi * rng.uniform(10e3, 22e3, (count, 2, 1)) * t / fs
        + rng.uniform(0, 6.3, (count, 2, 1))
    )
    ir += 1e4 * np.exp(-0.5 * ((t - centre) / width) ** 2) * tone
    x = torch.from_numpy(ir)
    exact = _itd_lags._exact_lags(torch, x, fs, "maxiacce")
    np.testing.assert_array_equal(cues.itd_seconds(x, fs).numpy(), exact.numpy() / fs)
    # The same data through a bound on ||e|| alone: wrong lags it calls sure (the test has teeth).
    monkeypatch.setattr(_itd_lags, "_INPUT_ROUNDING", 0.0)
    lags, sure = _itd_lags._maxiacce_fast(torch, x, fs, _itd_lags._fast_tolerance(fs, n))
    assert bool((lags[sure] != exact[sure]).any())
