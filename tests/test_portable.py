"""Runs on an attendee's laptop as it is: Spyne on Python 3.11-3.13, ports moved by one set of
variables, and a server that cannot start says why on the terminal, at once."""
import ast
import os
import socket
import subprocess
import sys
import time

import pytest

from clients import addresses
from core import config
from serve.launch import ROOT, free_port

PORT_NAMES = ("REST", "REST_TLS", "SOAP", "SOAP_TLS", "GRPC", "GRPC_TLS")


def python(code: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=env)


# --- Spyne 2.14 on Python 3.12 and later: soap/compat.py ------------------------------------------

def test_spyne_needs_the_shim_from_python_3_12_and_works_with_it():
    bare = python("import spyne")
    if sys.version_info >= (3, 12):
        # Still needed: when a Spyne release imports here by itself, soap/compat.py can go.
        assert bare.returncode != 0 and "spyne.util.six.moves" in bare.stderr, bare.stderr
    else:
        assert bare.returncode == 0, bare.stderr
    served = python("from soap.app import wsdl_document; print(len(wsdl_document('http://x/soap')))")
    assert served.returncode == 0 and int(served.stdout) > 10_000, served.stderr


def imported_modules(path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_every_module_that_imports_spyne_installs_the_shim_first():
    package = ast.parse((ROOT / "soap" / "__init__.py").read_text())
    first = next(node for node in package.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    assert ast.unparse(first) == "from . import compat"
    folders = [f for f in ROOT.iterdir() if f.is_dir() and not f.name.startswith(".")
               and f.name not in ("gen", "interop", "tests")]   # not a venv, the stubs or node's packages
    sources = [path for folder in folders for path in folder.rglob("*.py")]
    checked = 0
    for path in sources:
        names = imported_modules(path)
        spyne_at = next((i for i, n in enumerate(names) if n.split(".")[0] == "spyne"), None)
        if spyne_at is None or path.parent.name == "soap":
            continue   # soap/'s modules are imported as soap.x: soap/__init__.py runs first
        assert "soap.compat" in names[:spyne_at], f"{path.relative_to(ROOT)} imports Spyne before soap.compat"
        checked += 1
    assert checked >= 2   # bench's bare SOAP app and its serialization probe


# --- the addresses: one set of variables, read once on each side of the wire ----------------------

def test_the_clients_and_the_servers_read_the_same_defaults_and_variables(monkeypatch):
    assert addresses.DEFAULT_HOST == config.DEFAULT_HOST and addresses.DEFAULT_PORTS == config.DEFAULT_PORTS
    assert tuple(config.DEFAULT_PORTS) == PORT_NAMES
    for number, name in enumerate(PORT_NAMES):
        monkeypatch.setenv(f"PLAYLISTS_{name}_PORT", str(18100 + number))
    monkeypatch.setenv("PLAYLISTS_HOST", "::1")
    assert [addresses.port(n) for n in PORT_NAMES] == [config.port(n) for n in PORT_NAMES] == list(range(18100, 18106))
    assert addresses.soap_url() == config.soap_url() == "http://[::1]:18102/soap"
    assert addresses.grpc_address() == config.grpc_address() == "[::1]:18104"
    assert addresses.rest_url(tls=True) == "https://[::1]:18101"
    assert addresses.token_url() == "http://[::1]:18100/oauth/token"


def test_texts_naming_the_default_addresses_name_the_moved_ones():
    moved = {"PLAYLISTS_REST_PORT": "8081", "PLAYLISTS_SOAP_PORT": "9081", "PLAYLISTS_GRPC_TLS_PORT": "9052"}
    text = "curl http://127.0.0.1:8080/v1/me; SOAP at http://127.0.0.1:8081/soap; gRPC 127.0.0.1:50052, not :80800"
    assert config.moved(text, moved) == ("curl http://127.0.0.1:8081/v1/me; SOAP at http://127.0.0.1:9081/soap; "
                                         "gRPC 127.0.0.1:9052, not :80800")
    with pytest.raises(ValueError, match="PLAYLISTS_GRPC_PORT"):
        config.port("GRPC", {"PLAYLISTS_GRPC_PORT": "50o51"})


# --- python -m serve: moved together, or a plain sentence at once ---------------------------------

def moved_ports(home) -> dict:
    return {**os.environ, "PLAYLISTS_HOME": str(home), "PLAYLISTS_RATE_LIMIT": "100000/minute",
            **{f"PLAYLISTS_{name}_PORT": str(free_port()) for name in PORT_NAMES}}


def serve(env, *args, timeout=120) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "serve", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return done, time.monotonic() - started


def test_the_demo_runs_on_the_ports_the_variables_name(home):
    env = moved_ports(home)
    done, _ = serve(env, "--demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"start here: http://127.0.0.1:{env['PLAYLISTS_REST_PORT']}/" in done.stdout
    assert f"(mutual TLS: {env['PLAYLISTS_REST_TLS_PORT']}, {env['PLAYLISTS_SOAP_TLS_PORT']}, " \
           f"{env['PLAYLISTS_GRPC_TLS_PORT']})" in done.stdout
    assert "serve: all servers stopped" in done.stdout


def test_a_busy_port_is_named_with_the_variable_that_moves_it(home):
    env = moved_ports(home)
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", int(env["PLAYLISTS_GRPC_TLS_PORT"])))
        other_program.listen()
        done, seconds = serve(env)
    port = env["PLAYLISTS_GRPC_TLS_PORT"]
    assert done.returncode != 0 and seconds < 10
    assert done.stderr.strip().splitlines()[-1] == \
        f"serve: port {port} is in use by another program: free it or set PLAYLISTS_GRPC_TLS_PORT"


def test_a_server_that_cannot_start_shows_its_last_lines_and_stops_them_all(home):
    env = {**moved_ports(home), "PLAYLISTS_RATE_LIMIT": "many"}
    done, seconds = serve(env)
    assert done.returncode != 0 and seconds < 10
    said = done.stderr.strip().splitlines()
    assert "did not start. Its last lines:" in done.stderr
    assert said[-1].startswith("serve: ") and "PLAYLISTS_RATE_LIMIT must look like 600/minute" in said[-1]
    assert "serve: all servers stopped" in done.stdout
