"""One call of each operation in each protocol, made the way a light, reusable client makes it.

Everything that can be prepared once is prepared once (the URL, the headers, the envelope,
the request message), so that the load generator spends its CPU on the call itself and
leaves the rest of the machine to the server.
"""
import base64
import json
from dataclasses import dataclass
from xml.sax.saxutils import escape

import grpc
import requests
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from clients.calls import PASSWORD_TEXT, PROTOCOLS, SOAP_ENV, TNS, WSSE

# The operations the benchmark measures, in the contract's names. The Basic-auth variant
# is the same GetPlaylist with a password instead of an API key: it shows the KDF's price.
OPERATIONS = {"get_playlist": "GetPlaylist", "search_tracks": "SearchTracks",
              "create_playlist": "CreatePlaylist", "get_playlist_basic": "GetPlaylist (Basic)"}
TIMEOUT = 10  # seconds; a call slower than this counts as an error


class CallFailed(Exception):
    """The server answered, but not with success."""


@dataclass(frozen=True)
class HttpCall:
    method: str
    path: str
    headers: dict
    body: bytes | None
    status: int  # the status that means success


# --- REST ------------------------------------------------------------------------------------

def rest_call(op: str, fixture: dict) -> HttpCall:
    if op == "get_playlist_basic":
        pair = base64.b64encode(f"{fixture['user']}:{fixture['password']}".encode()).decode()
        headers = {"Authorization": f"Basic {pair}"}
    else:
        headers = {"X-API-Key": fixture["api_key"]}
    headers["Accept"] = "application/json"
    if op == "search_tracks":
        return HttpCall("GET", "/v1/tracks?page_size=20", headers, None, 200)
    if op == "create_playlist":
        body = json.dumps({"name": "Bench", "mood": "calm", "track_ids": fixture["track_ids"]}).encode()
        return HttpCall("POST", "/v1/playlists", {**headers, "Content-Type": "application/json"}, body, 201)
    return HttpCall("GET", f"/v1/playlists/{fixture['playlist_id']}", headers, None, 200)


# --- SOAP 1.1: one envelope per operation, the credential in its <Header> ------------------------

def soap_call(op: str, fixture: dict) -> HttpCall:
    if op == "get_playlist_basic":
        header = (f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
                  f"<wsse:Username>{escape(fixture['user'])}</wsse:Username>"
                  f'<wsse:Password Type="{PASSWORD_TEXT}">{escape(fixture["password"])}</wsse:Password>'
                  "</wsse:UsernameToken></wsse:Security>")
    else:
        header = f"<p:ApiKey>{escape(fixture['api_key'])}</p:ApiKey>"
    if op == "search_tracks":
        action, body = "SearchTracks", "<p:SearchTracks><p:page_size>20</p:page_size></p:SearchTracks>"
    elif op == "create_playlist":
        ids = "".join(f"<p:track_id>{escape(t)}</p:track_id>" for t in fixture["track_ids"])
        action = "CreatePlaylist"
        body = ("<p:CreatePlaylist><p:name>Bench</p:name><p:mood>calm</p:mood>"
                f"<p:track_ids>{ids}</p:track_ids></p:CreatePlaylist>")
    else:
        action = "GetPlaylist"
        body = f"<p:GetPlaylist><p:playlist_id>{escape(fixture['playlist_id'])}</p:playlist_id></p:GetPlaylist>"
    envelope = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}" '
                f'xmlns:p="{TNS}"><soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body>'
                "</soap:Envelope>")
    # SOAP 1.1 answers every Fault with HTTP 500, so 200 alone means success.
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
    return HttpCall("POST", "/soap", headers, envelope.encode(), 200)


def http_caller(protocol: str, op: str, address: str, fixture: dict):
    """A function making one call over its own persistent connection (one per thread)."""
    call = (rest_call if protocol == "rest" else soap_call)(op, fixture)
    session = requests.Session()
    session.trust_env = False  # no proxy or netrc look-ups on every call: the client stays light
    prepared = session.prepare_request(requests.Request(call.method, f"http://{address}{call.path}",
                                                        headers=call.headers, data=call.body))

    def one_call():
        response = session.send(prepared, timeout=TIMEOUT)
        if response.status_code != call.status:
            raise CallFailed(f"HTTP {response.status_code}")

    one_call.close = session.close
    return one_call


# --- gRPC: one channel per process, shared by its threads (HTTP/2 multiplexes the calls) ---------

def grpc_request(op: str, fixture: dict):
    """The stub method's name, its request message and the call's metadata."""
    if op == "get_playlist_basic":
        pair = base64.b64encode(f"{fixture['user']}:{fixture['password']}".encode()).decode()
        metadata = (("authorization", f"Basic {pair}"),)
    else:
        metadata = (("x-api-key", fixture["api_key"]),)
    if op == "search_tracks":
        return "SearchTracks", pb.SearchTracksRequest(page_size=20), metadata
    if op == "create_playlist":
        return "CreatePlaylist", pb.CreatePlaylistRequest(name="Bench", mood="calm",
                                                          track_ids=fixture["track_ids"]), metadata
    return "GetPlaylist", pb.GetPlaylistRequest(id=fixture["playlist_id"]), metadata


def grpc_caller(channel: grpc.Channel, op: str, fixture: dict):
    method, request, metadata = grpc_request(op, fixture)
    stub_method = getattr(playlist_pb2_grpc.PlaylistsStub(channel), method)

    def one_call():
        stub_method(request, metadata=metadata, timeout=TIMEOUT)  # an error status raises grpc.RpcError

    one_call.close = lambda: None
    return one_call


def describe(error: Exception) -> str:
    """A short name for what went wrong, e.g. 'HTTP 500' or 'UNAVAILABLE'."""
    if isinstance(error, grpc.RpcError):
        return error.code().name
    return str(error) if isinstance(error, CallFailed) else type(error).__name__
