"""The Postman collection: generated from the contracts (and up to date with them), and run
green by newman, Postman's command-line runner, against real servers."""
import json
import os
import subprocess
import sys

import pytest

from clients.postman import __main__ as postman

from serve.launch import ROOT
from .test_interop import INTEROP, need_node_package


def test_the_collection_is_the_one_the_contracts_make(tmp_path):
    made = tmp_path / "collection.json"
    done = subprocess.run([sys.executable, "-m", "clients.postman", "--out", str(made)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert made.read_text() == postman.COLLECTION.read_text(), "run `python -m clients.postman` and commit"


def test_every_operation_of_both_contracts_is_a_request_with_tests():
    collection = json.loads(postman.COLLECTION.read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    rest, soap = collection["item"]
    spec = json.loads(postman.OPENAPI.read_text())
    ids = {op["operationId"] for ops in spec["paths"].values() for op in ops.values()
           if isinstance(op, dict) and not postman.LEFT_OUT_TAGS & set(op.get("tags", ()))}
    assert {item["name"].rsplit("(", 1)[1].rstrip(")") for item in rest["item"]} == ids
    assert {item["name"].rsplit(" ", 1)[1] for item in soap["item"]} == set(postman.SOAP_FLOW)
    for item in rest["item"] + soap["item"]:
        assert any("pm.test(" in line for line in item["event"][0]["script"]["exec"]), item["name"]
    assert "{{password}}" in json.dumps(soap) and "{{api_key}}" in json.dumps(rest)


def test_the_environment_holds_the_addresses_and_the_secrets(home, credentials, tmp_path):
    path = tmp_path / "environment.json"
    done = subprocess.run([sys.executable, "-m", "clients.postman", "--environment", "--out", str(path)], cwd=ROOT,
                          env={**os.environ, "PLAYLISTS_HOME": str(home), "PLAYLISTS_REST_PORT": "18080"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    values = {v["key"]: v["value"] for v in json.loads(path.read_text())["values"]}
    alice = credentials["users"]["alice"]
    assert values["rest_url"] == "http://127.0.0.1:18080" and values["soap_url"].endswith("/soap")
    assert (values["api_key"], values["username"], values["password"]) == (alice["api_key"], "alice",
                                                                           alice["password"])


def newman(home, rest_server, soap_server, tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    """newman run, with the environment `make setup` writes, moved to the test servers."""
    need_node_package("newman")
    environment = tmp_path / "environment.json"
    subprocess.run([sys.executable, "-m", "clients.postman", "--environment", "--out", str(environment)], cwd=ROOT,
                   env={**os.environ, "PLAYLISTS_HOME": str(home)}, check=True, timeout=60)
    variables = [f"rest_url=http://127.0.0.1:{rest_server.port}", f"soap_url=http://127.0.0.1:{soap_server.port}/soap",
                 *overrides]
    return subprocess.run([str(INTEROP / "node_modules" / ".bin" / "newman"), "run", str(postman.COLLECTION), "-e",
                           str(environment), *(f"--env-var={v}" for v in variables), "--reporters", "cli",
                           "--color", "off"], cwd=INTEROP, capture_output=True, text=True, timeout=300)


def test_newman_runs_the_collection_green(home, rest_server, soap_server, tmp_path):
    done = newman(home, rest_server, soap_server, tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert "│              assertions │" in done.stdout and "AssertionError" not in done.stdout


@pytest.mark.parametrize("key", ["api_key", "password"])
def test_a_wrong_secret_turns_newman_red(key, home, rest_server, soap_server, tmp_path):
    """The tests in the requests can fail: with a wrong secret the run is red."""
    done = newman(home, rest_server, soap_server, tmp_path, f"{key}=wrong")
    assert done.returncode == 1 and "AssertionError" in done.stdout, done.stdout[-4000:]
