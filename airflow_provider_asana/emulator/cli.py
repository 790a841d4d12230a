"""``asana-emulator``: run the emulator in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
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

from airflow_provider_asana.emulator.emulator import DEFAULT_TOKEN, AsanaEmulator
from airflow_provider_asana.emulator.faults import Faults

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """
    A byte count: ``1048576``, ``500KB`` (decimal), ``10MiB`` or ``10M`` (binary), ``1GiB``.

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
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="asana-emulator",
        description="A local Asana API (organization exports) plus an S3-like download host, for tests and demos.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8765, help="API port, 0 for any (default: %(default)s)")
    add("--download-port", type=int, default=8766, help="download host port, 0 for any (default: %(default)s)")
    add("--token", default=DEFAULT_TOKEN, help="the accepted bearer token (default: %(default)s)")
    add("--export-size", type=parse_size, default=1 << 20, help="export file size, e.g. 10MiB, 1GiB (default: 1MiB)")
    add("--seed", type=int, default=0, help="seed of the export's content (default: %(default)s)")
    add("--polls-to-finish", type=_optional_int, default=2, help="GETs until finished; 'none' to disable (default: 2)")
    add("--seconds-to-finish", type=float, default=None,
        help="seconds until finished; the first of the two limits wins (add --polls-to-finish none for time only)")
    add("--url-ttl", type=float, default=300, help="download URL lifetime, seconds (default: %(default)s)")
    add("--cache-dir", default=None, help="export file cache (default: $ASANA_EMULATOR_CACHE or ~/.cache/...)")
    add("--ready-file", type=Path, default=None, help="write the connection details here as JSON once listening")
    add("--verbose", action="store_true", help="print an access log to stderr")
    faults = parser.add_argument_group("faults")
    fault = faults.add_argument
    fault("--rate-limit", type=int, default=0, metavar="N", help="answer the next N API requests with 429")
    fault("--rate-limit-methods", default="GET,POST", metavar="M,M", help="methods rate-limited (default: %(default)s)")
    fault("--retry-after", type=float, default=1, metavar="S", help="Retry-After of each 429 (default: %(default)s)")
    fault("--server-error", type=int, default=0, metavar="N", help="answer the next N API requests with a 5xx")
    fault("--server-error-status", type=int, default=500, choices=(500, 502, 503, 504))
    fault("--server-error-methods", default="GET,POST", metavar="M,M")
    fault("--html-error", type=int, default=0, metavar="N", help="answer the next N API requests with a proxy's HTML")
    fault("--html-error-status", type=int, default=502, choices=(500, 502, 503, 504))
    fault("--latency", type=float, default=0.0, metavar="S", help="seconds added to every API request")
    fault("--forbidden", action="store_true", help="403 on every organization-export call")
    fault("--non-enterprise", action="store_true", help="every organization is non-Enterprise (402)")
    fault("--export-state", choices=("error",), default=None, help="exports end in this state")
    fault("--drop-download", type=int, default=0, metavar="N", help="cut the next N downloads short")
    fault("--drop-after-bytes", type=int, default=None, metavar="B", help="bytes sent before cutting")
    fault("--drop-stall", type=float, default=0.0, metavar="S", help="stall before cutting, seconds")
    fault("--truncate-gzip", action="store_true", help="serve a truncated export file")
    fault("--expire-urls", type=int, default=0, metavar="N", help="the next N download URLs are born expired")
    fault("--ignore-range", action="store_true", help="ignore Range headers")
    fault("--slow-download-bps", type=int, default=None, metavar="B", help="throttle downloads to B bytes/s")
    fault("--omit-content-length", action="store_true", help="send download bodies without Content-Length")
    return parser


def faults_from(args: argparse.Namespace) -> Faults:
    """The :class:`Faults` the command line asks for."""
    return Faults(
        rate_limit=args.rate_limit,
        rate_limit_retry_after=args.retry_after,
        rate_limit_methods=_methods(args.rate_limit_methods),
        server_error=args.server_error,
        server_error_status=args.server_error_status,
        server_error_methods=_methods(args.server_error_methods),
        html_error=args.html_error,
        html_error_status=args.html_error_status,
        latency=args.latency,
        forbidden=args.forbidden,
        non_enterprise=args.non_enterprise,
        export_state=args.export_state,
        drop_download=args.drop_download,
        drop_after_bytes=args.drop_after_bytes,
        drop_stall=args.drop_stall,
        truncate_gzip=args.truncate_gzip,
        expire_urls=args.expire_urls,
        ignore_range=args.ignore_range,
        slow_download_bps=args.slow_download_bps,
        omit_content_length=args.omit_content_length,
    )


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
            verbose=args.verbose,
        )
    except ValueError as error:
        parser.error(str(error))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"asana-emulator: preparing a {args.export_size:,}-byte export file (cached for next time)", flush=True)
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


def _methods(text: str) -> tuple[str, ...]:
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())


if __name__ == "__main__":
    sys.exit(main())
