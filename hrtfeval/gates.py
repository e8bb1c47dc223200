"""CI gates on score documents: thresholds, regression against a baseline, exit code, JUnit XML.

Everything here works on the JSON documents (single-pair or batch) as plain dictionaries, so a
run, a merge of shards and a later re-check of a stored document all apply the same rules.

Regression: a metric's value *grew* when ``value - baseline > 0`` (every hrtfeval metric is an
error, smaller is better). A check with ``--max-regression lsd=0.2`` passes when
``value - baseline <= 0.2``. Pairs are looked up in the baseline by their (prediction, target)
names, then by target name alone when it is unique there (so a ``--pairs`` CSV naming another
model's files still finds its baseline); a single-pair run against a single-pair baseline
compares the two whatever the file names.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any
from xml.etree import ElementTree as ET

from .constants import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, SIGNED_METRICS
from .errors import HrtfevalError

#: Metrics whose value is signed (a bias, e.g. the elevation bias eb in degrees): its size
#: ``|value|`` is the error, so thresholds, regression checks and ``compare`` use ``|value|``.
#: The one home of this fact (scoring, perceptual, compare and the gates ask :func:`error_size`).


def error_size(metric: str, value: float) -> float:
    """The error that checks and comparisons use: ``|value|`` for a signed metric, else ``value``."""
    return abs(value) if metric in SIGNED_METRICS else value


def threshold_rule(metric: str, op: str = "<=") -> str:
    """The ``rule`` text of a threshold on ``metric`` (``|value|`` for a signed metric)."""
    value = "|value|" if metric in SIGNED_METRICS else "value"
    return f"passes when {value} {op} limit"

#: Batch-``spec`` keys that describe one run rather than how pairs are scored: ``merge`` accepts
#: shards that differ in these, and no comparison looks at them.
RUN_SPEC_KEYS = (
    "device",
    "source",
    "shard",
    "missing_shards",
    "ignore_unmatched",
    "timeout_s",
    "notes",
    "max_memory_bytes",  # --max-memory: refuses a pair or not, never changes a number
)
#: Further batch-``spec`` keys that do not change a metric's value: the checks, the metric list,
#: the pair count, the version and kind of document. Every other key of a batch spec decides the
#: numbers (a new option is number-changing unless listed here or in :data:`RUN_SPEC_KEYS`).
NOT_SCORING_SPEC_KEYS = RUN_SPEC_KEYS + ("thresholds", "metrics", "pairs_total", "hrtfeval", "kind")
#: The batch-``spec`` keys of today's options that decide the numbers (the complement of
#: :data:`NOT_SCORING_SPEC_KEYS` for the options hrtfeval has). Several are present only when
#: set (``ignore_delay``, ``exclude``, ``weighting``, ``bands``, ``regions``, ``max_missing``,
#: ``localisation``): presence is compared too. ``definitions`` is compared per metric.
SCORING_SPEC_KEYS = (
    "band_hz",
    "n_fft",
    "domain",
    "reduction",
    "epsilon",
    "itd_method",
    "length_policy",
    "preset",
    "tolerance_deg",
    "allow_missing",
    "max_missing",
    "exclude_silent",
    "ignore_delay",
    "exclude",
    "weighting",
    "bands",
    "regions",
    "region_tolerance_deg",
    "localisation",
)
#: Facts of one scored pair (its spec in a batch, the spec of a single-pair document) that decide
#: its numbers: FFT length and bins scored, rmse/mae domain, matching tolerance, whether the
#: ``Data.Delay`` of each file was applied, the sampling rate, how many directions were scored and
#: left out. Compared only where both documents state them.
PAIR_FACTS = (
    "n_fft",
    "bins",
    "domain",
    "sampling_rate",
    "directions.tolerance_deg",
    "directions.matched",
    "directions.excluded",
    "prediction.delay_applied",
    "reference.delay_applied",
)


def scoring_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The keys of a batch spec that decide the numbers (all but :data:`NOT_SCORING_SPEC_KEYS`)."""
    return {k: v for k, v in spec.items() if k not in NOT_SCORING_SPEC_KEYS}


