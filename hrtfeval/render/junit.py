"""JUnit XML of a score document: one test case per pair and check."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from ..gates import is_batch
from ..results import BatchDocument, MetricScore, PairEntry, Spec, pair_entry


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.6g}"
    return f"{text} {unit}".rstrip() if unit else text


def _signed(value: float, unit: str = "") -> str:
    return (f"{value:+.6g} {unit}").rstrip()


class _Cases(list):
    """The test cases, as ``{"classname", "name", "outcome", "message", "detail"}``."""

    def add(self, classname, name, outcome="pass", message="", detail="") -> None:
        self.append(
            {
                "classname": classname,
                "name": name,
                "outcome": outcome,
                "message": message,
                "detail": detail,
            }
        )

    def check(self, label: str, name: str, passed: bool, message: str, detail: str = "") -> None:
        """A check's case: a pass, or a failure with ``message`` (and ``detail``)."""
        if passed:
            self.add(label, name)
        else:
            self.add(label, name, "failure", message, detail)


def _threshold_cases(
    cases: _Cases, label: str, where: str, scores: dict[str, MetricScore], ops, block=None
) -> bool:
    """The cases of the threshold checks of ``scores`` (a region's when ``block`` is its block);
    whether any check was made."""
    checked = False
    for m, s in scores.items():
        if s.passed is None:
            continue
        checked = True
        op = ops.get(where + m, "<=")
        limit = f"value {op} {_num(s.threshold, s.unit)}"
        if block is None:
            message = f"{m} {_num(s.overall, s.unit)} fails the threshold: {limit}"
            detail = (
                f"left {_num(s.left)}, right {_num(s.right)}, overall {_num(s.overall)} {s.unit}"
            ).rstrip()
        else:
            message = (
                f"{m} {_num(s.overall, s.unit)} over the {block['directions']} directions of "
                f"the region {where[:-1]} fails the threshold: {limit}"
            )
            detail = ""
        cases.check(
            label, f"{where}{m} {op} {_num(s.threshold, s.unit)}", s.passed, message, detail
        )
    return checked


def _grew(what: str, r: dict[str, Any], unit: str) -> str:
    return (
        f"{what} grew by {_signed(r['delta'], unit)} (from {_num(r['baseline'], unit)} to "
        f"{_num(r['value'], unit)}), more than {_signed(r['max'], unit)}"
    )


def _pair_cases(cases: _Cases, e: PairEntry, ops: dict[str, str]) -> None:
    label = e.prediction if e.prediction == e.reference else f"{e.prediction} vs {e.reference}"
    if e.error is not None:
        cases.add(label, "score", "error", e.error, e.error)
        return
    scores = e.scores()
    checked = _threshold_cases(cases, label, "", scores, ops)
    for region, block in (e.regions or {}).items():
        region_scores = {m: MetricScore.from_dict(m, s) for m, s in block.get("scores", {}).items()}
        checked |= _threshold_cases(cases, label, f"{region}.", region_scores, ops, block)
    if e.has_regression and e.regression is None:
        checked = True
        cases.add(label, "regression", "skipped", "not in the baseline")
    for m, r in (e.regression or {}).items():
        if r["passed"] is None:
            continue
        checked = True
        unit = scores[m].unit
        name = f"{m} regression <= {_signed(r['max'], unit)}"
        cases.check(label, name, r["passed"], _grew(m, r, unit))
    if not checked:
        cases.add(label, "score")


def junit_cases(doc: dict[str, Any] | BatchDocument) -> list[dict[str, Any]]:
    """The checks of a document as test cases: ``{"classname", "name", "outcome", "message",
    "detail"}`` with outcome ``pass``, ``failure``, ``error`` or ``skipped``."""
    if isinstance(doc, BatchDocument) or is_batch(doc):
        whole = BatchDocument.of(doc)
        batch: BatchDocument | None = whole
        entries, spec = whole.pairs, whole.settings
    else:
        batch = None
        entries, spec = [pair_entry(doc)], Spec.from_dict(doc.get("spec"))
    cases = _Cases()
    ops = {m: t.op for m, t in spec.thresholds.items()}
    for e in entries:
        _pair_cases(cases, e, ops)
    unmatched = batch.unmatched if batch is not None else {}
    for side, other in (("prediction", "target"), ("target", "prediction")):
        for f in unmatched.get(side, []):
            msg = f"{side} file without a {other} file"
            cases.add(f, "pairing", "skipped" if spec.ignore_unmatched else "error", msg, msg)
    for shard in spec.missing_shards:
        message = "shard missing from the merge (--allow-missing-shards)"
        cases.add("shards", f"shard {shard}", "skipped", message)
    reg = batch.regression if batch is not None else None
    for m, a in ((reg or {}).get("aggregate") or {}).items():
        if a["passed"] is None:
            continue
        unit = (batch.aggregate.get(m) or {}).get("unit") or "" if batch is not None else ""
        name = f"mean {m} regression <= {_signed(a['max'], unit)}"
        cases.check("aggregate", name, a["passed"], _grew(f"mean {m} over {a['n']} pairs", a, unit))
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
    spec = doc.spec if isinstance(doc, BatchDocument) else doc.get("spec", {})
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
