"""Crashes and shutdowns: kill -9 in the middle of writes, and SIGTERM with calls in flight.

kill -9: writers hammer REST, gRPC and SOAP; the REST server (its whole process group:
arbiters and workers) is killed with SIGKILL, then the gRPC server; both are started again
on the same home while the writers go on. Afterwards the database passes
`PRAGMA integrity_check` and `foreign_key_check`, every playlist is whole (positions
1..n with no gap, version = 1 + the tracks added, since writers only append), and every
write that was acknowledged before a kill is there, at the place its answer said.

SIGTERM: a request whose body is still arriving when the signal comes is answered in
full, new connections get no answer (and change nothing), and the process group exits
within the grace period. gRPC's drain of a stream is tests/test_rpc_server.py; here a
stream longer than the grace is cut at the grace, and the server still exits in time.
"""
import os
import signal
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass

import grpc
import pytest
import requests
from playlist.v1 import playlist_pb2 as pb

from clients import calls
from rpc.server import GRACE_SECONDS
from serve.launch import Server

from .conftest import TEST_ENV, endpoints, eventually

GUNICORN_GRACE_SECONDS = 10   # serve/wsgi.py: graceful_timeout
TRACKS = ["bach-bwv1068-air", "bach-bwv1007-prelude", "josquin-ave-maria-virgo-serena", "bach-bwv1067-badinerie"]
ADDS_PER_PLAYLIST = 40        # then a writer starts a new playlist (the cap is 100 tracks)
CRASHES = 3                   # kill -9 rounds, each of REST and of gRPC


@dataclass(frozen=True)
class Ack:
    """A write the server answered as done."""
    playlist_id: str
    version: int
    track_id: str


class Running:
    """Where each server is now: a restarted server has new ports."""

    def __init__(self, **servers):
        self.servers = servers

    def __getitem__(self, kind):
        return self.servers[kind]

    def __setitem__(self, kind, server):
        self.servers[kind] = server

    def ports(self) -> tuple:
        return tuple(server.port for server in self.servers.values())


class Writers:
    """Threads that append tracks through one protocol each, every thread to a playlist of
    its own (a new one, created through the same protocol, when it holds ADDS_PER_PLAYLIST),
    and note every acknowledged create and add. A dead server's connection errors are retried."""

    def __init__(self, running: Running, key, protocols: list[str]):
        self.running, self.key, self.protocols = running, key, protocols
        self.acks: list[Ack] = []
        self.created: dict[str, str] = {}    # acknowledged playlist id -> protocol
        self.failures: list[str] = []        # answers that are neither success nor "server gone"
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.write, args=(protocol,), daemon=True) for protocol in protocols]

    def start(self):
        for thread in self.threads:
            thread.start()

    def count(self, protocol: str) -> int:
        return sum(1 for a in self.acks if self.created[a.playlist_id] == protocol)

    def wait_for(self, protocol: str, more: int, timeout: float = 60) -> None:
        """Wait until `protocol`'s writers have `more` acknowledged adds than now."""
        with self.changed:
            target = self.count(protocol) + more
            assert self.changed.wait_for(lambda: self.count(protocol) >= target or self.failures, timeout), (
                protocol, self.count(protocol), target)
        assert self.failures == []

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a writer hung"
        assert self.failures == []

    def write(self, protocol):
        wire, ports = None, None
        playlist_id, n = None, 0
        while not self.stop.is_set():
            if ports != self.running.ports():   # a server was started again, on new ports
                if wire:
                    wire.close()
                wire, ports = endpoints(self.running.servers), self.running.ports()
            try:
                if playlist_id is None:
                    answer = wire.call(protocol, "create_playlist", self.key, name=f"crash {protocol}")
                else:
                    answer = wire.call(protocol, "add_track", self.key, playlist_id=playlist_id,
                                       track_id=TRACKS[n % len(TRACKS)])
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ConnectionError):
                answer = None
            if answer is None or answer.status in ("UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED"):
                # A killed server (before or in the middle of its answer): nothing was acknowledged;
                # try again until it is back.
                self.stop.wait(0.02)
                continue
            if not answer.ok:
                wire.close()
                return self.fail(f"{protocol}: {answer.status} {answer.detail or answer.raw[:200]}")
            with self.changed:
                if playlist_id is None:
                    playlist_id, n = answer.playlist_id(), 0
                    self.created[playlist_id] = protocol
                    continue
                self.acks.append(Ack(playlist_id, answer.playlist()["version"], TRACKS[n % len(TRACKS)]))
                self.changed.notify_all()
            n += 1
            if n == ADDS_PER_PLAYLIST:
                playlist_id = None
        wire.close()

    def fail(self, message):
        with self.changed:
            self.failures.append(message)
            self.changed.notify_all()


