"""Hostile traffic, round two, each attack over the wire against real servers.

Slow clients (slowloris) on the plain and mutual-TLS HTTP ports, a crowd at the live view,
stream hogs on gRPC, lockout used as a weapon. Every call a test makes has a deadline: an
answer later than that is a failure, whatever the machine's load.
"""
import base64
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import grpc
import pytest
import requests
from lxml import etree
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from clients.calls import SOAP_ENV, TNS, SourceAddress, envelope, grpc_metadata, http_headers
from core import PlaylistService, events, limits
from core.auth import ApiKey
from core.config import load_settings
from core.errors import Forbidden
from core.setup import setup
from rpc.server import DEFAULT_WORKERS
from serve.launch import Server
from serve.wsgi import HANDSHAKE_SECONDS, HEADERS_SECONDS

from .conftest import eventually

ANSWER_SECONDS = 2      # every valid call is answered within this, under attack
HELD = 64               # slow connections held against each HTTP port


@pytest.fixture(scope="module")
def alice(credentials):
    return credentials["users"]["alice"]


@pytest.fixture(scope="module")
def tls_files(home, credentials):
    """(CA, alice's certificate and key) as paths for requests and ssl."""
    tls = credentials["tls"]
    return str(home / tls["ca"]), (str(home / tls["clients"]["alice"]["cert"]),
                                   str(home / tls["clients"]["alice"]["key"]))


def client_context(tls_files) -> ssl.SSLContext:
    ca, (cert, key) = tls_files
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


# --- what a valid user does while the attack goes on ---------------------------------------------

def valid_calls(rest_server, soap_server, rpc_server, alice, tls_files) -> dict:
    """WhoAmI on every protocol and port, each with its deadline: {where: who answered}."""
    ca, cert = tls_files
    key = {"X-API-Key": alice["api_key"]}
    soap = envelope("WhoAmI", {}, ("key", alice["api_key"]))
    who = {}
    for where, url, extra in (("rest", f"http://127.0.0.1:{rest_server.port}", {}),
                              ("rest+tls", f"https://127.0.0.1:{rest_server.tls_port}", {"verify": ca, "cert": cert})):
        who[where] = requests.get(url + "/v1/me", headers=key, timeout=ANSWER_SECONDS, **extra).json()["name"]
    for where, url, extra in (("soap", f"http://127.0.0.1:{soap_server.port}", {}),
                              ("soap+tls", f"https://127.0.0.1:{soap_server.tls_port}", {"verify": ca, "cert": cert})):
        answer = requests.post(url + "/soap", data=soap, headers={"Content-Type": "text/xml; charset=utf-8"},
                               timeout=ANSWER_SECONDS, **extra)
        who[where] = etree.fromstring(answer.content).findtext(f".//{{{TNS}}}name")
    with grpc.insecure_channel(f"127.0.0.1:{rpc_server.port}") as channel:
        answer = playlist_pb2_grpc.PlaylistsStub(channel).WhoAmI(
            pb.WhoAmIRequest(), metadata=[("x-api-key", alice["api_key"])], timeout=ANSWER_SECONDS)
        who["grpc"] = answer.name
    return who


EVERYWHERE = {"rest": "alice", "rest+tls": "alice", "soap": "alice", "soap+tls": "alice", "grpc": "alice"}


# --- slowloris ----------------------------------------------------------------------------------
# A request's head sent a few bytes at a time, never finished; on a TLS port also handshakes
# left half done. A real attacker reopens what the server closes, so these do too.

REQUEST_START = b"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
CLIENT_HELLO_START = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"   # a record promising 512 bytes, then silence


