"""The batch document: the batch spec, a pair's entry, the aggregate and counts, and the merge
of shard documents."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import HrtfevalError
from ..gates import RUN_SPEC_KEYS
from ..metrics import names
from .jobs import PairResult
from .shards import parse_shard_set, shard_size

#: Per-pair ``spec`` keys of the single-pair spec: facts about the two files. Every other key of
#: the single-pair spec comes from the options and is stored once, in the batch ``spec``.
PAIR_SPEC_KEYS = (
    "prediction",
    "reference",
    "sampling_rate",
    "n_samples",
    "n_fft",
    "zero_padding",
    "directions",
    "bins",
    "domain",
    "notes",
    "weighting",
    "regions",
    "exclude",
)
#: Optional blocks of a pair's score kept in its batch entry (``--bands``, ``--region``).
EXTRA_KEYS = ("bands", "regions")


# ----------------------------------------------------------------------------------------------
# Entries, aggregate, the document


def batch_spec(
    options,
    device,
    source: dict[str, str],
    *,
    shard: str | None,
    pairs_total: int,
    ignore_unmatched: bool,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """The batch ``spec``: how every pair is scored (from the options alone) and the run.

    ``timeout_s``: the time limit of one pair (s; None = none), after which it is an error."""
    from .. import __version__
    from ..scoring import definitions

    thresholds = {m: t.to_spec(m) for m, t in options.thresholds}
    defs = definitions(options, options.domain or "time", None)
    if options.domain is None:
        for m in names("time-or-spectral"):
            if m in defs:
                defs[m] += (
                    "; domain per pair (time when both files hold impulse responses, "
                    "else magnitude): see each pair's spec.domain"
                )
    from ..perceptual import localisation_spec

    spec = {
        "hrtfeval": __version__,
        "kind": "batch",
        "metrics": list(options.metrics),
        "preset": options.preset,
        "band_hz": [options.freq_min, options.freq_max],
        "n_fft": options.n_fft,
        "domain": options.domain,
        "reduction": options.reduction,
        "epsilon": options.epsilon,
        "itd_method": options.itd_method if "itd" in options.metrics else None,
        "tolerance_deg": options.tolerance_deg,
        "allow_missing": options.allow_missing,
        "length_policy": options.length_policy,
        "exclude_silent": options.exclude_silent,
        "max_memory_bytes": options.memory_limit,
        "thresholds": thresholds,
        "definitions": defs,
        "pairs_total": pairs_total,
        "shard": shard,
        "device": str(device),
        "source": source,
        "ignore_unmatched": ignore_unmatched,
        "timeout_s": timeout_s,
        "notes": [],
        **({"weighting": "area"} if options.weighting == "area" else {}),
        **({"bands": options.bands} if options.bands else {}),
        **(
            {"regions": list(options.regions), "region_tolerance_deg": options.region_tolerance}
            if options.regions
            else {}
        ),
        **({"exclude": options.exclude} if options.exclude else {}),
        **({"max_missing": options.max_missing} if options.allow_missing else {}),
        **({"ignore_delay": True} if options.ignore_delay else {}),
    }
    localisation = localisation_spec(options)
    if localisation is not None:
        spec["localisation"] = localisation
    return spec


def make_entry(result: PairResult) -> dict[str, Any]:
    """A pair's entry in the batch document (names relative, per-pair spec only)."""
    from ..results import pair_names

    pair = result.pair
    names = pair_names(pair.prediction, pair.target)
    if result.score is None:
        return {**names, "error": result.error}
    spec = result.score["spec"]
    return {
        **names,
        "spec": {k: spec[k] for k in PAIR_SPEC_KEYS if k in spec},
        "scores": result.score["scores"],
        "passed": result.score["passed"],
        **{k: result.score[k] for k in EXTRA_KEYS if k in result.score},
    }


def stats(values: list[float]) -> dict[str, Any]:
    """mean / median / min / max / n of ``values`` (None when empty). ``math.fsum`` keeps the
    mean independent of the order pairs were merged in."""
    n = len(values)
    if not n:
        return {"mean": None, "median": None, "min": None, "max": None, "n": 0}
    return {
        "mean": math.fsum(values) / n,
        "median": float(statistics.median(values)),
        "min": min(values),
        "max": max(values),
        "n": n,
    }


