"""A download's progress in the log: bytes, percent and speed now and then, never per chunk."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

#: Progress is logged when both this many seconds and PROGRESS_FRACTION of the file have passed since
#: the last line, or after PROGRESS_MAX_INTERVAL seconds whatever the progress.
PROGRESS_INTERVAL = 10.0
PROGRESS_FRACTION = 0.10
PROGRESS_MAX_INTERVAL = 60.0


class Progress:
    """
    Log a download's progress now and then.

    :param label: Names the file, e.g. ``"Asana organization export 1300000000000001"``.
    :param uri: Where it lands.
    """

    def __init__(self, label: str, uri: str) -> None:
        self.label = label
        self.last_time = time.monotonic()
        self.last_bytes = 0
        log.info("Downloading %s to %s.", label, uri)

    def update(self, written: int, total: int | None) -> None:
        """Log a line if it is time: ``written`` bytes of ``total`` (None: unknown) have arrived."""
        now = time.monotonic()
        since = now - self.last_time
        if since < PROGRESS_INTERVAL:
            return
        moved = abs(written - self.last_bytes)
        if since < PROGRESS_MAX_INTERVAL and total and moved < total * PROGRESS_FRACTION:
            return
        rate = moved / since / 1e6
        if total:
            log.info(
                "%s: %d of %d bytes (%.0f%%), %.1f MB/s.",
                self.label,
                written,
                total,
                100.0 * written / total,
                rate,
            )
        else:
            log.info("%s: %d bytes, %.1f MB/s.", self.label, written, rate)
        self.last_time, self.last_bytes = now, written
