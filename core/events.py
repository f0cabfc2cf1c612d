"""Call events: one record per call, whatever the protocol, in the same three steps.

received -> authenticated and validated -> answered. Every adapter reports each call here
once, when it has answered. The event becomes the log line `make serve` prints, and a line
of JSON appended to $PLAYLISTS_HOME/events.jsonl, which the live view follows and the
workshop's checks read. Three server processes (and their workers) append to that one
file: each writes its lines in batches, each batch with a single O_APPEND write, so lines
never interleave, and each process's lines keep the order of its calls.
"""
import atexit
import contextvars
import fcntl
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .auth import Identity
from .defences import Defences
from .storage import Database

log = logging.getLogger("calls")
JOURNAL = "events.jsonl"
ROTATED = JOURNAL + ".1"            # the journal's previous file, kept once it is full
MAX_FILE_BYTES = 4 * 1024 * 1024    # then events.jsonl becomes events.jsonl.1: at most ~8 MB kept
BATCH_SECONDS = 0.05                # how long a successful read's line may wait to be written
# Operations that change something: their lines are written before the caller hears it happened.
CHANGES = {"create_playlist", "generate_playlist", "update_playlist", "add_track", "remove_track",
           "delete_playlist", "issue_token"}

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
    unsafe: str = ""       # the defences that were off for this caller: "bola,ratelimit"
    at: float = field(default_factory=time.time)
    claimed: str = ""      # the user name a refused login claimed (Basic, UsernameToken): lockouts count by it
    changed: tuple = ()    # what a successful update changed: "name", "mood", "tracks"

    @property
    def stopped_at(self) -> int:
        """The step that failed (2 or 3), or 0 when all three succeeded."""
        return 0 if self.outcome == "ok" else STOPPED_AT.get(self.outcome, 3)

    @property
    def steps(self) -> str:
        marks = ["✓" if not self.stopped_at or step < self.stopped_at else "✗" if step == self.stopped_at else "·"
                 for step in (1, 2, 3)]
        return f"received {marks[0]} → authenticated+validated {marks[1]} → answered {marks[2]}"


# Which fields a successful update changed: only the core knows which of an update's fields
# were given, and the journal wants it (the workshop tells a rename from a track change). A
# thread serves one call at a time, so a context variable carries it from the core to the
# call's event, which takes it and clears it.
_changed = contextvars.ContextVar("changed", default=())


def note_changes(*fields: str) -> None:
    _changed.set(fields)


def call_event(protocol: str, operation: str, identity: Identity | None, outcome: str, status: str,
               bytes_in: int, bytes_out: int, started: float, reason: str = "", client: str = "",
               source: str = "", credential=None) -> CallEvent:
    """The event of a call an adapter has answered: `identity` is None when no one was
    authenticated, `started` the time.perf_counter() of the call's arrival, `credential` what
    the caller presented (a refused login is recorded by the user name it claimed)."""
    user = identity.user if identity else ""
    # Marked now, as the call is answered: a seat may switch a defence back on a moment later.
    unsafe = _Journal.defences.switched_off(user) if _Journal.defences else ""
    changed = _changed.get()
    _changed.set(())
    return CallEvent(protocol, operation, user, identity.method if identity else "", outcome, status, bytes_in,
                     bytes_out, (time.perf_counter() - started) * 1000, reason, client, source, unsafe=unsafe,
                     claimed=getattr(credential, "username", "") if identity is None else "", changed=changed)


class _Journal:
    path: Path | None = None
    defences: Defences | None = None    # the server's switches, or in class mode each seat's own


class OneLineFormatter(logging.Formatter):
    """Every message is one line, as written: a control character in a value a caller chose
    (a newline that would forge a log line of its own, an escape sequence that would repaint
    the terminal) is written as its escape. A traceback, which follows, keeps its lines."""

    def formatMessage(self, record):
        record.message = escaped(record.message)
        return super().formatMessage(record)


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escaped(text: str) -> str:
    return CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


