"""Every cap and limit of the service, in one place, and the shared rate limiter.

The contracts state the same numbers: soap/types.py builds the WSDL's facets from these,
and tests/test_limits.py checks the OpenAPI document, the WSDL and the core against them.
"""
import fcntl
import hashlib
import mmap
import os
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAX_BODY_BYTES = 64 * 1024          # a request body (JSON, XML envelope or protobuf message)
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_TOKEN_LENGTH = 200
MAX_ID_LENGTH = 64                  # a track's or a playlist's id
MAX_NAME_LENGTH = 100               # playlist names
MAX_MOOD_LENGTH = 40                # a mood's name
MAX_QUERY_LENGTH = 100              # free-text search and filters
MAX_TRACKS_PER_PLAYLIST = 100
MAX_GENERATE_MINUTES = 600
MAX_STREAM_MESSAGES = 200           # what one streaming call may send or receive
STREAMS_PER_USER = 1                # gRPC streams one user may hold open at once (of the server's few)
STREAM_IDLE_SECONDS = 10            # a bidirectional stream whose client sends nothing for this long ends

# Failed logins: after this many in a row, a user (or a source address) must wait,
# 1 s, then 2 s, 4 s ... up to LOCKOUT_MAX_SECONDS, before the next attempt is even checked.
LOCKOUT_AFTER_FAILURES = 5
SOURCE_LOCKOUT_AFTER_FAILURES = 20
LOCKOUT_MAX_SECONDS = 300
FAILURES_FORGOTTEN_AFTER = 900      # failures older than 15 minutes no longer count


def lockout_seconds(failures: int, threshold: int) -> int:
    """How long to wait after `failures` consecutive failures (0 below the threshold)."""
    if failures < threshold:
        return 0
    return min(2 ** (failures - threshold), LOCKOUT_MAX_SECONDS)


@dataclass(frozen=True)
class _Map:
    pid: int
    fd: int
    memory: mmap.mmap
    threads: threading.Lock


class SharedCounter:
    """Calls per key in fixed windows, counted in a small file that every server process maps.

    The REST, SOAP and gRPC servers (and each server's worker processes) share one budget,
    so switching protocol does not escape a limit. A write transaction per call in SQLite
    would do it too, but locks the whole database for every server on every call. Here a
    call costs a file lock and a few bytes changed in memory the processes share, and the
    count stays exact: every increment happens under the lock.

    The file holds SLOTS slots: a key's 16-byte digest, the end of its window (Unix
    seconds), its count. A key's slot is found by probing from its digest (open
    addressing); a slot whose window has ended is free for any key.
    """

    SLOT = struct.Struct("16sqq")
    SLOTS = 1 << 15
    PROBES = 64

    def __init__(self, path: Path):
        self.path = path
        self._mapped = None

    def _map(self) -> _Map:
        """This process's map of the file, made at its first call (and anew in a forked child).

        Two threads making the first call at once may each map the file: harmless, as the
        memory is the same file's and flock() excludes any two open files, even in one process."""
        mapped = self._mapped
        if mapped is None or mapped.pid != os.getpid():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            size = self.SLOT.size * self.SLOTS
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)      # a new file: all zeros, every slot free
            mapped = self._mapped = _Map(os.getpid(), fd, mmap.mmap(fd, size), threading.Lock())
        return mapped

    @contextmanager
    def _locked(self):
        mapped = self._map()
        # flock() belongs to the open file, which this process's threads share: they queue first.
        with mapped.threads:
            fcntl.flock(mapped.fd, fcntl.LOCK_EX)
            try:
                yield mapped.memory
            finally:
                fcntl.flock(mapped.fd, fcntl.LOCK_UN)

    @classmethod
    def beside(cls, database: Path) -> "SharedCounter":
        """The counter of the servers that share `database`: a file next to it."""
        return cls(database.with_name(database.name + "-counters"))

    def hit(self, key: str, limit: int, window: int, now: float | None = None) -> int:
        """Count one call for `key` in the current window; return seconds to wait, 0 if allowed."""
        now = time.time() if now is None else now
        end = int(now // window) * window + window
        wait = max(1, int(end - now + 0.999))
        digest = hashlib.blake2b(f"{key}/{window}s".encode(), digest_size=16).digest()
        with self._locked() as memory:
            offset, count = self._slot(memory, digest, end, now)
            if offset is None:
                # Every slot near this key's holds another live key: more callers in one
                # window than the file was made for. Refused, never let through uncounted.
                return wait
            self.SLOT.pack_into(memory, offset, digest, end, count + 1)
        return 0 if count + 1 <= limit else wait

    def _slot(self, memory, digest: bytes, end: int, now: float) -> tuple[int | None, int]:
        """Where the key counts in the window ending at `end`, and its count so far (0 in a free slot)."""
        home, free = int.from_bytes(digest[:8], "little"), None
        for probe in range(self.PROBES):
            offset = (home + probe) % self.SLOTS * self.SLOT.size
            held_by, until, count = self.SLOT.unpack_from(memory, offset)
            if held_by == digest and until == end:
                return offset, count
            if free is None and until <= now:
                free = offset
            if until == 0:
                break       # never used since the file was made: the key is not further on
        return free, 0

    def clear(self, now: float | None = None) -> int:
        """Forget every count (a fresh start for a workshop group); return how many were live."""
        now = time.time() if now is None else now
        with self._locked() as memory:
            live = sum(1 for _, until, _ in self.SLOT.iter_unpack(memory) if until > now)
            memory[:] = bytes(len(memory))
        return live
