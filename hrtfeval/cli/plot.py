"""``hrtfeval plot``: where and at which frequencies a prediction goes wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..constants import LOCALISATION
from ..errors import HrtfevalError
from ..procs import DEFAULT_TIMEOUT_S
from .options import (
    AllowMissingOpt,
    DeviceOpt,
    DomainOpt,
    DtfOpt,
    EpsilonOpt,
    ExcludeSilentOpt,
    FreqMaxOpt,
    FreqMinOpt,
    ItdMethodOpt,
    LateralOpt,
    LengthPolicyOpt,
    MaxMemoryOpt,
    NfftOpt,
    ReductionOpt,
    SensitivityOpt,
    TimeoutOpt,
    ToleranceOpt,
    build_options,
)
from .shell import commit_outputs, plan_outputs, user_errors


@user_errors
def plot_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="PREDICTION REFERENCE (.sofa or .pt) for the direction, frequency "
            "and compare views; or one results JSON of 'hrtfeval score' for the "
            "batch view.",
            show_default=False,
            metavar="PRED REF | RESULTS.json",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Image to write (atomically, never over an input); the format comes from "
            "the extension: .png, .svg or .pdf.",
        ),
    ],
    view: Annotated[
        str | None,
        typer.Option(
            "--view",
            metavar="VIEW",
            help="direction (error map, default for a pair), frequency "
            "(error by frequency), compare (one direction's magnitudes), localisation "
            "(predicted response matrices, PRED and baseline) or batch "
            "(default for a results JSON).",
        ),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            metavar="METRIC",
            help="Metric of the direction view: lsd, rmse, mae, itd or ild.",
        ),
    ] = "lsd",
    direction: Annotated[
        tuple[float, float] | None,
        typer.Option(
            "--direction",
            metavar="AZ EL",
            help="Direction of the compare view, "
            "azimuth and elevation in degrees (the nearest matched one is drawn). "
            "Default: 0 0, the front.",
            show_default=False,
        ),
    ] = None,
    dpi: Annotated[
        int,
        typer.Option(
            "--dpi",
            min=20,
            max=1200,
            metavar="DPI",
            help="Resolution (dots per inch) of PNG images.",
        ),
    ] = 150,  # = plot.DEFAULT_DPI
    freq_min: FreqMinOpt = 20.0,
    freq_max: FreqMaxOpt = 20000.0,
    n_fft: NfftOpt = None,
    domain: DomainOpt = None,
    reduction: ReductionOpt = "mean",
    epsilon: EpsilonOpt = 1e-12,
    itd_method: ItdMethodOpt = "maxiacce",
    position_tolerance: ToleranceOpt = 0.1,
    allow_missing: AllowMissingOpt = False,
    length_policy: LengthPolicyOpt = "error",
    exclude_silent: ExcludeSilentOpt = False,
    max_memory: MaxMemoryOpt = None,
    device: DeviceOpt = "auto",
    lateral: LateralOpt = None,
    sensitivity: SensitivityOpt = 0.7,
    dtf: DtfOpt = True,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT_S,
) -> None:
    """Draw where and at which frequencies a prediction goes wrong (PNG, SVG or PDF).

    hrtfeval plot PRED REF --view direction|frequency|compare -o FILE, or
    hrtfeval plot RESULTS.json -o FILE (the batch view). Exit code 2 when the picture cannot be
    made (e.g. the ITD of magnitude-only data).
    """
    given = dict(locals())  # the parameters by name, for build_options
    from ..loss import check_option
    from ..plot import VIEWS, image_format, view_bytes
    from ..procs import check_timeout

    image_format(output)  # a bad extension or view fails before any work
    limit_s = check_timeout(timeout)  # None: no limit
    chosen = None if view is None else check_option("view", view, VIEWS)
    plan, target, _, _ = plan_outputs(files, output)
    if len(files) == 1:
        if chosen not in (None, "batch"):
            raise HrtfevalError(
                f"the {chosen} view needs two files, PREDICTION and REFERENCE; "
                "one file is read as a results JSON (the batch view)"
            )
        from ..plot import batch_view, load_results

        drawn = batch_view(load_results(files[0]), source=str(files[0]), dpi=dpi)
    elif len(files) == 2:
        if chosen == "batch":
            raise HrtfevalError(
                f"the batch view takes one results JSON of 'hrtfeval score', not {len(files)} files"
            )
        options = build_options(list(LOCALISATION) if chosen == "localisation" else [metric], given)
        from ..plot import pair_view
        from ..scoring import load_aligned, resolve_device

        dev = resolve_device(device)
        aligned = load_aligned(str(files[0]), str(files[1]), options, limit_s)
        drawn = pair_view(
            aligned,
            chosen or "direction",
            options,
            metric=metric,
            direction=direction,
            device=dev,
            dpi=dpi,
        )
    else:
        raise HrtfevalError(
            f"plot takes PREDICTION REFERENCE or one RESULTS.json; got {len(files)} files"
        )
    plan.put(target, view_bytes(drawn, dpi, image_format(output)))
    commit_outputs(plan, quiet=False)