def options_view(spec: dict[str, Any], single: bool) -> dict[str, Any]:
    """The :data:`SCORING_SPEC_KEYS` of a spec as a batch spec states them.

    A single-pair spec holds some options elsewhere or in another form (the resolved weighting,
    the region definitions, ``directions.max_missing_fraction``); they are mapped to the batch
    form. ``n_fft`` and ``domain`` of a single-pair spec are the values used for the pair, not
    the options: they are left out there (the pair facts compare them).
    """
    if not single:
        return {k: spec.get(k) for k in SCORING_SPEC_KEYS}
    directions = spec.get("directions") or {}
    regions = spec.get("regions") or None
    view = {
        k: spec.get(k)
        for k in SCORING_SPEC_KEYS
        if k not in ("n_fft", "domain", "weighting", "regions", "region_tolerance_deg")
    }
    view["tolerance_deg"] = directions.get("tolerance_deg")
    view["max_missing"] = directions.get("max_missing_fraction")
    view["allow_missing"] = None  # not stated in a single-pair spec (max_missing is)
    weighting = spec.get("weighting")
    view["weighting"] = weighting.get("scheme") if isinstance(weighting, dict) else weighting
    view["regions"] = None if regions is None else sorted(regions.get("definitions") or {})
    view["region_tolerance_deg"] = (
        regions.get("tolerance_deg")
        if regions is not None and regions.get("tolerance") == "--region-tolerance"
        else None
    )
    return view


# ----------------------------------------------------------------------------------------------
# Documents


