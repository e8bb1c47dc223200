"""Fuzz the command line with malformed inputs: whatever the file, the answer is a result or
one ``Error:`` line with exit code 2 -- never a traceback, a hang, a half-written output or a
changed input.

The cases (``fuzz_cases.py``) are small sample files broken in many ways: byte-level damage at
random places (seeded) and named structural faults of SOFA (netCDF4 and h5py) and ``.pt`` files,
special files (FIFOs, directories, devices, links) and ``--output`` paths that point at an
input. They run in one helper process (``fuzz_runner.py``, in-process through
``typer.testing.CliRunner``, so torch is imported once) that this test kills and restarts when a
case hangs or crashes it; a few run through the real ``python -m hrtfeval``.

Every case must hold:

* exit code 0, 1 or 2 (1 only with a threshold option), and the expected one where a case has an
  answer (2 for a file that cannot be scored honestly, 0 for a valid variant);
* no traceback, no uncaught exception; on exit 2 stderr is exactly one line ``Error: ...``;
* stdout is empty or one strict JSON document (no NaN/Infinity), and empty with ``-o``;
  nothing written below Python on stdout;
* with ``-o FILE``: the file exists and is strict JSON after exit 0/1, does not exist after exit
  2, and its folder holds no other new file (no temporary left behind);
* every input file is byte-identical afterwards, and no file appears next to it; the case
  finishes within :data:`CASE_LIMIT_S` seconds and within the address-space limit
  (:data:`MEMORY_LIMIT`: an enormous allocation fails as an uncaught MemoryError instead of
  taking the machine's memory);
* byte damage to a checksummed format (HDF5 SOFA, zip ``.pt``) that exits 0 gives exactly the
  numbers of the intact file (else a misread went unnoticed);
* a batch (two folders) with broken predictions reports each as an error entry, never as an
  "unexpected" exception, and still scores the intact pair.

Environment: ``HRTFEVAL_FUZZ_SEED`` (default :data:`fuzz_cases.DEFAULT_SEED`) and
``HRTFEVAL_FUZZ_CASES`` (random byte cases, default :data:`fuzz_cases.DEFAULT_BYTE_CASES`) to
fuzz more; ``HRTFEVAL_FUZZ_REPORT=FILE.json`` writes every case's result and violations there.
Reproduce one case with ``python tests/fuzz_cases.py --out DIR --only CASE_ID``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_cases

ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("fuzz_runner.py")
#: A case taking longer than this (seconds) is a failure; the runner is killed after it.
CASE_LIMIT_S = 20.0
#: Seconds the runner may take to import hrtfeval, typer and torch before its first case.
STARTUP_LIMIT_S = 120.0
#: Address-space limit of the processes that run cases (bytes).
MEMORY_LIMIT = 4 << 30
SUBPROCESS_LIMIT_S = 60.0
THRESHOLD_OPTIONS = ("--preset", "--fail-above", "--max-regression")


def _seed() -> int:
    return int(os.environ.get("HRTFEVAL_FUZZ_SEED", fuzz_cases.DEFAULT_SEED))


def _n_byte_cases() -> int:
    return int(os.environ.get("HRTFEVAL_FUZZ_CASES", fuzz_cases.DEFAULT_BYTE_CASES))


# --------------------------------------------------------------------------------------------
# Running


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["HRTFEVAL_FUZZ_MEMORY_LIMIT"] = str(MEMORY_LIMIT)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["NO_COLOR"] = "1"
    return env


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_in_process(cases: list[fuzz_cases.Case], workdir: Path) -> dict[str, dict]:
    """Run ``cases`` in runner processes; a hang or crash is recorded and the next case runs."""
    workdir.mkdir(parents=True, exist_ok=True)
    cases_file = workdir / "cases.json"
    cases_file.write_text(json.dumps([asdict(c) for c in cases]))
    results: dict[str, dict] = {}
    index, stuck = 0, 0
    while index < len(cases):
        after = _run_from(index, cases, cases_file, workdir, results)
        stuck = stuck + 1 if after == index else 0
        if stuck > 2:
            raise RuntimeError(f"the fuzz runner does not start: see {workdir}/runner-{index}.log")
        index = after
    return results


def _run_from(index: int, cases, cases_file: Path, workdir: Path, results: dict) -> int:
    """One runner from case ``index`` on; returns the index of the next case to run."""
    with open(workdir / f"runner-{index}.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), str(cases_file), str(index), str(workdir)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=_env(),
            cwd=workdir,
            start_new_session=True,  # the whole group (batch workers too) is killed at the end
        )
        lines: queue.Queue = queue.Queue()

        def pump(stream=proc.stdout, sink=lines):
            for raw in stream:
                sink.put(raw)
            sink.put(None)

        threading.Thread(target=pump, daemon=True).start()
        current, started = None, time.monotonic()
        deadline = started + STARTUP_LIMIT_S
        try:
            while True:
                try:
                    raw = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    if current is None:
                        return index
                    killed = f"no result after {CASE_LIMIT_S:g} s (hang)"
                    results[cases[current].id] = _killed(
                        cases[current], killed, started, workdir, current
                    )
                    return current + 1
                if raw is None:  # the runner ended: all done, or it died in a case
                    code = proc.wait()
                    if current is None:
                        return index
                    killed = f"the process died (exit status {code})"
                    results[cases[current].id] = _killed(
                        cases[current], killed, started, workdir, current
                    )
                    return current + 1
                msg = json.loads(raw)
                if "start" in msg:
                    current, started = msg["index"], time.monotonic()
                else:
                    results[msg["id"]] = msg
                    index, current = msg["index"] + 1, None
                deadline = time.monotonic() + CASE_LIMIT_S
        finally:
            _kill(proc)


def _killed(case, why: str, started: float, workdir: Path, index: int) -> dict:
    return {
        "id": case.id,
        "killed": why,
        "elapsed_s": time.monotonic() - started,
        "fd_stderr": _tail(workdir / "fd" / f"{index}.err"),
    }


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", "replace")
    except OSError:
        return ""


def run_subprocess(case: fuzz_cases.Case) -> dict:
    """One case through the real entry point, killed after :data:`SUBPROCESS_LIMIT_S`."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrtfeval", *case.argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=_env(),
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=SUBPROCESS_LIMIT_S)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return {"id": case.id, "killed": f"no exit after {SUBPROCESS_LIMIT_S:g} s (hang)"}
    return {
        "id": case.id,
        "exit_code": proc.returncode,
        "stdout": out.decode("utf-8", "replace"),
        "stderr": err.decode("utf-8", "replace"),
        "fd_stdout": "",
        "fd_stderr": "",
        "elapsed_s": time.monotonic() - t0,
        "exception": None,
    }