def process_group_gone(server, timeout: float) -> bool:
    """Wait until no process of the server's group is left (arbiters, workers, the TLS arbiter)."""
    def gone() -> bool:
        server.process.poll()  # reap the leader, so that it does not linger as a zombie
        try:
            os.killpg(server.process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    return eventually(gone, timeout)


def database(home) -> sqlite3.Connection:
    return sqlite3.connect(home / "playlists.sqlite3", timeout=30)


def check_whole(home, writers) -> dict:
    """The database after the crashes: intact, no half-written playlist, no lost acknowledged write."""
    with database(home) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        # Every playlist of the writers, also those created but never acknowledged (the kill came between).
        rows = db.execute("SELECT id, version FROM playlists WHERE name LIKE 'crash %'").fetchall()
        tracks = {}
        for playlist_id, version in rows:
            found = db.execute("SELECT position, track_id FROM playlist_tracks WHERE playlist_id = ? "
                               "ORDER BY position", (playlist_id,)).fetchall()
            assert [p for p, _ in found] == list(range(1, len(found) + 1)), playlist_id   # contiguous 1..n
            assert version == 1 + len(found), playlist_id   # each committed add bumped the version once
            tracks[playlist_id] = [t for _, t in found]
    assert set(writers.created) <= set(tracks), "an acknowledged create is missing"
    for ack in writers.acks:
        # Appends only, to a playlist created empty: the add that made version v is track v-1.
        assert len(tracks[ack.playlist_id]) >= ack.version - 1, ack
        assert tracks[ack.playlist_id][ack.version - 2] == ack.track_id, ack
    return tracks


def test_kill_9_in_the_middle_of_writes_loses_no_acknowledged_write(home, credentials):
    running = Running(rest=Server("rest", home, TEST_ENV), grpc=Server("rpc", home, TEST_ENV),
                      soap=Server("soap", home, TEST_ENV))
    writers = Writers(running, calls.key(credentials["users"]["alice"]["api_key"]),
                      ["rest"] * 4 + ["grpc"] * 4 + ["soap"] * 2)
    try:
        writers.start()
        for _ in range(CRASHES):
            writers.wait_for("rest", 20)
            writers.wait_for("grpc", 20)
            running["rest"].stop(signal.SIGKILL)             # the REST arbiters and workers, mid-write
            assert process_group_gone(running["rest"], 10)
            writers.wait_for("grpc", 20)                       # gRPC and SOAP go on meanwhile
            running["grpc"].stop(signal.SIGKILL)
            assert process_group_gone(running["grpc"], 10)
            writers.wait_for("soap", 5)                        # SOAP alone
            running["rest"] = Server("rest", home, TEST_ENV)  # started again, on the same home
            running["grpc"] = Server("rpc", home, TEST_ENV)
        writers.wait_for("rest", 20)
        writers.wait_for("grpc", 20)
        writers.finish()
        counts = {p: writers.count(p) for p in ("rest", "grpc", "soap")}
        tracks = check_whole(home, writers)
        unacknowledged = sum(len(t) for t in tracks.values()) - len(writers.acks)
        print(f"\nkill -9 ({CRASHES} rounds): {len(writers.acks)} acknowledged adds {counts} in "
              f"{len(writers.created)} acknowledged "
              f"playlists; {unacknowledged} adds and {len(tracks) - len(writers.created)} creates committed but "
              "never acknowledged (the kill came between)")
        assert unacknowledged >= 0
    finally:
        writers.stop.set()
        for kind in ("rest", "grpc", "soap"):
            running[kind].stop()


# --- SIGTERM: drain what is in flight -------------------------------------------------------------

def server_has_read_everything(server_port: int, client_port: int, timeout: float = 10) -> bool:
    """Wait until the server's end of this TCP connection has nothing left unread
    (/proc/net/tcp: its rx_queue is 0): the request is inside a worker, in flight."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/tcp") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                if fields[1] == local and fields[2] == remote and fields[3] == "01":   # ESTABLISHED
                    if int(fields[4].split(":")[1], 16) == 0:
                        return True
        time.sleep(0.02)
    return False


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def half_sent(port: int, path: str, content_type: str, body: bytes, key_header: str) -> socket.socket:
    """A request whose headers and first half of the body are sent; the rest is to come."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n{key_header}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    connection.sendall(head + body[:len(body) // 2])
    return connection


def answer_of(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    connection.close()
    return b"".join(chunks)


def no_answer(port: int, path: str, content_type: str, body: bytes, key_header: str) -> bool:
    """A new request during the drain: refused, reset or closed unanswered, never served."""
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=GUNICORN_GRACE_SECONDS + 5)
        connection.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n{key_header}"
                            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)
        return answer_of(connection) == b""
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        return True


def requests_for(kind: str, key: str, name: str):
    """A create_playlist request's path, content type, body and credential header, to send by hand."""
    if kind == "rest":
        return "/v1/playlists", "application/json", f'{{"name": "{name}"}}'.encode(), f"X-API-Key: {key}\r\n"
    return "/soap", "text/xml", calls.envelope("CreatePlaylist", {"name": name}, calls.key(key)), ""


def playlists_named(home, name: str) -> int:
    with database(home) as db:
        return db.execute("SELECT COUNT(*) FROM playlists WHERE name = ?", (name,)).fetchone()[0]


