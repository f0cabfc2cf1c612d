"""The service's defences, each one attacked over the wire, on every protocol it applies to.

The REST, SOAP and gRPC servers run as separate processes on ONE $PLAYLISTS_HOME: one
database, so one set of rate counters and lockouts, as in production. A test performs
the attack and checks the defence's answer; where a defence can be switched off for
teaching, a test also shows the attack succeeding without it.

Proved elsewhere, and so not repeated here:
  tests/test_rpc.py           gRPC: every playlist operation of bob's is NOT_FOUND, word for word, and his
                              list leaves alice's out; a message over 64 KiB; 100 tracks at most; page_size > 50
  tests/test_rpc_streams.py   gRPC: MoodRadio ends after 200 messages
  tests/test_rpc_security.py  gRPC: a wrong key, a wrong password and an unknown user get one refusal; a read-only
                              token cannot create; a token from REST works; alice's certificate is alice; no
                              certificate, no handshake
  tests/test_soap.py          SOAP: bob's GetPlaylist; a token from REST works; a read-only token cannot create;
                              alice's certificate; no certificate; 100 tracks at most
  tests/test_soap_hostile.py  SOAP: external entities, entity expansion, 20 MB bodies
  tests/test_rest.py          REST: a 2 MB body is 413; page_size > 50; a read-only token cannot create;
                              alice's certificate; no certificate
  tests/test_core.py          the same rules, in process
"""
import base64
import datetime
import json
import os
import secrets
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import replace

import grpc
import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from playlist.v1 import playlist_pb2 as pb

from clients import calls
from clients.calls import Answer, envelope
from core import limits
from core.config import load_settings
from core.setup import setup
from rpc.server import DEFAULT_WORKERS
from serve.launch import ROOT, Server, free_port

from .conftest import TEST_ENV, endpoints, eventually

PROTOCOLS = calls.PROTOCOLS
TRACK = "bach-bwv1007-prelude"
AUDIENCE = "tri-protocol-playlists"
BAD_CREDENTIALS = "invalid or missing credentials"   # the one refusal, whatever was wrong
WITHHELD = b"[withheld: sensitive data]"

# One core error, three answers (the README's "Errors: one core error, three encodings").
EXPECTED = {
    "ok": {"rest": "200", "soap": "200", "grpc": "OK"},
    "invalid": {"rest": "400", "soap": "Client.InvalidArgument", "grpc": "INVALID_ARGUMENT"},
    "unauthenticated": {"rest": "401", "soap": "Client.Unauthenticated", "grpc": "UNAUTHENTICATED"},
    "forbidden": {"rest": "403", "soap": "Client.Forbidden", "grpc": "PERMISSION_DENIED"},
    "not_found": {"rest": "404", "soap": "Client.NotFound", "grpc": "NOT_FOUND"},
    "too_large": {"rest": "413", "soap": "Client.TooLarge", "grpc": "RESOURCE_EXHAUSTED"},
    "rate_limited": {"rest": "429", "soap": "Client.RateLimited", "grpc": "RESOURCE_EXHAUSTED"},
}


# --- the three servers, called through clients/calls.py -------------------------------------

def sample(operation: str, pid: str = "pl_missing", name: str = "Mine now", track_ids=(TRACK,)) -> dict:
    """Arguments for every operation, aimed at one playlist."""
    return {"who_am_i": {}, "list_moods": {}, "search_tracks": {"mood": "calm", "page_size": 5},
            "get_track": {"track_id": TRACK}, "create_playlist": {"name": name, "track_ids": list(track_ids)},
            "generate_playlist": {"mood": "calm", "duration_minutes": 10}, "get_playlist": {"playlist_id": pid},
            "list_playlists": {"page_size": 50},
            "update_playlist": {"playlist_id": pid, "version": 1, "name": name},
            "add_track": {"playlist_id": pid, "track_id": TRACK}, "remove_track": {"playlist_id": pid, "position": 1},
            "echo": {"message": "hello"}, "delete_playlist": {"playlist_id": pid}}[operation]


PLAYLIST_OPERATIONS = ("get_playlist", "update_playlist", "add_track", "remove_track", "delete_playlist")
READS = ("who_am_i", "list_moods", "search_tracks", "get_track", "get_playlist", "list_playlists", "echo")
WRITES = ("create_playlist", "generate_playlist", "update_playlist", "add_track", "remove_track", "delete_playlist")


