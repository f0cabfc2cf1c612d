"""Call events: one record per call, whatever the protocol, in the seed's three steps.

received -> authenticated and validated -> answered. Every adapter reports each call here
once, when it has answered. The event becomes the log line `make serve` prints, and a line
of JSON appended to $PLAYLISTS_HOME/events.jsonl, which the live view follows and the
workshop's checks read. Three server processes append to that one file: each line is
written with a single O_APPEND write, so lines never interleave.
"""
import contextvars
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("calls")
JOURNAL = "events.jsonl"
MAX_FILE_BYTES = 4 * 1024 * 1024    # then events.jsonl becomes events.jsonl.1: at most ~8 MB kept

# Which step a core error stops a call at: the credential and the request's validity are
# checked in step 2; a missing playlist or a stale version is only known when answering.
STOPPED_AT = {"unauthenticated": 2, "forbidden": 2, "rate_limited": 2, "invalid_argument": 2,
              "too_large": 2, "version_required": 2, "not_found": 3, "conflict": 3, "internal": 3,
              "cancelled": 3, "deadline_exceeded": 3}   # a gRPC caller gave up, or ran out of time


@dataclass(frozen=True)
class CallEvent:
    protocol: str          # "rest", "soap" or "grpc"
    operation: str         # the core operation's name, e.g. "create_playlist"
    user: str              # "" when the caller was not authenticated
    auth_method: str       # "api_key", "basic", "bearer", "mtls" or ""
    outcome: str           # "ok" or an error kind (core/errors.py)
    status: str            # the protocol's own answer: "201", "Client.NotFound", "NOT_FOUND"
    bytes_in: int
    bytes_out: int
    ms: float
    reason: str = ""       # why it was refused, never a secret
    client: str = ""       # the User-Agent or its equivalent, as the client sent it
    source: str = ""       # the caller's address, as the server saw it
    at: float = field(default_factory=time.time)

    @property
    def stopped_at(self) -> int:
        """The step that failed (2 or 3), or 0 when all three succeeded."""
        return 0 if self.outcome == "ok" else STOPPED_AT.get(self.outcome, 3)

    @property
    def steps(self) -> str:
        marks = ["✓" if not self.stopped_at or step < self.stopped_at else "✗" if step == self.stopped_at else "·"
                 for step in (1, 2, 3)]
        return f"received {marks[0]} → authenticated+validated {marks[1]} → answered {marks[2]}"


class _Journal:
    path: Path | None = None
    unsafe: str = ""


# Which fields a successful update changed ("name", "mood", "tracks"): only the core knows
# which of an update's fields were given, and the journal wants it (the workshop checks a
# rename apart from a track change). A thread serves one call at a time, so a context
# variable carries it from the core to the call's record, which clears it.
_changed = contextvars.ContextVar("changed", default=())


def note_changes(*fields: str) -> None:
    _changed.set(fields)


def configure(settings) -> None:
    """Log to stderr and journal to $PLAYLISTS_HOME/events.jsonl; announce any defence that is off."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    _Journal.path = settings.home / JOURNAL
    if settings.unsafe:
        _Journal.unsafe = ",".join(sorted(settings.unsafe))
        log.warning("UNSAFE: defences switched off for teaching: %s", _Journal.unsafe)


def record(event: CallEvent) -> None:
    changed = _changed.get()
    _changed.set(())
    who = f"{event.user}/{event.auth_method}" if event.user else "anonymous"
    log.info("%-4s %-17s %-15s %-22s %6dB in %7dB out %7.1fms  %s%s%s", event.protocol, event.operation, who,
             event.status, event.bytes_in, event.bytes_out, event.ms, event.steps,
             f"  ({event.reason})" if event.reason else "",
             f"  [UNSAFE: {_Journal.unsafe} off]" if _Journal.unsafe else "")
    if _Journal.path:
        # vars(), not asdict(): the event is flat, and asdict deep-copies every field (15 µs a call).
        line = json.dumps({**vars(event), "stopped_at": event.stopped_at, "unsafe": _Journal.unsafe,
                           "changed": list(changed)}) + "\n"
        try:
            _append(_Journal.path, line.encode())
        except OSError as error:
            log.warning("could not journal the call: %s", error)


def append(home: Path, entry: dict) -> None:
    """Journal something that is not a call (a workshop solve, say): same file, same single write."""
    _append(home / JOURNAL, (json.dumps(entry) + "\n").encode())


def _append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size > MAX_FILE_BYTES:
            _rotate(path, fd)
        os.write(fd, data)
    finally:
        os.close(fd)


def _rotate(path: Path, fd: int) -> None:
    """events.jsonl becomes events.jsonl.1, once, however many processes see it full at once."""
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            still_ours = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_ours = False
        if still_ours:   # another process may have rotated it while we waited for the lock
            os.replace(path, path.with_name(path.name + ".1"))


def read(home: Path, since: float = 0.0) -> list[dict]:
    """Every journalled event at or after `since` (a Unix time), oldest first."""
    events = []
    for path in (home / (JOURNAL + ".1"), home / JOURNAL):
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event["at"] >= since:
                    events.append(event)
    return events
