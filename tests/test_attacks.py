"""`python -m clients.attacks`: every attack is stopped by the three servers, and each one is
seen getting through when its defence is switched off (so the scripts can tell the two apart)."""
import ast
import os
import subprocess
import sys

import pytest

from clients import attacks
from clients.attacks import __main__ as attacks_main
from clients.attacks import common
from core.config import load_settings
from core.setup import setup
from serve.launch import ROOT, Server, free_port

ATTACKS_FOLDER = ROOT / "clients" / "attacks"


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("attacks")
    setup(load_settings({**os.environ, "PLAYLISTS_HOME": str(home)}))
    return home


def run_attacks(home, env: dict, *arguments: str, client_home=None) -> subprocess.CompletedProcess:
    """Start the three servers on `home` with `env`, run `python -m clients.attacks` against them
    (with the secrets of `client_home`, by default the servers' own)."""
    servers = []
    try:
        for kind in ("rest", "soap", "rpc"):
            servers.append(Server(kind, home, env, tls=False))
        rest, soap, rpc = servers
        return subprocess.run(
            [sys.executable, "-m", "clients.attacks", *arguments, "--rest", f"http://127.0.0.1:{rest.port}",
             "--soap", f"http://127.0.0.1:{soap.port}/soap", "--grpc", f"127.0.0.1:{rpc.port}", "--wait", "10"],
            cwd=ROOT, env={**os.environ, "PLAYLISTS_HOME": str(client_home or home)}, capture_output=True, text=True,
            timeout=300)
    finally:
        for server in servers:
            server.stop()


def summary(output: str) -> dict:
    """attack name -> its word in the summary: STOPPED, GOT THROUGH or NOT SHOWN."""
    rows = [row.split(maxsplit=1) for row in output.partition("━━ summary")[2].splitlines()[1:] if row.strip()]
    return {name: next(w for w in ("STOPPED", "GOT THROUGH", "NOT SHOWN") if rest.startswith(w))
            for name, rest in rows if name in attacks.ORDER}


def test_every_attack_is_stopped(fresh_home):
    done = run_attacks(fresh_home, {"PLAYLISTS_RATE_LIMIT": "30/minute", "PLAYLISTS_TOKEN_SECONDS": "2"}, "all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout) == {name: "STOPPED" for name in attacks.ORDER}
    # Each attack ends with its own STOPPED line, saying what stopped it.
    assert done.stdout.count("\n   STOPPED  ") == len(attacks.ORDER)
    assert f"{len(attacks.ORDER)} of {len(attacks.ORDER)} attacks stopped" in done.stdout
    assert "one rate limit (30/minute) for the three servers" in done.stdout


def test_with_the_defences_switched_off_their_attacks_get_through(tmp_path):
    setup(load_settings({**os.environ, "PLAYLISTS_HOME": str(tmp_path)}))
    # Tokens live the default 600 s here: the expired-token attack says it cannot wait that long.
    done = run_attacks(tmp_path, {"PLAYLISTS_UNSAFE": "bola,ratelimit,lockout,scan"}, "all", "--max-calls", "30")
    assert done.returncode == 1, done.stdout + done.stderr
    assert summary(done.stdout) == {"guessed_key": "STOPPED", "expired_token": "NOT SHOWN", "bola": "GOT THROUGH",
                                    "brute_force": "GOT THROUGH", "sensitive_data": "GOT THROUGH", "xxe": "STOPPED",
                                    "slowloris": "STOPPED", "stream_hog": "STOPPED", "lockout_abuse": "STOPPED",
                                    "flood": "GOT THROUGH"}
    assert "This server's tokens live 600 s" in done.stdout


def test_one_attack_by_name_and_by_module(fresh_home):
    done = run_attacks(fresh_home, {}, "xxe")
    assert done.returncode == 0 and "━━ XXE" in done.stdout and "\n   STOPPED  " in done.stdout
    assert "━━ summary" not in done.stdout and "root:" not in done.stdout


@pytest.mark.parametrize("name", [None, *attacks.ORDER])
def test_every_entry_point_explains_itself(name, capsys):
    with pytest.raises(SystemExit) as done:
        if name is None:
            attacks_main.main(["--help"])
        else:
            common.run_one(__import__(f"clients.attacks.{name}", fromlist=["run"]), ["--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: .venv/bin/python -m clients.attacks") and "--rest" in shown and "--wait" in shown


def test_the_attacks_know_only_the_wire_and_the_contracts():
    allowed = {"argparse", "base64", "collections", "dataclasses", "http", "importlib", "json", "secrets", "socket",
               "sys", "textwrap", "time", "urllib", "grpc", "requests", "lxml", "google", "grpc_status", "playlist"}
    for path in ATTACKS_FOLDER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue   # relative imports stay inside clients/
            assert {n.split(".")[0] for n in names} <= allowed, (path.name, names)



# --- make attacks beside servers already running --------------------------------------------------------

def running(servers: list, *, home) -> subprocess.CompletedProcess:
    """`python -m clients.attacks --running` against three addresses; None is a port nobody listens on."""
    ports = [server.port if server else free_port() for server in servers]
    return subprocess.run([sys.executable, "-m", "clients.attacks", "--running",
                           "--rest", f"http://127.0.0.1:{ports[0]}", "--soap", f"http://127.0.0.1:{ports[1]}/soap",
                           "--grpc", f"127.0.0.1:{ports[2]}"],
                          cwd=ROOT, env={**os.environ, "PLAYLISTS_HOME": str(home)}, capture_output=True, text=True,
                          timeout=60)


def test_make_attacks_attacks_the_servers_running_stops_beside_some_and_starts_its_own_beside_none(fresh_home):
    servers = [Server(kind, fresh_home, {}, tls=False) for kind in ("rest", "soap", "rpc")]
    try:
        every = running(servers, home=fresh_home)
        assert every.returncode == 0 and "already running" in every.stdout, every.stdout + every.stderr
        assert "so the attacks go to them" in every.stdout and str(fresh_home / "credentials.json") in every.stdout
        some = running([servers[0], None, None], home=fresh_home)
        assert some.returncode == 2 and len(some.stdout.strip().splitlines()) == 1, some.stdout
        assert f"127.0.0.1:{servers[0].port} is taken" in some.stdout and "stop what runs there" in some.stdout
    finally:
        for server in servers:
            server.stop()
    assert running([None, None, None], home=fresh_home).returncode == 3


def test_servers_of_another_home_are_named_as_such(fresh_home, tmp_path):
    setup(load_settings({**os.environ, "PLAYLISTS_HOME": str(tmp_path)}))
    done = run_attacks(fresh_home, {}, "xxe", client_home=tmp_path)
    assert done.returncode == 1 and "they were started with another home" in done.stderr, done.stdout + done.stderr
