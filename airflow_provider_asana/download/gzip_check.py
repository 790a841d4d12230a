"""Streaming checks of a downloaded file: its SHA-256 and, optionally, that it is one complete gzip file."""

from __future__ import annotations

import hashlib
import zlib

#: Most bytes of decompressed output produced per zlib call: memory stays flat whatever the ratio. Kept
#: below glibc's default mmap threshold (128 KiB), so each output buffer is reused from the heap instead of
#: being mapped, zero-filled and unmapped on every call (at 256 KiB that page faulting cost a third of the
#: time).
MAX_INFLATE_OUTPUT = 64 << 10
#: Bytes of input handed to zlib per call, as a zero-copy slice of the chunk. zlib's ``unconsumed_tail`` is a
#: copy of what a call did not consume, so feeding a whole chunk at once copied most of it again per call.
INFLATE_INPUT = 16 << 10


class GzipError(ValueError):
    """The bytes are not a complete, valid gzip file."""


class GzipVerifier:
    """
    Decode a gzip file fed piece by piece, to its very end, keeping nothing but zlib's state.

    Every member of a multi-member file is decoded (a new decompressor starts on the bytes after each
    member's trailer); zlib itself checks each member's header, CRC-32 and ISIZE trailer. After the last
    member nothing may follow (no trailing garbage, not even zero padding), and :meth:`finish` fails when
    the last member did not reach its end (a truncated file). Output is produced at most
    :data:`MAX_INFLATE_OUTPUT` bytes per call and dropped at once; input is handed over in slices of
    :data:`INFLATE_INPUT` bytes, without copying.
    """

    def __init__(self, max_output: int = MAX_INFLATE_OUTPUT, input_step: int = INFLATE_INPUT) -> None:
        self._max_output = max_output
        self._input_step = input_step
        self.reset()

    def reset(self) -> None:
        """Forget everything fed so far: start again at byte 0 of a new file."""
        self._inflater = zlib.decompressobj(wbits=31)
        self._member_fed = False
        self.compressed_bytes = 0
        self.decompressed_bytes = 0
        self.members = 0

    def update(self, data: bytes | memoryview) -> None:
        """
        Feed the next bytes of the file.

        :raises GzipError: The bytes so far cannot be the start of a valid gzip file.
        """
        if not data:
            return
        start = self.compressed_bytes
        self.compressed_bytes += len(data)
        view = memoryview(data)
        step = self._input_step
        max_output = self._max_output
        for offset in range(0, len(view), step):
            pending: bytes | memoryview = view[offset : offset + step]
            # Each pass consumes input, emits a full output buffer or ends a member: bounded by the data.
            while pending:
                try:
                    produced = len(self._inflater.decompress(pending, max_output))
                except zlib.error as e:
                    raise GzipError(self._describe(e, start)) from None
                self._member_fed = True
                self.decompressed_bytes += produced
                if self._inflater.eof:
                    self.members += 1
                    pending = self._inflater.unused_data
                    self._inflater = zlib.decompressobj(wbits=31)
                    self._member_fed = False
                    continue
                pending = self._inflater.unconsumed_tail
                if not pending and produced == max_output:
                    self._drain(start)

    def _drain(self, start: int) -> None:
        """Pull output zlib holds for input it already consumed, one bounded buffer at a time."""
        inflater = self._inflater
        while not inflater.eof:
            try:
                out = inflater.decompress(b"", self._max_output)
            except zlib.error as e:
                raise GzipError(self._describe(e, start)) from None
            self.decompressed_bytes += len(out)
            if len(out) < self._max_output:
                break
        if inflater.eof:
            # A member ended exactly at the end of the input consumed so far.
            self.members += 1
            self._inflater = zlib.decompressobj(wbits=31)
            self._member_fed = False

    def finish(self) -> None:
        """
        Check that the file ended where a gzip member ended.

        :raises GzipError: The file is empty, or its last member is cut short.
        """
        if self._member_fed or self.members == 0:
            if self.compressed_bytes == 0:
                raise GzipError("the file is empty, not a gzip file")
            raise GzipError(
                f"the gzip stream is truncated: member {self.members + 1} has no end (no complete "
                f"deflate end and CRC-32/ISIZE trailer) after {self.compressed_bytes} bytes"
            )

    def _describe(self, error: zlib.error, start: int) -> str:
        member = self.members + 1
        reason = str(error)
        if self.members and not self._member_fed and "header" in reason:
            reason = (
                f"bytes after the end of gzip member {self.members} are not another gzip member ({reason})"
            )
        return f"invalid gzip data in member {member}, in the bytes from offset {start}: {reason}"


class StreamChecker:
    """
    The SHA-256 of the bytes fed, and (when asked) a :class:`GzipVerifier` over the same bytes.

    The two halves are fed from different threads (``update_hash`` / ``reset_hash`` on one,
    ``update_gzip`` / ``reset_gzip`` on another): hashlib and zlib both release the GIL, so the hash and the
    inflate overlap instead of adding up.
    """

    def __init__(self, verify_gzip: bool) -> None:
        self._verify_gzip = verify_gzip
        self.reset_hash()
        self.reset_gzip()

    @property
    def verify_gzip(self) -> bool:
        """Tell whether the bytes are decoded as gzip too."""
        return self._verify_gzip

    def reset_hash(self) -> None:
        """Start the hash again at byte 0."""
        self.sha256 = hashlib.sha256()

    def reset_gzip(self) -> None:
        """Start the gzip check again at byte 0."""
        self.gzip = GzipVerifier() if self._verify_gzip else None

    def update_hash(self, data: bytes) -> None:
        """Hash the next bytes."""
        self.sha256.update(data)

    def update_gzip(self, data: bytes) -> None:
        """
        Decode the next bytes as gzip, when verifying.

        :raises GzipError: The bytes so far cannot be the start of a valid gzip file.
        """
        if self.gzip is not None:
            self.gzip.update(data)

    def finish(self) -> str:
        """
        Run the end-of-file checks and return the hex SHA-256.

        :raises GzipError: The gzip file is empty or cut short.
        """
        if self.gzip is not None:
            self.gzip.finish()
        return self.sha256.hexdigest()
