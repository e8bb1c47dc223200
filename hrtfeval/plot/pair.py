"""The pair views: error by direction, LSD by frequency, one direction compared."""

from __future__ import annotations

import numpy as np

from ..errors import HrtfevalError
from .common import (
    _LABELS,
    _NAMES,
    CMAP,
    DEFAULT_DPI,
    EAR_COLOURS,
    EAR_NAMES,
    EAR_STYLES,
    REFERENCE_COLOUR,
    View,
    _deg,
    _device,
    _figure,
    _log_frequency_axis,
    _mark_band,
    _names,
    _num,
    _pair_tensors,
    _positions,
    _signed,
    _spectrum_bins,
    _unit_label,
    _wrap,
    _wrap_azimuth,
)

# --------------------------------------------------------------------------------------------
# error by direction


def direction_view(
    aligned, metric: str, options, device="cpu", *, dpi: float = DEFAULT_DPI, per=None
) -> View:
    """Per-direction error of ``metric`` on a Hammer projection (azimuth x elevation).

    Parameters
    ----------
    aligned : hrtfeval.align.AlignedPair
        The aligned pair (see :func:`hrtfeval.scoring.load_aligned`).
    metric : {"lsd", "rmse", "mae", "itd", "ild"}
    options : hrtfeval.scoring.ScoreOptions
        Band, FFT length, epsilon, ITD method and reduction, as for scoring.
    device : str or torch.device
    per : hrtfeval.scoring.PerDirection, optional
        The errors already computed by the score (:func:`hrtfeval.scoring.scored_errors`);
        None computes them.

    Returns
    -------
    View
        ``data["values"]``: the plotted errors, (M, 2) left/right or (M,) for itd (µs) and ild
        (dB), exactly :func:`~hrtfeval.scoring.per_direction_errors`' values;
        ``data["positions"]`` (M, 3) azimuth/elevation/distance (deg, deg, m);
        ``data["overall"]``, ``data["left"]``, ``data["right"]``: the score's reductions.

    Raises
    ------
    HrtfevalError
        When the metric cannot be computed on this pair (e.g. ITD of magnitude-only data) or the
        reference has no source positions.
    """
    from matplotlib.colors import Normalize

    from ..scoring import INTERAURAL, per_direction_errors, reduce_pair

    if per is None:
        per = per_direction_errors(aligned, metric, options, _device(device))
    metric, unit = per.metric, per.unit
    values = per.values.numpy().astype(np.float64)
    positions = _positions(aligned, "direction map")
    score = reduce_pair(per.values, metric, unit, options)

    interaural = metric in INTERAURAL
    columns = [values] if interaural else [values[:, 0], values[:, 1]]
    panel_titles = (
        ["interaural: one value per direction"] if interaural else ["LEFT ear", "RIGHT ear"]
    )
    panel_colours = ["0.1"] if interaural else list(EAR_COLOURS)

    fig = _figure(6.4 if interaural else 11.0, 4.4 if interaural else 4.3, dpi)
    axes = [
        fig.add_subplot(1, len(columns), i + 1, projection="hammer") for i in range(len(columns))
    ]
    vmax = float(np.nanmax(values)) if values.size else 1.0
    norm = Normalize(vmin=0.0, vmax=vmax if vmax > 0 else 1.0)

    az = _wrap_azimuth(positions[:, 0])
    el = np.clip(positions[:, 1], -90.0, 90.0)
    # x = -azimuth: +90 (the listener's left) is drawn on the left of the map, as seen from
    # behind the listener who faces the centre of the map.
    x, y = np.deg2rad(-az), np.deg2rad(el)
    m = len(az)
    # Marker area shrinks with the number of directions so that dense grids do not overlap.
    size = float(np.clip(9000.0 / max(m, 1), 6.0, 160.0))
    ticks = np.array([-135, -90, -45, 0, 45, 90, 135], dtype=float)

    scatter = None
    ears = [None] if interaural else [0, 1]
    for ax, vals, title, colour, ear in zip(axes, columns, panel_titles, panel_colours, ears):
        order = np.argsort(vals, kind="stable")  # the worst directions drawn last, on top
        # zorder below the axis (2.5): the tick labels along the equator stay on top.
        scatter = ax.scatter(
            x[order],
            y[order],
            c=vals[order],
            cmap=CMAP,
            norm=norm,
            s=size,
            edgecolors="none",
            zorder=2.0,
        )
        worst = int(np.argmax(vals))
        has_worst = bool(np.ptp(vals) > 0)  # all equal (e.g. no error): no worst direction
        if has_worst:
            ax.scatter(
                [x[worst]],
                [y[worst]],
                s=size * 2.2 + 30,
                facecolors="none",
                edgecolors="tab:red",
                linewidths=1.4,
                zorder=2.1,
                gid="worst-direction",
            )
        ax.set_xticks(np.deg2rad(-ticks))
        ax.set_xticklabels([])
        for t in ticks:  # azimuth labels along the equator, on top of the markers
            ax.text(
                np.deg2rad(-t),
                np.deg2rad(-4.0),
                _deg(t, signed=True),
                fontsize=7,
                color="0.15",
                ha="center",
                va="top",
                zorder=5,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 0.5},
            )
        ax.set_yticks(np.deg2rad([-60, -30, 0, 30, 60]))
        ax.set_yticklabels([_deg(t) for t in (-60, -30, 0, 30, 60)], fontsize=8)
        ax.grid(True, alpha=0.35)
        ax.set_xlabel("◀ left      azimuth (°), 0 = front, ±180 = back      right ▶", fontsize=9)
        ax.set_ylabel("elevation (°)", fontsize=9)
        # The ear's reduction is the score's own (reduce_pair), not recomputed here.
        reduced = (
            f"{options.reduction} {_num(score.left if ear == 0 else score.right, unit)} · "
            if ear is not None
            else ""
        )
        where = (
            f" (red ring: az {_deg(az[worst], signed=True)}, el {_deg(el[worst], signed=True)})"
            if has_worst
            else " (the same in every direction)"
        )
        ax.set_title(
            f"{title}\n{reduced}max {_num(vals[worst], unit)}{where}",
            fontsize=10,
            color=colour,
            pad=12,
        )

    fig.colorbar(
        scatter,
        ax=axes,
        orientation="horizontal",
        shrink=0.55,
        aspect=40,
        pad=0.02,
        label=_unit_label(metric, unit),
    )
    pred_name, ref_name = _names(aligned)
    ear_values = (
        "" if interaural else (f" (left {_num(score.left, unit)}, right {_num(score.right, unit)})")
    )
    fig.suptitle(
        _wrap(
            f"{_NAMES.get(metric, metric)} by direction: {pred_name} vs {ref_name}\n"
            f"overall {_LABELS.get(metric, metric)} = {_num(score.overall, unit)}{ear_values}, "
            f"{options.reduction} over {m} directions",
            fig.get_figwidth(),
            11,
        ),
        fontsize=11,
    )
    return View(
        "direction",
        fig,
        {
            "metric": metric,
            "unit": unit,
            "values": values,
            "positions": positions,
            "overall": score.overall,
            "left": score.left,
            "right": score.right,
        },
    )


