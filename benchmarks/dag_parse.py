"""
Benchmark 5: what each example DAG file costs the DAG processor to import, beyond ``airflow.sdk`` itself.

Every run is a fresh interpreter that imports nothing but ``time`` before its clock starts (``python -c``):

- a DAG run: ``import airflow.sdk`` (timed), then the DAG file through a ``SourceFileLoader`` spec, as the
  DAG processor loads it (timed separately): the second figure is the file's own cost, ``airflow.sdk``
  already imported. That is the goal's figure: measured inside one process, the second-long and noisy
  ``airflow.sdk`` import does not blur it.
- an ``airflow.sdk``-alone run, alternating with the DAG runs, for the literal reading of the goal:
  (whole DAG import in a fresh interpreter) - (``airflow.sdk`` alone in another), paired round by round.

Bytecode caches are warmed by one untimed run of each first, as on a DAG processor that already parsed.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.measure import alternate
from benchmarks.report import figure, goal, section
from benchmarks.workspace import ROOT, airflow_environment

TITLE = "DAG file parse cost"
LIMIT_MS = 150
EXAMPLES = ROOT / "example_dags"

_CHILD = r"""
import time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
import sys
path = sys.argv[1]
if path:
    import importlib.machinery, importlib.util
    loader = importlib.machinery.SourceFileLoader("unusual_prefix_benchmark_dag", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    loader.exec_module(module)
t2 = time.perf_counter()
print('{"sdk_ms": %f, "dag_ms": %f}' % ((t1 - t0) * 1000, (t2 - t1) * 1000))
"""


def _run_child(path: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, path], env=env, capture_output=True, text=True, cwd=ROOT, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"importing {path or 'airflow.sdk'} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    env = {**os.environ, **airflow_environment()}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    files = sorted(EXAMPLES.glob("*.py"))
    runners: dict[str, Callable[[], dict[str, float]]] = {"airflow.sdk": lambda: _run_child("", env)}
    for path in files:
        runners[path.name] = functools.partial(_run_child, str(path), env)
    samples = alternate(runners, runs, progress=log)
    return _section(files, runs, samples)


def _section(files: list[Path], runs: int, samples: dict) -> dict[str, Any]:
    sdk_alone = samples["airflow.sdk"]["sdk_ms"]
    figures: dict[str, Any] = {
        "sdk": figure("import airflow.sdk alone, fresh interpreter", "ms", sdk_alone, 0)
    }
    goals = []
    for path in files:
        s = samples[path.name]
        marginal = s["dag_ms"]
        literal = [a + b - c for a, b, c in zip(s["sdk_ms"], s["dag_ms"], sdk_alone)]
        key = path.stem
        figures[f"{key}_marginal"] = figure(
            f"{path.name}: import, airflow.sdk already imported", "ms", marginal, 0
        )
        figures[f"{key}_literal"] = figure(
            f"{path.name}: fresh import minus airflow.sdk alone (paired)", "ms", literal, 0
        )
        median = figures[f"{key}_marginal"]["median"]
        goals.append(goal(
            f"{path.name}: < {LIMIT_MS} ms beyond airflow.sdk", f"median {median:.0f} ms (max "
            f"{figures[f'{key}_marginal']['max']:.0f}; literal median {figures[f'{key}_literal']['median']:.0f})",
            median < LIMIT_MS, "" if median < LIMIT_MS else f"over by {median - LIMIT_MS:.0f} ms",
        ))  # fmt: skip
    return section(TITLE, {"files": [p.name for p in files], "runs": runs}, figures, goals)
