"""The demo's checks of a landed file, computed without the provider (the system tests use them too)."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def count_types(path: Path) -> dict[str, int]:
    """Count the records per ``__type``, streamed through gzip."""
    counts: Counter[str] = Counter()
    with gzip.open(path, "rb") as f:
        for line in f:
            if line.strip():
                counts[json.loads(line).get("__type", "<none>")] += 1
    return dict(counts)