# --------------------------------------------------------------------------------------------
# error by frequency


def frequency_lsd(pred_t, ref_t, bins, epsilon: float) -> np.ndarray:
    """Per-frequency log-spectral difference (dB), shape (2, len(bins)).

    ``sqrt(mean over directions of (20log10|P| - 20log10|T|)^2)`` per ear and bin, from
    :meth:`~hrtfeval.represent.SetTensors.magnitude_db` (|.| floored at ``epsilon``).
    """
    diff = pred_t.magnitude_db(bins, epsilon) - ref_t.magnitude_db(bins, epsilon)  # (M, 2, K)
    return diff.pow(2).mean(dim=-3).sqrt().detach().cpu().numpy()


def frequency_view(
    aligned, options, device="cpu", *, dpi: float = DEFAULT_DPI, tensors=None
) -> View:
    """Per-frequency log-spectral difference (RMS over directions) for each ear.

    Every bin above 0 Hz and below Nyquist is drawn; the frequencies outside the scored band
    (``options.freq_min`` to ``options.freq_max``) are greyed out. ``data``: ``frequencies``
    (K,) in Hz, ``lsd`` (2, K) in dB (left, right), ``band_mean`` (2,) the mean of each curve
    over the scored band.
    """
    from ..represent import band_bins, check_same_bins

    pred_t, ref_t = _pair_tensors(aligned, options, device, tensors)
    freqs = check_same_bins(pred_t, ref_t)
    fs = ref_t.sampling_rate or pred_t.sampling_rate
    idx = _spectrum_bins(freqs, fs)
    lsd = frequency_lsd(pred_t, ref_t, _index(idx, pred_t), options.epsilon)
    f = freqs[idx]
    in_band = np.isin(idx, band_bins(freqs, options.freq_min, options.freq_max, fs))
    band_mean = lsd[:, in_band].mean(axis=1) if in_band.any() else np.full(2, np.nan)

    fig = _figure(9.0, 4.8, dpi)
    ax = fig.add_subplot()
    # The axis spans the drawn bins; a band edge outside them is clipped to the first bin.
    f_lo, f_hi = float(f.min()), float(f.max())
    f_hi *= 1.03
    _mark_band(ax, options, fs, f_lo, f_hi)
    for ear in range(2):
        ax.plot(
            f,
            lsd[ear],
            color=EAR_COLOURS[ear],
            ls=EAR_STYLES[ear],
            lw=1.5,
            label=f"{EAR_NAMES[ear]} ear: RMS over directions, per bin",
        )
    _log_frequency_axis(ax, f_lo, f_hi)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("log-spectral difference (dB)\nRMS over directions")
    ax.legend(loc="best", fontsize=9, framealpha=0.9)
    pred_name, ref_name = _names(aligned)
    ax.set_title(
        _wrap(
            f"Log-spectral difference by frequency: {pred_name} vs {ref_name}\n"
            f"RMS over {aligned.n_matched} directions of 20log10|P| − 20log10|T|, per ear",
            fig.get_figwidth() * 0.85,
            11,
        ),
        fontsize=11,
    )
    return View("frequency", fig, {"frequencies": f, "lsd": lsd, "band_mean": band_mean})


