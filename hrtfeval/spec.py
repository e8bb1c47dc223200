"""The spec of a scored pair: the facts behind its numbers and each metric's definition."""

from __future__ import annotations

from typing import Any

from .metrics import DefinitionContext, get, names
from .model import IR
from .options import ScoreOptions
from .pair_metrics import effective_domain


def definitions(options: ScoreOptions, domain: str, n_bins: int | None) -> dict[str, str]:
    """Human-readable definition of every scored metric, for the output's spec (each built by
    its registry entry, :mod:`hrtfeval.metrics`)."""
    band = f"{options.freq_min:g} Hz <= f_k <= {options.freq_max:g} Hz, f_k < fs/2"
    if n_bins is not None:
        band += f" ({n_bins} bins)"
    red = (
        "mean over directions"
        if options.reduction == "mean"
        else "sqrt(mean over directions of v^2 + eps)"
    )
    if options.weighting == "area":
        red = (
            "sum(w v) / sum(w) over directions"
            if options.reduction == "mean"
            else "sqrt(sum(w v^2) / sum(w) + eps) over directions"
        ) + ", w = solid-angle weight of the direction (spec.weighting)"
    context = DefinitionContext(options, domain, band, red)
    return {m: get(m).define(context) for m in options.metrics}


def spec_dict(
    aligned,
    options: ScoreOptions,
    device,
    pred_t=None,
    ref_t=None,
    weights=None,
    with_definitions: bool = True,
) -> dict[str, Any]:
    """The facts behind a pair's numbers, printed above the table and stored in the JSON.

    ``with_definitions=False``: ``definitions`` is left empty (a batch states them once)."""
    from . import __version__
    from .represent import band_bins

    p, r = aligned.prediction, aligned.reference
    domain = None
    on_domain = names("time-or-spectral")
    if any(m in on_domain for m in options.metrics):
        domain = effective_domain(options, p.domain, r.domain)
    n_bins = None
    spectral = names("spectral")
    if ref_t is not None and any(
        m in spectral or (m in on_domain and domain != "time") for m in options.metrics
    ):
        n_bins = int(
            band_bins(ref_t.frequencies(), options.freq_min, options.freq_max, r.sampling_rate).size
        )
    thresholds = {m: t.to_spec(m) for m, t in options.thresholds}
    n_fft = ref_t.fft_length if ref_t is not None else options.n_fft
    padded = None
    if ref_t is not None and ref_t.domain == IR and n_fft > ref_t.n_samples:
        padded = {"from_samples": ref_t.n_samples, "to_n_fft": n_fft}
    if aligned.matched:
        directions = {
            "reference": aligned.n_reference,
            "matched": aligned.n_matched,
            "missing": int(len(aligned.missing)),
            # Shown in a warning colour below render.LOW_MATCHED_FRACTION (--allow-missing).
            "matched_fraction": aligned.n_matched / aligned.n_reference,
            "max_angle_deg": float(aligned.max_angle_deg),
            "tolerance_deg": options.tolerance_deg,
            # Directions with an all-zero ear among those scored, and (--exclude-silent) those
            # left out, per file.
            "silent": {
                "prediction": int(p.silent_mask().sum()),
                "reference": int(r.silent_mask().sum()),
            },
            "silent_excluded": aligned.silent_excluded,
        }
    else:  # localisation only: each set on its own grid
        directions = {
            "reference": aligned.n_reference,
            "prediction": p.n_directions,
            "matched": None,
            "missing": 0,
            "max_angle_deg": None,
            "tolerance_deg": None,
        }
    from .perceptual import localisation_spec

    spec = {
        "hrtfeval": __version__,
        "preset": options.preset,
        "prediction": {
            "convention": p.convention,
            "version": p.version,
            "domain": p.domain,
            "delay_applied": p.delay_applied,
        },
        "reference": {
            "convention": r.convention,
            "version": r.version,
            "domain": r.domain,
            "delay_applied": r.delay_applied,
        },
        "sampling_rate": r.sampling_rate,
        "n_samples": r.n_samples,
        "n_fft": n_fft,
        # --n-fft above the IR length: the impulse responses are zero-padded before the FFT.
        "zero_padding": padded,
        "directions": directions,
        "band_hz": [options.freq_min, options.freq_max],
        "bins": n_bins,
        "domain": domain,
        "reduction": options.reduction,
        "epsilon": options.epsilon,
        "itd_method": options.itd_method if "itd" in options.metrics else None,
        "length_policy": options.length_policy,
        "exclude_silent": options.exclude_silent,
        "max_memory_bytes": options.memory_limit,
        "device": str(device),
        "thresholds": thresholds,
        "definitions": definitions(options, domain or "time", n_bins) if with_definitions else {},
        "notes": list(aligned.notes),
    }
    localisation = localisation_spec(options)
    if localisation is not None:
        spec["localisation"] = localisation
    if weights is not None:  # only with --weighting area: default documents are unchanged
        spec["weighting"] = weights.spec()
    if options.bands is not None:
        spec["bands"] = options.bands
    if options.allow_missing:
        spec["directions"]["max_missing_fraction"] = options.max_missing
    if options.ignore_delay:
        spec["ignore_delay"] = True
        for side in ("prediction", "reference"):
            s = aligned.prediction if side == "prediction" else aligned.reference
            spec[side]["delay_ignored"] = bool(s.meta.get("delay_ignored", False))
    if options.exclude is not None:
        spec["directions"]["excluded"] = int(getattr(aligned, "excluded", 0))
        spec["exclude"] = options.exclude
    if options.regions:
        from .regions import region_spec

        spec["regions"] = region_spec(
            options.regions, options.region_tolerance, aligned.reference.positions
        )
    return spec
