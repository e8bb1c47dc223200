"""hrtfeval.localisation (Baumgartner, Majdak & Laback 2014) against independent references.

Each stage is checked against a plain numpy/scipy reference written here in a deliberately
different way (per-direction loops, full complex FFTs, closed-form gammatone impulse responses,
B-spline interpolation, FFT circular convolution), and the whole model against a chain of those
references.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from scipy.interpolate import make_interp_spline
from scipy.signal import lfilter
from scipy.special import comb

from hrtfeval import localisation as loc
from hrtfeval import synth
from hrtfeval.errors import HrtfevalError
from hrtfeval.model import IR, MAGNITUDE, TF, HRTFSet

FS = 48000.0


@functools.cache
def _sets(seed=1):
    """A 793-direction reference (5 deg rings, median plane -45 ... 225 deg) and a prediction."""
    pos = synth.measured_grid()
    ref = synth.spherical_head_hrirs(pos, sampling_rate=FS, n_taps=256)
    pred = synth.degrade(ref, seed=seed)
    for a in (pos, ref, pred):
        a.setflags(write=False)
    return pos, ref, pred


def _flatten_pinna(ir, fs=FS, above=4000.0, octaves=1.0):
    """Magnitudes smoothed over ``octaves``-wide bands above ``above`` Hz, phase kept."""
    n = ir.shape[-1]
    spec = np.fft.rfft(ir, axis=-1)
    mag = np.abs(spec)
    f = np.fft.rfftfreq(n, 1 / fs)
    out = mag.copy()
    for k in np.flatnonzero(f > above):
        band = (f >= f[k] * 2 ** (-octaves / 2)) & (f <= f[k] * 2 ** (octaves / 2))
        out[..., k] = np.sqrt(np.mean(mag[..., band] ** 2, axis=-1))
    return np.fft.irfft(out * np.exp(1j * np.angle(spec)), n=n, axis=-1)


# --------------------------------------------------------------------------- references


def _ref_coordinates(az, el):
    """Vectorised numpy (ulp-close, not bit-exact) lateral/polar angles via asin."""
    a, e = np.deg2rad(az), np.deg2rad(el)
    x, y, z = np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)
    lat = np.rad2deg(np.arcsin(np.clip(y, -1, 1)))
    pol = np.rad2deg(np.arctan2(z, x))
    pol = np.where(pol < -90, pol + 360, pol)
    return lat, pol


def _ref_sagittal(lat, pol, lam):
    for w in (1, 2, 3, 4, 5):
        picked = {}
        for m in range(len(lat)):
            if abs(lat[m] - lam) <= (w + 0.01) / 2 and pol[m] not in picked:
                picked[pol[m]] = m
        angles = sorted(picked)
        ok = (
            len(angles) > 0
            and angles[0] <= -29.99
            and angles[-1] >= 209.99
            and all(b - a <= 30 for a, b in itertools.pairwise(angles))
        )
        if ok or w == 5:
            return [picked[a] for a in angles]


def _ref_dtf(ir, fs):
    m_count, n_ears, n = ir.shape
    out = np.empty_like(ir)
    f = np.arange(n) * fs / n
    for ear in range(n_ears):
        H = np.fft.fft(ir[:, ear], axis=-1)
        A = np.zeros(n)
        for m in range(m_count):
            A += np.log(np.abs(H[m]) + loc.EPS)
        A /= m_count
        c = np.real(np.fft.ifft(A))
        folded = np.zeros(n)
        folded[0] = c[0]
        for k in range(1, n):
            if k < n / 2:
                folded[k] = 2 * c[k]
            elif k == n / 2:
                folded[k] = c[k]
        phi = np.angle(np.exp(np.fft.fft(folded)))
        ctf = np.exp(A) * np.exp(1j * phi)
        D = H.copy()
        for k in range(n // 2 + 1):
            if 50 <= f[k] <= 18000:
                D[:, k] = H[:, k] / ctf[k]
                if k != 0 and (n - k) != k:
                    D[:, n - k] = H[:, n - k] / ctf[n - k]
        out[:, ear] = np.real(np.fft.ifft(D, axis=-1))
    return out


def _ref_levels(ir, fs):
    """Band levels from the closed-form impulse response b C(n+3, 3) a^n, by np.convolve."""
    erb = lambda f: 9.2645 * np.log(1 + 0.00437 * f)
    lo, hi = erb(700.0), erb(18000.0)
    n_b = int(np.floor(hi - lo))
    centres = (np.exp((lo + (hi - lo - n_b) / 2 + np.arange(n_b + 1)) / 9.2645) - 1) / 0.00437
    flat = ir.reshape(-1, ir.shape[-1])
    n = flat.shape[-1]
    taps = np.arange(n)
    out = np.empty((flat.shape[0], centres.size))
    for b_i, fc in enumerate(centres):
        beta = 1.0185916357881302 * (24.7 + fc / 9.265)
        a = np.exp(-2 * np.pi * beta / fs - 2j * np.pi * fc / fs)
        h = (1 - np.exp(-2 * np.pi * beta / fs)) ** 4 * comb(taps + 3, 3) * a**taps
        for r in range(flat.shape[0]):
            u = 2 * np.real(np.convolve(flat[r], h)[:n])
            out[r, b_i] = 10 * np.log10(np.mean(u**2))
    return out.reshape(ir.shape[:-1] + (centres.size,))


def _ref_similarity(g_target, g_template, lam, s_par):
    J, I = g_template.shape[0], g_target.shape[0]
    out = np.empty((J, I))
    wl = 1 / (1 + math.exp(-lam / 13))
    for j in range(J):
        for i in range(I):
            s = []
            for ear in (0, 1):
                sigma = np.sum(np.abs(g_target[i, ear] - g_template[j, ear])) / g_target.shape[-1]
                s.append(1 + loc.EPS - 1 / (1 + math.exp(-6 * (sigma - s_par))))
            out[j, i] = wl * s[0] + (1 - wl) * s[1]
    return out


def _ref_probabilities(sim, template_polar, lam):
    resp = np.arange(-90, 270, 5.0)
    r0 = math.ceil(min(template_polar) / 5) * 5
    inside = [r for r in resp if r >= r0 and r <= max(template_polar)]
    kappa = 1 / math.radians(17 / math.cos(math.radians(lam))) ** 2
    from scipy.special import i0

    v = np.array([math.exp(kappa * math.cos(2 * math.pi * k / 72)) for k in range(72)])
    v /= 2 * math.pi * i0(kappa)
    out = np.zeros((72, sim.shape[1]))
    for i in range(sim.shape[1]):
        spline = make_interp_spline(template_polar, sim[:, i], k=3)  # not-a-knot
        col = np.zeros(72)
        for r in inside:
            col[round((r + 90) / 5)] = max(float(spline(r)), 0.0)
        conv = np.real(np.fft.ifft(np.fft.fft(col) * np.fft.fft(v)))
        out[:, i] = conv / (conv.sum() + loc.EPS)
    return out


def _ref_errors(p, target_polar):
    resp = np.arange(-90, 270, 5.0)
    qe, pe, eb = [], [], []
    for i, tau in enumerate(target_polar):
        q, w_sum, d2, rsum = 0.0, 0.0, 0.0, 0.0
        for k, r in enumerate(resp):
            d = tau - r
            if d < -180 or d > 180:
                d = (d + 180) % 360 - 180
            if abs(d) >= 90:
                q += p[k, i]
            else:
                w_sum += p[k, i]
                d2 += p[k, i] * d * d
                rsum += p[k, i] * r
        qe.append(q)
        pe.append(math.sqrt(d2 / w_sum))
        eb.append(rsum / w_sum - tau if tau < 80 else np.nan)
    return np.array(qe), np.array(pe), np.array(eb)


def _ref_model(pred, ref, pos, fs, lam, s_par=0.7, dtf=True):
    """The whole model from the references above; returns QE %, PE, EB and the matrix."""
    lat, pol = loc.sagittal_coordinates(pos[:, 0], pos[:, 1])  # checked separately, bit-exact
    t_idx = _ref_sagittal(list(lat), list(pol), lam)
    i_idx = t_idx
    if dtf:
        pred, ref = _ref_dtf(pred, fs), _ref_dtf(ref, fs)
    g_t = np.maximum(np.diff(_ref_levels(ref[t_idx], fs), axis=-1), 0)
    g_i = np.maximum(np.diff(_ref_levels(pred[i_idx], fs), axis=-1), 0)
    sim = _ref_similarity(g_i, g_t, lam, s_par)
    p = _ref_probabilities(sim, pol[t_idx], lam)
    qe, pe, eb = _ref_errors(p, pol[i_idx])
    return 100 * qe.mean(), pe.mean(), np.nanmean(eb), p


# --------------------------------------------------------------------------- stages


def test_coordinates_bit_exact_checks():
    lat, pol = loc.sagittal_coordinates([0.0, 180.0, 180.0], [-30.0, 40.0, 55.0])
    assert pol[0] == -30.0
    assert pol[1] == 140.00000000000003
    assert pol[2] == 125.0
    assert np.all(lat == 0.0)


def test_coordinates_against_numpy():
    pos = synth.sphere_grid(500)
    lat, pol = loc.sagittal_coordinates(pos[:, 0], pos[:, 1])
    rlat, rpol = _ref_coordinates(pos[:, 0], pos[:, 1])
    np.testing.assert_allclose(lat, rlat, atol=1e-9)
    np.testing.assert_allclose(pol, rpol, atol=1e-9)
    assert pol.min() >= -90 and pol.max() < 270
    # left is positive, above is 90, behind is 180
    lat, pol = loc.sagittal_coordinates([90.0, 0.0, 180.0], [0.0, 90.0, 0.0])
    assert lat[0] == pytest.approx(90.0) and pol[1] == pytest.approx(90.0)
    assert pol[2] == pytest.approx(180.0)


@pytest.mark.parametrize("lam", [0.0, -30.0, 30.0, 60.0])
def test_sagittal_plane_against_loop(lam):
    pos = synth.measured_grid()
    lat, pol = loc.sagittal_coordinates(pos[:, 0], pos[:, 1])
    got = loc.sagittal_plane(lat, pol, lam)
    assert list(got) == _ref_sagittal(list(lat), list(pol), lam)
    assert np.all(np.diff(pol[got]) > 0)


def test_sagittal_plane_first_of_equal_polar_in_file_order():
    # two directions at the same polar angle 0 (az 0 and az 0.4 deg, lateral 0 and 0.4 deg)
    lat = np.array([0.4, 0.0, 0.0, 0.0])
    pol = np.array([0.0, 0.0, -30.0, 210.0])
    assert list(loc.sagittal_plane(lat, pol, 0.0)) == [2, 0, 3]


def test_sagittal_plane_widens_until_covered():
    # at width 1 only the front half is there; width 3 adds the rear
    lat = np.array([0.0, 0.0, 0.0, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2])
    pol = np.array([-30.0, 0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 0.0])
    assert list(loc.sagittal_plane(lat, pol, 0.0)) == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert list(loc.sagittal_plane(lat[:3], pol[:3], 0.0)) == [0, 1, 2]  # falls back to w = 5


def test_sagittal_plane_error_names_lateral():
    with pytest.raises(HrtfevalError, match=r"lateral angle 45 deg"):
        loc.sagittal_plane(np.zeros(3), np.zeros(3), 45.0, "x.sofa")


def test_dtf_against_full_fft_loops():
    _pos, ref, _ = _sets()
    got = loc.directional_transfer_functions(np.array(ref), FS)
    np.testing.assert_allclose(got, _ref_dtf(np.array(ref), FS), atol=1e-12 * np.abs(got).max())
    odd = np.array(ref[:100, :, :255])
    got = loc.directional_transfer_functions(odd, 44100.0)
    np.testing.assert_allclose(got, _ref_dtf(odd, 44100.0), atol=1e-12 * np.abs(got).max())


def test_dtf_flattens_the_mean_log_spectrum():
    _, ref, _ = _sets()
    d = loc.directional_transfer_functions(np.array(ref), FS)
    f = np.fft.rfftfreq(256, 1 / FS)
    band = (f >= 50) & (f <= 18000)
    mean_log = np.log(np.abs(np.fft.rfft(d, axis=-1)) + loc.EPS).mean(axis=0)
    np.testing.assert_allclose(mean_log[:, band], 0.0, atol=1e-9)


def test_global_gain_changes_nothing():
    pos, ref, pred = _sets()
    a = loc.predict_arrays(pred, pos, ref, pos, FS, dtf=False)
    b = loc.predict_arrays(3.0 * np.array(pred), pos, 0.5 * np.array(ref), pos, FS, dtf=False)
    for m in ("qe", "pe", "eb"):
        assert a.prediction.value(m) == pytest.approx(b.prediction.value(m), abs=1e-9)


def test_band_centres_and_gradient_count():
    fc = loc.band_centres()
    assert fc.size == 28
    assert fc[0] == pytest.approx(729.4749612644271, abs=1e-9)
    assert fc[-1] == pytest.approx(17439.33036788266, abs=1e-8)
    erb = 9.2645 * np.log(1 + 0.00437 * fc)
    np.testing.assert_allclose(np.diff(erb), 1.0, atol=1e-12)
    g = loc.positive_gradients(np.zeros((3, 2, 28)))
    assert g.shape == (3, 2, 27)


@pytest.mark.parametrize("fs,n", [(48000.0, 256), (44100.0, 200), (96000.0, 512)])
def test_band_levels_against_closed_form(fs, n):
    rng = np.random.default_rng(3)
    ir = rng.standard_normal((4, 2, n)) * np.exp(-np.arange(n) / 30.0)
    got = loc.band_levels(ir, fs)
    np.testing.assert_allclose(got, _ref_levels(ir, fs), atol=1e-6)
    # and against lfilter with the complex pole, one first-order section at a time
    fc = loc.band_centres()[5]
    beta = 1.0185916357881302 * (24.7 + fc / 9.265)
    a = np.exp(-2 * np.pi * beta / fs - 2j * np.pi * fc / fs)
    y = ir[0, 0].astype(complex)
    for _ in range(4):
        y = lfilter([1.0], [1.0, -a], y)
    u = 2 * np.real((1 - np.exp(-2 * np.pi * beta / fs)) ** 4 * y)
    assert got[0, 0, 5] == pytest.approx(20 * np.log10(np.sqrt(np.sum(u * u) / n)), abs=1e-7)


def test_gammatone_coefficients_expand_the_repeated_pole():
    fc = loc.band_centres()[3]
    b, den = loc.gammatone_coefficients(fc, FS)
    beta = 1.0185916357881302 * (24.7 + fc / 9.265)
    a = np.exp(-2 * np.pi * beta / FS - 2j * np.pi * fc / FS)
    np.testing.assert_allclose(den, [comb(4, k) * (-a) ** k for k in range(5)], atol=1e-14)
    assert b == pytest.approx((1 - np.exp(-2 * np.pi * beta / FS)) ** 4, rel=1e-15)


def test_positive_gradients():
    levels = np.array([0.0, 2.0, 1.0, 1.5, 1.5])
    np.testing.assert_array_equal(loc.positive_gradients(levels), [2.0, 0.0, 0.5, 0.0])


@pytest.mark.parametrize("lam,s_par", [(0.0, 0.7), (30.0, 0.5), (-20.0, 1.0)])
def test_similarity_against_loops(lam, s_par):
    rng = np.random.default_rng(5)
    gi, gt = rng.uniform(0, 3, (7, 2, 27)), rng.uniform(0, 3, (9, 2, 27))
    np.testing.assert_allclose(
        loc.similarity(gi, gt, lam, s_par), _ref_similarity(gi, gt, lam, s_par), atol=1e-14
    )


def test_kappa_and_kernel():
    kernel = loc.motor_kernel(0.0)
    assert loc.motor_kappa(0.0) == pytest.approx(11.36, abs=1e-3)
    assert loc.motor_kappa(0.0) == pytest.approx(1 / np.deg2rad(17.0) ** 2, rel=1e-14)
    assert loc.motor_kappa(60.0) == pytest.approx(1 / np.deg2rad(34.0) ** 2, rel=1e-12)
    assert kernel.argmax() == 0 and kernel[1] == pytest.approx(kernel[71], rel=1e-12)
    assert kernel.sum() * 2 * np.pi / 72 == pytest.approx(1.0, rel=1e-6)  # a density over 2 pi


@pytest.mark.parametrize("lam", [0.0, 30.0])
def test_probabilities_against_bspline_and_fft(lam):
    rng = np.random.default_rng(7)
    t_polar = np.sort(rng.choice(np.arange(-45.0, 231.0, 2.5), 40, replace=False))
    t_polar[0] = -42.3
    sim = rng.uniform(0, 1, (40, 6))
    got = loc.response_probabilities(sim, t_polar, lam)
    np.testing.assert_allclose(got, _ref_probabilities(sim, t_polar, lam), atol=1e-13)
    np.testing.assert_allclose(got.sum(axis=0), 1.0, atol=1e-12)


def test_chance_level():
    targets = np.concatenate([np.arange(-30, 71, 5), [80, 100], np.arange(110, 211, 5)]).astype(
        float
    )
    assert targets.size == 44
    p = np.full((72, 44), 1 / 72)
    e = loc.localisation_errors(p, targets)
    assert 100 * e.qe.mean() == pytest.approx(51.388888888888886, abs=1e-12)
    assert e.pe.mean() == pytest.approx(50.49752469181037, abs=1e-12)


def test_errors_against_loops():
    rng = np.random.default_rng(11)
    p = rng.uniform(0, 1, (72, 30))
    p /= p.sum(axis=0)
    tau = np.concatenate([[-30.0, 140.00000000000003, 60.0, 210.0], rng.uniform(-45, 230, 26)])
    e = loc.localisation_errors(p, tau)
    qe, pe, eb = _ref_errors(p, tau)
    np.testing.assert_allclose(e.qe, qe, atol=1e-14)
    np.testing.assert_allclose(e.pe, pe, atol=1e-12)
    np.testing.assert_allclose(e.eb, eb, atol=1e-12)
    assert np.isnan(e.eb[1]) and np.isnan(e.eb[3]) and not np.isnan(e.eb[2])


def test_errors_exact_quadrant_boundary():
    # target -30 deg: the response at 60 deg is exactly 90 deg away, so a quadrant error
    p = np.zeros((72, 1))
    p[30, 0] = 0.5  # 60 deg
    p[29, 0] = 0.5  # 55 deg
    e = loc.localisation_errors(p, np.array([-30.0]))
    assert e.qe[0] == 0.5 and e.pe[0] == 85.0


def test_errors_no_local_probability():
    p = np.zeros((72, 1))
    p[60, 0] = 1.0  # 210 deg
    with pytest.raises(HrtfevalError, match="no response probability within 90 deg"):
        loc.localisation_errors(p, np.array([0.0]), "pred.sofa", 0.0)


# --------------------------------------------------------------------------- the whole model


@pytest.mark.parametrize("lam,dtf", [(0.0, True), (30.0, True), (0.0, False)])
def test_model_against_reference_chain(lam, dtf):
    pos, ref, pred = _sets()
    res = loc.predict_arrays(pred, pos, ref, pos, FS, laterals=(lam,), dtf=dtf)
    qe, pe, eb, p = _ref_model(np.array(pred), np.array(ref), pos, FS, lam, dtf=dtf)
    sector = res.prediction.sectors[0]
    np.testing.assert_allclose(sector.probabilities, p, atol=1e-9)
    assert res.prediction.qe == pytest.approx(qe, abs=1e-7)
    assert res.prediction.pe == pytest.approx(pe, abs=1e-7)
    assert res.prediction.eb == pytest.approx(eb, abs=1e-7)
    assert sector.probabilities.shape == (72, sector.target_polar.size)
    np.testing.assert_array_equal(sector.response_polar, np.arange(-90.0, 270.0, 5.0))


def test_self_gives_zero_delta():
    pos, ref, _ = _sets()
    res = loc.predict_arrays(ref, pos, ref, pos, FS, laterals=(-30.0, 0.0, 30.0))
    for m in ("qe", "pe", "eb"):
        assert res.delta(m) == 0.0
    assert 0 < res.baseline.qe < 51.4 and 0 < res.baseline.pe < 50.5


def test_flattened_pinna_cues_are_worse():
    pos, ref, _ = _sets()
    flat = _flatten_pinna(np.array(ref))
    res = loc.predict_arrays(flat, pos, ref, pos, FS)
    assert res.prediction.qe > res.baseline.qe + 5.0
    assert res.prediction.pe > res.baseline.pe + 3.0


def test_sets_need_not_share_a_grid():
    pos, ref, _ = _sets()
    pos2 = synth.sphere_grid(1200)
    pos2 = np.concatenate([pos2, synth.measured_grid()[pos[:, 0] % 180 == 0]])
    pred = synth.spherical_head_hrirs(pos2, sampling_rate=44100.0, n_taps=240, seed=4)
    res = loc.predict_arrays(pred, pos2, ref, pos, 44100.0, ref_sampling_rate=FS)
    assert res.prediction.sectors[0].target_index.size != res.baseline.sectors[0].target_index.size
    assert np.isfinite(res.prediction.qe)


def test_several_laterals_pool_by_target_count():
    pos, ref, pred = _sets()
    res = loc.predict_arrays(pred, pos, ref, pos, FS, laterals=(-30.0, 0.0, 30.0))
    single = [
        loc.predict_arrays(pred, pos, ref, pos, FS, laterals=(lam,)) for lam in (-30.0, 0.0, 30.0)
    ]
    counts = np.array([s.prediction.sectors[0].n_targets for s in single])
    qe = np.array([s.prediction.qe for s in single])
    assert res.prediction.qe == pytest.approx(np.sum(qe * counts) / counts.sum(), abs=1e-12)
    assert res.prediction.by_lateral("pe")[30.0] == pytest.approx(
        single[2].prediction.pe, abs=1e-12
    )


def test_sensitivity_changes_the_prediction():
    pos, ref, pred = _sets()
    a = loc.predict_arrays(pred, pos, ref, pos, FS, sensitivity=0.7)
    b = loc.predict_arrays(pred, pos, ref, pos, FS, sensitivity=0.3)
    assert a.prediction.qe != b.prediction.qe


def test_hrtfset_tf_equals_ir():
    pos, ref, pred = _sets()
    ir_ref = HRTFSet("ref.sofa", np.array(ref), IR, FS, np.array(pos))
    f = np.fft.rfftfreq(256, 1 / FS)
    tf_pred = HRTFSet("pred.sofa", np.fft.rfft(pred, axis=-1), TF, FS, np.array(pos), f)
    ir_pred = HRTFSet("pred.sofa", np.array(pred), IR, FS, np.array(pos))
    a, b = loc.predict(tf_pred, ir_ref), loc.predict(ir_pred, ir_ref)
    assert a.prediction.qe == pytest.approx(b.prediction.qe, abs=1e-9)


# --------------------------------------------------------------------------- bad input


def test_magnitude_only_is_an_error():
    pos, ref, _ = _sets()
    f = np.fft.rfftfreq(256, 1 / FS)
    mag = HRTFSet("mag.sofa", np.abs(np.fft.rfft(ref, axis=-1)), MAGNITUDE, FS, np.array(pos), f)
    ir = HRTFSet("ref.sofa", np.array(ref), IR, FS, np.array(pos))
    with pytest.raises(HrtfevalError, match=r"mag.sofa: holds magnitude spectra without phase"):
        loc.predict(mag, ir)


def test_rate_too_low_is_an_error():
    pos, ref, _ = _sets()
    with pytest.raises(HrtfevalError, match=r"r.sofa: its sampling rate 32000 Hz is too low"):
        loc.predict_arrays(ref, pos, ref, pos, 32000.0, ref_file="r.sofa")


def test_no_direction_near_lateral_is_an_error():
    pos, ref, _ = _sets()
    upper = pos[:, 1] >= 30  # lateral angles up to 60 deg only
    with pytest.raises(
        HrtfevalError, match=r"p.sofa: no direction lies within .* lateral angle 80 deg"
    ):
        loc.predict_arrays(
            ref[upper], pos[upper], ref, pos, FS, laterals=(80.0,), pred_file="p.sofa"
        )


def test_silent_band_is_an_error():
    pos, ref, _ = _sets()
    silent = np.array(ref)
    silent[np.flatnonzero((pos[:, 0] == 0) & (pos[:, 1] == 0))] = 0.0  # in the median plane
    with pytest.raises(HrtfevalError, match=r"band is silent"):
        loc.predict_arrays(silent, pos, ref, pos, FS, dtf=False)


def test_missing_positions_and_bad_options():
    _, ref, _ = _sets()
    with pytest.raises(HrtfevalError, match="no source positions"):
        loc.predict_arrays(ref, None, ref, None, FS)
    with pytest.raises(HrtfevalError, match="lateral angle must lie in -90 ... 90"):
        loc.check_laterals([100.0])
    with pytest.raises(HrtfevalError, match="sensitivity"):
        loc.check_sensitivity(0.0)


# --------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def sofa_pair(tmp_path_factory):
    """ref.sofa, pred.sofa (same 793-direction grid), other.sofa (another grid and length)."""
    import json  # noqa: F401  (used by the CLI tests below)

    root = tmp_path_factory.mktemp("loc")
    pos, ref, pred = _sets()
    pos2 = synth.sphere_grid(900)
    other = synth.spherical_head_hrirs(pos2, sampling_rate=FS, n_taps=200, seed=2)
    return {
        "root": root,
        "ref": synth.write_sofa(root / "ref.sofa", np.array(ref), np.array(pos), FS),
        "pred": synth.write_sofa(root / "pred.sofa", np.array(pred), np.array(pos), FS),
        "other": synth.write_sofa(root / "other.sofa", other, pos2, FS),
        "low": synth.write_sofa(root / "low.sofa", np.array(ref), np.array(pos), 32000.0),
    }


def _cli(*args):
    from typer.testing import CliRunner

    from hrtfeval.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _json(*args):
    import json

    result = _cli("score", *args, "--format", "json", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_cli_single_pair_matches_library(sofa_pair):
    from hrtfeval.io import read_hrtf

    doc = _json(sofa_pair["pred"], sofa_pair["ref"], "-m", "qe", "-m", "pe", "-m", "eb")
    res = loc.predict(read_hrtf(sofa_pair["pred"]), read_hrtf(sofa_pair["ref"]))
    for m in ("qe", "pe", "eb"):
        s = doc["scores"][m]
        assert s["left"] is None and s["right"] is None
        assert s["overall"] == res.prediction.value(m)
        assert s["baseline"] == res.baseline.value(m)
        assert s["delta"] == s["overall"] - s["baseline"]
        assert "by_lateral" not in s
    assert doc["scores"]["qe"]["unit"] == "%" and doc["scores"]["pe"]["unit"] == "deg"
    spec = doc["spec"]["localisation"]
    assert spec["dtf"] is True and spec["sensitivity"] == 0.7 and spec["lateral_deg"] == [0.0]
    assert "Baumgartner" in spec["model"] and "erratum" in spec["model"]
    assert doc["spec"]["directions"]["matched"] is None  # no direction matching


def test_cli_laterals_sensitivity_dtf(sofa_pair):
    args = (sofa_pair["pred"], sofa_pair["ref"], "-m", "qe", "-m", "pe")
    doc = _json(*args, "--lateral", "-30", "--lateral", "0", "--lateral", "30")
    by = doc["scores"]["qe"]["by_lateral"]
    assert list(by) == ["-30", "0", "30"]
    single = _json(*args, "--lateral", "30")
    assert by["30"]["overall"] == single["scores"]["qe"]["overall"]
    assert by["30"]["baseline"] == single["scores"]["qe"]["baseline"]
    no_dtf = _json(*args, "--no-dtf", "--sensitivity", "0.5")
    assert no_dtf["spec"]["localisation"]["dtf"] is False
    assert no_dtf["spec"]["localisation"]["sensitivity"] == 0.5
    plain = _json(*args)
    assert no_dtf["scores"]["qe"]["overall"] != plain["scores"]["qe"]["overall"]


def test_cli_other_grid_and_mixed_metrics(sofa_pair):
    doc = _json(sofa_pair["other"], sofa_pair["ref"], "-m", "qe")
    assert doc["spec"]["directions"]["prediction"] == 900
    mixed = _json(sofa_pair["pred"], sofa_pair["ref"], "-m", "lsd", "-m", "qe")
    alone = _json(sofa_pair["pred"], sofa_pair["ref"], "-m", "qe")
    assert list(mixed["scores"]) == ["lsd", "qe"]
    assert mixed["scores"]["qe"] == alone["scores"]["qe"]
    assert "baseline" not in mixed["scores"]["lsd"]


def test_cli_table_csv_markdown_show_baseline(sofa_pair):
    args = ("score", sofa_pair["pred"], sofa_pair["ref"], "-m", "qe", "--device", "cpu")
    table = _cli(*args, "--lateral", "0", "--lateral", "30")
    assert table.exit_code == 0
    assert "Baseline" in table.stdout and "Delta" in table.stdout
    assert "qe at lateral 30" in table.stdout
    assert "sensitivity 0.7, DTF on" in table.stdout
    csv_text = _cli(*args, "-f", "csv").stdout
    assert csv_text.splitlines()[0].startswith("metric,unit,left,right,overall,baseline,delta")
    md = _cli(*args, "-f", "markdown").stdout
    assert "| Baseline | Delta |" in md


def test_cli_fail_above_checks_overall(sofa_pair):
    doc = _json(sofa_pair["pred"], sofa_pair["ref"], "-m", "qe")
    value = doc["scores"]["qe"]["overall"]
    args = ("score", sofa_pair["pred"], sofa_pair["ref"], "-m", "qe", "--device", "cpu")
    assert _cli(*args, "--fail-above", f"qe={value - 0.01}").exit_code == 1
    assert _cli(*args, "--fail-above", f"qe={value + 0.01}").exit_code == 0


@pytest.mark.parametrize(
    "extra,message",
    [
        (("--lateral", "100"), "lateral angle must lie in -90 ... 90"),
        (("--lateral", "-91"), "lateral angle must lie in -90 ... 90"),
        (("--sensitivity", "-1"), "sensitivity must be a positive number"),
    ],
)
def test_cli_bad_options(sofa_pair, extra, message):
    r = _cli("score", sofa_pair["pred"], sofa_pair["ref"], "-m", "qe", *extra)
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr
    assert r.stdout == ""


def test_cli_rate_too_low_and_no_directions(sofa_pair, tmp_path):
    r = _cli("score", sofa_pair["low"], sofa_pair["ref"], "-m", "pe")
    assert r.exit_code == 2 and "low.sofa" in r.stderr and "too low" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    pos, ref, _ = _sets()
    upper = np.array(pos)[:, 1] >= 30
    top = synth.write_sofa(tmp_path / "top.sofa", np.array(ref)[upper], np.array(pos)[upper], FS)
    r = _cli("score", top, sofa_pair["ref"], "-m", "qe", "--lateral", "80")
    assert r.exit_code == 2 and "top.sofa" in r.stderr and "lateral angle 80 deg" in r.stderr


def test_cli_magnitude_only_is_an_error(sofa_pair, tmp_path):
    import torch

    pos, ref, _ = _sets()
    mag = np.abs(np.fft.rfft(np.array(ref), axis=-1))
    path = tmp_path / "mag.pt"
    torch.save(
        {
            "hrtf": torch.from_numpy(mag),  # real: magnitudes
            "positions": torch.from_numpy(np.array(pos)),
            "sampling_rate": FS,
            "frequencies": torch.from_numpy(np.fft.rfftfreq(256, 1 / FS)),
        },
        path,
    )
    r = _cli("score", path, sofa_pair["ref"], "-m", "qe")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "mag.pt" in r.stderr and "without phase" in r.stderr


def test_cli_batch_and_merge(sofa_pair, tmp_path):
    import json
    import shutil

    preds, refs = tmp_path / "p", tmp_path / "r"
    preds.mkdir(), refs.mkdir()
    for name in ("a", "b"):
        shutil.copy(sofa_pair["pred"], preds / f"{name}.sofa")
        shutil.copy(sofa_pair["ref"], refs / f"{name}.sofa")
    shutil.copy(sofa_pair["ref"], preds / "c.sofa")
    shutil.copy(sofa_pair["ref"], refs / "c.sofa")
    common = ("-m", "qe", "-m", "eb", "--lateral", "0", "--lateral", "30", "-j", "0")
    doc = _json(preds, refs, *common)
    single = _json(sofa_pair["pred"], sofa_pair["ref"], *common[:-2])
    by_name = {e["prediction"]: e for e in doc["pairs"]}
    assert by_name["a.sofa"]["scores"]["qe"] == single["scores"]["qe"]
    assert by_name["c.sofa"]["scores"]["qe"]["delta"] == 0.0
    assert doc["spec"]["localisation"]["lateral_deg"] == [0.0, 30.0]
    assert doc["aggregate"]["qe"]["baseline_mean"] == pytest.approx(
        single["scores"]["qe"]["baseline"]
    )
    table = _cli("score", preds, refs, *common)
    assert table.exit_code == 0 and "qe baseline" in table.stdout
    assert "localisation model Baumgartner 2014 (lateral 0, 30 deg" in table.stdout
    csv_head = _cli("score", preds, refs, *common, "-f", "csv").stdout.splitlines()[0]
    assert "qe_baseline" in csv_head and "qe_baseline_delta" in csv_head
    shards = []
    for k in (1, 2):
        out = tmp_path / f"s{k}.json"
        r = _cli("score", preds, refs, *common, "--shard", f"{k}/2", "-f", "json", "-o", out)
        assert r.exit_code == 0, r.stderr
        shards.append(out)
    merged = _cli("merge", *shards, "-f", "json", "--fail-above", "qe=100")
    assert merged.exit_code == 0, merged.stderr
    mdoc = json.loads(merged.stdout)
    assert {e["prediction"]: e["scores"]["qe"] for e in mdoc["pairs"]}["a.sofa"] == by_name[
        "a.sofa"
    ]["scores"]["qe"] | {"threshold": 100.0, "passed": True}


def test_cli_localisation_picture(sofa_pair, tmp_path):
    out = tmp_path / "pmv.png"
    r = _cli("plot", sofa_pair["pred"], sofa_pair["ref"], "--view", "localisation", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert out.stat().st_size > 10000
    from hrtfeval.io import read_hrtf
    from hrtfeval.plot import localisation_view
    from hrtfeval.scoring import ScoreOptions, load_aligned

    options = ScoreOptions.build(["qe"], laterals=(0.0, 30.0))
    view = localisation_view(
        load_aligned(str(sofa_pair["pred"]), str(sofa_pair["ref"]), options), options
    )
    res = view.data["result"]
    assert res.laterals == (0.0, 30.0)
    assert (
        res.prediction.qe
        == loc.predict(
            read_hrtf(sofa_pair["pred"]), read_hrtf(sofa_pair["ref"]), laterals=(0.0, 30.0)
        ).prediction.qe
    )
    plots = tmp_path / "plots"
    r = _cli("score", sofa_pair["other"], sofa_pair["ref"], "-m", "qe", "--plot", plots, "-q")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in plots.iterdir()) == ["localisation.png"]