# --------------------------------------------------------------------------------------------
# Checking


def _strict_json(text: str):
    def no_constant(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=no_constant)


def _listing(folder: str | None, skip: str | None = None) -> list[str] | None:
    if folder is None or not os.path.isdir(folder):
        return None
    return sorted(n for n in os.listdir(folder) if skip is None or os.path.join(folder, n) != skip)


def _input_folder(case: fuzz_cases.Case) -> str | None:
    """The case's own folder (holding its mutated file), checked for files that appear."""
    if case.mutated is None or case.group in ("baseline", "subprocess"):
        return None
    return os.path.dirname(case.mutated)


def snapshot(case: fuzz_cases.Case) -> dict:
    """What must not change (input hashes, the case folder) and what was in the output folder."""
    folder = _input_folder(case)
    return {
        "hashes": {p: fuzz_cases.sha256(p) for p in case.inputs},
        "out_listing": _listing(case.out_dir),
        "output_existed": case.output is not None and os.path.lexists(case.output),
        "folder": folder,
        "folder_listing": _listing(folder, case.out_dir),
    }


def violations(
    case: fuzz_cases.Case, result: dict, before: dict, limit_s: float = CASE_LIMIT_S
) -> list[tuple[str, str]]:
    """``(class, detail)`` for every rule the case broke; ``class`` groups equal failures."""
    found: list[tuple[str, str]] = []
    if "killed" in result:
        found.append(
            (
                f"killed: {result['killed'].split(' (')[-1].rstrip(')')}",
                result["killed"] + _crash_hint(result),
            )
        )
    else:
        code = result["exit_code"]
        stderr = (result.get("stderr") or "") + (result.get("fd_stderr") or "")
        exc = result.get("exception")
        if exc is not None:
            where = exc.get("location") or exc.get("innermost")
            found.append(
                (
                    f"uncaught {exc['type']}: {_normalise(exc['last_line'])} @ {where}",
                    exc["last_line"],
                )
            )
        if code not in (0, 1, 2):
            found.append((f"exit code {code}", f"exit code {code}"))
        if code == 1 and exc is None and not any(o in case.argv for o in THRESHOLD_OPTIONS):
            found.append(("exit 1 without any threshold", stderr.strip()[-300:]))
        if "Traceback" in stderr:
            found.append(("traceback on stderr", _last_traceback_line(stderr)))
        if result.get("fd_stdout"):
            found.append(("bytes on fd 1 below Python", result["fd_stdout"][:200]))
        if code == 2 and exc is None and case.group != "batch":
            lines = [ln for ln in stderr.splitlines() if ln.strip()]
            if len(lines) != 1 or not lines[0].startswith("Error: "):
                found.append(
                    (
                        f"exit 2 but stderr is not one 'Error:' line ({len(lines)} lines)",
                        stderr.strip()[:400],
                    )
                )
        if case.expect is not None and code != case.expect and exc is None:
            first = next((ln for ln in stderr.splitlines() if ln.startswith("Error: ")), "")
            found.append(
                (f"expected exit {case.expect}, got {code}", first[:300] or _doc_summary(result))
            )
        stdout = result.get("stdout") or ""
        if case.output is not None and stdout.strip():
            found.append(("stdout not empty with -o", stdout[:200]))
        elif stdout.strip():
            try:
                _strict_json(stdout)
            except ValueError as err:
                found.append(("stdout is not strict JSON", f"{err}: {stdout[:200]!r}"))
        found.extend(_output_violations(case, code, before, exc))
        if case.group == "batch":
            found.extend(_batch_violations(case, result))
        if result.get("elapsed_s", 0.0) > limit_s:
            found.append((f"slower than {limit_s:g} s", f"{result['elapsed_s']:.1f} s"))
    for path, digest in before["hashes"].items():
        now = fuzz_cases.sha256(path)
        if now != digest:
            found.append(("an input file changed", f"{path}: {digest} -> {now}"))
    if before.get("folder_listing") is not None:
        new = sorted(
            set(_listing(before["folder"], case.out_dir) or []) - set(before["folder_listing"])
        )
        if new:
            found.append(("new files next to the inputs", ", ".join(new)))
    return found


