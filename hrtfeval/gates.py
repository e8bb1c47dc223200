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

from .errors import HrtfevalError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


# ----------------------------------------------------------------------------------------------
# Documents


def load_document(path: str | os.PathLike) -> dict[str, Any]:
    """Read a document written by hrtfeval: JSON (single-pair or batch) or JSON lines (batch).

    A JSON-lines file (``--format jsonl``) is put back together into the batch document.
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
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = _from_jsonl(text, name)
    if not isinstance(doc, dict) or not ("pairs" in doc or "scores" in doc):
        raise HrtfevalError(
            "is not a score document written by hrtfeval (no 'pairs' or 'scores')", name
        )
    return doc


def _from_jsonl(text: str, name: str) -> dict[str, Any]:
    pairs, summary = [], None
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
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


# ----------------------------------------------------------------------------------------------
# Thresholds


def pair_passed(entry: dict[str, Any]) -> bool | None:
    """A pair's verdict over all its checks (thresholds and regression); None without checks."""
    checks = [s.get("passed") for s in entry.get("scores", {}).values()]
    checks += [r.get("passed") for r in (entry.get("regression") or {}).values()]
    checks = [c for c in checks if c is not None]
    return all(checks) if checks else None


def apply_fail_above(doc: dict[str, Any], limits: dict[str, float]) -> None:
    """Add ``--fail-above METRIC=VALUE`` checks to a stored document (in place): each pair's
    ``scores[m].threshold/passed``, its ``passed`` and the spec's thresholds."""
    if not limits:
        return
    spec = doc.get("spec", {})
    metrics = spec.get("metrics") or list(doc.get("scores", {}))
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
                s["passed"] = s["overall"] <= float(limit)
        if "scores" in e:
            e["passed"] = pair_passed(e)
    thresholds = spec.setdefault("thresholds", {})
    for m, limit in limits.items():
        thresholds[m] = {
            "limit": float(limit),
            "rule": "passes when value <= limit",
            "source": "fail-above",
        }


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

    @classmethod
    def load(cls, path: str | os.PathLike) -> Baseline:
        return cls(load_document(path), str(path))

    def lookup(self, prediction: str, target: str, single_run: bool = False):
        """The baseline entry of a pair, or None when the baseline does not have it."""
        if single_run and self.single and self.entries:
            return self.entries[0]
        hit = self.by_pair.get((prediction, target))
        return hit if hit is not None else self.by_target.get(target)


def check_regression_options(
    metrics, baseline: Baseline | None, max_regression: dict[str, float]
) -> None:
    """``--max-regression`` needs ``--baseline``, scored metrics and a baseline that has them."""
    if max_regression and baseline is None:
        raise HrtfevalError("--max-regression needs --baseline OLD.json to compare with")
    if baseline is None:
        return
    if not baseline.entries:
        raise HrtfevalError("the baseline has no scored pair to compare with", baseline.name)
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
    if base is None:
        entry["regression"] = None
    else:
        reg = {}
        for m, s in entry["scores"].items():
            if m not in base["scores"]:
                continue
            reg[m] = _delta(
                float(base["scores"][m]["overall"]), float(s["overall"]), max_regression.get(m)
            )
        entry["regression"] = reg
    entry["passed"] = pair_passed(entry)


def _delta(baseline: float, value: float, limit: float | None) -> dict[str, Any]:
    """One regression record: the change from ``baseline`` to ``value`` and, with a limit, whether
    it stays within it (smaller is better for every metric, so only growth can fail)."""
    return {
        "baseline": baseline,
        "value": value,
        "delta": value - baseline,
        "max": limit,
        "passed": None if limit is None else (value - baseline) <= limit,
    }


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
    metrics: list[str] = []
    for e in matched:
        metrics += [m for m in e["regression"] if m not in metrics]
    agg = {}
    for m in metrics:
        rows = [e["regression"][m] for e in matched if m in e["regression"]]
        b = math.fsum(r["baseline"] for r in rows) / len(rows)
        v = math.fsum(r["value"] for r in rows) / len(rows)
        agg[m] = {**_delta(b, v, max_regression.get(m)), "n": len(rows)}
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
