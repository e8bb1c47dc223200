"""What decides a score besides the two files: :class:`ScoreOptions`, the presets and their
thresholds and fixed definitions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .constants import (
    COMPARISON_DOMAINS,
    ITD_METHODS,
    LENGTH_POLICIES,
    LOCALISATION,
    METRICS,
    REDUCTIONS,
    WEIGHTINGS,
)
from .results import Threshold
from .validate import (
    check_epsilon,
    check_laterals,
    check_option,
    check_sensitivity,
    normalise_name,
)

#: Old name of :data:`hrtfeval.constants.COMPARISON_DOMAINS` (what rmse/mae compare).
DOMAINS = COMPARISON_DOMAINS


#: LAP challenge 2024, Task 2 (HRTF upsampling) thresholds; a metric passes below its threshold.
LAP_THRESHOLDS = {
    "itd": Threshold(100.0, "<", "lap"),
    "ild": Threshold(4.4, "<", "lap"),
    "lsd": Threshold(7.4, "<", "lap"),
}
#: What a preset fixes besides its metrics and thresholds: the option values its thresholds
#: were defined with (an option that changes them cannot be combined with the preset).
LAP_DEFINITIONS = {
    "freq_min": 20.0,
    "freq_max": 20000.0,
    "n_fft": None,
    "domain": None,
    "reduction": "mean",
    "epsilon": 1e-12,
    "itd_method": "maxiacce",
    "weighting": "none",  # the LAP means are unweighted over directions
}
PRESETS: dict[str, dict[str, Any]] = {
    "lap": {
        "metrics": ("itd", "ild", "lsd"),
        "thresholds": LAP_THRESHOLDS,
        "definitions": LAP_DEFINITIONS,
    }
}
#: Largest ``--n-fft``: 2**16 bins already need ~1 GB per 1000 directions (complex128, 2 ears).
MAX_N_FFT = 1 << 16


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that decides a score, besides the two files. Printed as the output's spec."""

    metrics: tuple[str, ...] = ("lsd",)
    freq_min: float = 20.0
    freq_max: float = 20000.0
    n_fft: int | None = None
    domain: str | None = None  # rmse/mae representation; None = time when both sets have IRs
    reduction: str = "mean"
    epsilon: float = 1e-12
    itd_method: str = "maxiacce"
    thresholds: tuple[tuple[str, Threshold], ...] = ()
    preset: str | None = None
    tolerance_deg: float = 0.1
    allow_missing: bool = False
    length_policy: str = "error"
    laterals: tuple[float, ...] = (0.0,)  # localisation model: sagittal planes (deg)
    sensitivity: float = 0.7
    dtf: bool = True
    weighting: str = "none"  # "area": solid-angle weights (hrtfeval.weights)
    bands: str | None = None  # octave, third-octave, erb (hrtfeval.bands)
    regions: tuple[str, ...] = ()  # --region names (hrtfeval.regions)
    region_tolerance: float | None = None  # degrees; None = half the grid's typical spacing
    exclude: str | None = None  # --exclude FILE: directions left out of every score
    per_direction: bool = False  # keep the per-direction values (extras["per_direction"])
    ignore_delay: bool = False  # --ignore-delay: leave SOFA Data.Delay unapplied
    max_missing: float = 0.5  # with allow_missing: largest missing fraction of the reference
    exclude_silent: bool = False  # score without the directions where a file has a silent ear
    max_memory: int | None = None  # bytes one pair may use; None = memory.default_limit()

    @classmethod
    def build(
        cls,
        metrics=None,
        *,
        preset: str | None = None,
        fail_above: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> ScoreOptions:
        """Validated options; ``preset="lap"`` adds its metrics and thresholds."""
        chosen: list[str] = []
        thresholds: dict[str, Threshold] = {}
        if preset is not None:
            preset = check_option("preset", preset, tuple(PRESETS))
            chosen += PRESETS[preset]["metrics"]
            thresholds.update(PRESETS[preset]["thresholds"])
            for key, fixed in PRESETS[preset]["definitions"].items():
                given = kwargs.get(key, fixed)
                if isinstance(given, str):
                    given = normalise_name(given)
                if given != fixed:
                    option = "--" + key.replace("_", "-")
                    shown = {"n_fft": "the IR length", "domain": "unset"}.get(
                        key, f"{fixed:g}" if isinstance(fixed, float) else fixed
                    )
                    raise ValueError(
                        f"--preset {preset} fixes {option} ({shown}), the definition its "
                        f"thresholds hold for; got {option} {given}: drop {option}, or drop the "
                        "preset and choose --metric and --fail-above yourself"
                    )
        for m in metrics or ():
            key = check_option("metric", m, METRICS)
            if key not in chosen:
                chosen.append(key)
        if not chosen:
            chosen = ["lsd"]
        regions: list[str] = []
        for text in kwargs.pop("regions", None) or ():
            from .regions import parse_region

            name = parse_region(text).name
            if name not in regions:
                regions.append(name)
        kwargs["regions"] = tuple(regions)
        for name, limit in (fail_above or {}).items():
            region, dot, metric_name = name.rpartition(".")
            if dot:  # REGION.METRIC: a check on a region's overall value
                from .regions import parse_region

                region = parse_region(region).name
                key = check_option("metric", metric_name, METRICS)
                if key in LOCALISATION:
                    raise ValueError(
                        f"--fail-above {name}: regions apply to "
                        f"{'/'.join(m for m in METRICS if m not in LOCALISATION)}, not to the "
                        f"localisation metrics ({'/'.join(LOCALISATION)}); check {key} over "
                        "the whole set (--fail-above "
                        f"{key}=LIMIT)"
                    )
                if region not in regions:
                    raise ValueError(
                        f"--fail-above names the region {region!r}, which is not scored; "
                        f"add --region {region}"
                    )
                if key not in chosen:
                    raise ValueError(
                        f"--fail-above names {key!r}, which is not scored; add --metric {key}"
                    )
                thresholds[f"{region}.{key}"] = Threshold(float(limit), "<=", "fail-above")
                continue
            key = check_option("metric", name, METRICS)
            if key not in chosen:
                raise ValueError(
                    f"--fail-above names {key!r}, which is not scored; add --metric {key}"
                )
            limit = float(limit)
            if not (math.isfinite(limit) and limit >= 0):
                raise ValueError(
                    f"--fail-above {key}={limit:g}: the limit must be a finite number >= 0"
                )
            replaced = thresholds.get(key)
            thresholds[key] = Threshold(limit, "<=", "fail-above", replaces=replaced)
        # Stored normalised: the spec's definitions and batch_spec compare them as written.
        for key in ("domain", "reduction", "itd_method", "length_policy", "weighting"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = normalise_name(kwargs[key])
        if kwargs.get("bands") is not None:
            from .bands import check_kind

            kwargs["bands"] = check_kind(kwargs["bands"])
        opts = cls(
            metrics=tuple(chosen), thresholds=tuple(thresholds.items()), preset=preset, **kwargs
        )
        opts.validate()
        return opts

    def validate(self) -> None:
        check_epsilon(self.epsilon)
        self.check_localisation_options()
        check_option("reduction", self.reduction, REDUCTIONS)
        check_option("itd method", self.itd_method, ITD_METHODS)
        if self.domain is not None:
            check_option("domain", self.domain, DOMAINS)
        if not (math.isfinite(self.freq_min) and math.isfinite(self.freq_max)):
            raise ValueError(
                "--freq-min and --freq-max must be finite frequencies in Hz; got "
                f"{self.freq_min:g} and {self.freq_max:g}"
            )
        if not (0 <= self.freq_min < self.freq_max):
            raise ValueError(
                "the band needs 0 <= freq-min < freq-max; got "
                f"{self.freq_min:g} and {self.freq_max:g}"
            )
        check_option("length policy", self.length_policy, LENGTH_POLICIES)
        check_option("--weighting", self.weighting, WEIGHTINGS)
        if self.bands is not None:
            from .bands import check_kind

            check_kind(self.bands)
        if self.region_tolerance is not None and not (
            math.isfinite(self.region_tolerance) and self.region_tolerance >= 0
        ):
            raise ValueError(
                f"--region-tolerance must be >= 0 degrees; got {self.region_tolerance}"
            )
        if not (math.isfinite(self.tolerance_deg) and self.tolerance_deg >= 0):
            raise ValueError(f"--position-tolerance must be >= 0 degrees; got {self.tolerance_deg}")
        if not (math.isfinite(self.max_missing) and 0 <= self.max_missing <= 1):
            raise ValueError(
                f"--max-missing must be a fraction from 0 to 1; got {self.max_missing}"
            )
        if self.n_fft is not None and not (2 <= self.n_fft <= MAX_N_FFT):
            raise ValueError(
                f"--n-fft must be at least 2 and at most {MAX_N_FFT} (the largest FFT length "
                f"hrtfeval takes); got {self.n_fft}"
            )
        object.__setattr__(self, "laterals", check_laterals(self.laterals))
        object.__setattr__(self, "sensitivity", check_sensitivity(self.sensitivity))
        object.__setattr__(self, "dtf", bool(self.dtf))
        if self.max_memory is not None and (
            isinstance(self.max_memory, bool)
            or not isinstance(self.max_memory, int)
            or self.max_memory < 1
        ):
            raise ValueError(
                f"--max-memory must be a positive number of bytes; got {self.max_memory!r}"
            )

    def check_localisation_options(self) -> None:
        """Refuse options that the localisation model does not apply.

        qe/pe/eb score each set as read, on its own grid (:mod:`hrtfeval.perceptual`): direction
        exclusion, regions, bands, area weighting and per-direction values are not applied to
        them, so a run that asks for both would label numbers with options they do not have.

        Raises
        ------
        ValueError
            A localisation metric is asked for together with one of these options (the
            message names the option).
        """
        asked = [m for m in self.metrics if m in LOCALISATION]
        if not asked:
            return
        given = [
            ("--exclude", self.exclude is not None),
            ("--exclude-silent", self.exclude_silent),
            ("--region", bool(self.regions)),
            ("--bands", self.bands is not None),
            ("--weighting area", self.weighting != "none"),
            ("--per-direction", self.per_direction),
        ]
        for option, on in given:
            if on:
                spectral = "/".join(m for m in METRICS if m not in LOCALISATION)
                raise ValueError(
                    f"{option} applies to {spectral}, not to the localisation metrics "
                    f"({'/'.join(LOCALISATION)}, asked for: {', '.join(asked)}), which score "
                    f"each set as read; drop {option} or score {', '.join(asked)} in a "
                    "separate run"
                )

    @property
    def localisation_only(self) -> bool:
        """Only metrics that use each set's own grid: no direction matching is needed."""
        return all(m in LOCALISATION for m in self.metrics)

    @property
    def memory_limit(self) -> int:
        """Bytes one pair may use: ``max_memory`` or :func:`hrtfeval.memory.default_limit`."""
        from .memory import default_limit

        return default_limit() if self.max_memory is None else int(self.max_memory)

    @property
    def threshold_map(self) -> dict[str, Threshold]:
        return dict(self.thresholds)
