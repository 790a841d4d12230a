"""``python -m benchmarks``: run the benchmarks, print the table, write the results file."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.workspace import ROOT, WORK, setup_process

BENCHMARKS = ("transfer", "memory", "triggers", "parse", "tables", "stores", "incremental")
MIB = 1 << 20
GIB = 1 << 30

#: (full, quick) settings.
SETTINGS: dict[str, tuple[Any, Any]] = {
    "transfer_size": (GIB, 64 * MIB),
    "transfer_runs": (5, 1),
    "memory_sizes": ((256 * MIB, 2 * GIB), (16 * MIB, 64 * MIB)),
    "memory_runs": (3, 1),
    "triggers": ((500, 1000), (50, 100)),
    "trigger_interval": (2.0, 0.5),
    "trigger_latency": (0.1, 0.1),
    "sync_cap": (20.0, 5.0),
    "trigger_runs": (3, 1),
    "parse_runs": (5, 1),
    "table_sizes": ((256 * MIB, 2 * GIB), (1 * MIB, 2 * MIB)),
    "table_runs": (3, 1),
    "changes_rows": (10_000_000, 100_000),
    "stores_sizes": ((256 * MIB, 2 * GIB), (16 * MIB, 64 * MIB)),
    "stores_runs": (3, 1),
    "incremental_size": (64 * MIB, MIB),
    "incremental_runs": (1, 1),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of the Asana provider: transfer, memory, triggers, DAG parse cost, lake tables, "
        "stores, incremental loads.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: small exports, few triggers, one run each; writes "
                             "benchmarks/.work/results-quick.json unless --output says otherwise")  # fmt: skip
    parser.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                        help=f"run only these benchmarks ({', '.join(BENCHMARKS)}); the other sections of the "
                             "results file are kept")  # fmt: skip
    parser.add_argument(
        "--runs", type=int, default=None, help="alternating runs of every benchmark (default: 3-5)"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="results file (default: benchmarks/results.json)"
    )
    parser.add_argument("--table-sizes", default=None, metavar="SIZE[,SIZE]",
                        help="compressed export sizes of the tables benchmark, e.g. 256M,2G (default: 256M,2G; "
                             "quick: 1M,2M); each is generated once into benchmarks/.work/cache/")  # fmt: skip
    parser.add_argument("--stores-sizes", default=None, metavar="SIZE[,SIZE]",
                        help="export sizes of the stores benchmark, e.g. 2G (default: 256M,2G; quick: 16M,64M); "
                             "its flatness goal compares the smallest with the largest")  # fmt: skip
    parser.add_argument("--changes-rows", type=int, default=None,
                        help="rows of the tables benchmark's change computation (default: 10000000)")  # fmt: skip
    return parser


def _sizes(value: str | None, option: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Parse a ``SIZE[,SIZE]`` option (``256M,2G``), or return ``default`` where it is not given."""
    if value is None:
        return default
    from benchmarks.tables import parse_size

    try:
        sizes = tuple(parse_size(s) for s in value.split(",") if s.strip())
    except ValueError as exc:
        _parser().error(f"{option}: {exc}")
    if not sizes or min(sizes) < MIB:
        _parser().error(f"{option}: give one or more sizes of at least 1M, e.g. 256M,2G")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        _parser().error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    selected = [name for name in BENCHMARKS if not only or name in only]
    if args.runs is not None and args.runs < 1:
        _parser().error("--runs must be >= 1")
    mode = 1 if args.quick else 0
    table_sizes = _sizes(args.table_sizes, "--table-sizes", SETTINGS["table_sizes"][mode])
    stores_sizes = _sizes(args.stores_sizes, "--stores-sizes", SETTINGS["stores_sizes"][mode])
    if args.changes_rows is not None and args.changes_rows < 100:
        _parser().error("--changes-rows must be >= 100 (1% of them change)")

    def setting(name: str) -> Any:
        return SETTINGS[name][mode]

    def runs(name: str) -> int:
        return args.runs if args.runs is not None else setting(name)

    output = args.output or (
        WORK / "results-quick.json" if args.quick else ROOT / "benchmarks" / "results.json"
    )
    setup_process()
    from benchmarks import dag_parse, incremental, memory, report, stores, tables, transfer, triggers
    from benchmarks.measure import machine_info

    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", flush=True)

    WORK.mkdir(parents=True, exist_ok=True)
    results = report.load(output) if only else {}
    results.setdefault("benchmarks", {})
    results.update(machine_info(str(WORK)))
    results["quick"] = args.quick
    sections = results["benchmarks"]
    for name in selected:
        log(f"== {name}")
        if name == "transfer":
            sections[name] = transfer.run(setting("transfer_size"), runs("transfer_runs"), log)
        elif name == "memory":
            sections[name] = memory.run(setting("memory_sizes"), runs("memory_runs"), log)
        elif name == "triggers":
            sections[name] = triggers.run(
                setting("triggers"), setting("trigger_interval"), setting("trigger_latency"), setting("sync_cap"),
                runs("trigger_runs"), log,
            )  # fmt: skip
        elif name == "parse":
            sections[name] = dag_parse.run(runs("parse_runs"), log)
        elif name == "tables":
            rows = args.changes_rows if args.changes_rows is not None else setting("changes_rows")
            sections[name] = tables.run(
                table_sizes,
                runs("table_runs"),
                rows,
                log,
                large_runs=args.runs if args.runs is not None else 1,
            )
        elif name == "stores":
            sections[name] = stores.run(stores_sizes, runs("stores_runs"), log)
        elif name == "incremental":
            sections[name] = incremental.run(setting("incremental_size"), runs("incremental_runs"), log)
    results["benchmarks"] = {name: sections[name] for name in BENCHMARKS if name in sections}
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    results["generated_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["command"] = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report.text_table(results))
    print()
    print(f"{results['wall_seconds']:.0f} s; results in {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
