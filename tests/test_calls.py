"""clients/calls.py: the one place where a call is spelled per protocol, and kept the only one."""
import ast
import inspect
import re

import requests
from playlist.v1 import playlist_pb2 as pb

from clients import calls
from serve.launch import ROOT

# Where the attacks, the soak and the cross-protocol tests live: they call through clients/calls.py.
CALLERS = [*sorted((ROOT / "clients" / "attacks").glob("*.py")), *sorted((ROOT / "soak").glob("*.py")),
           *(ROOT / "tests" / f"test_{name}.py" for name in ("security", "concurrency", "fuzz", "crash"))]
# What spelling a call by hand looks like.
BY_HAND = {"a gRPC channel or stub": r"(insecure|secure)_channel\(|PlaylistsStub\(",
           "an HTTP request": r"\.(post|put|patch|delete|request)\(",
           "a SOAP envelope": r"Envelope",
           "a credential": r"(?i)x-api-key|UsernameToken|[\"']authorization[\"']|Bearer "}
# Where it is done on purpose, and why.
ALLOWED = {
    ("attacks/common.py", "a credential"): "how a credential is shown on the projector, not sent",
    ("attacks/xxe.py", "a SOAP envelope"): "the attack is an envelope no client would write: it has a DTD",
    ("test_fuzz.py", "an HTTP request"): "fuzzing sends by hand what no client would",
    ("test_fuzz.py", "a SOAP envelope"): "fuzzing mutates envelopes, and reads the answers strictly",
    ("test_fuzz.py", "a credential"): "fuzzing sends by hand what no client would",
    ("test_crash.py", "a credential"): "half a request over a raw socket, the rest after SIGTERM",
}


def test_every_unary_rpc_of_the_contract_is_an_operation_of_the_table():
    rpcs = {m.name for m in pb.DESCRIPTOR.services_by_name["Playlists"].methods
            if not m.client_streaming and not m.server_streaming}
    assert len(calls.OPERATIONS) == 13 and {"who_am_i", "update_playlist", "echo"} <= set(calls.OPERATIONS)
    spelled = {name: operation(**sample_arguments(operation)) for name, operation in calls.OPERATIONS.items()}
    assert {s.grpc[0] for s in spelled.values()} == rpcs
    for name, each in spelled.items():
        assert each.soap[0] == each.grpc[0]   # SOAP and gRPC name an operation alike
        assert re.sub(r"(?<!^)([A-Z])", r"_\1", each.grpc[0]).lower() == name   # and the core's name is its snake_case
        each.grpc[1](**each.grpc[2])   # the fields are the message's


def sample_arguments(operation) -> dict:
    """A value for each argument the operation requires."""
    required = [p.name for p in inspect.signature(operation).parameters.values() if p.default is p.empty]
    return {name: 1 if name in ("version", "position", "duration_minutes") else "x" for name in required}


def test_a_credential_travels_in_each_protocols_own_idiom():
    key, password, token = calls.key("pk_1"), calls.basic("alice", "s3cret"), calls.bearer("t0ken")
    assert calls.http_headers(key) == {"X-API-Key": "pk_1"}
    assert calls.http_headers(password) == {"Authorization": "Basic YWxpY2U6czNjcmV0"}
    assert calls.grpc_metadata(token) == [("authorization", "Bearer t0ken")]   # metadata keys are lower case
    assert calls.http_headers(calls.mtls("ca", "cert", "key")) == {}   # the TLS handshake carries it
    envelope = calls.envelope("WhoAmI", {}, password)
    assert b"<wsse:Username>alice</wsse:Username>" in envelope and b'mustUnderstand="1"' in envelope
    assert b"<p:ApiKey>pk_1</p:ApiKey>" in calls.envelope("WhoAmI", {}, key)


def response(status: int, content_type: str, body: bytes, **headers) -> requests.Response:
    made = requests.Response()
    made.status_code, made._content = status, body
    made.headers.update({"Content-Type": content_type, **headers})
    return made


FAULT = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
         b"<faultcode>s:Client.RateLimited</faultcode><faultstring>slow down</faultstring>"
         b"<detail><retry_after>7</retry_after></detail></s:Fault></s:Body></s:Envelope>")


def test_one_answer_whatever_the_protocol_said():
    limited = calls.from_rest(response(429, "application/problem+json", b'{"status": 429, "detail": "slow down"}',
                                       **{"Retry-After": "7"}))
    fault = calls.from_soap(response(500, "text/xml; charset=utf-8", FAULT))
    for answer in (limited, fault):
        assert (answer.kind, answer.detail, answer.retry_after, answer.broken) == ("rate_limited", "slow down", 7, "")
    assert (limited.status, limited.http, fault.status, fault.http) == ("429", 429, "Client.RateLimited", 500)
    # What breaks the protocol's own rules is said, not hidden.
    assert calls.from_soap(response(200, "text/xml", FAULT)).broken == "a Fault with HTTP 200"
    assert calls.from_rest(response(400, "text/html", b"<p>no</p>")).broken == "HTTP 400 as text/html"


def test_calls_knows_only_the_wire_and_the_contracts():
    tree = ast.parse((ROOT / "clients" / "calls.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & {"core", "rest", "soap", "rpc", "serve", "screen", "tests"}


def test_only_clients_calls_spells_a_call_by_hand():
    found = set()
    for path in CALLERS:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for what, pattern in BY_HAND.items():
                if re.search(pattern, line) and not line.lstrip().startswith("#"):
                    found.add((f"{path.parent.name}/{path.name}" if path.parent.name == "attacks" else path.name, what))
    assert found - set(ALLOWED) == set(), "call through clients/calls.py, or add it to ALLOWED with a reason"
    assert set(ALLOWED) - found == set(), "an exception nothing needs any more"
