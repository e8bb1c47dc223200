"""Band-wise spectral errors: octave, third-octave (IEC 61260-1, base 10) and 1-ERB bands.

Band edges
----------
* ``octave`` (b = 1) and ``third-octave`` (b = 3), IEC 61260-1:2014 base-10 system: octave
  ratio ``G = 10**(3/10)``, exact mid-band frequencies ``f_m = 1000 * G**(x/b)`` (integer x;
  b is odd), edges ``f_m * G**(-1/(2b))`` and ``f_m * G**(1/(2b))``. The nominal names
  (1 kHz, 1.25 kHz ...) are not used: the numbers are the exact ones.
* ``erb``: bands one ERB wide on the ERB-number scale of Glasberg & Moore (1990),
  ``E(f) = 21.4 * log10(1 + 0.00437 f)`` (f in Hz); band n spans ``E = n ... n + 1`` and its
  centre is ``E = n + 0.5``.

A band is scored when its centre lies in the scored band ``[--freq-min, --freq-max]``; it takes
the scored bins (those of the full-band LSD) with ``lower <= f < upper``, so every bin is in at
most one band. Bands without a bin are listed under ``left_out``.

Per band and direction and ear, the values are those of the full-band metrics restricted to the
band's bins: ``lsd`` = ``sqrt(mean_k (dB difference)^2 + eps)``; with ``--domain db`` also
``rmse`` (the same formula on the dB magnitudes) and ``mae`` (``mean_k |dB difference|``).
They are reduced over directions as the full-band scores are (mean or rms, with the weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("octave", "third-octave", "erb")
#: IEC 61260-1 base-10 octave ratio.
OCTAVE_RATIO = 10.0 ** (3.0 / 10.0)
#: Reference frequency of the IEC band series, Hz.
REFERENCE_HZ = 1000.0
#: Glasberg & Moore (1990) ERB-number scale: E(f) = ERB_A * log10(1 + ERB_B * f).
ERB_A, ERB_B = 21.4, 0.00437


@dataclass(frozen=True)
class Band:
    """One frequency band, Hz."""

    centre: float
    lower: float
    upper: float


def erb_number(f_hz):
    """ERB number (Cams) of a frequency in Hz (Glasberg & Moore 1990)."""
    return ERB_A * np.log10(1.0 + ERB_B * np.asarray(f_hz, dtype=np.float64))


def erb_frequency(e):
    """Inverse of :func:`erb_number`: Hz at ERB number ``e``."""
    return (10.0 ** (np.asarray(e, dtype=np.float64) / ERB_A) - 1.0) / ERB_B


def check_kind(kind: str) -> str:
    key = str(kind).strip().lower().replace("_", "-")
    if key in ("third", "1/3-octave", "third-octave-bands"):
        key = "third-octave"
    if key not in KINDS:
        raise ValueError(f"--bands must be one of {', '.join(KINDS)}; got {kind!r}")
    return key


def band_list(kind: str, freq_min: float, freq_max: float) -> list[Band]:
    """The bands of ``kind`` whose centre lies in ``[freq_min, freq_max]`` (Hz), ascending."""
    kind = check_kind(kind)
    lo, hi = max(float(freq_min), 1e-3), float(freq_max)
    out: list[Band] = []
    if kind == "erb":
        first = math.floor(float(erb_number(lo)) - 0.5)
        n = first
        while True:
            centre = float(erb_frequency(n + 0.5))
            if centre > hi:
                break
            if centre >= lo and n >= 0:
                out.append(Band(centre, float(erb_frequency(n)), float(erb_frequency(n + 1))))
            n += 1
        return out
    b = 1 if kind == "octave" else 3
    x = math.floor(b * math.log(lo / REFERENCE_HZ, OCTAVE_RATIO)) - 1
    half = OCTAVE_RATIO ** (1.0 / (2 * b))
    while True:
        centre = REFERENCE_HZ * OCTAVE_RATIO ** (x / b)
        if centre > hi:
            break
        if centre >= lo:
            out.append(Band(centre, centre / half, centre * half))
        x += 1
    return out


def assign_bins(
    frequencies: np.ndarray, scored: np.ndarray, bands: list[Band]
) -> tuple[list[tuple[Band, np.ndarray]], list[Band]]:
    """Per band the indices (into the spectrum) of the scored bins with lower <= f < upper;
    and the bands that got no bin."""
    f = np.asarray(frequencies, dtype=np.float64)
    kept, left_out = [], []
    for band in bands:
        sel = scored[(f[scored] >= band.lower) & (f[scored] < band.upper)]
        (kept.append((band, sel)) if sel.size else left_out.append(band))
    return kept, left_out


def _edges(band: Band) -> dict[str, float]:
    return {"centre_hz": band.centre, "lower_hz": band.lower, "upper_hz": band.upper}


def band_scores(pred, ref, options, domain: str, weights=None) -> dict[str, Any]:
    """The ``bands`` block of a pair: per band its edges, bins and scores.

    Parameters
    ----------
    pred, ref : hrtfeval.represent.SetTensors
        One aligned pair (no leading axes).
    options : hrtfeval.scoring.ScoreOptions
        ``options.bands`` is the band kind.
    domain : str
        The pair's rmse/mae domain: they are scored per band only when it is ``db``.
    weights : array-like (M,) or None
        As for the full-band reductions.
    """
    import torch

    from .loss import linear_to_db
    from .represent import band_bins, check_same_bins
    from .scoring import metric_unit, reduce_pair

    eps = options.epsilon
    freqs = check_same_bins(pred, ref)
    scored = band_bins(
        freqs, options.freq_min, options.freq_max, ref.sampling_rate or pred.sampling_rate
    )
    bands = band_list(options.bands, options.freq_min, options.freq_max)
    kept, left_out = assign_bins(freqs, scored, bands)
    metrics = ["lsd"] if "lsd" in options.metrics else []
    notes = []
    for m in ("rmse", "mae"):
        if m in options.metrics:
            if domain == "db":
                metrics.append(m)
            else:
                notes.append(f"{m} is scored per band only in the db domain (--domain db)")
    if not metrics:
        notes.append(
            "no spectral metric in the dB domain to score per band (lsd, or rmse/mae "
            "with --domain db)"
        )
    if left_out:
        notes.append(
            f"{len(left_out)} band(s) without an FFT bin left out (centres "
            + ", ".join(f"{b.centre:.4g}" for b in left_out)
            + " Hz)"
        )
    # dB differences: of the spectra for lsd, of the magnitudes for rmse and mae.
    diffs: dict[str, Any] = {}
    if "lsd" in metrics:
        diffs["lsd"] = linear_to_db(torch, pred.spectrum[..., scored], eps) - linear_to_db(
            torch, ref.spectrum[..., scored], eps
        )
    if any(m in metrics for m in ("rmse", "mae")):
        diffs["db"] = pred.magnitude_db(scored, eps) - ref.magnitude_db(scored, eps)
    pos = {int(k): i for i, k in enumerate(scored)}
    rows = []
    for band, sel in kept:
        cols = torch.as_tensor([pos[int(k)] for k in sel], dtype=torch.long, device=ref.device)
        scores = {}
        for m in metrics:
            d = diffs["lsd" if m == "lsd" else "db"].index_select(-1, cols)
            if m == "mae":
                values = d.abs().mean(dim=-1)
            else:
                values = torch.sqrt(torch.mean(d * d, dim=-1) + eps)
            s = reduce_pair(values, m, metric_unit(m, "db"), _no_checks(options), weights)
            scores[m] = {k: v for k, v in s.as_dict().items() if k not in ("threshold", "passed")}
        rows.append({**_edges(band), "bins": int(sel.size), "scores": scores})
    return {
        "kind": options.bands,
        "definition": BAND_DEFINITIONS[options.bands],
        "metrics": metrics,
        "bands": rows,
        "left_out": [{**_edges(b), "reason": "no FFT bin in the band"} for b in left_out],
        "notes": notes,
    }


def _no_checks(options):
    """The options without thresholds: a band's score is information, not a check."""
    from dataclasses import replace

    return replace(options, thresholds=())