def draining(port: int, probe: bytes, timeout: float = 5) -> bool:
    """Probe with read-only requests on new connections until one goes unanswered: the
    server has acted on the signal and stopped taking new connections. (A deadline, not a
    number of tries: on a busy machine the arbiter may take a while to act on the signal.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                connection.sendall(probe)
                if not connection.recv(1):
                    return True       # closed unanswered
        except (ConnectionRefusedError, ConnectionResetError, socket.timeout):
            return True               # refused, reset, or left unaccepted
    return False


@pytest.mark.parametrize("kind", ["rest", "soap"])
def test_sigterm_answers_the_request_in_flight_then_exits(home, credentials, kind):
    key = credentials["users"]["alice"]["api_key"]
    server = Server(kind, home, TEST_ENV)   # with its TLS arbiter: a second gunicorn in the group
    try:
        path, content_type, body, key_header = requests_for(kind, key, f"in flight {kind}")
        in_flight = half_sent(server.port, path, content_type, body, key_header)
        assert server_has_read_everything(server.port, in_flight.getsockname()[1])
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)             # `kill PID`: the main process only
        probe = f"GET {'/v1/moods' if kind == 'rest' else '/soap?wsdl'} HTTP/1.1\r\nHost: x\r\n" \
                f"{key_header}Connection: close\r\n\r\n".encode()
        assert draining(server.port, probe)
        late = requests_for(kind, key, f"too late {kind}")    # a write that comes after: never served
        late_result = {}
        late_thread = threading.Thread(target=lambda: late_result.update(unanswered=no_answer(server.port, *late)))
        late_thread.start()
        in_flight.sendall(body[len(body) // 2:])               # the rest of the body arrives after the signal
        answer = answer_of(in_flight)
        status_line = answer.split(b"\r\n", 1)[0]
        assert status_line == (b"HTTP/1.1 201 CREATED" if kind == "rest" else b"HTTP/1.1 200 OK"), answer[:300]
        assert playlists_named(home, f"in flight {kind}") == 1
        assert process_group_gone(server, GUNICORN_GRACE_SECONDS + 5)
        print(f"\n{kind}: answered the request in flight, exited {time.monotonic() - signalled:.2f}s after SIGTERM")
        assert server.process.returncode == 0
        late_thread.join(timeout=GUNICORN_GRACE_SECONDS + 10)
        assert late_result == {"unanswered": True}
        assert playlists_named(home, f"too late {kind}") == 0
        assert refused(server.port) and refused(server.tls_port)
    finally:
        server.stop()


def test_sigterm_cuts_a_stream_longer_than_the_grace_and_exits_in_time(home, credentials):
    key = calls.key(credentials["users"]["alice"]["api_key"])
    server = Server("rpc", home, TEST_ENV)
    wire = calls.Endpoints("", grpc_address=f"127.0.0.1:{server.port}")
    try:
        with wire.channel():
            # Three Chaconnes, 42 minutes of music: at 5 ms a second, 12.6 s of playback.
            playlist = wire.call("grpc", "create_playlist", key, name="Too long",
                                 track_ids=["bach-bwv1004-chaconne"] * 3)
            stream = wire.stub().PlayPlaylist(pb.PlayPlaylistRequest(id=playlist.playlist_id(), ms_per_second=5),
                                              metadata=calls.grpc_metadata(key))
            assert next(stream).position == 1
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.RpcError) as caught:
                for _ in stream:
                    pass
            cut_after = time.monotonic() - signalled
            assert caught.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
            assert caught.value.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
        assert server.process.wait(timeout=GRACE_SECONDS + 5) == 0
        exited_after = time.monotonic() - signalled
        print(f"\ngrpc: stream cut {cut_after:.2f}s and process exited {exited_after:.2f}s after SIGTERM")
        assert GRACE_SECONDS - 1 <= cut_after and exited_after <= GRACE_SECONDS + 2
        assert refused(server.port) and refused(server.tls_port)
    finally:
        server.stop()


@pytest.mark.parametrize("whom", ["main", "group"])
@pytest.mark.parametrize("kind", ["rest", "soap"])
def test_sigterm_stops_cleanly_without_a_traceback(home, credentials, kind, whom):
    server = Server(kind, home, TEST_ENV)
    try:
        path = "/v1/me" if kind == "rest" else "/soap?wsdl"
        assert requests.get(f"http://127.0.0.1:{server.port}{path}", timeout=10, headers=calls.http_headers(
            calls.key(credentials["users"]["alice"]["api_key"]))).status_code == 200
        if whom == "main":
            server.process.send_signal(signal.SIGTERM)    # `kill PID`
        else:
            os.killpg(server.process.pid, signal.SIGTERM)  # a service manager stopping the whole group
        assert process_group_gone(server, GUNICORN_GRACE_SECONDS + 5)
        log = server.output()
        assert (server.process.returncode, log.count("Traceback"), log.count("exited with code")) == (0, 0, 0), log
    finally:
        server.stop()