class Slowloris:
    """HELD slow connections to one port, kept open (reopened when closed) until stopped."""

    def __init__(self, port: int, context: ssl.SSLContext | None):
        self.port, self.context = port, context
        self.stopped = threading.Event()
        self.reopened = 0   # connections the server closed, and the attacker opened again
        self.sockets = [self._open(n) for n in range(HELD)]
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _open(self, n: int):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if self.context and n % 2:
            sock.sendall(CLIENT_HELLO_START)          # half a handshake
            return sock
        if self.context:
            sock = self.context.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(REQUEST_START)                   # half a request
        return sock

    def _drip(self):
        while not self.stopped.wait(1):
            for n, sock in enumerate(self.sockets):
                try:
                    sock.sendall(b"X" if self.context and n % 2 else b"X-Drip: 1\r\n")
                except OSError:
                    sock.close()
                    try:
                        self.sockets[n] = self._open(n)
                        self.reopened += 1
                    except OSError:
                        pass

    def stop(self):
        self.stopped.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


@contextmanager
def slowloris(*targets):
    with ExitStack() as stack:
        attacks = [Slowloris(port, context) for port, context in targets]
        for attack in attacks:
            stack.callback(attack.stop)
        yield attacks


def test_slowloris_on_every_http_port_leaves_every_protocol_answering(rest_server, soap_server, rpc_server,
                                                                       alice, tls_files):
    context = client_context(tls_files)
    with slowloris((rest_server.port, None), (rest_server.tls_port, context),
                   (soap_server.port, None), (soap_server.tls_port, context)) as attacks:
        assert valid_calls(rest_server, soap_server, rpc_server, alice, tls_files) == EVERYWHERE
        # The servers hang up on slow connections at their deadline, and the attacker opens
        # them again at once: still answered.
        assert eventually(lambda: all(attack.reopened >= HELD for attack in attacks),
                        max(HEADERS_SECONDS, HANDSHAKE_SECONDS) + 10)
        assert valid_calls(rest_server, soap_server, rpc_server, alice, tls_files) == EVERYWHERE


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server hangs up on this connection within `seconds`."""
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(1024):
                return True
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        pass
    return False


def test_a_request_head_has_a_deadline(rest_server):
    with socket.create_connection(("127.0.0.1", rest_server.port)) as sock:
        sock.sendall(REQUEST_START)
        assert closed_within(sock, HEADERS_SECONDS + 3)


def test_a_tls_handshake_has_a_deadline(rest_server):
    with socket.create_connection(("127.0.0.1", rest_server.tls_port)) as sock:
        sock.sendall(CLIENT_HELLO_START)
        assert closed_within(sock, HANDSHAKE_SECONDS + 3)


# --- the live view ----------------------------------------------------------------------------

def test_a_crowd_at_the_live_view_leaves_the_api_answering(rest_server, soap_server, rpc_server, alice,
                                                          tls_files):
    url = f"http://127.0.0.1:{rest_server.port}/live/events"
    viewers = []
    try:
        for _ in range(HELD):
            sock = socket.create_connection(("127.0.0.1", rest_server.port), timeout=5)
            sock.sendall(b"GET /live/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
            viewers.append(sock)
        for _ in range(2):
            assert valid_calls(rest_server, soap_server, rpc_server, alice, tls_files) == EVERYWHERE
        assert requests.get(url.replace("/events", ""), timeout=ANSWER_SECONDS).status_code == 200
    finally:
        for sock in viewers:
            sock.close()


# --- stream hogs --------------------------------------------------------------------------------

def play_forever(stub, metadata, playlist_id):
    """A PlayPlaylist call at the slowest pace: minutes of music, one track every few seconds."""
    return stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist_id, ms_per_second=100), metadata=metadata)


def first_answer_or_refusal(call):
    try:
        next(call)
        return "OK"
    except grpc.RpcError as refused:
        return refused.code().name


def test_one_user_holding_every_stream_he_may_leaves_others_theirs(rpc_server, credentials):
    bob = [("x-api-key", credentials["users"]["bob"]["api_key"])]
    alice = [("x-api-key", credentials["users"]["alice"]["api_key"])]
    hang_up = threading.Event()

    def say_nothing():
        hang_up.wait()
        yield from ()

    with grpc.insecure_channel(f"127.0.0.1:{rpc_server.port}") as channel:
        stub = playlist_pb2_grpc.PlaylistsStub(channel)
        chaconnes = pb.CreatePlaylistRequest(name="Long", track_ids=["bach-bwv1004-chaconne"] * 3)
        bobs, alices = (stub.CreatePlaylist(chaconnes, metadata=who).id for who in (bob, alice))
        hogs, answers = [], []
        try:
            for _ in range(DEFAULT_WORKERS):
                hogs.append(play_forever(stub, bob, bobs))
                answers.append(first_answer_or_refusal(hogs[-1]))
            hogs.append(stub.MoodRadio(say_nothing(), metadata=bob, timeout=ANSWER_SECONDS))
            answers.append(first_answer_or_refusal(hogs[-1]))
            assert answers == ["OK"] * limits.STREAMS_PER_USER + ["RESOURCE_EXHAUSTED"] * (
                DEFAULT_WORKERS + 1 - limits.STREAMS_PER_USER)
            mine = play_forever(stub, alice, alices)
            assert first_answer_or_refusal(mine) == "OK"
            mine.cancel()
        finally:
            hang_up.set()
            for call in hogs:
                call.cancel()


def opened(open_stream):
    """A stream and its first answer, once the server has given back the caller's stream slot
    (it does so a moment after the caller's previous stream ended)."""
    deadline = time.monotonic() + 10
    while True:
        stream = open_stream()
        try:
            return stream, next(stream)
        except grpc.RpcError as refused:
            if refused.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_silent_radio_is_hung_up_on(rpc_server, credentials):
    bob = [("x-api-key", credentials["users"]["bob"]["api_key"])]
    hang_up = threading.Event()

    def tune_in_then_say_nothing():
        yield pb.MoodRadioRequest(mood="calm")
        hang_up.wait()

    with grpc.insecure_channel(f"127.0.0.1:{rpc_server.port}") as channel:
        stub = playlist_pb2_grpc.PlaylistsStub(channel)
        radio, tuned = opened(lambda: stub.MoodRadio(tune_in_then_say_nothing(), metadata=bob,
                                                     timeout=limits.STREAM_IDLE_SECONDS + 10))
        try:
            assert tuned.tracks
            with pytest.raises(grpc.RpcError) as ended:
                next(radio)
            assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "no message for" in ended.value.details()
            # His slot is free again: bob may tune in anew.
            again, tuned = opened(lambda: stub.MoodRadio(iter([pb.MoodRadioRequest(mood="calm")]), metadata=bob))
            assert tuned.tracks
        finally:
            hang_up.set()
            radio.cancel()


# --- lockout as a weapon ---------------------------------------------------------------------------
# Loopback is a whole network (127.0.0.0/8): a client that binds 127.0.0.2 is "another
# address" to the servers. gRPC's Python client cannot choose its address: the victim's
# calls use it, from 127.0.0.1.

def session_from(address: str) -> requests.Session:
    session = requests.Session()
    for scheme in ("http://", "https://"):
        session.mount(scheme, SourceAddress(address))
    return session


def status(protocol: str, server, credential, session=None, **tls) -> str:
    """WhoAmI with one credential: '200', '401', '429', a SOAP fault code, or a gRPC status name."""
    session = session or requests.Session()
    scheme, port = ("https", server.tls_port) if tls else ("http", server.port)
    if protocol == "rest":
        return str(session.get(f"{scheme}://127.0.0.1:{port}/v1/me", headers=http_headers(credential),
                               timeout=10, **tls).status_code)
    if protocol == "soap":
        answer = session.post(f"{scheme}://127.0.0.1:{port}/soap", data=envelope("WhoAmI", {}, credential),
                              headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10, **tls)
        fault = etree.fromstring(answer.content).findtext(".//faultcode")
        return fault.partition(":")[2] if fault else str(answer.status_code)   # without its prefix
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        try:
            playlist_pb2_grpc.PlaylistsStub(channel).WhoAmI(pb.WhoAmIRequest(), metadata=grpc_metadata(credential),
                                                            timeout=10)
            return "OK"
        except grpc.RpcError as error:
            return error.code().name


REFUSED = {"rest": "401", "soap": "Client.Unauthenticated", "grpc": "UNAUTHENTICATED"}
LOCKED = {"rest": "429", "soap": "Client.RateLimited", "grpc": "RESOURCE_EXHAUSTED"}
ANSWERED = {"rest": "200", "soap": "200", "grpc": "OK"}


@pytest.fixture()
def servers(rest_server, soap_server, rpc_server):
    return {"rest": rest_server, "soap": soap_server, "grpc": rpc_server}


def test_wrong_passwords_from_elsewhere_never_lock_her_out_where_she_signs_in(servers, credentials):
    password = credentials["users"]["alice"]["password"]
    assert {p: status(p, s, ("basic", "alice", password)) for p, s in servers.items()} == ANSWERED   # she signs in here
    attacker = session_from("127.0.0.2")
    for protocol in ("rest", "soap") * limits.LOCKOUT_AFTER_FAILURES:
        answer = status(protocol, servers[protocol], ("basic", "alice", "guess"), attacker)
        assert answer in (REFUSED[protocol], LOCKED[protocol])
    # Elsewhere, guessing alice's password is locked, even with the right one ...
    assert status("rest", servers["rest"], ("basic", "alice", password), attacker) == "429"
    # ... and where she signed in before, her password still works, on every protocol.
    assert {p: status(p, s, ("basic", "alice", password)) for p, s in servers.items()} == ANSWERED


def test_a_classroom_of_failures_never_refuses_a_valid_key_or_certificate(servers, credentials, tls_files):
    classroom = session_from("127.0.0.3")
    for n in range(limits.SOURCE_LOCKOUT_AFTER_FAILURES):
        assert status("rest", servers["rest"], ("basic", f"stranger-{n}", "guess"), classroom) == "401"
    # The address is locked for passwords of names not seen there ...
    assert status("soap", servers["soap"], ("basic", "stranger-new", "guess"), classroom) == LOCKED["soap"]
    # ... and never for a key, nor for a certificate.
    alice = ("key", credentials["users"]["alice"]["api_key"])
    ca, cert = tls_files
    for protocol in ("rest", "soap"):
        assert status(protocol, servers[protocol], alice, classroom) == "200"
        assert status(protocol, servers[protocol], None, classroom, verify=ca, cert=cert) == "200"


def test_parallel_guesses_are_checked_no_more_than_the_lockout_allows(servers):
    guesses = [(protocol, ("basic", "carol-who-never-signed-in", f"guess-{n}"))
               for n, protocol in enumerate(("rest", "soap", "grpc") * 10)]
    with ThreadPoolExecutor(len(guesses)) as pool:
        answers = list(pool.map(lambda guess: (guess[0], status(guess[0], servers[guess[0]], guess[1])), guesses))
    checked = [protocol for protocol, answer in answers if answer == REFUSED[protocol]]
    assert len(checked) <= limits.LOCKOUT_AFTER_FAILURES, answers
    assert all(answer in (REFUSED[protocol], LOCKED[protocol]) for protocol, answer in answers)


# --- the SOAP guard reads the document Spyne reads ----------------------------------------------

DOCTYPE = '<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


def utf7(text: str) -> bytes:
    """`text` as one UTF-7 run: '+', its UTF-16 in base64, '-' (RFC 2152): ASCII letters only."""
    return b"+" + base64.b64encode(text.encode("utf-16-be")).rstrip(b"=") + b"-"


def soap_post(soap_server, data: bytes, content_type: str) -> tuple[str, str]:
    """(HTTP status, fault code without its prefix, or the caller's name)."""
    answer = requests.post(f"http://127.0.0.1:{soap_server.port}/soap", data=data,
                           headers={"Content-Type": content_type}, timeout=10)
    root = etree.fromstring(answer.content)
    fault = root.findtext(".//faultcode")
    return str(answer.status_code), fault.partition(":")[2] if fault else root.findtext(f".//{{{TNS}}}name")


def test_a_doctype_hidden_in_utf7_is_refused_as_a_charset_never_parsed(soap_server, alice):
    # To a UTF-8 reader, a comment; to a UTF-7 reader, a comment closed, a DOCTYPE, a comment opened.
    hidden = b"<!-- " + utf7(f"--> {DOCTYPE} <!--") + b" -->"
    data = hidden + envelope("WhoAmI", {}, ("key", alice["api_key"]))
    assert soap_post(soap_server, data, "text/xml; charset=utf-7") == ("500", "Client.UnsupportedMediaType")
    declared = b'<?xml version="1.0" encoding="UTF-7"?>' + data
    assert soap_post(soap_server, declared, "text/xml") == ("500", "Client.UnsupportedMediaType")
    assert "Traceback" not in soap_server.output()


def test_utf16_is_read_and_guarded_like_utf8(soap_server, alice):
    call = envelope("WhoAmI", {}, ("key", alice["api_key"])).decode()
    assert soap_post(soap_server, call.encode("utf-16"), "text/xml") == ("200", "alice")
    declared = '<?xml version="1.0" encoding="UTF-16"?>' + call
    assert soap_post(soap_server, declared.encode("utf-16"), "text/xml; charset=utf-16") == ("200", "alice")
    assert soap_post(soap_server, (DOCTYPE + call).encode("utf-16"), "text/xml") == ("500", "Client.DTDNotAllowed")


@pytest.mark.parametrize("charset", ["utf-32", "latin-1", "cp1252", "ascii", "utf-7"])
def test_charsets_beyond_utf8_and_utf16_are_refused(soap_server, alice, charset):
    data = envelope("WhoAmI", {}, ("key", alice["api_key"])).decode().encode(charset)
    assert soap_post(soap_server, data, f"text/xml; charset={charset}") == ("500", "Client.UnsupportedMediaType")


# --- schema faults in words ---------------------------------------------------------------------

CARD = "4111111111111111"
PAGE_SIZE_RULE = f"page_size: must be an integer between 1 and {limits.MAX_PAGE_SIZE}"


def test_the_same_mistake_gets_the_same_words_and_never_its_value(rest_server, soap_server, rpc_server, alice, home):
    said = {}
    for value in (CARD, str(limits.MAX_PAGE_SIZE + 1), "many"):
        rest = requests.get(f"http://127.0.0.1:{rest_server.port}/v1/tracks", params={"page_size": value},
                            headers={"X-API-Key": alice["api_key"]}, timeout=10)
        said[f"rest {value}"] = (rest.status_code, rest.text)
        soap = requests.post(f"http://127.0.0.1:{soap_server.port}/soap", headers={"Content-Type": "text/xml"},
                             data=envelope("SearchTracks", {"page_size": value}, ("key", alice["api_key"])), timeout=10)
        said[f"soap {value}"] = (soap.status_code, etree.fromstring(soap.content).findtext(".//faultstring"))
    with grpc.insecure_channel(f"127.0.0.1:{rpc_server.port}") as channel:
        with pytest.raises(grpc.RpcError) as refused:
            playlist_pb2_grpc.PlaylistsStub(channel).SearchTracks(
                pb.SearchTracksRequest(page_size=limits.MAX_PAGE_SIZE + 1), metadata=[("x-api-key", alice["api_key"])])
    said["grpc"] = (refused.value.code().name, refused.value.details())
    for where, (code, text) in said.items():
        assert code in (400, 500, "INVALID_ARGUMENT") and PAGE_SIZE_RULE in text, (where, text)
    for written in (home / "events.jsonl", soap_server.log_path, rest_server.log_path):
        assert CARD not in written.read_text()


def test_a_schema_fault_is_recorded_with_its_caller(soap_server, alice, home):
    since = time.time()
    requests.post(f"http://127.0.0.1:{soap_server.port}/soap", headers={"Content-Type": "text/xml"},
                  data=envelope("SearchTracks", {"page_size": "many"}, ("key", alice["api_key"])), timeout=10)
    assert eventually(lambda: [(e["user"], e["status"]) for e in events.read(home, since)
                               if e["protocol"] == "soap"] == [("alice", "Client.SchemaValidationError")])


# --- smaller gaps ---------------------------------------------------------------------------------

def test_json_bodies_must_say_so_and_no_answer_may_be_sniffed(rest_server, soap_server, alice):
    rest = f"http://127.0.0.1:{rest_server.port}"
    key = {"X-API-Key": alice["api_key"]}
    body = '{"name": "Sent from a page elsewhere"}'
    # What a form or fetch() on another site may send without a preflight: refused.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        refused = requests.post(f"{rest}/v1/playlists", data=body, headers={**key, "Content-Type": content_type},
                                timeout=10)
        assert refused.status_code == 415, content_type
        assert refused.headers["Content-Type"].startswith("application/problem+json")
    created = requests.post(f"{rest}/v1/playlists", data=body, headers={**key, "Content-Type": "application/json"},
                            timeout=10)
    assert created.status_code == 201
    answers = [created, requests.get(f"{rest}/v1/me", timeout=10), requests.get(f"{rest}/live", timeout=10),
               requests.get(f"{rest}/nowhere", timeout=10),
               requests.get(f"http://127.0.0.1:{soap_server.port}/soap?wsdl", timeout=10),
               requests.post(f"http://127.0.0.1:{soap_server.port}/soap", data=b"<not-xml", timeout=10,
                             headers={"Content-Type": "text/xml"})]
    assert [a.headers.get("X-Content-Type-Options") for a in answers] == ["nosniff"] * len(answers)


