"""What every view shares: the :class:`View`, formats, colours, figure and axis helpers,
saving."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HrtfevalError
from ..metrics import Field

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

#: Short metric labels and names in plot titles: live views of the registry (hrtfeval.metrics).
_LABELS = Field("label")
_NAMES = Field("title")


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


def _num(value: float | None, unit: str) -> str:
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
    from ..scoring import resolve_device

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
    from ..scoring import tensors_for

    return tensors if tensors is not None else tensors_for(aligned, options, _device(device))


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
    from ..outputs import OutputPlan

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
