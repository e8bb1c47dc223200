"""Reading a score document from disk (JSON or JSON lines) and checking its structure."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from ..errors import HrtfevalError
from ..results import reference_name


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
    from ..procs import special_file

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
    # The reference file: "reference" (since 13, with "target" beside it) or only "target".
    for key in ("prediction", "reference" if "reference" in entry else "target"):
        _expect(_field(entry, key, prefix), prefix + key, str, "a file name")
    if "reference" in entry and entry.get("target", entry["reference"]) != entry["reference"]:
        raise _Invalid(
            f"{prefix}reference ({_shown(entry['reference'])}) and {prefix}target "
            f"({_shown(entry['target'])}) differ; expected one name of the reference file"
        )
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
            key = (entry["prediction"], reference_name(entry))
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