def _batch_violations(case, result) -> list[tuple[str, str]]:
    """Every pair has an entry; a reader bug shows as an 'unexpected' error; the intact one scores."""
    doc = document_of(case, result)
    if not isinstance(doc, dict) or not isinstance(doc.get("pairs"), list):
        return (
            [("batch: no document with pairs", str(doc)[:200])]
            if result.get("exit_code") == 2
            else []
        )
    found = []
    for entry in doc["pairs"]:
        error = entry.get("error") or ""
        name = str(entry.get("prediction"))
        if error.startswith("unexpected") or "please report" in error:
            found.append(
                (
                    f"batch: {_normalise(error.split(':')[0])} ({_normalise(error)[:80]})",
                    f"{name}: {error}",
                )
            )
        if "intact" in name and not entry.get("scores"):
            found.append(("batch: the intact pair was not scored", f"{name}: {error}"))
    return found


def document_of(case: fuzz_cases.Case, result: dict):
    """The JSON document a finished case produced (stdout or its -o file), or None."""
    text = result.get("stdout") or ""
    if case.output is not None and os.path.isfile(case.output):
        text = Path(case.output).read_text()
    try:
        return _strict_json(text) if text.strip() else None
    except ValueError:
        return None


def numbers_of(case: fuzz_cases.Case, doc):
    """What must not change when damage went unnoticed: the scores, or the facts of ``info``."""
    if not isinstance(doc, dict):
        return doc
    if case.argv[0] == "info":
        return {k: v for k, v in doc.items() if k not in ("path", "file_size_bytes")}
    return {"scores": doc.get("scores"), "passed": doc.get("passed")}