def aggregate(entries: list[dict[str, Any]], metrics: Iterable[str]) -> dict[str, Any]:
    """Per metric, statistics of the pairs' overall values over the scored pairs."""
    out = {}
    for m in metrics:
        scored = [e["scores"][m] for e in entries if "scores" in e and m in e["scores"]]
        units = sorted({s["unit"] for s in scored})
        unit = units[0] if len(units) == 1 else ("mixed: " + ", ".join(units) if units else None)
        out[m] = {"unit": unit, **stats([s["overall"] for s in scored])}
        if any("baseline" in s for s in scored):  # localisation model: REF as the targets
            out[m]["baseline_mean"] = stats([s["baseline"] for s in scored])["mean"]
            out[m]["delta_mean"] = stats([s["delta"] for s in scored])["mean"]
    return out


def count(doc: dict[str, Any]) -> dict[str, int]:
    """The ``counts`` block of a batch document, from its pairs and unmatched lists."""
    entries = doc["pairs"]
    unmatched = doc.get("unmatched") or {}
    return {
        "pairs": len(entries),
        "scored": sum("scores" in e for e in entries),
        "errors": sum("error" in e for e in entries),
        "unmatched": len(unmatched.get("prediction", [])) + len(unmatched.get("target", [])),
        "failed": sum(e.get("passed") is False for e in entries),
        **(
            {"missing_shards": len(doc["spec"]["missing_shards"])}
            if doc.get("spec", {}).get("missing_shards")
            else {}
        ),
    }


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Recompute ``aggregate`` and ``counts`` (and the mixed-unit note) from the pairs, in place,
    keeping the documented key order."""
    metrics = doc["spec"]["metrics"]
    agg = aggregate(doc["pairs"], metrics)
    notes = [n for n in doc["spec"].get("notes", []) if not n.startswith("aggregate of ")]
    for m, a in agg.items():
        if a["unit"] and a["unit"].startswith("mixed"):
            notes.append(
                f"aggregate of {m} mixes pairs scored in different domains "
                f"({a['unit'][7:]}); set --domain to score all pairs alike"
            )
    doc["spec"]["notes"] = notes
    from ..bands import aggregate_bands
    from ..regions import aggregate_regions
    from ..results import BatchDocument, PairEntry

    pairs = doc["pairs"]
    ordered = BatchDocument(
        doc["spec"],
        [PairEntry.from_dict(e) for e in pairs],
        doc.get("unmatched") or {"prediction": [], "target": []},
        agg,
        aggregate_regions(pairs) if any("regions" in e for e in pairs) else None,
        aggregate_bands(pairs) if any("bands" in e for e in pairs) else None,
        doc.get("regression"),
        "regression" in doc,
        count(doc),
    ).to_dict()
    doc.clear()
    doc.update(ordered)
    return doc


# ----------------------------------------------------------------------------------------------
# Merge


def comparable_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec without the keys that describe one run (device, source, shard, notes)."""
    return {k: v for k, v in spec.items() if k not in RUN_SPEC_KEYS}


