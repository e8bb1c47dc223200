"""Scoring stage: spectra, band selection and reductions against a plain numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrtfeval import hrtf_loss
from hrtfeval.errors import HrtfevalError
from hrtfeval.represent import SetTensors, band_bins, rfft_frequencies
from hrtfeval.scoring import (
    LAP_THRESHOLDS,
    ScoreOptions,
    Threshold,
    per_direction,
    resolve_device,
    score_tensors,
)

CPU = torch.device("cpu")


def random_irs(m=37, n=256, seed=0):
    rng = np.random.default_rng(seed)
    decay = np.exp(-np.arange(n) / (n / 8))
    ref = rng.standard_normal((m, 2, n)) * decay
    pred = ref + 0.3 * rng.standard_normal((m, 2, n)) * decay
    return pred, ref


def ir_tensors(pred, ref, fs=48000.0, n_fft=None):
    return (
        SetTensors(pred, "ir", fs, None, CPU, n_fft),
        SetTensors(ref, "ir", fs, None, CPU, n_fft),
    )


def numpy_lsd(pred, ref, fs, fmin=20.0, fmax=20000.0, n_fft=None):
    """LAP definition written out: rfft, bins f_k in [fmin, fmax] with k < N/2, dB RMS per vector."""
    n = n_fft or pred.shape[-1]
    k = np.arange(n // 2 + 1)
    f = k * fs / n
    keep = (f >= fmin) & (f <= fmax) & (k < n / 2)
    p = 20 * np.log10(np.abs(np.fft.rfft(pred, n=n, axis=-1))[..., keep])
    t = 20 * np.log10(np.abs(np.fft.rfft(ref, n=n, axis=-1))[..., keep])
    return np.sqrt(np.mean((p - t) ** 2, axis=-1)), int(keep.sum())


@pytest.mark.parametrize("fs,n", [(48000.0, 256), (44100.0, 128), (96000.0, 512), (48000.0, 255)])
def test_lsd_matches_numpy_reference(fs, n):
    pred, ref = random_irs(n=n, seed=n)
    opts = ScoreOptions.build(["lsd"])
    values = per_direction(*ir_tensors(pred, ref, fs), "lsd", opts).numpy()
    expected, _ = numpy_lsd(pred, ref, fs)
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    scores = score_tensors(*ir_tensors(pred, ref, fs), opts)["lsd"]
    assert scores.left == pytest.approx(expected[:, 0].mean(), rel=1e-9)
    assert scores.right == pytest.approx(expected[:, 1].mean(), rel=1e-9)
    assert scores.overall == pytest.approx(expected.mean(), rel=1e-9)
    assert scores.unit == "dB"


def test_lsd_band_and_nfft_options():
    pred, ref = random_irs()
    opts = ScoreOptions.build(["lsd"], freq_min=1000.0, freq_max=8000.0, n_fft=512)
    got = per_direction(*ir_tensors(pred, ref, n_fft=512), "lsd", opts).numpy()
    expected, n_bins = numpy_lsd(pred, ref, 48000.0, 1000.0, 8000.0, n_fft=512)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert n_bins == 75  # 1000..8000 Hz at 93.75 Hz spacing: bins 11..85


def test_nyquist_bin_is_not_used():
    fs, n = 48000.0, 64
    f = rfft_frequencies(n, fs)
    assert f[-1] == fs / 2
    idx = band_bins(f, 0.0, fs, fs)
    assert idx[-1] == n // 2 - 1
    assert idx[0] == 0


def test_band_without_bins_is_an_error():
    with pytest.raises(HrtfevalError, match="no frequency bin lies in the band 30000-40000"):
        band_bins(rfft_frequencies(256, 48000.0), 30000.0, 40000.0, 48000.0)


def test_overall_lsd_equals_hrtf_loss_on_the_band():
    """The table and the public loss are one computation."""
    pred, ref = random_irs()
    p, t = ir_tensors(pred, ref)
    opts = ScoreOptions.build(["lsd"])
    bins = band_bins(t.frequencies(), 20.0, 20000.0, 48000.0)
    loss = hrtf_loss(p.spectrum[..., bins], t.spectrum[..., bins], "lsd", "linear")
    assert score_tensors(p, t, opts)["lsd"].overall == pytest.approx(float(loss), rel=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "rms"])
@pytest.mark.parametrize("metric", ["rmse", "mae"])
def test_time_domain_rmse_mae_and_reductions(metric, reduction):
    pred, ref = random_irs()
    d = pred - ref
    per = np.sqrt(np.mean(d**2, -1) + 1e-12) if metric == "rmse" else np.mean(np.abs(d), -1)
    reduce = (
        (lambda v: v.mean()) if reduction == "mean" else (lambda v: np.sqrt(np.mean(v**2) + 1e-12))
    )
    s = score_tensors(*ir_tensors(pred, ref), ScoreOptions.build([metric], reduction=reduction))[
        metric
    ]
    assert s.left == pytest.approx(reduce(per[:, 0]), rel=1e-10)
    assert s.right == pytest.approx(reduce(per[:, 1]), rel=1e-10)
    assert s.overall == pytest.approx(reduce(per), rel=1e-10)
    assert s.unit == ""


@pytest.mark.parametrize("domain", ["magnitude", "db"])
def test_spectral_domains_for_rmse(domain):
    pred, ref = random_irs()
    fs, n = 48000.0, pred.shape[-1]
    f = np.arange(n // 2 + 1) * fs / n
    keep = (f >= 20) & (f <= 20000) & (np.arange(n // 2 + 1) < n / 2)
    mp = np.abs(np.fft.rfft(pred, axis=-1))[..., keep]
    mt = np.abs(np.fft.rfft(ref, axis=-1))[..., keep]
    if domain == "db":
        mp, mt = 20 * np.log10(mp), 20 * np.log10(mt)
    expected = np.sqrt(np.mean((mp - mt) ** 2, -1) + 1e-12)
    opts = ScoreOptions.build(["rmse"], domain=domain)
    got = per_direction(*ir_tensors(pred, ref), "rmse", opts).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    unit = score_tensors(*ir_tensors(pred, ref), opts)["rmse"].unit
    assert unit == ("dB" if domain == "db" else "")


def test_tf_input_scores_like_its_impulse_responses():
    pred, ref = random_irs()
    fs = 48000.0
    freqs = rfft_frequencies(pred.shape[-1], fs)
    tf_p = SetTensors(np.fft.rfft(pred, axis=-1), "tf", fs, freqs, CPU)
    tf_r = SetTensors(np.fft.rfft(ref, axis=-1), "tf", fs, freqs, CPU)
    db_r = SetTensors(20 * np.log10(np.abs(np.fft.rfft(ref, axis=-1))), "db", fs, freqs, CPU)
    opts = ScoreOptions.build(["lsd", "ild", "itd"])
    a = score_tensors(*ir_tensors(pred, ref), opts)
    b = score_tensors(tf_p, tf_r, opts)
    for m in ("lsd", "ild", "itd"):
        assert b[m].overall == pytest.approx(a[m].overall, rel=1e-9, abs=1e-9)
    mixed = score_tensors(tf_p, db_r, ScoreOptions.build(["lsd"]))["lsd"]
    assert mixed.overall == pytest.approx(a["lsd"].overall, rel=1e-9)


def test_magnitude_only_data_has_no_itd():
    pred, ref = random_irs()
    fs = 48000.0
    freqs = rfft_frequencies(pred.shape[-1], fs)
    mag = SetTensors(np.abs(np.fft.rfft(pred, axis=-1)), "magnitude", fs, freqs, CPU, path="p.pt")
    with pytest.raises(HrtfevalError, match="p.pt: .*no ITD"):
        score_tensors(mag, ir_tensors(pred, ref)[1], ScoreOptions.build(["itd"]))


def test_time_domain_needs_irs():
    pred, ref = random_irs()
    freqs = rfft_frequencies(pred.shape[-1], 48000.0)
    mag = SetTensors(np.abs(np.fft.rfft(pred, axis=-1)), "magnitude", 48000.0, freqs, CPU)
    with pytest.raises(HrtfevalError, match="--domain time needs impulse responses"):
        score_tensors(mag, ir_tensors(pred, ref)[1], ScoreOptions.build(["rmse"], domain="time"))


def test_different_bins_are_an_error():
    pred, ref = random_irs()
    p = SetTensors(pred, "ir", 48000.0, None, CPU)
    t = SetTensors(ref[..., :128], "ir", 48000.0, None, CPU)
    with pytest.raises(HrtfevalError, match="different frequency bins"):
        score_tensors(p, t, ScoreOptions.build(["lsd"]))


def test_lap_preset_thresholds_are_strict():
    opts = ScoreOptions.build(preset="LAP")
    assert opts.metrics == ("itd", "ild", "lsd")
    assert opts.threshold_map == LAP_THRESHOLDS
    assert LAP_THRESHOLDS["lsd"].passes(7.3999)
    assert not LAP_THRESHOLDS["lsd"].passes(7.4)
    assert not LAP_THRESHOLDS["itd"].passes(100.0)
    assert Threshold(7.4, "<=").passes(7.4)
    assert not Threshold(7.4, "<=").passes(7.400001)


def test_fail_above_sets_passed():
    pred, ref = random_irs()
    value = score_tensors(*ir_tensors(pred, ref), ScoreOptions.build(["lsd"]))["lsd"].overall
    ok = score_tensors(
        *ir_tensors(pred, ref), ScoreOptions.build(["lsd"], fail_above={"lsd": value})
    )
    bad = score_tensors(
        *ir_tensors(pred, ref), ScoreOptions.build(["lsd"], fail_above={"LSD": value * 0.999})
    )
    assert ok["lsd"].passed is True and ok["lsd"].threshold == value
    assert bad["lsd"].passed is False


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"metrics": ["lsdd"]}, "metric must be one of .*'lsdd'"),
        ({"metrics": ["lsd"], "reduction": "median"}, "reduction must be one of .*'median'"),
        ({"metrics": ["lsd"], "epsilon": 0.0}, "epsilon must be a finite positive"),
        ({"metrics": ["lsd"], "freq_min": 5000.0, "freq_max": 100.0}, "freq-min < freq-max"),
        ({"metrics": ["lsd"], "domain": "phase"}, "domain must be one of .*'phase'"),
        ({"metrics": ["lsd"], "itd_method": "xcorr"}, "itd method must be one of .*'xcorr'"),
        ({"metrics": ["lsd"], "fail_above": {"rmse": 1.0}}, "--fail-above names 'rmse'"),
        ({"metrics": ["lsd"], "length_policy": "stretch"}, "length policy must be one of"),
        ({"metrics": ["lsd"], "n_fft": 1}, "--n-fft must be at least 2"),
    ],
)
def test_option_errors_name_the_bad_value(kwargs, match):
    metrics = kwargs.pop("metrics")
    with pytest.raises(ValueError, match=match):
        ScoreOptions.build(metrics, **kwargs)


def test_device_resolution():
    assert resolve_device("cpu") == CPU
    assert resolve_device("AUTO").type in ("cpu", "cuda")
    with pytest.raises(
        HrtfevalError, match="--device must be auto, cpu, cuda or cuda:N; got 'tpu'"
    ):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(HrtfevalError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_scores_equal_cpu():
    pred, ref = random_irs()
    opts = ScoreOptions.build(["lsd", "rmse", "ild", "itd"])
    cpu = score_tensors(*ir_tensors(pred, ref), opts)
    gpu_dev = torch.device("cuda")
    gpu = score_tensors(
        SetTensors(pred, "ir", 48000.0, None, gpu_dev),
        SetTensors(ref, "ir", 48000.0, None, gpu_dev),
        opts,
    )
    for m in opts.metrics:
        assert gpu[m].overall == pytest.approx(cpu[m].overall, rel=1e-5, abs=1e-9)


def test_spectra_off_the_rfft_grid_give_spectral_metrics_but_no_cues():
    """Mesh2HRTF-style spectra without a 0 Hz bin: LSD works, ITD/ILD are a clear error."""
    pred, ref = random_irs()
    fs = 48000.0
    spec_p, spec_r = np.fft.rfft(pred, axis=-1)[..., 1:], np.fft.rfft(ref, axis=-1)[..., 1:]
    freqs = rfft_frequencies(pred.shape[-1], fs)[1:]
    p = SetTensors(spec_p, "tf", fs, freqs, CPU, path="mesh2hrtf.sofa")
    t = SetTensors(spec_r, "tf", fs, freqs, CPU, path="ref.sofa")
    lsd = score_tensors(p, t, ScoreOptions.build(["lsd"]))["lsd"].overall
    expected, _ = numpy_lsd(pred, ref, fs)
    assert lsd == pytest.approx(expected.mean(), rel=1e-9)  # the 0 Hz bin is outside 20 Hz anyway
    for metric, what in (("itd", "impulse responses"), ("ild", "the ILD")):
        with pytest.raises(
            HrtfevalError, match=f"mesh2hrtf.sofa: .*not the bins of a real FFT.*{what}"
        ):
            score_tensors(p, t, ScoreOptions.build([metric]))