class Wire:
    """Three servers, the demo users' credentials for them, and every operation's sample call."""

    def __init__(self, servers: dict, home, credentials: dict):
        self.servers, self.home, self.credentials = servers, home, credentials
        self.endpoints = endpoints(servers)

    def key(self, user: str):
        return calls.key(self.credentials["users"][user]["api_key"])

    def password(self, user: str):
        return calls.basic(user, self.credentials["users"][user]["password"])

    def token(self, user: str, scope: str = "") -> str:
        """An OAuth 2.0 access token from the REST server (client-credentials grant)."""
        secrets_ = self.credentials["users"][user]
        answer = self.endpoints.token(secrets_["client_id"], secrets_["client_secret"], scope)
        assert answer.status == "200", answer.raw
        return answer.data["access_token"]

    def tls_files(self, user: str) -> tuple[str, str, str]:
        """The CA, and the user's client certificate and key."""
        tls = self.credentials["tls"]
        mine = tls["clients"][user]
        return str(self.home / tls["ca"]), str(self.home / mine["cert"]), str(self.home / mine["key"])

    def mtls(self, user: str):
        return calls.mtls(*self.tls_files(user))

    def call(self, protocol: str, credential, operation: str, **arguments) -> Answer:
        return self.endpoints.call(protocol, operation, credential, **sample(operation, **arguments))

    def close(self) -> None:
        self.endpoints.close()


def new_playlist(wire: Wire, user: str = "alice", name: str = "Mine") -> str:
    created = wire.call("rest", wire.key(user), "create_playlist", name=name)
    assert created.status == "201", created.detail
    return created.playlist_id()


@contextmanager
def three_servers(home, env: dict, tls: bool = False):
    started = {}
    try:
        for protocol, kind in zip(PROTOCOLS, ("rest", "soap", "rpc")):
            started[protocol] = Server(kind, home, env, tls=tls)
        yield started
    finally:
        for server in started.values():
            server.stop()


def a_fresh_window(seconds_needed: float = 20, window: int = 60) -> None:
    """Wait, if need be, until the rate limiter's current window (core/limits.py counts calls
    in fixed windows that start on the minute) has room for the whole test."""
    assert eventually(lambda: window - time.time() % window >= seconds_needed, timeout=seconds_needed + 1)


def journal(home) -> str:
    return (home / "events.jsonl").read_text()


# --- the servers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def main(rest_server, soap_server, rpc_server, home, credentials):
    """The three servers of the module's home, with every defence on."""
    wire = Wire({"rest": rest_server, "soap": soap_server, "grpc": rpc_server}, home, credentials)
    yield wire
    wire.close()


@pytest.fixture(scope="module")
def unsafe(home, credentials):
    """Three more servers on the same home, with the switchable defences off (loopback only)."""
    with three_servers(home, {**TEST_ENV, "PLAYLISTS_UNSAFE": "bola,lockout,scan"}) as servers:
        wire = Wire(servers, home, credentials)
        yield wire
        wire.close()


def forget_failed_logins(home) -> None:
    with closing(sqlite3.connect(home / "playlists.sqlite3", timeout=10)) as db, db:
        db.execute("DELETE FROM auth_failures")


@pytest.fixture(autouse=True)
def no_failed_logins_on_record(home):
    """Each test starts as a fresh deployment would, with no failed logins remembered: the
    failures one test makes on purpose would otherwise lock the next test's address out."""
    forget_failed_logins(home)


