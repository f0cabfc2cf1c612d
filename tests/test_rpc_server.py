"""The gRPC server as a process: its command line, its imports, its call records, its stubs, an
unexpected failure, and a graceful shutdown."""
import ast
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from grpc_tools import protoc
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from core import events
from rpc.server import DEFAULT_PROCESSES
from serve.launch import ROOT, Server, free_port, wait_for_port

from .conftest import TEST_ENV, eventually

CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def alice(credentials):
    return [("x-api-key", credentials["users"]["alice"]["api_key"])]


def test_help_explains_every_option():
    result = subprocess.run([sys.executable, "-m", "rpc", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    for option in ("--host HOST address to bind", "--port PORT plain", "--tls-port TLS_PORT mutual-TLS port",
                   "--db DB SQLite database", "--workers WORKERS threads serving calls in each process",
                   "--processes PROCESSES server processes sharing the ports"):
        assert option in text


@pytest.mark.parametrize("option", ["--processes", "--workers"])
def test_no_server_starts_with_nothing_to_serve_on(option):
    result = subprocess.run([sys.executable, "-m", "rpc", option, "0"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert f"argument {option}: must be at least 1, not 0" in result.stderr and "Traceback" not in result.stderr


def test_the_stubs_are_generated_from_this_proto(tmp_path):
    """The stubs are not committed (`make setup` generates them): check that they are not stale."""
    include = Path(protoc.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={tmp_path}",
                        f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", "playlist/v1/playlist.proto"]) == 0
    generated = Path(pb.__file__).parent
    for name in ("playlist_pb2.py", "playlist_pb2.pyi", "playlist_pb2_grpc.py"):
        assert (generated / name).read_text() == (tmp_path / "playlist" / "v1" / name).read_text(), name


def test_the_adapter_imports_the_core_and_no_other_adapter():
    imported = set()
    for path in (ROOT / "rpc").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert "core" in imported and not imported & {"rest", "soap", "clients", "flask", "spyne"}


def test_every_call_is_recorded_once_with_its_outcome(channel, stub, alice, home):
    since = time.time()
    created = stub.CreatePlaylist(pb.CreatePlaylistRequest(name="Recorded", track_ids=["bach-bwv1068-air"]),
                                  metadata=alice)
    missing = pb.GetTrackRequest(id="no-such-track")
    with pytest.raises(grpc.RpcError):
        stub.GetTrack(missing, metadata=alice)
    with pytest.raises(grpc.RpcError):
        stub.WhoAmI(pb.WhoAmIRequest())
    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    calls = [(e["operation"], e["user"], e["auth_method"], e["outcome"], e["status"], e["bytes_in"], e["bytes_out"])
             for e in events.read(home, since) if e["protocol"] == "grpc"]
    assert calls == [
        ("create_playlist", "alice", "api_key", "ok", "OK", pb.CreatePlaylistRequest(
            name="Recorded", track_ids=["bach-bwv1068-air"]).ByteSize(), created.ByteSize()),
        ("get_track", "alice", "api_key", "not_found", "NOT_FOUND", missing.ByteSize(), 0),
        ("who_am_i", "", "", "unauthenticated", "UNAUTHENTICATED", 0, 0),
    ]  # and the health check is not a call of the service
    recorded = [e for e in events.read(home, since) if e["protocol"] == "grpc"]
    assert all(e["ms"] > 0 and e["client"].startswith("grpc-python/") for e in recorded)
    assert recorded[1]["reason"] == "no track with id 'no-such-track'" and recorded[1]["stopped_at"] == 3


def test_an_unexpected_error_is_internal_and_reveals_nothing(home, alice, tmp_path):
    broken = tmp_path / "broken.sqlite3"
    with sqlite3.connect(home / "playlists.sqlite3") as source, sqlite3.connect(broken) as copy:
        source.backup(copy)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rpc", "--port", str(port), "--tls-port", "0", "--db", str(broken)], cwd=ROOT,
        env={**os.environ, "PLAYLISTS_HOME": str(home), **TEST_ENV}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, process)
        with sqlite3.connect(broken) as database:
            database.execute("DROP TABLE playlists")  # what no request could do: a server-side fault
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = playlist_pb2_grpc.PlaylistsStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListPlaylists(pb.ListPlaylistsRequest(), metadata=alice, timeout=10)
            assert caught.value.code() == CODE.INTERNAL
            assert caught.value.details() == "something went wrong on our side"
            assert not rpc_status.from_call(caught.value).details
            assert stub.WhoAmI(pb.WhoAmIRequest(), metadata=alice, timeout=10).name == "alice"
    finally:
        process.send_signal(signal.SIGTERM)
        log = process.communicate(timeout=20)[0]
    assert "no such table: playlists" in log and "Traceback" in log  # the trace went to the log only
    assert process.returncode == 0


def connections_served(pid: int, port: int) -> int:
    """How many open TCP connections to `port` the process `pid` holds (Linux: /proc)."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:   # closed since it was listed
            continue
        if target.startswith("socket:["):
            sockets.add(target[8:-1])
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()   # local address:port (hex), remote, state (01: established), …, inode
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                established.add(fields[9])
    return len(sockets & established)


def test_the_processes_share_the_port_and_each_serves_connections_of_its_own(home, alice):
    server = Server("rpc", home, TEST_ENV, tls=False)
    channels = [grpc.insecure_channel(f"127.0.0.1:{server.port}", options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(16)]
    try:
        for channel in channels:
            assert playlist_pb2_grpc.PlaylistsStub(channel).WhoAmI(pb.WhoAmIRequest(), metadata=alice,
                                                                   timeout=10).name == "alice"
        workers = server.processes()[1:]
        assert len(workers) == DEFAULT_PROCESSES
        served = [connections_served(pid, server.port) for pid in workers]
        # The kernel picks a process per connection: all 16 on one would happen once in 2**15 runs.
        assert sum(served) == 16 and all(served), served
    finally:
        for channel in channels:
            channel.close()
        server.stop()


@pytest.mark.parametrize("killed", ["a child", "the parent"])
def test_a_process_that_dies_takes_the_whole_server_down_with_it(home, killed):
    """Never half a server (a port some connections reach and others find dead), nor
    processes left behind, holding the port, when the one that started them is gone."""
    server = Server("rpc", home, TEST_ENV, tls=False)
    try:
        parent, *children = server.processes()
        victim, survivors = (children[0], children[1:]) if killed == "a child" else (parent, children)
        os.kill(victim, signal.SIGKILL)
        assert eventually(lambda: not any(alive(pid) for pid in survivors))
        assert server.process.wait(timeout=10) != 0
    finally:
        server.stop()


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent to read its exit status."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda sig: sig.name)
def test_a_signal_lets_calls_in_flight_finish_and_refuses_new_ones(home, alice, sig):
    server = Server("rpc", home, TEST_ENV)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = playlist_pb2_grpc.PlaylistsStub(channel)
            playlist = stub.CreatePlaylist(pb.CreatePlaylistRequest(name="Last dance", track_ids=[
                "bach-bwv1067-badinerie", "bach-bwv1068-air", "bach-bwv1047-3"]), metadata=alice, timeout=10)
            stream = stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist.id, ms_per_second=2), metadata=alice)
            assert next(stream).position == 1  # 560 s of music at 2 ms a second: 1.1 s, within the grace
            server.process.send_signal(sig)
            assert new_calls_are_refused(stub, alice)
            assert [m.position for m in stream] == [2, 3]
            assert stream.code() == CODE.OK
        assert server.process.wait(timeout=10) == 0
    finally:
        server.stop()


def new_calls_are_refused(stub, metadata, timeout: float = 5) -> bool:
    """Call until the server, no longer listening, is UNAVAILABLE. A call that raced the
    start of the shutdown on the open connection is CANCELLED by grpc's core instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stub.WhoAmI(pb.WhoAmIRequest(), metadata=metadata, timeout=1)
        except grpc.RpcError as error:
            if error.code() == CODE.UNAVAILABLE:
                return True
            assert error.code() == CODE.CANCELLED, error
    return False
