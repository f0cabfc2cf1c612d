"""Fixtures: a fresh $PLAYLISTS_HOME per module and real servers on free loopback ports; and
`eventually`, how a test waits for what a server does a moment after it answers."""
import json
import os
import time

import pytest

from clients.calls import Endpoints
from core.config import load_settings
from core.setup import setup
from serve.launch import Server

# Tests make many calls quickly; the rate limit itself is tested with its own low setting.
TEST_ENV = {"PLAYLISTS_RATE_LIMIT": "100000/minute"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home")
    setup(load_settings({**os.environ, "PLAYLISTS_HOME": str(path), **TEST_ENV}))
    return path


@pytest.fixture(scope="module")
def credentials(home):
    return json.loads((home / "credentials.json").read_text())


@pytest.fixture(scope="module")
def service(home):
    from core import PlaylistService
    return PlaylistService(load_settings({"PLAYLISTS_HOME": str(home), **TEST_ENV}))


def endpoints(servers: dict) -> Endpoints:
    """The three servers of {"rest": …, "soap": …, "grpc": …}, to call through clients/calls.py."""
    rest, soap, rpc = servers["rest"], servers["soap"], servers["grpc"]
    return Endpoints(f"http://127.0.0.1:{rest.port}", f"http://127.0.0.1:{soap.port}/soap", f"127.0.0.1:{rpc.port}",
                     f"https://127.0.0.1:{rest.tls_port}", f"https://127.0.0.1:{soap.tls_port}/soap",
                     f"127.0.0.1:{rpc.tls_port}")


def _server(kind, home):
    server = Server(kind, home, TEST_ENV)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rest_server(home):
    yield from _server("rest", home)


@pytest.fixture(scope="module")
def soap_server(home):
    yield from _server("soap", home)


@pytest.fixture(scope="module")
def rpc_server(home):
    yield from _server("rpc", home)


@pytest.fixture(scope="module")
def channel(rpc_server):
    """A plain gRPC channel to the module's server, connected before the first call."""
    import grpc
    with grpc.insecure_channel(f"127.0.0.1:{rpc_server.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel


@pytest.fixture(scope="module")
def stub(channel):
    from playlist.v1 import playlist_pb2_grpc
    return playlist_pb2_grpc.PlaylistsStub(channel)


def eventually(condition, timeout: float = 10.0) -> bool:
    """Poll a condition until it holds (True) or the time is up (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