def load_document(path: str | os.PathLike) -> dict[str, Any]:
    """Read a document written by hrtfeval: JSON (single-pair or batch) or JSON lines (batch).

    A JSON-lines file (``--format jsonl``) is put back together into the batch document. The
    document's structure is checked (:func:`validate_document`), so what a later step reads is
    there and of the right type.

    Raises
    ------
    HrtfevalError
        The file cannot be read, is not JSON (or JSON lines), holds NaN/Infinity, is nested
        too deeply, or is not a well-formed score document; the message names the file and the
        first field that is wrong.
    """
    name = str(path)
    from .procs import special_file

    kind = special_file(path)
    if kind is not None:  # opening a FIFO would block
        raise HrtfevalError(f"is {kind}, not a regular file; expected a JSON document", name)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise HrtfevalError("file not found", name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HrtfevalError(
            f"cannot read the file: {getattr(exc, 'strerror', None) or exc}", name
        ) from None
    try:
        doc = _parse_json(text, name)
    except json.JSONDecodeError:
        doc = _from_jsonl(text, name)
    validate_document(doc, name)
    return doc


def _reject_constant(token: str):
    raise _BadToken(token)


class _BadToken(Exception):
    """A NaN/Infinity token (JSON has none; hrtfeval never writes them)."""


def _parse_json(text: str, name: str, line: int | None = None) -> Any:
    """``json.loads`` that refuses NaN/Infinity, deep nesting and oversized integers."""
    where = "" if line is None else f" (line {line})"
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        raise
    except _BadToken as exc:
        raise HrtfevalError(
            f"holds the number {exc.args[0]}{where}, which JSON does not have and hrtfeval never "
            "writes",
            name,
        ) from None
    except RecursionError:
        raise HrtfevalError(f"is nested too deeply to be a score document{where}", name) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise HrtfevalError(f"is not a readable JSON document{where}: {exc}", name) from None


def _from_jsonl(text: str, name: str) -> dict[str, Any]:
    pairs, summary = [], None
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = _parse_json(line, name, i)
        except json.JSONDecodeError as exc:
            raise HrtfevalError(
                f"is neither JSON nor JSON lines (line {i}: {exc.msg})", name
            ) from None
        if isinstance(obj, dict) and "counts" in obj:
            summary = obj
        elif isinstance(obj, dict) and "prediction" in obj:
            pairs.append(obj)
        else:
            raise HrtfevalError(f"line {i} is not a pair or a summary object", name)
    if summary is None:
        raise HrtfevalError(
            "the JSON lines have no final summary object (was the run cut short?)", name
        )
    doc = {"spec": summary.get("spec", {}), "pairs": pairs}
    for key in ("unmatched", "aggregate", "regression", "counts"):
        if key in summary:
            doc[key] = summary[key]
    return doc


def is_batch(doc: dict[str, Any]) -> bool:
    return "pairs" in doc


# The structure of a score document, as far as merge, the baseline and the gates read it.
_NOT_A_DOCUMENT = "is not a score document written by hrtfeval (no 'pairs' or 'scores')"


class _Invalid(Exception):
    """A field of a document that is missing or of the wrong type: (where, what is wrong)."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _shown(value: Any) -> str:
    text = (
        json.dumps(value)
        if not isinstance(value, int) or abs(value) < 10**20
        else (f"an integer of {len(str(abs(value)))} digits")
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _expect(value: Any, where: str, kind: type | tuple, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        shown = "" if value is None else f" ({_shown(value)})"
        raise _Invalid(f"{where} is {_type_name(value)}{shown}; expected {what}")
    return value


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _number(value: Any, where: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    _expect(value, where, (int, float), "a finite number" + (" or null" if optional else ""))
    try:
        ok = math.isfinite(float(value))
    except OverflowError:
        ok = False
    if not ok:
        raise _Invalid(f"{where} is {_shown(value)}; expected a finite number")


def _field(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise _Invalid(f"{where}{key} is missing")
    return obj[key]


def _check_scores(scores: Any, where: str) -> None:
    _expect(scores, where, dict, "an object of metric scores")
    for metric, s in scores.items():
        at = f"{where}.{metric}"
        _expect(s, at, dict, "an object with 'overall', 'left', 'right'")
        _number(_field(s, "overall", at + "."), at + ".overall")
        for key in ("left", "right", "threshold"):
            _number(s.get(key), f"{at}.{key}", optional=True)
        if s.get("unit") is not None:
            _expect(s["unit"], at + ".unit", str, "a string or null")
        if s.get("passed") is not None:
            _expect(s["passed"], at + ".passed", bool, "true, false or null")


def _check_pair_regression(reg: Any, where: str) -> None:
    if reg is None:
        return
    _expect(reg, where, dict, "an object or null")
    for metric, r in reg.items():
        at = f"{where}.{metric}"
        _expect(r, at, dict, "an object with 'baseline', 'value', 'delta'")
        for key in ("baseline", "value", "delta"):
            _number(_field(r, key, at + "."), f"{at}.{key}")
        _number(r.get("max"), at + ".max", optional=True)
        if r.get("passed") is not None:
            _expect(r["passed"], at + ".passed", bool, "true, false or null")


def _check_entry(entry: Any, prefix: str, batch: bool) -> None:
    """A pair entry (``prefix`` = ``"pairs[3]."``) or a single-pair document (``prefix`` = "")."""
    _expect(entry, prefix.rstrip(".") or "the document", dict, "a pair object")
    for key in ("prediction", "target"):
        _expect(_field(entry, key, prefix), prefix + key, str, "a file name")
    if batch and "error" in entry:
        _expect(entry["error"], prefix + "error", str, "a message")
        return
    _check_scores(_field(entry, "scores", prefix), prefix + "scores")
    if batch and "spec" in entry:
        _expect(entry["spec"], prefix + "spec", dict, "an object")
    if entry.get("passed") is not None:
        _expect(entry["passed"], prefix + "passed", bool, "true, false or null")
    if "regression" in entry:
        _check_pair_regression(entry["regression"], prefix + "regression")


def _check_spec(spec: Any, batch: bool) -> None:
    _expect(spec, "spec", dict, "an object")
    if "metrics" in spec:
        metrics = _expect(spec["metrics"], "spec.metrics", list, "a list of metric names")
        for i, m in enumerate(metrics):
            _expect(m, f"spec.metrics[{i}]", str, "a metric name")
    if batch and spec.get("shard") is not None:
        shard = _expect(spec["shard"], "spec.shard", str, "K/N or null")
        k_text, sep, n_text = shard.partition("/")
        if not sep or not n_text.isdigit() or not all(k.isdigit() for k in k_text.split(",")):
            raise _Invalid(f'spec.shard is {_shown(shard)}; expected K/N such as "2/8"')
    if batch and spec.get("pairs_total") is not None:
        _expect(spec["pairs_total"], "spec.pairs_total", int, "a count of pairs")
        if not 0 <= spec["pairs_total"] < 2**53:
            raise _Invalid(f"spec.pairs_total is {_shown(spec['pairs_total'])}; expected a count")
    for key in ("thresholds", "definitions"):
        if spec.get(key) is not None:
            _expect(spec[key], f"spec.{key}", dict, "an object")
    if spec.get("notes") is not None:
        _expect(spec["notes"], "spec.notes", list, "a list of strings")


def validate_document(doc: Any, name: str) -> None:
    """Check that ``doc`` has the structure of a score document (single-pair or batch).

    Only what merge, the baseline comparison and the gates read is checked: the pairs, their
    names and scores (finite numbers), the spec's type and shard, the unmatched lists and the
    regression blocks.

    Raises
    ------
    HrtfevalError
        Naming ``name`` and the first field that is missing or of the wrong type.
    """
    if not isinstance(doc, dict) or not ("pairs" in doc or "scores" in doc):
        raise HrtfevalError(_NOT_A_DOCUMENT, name)
    batch = is_batch(doc)
    try:
        _check_spec(_field(doc, "spec", ""), batch)
        if not batch:
            _check_entry(doc, "", batch=False)
            return
        seen: dict[tuple[str, str], int] = {}
        for i, entry in enumerate(_expect(doc["pairs"], "pairs", list, "a list of pairs")):
            _check_entry(entry, f"pairs[{i}].", batch=True)
            key = (entry["prediction"], entry["target"])
            if key in seen:  # a baseline lookup or a merge would silently take one of them
                raise _Invalid(f"pairs[{i}] repeats the pair of pairs[{seen[key]}] ({key[0]})")
            seen[key] = i
        unmatched = doc.get("unmatched")
        if unmatched is not None:
            _expect(unmatched, "unmatched", dict, "an object with 'prediction' and 'target' lists")
            for side in ("prediction", "target"):
                files = _expect(unmatched.get(side, []), f"unmatched.{side}", list, "a list")
                for j, f in enumerate(files):
                    _expect(f, f"unmatched.{side}[{j}]", str, "a file name")
        reg = doc.get("regression")
        if reg is not None:
            _expect(reg, "regression", dict, "an object or null")
            _expect(reg.get("baseline"), "regression.baseline", str, "the baseline's name")
            limits = _expect(reg.get("max", {}), "regression.max", dict, "an object")
            for metric, limit in limits.items():
                _number(limit, f"regression.max.{metric}")
    except _Invalid as exc:
        raise HrtfevalError(f"is not a valid score document: {exc.args[0]}", name) from None


# ----------------------------------------------------------------------------------------------
# Thresholds


def pair_passed(entry: dict[str, Any]) -> bool | None:
    """A pair's verdict over all its checks (thresholds and regression); None without checks."""
    checks = [s.get("passed") for s in entry.get("scores", {}).values()]
    checks += [r.get("passed") for r in (entry.get("regression") or {}).values()]
    if entry.get("regions"):
        from .regions import region_checks

        checks += region_checks(entry["regions"])
    checks = [c for c in checks if c is not None]
    return all(checks) if checks else None


def apply_fail_above(doc: dict[str, Any], limits: dict[str, float]) -> None:
    """Add ``--fail-above METRIC=VALUE`` checks to a stored document (in place): each pair's
    ``scores[m].threshold/passed``, its ``passed`` and the spec's thresholds."""
    if not limits:
        return
    spec = doc.get("spec", {})
    metrics = spec.get("metrics") or list(doc.get("scores", {}))
    region_limits = {m: v for m, v in limits.items() if "." in m}
    if region_limits:
        from .regions import apply_region_fail_above

        apply_region_fail_above(doc, region_limits)
        limits = {m: v for m, v in limits.items() if "." not in m}
    for m in limits:
        if m not in metrics:
            raise HrtfevalError(
                f"--fail-above names {m!r}, which the document does not score "
                f"(it has {', '.join(metrics)})"
            )
    entries = doc["pairs"] if is_batch(doc) else [doc]
    for e in entries:
        for m, limit in limits.items():
            if m in e.get("scores", {}):
                s = e["scores"][m]
                s["threshold"] = float(limit)
                s["passed"] = error_size(m, s["overall"]) <= float(limit)
        if "scores" in e:
            e["passed"] = pair_passed(e)
    thresholds = spec.setdefault("thresholds", {})
    for m, limit in limits.items():
        old = thresholds.get(m)
        thresholds[m] = {
            "limit": float(limit),
            "rule": threshold_rule(m),
            "source": "fail-above",
        }
        if old and old.get("source") != "fail-above":  # a preset's threshold, replaced
            thresholds[m]["replaces"] = old


# ----------------------------------------------------------------------------------------------
# Baseline and regression


class Baseline:
    """Scores of an earlier run, looked up by pair names.

    Parameters
    ----------
    doc : dict
        A single-pair or batch document (:func:`load_document`).
    name : str
        Where it came from (reported in the output).
    """

    def __init__(self, doc: dict[str, Any], name: str):
        validate_document(doc, name)
        self.name = name
        self.single = not is_batch(doc)
        entries = [doc] if self.single else doc["pairs"]
        self.entries = [e for e in entries if isinstance(e, dict) and "scores" in e]
        self.by_pair = {(e.get("prediction"), e.get("target")): e for e in self.entries}
        targets: dict[str, list] = {}
        for e in self.entries:
            targets.setdefault(e.get("target"), []).append(e)
        self.by_target = {t: es[0] for t, es in targets.items() if len(es) == 1}
        self.metrics = {m for e in self.entries for m in e["scores"]}
        self.spec = doc["spec"]

    @classmethod
    def load(cls, path: str | os.PathLike) -> Baseline:
        return cls(load_document(path), str(path))

    def lookup(self, prediction: str, target: str, single_run: bool = False):
        """The baseline entry of a pair, or None when the baseline does not have it."""
        if single_run and self.single and self.entries:
            return self.entries[0]
        hit = self.by_pair.get((prediction, target))
        return hit if hit is not None else self.by_target.get(target)


def spec_differences(a: dict[str, Any], b: dict[str, Any], keys=None) -> list[str]:
    """The keys (all of both, or ``keys``) whose values differ between two specs; dotted keys
    (``"reference.delay_applied"``) look into nested objects."""
    keys = sorted(a.keys() | b.keys()) if keys is None else keys
    return [k for k in keys if _dotted(a, k) != _dotted(b, k)]


def _dotted(spec: Any, key: str) -> Any:
    for part in key.split("."):
        spec = spec.get(part) if isinstance(spec, dict) else None
    return spec


def _differences_text(keys: list[str], base: dict, run: dict) -> str:
    return "; ".join(
        f"{k}: {json.dumps(_dotted(base, k))} in the baseline, {json.dumps(_dotted(run, k))} here"
        for k in keys
    )


def _scored_metrics(doc_or_spec: dict[str, Any]) -> set[str]:
    spec = doc_or_spec.get("spec", doc_or_spec)
    if isinstance(spec.get("metrics"), list):
        return set(spec["metrics"])
    return set(doc_or_spec.get("scores") or {})


def _comparable_keys(keys, base_metrics: set[str], run_metrics: set[str]) -> list[str]:
    """``keys`` without those that no metric scored by both documents depends on."""
    both = base_metrics & run_metrics
    skip = set()
    if "itd" not in both:
        skip.add("itd_method")
    if not both & {"rmse", "mae"}:
        skip.add("domain")
    if not both & {"lsd", "rmse", "mae"}:
        skip |= {"band_hz", "n_fft", "bins"}
    if not both & {"lsd", "rmse", "mae", "itd", "ild"}:  # qe/pe/eb: each set on its own grid
        skip |= {"tolerance_deg", "allow_missing", "max_missing", "directions.tolerance_deg"}
    return [k for k in keys if k not in skip]


def check_baseline_spec(run_spec: dict[str, Any], baseline: Baseline) -> None:
    """Refuse a baseline scored with other definitions than this run (before anything is scored).

    ``run_spec`` is a batch spec (:func:`hrtfeval.batch.batch_spec`) of the run's options. Every
    key of :data:`SCORING_SPEC_KEYS` is compared, presence included (a key only present when its
    option is set), a single-pair baseline through :func:`options_view`; the per-pair facts (FFT
    length, bins, domain, directions) are compared pair by pair in :func:`annotate_pair`. Keys
    that only matter to a metric one of the two documents does not score are left out.
    """
    run_metrics = _scored_metrics(run_spec)
    both = baseline.metrics & run_metrics
    base_view = options_view(baseline.spec, baseline.single)
    run_view = options_view(run_spec, False)
    keys = [k for k in SCORING_SPEC_KEYS if k in base_view]
    if baseline.single:
        keys = [k for k in keys if k not in ("allow_missing",)]
    if not both & {"qe", "pe", "eb"}:
        keys = [k for k in keys if k != "localisation"]
    keys = _comparable_keys(keys, baseline.metrics, run_metrics)
    base_view["definitions"] = baseline.spec.get("definitions")
    run_view["definitions"] = run_spec.get("definitions")
    if not baseline.single:  # a single-pair document's definitions name its bins: per pair
        keys += _definition_keys(base_view, run_view, both)
    differ = spec_differences(base_view, run_view, keys)
    if differ:
        raise HrtfevalError(
            "the baseline was scored with other definitions than this run ("
            + _differences_text(differ, base_view, run_view)
            + "); its numbers cannot be compared: score the baseline again with this run's "
            "options",
            baseline.name,
        )


def _definition_keys(a: dict[str, Any], b: dict[str, Any], metrics) -> list[str]:
    """``definitions.<metric>`` for the metrics both specs define."""
    return [
        f"definitions.{m}"
        for m in sorted(metrics)
        if _dotted(a, f"definitions.{m}") is not None and _dotted(b, f"definitions.{m}") is not None
    ]


def _check_pair_spec(entry: dict[str, Any], base: dict[str, Any], baseline: Baseline) -> None:
    """Refuse a baseline pair whose facts (FFT length, bins, domain, ...) differ from the pair's;
    two single-pair documents also compare their definitions."""
    run, old = entry.get("spec") or {}, base.get("spec") or {}
    keys = _comparable_keys(PAIR_FACTS, set(base["scores"]), set(entry["scores"]))
    keys += _definition_keys(old, run, set(base["scores"]) & set(entry["scores"]))
    keys = [k for k in keys if _dotted(run, k) is not None and _dotted(old, k) is not None]
    differ = spec_differences(old, run, keys)
    if differ:
        raise HrtfevalError(
            f"the baseline's pair {base.get('prediction')}, {base.get('target')} was scored with "
            f"other definitions than {entry['prediction']}, {entry['target']} here ("
            + _differences_text(differ, old, run)
            + "); its numbers cannot be compared: score the baseline again with this run's "
            "options",
            baseline.name,
        )


def check_regression_options(
    metrics,
    baseline: Baseline | None,
    max_regression: dict[str, float],
    run_spec: dict[str, Any] | None = None,
) -> None:
    """``--max-regression`` needs ``--baseline``, scored metrics and a baseline that has them;
    with ``run_spec``, the baseline must be scored with the same definitions
    (:func:`check_baseline_spec`)."""
    if max_regression and baseline is None:
        raise HrtfevalError("--max-regression needs --baseline OLD.json to compare with")
    if baseline is None:
        return
    if not baseline.entries:
        raise HrtfevalError("the baseline has no scored pair to compare with", baseline.name)
    if run_spec is not None:
        check_baseline_spec(run_spec, baseline)
    for m in max_regression:
        if m not in metrics:
            raise HrtfevalError(
                f"--max-regression names {m!r}, which is not scored; add --metric {m}"
            )
        if m not in baseline.metrics:
            raise HrtfevalError(
                f"the baseline has no {m} scores (it has {', '.join(sorted(baseline.metrics))})",
                baseline.name,
            )
        if not math.isfinite(max_regression[m]):
            raise HrtfevalError(f"--max-regression {m} must be a finite number")


def annotate_pair(
    entry: dict[str, Any],
    baseline: Baseline,
    max_regression: dict[str, float],
    single_run: bool = False,
) -> None:
    """Add ``regression`` to a scored pair entry (in place) and update its ``passed``.

    ``regression`` is ``{metric: {"baseline", "value", "delta", "max", "passed"}}`` for every
    metric both have (``passed`` is None for metrics without a ``max``), or None when the pair
    is not in the baseline.
    """
    if "scores" not in entry:
        return
    base = baseline.lookup(entry["prediction"], entry["target"], single_run)
    if base is None and single_run:
        raise HrtfevalError(
            f"has no pair {entry['prediction']}, {entry['target']} (nor its target) to compare "
            "this run with; give the baseline of these files",
            baseline.name,
        )
    if base is None:
        entry["regression"] = None
    else:
        _check_pair_spec(entry, base, baseline)
        reg = {}
        for m, s in entry["scores"].items():
            if m not in base["scores"]:
                continue
            reg[m] = _delta(
                float(base["scores"][m]["overall"]),
                float(s["overall"]),
                max_regression.get(m),
                m in SIGNED_METRICS,
            )
        entry["regression"] = reg
    entry["passed"] = pair_passed(entry)


def _delta(
    baseline: float, value: float, limit: float | None, signed: bool = False
) -> dict[str, Any]:
    """One regression record: the change from ``baseline`` to ``value`` and, with a limit, whether
    it stays within it (smaller is better for every metric, so only growth can fail). For a
    signed metric (``signed``) the change is that of the sizes, ``|value| - |baseline|``, and the
    record says so (``"of": "|value|"``)."""
    delta = abs(value) - abs(baseline) if signed else value - baseline
    out = {
        "baseline": baseline,
        "value": value,
        "delta": delta,
        "max": limit,
        "passed": None if limit is None else delta <= limit,
    }
    if signed:
        out["of"] = "|value|"
    return out


def regression_block(
    entries: list[dict[str, Any]], baseline_name: str, max_regression: dict[str, float]
) -> dict[str, Any]:
    """The document's ``regression`` block from annotated pair entries.

    ``aggregate[m]`` compares the mean over the pairs found in the baseline with the baseline's
    mean over the same pairs (so a shard is compared with the matching part of a full run);
    ``missing`` lists the scored pairs that the baseline does not have; ``regressed`` lists
    the pairs with a failing regression check; ``passed`` is the verdict of the aggregate checks
    (None without ``--max-regression``).
    """
    matched = [e for e in entries if e.get("regression")]
    scored = [e for e in entries if "scores" in e]
    if scored and not matched:
        shown = ", ".join(e["target"] for e in scored[:3])
        more = f" and {len(scored) - 3} more" if len(scored) > 3 else ""
        raise HrtfevalError(
            f"has none of the run's {len(scored)} scored pair(s) ({shown}{more}), so nothing "
            "can be compared; give the baseline of these pairs",
            baseline_name,
        )
    metrics: list[str] = []
    for e in matched:
        metrics += [m for m in e["regression"] if m not in metrics]
    agg = {}
    for m in metrics:
        rows = [e["regression"][m] for e in matched if m in e["regression"]]
        # A signed metric: the mean of the pairs' sizes (opposite biases must not cancel).
        b = math.fsum(error_size(m, r["baseline"]) for r in rows) / len(rows)
        v = math.fsum(error_size(m, r["value"]) for r in rows) / len(rows)
        agg[m] = {**_delta(b, v, max_regression.get(m), m in SIGNED_METRICS), "n": len(rows)}
    checks = [a["passed"] for a in agg.values() if a["passed"] is not None]
    return {
        "baseline": baseline_name,
        "max": dict(max_regression),
        "aggregate": agg,
        "missing": [
            {"prediction": e["prediction"], "target": e["target"]}
            for e in entries
            if "scores" in e and e.get("regression") is None
        ],
        "regressed": [
            {
                "prediction": e["prediction"],
                "target": e["target"],
                "metrics": [m for m, r in e["regression"].items() if r["passed"] is False],
            }
            for e in matched
            if any(r["passed"] is False for r in e["regression"].values())
        ],
        "passed": all(checks) if checks else None,
    }


# ----------------------------------------------------------------------------------------------
# Exit code


def exit_code(doc: dict[str, Any]) -> int:
    """2 when a pair errored or a file had no partner (unless ignored), else 1 when a check
    failed (a pair's threshold or regression, or the aggregate regression), else 0."""
    if not is_batch(doc):
        return EXIT_CHECK_FAILED if doc.get("passed") is False else EXIT_OK
    counts = doc["counts"]
    if counts["errors"] or (counts["unmatched"] and not doc["spec"].get("ignore_unmatched")):
        return EXIT_BAD_INPUT
    if counts["failed"] or (doc.get("regression") or {}).get("passed") is False:
        return EXIT_CHECK_FAILED
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# JUnit XML


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.6g}"
    return f"{text} {unit}".rstrip() if unit else text


