"""The result model: thresholds stored as data, documents read back as they were written."""

from __future__ import annotations

import json

import pytest

from hrtfeval.results import (
    BatchDocument,
    PairEntry,
    Threshold,
    exit_code,
    pair_passed,
    reference_name,
    rule_op,
    thresholds_of,
)


@pytest.mark.parametrize(
    ("metric", "check"),
    [
        ("lsd", Threshold(7.4, "<", "lap")),
        ("eb", Threshold(2.0)),
        ("front.lsd", Threshold(3.0)),
        ("lsd", Threshold(5.0, replaces=Threshold(7.4, "<", "lap"))),
    ],
)
def test_threshold_round_trips_through_its_spec(metric, check):
    spec = check.to_spec(metric)
    assert Threshold.from_spec(json.loads(json.dumps(spec))) == check
    signed = metric == "eb"
    assert spec["rule"] == f"passes when {'|value|' if signed else 'value'} {check.op} limit"


def test_threshold_verdicts():
    assert Threshold(7.4, "<").passes(7.3) and not Threshold(7.4, "<").passes(7.4)
    assert Threshold(7.4).passes(7.4) and not Threshold(7.4).passes(7.41)
    assert Threshold(2.0).passes(-1.5, "eb") and not Threshold(2.0).passes(-2.5, "eb")
    assert [rule_op(r) for r in ("passes when value < limit", "<", None, "odd")] == [
        "<",
        "<",
        "<=",
        "<=",
    ]


def _entry(name, passed, **blocks):
    scores = {"lsd": {"unit": "dB", "left": 1.0, "right": 1.0, "overall": 1.0, "passed": passed}}
    return {"prediction": name, "reference": name, "target": name, "scores": scores, **blocks}


def test_pair_verdict_counts_thresholds_regression_and_regions():
    assert pair_passed(_entry("a", None)) is None
    assert pair_passed(_entry("a", True)) is True
    assert pair_passed(_entry("a", True, regression={"lsd": {"passed": False}})) is False
    regions = {"front": {"directions": 3, "scores": {"lsd": {"overall": 1.0, "passed": False}}}}
    assert pair_passed(_entry("a", None, regions=regions)) is False


def test_batch_document_round_trips_and_reads_old_documents():
    spec = {"metrics": ["lsd"], "thresholds": {"lsd": Threshold(7.4, "<", "lap").to_spec("lsd")}}
    doc = {
        "spec": spec,
        "pairs": [
            _entry("a", True),
            {"prediction": "b", "reference": "b", "target": "b", "error": "x"},
        ],
        "unmatched": {"prediction": [], "target": []},
        "aggregate": {},
        "regression": None,
        "counts": {"pairs": 2, "scored": 1, "errors": 1, "unmatched": 0, "failed": 0},
    }
    model = BatchDocument.from_dict(doc)
    assert json.dumps(model.to_dict()) == json.dumps(doc)
    assert model.thresholds == thresholds_of(spec) == {"lsd": Threshold(7.4, "<", "lap")}
    assert model.exit_code == exit_code(doc) == 2
    old = {"prediction": "p.sofa", "target": "r.sofa", "error": "x"}  # before "reference"
    entry = PairEntry.from_dict(old)
    assert reference_name(old) == entry.reference == "r.sofa"
    assert list(entry.to_dict()) == ["prediction", "reference", "target", "error"]