# --- the teaching switches ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rest", "soap", "rpc"])
def test_a_defence_cannot_be_switched_off_on_a_public_address(home, kind):
    process = subprocess.Popen(
        [sys.executable, "-m", kind, "--host", "0.0.0.0", "--port", str(free_port()), "--tls-port", "0"], cwd=ROOT,
        env={**os.environ, "PLAYLISTS_HOME": str(home), "PLAYLISTS_UNSAFE": "bola"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"python -m {kind} served 0.0.0.0 with a defence switched off")
    assert process.returncode != 0
    assert "PLAYLISTS_UNSAFE is only allowed when every listener binds loopback" in err.decode()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_what_is_switched_off_is_announced_at_start_and_on_every_call(unsafe, protocol):
    server = unsafe.servers[protocol]
    assert eventually(lambda: "UNSAFE: defences switched off for teaching: bola,lockout,scan" in server.output())
    assert unsafe.call(protocol, unsafe.key("alice"), "list_moods").ok
    assert eventually(lambda: any("list_moods" in line and line.endswith("[UNSAFE: bola,lockout,scan off]")
                                  for line in server.output().splitlines()))


# --- broken object-level authorization ---------------------------------------------------------------

def without(answer: Answer, playlist_id: str) -> tuple:
    """An answer with the playlist's id taken out, to compare it with another's."""
    def blank(text):
        return text.replace(playlist_id, "<id>")
    return (answer.status, blank(answer.detail), answer.raw.replace(playlist_id.encode(), b"<id>"),
            {k: blank(v) for k, v in answer.headers.items()})


@pytest.mark.parametrize("protocol, operation", [
    *[("rest", operation) for operation in PLAYLIST_OPERATIONS],
    *[("soap", operation) for operation in PLAYLIST_OPERATIONS if operation != "get_playlist"],
])   # SOAP's GetPlaylist: tests/test_soap.py; gRPC, every operation: tests/test_rpc.py
def test_bob_gets_for_alices_playlist_exactly_what_a_missing_one_gets(main, protocol, operation):
    alices = new_playlist(main, "alice")
    missing = "pl_" + secrets.token_urlsafe(9)   # as long as a real id: even the lengths must match
    attack = main.call(protocol, main.key("bob"), operation, pid=alices)
    probe = main.call(protocol, main.key("bob"), operation, pid=missing)
    assert attack.status == EXPECTED["not_found"][protocol]
    assert without(attack, alices) == without(probe, missing)
    untouched = main.call("rest", main.key("alice"), "get_playlist", pid=alices)
    assert untouched.data["version"] == 1 and len(untouched.data["tracks"]) == 1


@pytest.mark.parametrize("protocol", ["rest", "soap"])   # gRPC: tests/test_rpc.py
def test_bobs_list_shows_his_playlists_and_not_alices(main, protocol):
    alices, bobs = new_playlist(main, "alice"), new_playlist(main, "bob")
    listed = main.call(protocol, main.key("bob"), "list_playlists")
    assert bobs.encode() in listed.raw and alices.encode() not in listed.raw


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_with_bola_switched_off_bob_reads_alices_playlist(unsafe, protocol):
    alices = new_playlist(unsafe, "alice", name="Alice's secret list")
    stolen = unsafe.call(protocol, unsafe.key("bob"), "get_playlist", pid=alices)
    assert stolen.ok and b"Alice's secret list" in stolen.raw   # the attack works with the defence off


# --- broken authentication ----------------------------------------------------------------------------

def unsigned(claims: dict) -> str:
    """A JWT with "alg": "none" and no signature: it claims whatever it likes."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="module")
def expired_token(home, credentials):
    """A real token from a REST server whose tokens live one second, once that second is over."""
    server = Server("rest", home, {**TEST_ENV, "PLAYLISTS_TOKEN_SECONDS": "1"}, tls=False)
    try:
        alice = credentials["users"]["alice"]
        issued = calls.Endpoints(f"http://127.0.0.1:{server.port}").token(alice["client_id"],
                                                                         alice["client_secret"]).data
    finally:
        server.stop()
    assert issued["expires_in"] == 1
    # Everything about it is right but the time: its signature and its audience verify.
    claims = jwt.decode(issued["access_token"], (home / "keys" / "token-signing.key").read_bytes(),
                        algorithms=["HS256"], audience=AUDIENCE, options={"verify_exp": False})
    assert eventually(lambda: time.time() > claims["exp"])
    return issued["access_token"]


@pytest.fixture(scope="module")
def bad_credentials(home, expired_token):
    now = int(time.time())
    claims = {"sub": "alice", "aud": AUDIENCE, "iat": now, "exp": now + 600, "scope": "playlists:read playlists:write",
              "jti": secrets.token_hex(8)}
    signing_key = (home / "keys" / "token-signing.key").read_bytes()
    return {
        "wrong key": calls.key("pk_" + secrets.token_urlsafe(24)),
        "wrong password": calls.basic("alice", "not-her-password"),
        "unknown user": calls.basic("mallory", "not-her-password"),
        "forged token": calls.bearer(jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256")),
        "expired token": calls.bearer(expired_token),
        "alg none token": calls.bearer(unsigned(claims)),
        "wrong audience": calls.bearer(jwt.encode({**claims, "aud": "another-service"}, signing_key,
                                                  algorithm="HS256")),
    }


COVERED_ON_GRPC = {"wrong key", "wrong password", "unknown user"}   # tests/test_rpc_security.py


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_bad_credential_gets_the_same_refusal_byte_for_byte(main, bad_credentials, protocol):
    answers = {name: main.call(protocol, credential, "who_am_i") for name, credential in bad_credentials.items()
               if not (protocol == "grpc" and name in COVERED_ON_GRPC)}
    for name, answer in answers.items():
        assert (answer.status, answer.detail) == (EXPECTED["unauthenticated"][protocol], BAD_CREDENTIALS), name
    # Nothing tells a known user from an unknown one, nor a forged token from an expired one.
    assert len({(a.raw, tuple(sorted(a.headers.items()))) for a in answers.values()}) == 1


def after_failures(main: Wire, failures: list, then) -> Answer:
    """Make the failed logins, then the call `then`, and return its answer.

    The first lock lasts one second from the last failure. A call answered within a second
    of sending that failure was checked while the lock held, whatever the load; one let in
    after longer (on a machine so loaded that calls take seconds) proves nothing: run again."""
    for _ in range(3):
        forget_failed_logins(main.home)
        for protocol, credential in failures[:-1]:
            assert main.call(protocol, credential, "who_am_i").status == EXPECTED["unauthenticated"][protocol]
        sent = time.monotonic()
        protocol, credential = failures[-1]
        assert main.call(protocol, credential, "who_am_i").status == EXPECTED["unauthenticated"][protocol]
        answer = then()
        if not answer.ok or time.monotonic() - sent < 1:
            return answer
    pytest.skip("every round took over a second: the machine is too loaded to see a one-second lock")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_five_wrong_passwords_lock_the_user_out_even_for_the_right_one(main, protocol):
    wrong = [(protocol, calls.basic("bob", "guess"))] * limits.LOCKOUT_AFTER_FAILURES
    locked = after_failures(main, wrong, lambda: main.call(protocol, main.password("bob"), "who_am_i"))
    assert locked.status == EXPECTED["rate_limited"][protocol]
    assert locked.retry_after >= 1   # Retry-After, <retry_after> or RetryInfo: each protocol says when
    # The delay passes (one second after the fifth failure, doubling with each further one),
    # and then the right password gets in again.
    assert eventually(lambda: main.call(protocol, main.password("bob"), "who_am_i").ok)


@pytest.mark.parametrize("checked_on", PROTOCOLS)
def test_twenty_failures_from_one_address_lock_out_new_passwords_from_it_not_keys(main, checked_on):
    # A new name each time: no user is locked out, only the address adds up.
    strangers = [(PROTOCOLS[n % 3], calls.basic(f"stranger-{n}", "guess"))
                 for n in range(limits.SOURCE_LOCKOUT_AFTER_FAILURES)]
    refused = after_failures(main, strangers, lambda: main.call(checked_on, calls.basic("stranger-new", "guess"),
                                                                "who_am_i"))
    assert refused.status == EXPECTED["rate_limited"][checked_on] and refused.retry_after >= 1
    assert main.call(checked_on, main.key("alice"), "who_am_i").ok   # never refused for others' failures


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unknown_user_is_refused_as_slowly_as_a_known_one(unsafe, protocol):
    # Not a speed test: no time is compared with a fixed number. Both medians come from the
    # same server, interleaved, under the same load, so the machine's speed cancels out of
    # their ratio; what is left is whether the server does the same work for both. With the
    # dummy hash, an unknown user costs one scrypt (~30 ms) like a known one: a ratio near 1.
    # Without it, an unknown user would cost a database lookup (~1 ms) and the ratio would be
    # far below 0.5. The lockout is off on this server only because a locked user is refused
    # before any password check, which would leave nothing to time.
    times = {"known": [], "unknown": [], "no password check": []}
    attempts = {"known": calls.basic("alice", "wrong"), "unknown": calls.basic("nobody-here", "wrong"),
                "no password check": calls.key("pk_" + secrets.token_urlsafe(24))}
    for _ in range(10):
        for name, credential in attempts.items():
            started = time.perf_counter()
            assert unsafe.call(protocol, credential, "who_am_i").status == EXPECTED["unauthenticated"][protocol]
            times[name].append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{protocol}: median ms", {k: round(v * 1000, 1) for k, v in median.items()},
          "ratio", round(median["unknown"] / median["known"], 2))
    assert 0.5 <= median["unknown"] / median["known"] <= 2, median
    # The measurement can see a missing hash: a refusal with no password to check is quicker by far.
    assert median["known"] - median["no password check"] > 0.010, median


# --- scopes ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_read_only_token_from_rest_reads_but_writes_nothing(main, protocol):
    alices = new_playlist(main, "alice")
    reader = calls.bearer(main.token("alice", "playlists:read"))
    for operation in READS:
        assert main.call(protocol, reader, operation, pid=alices).ok, operation
    for operation in WRITES:
        refused = main.call(protocol, reader, operation, pid=alices)
        assert refused.status == EXPECTED["forbidden"][protocol], operation
        assert "playlists:write" in refused.detail
    assert main.call("rest", main.key("alice"), "get_playlist", pid=alices).data["version"] == 1


# --- mutual TLS ----------------------------------------------------------------------------------------------

def certificate(subject: str, key, signer, issuer: x509.Name | None = None, ca: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def impostors(tmp_path_factory) -> dict:
    """Client certificates that say "alice" but that the demo CA never issued."""
    folder = tmp_path_factory.mktemp("impostors")
    rogue_key, alice_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    rogue_ca = certificate("Rogue CA", rogue_key, rogue_key, ca=True)
    made = {"another CA": certificate("alice", alice_key, rogue_key, issuer=rogue_ca.subject),
            "self-signed": certificate("alice", alice_key, alice_key)}
    files = {}
    (folder / "alice.key").write_bytes(alice_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for name, cert in made.items():
        path = folder / f"{name.replace(' ', '-')}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[name] = (str(path), str(folder / "alice.key"))
    return files


def first_bytes_over_tls(port: int, ca: str, cert: str, key: str, request: bytes) -> bytes:
    """What the server answers a request sent with this client certificate; b"" when it ends the
    connection instead (TLS 1.3 reports a refused client certificate at the first read)."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(request)
                return tls.recv(12)
    except (ssl.SSLError, ConnectionError):
        return b""




@pytest.mark.parametrize("impostor", ["another CA", "self-signed"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_certificate_the_demo_ca_did_not_issue_is_refused_in_the_handshake(main, impostors, protocol, impostor):
    ca, alices_cert, alices_key = main.tls_files("alice")
    port = main.servers[protocol].tls_port
    if protocol == "grpc":
        impostor_credential = calls.mtls(ca, *impostors[impostor])
        assert main.endpoints.call("grpc", "who_am_i", impostor_credential).status == "UNAVAILABLE"   # no call made
        assert main.call("grpc", main.mtls("alice"), "who_am_i").data.name == "alice"
        return
    request = {"rest": b"GET /v1/me HTTP/1.1\r\n", "soap": b"GET /soap?wsdl HTTP/1.1\r\n"}[protocol]
    request += b"Host: localhost\r\nConnection: close\r\n\r\n"
    assert first_bytes_over_tls(port, ca, *impostors[impostor], request) == b""
    assert first_bytes_over_tls(port, ca, alices_cert, alices_key, request) == b"HTTP/1.1 200"


# --- floods: one budget, three servers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """Three servers on a home of their own, where each identity, and each address before
    authentication, may make ten calls a minute, whichever server it calls."""
    home = tmp_path_factory.mktemp("limited")
    env = {"PLAYLISTS_HOME": str(home), "PLAYLISTS_RATE_LIMIT": "10/minute"}
    setup(load_settings({**os.environ, **env}))
    with three_servers(home, env) as servers:
        wire = Wire(servers, home, json.loads((home / "credentials.json").read_text()))
        yield wire
        wire.close()


SPREAD = ["rest", "soap", "grpc"] * 3 + ["rest"]   # ten calls over three processes


def test_ten_calls_a_minute_spread_over_three_servers_and_the_eleventh_is_refused_on_each(limited):
    a_fresh_window()
    alice = limited.key("alice")
    assert all(limited.call(protocol, alice, "who_am_i").ok for protocol in SPREAD)
    refused = {protocol: limited.call(protocol, alice, "who_am_i") for protocol in PROTOCOLS}
    for protocol, answer in refused.items():
        assert answer.status == EXPECTED["rate_limited"][protocol] and 1 <= answer.retry_after <= 60
    headers = refused["rest"].headers
    assert headers["RateLimit-Policy"] == "10/minute" and headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Reset"] == headers["Retry-After"]
    assert limited.call("grpc", limited.key("bob"), "who_am_i").ok   # per identity: bob has his own ten


def test_calls_without_a_credential_are_limited_per_address(limited):
    a_fresh_window()
    answers = [limited.call(protocol, None, "who_am_i") for protocol in SPREAD]
    assert [a.status for a in answers] == [EXPECTED["unauthenticated"][p] for p in SPREAD]
    for protocol in PROTOCOLS:
        answer = limited.call(protocol, None, "who_am_i")
        assert answer.status == EXPECTED["rate_limited"][protocol] and answer.retry_after >= 1


def test_the_token_endpoint_is_rate_limited_too(limited):
    a_fresh_window()
    bob = limited.credentials["users"]["bob"]
    answers = [limited.endpoints.token(bob["client_id"], bob["client_secret"]) for _ in range(11)]
    assert answers[-1].status == "429" and answers[-1].retry_after >= 1


def test_failed_logins_are_forgotten_after_a_quiet_while(main):
    for attempt in range(limits.SOURCE_LOCKOUT_AFTER_FAILURES - 1):
        main.call("rest", calls.basic(f"stranger-{attempt}", "guess"), "who_am_i")
    # An hour goes by: the failures' time, the only time the database keeps of them, moves back.
    with closing(sqlite3.connect(main.home / "playlists.sqlite3", timeout=10)) as db, db:
        db.execute("UPDATE auth_failures SET locked_until = locked_until - 3600")
    assert main.call("rest", calls.basic("stranger-new", "guess"), "who_am_i").status == "401"
    assert main.call("rest", main.key("alice"), "who_am_i").ok   # one failure in the last hour locks nobody out


# --- sensitive data ---------------------------------------------------------------------------------------

SENSITIVE = [("card number", "4111 1111 1111 1111"),   # passes the Luhn check
             ("e-mail address", "alice@example.org"),
             ("key or token", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
             ("key or token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWhlcmU")]


def stored_names(home) -> list[str]:
    with closing(sqlite3.connect(home / "playlists.sqlite3", timeout=10)) as db:
        return [name for (name,) in db.execute("SELECT name FROM playlists")]


@pytest.mark.parametrize("kind, value", SENSITIVE, ids=["card", "email", "key", "jwt"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sensitive_data_in_a_name_is_refused_by_kind_and_never_echoed(main, home, protocol, kind, value):
    name = f"Mix {value}"
    refused = main.call(protocol, main.key("alice"), "create_playlist", name=name)
    assert refused.status == EXPECTED["invalid"][protocol] and f"({kind})" in refused.detail
    assert value.encode() not in refused.raw and value not in journal(home)
    assert name not in stored_names(home)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_with_the_scan_off_it_gets_in_and_a_safe_server_withholds_it(main, unsafe, protocol):
    leaked = f"write to {protocol}@example.org"
    stored = unsafe.call(protocol, unsafe.key("alice"), "create_playlist", name=leaked)
    assert stored.ok and leaked.encode() in stored.raw   # the attack works with the scan off
    for reader in PROTOCOLS:
        answer = main.call(reader, main.key("alice"), "get_playlist", pid=stored.playlist_id())
        assert answer.ok and WITHHELD in answer.raw and leaked.encode() not in answer.raw
        assert eventually(lambda: "withheld a e-mail address in an outgoing name" in main.servers[reader].output())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sensitive_data_in_a_track_id_is_not_echoed_either(main, home, protocol):
    card = "4111 1111 1111 1111"
    refused = main.call(protocol, main.key("alice"), "create_playlist", name="Fine", track_ids=[card])
    assert refused.status == EXPECTED["invalid"][protocol]
    assert card.encode() not in refused.raw and card not in journal(home)


# --- excessive data exposure ----------------------------------------------------------------------------

def never_to_leave(home, credentials) -> list[str]:
    """The secrets of credentials.json, the hashes in the database, the signing keys, the TLS keys."""
    found = [user[k] for user in credentials["users"].values() for k in ("password", "api_key", "client_secret")]
    with closing(sqlite3.connect(home / "playlists.sqlite3")) as db:
        for password_hash, *others in db.execute("SELECT password_hash, api_key_hash, client_secret_hash FROM users"):
            found += [password_hash, *password_hash.split("$")[1:], *others]
    for path in (home / "keys").iterdir():
        key = path.read_bytes()
        found += [key.hex(), base64.b64encode(key).decode()[:40], base64.urlsafe_b64encode(key).decode()[:40]]
    for path in (home / "tls").glob("*.key"):
        found.append(path.read_text().splitlines()[1])   # the first line of the key's base64
    return found


def test_a_full_session_on_each_protocol_and_credential_leaks_no_secret_hash_or_other_users_data(main, home,
                                                                                                   credentials):
    bobs_name = "Bob's private list"
    bobs = new_playlist(main, "bob", name=bobs_name)
    answers = []
    for protocol in PROTOCOLS:
        for credential in (main.key("alice"), main.password("alice"), calls.bearer(main.token("alice")),
                           main.mtls("alice")):
            created = main.call(protocol, credential, "create_playlist", name="Session")
            answers.append(created)
            for operation in calls.OPERATIONS:
                answers.append(main.call(protocol, credential, operation, pid=created.playlist_id()))
            theirs = main.call(protocol, credential, "get_playlist", pid=bobs)
            assert theirs.status == EXPECTED["not_found"][protocol]   # its error quotes the id alice sent, no more
            answers.append(replace(theirs, raw=theirs.raw.replace(bobs.encode(), b"<the id alice sent>")))
            answers.append(main.call(protocol, credential, "create_playlist", name=""))    # a bad argument
            answers.append(main.call(protocol, None, "who_am_i"))                          # no credential
    assert sum(a.ok for a in answers) == 12 * 14   # each session's calls that should succeed did
    rest = f"http://127.0.0.1:{main.servers['rest'].port}"
    documents = [requests.get(rest + path, timeout=30).content for path in ("/", "/openapi.json")]
    documents.append(requests.get(f"http://127.0.0.1:{main.servers['soap'].port}/soap?wsdl", timeout=30).content)
    forbidden = never_to_leave(home, credentials) + [bobs, bobs_name]
    for everything in [a.everything for a in answers] + documents:
        text = everything.decode("utf-8", "replace")
        leaked = [secret for secret in forbidden if secret in text or secret.lower() in text.lower()]
        assert not leaked


# --- unrestricted resource consumption ------------------------------------------------------------------------

def test_rest_a_playlist_holds_at_most_100_tracks(main):   # SOAP: tests/test_soap.py; gRPC: tests/test_rpc.py
    alice = main.key("alice")
    first = main.endpoints.call("rest", "search_tracks", alice, page_size=50).data
    second = main.endpoints.call("rest", "search_tracks", alice, page_size=50, page_token=first["next_page_token"]).data
    ids = [t["id"] for t in first["items"] + second["items"]]
    full = main.call("rest", alice, "create_playlist", name="Full", track_ids=ids[:limits.MAX_TRACKS_PER_PLAYLIST])
    assert full.status == "201"
    refused = main.call("rest", alice, "add_track", pid=full.playlist_id())
    assert refused.status == "413" and str(limits.MAX_TRACKS_PER_PLAYLIST) in refused.detail


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_playlist_of_101_tracks_is_refused(main, protocol):
    refused = main.call(protocol, main.key("alice"), "create_playlist", name="Too long",
                        track_ids=[TRACK] * (limits.MAX_TRACKS_PER_PLAYLIST + 1))
    # SOAP's schema says maxOccurs="100": its validator refuses the envelope before the core sees it.
    expected = {"rest": "400", "soap": "Client.SchemaValidationError", "grpc": "INVALID_ARGUMENT"}
    assert refused.status == expected[protocol]
    assert "track_id" in refused.detail


@pytest.mark.parametrize("operation", ["SearchTracks", "ListPlaylists"])   # REST and gRPC: their own suites
def test_soap_a_page_of_more_than_50_is_refused(main, operation):
    refused = main.endpoints.soap(operation, {"page_size": limits.MAX_PAGE_SIZE + 1}, main.key("alice"))
    assert refused.status == "Client.SchemaValidationError" and "page_size" in refused.detail
    assert main.endpoints.soap(operation, {"page_size": limits.MAX_PAGE_SIZE}, main.key("alice")).ok


def padded(body: bytes, size: int, filler: bytes = b" ") -> bytes:
    """The body with trailing whitespace (which JSON and XML ignore) up to exactly `size` bytes."""
    return body + filler * (size - len(body))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_body_of_exactly_64_kib_passes_and_one_byte_more_is_refused(main, protocol):
    alice, cap = main.key("alice"), limits.MAX_BODY_BYTES
    if protocol == "rest":
        def post(size):
            return main.endpoints.rest("POST", "/v1/echo", alice, padded(b'{"message": "hi"}', size),
                                       {"Content-Type": "application/json"})
        at, over = post(cap), post(cap + 1)
        assert at.status == "200" and over.status == "413"
    elif protocol == "soap":
        def post(size):
            return main.endpoints.soap("Echo", raw=padded(envelope("Echo", {"message": "hi"}, alice), size))
        at, over = post(cap), post(cap + 1)
        assert at.ok and over.status == "Client.TooLarge"
    else:
        def send(size):
            request = pb.SearchTracksRequest(page_token="x" * (size - 4))   # 1 byte of tag, 3 of length
            assert request.ByteSize() == size
            return main.endpoints.grpc("SearchTracks", request, alice)
        # At the cap the message is read (and its made-up page token refused); over it, it is not.
        at, over = send(cap), send(cap + 1)
        assert at.status == "INVALID_ARGUMENT" and over.status == "RESOURCE_EXHAUSTED"


def test_live_views_cannot_starve_the_rest_api(home, credentials):
    server = Server("rest", home, TEST_ENV, tls=False)
    base, streams = f"http://127.0.0.1:{server.port}", []
    try:
        for _ in range(8):
            streams.append(requests.get(f"{base}/live/events", stream=True, timeout=10))
        # Each view either streams (its first event: the counters) or is told at once that the limit is reached.
        assert all(s.status_code == 200 and s.headers["Content-Type"].startswith("text/event-stream") for s in streams)
        first = [next(s.iter_content(chunk_size=None)) for s in streams]
        assert all(event.startswith((b"event: state", b"event: full")) for event in first)
        assert sum(event.startswith(b"event: state") for event in first) >= 2   # views open, holding greenlets
        alice = calls.key(credentials["users"]["alice"]["api_key"])
        assert calls.Endpoints(base).call("rest", "who_am_i", alice).ok
    finally:
        for stream in streams:
            stream.close()
        server.stop()


def test_idle_radios_cannot_starve_the_grpc_server(home, credentials):
    server = Server("rpc", home, TEST_ENV, tls=False)
    bob = calls.key(credentials["users"]["bob"]["api_key"])
    radios, hang_up = [], threading.Event()

    def tune_in_then_say_nothing():
        yield pb.MoodRadioRequest(mood="calm")
        hang_up.wait()   # the call stays open: the server waits for the next mood

    wire = calls.Endpoints("", grpc_address=f"127.0.0.1:{server.port}")
    try:
        for _ in range(DEFAULT_WORKERS):
            radio = wire.stub().MoodRadio(tune_in_then_say_nothing(), metadata=calls.grpc_metadata(bob))
            radios.append(radio)
            try:
                next(radio)
            except grpc.RpcError as refused:   # a server that caps its streams may refuse this one
                assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        answer = wire.call("grpc", "who_am_i", bob)
        assert answer.ok, answer.status
    finally:
        hang_up.set()
        for radio in radios:
            radio.cancel()
        wire.close()
        server.stop()