def merge_documents(
    docs: list[dict[str, Any]],
    names: list[str],
    warn: Callable[[str], None] = lambda s: None,
    *,
    allow_missing_shards: bool = False,
) -> dict[str, Any]:
    """Combine batch documents (shards of one run) into one, aggregate and counts recomputed.

    Parameters
    ----------
    docs, names
        The documents and the files they came from (named in every error).
    warn : callable
        Called with a message when the documents scored different folders or pairs files.
    allow_missing_shards : bool
        Merge the shards that are there when some of the run's shards are missing. The merged
        document then names the present shards in ``spec.shard`` (``"1,3/4"``), the missing
        ones in ``spec.missing_shards`` and a note, and counts them in
        ``counts.missing_shards``.

    Raises
    ------
    HrtfevalError
        A document is not a batch document, the scoring specs differ, the shards come from runs
        of different sizes, a shard is given twice or holds fewer pairs than its share, a pair
        is in two documents, or (without ``allow_missing_shards``) a shard is missing.
    """
    from ..gates import SCORING_SPEC_KEYS, spec_differences, validate_document
    from ..results import BatchDocument, PairEntry

    if not docs:
        raise HrtfevalError("merge needs at least one batch document")
    for doc, name in zip(docs, names):
        validate_document(doc, name)
        if "pairs" not in doc:
            raise HrtfevalError("is a single-pair document; merge takes batch documents", name)
    batches = [BatchDocument.from_dict(doc) for doc in docs]
    first = comparable_spec(batches[0].spec)
    for other, name in zip(batches[1:], names[1:]):
        keys = spec_differences(first, comparable_spec(other.spec))
        if keys:
            what = "definitions" if set(keys) & set(SCORING_SPEC_KEYS) else "options"
            raise HrtfevalError(
                f"was scored with other {what} than {names[0]} (spec differs in "
                f"{', '.join(keys)}); merge only shards of one run",
                name,
            )
    shards = [d.shard for d in batches]
    shard_text, missing_shards = None, []
    if any(s is not None for s in shards):
        if any(s is None for s in shards):
            whole = [name for s, name in zip(shards, names) if s is None]
            part = [name for s, name in zip(shards, names) if s is not None]
            raise HrtfevalError(
                f"some documents are shards (--shard: {', '.join(part[:3])}) and some are not "
                f"({', '.join(whole[:3])}); merge the shards of one run"
            )
        parsed = [parse_shard_set(str(s), name) for s, name in zip(shards, names)]
        n = parsed[0][1]
        if any(p[1] != n for p in parsed):
            raise HrtfevalError(
                "the shards split the run differently: "
                + ", ".join(sorted({str(s) for s in shards}))
                + " ("
                + ", ".join(f"{name}: {s}" for s, name in zip(shards, names))
                + ")"
            )
        total = batches[0].spec.get("pairs_total")
        seen: dict[int, str] = {}
        for (ks, _), shard_doc, name in zip(parsed, batches, names):
            for k in sorted(ks):
                if k in seen:
                    raise HrtfevalError(f"shard {k}/{n} is given twice: {seen[k]} and {name}")
                seen[k] = name
            if isinstance(total, int):
                expected = sum(shard_size(k, n, total) for k in ks)
                if len(shard_doc.pairs) != expected:
                    raise HrtfevalError(
                        f"holds {len(shard_doc.pairs)} pair(s), but shard {shard_doc.shard} of "
                        f"a run of {total} pairs has {expected}: the document is incomplete",
                        name,
                    )
        missing_shards = [f"{k}/{n}" for k in range(1, n + 1) if k not in seen]
        if missing_shards:
            covered = sum(len(d.pairs) for d in batches)
            message = (
                f"shard(s) {', '.join(missing_shards)} missing: the documents cover {covered} "
                f"of {total} pairs"
            )
            if not allow_missing_shards:
                raise HrtfevalError(
                    f"{message}; merge every shard, or pass --allow-missing-shards to merge "
                    "these (the merged document then records the missing shards)"
                )
            shard_text = ",".join(str(k) for k in sorted(seen)) + f"/{n}"
    where: dict[tuple[str, str], str] = {}
    entries: list[PairEntry] = []
    for batch, name in zip(batches, names):
        for e in batch.pairs:
            key = e.key
            if key in where:
                raise HrtfevalError(
                    f"the pair {key[0]}, {key[1]} is in {where[key]} and in "
                    f"{name}: the documents overlap"
                )
            where[key] = name
            entries.append(e)
    entries.sort(key=lambda e: e.key)
    sources = {str(d.spec.get("source")) for d in batches}
    if len(sources) > 1:
        warn("the documents scored different folders or pairs files: " + "; ".join(sorted(sources)))
    spec = dict(batches[0].spec)
    spec["shard"] = shard_text
    spec.pop("missing_shards", None)
    spec["notes"] = [n for n in spec.get("notes", []) if not n.startswith("shard(s) ")]
    if missing_shards:
        spec["missing_shards"] = missing_shards
        spec["notes"].append(
            f"shard(s) {', '.join(missing_shards)} missing (--allow-missing-shards): "
            f"{sum(len(d.pairs) for d in batches)} of {spec.get('pairs_total')} pairs scored"
        )
    devices = sorted({str(d.spec.get("device")) for d in batches})
    spec["device"] = devices[0] if len(devices) == 1 else ", ".join(devices)
    spec["ignore_unmatched"] = all(d.spec.get("ignore_unmatched") for d in batches)
    unmatched = {
        side: sorted({f for d in batches for f in d.unmatched.get(side, [])})
        for side in ("prediction", "target")
    }
    pairs = [e.to_dict() for e in entries]
    merged = {"spec": spec, "pairs": pairs, "unmatched": unmatched}
    regs = [d.regression for d in batches]
    if any(r is not None for r in regs):
        configs = {
            None if r is None else (r.get("baseline"), tuple(sorted(r.get("max", {}).items())))
            for r in regs
        }
        if len(configs) > 1:
            shown = "; ".join(
                f"{name}: "
                + (
                    "no baseline"
                    if r is None
                    else f"baseline {r.get('baseline')}, --max-regression {r.get('max') or {}}"
                )
                for r, name in zip(regs, names)
            )
            raise HrtfevalError(
                "the documents were compared with different baselines or "
                f"--max-regression limits (or some with none): {shown}"
            )
        from ..gates import regression_block

        first_reg = regs[0] or {}  # every document has one (the configurations agree)
        merged["regression"] = regression_block(pairs, first_reg["baseline"], first_reg["max"])
    return finish(merged)
