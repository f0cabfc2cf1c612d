"""`.venv/bin/python -m bench.breakdown`: where one GetPlaylist's CPU goes, part by part, in process.

The REST app is called through WSGI and the gRPC servicer through its two interceptors,
exactly as the servers call them, but without the HTTP server or grpcio's C core around
them (what the bare baselines pay too). Each part is timed with the thread's own CPU clock
(`time.thread_time_ns`), so time other programs take from the machine is not counted. A
part's time excludes the parts it calls: the rows add up to the whole call.
"""
import argparse
import contextvars
import functools
import logging
import os
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import grpc
from playlist.v1 import playlist_pb2 as pb
from werkzeug.test import EnvironBuilder

import rest.app
import rpc.server
from rpc.interceptors import CallRecord
from core import PlaylistService, events, limits
from core.auth import Authenticator
from core.config import load_settings
from rest.validation import RequestValidator

from . import fixture

CALLS = 3000
WRITER = "call journal: its writer thread (log line, JSON line, write)"


class Clock:
    """Thread CPU time per part, each part's own (what it spends in other timed parts is theirs)."""

    def __init__(self):
        self.spent = defaultdict(int)   # part: nanoseconds
        self._children = []             # per timed call in progress: CPU time of the parts it called

    def time(self, owner, name: str, part: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self._children.append(0)
            start = time.thread_time_ns()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.thread_time_ns() - start
                self.spent[part] += elapsed - self._children.pop()
                if self._children:
                    self._children[-1] += elapsed

        setattr(owner, name, timed)


SHARED_PARTS = [  # (owner, attribute, part): the same core code under both adapters
    (Authenticator, "_verify", "auth: the credential's look-up"),
    (limits.SharedCounter, "hit", "rate limit (shared counter)"),
    (PlaylistService, "get_playlist", "core: SQLite reads, ownership, scan"),
    (events, "record", "call journal and log line"),
]
REST_PARTS = [
    (rest.app, "negotiate", "REST: Accept negotiation"),
    (RequestValidator, "path", "REST: validation"),
    (RequestValidator, "query", "REST: validation"),
    (rest.app, "answer", "REST: encoding (JSON)"),
]
GRPC_PARTS = [
    (rpc.server, "credential_from", "gRPC: reading the metadata"),
    (rpc.server, "playlist_message", "gRPC: building the message"),
]


def writer_cpu_ns() -> int:
    """CPU time of this process's journal writer threads so far (they work beside the calls)."""
    return sum(time.clock_gettime_ns(time.pthread_getcpuclockid(t.ident))
               for t in threading.enumerate() if t.name == "journal")


def rest_calls(service: PlaylistService, data: dict, calls: int) -> int:
    """Call GET /v1/playlists/{id} `calls` times through WSGI; return the CPU it took in all."""
    app = rest.app.create_app(service)
    environ = EnvironBuilder(path=f"/v1/playlists/{data['playlist_id']}", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                             headers={"X-API-Key": data["api_key"], "Accept": "application/json",
                                      "User-Agent": "breakdown"}).get_environ()

    def start_response(status, headers):
        assert status.startswith("200"), status

    start = time.thread_time_ns()
    for _ in range(calls):
        b"".join(app(dict(environ), start_response))
    return time.thread_time_ns() - start


class Context:
    """What the servicer and the interceptors ask of a grpc.ServicerContext on a successful call."""

    def __init__(self, metadata):
        self.metadata = metadata

    def invocation_metadata(self):
        return self.metadata

    def auth_context(self):
        return {}

    def peer(self):
        return "ipv4:127.0.0.1:50000"

    def is_active(self):
        return True


def grpc_calls(service: PlaylistService, data: dict, calls: int) -> int:
    """Call GetPlaylist `calls` times through both interceptors, decoding and encoding as grpcio does."""
    servicer = rpc.server.Playlists(service)
    method = f"/{rpc.server.SERVICE_NAME}/GetPlaylist"
    base = grpc.unary_unary_rpc_method_handler(servicer.GetPlaylist, pb.GetPlaylistRequest.FromString,
                                               pb.Playlist.SerializeToString)
    metadata = (("x-api-key", data["api_key"]), ("user-agent", "breakdown"))
    details = SimpleNamespace(method=method, invocation_metadata=metadata)
    outer, inner = CallRecord(rpc.server.SERVICE_NAME, rpc.server.status_for), rpc.server.Authentication(service)
    request = pb.GetPlaylistRequest(id=data["playlist_id"]).SerializeToString()

    def one_call():
        handler = outer.intercept_service(lambda d: inner.intercept_service(lambda _: base, d), details)
        handler.response_serializer(handler.unary_unary(handler.request_deserializer(request), Context(metadata)))

    start = time.thread_time_ns()
    for _ in range(calls):
        contextvars.copy_context().run(one_call)  # grpcio gives every call a context of its own
    return time.thread_time_ns() - start


def table(title: str, clock: Clock, parts: list, total_ns: int, calls: int) -> str:
    rows, named = [], 0
    for part in dict.fromkeys(p for _, _, p in parts):
        spent = clock.spent[part]
        named += spent
        rows.append((part, spent))
    rows.append(("the framework and our glue around it", total_ns - named))
    lines = [f"| {title} | µs per call | share |", "|---|---|---|"]
    lines += [f"| {part} | {ns / calls / 1000:.1f} | {ns / total_ns:.0%} |" for part, ns in rows]
    lines.append(f"| **the whole call, in process** | **{total_ns / calls / 1000:.1f}** | 100% |")
    return "\n".join(lines)


def measure(name: str, run, parts: list, service: PlaylistService, data: dict, calls: int) -> str:
    """Time `calls` calls with every part timed; the table of where their CPU went."""
    run(service, data, calls // 10)  # warm the caches, the connection and the journal's writer
    events.flush()
    clock, originals = Clock(), [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in parts]
    for owner, attribute, part in parts:
        clock.time(owner, attribute, part)
    writer = writer_cpu_ns()
    try:
        total = run(service, data, calls)
        start = time.thread_time_ns()
        events.flush()  # the last batch, here
        clock.spent[WRITER] = time.thread_time_ns() - start + writer_cpu_ns() - writer
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)
    return table(name, clock, parts + [(None, None, WRITER)], total + clock.spent[WRITER], calls)


def main() -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m bench.breakdown", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS, help=f"calls per protocol (default {CALLS})")
    args = parser.parse_args()
    # The log line is written as the servers write it, to a stream nobody reads.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.StreamHandler(open(os.devnull, "w"))])
    with tempfile.TemporaryDirectory(prefix="breakdown-home-") as folder:
        home = Path(folder)
        environment = {**os.environ, "PLAYLISTS_HOME": str(home), "PLAYLISTS_RATE_LIMIT": "100000000/minute"}
        environment.pop("PLAYLISTS_UNSAFE", None)
        data = fixture.load(fixture.make_home(home, environment))
        settings = load_settings(environment)
        events.configure(settings)
        service = PlaylistService(settings)
        for name, run, extra in (("REST GetPlaylist", rest_calls, REST_PARTS),
                                 ("gRPC GetPlaylist", grpc_calls, GRPC_PARTS)):
            print(measure(name, run, SHARED_PARTS + extra, service, data, args.calls), end="\n\n", flush=True)

if __name__ == "__main__":
    main()