BAND_DEFINITIONS = {
    "octave": "IEC 61260-1 base-10 octave bands: f_m = 1000 * G**x, G = 10**(3/10), edges "
    "f_m * G**(-1/2) ... f_m * G**(1/2); scored bins with lower <= f < upper",
    "third-octave": "IEC 61260-1 base-10 one-third-octave bands: f_m = 1000 * G**(x/3), "
    "G = 10**(3/10), edges f_m * G**(-1/6) ... f_m * G**(1/6); scored bins with "
    "lower <= f < upper",
    "erb": "1-ERB bands on the ERB-number scale E(f) = 21.4 log10(1 + 0.00437 f) (Glasberg & "
    "Moore 1990): band n spans E = n ... n+1, centre E = n + 0.5; scored bins with "
    "lower <= f < upper",
}


def aggregate_bands(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per band (matched by its edges) and metric, statistics of the pairs' overall values:
    ``[{"centre_hz", "lower_hz", "upper_hz", "pairs", "scores": {m: {"unit", "mean", ...}}}]``
    in ascending frequency."""
    from .batch import stats

    found: dict[tuple[float, float], dict[str, Any]] = {}
    for e in entries:
        for b in (e.get("bands") or {}).get("bands", []):
            key = (round(b["lower_hz"], 6), round(b["upper_hz"], 6))
            slot = found.setdefault(
                key, {"band": {k: b[k] for k in ("centre_hz", "lower_hz", "upper_hz")}, "rows": []}
            )
            slot["rows"].append(b["scores"])
    out = []
    for key in sorted(found):
        rows = found[key]["rows"]
        metrics: list[str] = []
        for r in rows:
            metrics += [m for m in r if m not in metrics]
        out.append(
            {
                **found[key]["band"],
                "pairs": len(rows),
                "scores": {
                    m: {
                        "unit": next(r[m]["unit"] for r in rows if m in r),
                        **stats([r[m]["overall"] for r in rows if m in r]),
                    }
                    for m in metrics
                },
            }
        )
    return out
