"""Render a comparison document (:mod:`hrtfeval.compare`): rich table, JSON, Markdown."""

from __future__ import annotations

from typing import Any

from .common import fmt, markdown_table, table_to_text, to_json


def _signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}g}"


def _ci(pair: list[float] | None) -> str:
    if not pair:
        return "-"
    return f"[{_signed(pair[0])}, {_signed(pair[1])}]"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


def header_lines(doc: dict[str, Any]) -> list[str]:
    """What was compared and how (shown above the table, and as visible Markdown lines)."""
    spec = doc["spec"]
    boot = spec["bootstrap"]
    lines = [
        f"A  {spec['a']}",
        f"B  {spec['b']}",
        f"{spec['pairs']} pairs · d = B - A (smaller is better: d > 0 means B is worse)",
        (
            f"CI: {boot['confidence'] * 100:g} % percentile bootstrap of the paired "
            f"differences, {boot['resamples']} resamples, seed {boot['seed']} · p: Wilcoxon "
            "signed-rank, two-sided"
        ),
    ]
    if spec.get("fail_if_worse"):
        lines.append(f"--fail-if-worse: one-sided Wilcoxon (B worse), {spec['fail_if_worse']}")
    return lines


def rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = [
        "Metric",
        "Unit",
        "Mean A",
        "Mean B",
        "Δmean",
        "95% CI",
        "Δmedian",
        "95% CI",
        "p",
        "better",
        "worse",
    ]
    if doc["spec"].get("fail_if_worse"):
        head += ["p (B worse)", "Result"]
    out = []
    for m, r in doc["metrics"].items():
        row = [
            m,
            r.get("unit") or "-",
            fmt(r["mean_a"], 5),
            fmt(r["mean_b"], 5),
            _signed(r["mean_diff"]),
            _ci(r["mean_diff_ci"]),
            _signed(r["median_diff"]),
            _ci(r["median_diff_ci"]),
            _p(r["p_two_sided"]),
            str(r["better"]),
            str(r["worse"]),
        ]
        if doc["spec"].get("fail_if_worse"):
            row += [_p(r["p_b_worse"]), "WORSE" if r["significantly_worse"] else "pass"]
        out.append(row)
    return head, out


def worst_lines(doc: dict[str, Any]) -> list[str]:
    lines = []
    for m, r in doc["metrics"].items():
        for w in r["worst"]:
            unit = f" {r['unit']}" if r.get("unit") else ""
            lines.append(
                f"{m}: {w['target']}  {fmt(w['a'], 5)} -> {fmt(w['b'], 5)}{unit} "
                f"({_signed(w['delta'])})"
            )
    return lines


def compare_table(doc: dict[str, Any], console) -> None:
    """Print the comparison as a rich table with its context above and the worst pairs below."""
    from rich.table import Table
    from rich.text import Text

    for line in header_lines(doc):
        console.print(Text(line, style="dim"))
    head, body = rows(doc)
    width = sum(max(len(h), *(len(r[i]) for r in body)) + 3 for i, h in enumerate(head)) + 1
    if console.width is not None and width > console.width:
        # Too wide for the terminal: the means and counts, then the differences (numbers
        # never wrap).
        split = [[0, 1, 2, 3, 8, 9, 10] + list(range(11, len(head))), [0, 4, 5, 6, 7]]
    else:
        split = [list(range(len(head)))]
    for cols in split:
        table = Table(show_edge=True, header_style="bold")
        for i in cols:
            h = head[i]
            table.add_column(h, justify="left" if i < 2 or h == "Result" else "right", no_wrap=True)
        for row in body:
            table.add_row(*[row[i] for i in cols])
        console.print(table)
    worst = worst_lines(doc)
    if worst:
        console.print("largest increases (B worse than A):")
        for line in worst:
            console.print("  " + line, markup=False)
    if doc.get("passed") is not None:
        console.print(
            Text(
                "no metric significantly worse" if doc["passed"] else "B is significantly worse",
                style="green" if doc["passed"] else "bold red",
            )
        )


def compare_markdown(doc: dict[str, Any]) -> str:
    """Markdown: the context as visible lines (a CI job summary hides HTML comments), the
    table, the worst pairs."""
    head, body = rows(doc)
    intro = "\n".join(f"{line}  " for line in header_lines(doc))
    text = intro + "\n\n" + markdown_table(head, body)
    worst = worst_lines(doc)
    if worst:
        text += "\nLargest increases (B worse than A):\n\n" + "".join(
            f"- {line}\n" for line in worst
        )
    if doc.get("passed") is not None:
        text += (
            "\n**"
            + ("no metric significantly worse" if doc["passed"] else "B is significantly worse")
            + "**\n"
        )
    return text


def render_compare(doc: dict[str, Any], fmt_name: str) -> str:
    if fmt_name == "json":
        return to_json(doc)
    if fmt_name == "markdown":
        return compare_markdown(doc)
    if fmt_name == "table":
        return table_to_text(lambda console: compare_table(doc, console), width=200)
    raise ValueError(f"unknown format {fmt_name!r} for a comparison")
