"""
Results: one section per benchmark, printed as a table and kept in ``benchmarks/results.json``.

``python -m benchmarks.report [results.json]`` prints the Markdown table of a results file (what the
Performance page, ``docs/performance.md``, shows).
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.measure import summary


def figure(label: str, unit: str, values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """One figure: its label, unit and min/median/max over the runs."""
    return {"label": label, "unit": unit, **summary(values, digits)}


def goal(text: str, measured: str, holds: bool | None, note: str = "") -> dict[str, Any]:
    """One goal of the issue: what it asks, what was measured, whether it holds (None: not measured)."""
    return {"goal": text, "measured": measured, "holds": holds, "note": note}


def flat_goal(
    subject: str, small_mib: int, large_mib: int, a: float, b: float, band: float, digits: int = 1
) -> dict[str, Any]:
    """Return the goal that peak memory does not grow with the export: medians ``a``, ``b`` within ``band``."""
    spread = abs(b - a) / max(a, b, 1e-9)
    return goal(
        f"{subject} flat within {band:.0%} from {small_mib} to {large_mib} MiB (medians)",
        f"{a:.{digits}f} -> {b:.{digits}f} MiB ({spread:.0%})", spread <= band,
        "" if spread <= band else f"{spread - band:.0%} past the {band:.0%} band",
    )  # fmt: skip


def section(
    title: str, parameters: dict[str, Any], figures: dict[str, Any], goals: list[dict[str, Any]]
) -> dict:
    return {
        "title": title,
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": parameters,
        "figures": figures,
        "goals": goals,
    }


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def _status(holds: bool | None) -> str:
    return {True: "holds", False: "FAILS", None: "not measured"}[holds]


def text_table(results: dict[str, Any]) -> str:
    """Render the results as a plain-text table, every figure with min/median/max, then the goals."""
    rows = [("figure", "min", "median", "max", "unit")]
    goals: list[tuple[str, dict[str, Any]]] = []
    for name, sec in results.get("benchmarks", {}).items():
        rows.append((f"[{name}] {sec['title']}", "", "", "", ""))
        for fig in sec["figures"].values():
            rows.append(
                (
                    "  " + fig["label"],
                    _number(fig["min"]),
                    _number(fig["median"]),
                    _number(fig["max"]),
                    fig["unit"],
                )
            )
        goals.extend((name, g) for g in sec["goals"])
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in (1, 2, 3)] + [row[4]]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    lines.append("")
    lines.append("goals:")
    for name, g in goals:
        note = f" ({g['note']})" if g.get("note") else ""
        lines.append(f"  [{_status(g['holds'])}] {name}: {g['goal']}: {g['measured']}{note}")
    return "\n".join(lines)


def _runs(results: dict[str, Any]) -> str:
    sections = results.get("benchmarks", {})
    return ", ".join(
        f"{name}: {sec.get('parameters', {}).get('runs', '?')}" for name, sec in sections.items()
    )


def markdown(results: dict[str, Any]) -> str:
    """Render the results as Markdown: machine line, figures table, goals table."""
    machine = results.get("machine", {})
    versions = results.get("versions", {})
    lines = [
        f"Measured {results.get('generated_at', '?')} on {machine.get('cores', '?')} cores ({machine.get('cpu', '?')}), "
        f"{machine.get('memory_gib', '?')} GiB RAM, Linux {machine.get('kernel', '?')}, "
        f"{machine.get('work_dir_filesystem', '?')}; Python {versions.get('python', '?')}, "
        f"Airflow {versions.get('apache-airflow', '?')}, zlib {versions.get('zlib', '?')}, "
        f"{(versions.get('curl') or 'no curl').split(' (')[0]}, {versions.get('gzip') or 'no gzip'}. "
        f"Every figure: min / median / max over the alternating runs ({_runs(results)}).",
        "",
        "| benchmark | figure | min | median | max | unit |",
        "|---|---|---:|---:|---:|---|",
    ]
    goal_lines = ["", "| benchmark | goal | measured | |", "|---|---|---|---|"]
    for name, sec in results.get("benchmarks", {}).items():
        for fig in sec["figures"].values():
            lines.append(
                f"| {name} | {fig['label']} | {_number(fig['min'])} | {_number(fig['median'])} | "
                f"{_number(fig['max'])} | {fig['unit']} |"
            )
        for g in sec["goals"]:
            note = f" ({g['note']})" if g.get("note") else ""
            goal_lines.append(f"| {name} | {g['goal']} | {g['measured']}{note} | {_status(g['holds'])} |")
    return "\n".join(lines + goal_lines)


def load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv: Sequence[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results.json"
    results = load(path)
    if not results:
        print(f"no results in {path}: run make bench first", file=sys.stderr)
        return 1
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
