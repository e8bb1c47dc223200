"""JUnit XML of a score document: one test case per pair and check."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from ..gates import is_batch
from ..results import reference_name, thresholds_of


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

    rules = {m: t.op for m, t in thresholds_of(doc.get("spec")).items()}
    for e in entries:
        reference = reference_name(e)
        label = e["prediction"]
        if label != reference:
            label = f"{label} vs {reference}"
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
                op = rules.get(f"{region}.{m}", "<=")
                name = f"{region}.{m} {op} {_num(s['threshold'], unit)}"
                if s["passed"]:
                    add(label, name)
                else:
                    add(
                        label,
                        name,
                        "failure",
                        f"{m} {_num(s['overall'], unit)} over the {block['directions']} "
                        f"directions of the region {region} fails the threshold: value {op} "
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