def _index(idx: np.ndarray, like):
    import torch

    return torch.as_tensor(idx, dtype=torch.long, device=like.device)


# --------------------------------------------------------------------------------------------
# compare one direction


def nearest_direction(positions: np.ndarray, azimuth: float, elevation: float) -> tuple[int, float]:
    """Index of the row of ``positions`` nearest (great circle) to (azimuth, elevation) in
    degrees, and its angle from it in degrees."""
    from ..model import spherical_to_unit

    if not -90.0 <= elevation <= 90.0:
        raise HrtfevalError(
            f"--direction elevation must be in [-90, 90] degrees; got {elevation:g}"
        )
    units = spherical_to_unit(np.asarray(positions, dtype=np.float64))
    want = spherical_to_unit(np.array([[azimuth, elevation, 1.0]]))[0]
    angles = np.rad2deg(np.arccos(np.clip(units @ want, -1.0, 1.0)))
    i = int(np.argmin(angles))
    return i, float(angles[i])


def compare_view(
    aligned,
    options,
    direction: tuple[float, float] = (0.0, 0.0),
    device="cpu",
    *,
    dpi: float = DEFAULT_DPI,
    tensors=None,
) -> View:
    """Magnitude responses (dB) of prediction and reference at one direction, both ears.

    The direction drawn is the matched direction nearest to ``direction`` = (azimuth,
    elevation) in degrees; the title says which. ``data``: ``index``, ``position`` (3,),
    ``angle_deg``, ``frequencies`` (K,), ``prediction_db`` and ``reference_db`` (2, K).
    """
    from ..represent import check_same_bins

    pred_t, ref_t = _pair_tensors(aligned, options, device, tensors)
    freqs = check_same_bins(pred_t, ref_t)
    positions = _positions(aligned, "compare view (it looks up a direction)")
    az_req, el_req = float(direction[0]), float(direction[1])
    i, angle = nearest_direction(positions, az_req, el_req)
    fs = ref_t.sampling_rate or pred_t.sampling_rate
    idx = _spectrum_bins(freqs, fs)
    bins = _index(idx, pred_t)
    p_db = pred_t.magnitude_db(bins, options.epsilon)[i].detach().cpu().numpy()
    r_db = ref_t.magnitude_db(bins, options.epsilon)[i].detach().cpu().numpy()
    f = freqs[idx]

    fig = _figure(11.0, 6.2, dpi)
    grid = fig.add_gridspec(2, 2, height_ratios=(2.2, 1.0))
    top = [fig.add_subplot(grid[0, 0])]
    top.append(fig.add_subplot(grid[0, 1], sharey=top[0]))
    bottom = [fig.add_subplot(grid[1, e], sharex=top[e]) for e in range(2)]
    bottom[1].sharey(bottom[0])
    f_lo, f_hi = float(f.min()), float(f.max()) * 1.03
    pred_name, ref_name = _names(aligned)
    # dB floors (|H| = 0 -> 20log10(eps)) would squash the plot: show 90 dB below the peak.
    peak = float(max(p_db.max(), r_db.max()))
    floor = max(float(min(p_db.min(), r_db.min())) - 3.0, peak - 90.0)
    diff = p_db - r_db
    for ear in range(2):
        ax, dx = top[ear], bottom[ear]
        _mark_band(ax, options, fs, f_lo, f_hi)
        ax.plot(f, r_db[ear], color=REFERENCE_COLOUR, lw=1.6, label=f"reference ({ref_name})")
        ax.plot(
            f, p_db[ear], color=EAR_COLOURS[ear], lw=1.4, ls="--", label=f"prediction ({pred_name})"
        )
        _log_frequency_axis(ax, f_lo, f_hi)
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
        ax.set_ylim(floor, peak + 6.0)
        ax.set_ylabel("magnitude (dB)")
        ax.set_title(
            f"{EAR_NAMES[ear].upper()} ear", color=EAR_COLOURS[ear], fontsize=11, fontweight="bold"
        )
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
        _mark_band(dx, options, fs, f_lo, f_hi, label=False)
        dx.axhline(0.0, color="0.4", lw=0.8)
        dx.plot(f, diff[ear], color=EAR_COLOURS[ear], lw=1.2)
        _log_frequency_axis(dx, f_lo, f_hi)
        dx.set_ylabel("prediction −\nreference (dB)")
    span = float(np.nanmax(np.abs(np.clip(diff, -60, 60)))) if diff.size else 1.0
    bottom[0].set_ylim(-span * 1.1 - 0.5, span * 1.1 + 0.5)
    az_w = _wrap_azimuth(positions[i : i + 1, 0])[0]
    fig.suptitle(
        _wrap(
            f"Magnitude at az {_signed(az_w)}° (+ = left), el {_signed(positions[i, 1])}° "
            f"(direction #{i}, nearest matched to the requested {_signed(az_req)}°, "
            f"{_signed(el_req)}°; {angle:.1f}° away)\n"
            f"{pred_name} vs {ref_name}",
            fig.get_figwidth(),
            11,
        ),
        fontsize=11,
    )
    return View(
        "compare",
        fig,
        {
            "index": i,
            "position": positions[i],
            "angle_deg": angle,
            "frequencies": f,
            "prediction_db": p_db,
            "reference_db": r_db,
        },
    )
