"""``asana-emulator``: run the emulator in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_provider_asana.emulator.app import DEFAULT_TOKEN
from airflow_provider_asana.emulator.emulator import AsanaEmulator
from airflow_provider_asana.emulator.faults import Faults
from airflow_provider_asana.emulator.lifecycle import ChangeRates

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """
    Parse a byte count: ``1048576``, ``500KB`` (decimal), ``10MiB`` or ``10M`` (binary), ``1GiB``.

    :raises argparse.ArgumentTypeError: on anything else.
    """
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1048576, 500KB, 10MiB, 1GiB)")
    number, prefix, binary, byte = match.groups()
    if prefix and byte and not binary:
        base = 1000
    else:
        base = 1024
    return int(float(number) * base ** _POWERS[prefix.lower()])


def build_parser() -> argparse.ArgumentParser:
    """Build the command line's parser."""
    parser = argparse.ArgumentParser(
        prog="asana-emulator",
        description="A local Asana API (organization, resource and graph exports) plus an S3-like download host, for tests and demos.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8765, help="API port, 0 for any (default: %(default)s)")
    add(
        "--download-port", type=int, default=8766, help="download host port, 0 for any (default: %(default)s)"
    )
    add("--token", default=DEFAULT_TOKEN, help="the accepted bearer token (default: %(default)s)")
    add(
        "--export-size",
        type=parse_size,
        default=1 << 20,
        help="export file size, e.g. 10MiB, 1GiB (default: 1MiB)",
    )
    add("--seed", type=int, default=0, help="seed of the export's content (default: %(default)s)")
    add(
        "--change-rates",
        type=_change_rates,
        default=ChangeRates(),
        metavar="NAME=RATE,...",
        help="what changes between two exports of an organization, as fractions of its objects "
        f"(default: {_rates_word(ChangeRates())})",
    )
    add(
        "--polls-to-finish",
        type=_optional_int,
        default=2,
        help="GETs until finished; 'none' to disable (default: 2)",
    )
    add(
        "--seconds-to-finish",
        type=float,
        default=None,
        help="seconds until finished; the first of the two limits wins (add --polls-to-finish none for time only)",
    )
    add(
        "--no-background-generation",
        dest="prepare_in_background",
        action="store_false",
        help="generate a later export of a sequence when it is first downloaded, not as soon as it is created",
    )
    add(
        "--next-job-sequence",
        type=int,
        default=0,
        metavar="K",
        help="the export of the organization's sequence the first resource or graph export shows, the next "
        "ones following (default: %(default)s; change it while running: PUT /_emulator/next_job_sequence)",
    )
    add("--url-ttl", type=float, default=300, help="download URL lifetime, seconds (default: %(default)s)")
    add(
        "--cache-dir", default=None, help="export file cache (default: $ASANA_EMULATOR_CACHE or ~/.cache/...)"
    )
    add(
        "--ready-file",
        type=Path,
        default=None,
        help="write the connection details here as JSON once listening",
    )
    add("--verbose", action="store_true", help="print an access log to stderr")
    add_fault_flags(parser)
    return parser


def add_fault_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per declared fault (:meth:`Faults.declarations`), its value stored under the fault's name."""
    group = parser.add_argument_group(
        "faults", 'all off by default; change them while running: PUT /_emulator/faults {"rate_limit": 2}'
    )
    for fault in Faults.declarations():
        text = fault.help.replace("%", "%%")
        if fault.kind == "switch":
            group.add_argument(fault.flag, dest=fault.name, action="store_true", help=text)
            continue
        if fault.default is not None and fault.kind != "counter":
            text += f" (default: {_word(fault.default)})"
        values = fault.values
        group.add_argument(
            fault.flag, dest=fault.name, type=values.parse, default=fault.default, choices=values.choices,
            metavar=values.metavar, help=text,
        )  # fmt: skip


def _change_rates(text: str) -> ChangeRates:
    try:
        return ChangeRates.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _rates_word(rates: ChangeRates) -> str:
    return ",".join(f"{name}={value:g}" for name, value in dataclasses.asdict(rates).items())


def faults_from(args: argparse.Namespace) -> Faults:
    """Return the :class:`Faults` the command line asks for."""
    return Faults(**{name: getattr(args, name) for name in Faults.names()})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        emulator = AsanaEmulator(
            token=args.token,
            export_size=args.export_size,
            polls_to_finish=args.polls_to_finish,
            seconds_to_finish=args.seconds_to_finish,
            url_ttl=args.url_ttl,
            cache_dir=args.cache_dir,
            host=args.host,
            port=args.port,
            download_port=args.download_port,
            faults=faults_from(args),
            seed=args.seed,
            change_rates=args.change_rates,
            prepare_in_background=args.prepare_in_background,
            verbose=args.verbose,
        )
        emulator.set_next_job_sequence(args.next_job_sequence)
    except ValueError as error:
        parser.error(str(error))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(
            f"asana-emulator: preparing a {args.export_size:,}-byte export file (cached for next time)",
            flush=True,
        )
        try:
            emulator.start()
        except KeyboardInterrupt:
            print("asana-emulator: interrupted", file=sys.stderr)
            return 130
        except OSError as error:
            print(f"asana-emulator: cannot listen on {args.host}: {error}", file=sys.stderr)
            return 1
        for sig in previous:
            signal.signal(sig, lambda *_: stop.set())
        try:
            _announce(emulator, args.ready_file)
            while not stop.wait(0.5):
                pass
        finally:
            emulator.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("asana-emulator: stopped", flush=True)
    return 0


def _announce(emulator: AsanaEmulator, ready_file: Path | None) -> None:
    info = emulator.info()
    control = emulator.api_url.removesuffix("/api/1.0")
    print(
        f"asana-emulator: API           {emulator.api_url}\n"
        f"asana-emulator: download host {emulator.download_base}\n"
        f"asana-emulator: token         {emulator.token}\n"
        f"asana-emulator: organization  {emulator.organization_gid} (Enterprise)\n"
        f"asana-emulator: organization  {emulator.non_enterprise_organization_gid} (not Enterprise: exports 402)\n"
        f"asana-emulator: control       {control}/_emulator/{{info,requests,faults,exports,stats}}\n"
        f"asana-emulator: ground truth  {control}/_emulator/exports/<gid>/changes, "
        f"{control}/_emulator/jobs/<gid>/listing\n"
        f"asana-emulator: jobs          {control}/_emulator/{{jobs,next_job_sequence,sequence/<k>}}\n"
        f"AIRFLOW_CONN_ASANA_DEFAULT={shlex.quote(emulator.connection_json)}",
        flush=True,
    )
    if ready_file is not None:
        _write_json(ready_file, info)


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        json.dump(value, out, indent=2)
    os.replace(temp, path)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "") else int(text)


def _word(value: Any) -> str:
    """Write a default as it would be typed on the command line."""
    return ",".join(value) if isinstance(value, tuple) else str(value)


if __name__ == "__main__":
    sys.exit(main())