def configure(settings) -> None:
    """Log to stderr and journal to $PLAYLISTS_HOME/events.jsonl; announce any defence that is off."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # The logging HOWTO's "Optimization": with no file or line in the format, a record need not
    # walk the stack to find its caller's (a fifth of a log line's cost, and there is one per call).
    logging._srcfile = None
    _Journal.path = settings.home / JOURNAL
    _Journal.defences = Defences(Database(settings.database), settings)
    if settings.unsafe:
        log.warning("UNSAFE: defences switched off for teaching: %s", _Journal.defences.switched_off())


def record(event: CallEvent) -> None:
    """Log the call and journal it: now if it changed something or was refused, else in the next batch."""
    if _Journal.path:
        _writer(_Journal.path).add(event, now=event.outcome != "ok" or event.operation in CHANGES)
    else:
        _log(event)


def _log(event: CallEvent) -> None:
    who = f"{event.user}/{event.auth_method}" if event.user else "anonymous"
    log.info("%-4s %-17s %-15s %-22s %6dB in %7dB out %7.1fms  %s%s%s", event.protocol, event.operation, who,
             event.status, event.bytes_in, event.bytes_out, event.ms, event.steps,
             f"  ({event.reason})" if event.reason else "",
             f"  [UNSAFE: {event.unsafe} off]" if event.unsafe else "")


def _line(event: CallEvent) -> bytes:
    # vars(), not asdict(): the event is flat, and asdict deep-copies every field (15 µs a call).
    return orjson.dumps({**vars(event), "stopped_at": event.stopped_at}) + b"\n"


class Writer:
    """One process's journal writer: the calls queue their events, a thread writes them.

    Every BATCH_SECONDS the thread logs the queued calls and appends their lines with a
    single O_APPEND write to the file it keeps open, instead of an open-write-close per
    call. A call that changed something, or was refused, does not wait for the batch: its
    own thread writes the queue, in order, before the answer leaves (`add(now=True)`), so
    no crash of the server loses the record of a change its caller was told about. A
    successful read may be lost with the last BATCH_SECONDS of a crash; a normal stop
    writes everything (`flush`, at exit).
    """

    def __init__(self, path: Path):
        self.path = path
        self.pid = os.getpid()
        self._queue = []
        self._lock = threading.Lock()   # one writer at a time, so lines keep the order of the calls
        self._queued = threading.Event()
        self._fd = None
        threading.Thread(target=self._every_batch, name="journal", daemon=True).start()
        atexit.register(self.flush)

    def add(self, event: CallEvent, now: bool = False) -> None:
        with self._lock:
            self._queue.append(event)
            if now:
                self._write()
                return
        self._queued.set()

    def flush(self) -> None:
        if self.pid != os.getpid():
            return      # a copy inherited through a fork: its queue is its parent's to write
        with self._lock:
            self._write()

    def _every_batch(self) -> None:
        while True:
            self._queued.wait()
            time.sleep(BATCH_SECONDS)   # the calls of the next BATCH_SECONDS join the batch
            self._queued.clear()
            self.flush()

    def _write(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        for event in batch:
            _log(event)
        try:
            os.write(self._file(), b"".join(_line(event) for event in batch))
        except OSError as error:
            log.warning("could not journal %d calls: %s", len(batch), error)

    def _file(self) -> int:
        """The open journal, opened anew when another process rotated it or a reset removed it."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = None
        if self._fd is not None and current != os.fstat(self._fd).st_ino:
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size > MAX_FILE_BYTES:
            _rotate(self.path, self._fd)
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd


_writers: dict[Path, Writer] = {}
_starting = threading.Lock()


def _writer(path: Path) -> Writer:
    """This process's writer (a forked worker starts its own: a thread does not survive a fork)."""
    writer = _writers.get(path)
    if writer is None or writer.pid != os.getpid():
        with _starting:     # the first calls may come from several threads at once: one writer
            writer = _writers.get(path)
            if writer is None or writer.pid != os.getpid():
                writer = _writers[path] = Writer(path)
    return writer


def flush() -> None:
    """Write what this process's journal holds now (a server calls it as it stops)."""
    for writer in list(_writers.values()):
        if writer.pid == os.getpid():
            writer.flush()


def append(home: Path, entry: dict) -> None:
    """Journal something that is not a call (a workshop solve, say): same file, one O_APPEND write."""
    path = home / JOURNAL
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size > MAX_FILE_BYTES:
            _rotate(path, fd)
        os.write(fd, (json.dumps(entry) + "\n").encode())
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
            os.replace(path, path.with_name(ROTATED))


def read(home: Path, since: float = 0.0) -> list[dict]:
    """Every journalled event at or after `since` (a Unix time), oldest first.

    Each worker process writes its own lines in order, but two workers' batches may reach the
    file in either order: sorting by the time of each call puts the server's calls back in line."""
    events = []
    for path in (home / ROTATED, home / JOURNAL):
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event["at"] >= since:
                    events.append(event)
    return sorted(events, key=lambda event: event["at"])