def _output_violations(case, code, before, exc=None) -> list[tuple[str, str]]:
    if case.output is None or before["out_listing"] is None:
        return []
    found = []
    out = Path(case.output)
    batch = case.group == "batch"  # a batch writes its document also when some pair failed
    written = code in (0, 1) or (batch and code == 2)
    listing = set(os.listdir(case.out_dir)) if os.path.isdir(case.out_dir) else set()
    allowed = set(before["out_listing"])
    if written and out.parent == Path(case.out_dir):
        allowed.add(out.name)
    extra = sorted(listing - allowed)
    if extra:
        found.append(("files left in the output folder", ", ".join(extra)))
    if code == 2 and not batch and not before["output_existed"] and os.path.lexists(out):
        found.append(("output file written although exit 2", str(out)))
    if written and exc is None and not before["output_existed"]:
        if not out.is_file():
            found.append((f"exit {code} but no output file", str(out)))
        else:
            try:
                _strict_json(out.read_text())
            except ValueError as err:
                found.append(("output file is not strict JSON", str(err)))
    return found


def _doc_summary(result: dict) -> str:
    try:
        doc = _strict_json(result.get("stdout") or "")
    except ValueError:
        return (result.get("stdout") or "")[:200]
    scores = doc.get("scores") if isinstance(doc, dict) else None
    if isinstance(scores, dict):
        return "scored: " + ", ".join(
            f"{k}={v.get('overall')}" for k, v in scores.items() if isinstance(v, dict)
        )
    return "document: " + ", ".join(sorted(doc)[:8]) if isinstance(doc, dict) else str(doc)[:200]


def _crash_hint(result: dict) -> str:
    text = result.get("fd_stderr") or ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    frames = [ln for ln in lines if ln.startswith("File ")]
    return (" | " + " | ".join(frames[:4])) if frames else ""


def _last_traceback_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _normalise(text: str) -> str:
    """A message with paths and numbers blanked, so equal failures share a class."""
    text = re.sub(r"(/[^\s:'\"]+)+", "<path>", text)
    text = re.sub(r"0x[0-9a-fA-F]+", "#", text)
    text = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", text)
    return text[:160]