def _signed(value: float, unit: str = "") -> str:
    return (f"{value:+.6g} {unit}").rstrip()


def junit_cases(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks of a document as test cases: ``{"classname", "name", "outcome", "message",
    "detail"}`` with outcome ``pass``, ``failure``, ``error`` or ``skipped``."""
    cases: list[dict[str, Any]] = []
    entries = doc["pairs"] if is_batch(doc) else [doc]

    def add(classname, name, outcome="pass", message="", detail=""):
        cases.append(
            {
                "classname": classname,
                "name": name,
                "outcome": outcome,
                "message": message,
                "detail": detail,
            }
        )

    rules = {
        m: str(t.get("rule", "<=")).split()[-2] if " " in str(t.get("rule", "")) else "<="
        for m, t in (doc.get("spec", {}).get("thresholds") or {}).items()
    }
    for e in entries:
        label = (
            e["prediction"]
            if e["prediction"] == e["target"]
            else (f"{e['prediction']} vs {e['target']}")
        )
        if "error" in e:
            add(label, "score", "error", e["error"], e["error"])
            continue
        checked = False
        for m, s in e["scores"].items():
            if s.get("passed") is None:
                continue
            checked = True
            unit = s.get("unit") or ""
            op = rules.get(m, "<=")
            name = f"{m} {op} {_num(s['threshold'], unit)}"
            if s["passed"]:
                add(label, name)
            else:
                add(
                    label,
                    name,
                    "failure",
                    f"{m} {_num(s['overall'], unit)} fails the threshold: value {op} "
                    f"{_num(s['threshold'], unit)}",
                    f"left {_num(s.get('left'))}, right {_num(s.get('right'))}, overall "
                    f"{_num(s['overall'])} {unit}".rstrip(),
                )
        for region, block in (e.get("regions") or {}).items():
            for m, s in block.get("scores", {}).items():
                if s.get("passed") is None:
                    continue
                checked = True
                unit = s.get("unit") or ""
                name = f"{region}.{m} <= {_num(s['threshold'], unit)}"
                if s["passed"]:
                    add(label, name)
                else:
                    add(
                        label,
                        name,
                        "failure",
                        f"{m} {_num(s['overall'], unit)} over the {block['directions']} "
                        f"directions of the region {region} fails the threshold: value <= "
                        f"{_num(s['threshold'], unit)}",
                    )
        if "regression" in e:
            if e["regression"] is None:
                checked = True
                add(label, "regression", "skipped", "not in the baseline")
            else:
                for m, r in e["regression"].items():
                    if r["passed"] is None:
                        continue
                    checked = True
                    unit = e["scores"][m].get("unit") or ""
                    name = f"{m} regression <= {_signed(r['max'], unit)}"
                    if r["passed"]:
                        add(label, name)
                    else:
                        add(
                            label,
                            name,
                            "failure",
                            f"{m} grew by {_signed(r['delta'], unit)} (from "
                            f"{_num(r['baseline'], unit)} to {_num(r['value'], unit)}), more "
                            f"than {_signed(r['max'], unit)}",
                        )
        if not checked:
            add(label, "score")
    unmatched = doc.get("unmatched") or {}
    ignored = doc.get("spec", {}).get("ignore_unmatched")
    for side, other in (("prediction", "target"), ("target", "prediction")):
        for f in unmatched.get(side, []):
            msg = f"{side} file without a {other} file"
            add(f, "pairing", "skipped" if ignored else "error", msg, msg)
    for shard in (doc.get("spec") or {}).get("missing_shards") or []:
        add(
            "shards",
            f"shard {shard}",
            "skipped",
            "shard missing from the merge (--allow-missing-shards)",
        )
    reg = doc.get("regression") if is_batch(doc) else None
    for m, a in ((reg or {}).get("aggregate") or {}).items():
        if a["passed"] is None:
            continue
        unit = ((doc.get("aggregate") or {}).get(m) or {}).get("unit") or ""
        name = f"mean {m} regression <= {_signed(a['max'], unit)}"
        if a["passed"]:
            add("aggregate", name)
        else:
            add(
                "aggregate",
                name,
                "failure",
                f"mean {m} over {a['n']} pairs grew by {_signed(a['delta'], unit)} (from "
                f"{_num(a['baseline'], unit)} to {_num(a['value'], unit)}), more than "
                f"{_signed(a['max'], unit)}",
            )
    return cases


def junit_xml(doc: dict[str, Any], suite: str = "hrtfeval") -> str:
    """JUnit XML: one ``<testcase>`` per pair and check; failed checks are ``<failure>``, pairs
    that could not be scored (and files without a partner) ``<error>``."""
    cases = junit_cases(doc)
    tally = {k: sum(c["outcome"] == k for c in cases) for k in ("failure", "error", "skipped")}
    attrs = {
        "name": suite,
        "tests": str(len(cases)),
        "failures": str(tally["failure"]),
        "errors": str(tally["error"]),
        "skipped": str(tally["skipped"]),
    }
    root = ET.Element("testsuites", attrs)
    ts = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(ts, "properties")
    spec = doc.get("spec", {})
    for key in ("hrtfeval", "metrics", "preset", "shard", "device"):
        if spec.get(key) is not None:
            value = spec[key]
            value = ",".join(value) if isinstance(value, list) else str(value)
            ET.SubElement(props, "property", {"name": key, "value": value})
    for c in cases:
        tc = ET.SubElement(ts, "testcase", {"classname": c["classname"], "name": c["name"]})
        if c["outcome"] == "pass":
            continue
        tag = {"failure": "failure", "error": "error", "skipped": "skipped"}[c["outcome"]]
        el = ET.SubElement(
            tc, tag, {"message": c["message"], **({"type": c["name"]} if tag != "skipped" else {})}
        )
        if c["detail"]:
            el.text = c["detail"]
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
