"""Pictures of where and at which frequencies a prediction goes wrong.

Four views, each a function that returns a :class:`View` (a matplotlib figure plus the arrays it
draws, so that tests and callers can check the plotted numbers):

* :func:`direction_view` -- one metric's per-direction error on a Hammer map (one panel per ear,
  one panel for the interaural ITD/ILD). The values are those of
  :func:`hrtfeval.scoring.per_direction_errors`, the same function the scores are reduced from.
* :func:`frequency_view` -- per-frequency log-spectral difference (RMS over directions) per ear.
* :func:`compare_view` -- prediction and reference magnitude at the matched direction nearest to
  a requested one, both ears.
* :func:`batch_view` -- the distribution of every metric's overall value over the pairs of a
  results JSON written by ``hrtfeval score``.

matplotlib is imported inside the functions (``hrtfeval --help`` never loads it) and figures are
drawn on an Agg canvas without pyplot: nothing here touches a global backend or opens a window.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HrtfevalError

#: Image formats ``-o FILE`` may name, by file extension.
IMAGE_FORMATS = ("png", "svg", "pdf")
#: The views of one pair (the batch view takes a results JSON instead).
PAIR_VIEWS = ("direction", "frequency", "compare", "localisation")
VIEWS = PAIR_VIEWS + ("batch",)

# Left ear blue, right ear red (the usual audio-meter convention); lines also differ in style.
EAR_COLOURS = ("tab:blue", "tab:red")
EAR_NAMES = ("left", "right")
EAR_STYLES = ("-", "--")
REFERENCE_COLOUR = "0.1"
CMAP = "viridis"
BAND_COLOUR = "0.88"
DEFAULT_DPI = 150

_LABELS = {"lsd": "LSD", "rmse": "RMSE", "mae": "MAE", "itd": "|ΔITD|", "ild": "|ΔILD|"}
_NAMES = {
    "lsd": "log-spectral distance",
    "rmse": "RMSE",
    "mae": "MAE",
    "itd": "ITD error",
    "ild": "ILD error",
}


@dataclass
class View:
    """A drawn figure and the arrays it shows.

    Attributes
    ----------
    name : str
        ``"direction"``, ``"frequency"``, ``"compare"`` or ``"batch"``.
    figure : matplotlib.figure.Figure
        On an Agg canvas; save it with :func:`save_view`.
    data : dict
        The plotted numbers by name (numpy arrays or floats), e.g. ``values`` (M, 2) or (M,) and
        ``positions`` (M, 3) for the direction view.
    """

    name: str
    figure: Any
    data: dict[str, Any] = field(default_factory=dict)

    def pixel_size(self, dpi: float | None = None) -> tuple[int, int]:
        """(width, height) in pixels of a PNG saved at ``dpi`` (default: the figure's)."""
        w, h = self.figure.get_size_inches()
        dpi = dpi or self.figure.get_dpi()
        return int(round(w * dpi)), int(round(h * dpi))


# --------------------------------------------------------------------------------------------
# helpers


def _figure(width: float, height: float, dpi: float = DEFAULT_DPI):
    """A constrained-layout figure on an Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _wrap(text: str, width_in: float, fontsize: float) -> str:
    """``text`` with every line broken to fit ``width_in`` inches at ``fontsize`` points (long
    file names are broken too), so that a title is never clipped at the figure's edge."""
    import textwrap

    chars = max(20, int(width_in * 72.0 / (0.62 * fontsize)))
    return "\n".join(
        textwrap.fill(line, chars, break_long_words=True, break_on_hyphens=False) or line
        for line in text.split("\n")
    )


#: Longest file name drawn in a title; longer ones keep their start and end around an ellipsis.
NAME_LIMIT = 48


def _short(name: str, limit: int = NAME_LIMIT) -> str:
    if len(name) <= limit:
        return name
    keep = (limit - 1) // 2
    return name[:keep] + "…" + name[-keep:]


def _names(aligned) -> tuple[str, str]:
    return _short(Path(aligned.prediction.path).name), _short(Path(aligned.reference.path).name)


def _unit_label(metric: str, unit: str) -> str:
    label = _LABELS.get(metric, metric.upper())
    return f"{label} ({unit})" if unit else f"{label} (linear amplitude)"


def _num(value: float, unit: str) -> str:
    text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def _deg(value: float, signed: bool = False) -> str:
    """Whole degrees, ``+30°`` / ``−30°`` (true minus sign), never ``-0°``."""
    v = int(round(float(value)))
    if v == 0:
        return "0°"
    if v < 0:
        return f"−{-v}°"
    return f"+{v}°" if signed else f"{v}°"


def _signed(value: float) -> str:
    """``+12.5`` / ``−3.0`` (one decimal, true minus sign, no ``-0.0``)."""
    text = f"{float(value):+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text.replace("-", "−")


def _wrap_azimuth(az) -> np.ndarray:
    """Azimuth in degrees -> (-180, 180], +90 = left (SOFA: counter-clockwise from the front)."""
    a = np.mod(np.asarray(az, dtype=np.float64) + 180.0, 360.0) - 180.0
    a[a == -180.0] = 180.0
    return a


def _positions(aligned, what: str) -> np.ndarray:
    pos = aligned.reference.positions
    if pos is None:
        raise HrtfevalError(
            f"has no source positions, so the {what} cannot be drawn", aligned.reference.path
        )
    return np.asarray(pos, dtype=np.float64)


def _device(device):
    from .scoring import resolve_device

    return resolve_device(device) if isinstance(device, str) else device


def _hz_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(x, _pos):
        if x >= 1000:
            return f"{x / 1000:g}k"
        return f"{x:g}"

    return FuncFormatter(fmt)


def _log_frequency_axis(ax, f_lo: float, f_hi: float) -> None:
    from matplotlib.ticker import FixedLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_xlim(f_lo, f_hi)
    ticks = [
        t for t in (20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5) if f_lo <= t <= f_hi
    ]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(_hz_formatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("frequency (Hz)")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)


def _band(options, sampling_rate) -> tuple[float, float]:
    """The scored band as drawn: [freq-min, min(freq-max, fs/2)]."""
    hi = options.freq_max
    if sampling_rate:
        hi = min(hi, float(sampling_rate) / 2.0)
    return float(options.freq_min), float(hi)


def _hz_text(f: float) -> str:
    return f"{f / 1000:g} kHz" if f >= 1000 else f"{f:g} Hz"


def _mark_band(ax, options, sampling_rate, f_lo: float, f_hi: float, label: bool = True) -> None:
    """Grey out the frequencies outside the scored band (dotted lines at its edges)."""
    lo, hi = _band(options, sampling_rate)
    text = (
        f"not scored (outside {_hz_text(options.freq_min)} – {_hz_text(options.freq_max)})"
        if label
        else None
    )
    for a, b in ((f_lo, lo), (hi, f_hi)):
        if b > a:
            ax.axvspan(a, b, color=BAND_COLOUR, zorder=0, label=text)
            text = None
            ax.axvline(b if a == f_lo else a, color="0.5", lw=0.8, ls=":", zorder=1)


def _spectrum_bins(freqs: np.ndarray, sampling_rate) -> np.ndarray:
    """Bins drawn on a log axis: f > 0 and below Nyquist (the Nyquist bin is never scored)."""
    keep = freqs > 0
    if sampling_rate:
        keep &= freqs < float(sampling_rate) / 2.0 * (1.0 - 1e-12)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        raise HrtfevalError("no frequency bin above 0 Hz to draw on a log-frequency axis")
    return idx


def _pair_tensors(aligned, options, device, tensors=None):
    from .scoring import tensors_for

    return tensors if tensors is not None else tensors_for(aligned, options, _device(device))


# --------------------------------------------------------------------------------------------
# error by direction


def direction_view(
    aligned, metric: str, options, device="cpu", *, dpi: float = DEFAULT_DPI
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

    from .scoring import INTERAURAL, per_direction_errors, reduce_pair

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
    ears = (
        "" if interaural else (f" (left {_num(score.left, unit)}, right {_num(score.right, unit)})")
    )
    fig.suptitle(
        _wrap(
            f"{_NAMES.get(metric, metric)} by direction: {pred_name} vs {ref_name}\n"
            f"overall {_LABELS.get(metric, metric)} = {_num(score.overall, unit)}{ears}, "
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
    (``options.freq_min`` to ``options.freq_max``) are greyed out. ``data``: ``frequencies`` (K,) in Hz, ``lsd`` (2, K) in dB
    (left, right), ``band_mean`` (2,) the mean of each curve over the scored band.
    """
    from .represent import band_bins, check_same_bins

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
    from .model import spherical_to_unit

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
    from .represent import check_same_bins

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


# --------------------------------------------------------------------------------------------
# batch overview


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results JSON of ``hrtfeval score`` (one pair or a batch)."""
    from .procs import special_file

    kind = special_file(path)
    if kind is not None:  # opening a FIFO would block
        raise HrtfevalError(f"is {kind}, not a regular file; expected a results JSON", str(path))
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise HrtfevalError(f"cannot read the results: {exc.strerror or exc}", str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "not valid JSON" if isinstance(exc, json.JSONDecodeError) else "not a text file"
        raise HrtfevalError(
            f"is not a results JSON of 'hrtfeval score' ({what}); the pair views "
            "take two files, PREDICTION REFERENCE",
            str(path),
        ) from None
    _result_pairs(doc, str(path))
    return doc


def _result_pairs(doc: Any, path: str | None = None) -> list[dict[str, Any]]:
    """The pairs of a batch document, or the single pair of a one-pair document."""
    if isinstance(doc, dict) and isinstance(doc.get("pairs"), list):
        return [p for p in doc["pairs"] if isinstance(p, dict)]
    if isinstance(doc, dict) and isinstance(doc.get("scores"), dict):
        return [doc]
    raise HrtfevalError(
        "is not an hrtfeval results JSON (expected 'pairs' or 'scores'); write "
        "one with 'hrtfeval score ... --format json -o FILE'",
        path,
    )


def batch_view(doc: dict[str, Any], *, source: str = "", dpi: float = DEFAULT_DPI) -> View:
    """Distribution over pairs of each metric's overall value: a box plot with every pair as a
    point, the threshold as a dashed line when the results carry one.

    ``doc`` is a results document (batch: ``{"pairs": [...]}``, or one pair: ``{"scores": ...}``).
    ``data[metric]`` is the array of plotted overall values; pairs that failed to score (an
    ``"error"`` entry) are counted in the title and not drawn.
    """
    pairs = _result_pairs(doc, source or None)
    scored = [p for p in pairs if isinstance(p.get("scores"), dict) and "error" not in p]
    failed = len(pairs) - len(scored)
    metrics: list[str] = []
    for p in scored:
        metrics += [m for m in p["scores"] if m not in metrics]
    if not metrics:
        raise HrtfevalError("holds no scored pair to draw", source or None)

    n = len(metrics)
    fig = _figure(max(4.2, 2.9 * n + 1.0), 4.8, dpi)
    axes = fig.subplots(1, n, squeeze=False)[0]
    rng = np.random.default_rng(0)  # fixed jitter: the same file always gives the same picture
    data: dict[str, Any] = {}
    any_failed = any_threshold = False
    for ax, metric in zip(axes, metrics):
        rows = [
            p["scores"][metric]
            for p in scored
            if isinstance(p["scores"].get(metric), dict)
            and p["scores"][metric].get("overall") is not None
        ]
        vals = np.array([float(r["overall"]) for r in rows], dtype=np.float64)
        passed = [r.get("passed") for r in rows]
        unit = next((r.get("unit") for r in rows if r.get("unit")), "")
        limits = sorted({float(r["threshold"]) for r in rows if r.get("threshold") is not None})
        data[metric] = vals
        if vals.size:
            if vals.size > 1:
                ax.boxplot(
                    vals,
                    positions=[0],
                    widths=0.5,
                    showfliers=False,
                    patch_artist=True,
                    boxprops={"facecolor": "#dde6f2", "edgecolor": "0.3"},
                    medianprops={"color": "0.1", "lw": 1.6},
                    whiskerprops={"color": "0.3"},
                    whis=(0, 100),  # whiskers at min and max: the legend says "range"
                    capprops={"color": "0.3"},
                )
            jitter = rng.uniform(-0.13, 0.13, vals.size) if vals.size > 1 else np.zeros(1)
            ok = np.array([p is not False for p in passed])
            ax.scatter(jitter[ok], vals[ok], s=22, color="tab:blue", alpha=0.8, zorder=3)
            if (~ok).any():
                ax.scatter(jitter[~ok], vals[~ok], s=34, marker="x", color="tab:red", zorder=4)
            any_failed |= bool((~ok).any())
        for limit in limits:
            ax.axhline(limit, color="tab:red", ls="--", lw=1.2, zorder=2)
            ax.annotate(
                f"threshold {_num(limit, unit)}",
                (0.98, limit),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize=8,
                color="tab:red",
                xytext=(0, 2),
                textcoords="offset points",
            )
        any_threshold |= bool(limits)
        ax.set_xlim(-0.6, 0.6)
        ax.set_xticks([])
        top = max([*vals.tolist(), *limits, 0.0]) if vals.size or limits else 1.0
        ax.set_ylim(0.0, top * 1.15 if top > 0 else 1.0)
        ax.set_ylabel(f"overall {_unit_label(metric, unit)}")
        ax.grid(True, axis="y", alpha=0.35)
        stats = (
            f"n={vals.size}, median {_num(float(np.median(vals)), unit)}"
            if vals.size
            else "no values"
        )
        ax.set_title(f"{_LABELS.get(metric, metric)}\n{stats}", fontsize=10)
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color="tab:blue",
            alpha=0.8,
            label="one pair" + (" (passes the check)" if any_threshold else ""),
        )
    ]
    if any_failed:
        handles.append(
            Line2D([], [], ls="", marker="x", color="tab:red", label="one pair (fails the check)")
        )
    if any_threshold:
        handles.append(Line2D([], [], ls="--", color="tab:red", label="threshold"))
    if any(np.size(v) > 1 for v in data.values()):
        handles.append(
            Line2D(
                [],
                [],
                ls="-",
                lw=6,
                color="#dde6f2",
                label="box: quartiles, line: median, whiskers: range",
            )
        )
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False
    )
    checks = [p.get("passed") for p in scored if p.get("passed") is not None]
    parts = [f"{len(scored)} pair{'s' if len(scored) != 1 else ''} scored"]
    if checks:
        parts.append(f"{sum(bool(c) for c in checks)}/{len(checks)} passed every check")
    if failed:
        parts.append(f"{failed} could not be scored (not drawn)")
    name = _short(Path(source).name) if source else _source_text(doc)
    fig.suptitle(
        _wrap(
            f"Overall scores over pairs: {name}\n" + " · ".join(parts), fig.get_figwidth(), 11
        ),
        fontsize=11,
    )
    data["failed"] = failed
    return View("batch", fig, data)


def _source_text(doc: dict[str, Any]) -> str:
    """What a batch document scored (its ``spec.source``), for the title; else ``results``."""
    source = (doc.get("spec") or {}).get("source") if isinstance(doc, dict) else None
    if isinstance(source, dict):
        parts = [_short(Path(str(v)).name or str(v)) for v in source.values() if v]
        if parts:
            return " vs ".join(parts)
    if isinstance(doc, dict) and "scores" in doc and "prediction" in doc:
        return f"{Path(str(doc['prediction'])).name} vs {Path(str(doc.get('target', ''))).name}"
    return "results"


# --------------------------------------------------------------------------------------------
# saving and the CLI's entry points


def image_format(path: str | os.PathLike) -> str:
    """``png``, ``svg`` or ``pdf`` from the extension of ``path``; HrtfevalError otherwise."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        got = f"'.{suffix}'" if suffix else "no extension"
        raise HrtfevalError(
            f"the image format comes from the extension: use .png, .svg or .pdf (got {got})",
            str(path),
        )
    return suffix


def save_view(view: View, path: str | os.PathLike, dpi: float | None = None) -> Path:
    """Save ``view`` to ``path`` (written as :mod:`hrtfeval.outputs` writes every output: a
    temporary file in the same folder, then a rename; never over a ``.sofa``/``.pt`` file).

    The format comes from the extension (png, svg, pdf). Returns the path written.
    """
    from .outputs import OutputPlan

    fmt = image_format(path)
    plan = OutputPlan()
    plan.put(plan.file(path, "the image"), view_bytes(view, dpi, fmt))
    plan.commit()
    return Path(path)


def view_bytes(view: View, dpi: float | None = None, fmt: str = "png") -> bytes:
    """The encoded image of ``view`` (``png``, ``svg`` or ``pdf``), for a caller that writes it
    with other outputs (see :mod:`hrtfeval.outputs`)."""
    import io

    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    buf = io.BytesIO()
    view.figure.savefig(buf, format=fmt, dpi=dpi or view.figure.get_dpi(), metadata=metadata)
    return buf.getvalue()


def pair_view(
    aligned,
    view: str,
    options,
    *,
    metric: str = "lsd",
    direction: tuple[float, float] | None = None,
    device="cpu",
    dpi: float = DEFAULT_DPI,
) -> View:
    """One of the pair views by name: ``direction``, ``frequency``, ``compare`` or
    ``localisation``."""
    from .loss import check_option

    view = check_option("view", view, PAIR_VIEWS)
    if view == "localisation":
        return localisation_view(aligned, options, dpi=dpi)
    if view == "direction":
        return direction_view(aligned, metric, options, device, dpi=dpi)
    if view == "frequency":
        return frequency_view(aligned, options, device, dpi=dpi)
    return compare_view(aligned, options, direction or (0.0, 0.0), device, dpi=dpi)


def localisation_view(aligned, options, *, dpi: float = DEFAULT_DPI, result=None) -> View:
    """Predicted response matrices of the localisation model: PRED and baseline side by side.

    One row per lateral angle; response polar angle (y) against target polar angle (x),
    probability as colour, the target diagonal (a correct response) dashed; QE and PE in each
    title. ``data``: ``result`` (:class:`~hrtfeval.localisation.LocalisationResult`).
    """
    from matplotlib.colors import Normalize

    from .perceptual import localisation_result

    if result is None:
        result = localisation_result(aligned, options)
    pred_name, ref_name = _names(aligned)
    rows = len(result.laterals)
    fig = _figure(11.0, 0.6 + 4.4 * rows, dpi)
    axes = fig.subplots(rows, 2, squeeze=False, sharex=True, sharey=True)
    vmax = max(
        float(s.probabilities.max())
        for p in (result.prediction, result.baseline)
        for s in p.sectors
    )
    norm = Normalize(0.0, vmax)
    mesh = None
    for r, lam in enumerate(result.laterals):
        for c, (pred, label) in enumerate(
            ((result.prediction, f"PRED {pred_name}"), (result.baseline, f"baseline {ref_name}"))
        ):
            ax = axes[r, c]
            sector = pred.sectors[r]
            x = sector.target_polar
            edges = np.concatenate([[x[0] - 2.5], (x[1:] + x[:-1]) / 2, [x[-1] + 2.5]])
            if x.size > 1:
                edges[0], edges[-1] = x[0] - (x[1] - x[0]) / 2, x[-1] + (x[-1] - x[-2]) / 2
            y = sector.response_polar
            y_edges = np.concatenate([y - 2.5, [y[-1] + 2.5]])
            mesh = ax.pcolormesh(
                edges, y_edges, sector.probabilities, cmap="Greys", norm=norm, shading="flat"
            )
            ax.plot([-90, 270], [-90, 270], color="tab:red", lw=1.0, ls="--", label="target")
            ax.plot(x, x, "o", color="tab:red", ms=1.5)
            ax.set_xlim(-95, 270)
            ax.set_ylim(-92.5, 267.5)
            ax.set_aspect("equal")
            ticks = np.arange(-90, 271, 45)
            ax.set_xticks(ticks)
            ax.set_yticks(ticks)
            ax.grid(color="0.85", lw=0.5)
            ax.set_title(
                f"{label}\nlateral {_deg(lam, signed=True)}: QE {sector.qe:.1f} %, "
                f"PE {sector.pe:.1f}°",
                fontsize=10,
            )
            if r == rows - 1:
                ax.set_xlabel("target polar angle (°)")
            if c == 0:
                ax.set_ylabel("response polar angle (°)")
    fig.colorbar(mesh, ax=axes, label="response probability", shrink=0.8)
    fig.suptitle(
        f"Predicted sagittal-plane localisation (Baumgartner et al. 2014): "
        f"QE {result.prediction.qe:.1f} % (baseline {result.baseline.qe:.1f} %), "
        f"PE {result.prediction.pe:.1f}° (baseline {result.baseline.pe:.1f}°)",
        fontsize=11,
    )
    return View("localisation", fig, {"result": result})


def plot_folder(path) -> Path:
    """``path`` as a folder for pictures, created if needed; HrtfevalError when it cannot be."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HrtfevalError(
            f"cannot create the plot folder: {exc.strerror or exc}", str(out)
        ) from None
    return out


def standard_views(
    aligned,
    options,
    out_dir: str | os.PathLike,
    device="cpu",
    *,
    dpi: float = DEFAULT_DPI,
    fmt: str = "png",
    warn=None,
    save=None,
) -> list[Path]:
    """Write the standard pictures of a scored pair into ``out_dir`` (created if needed).

    ``<metric>_by_direction.<fmt>`` for every metric in ``options.metrics``,
    ``lsd_by_frequency.<fmt>`` and ``compare_az0_el0.<fmt>`` (the frontal direction). A view
    that cannot be drawn for this pair (e.g. no source positions) is skipped and reported
    through ``warn(message)``; the others are still written. Returns the paths written.
    ``save(view, path, dpi) -> path`` replaces :func:`save_view` (the folder is then not
    created here).
    """
    out = plot_folder(out_dir) if save is None else Path(out_dir)
    written: list[Path] = []

    def attempt(name: str, make):
        try:
            view = make()
        except HrtfevalError as exc:
            if warn is not None:
                warn(f"skipped {name}: {exc}")
            return
        try:
            written.append((save or save_view)(view, out / f"{name}.{fmt}", dpi))
        finally:
            view.figure.clear()

    from .scoring import LOCALISATION

    for metric in options.metrics:
        if metric in LOCALISATION:
            continue
        attempt(
            f"{metric}_by_direction",
            lambda m=metric: direction_view(aligned, m, options, device, dpi=dpi),
        )
    if any(m in LOCALISATION for m in options.metrics):
        attempt("localisation", lambda: localisation_view(aligned, options, dpi=dpi))
    if not aligned.matched:  # each set on its own grid: no spectral comparison to draw
        return written
    tensors = _pair_tensors(aligned, options, device)  # shared by the two spectral views
    attempt(
        "lsd_by_frequency",
        lambda: frequency_view(aligned, options, device, dpi=dpi, tensors=tensors),
    )
    attempt(
        "compare_az0_el0",
        lambda: compare_view(aligned, options, (0.0, 0.0), device, dpi=dpi, tensors=tensors),
    )
    return written