def summarise(failures: dict[str, list[tuple[fuzz_cases.Case, str]]]) -> str:
    lines = [f"{sum(len(v) for v in failures.values())} violation(s) in {len(failures)} class(es):"]
    for key, items in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        case, detail = items[0]
        ids = ", ".join(c.id for c, _ in items[:6]) + (" ..." if len(items) > 6 else "")
        lines.append(f"- [{len(items)}] {key}")
        lines.append(f"    e.g. {case.id}: {case.note}")
        lines.append(f"    {detail[:300]}")
        lines.append(f"    cases: {ids}")
    lines.append(
        "reproduce: python tests/fuzz_cases.py --out DIR --only CASE_ID (prints the command)"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Fixtures and tests


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    """Every in-process case run once: ``{"cases", "results", "before", "subprocess", ...}``."""
    root = tmp_path_factory.mktemp("fuzz")
    t0 = time.monotonic()
    cases, base = fuzz_cases.build_cases(root, _seed(), _n_byte_cases())
    before = {c.id: snapshot(c) for c in cases}
    # the real-process cases run beside the runner (on the second core)
    sub_cases = fuzz_cases.subprocess_cases(root, base)
    sub_before = {c.id: snapshot(c) for c in sub_cases}
    sub_results: dict[str, dict] = {}
    worker = threading.Thread(
        target=lambda: sub_results.update({c.id: run_subprocess(c) for c in sub_cases})
    )
    worker.start()
    t1 = time.monotonic()
    results = run_in_process(cases, root / "runner")
    t2 = time.monotonic()
    worker.join()
    t3 = time.monotonic()
    state = {
        "cases": cases,
        "results": results,
        "before": before,
        "sub_cases": sub_cases,
        "sub_results": sub_results,
        "sub_before": sub_before,
        "timing": {"build_s": t1 - t0, "runner_s": t2 - t1, "subprocess_wait_s": t3 - t2},
        "checked": {},
    }
    yield state
    report = os.environ.get("HRTFEVAL_FUZZ_REPORT")
    if report:
        rows = []
        for c in cases + sub_cases:
            res = results.get(c.id) or sub_results.get(c.id) or {}
            rows.append(
                {"case": asdict(c), "result": res, "violations": state["checked"].get(c.id, [])}
            )
        Path(report).write_text(
            json.dumps({"seed": _seed(), "timing": state["timing"], "cases": rows}, indent=1)
        )


def _check_group(fuzz, groups: tuple[str, ...], sub: bool = False):
    cases = fuzz["sub_cases"] if sub else [c for c in fuzz["cases"] if c.group in groups]
    results = fuzz["sub_results"] if sub else fuzz["results"]
    before = fuzz["sub_before"] if sub else fuzz["before"]
    assert cases, f"no fuzz cases in {groups}"
    failures: dict[str, list] = defaultdict(list)
    for case in cases:
        result = results.get(case.id)
        if result is None:
            found = [("no result (the runner skipped it)", "")]
        else:
            limit = SUBPROCESS_LIMIT_S / 2 if sub else CASE_LIMIT_S
            found = violations(case, result, before[case.id], limit)
        fuzz["checked"][case.id] = found
        for key, detail in found:
            failures[key].append((case, detail))
    assert not failures, summarise(failures)


def test_fuzz_byte_mutations(fuzz):
    """Truncated, bit-flipped, overwritten, shifted SOFA (netCDF-4 and -3) and .pt files."""
    _check_group(fuzz, ("bytes", "baseline"))


def test_fuzz_byte_damage_never_changes_the_numbers(fuzz):
    """Damage to a checksummed file (HDF5 SOFA, zip .pt) is either reported (exit 2) or did not
    touch what is read: an exit 0 gives exactly the numbers of the intact file."""
    results = fuzz["results"]
    failures: dict[str, list] = defaultdict(list)
    compared = 0
    for case in fuzz["cases"]:
        result = results.get(case.id) or {}
        if case.baseline is None or result.get("exit_code") != 0 or result.get("exception"):
            continue
        base_case = next(c for c in fuzz["cases"] if c.id == case.baseline)
        intact = numbers_of(base_case, document_of(base_case, results.get(case.baseline) or {}))
        got = numbers_of(case, document_of(case, result))
        compared += 1
        if intact is None or got != intact:
            kind = "zip .pt" if case.mutated.endswith(".pt") else "HDF5 SOFA"
            key = f"exit 0 with other numbers than the intact file ({kind})"
            failures[key].append((case, _diff(intact, got)))
            fuzz["checked"].setdefault(case.id, []).append((key, _diff(intact, got)))
    assert not failures, summarise(failures)


def _diff(a, b) -> str:
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return f"intact {str(a)[:120]} vs damaged {str(b)[:120]}"
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return "; ".join(f"{k}: {str(a.get(k))[:100]} -> {str(b.get(k))[:100]}" for k in keys[:3])


def test_fuzz_sofa_structure(fuzz):
    """SOFA files with wrong ranks, dimensions, NaN/Inf, bad rates, units, delays, conventions."""
    _check_group(fuzz, ("sofa", "h5"))


def test_fuzz_pt_structure(fuzz):
    """.pt files with missing keys, wrong dtypes, strings, nested junk, sparse/huge tensors."""
    _check_group(fuzz, ("pt",))


def test_fuzz_batches(fuzz):
    """Batches over folders with broken predictions (in process and in a worker)."""
    _check_group(fuzz, ("batch",))


def test_fuzz_special_files(fuzz):
    """FIFOs, directories, devices, broken links and empty or sparse files given as inputs."""
    _check_group(fuzz, ("special",))


def test_fuzz_output_paths(fuzz):
    """--output / --junit paths that are an input (or a link to one), a directory or nowhere."""
    _check_group(fuzz, ("output",))


def test_fuzz_real_process(fuzz):
    """A few cases through ``python -m hrtfeval`` itself (real streams, real exit codes)."""
    _check_group(fuzz, (), sub=True)


def test_fuzz_valid_variants_score(fuzz):
    """The harness can fail: the intact and the valid variant files must score with exit 0."""
    ok = [c for c in fuzz["cases"] if c.expect == 0]
    assert len(ok) >= 10
    codes = {c.id: fuzz["results"].get(c.id, {}).get("exit_code") for c in ok}
    assert [k for k, v in codes.items() if v != 0] == [], codes


def test_violations_catch_each_rule(tmp_path):
    """The checker itself, on made-up results: every broken rule is reported."""
    src = tmp_path / "in.sofa"
    src.write_bytes(b"abc")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    case = fuzz_cases.Case(
        "x",
        "bytes",
        "made up",
        ["score", str(src), str(src)],
        [str(src)],
        str(out_dir / "o.json"),
        str(out_dir),
        2,
        str(src),
    )
    before = snapshot(case)
    clean = {
        "exit_code": 2,
        "stdout": "",
        "stderr": "Error: in.sofa: broken\n",
        "fd_stdout": "",
        "fd_stderr": "",
        "elapsed_s": 0.1,
        "exception": None,
    }
    assert violations(case, clean, before) == []

    def classes(**changes):
        return [k for k, _ in violations(case, {**clean, **changes}, before)]

    assert any(
        k.startswith("uncaught KeyError")
        for k in classes(
            exit_code=1,
            exception={
                "type": "KeyError",
                "last_line": "KeyError: 'x'",
                "location": "hrtfeval/io.py:1:f",
            },
        )
    )
    assert "traceback on stderr" in classes(stderr="Traceback (most recent call last):\nError: x\n")
    assert any(k.startswith("exit 2 but stderr") for k in classes(stderr="warning: a\nError: b\n"))
    assert "expected exit 2, got 0" in classes(exit_code=0, stderr="")
    assert "exit code 3" in classes(exit_code=3)
    assert "stdout not empty with -o" in classes(stdout="{}")
    assert "bytes on fd 1 below Python" in classes(fd_stdout="HDF5-DIAG")
    assert "slower than 20 s" in classes(elapsed_s=25.0)
    assert any(
        k.startswith("killed")
        for k in [k for k, _ in violations(case, {"killed": "no result after 20 s (hang)"}, before)]
    )
    (out_dir / ".o.json.abc.tmp").write_text("")
    assert "files left in the output folder" in classes()
    (out_dir / ".o.json.abc.tmp").unlink()
    (out_dir / "o.json").write_text("{}")
    assert "output file written although exit 2" in classes()
    (out_dir / "o.json").write_text('{"a": NaN}')
    fresh = {**before, "output_existed": False}
    assert "output file is not strict JSON" in [
        k for k, _ in violations(case, {**clean, "exit_code": 0, "stderr": ""}, fresh)
    ]
    (out_dir / "o.json").unlink()
    assert "exit 0 but no output file" in [
        k for k, _ in violations(case, {**clean, "exit_code": 0, "stderr": ""}, fresh)
    ]
    src.write_bytes(b"abd")
    assert "an input file changed" in classes()
    case2 = fuzz_cases.Case(
        "y", "bytes", "made up", ["score", "a", "b", "-f", "json"], [], None, None, None, None
    )
    assert "stdout is not strict JSON" in [
        k
        for k, _ in violations(
            case2,
            {**clean, "exit_code": 0, "stderr": "", "stdout": '{"x": Infinity}'},
            snapshot(case2),
        )
    ]
    assert "exit 1 without any threshold" in [
        k for k, _ in violations(case2, {**clean, "exit_code": 1, "stderr": ""}, snapshot(case2))
    ]