def test_search_wildcards_are_plain_characters(rest_server, alice):
    def found(text):
        answer = requests.get(f"http://127.0.0.1:{rest_server.port}/v1/tracks", params={"text": text},
                              headers={"X-API-Key": alice["api_key"]}, timeout=10)
        return answer.json()["items"]
    assert found("%") == [] and found("_") == [] and found("B_ch") == []
    assert found("Bach")


def test_a_newline_sent_to_the_soap_server_never_forges_a_log_line(soap_server, alice):
    forged = "FORGED 00:00:00 soap who_am_i alice/api_key 200"
    call = envelope("WhoAmI", {}, ("key", alice["api_key"])).replace(
        b'xmlns:p="urn:playlists:v1"', f'xmlns:p="urn:playlists:v1&#10;{forged}"'.encode())
    answer = requests.post(f"http://127.0.0.1:{soap_server.port}/soap", data=call,
                           headers={"Content-Type": "text/xml"}, timeout=10)
    assert answer.status_code == 500
    assert eventually(lambda: "FORGED" in soap_server.output())
    assert not any(line.startswith("FORGED") for line in soap_server.output().splitlines())


def test_refusals_before_authentication_meet_the_rate_limit(tmp_path):
    env = {"PLAYLISTS_HOME": str(tmp_path), "PLAYLISTS_RATE_LIMIT": "10/minute"}
    setup(load_settings(env))
    server = Server("soap", tmp_path, env, tls=False)
    try:
        codes = [soap_post(server, b"<not-a-soap-message/>", "text/xml")[1] for _ in range(25)]
        assert "Client.RateLimited" in codes, codes
    finally:
        server.stop()


def test_teaching_switches_serve_loopback_callers_only(home, credentials):
    service = PlaylistService(load_settings({"PLAYLISTS_HOME": str(home), "PLAYLISTS_UNSAFE": "bola"}))
    key = ApiKey(credentials["users"]["alice"]["api_key"])
    assert service.authenticate(key, "127.0.0.1").user == "alice"
    for elsewhere in ("192.0.2.7", "::ffff:192.0.2.7", "2001:db8::7", ""):
        with pytest.raises(Forbidden):
            service.authenticate(key, elsewhere)


def test_one_request_per_envelope(soap_server, alice):
    two = envelope("WhoAmI", {}, ("key", alice["api_key"])).replace(
        b"</soap:Body>", f'<p:DeletePlaylist xmlns:p="{TNS}"><p:playlist_id>x</p:playlist_id></p:DeletePlaylist>'
                         "</soap:Body>".encode())
    assert soap_post(soap_server, two, "text/xml") == ("500", "Client.SoapError")
