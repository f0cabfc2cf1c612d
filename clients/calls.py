"""One operation, over any of the three protocols, with any credential: the three side by side.

This is the one place that knows how each protocol spells a call: REST's method, path and
JSON body, SOAP's envelope, gRPC's method and protobuf message (the table below); how each
carries a credential (a header, an element of the envelope's Header, call metadata, or the
TLS handshake); and how each says what happened (an HTTP status and problem+json, a Fault,
a status code in the trailers), read into one `Answer`. The attacks, the soak and the
cross-protocol tests all call the servers through it.

Like every client it knows only the wire and the contracts: the gRPC stubs generated from
the proto, and the namespaces of the WSDL.
"""
import base64
import json
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import grpc
import requests
from google.protobuf import field_mask_pb2, text_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from lxml import etree
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc
from requests.adapters import HTTPAdapter

PROTOCOLS = ("rest", "soap", "grpc")
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:playlists:v1"   # the WSDL's target namespace
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
TIMEOUT = 30

# --- credentials -----------------------------------------------------------------------------------
# A credential is a tuple: ("key", api_key), ("basic", user, password), ("bearer", token),
# ("mtls", ca, cert, key) for a client certificate on the TLS port, or None.


def key(api_key: str) -> tuple:
    return ("key", api_key)


def basic(user: str, password: str) -> tuple:
    return ("basic", user, password)


def bearer(token: str) -> tuple:
    return ("bearer", token)


def mtls(ca: str, cert: str, private_key: str) -> tuple:
    return ("mtls", ca, cert, private_key)


def http_headers(credential) -> dict:
    """REST: the credential as HTTP headers (mTLS needs none: the handshake carried it)."""
    kind = credential[0] if credential else None
    if kind == "key":
        return {"X-API-Key": credential[1]}
    if kind == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"{credential[1]}:{credential[2]}".encode()).decode()}
    if kind == "bearer":
        return {"Authorization": f"Bearer {credential[1]}"}
    return {}


def grpc_metadata(credential) -> list:
    """gRPC: the same values as call metadata, whose keys must be lower case."""
    return [(name.lower(), value) for name, value in http_headers(credential).items()]


def soap_header(header, credential) -> None:
    """SOAP: the credential as elements of the envelope's Header."""
    kind = credential[0] if credential else None
    if kind == "key":
        etree.SubElement(header, f"{{{TNS}}}ApiKey").text = credential[1]
    elif kind == "bearer":
        etree.SubElement(header, f"{{{TNS}}}AccessToken").text = credential[1]
    elif kind == "basic":
        # WS-Security UsernameToken: mustUnderstand="1" says "fail rather than ignore me".
        security = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        security.set(f"{{{SOAP_ENV}}}mustUnderstand", "1")
        token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = credential[1]
        etree.SubElement(token, f"{{{WSSE}}}Password", Type=PASSWORD_TEXT).text = credential[2]


def envelope(operation: str, fields: dict, credential=None) -> bytes:
    """<Envelope><Header>credential</Header><Body><operation>fields…</operation></Body></Envelope>.
    Fields go in the order the schema's <xs:sequence> lists them; None leaves one out, and a
    list is an element holding one item element per value (track_ids holds track_id)."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "p": TNS})
    soap_header(etree.SubElement(root, f"{{{SOAP_ENV}}}Header"), credential)
    call = etree.SubElement(etree.SubElement(root, f"{{{SOAP_ENV}}}Body"), f"{{{TNS}}}{operation}")
    for name, value in fields.items():
        if isinstance(value, (list, tuple)):
            items = etree.SubElement(call, f"{{{TNS}}}{name}")
            for item in value:
                etree.SubElement(items, f"{{{TNS}}}{name.removesuffix('s')}").text = str(item)
        elif value is not None:
            etree.SubElement(call, f"{{{TNS}}}{name}").text = str(value)
    return etree.tostring(root)


# --- the operations, as each protocol spells them ----------------------------------------------------

@dataclass(frozen=True)
class Http:
    method: str
    path: str
    body: dict | None = None
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Spelled:
    """One operation's call in each protocol."""
    rest: Http
    soap: tuple      # (operation, fields)
    grpc: tuple      # (method, request message type, its fields)


def _given(**values) -> dict:
    """The values that are not None: an argument left out is not sent."""
    return {k: v for k, v in values.items() if v is not None}


def _query(path: str, **values) -> str:
    return path + ("?" + urlencode(_given(**values)) if _given(**values) else "")


def _if_match(version) -> dict:
    # If-Match makes a write conditional: a stale version gets 412, nothing is overwritten.
    return {"If-Match": f'"{version}"'} if version is not None else {}


def _id(value: str) -> str:
    return quote(value, safe="")


# Each function below is one operation of the contract (the README's "The operations, by the
# same name everywhere"), under the core's name: read one across to see the three protocols
# spell the same call. REST puts the playlist's id in the path and the rest in a JSON body or
# the query; SOAP names the operation as the Body's element, with the WSDL's field names; gRPC
# calls the method of the proto's service with its request message, whose id field is plain `id`.

def who_am_i():
    return Spelled(Http("GET", "/v1/me"), ("WhoAmI", {}), ("WhoAmI", pb.WhoAmIRequest, {}))


def list_moods():
    return Spelled(Http("GET", "/v1/moods"), ("ListMoods", {}), ("ListMoods", pb.ListMoodsRequest, {}))


def search_tracks(mood=None, composer=None, era=None, text=None, page_size=None, page_token=None):
    fields = _given(mood=mood, composer=composer, era=era, text=text, page_size=page_size, page_token=page_token)
    return Spelled(Http("GET", _query("/v1/tracks", **fields)), ("SearchTracks", fields),
                   ("SearchTracks", pb.SearchTracksRequest, fields))


def get_track(track_id):
    return Spelled(Http("GET", f"/v1/tracks/{_id(track_id)}"), ("GetTrack", {"track_id": track_id}),
                   ("GetTrack", pb.GetTrackRequest, {"id": track_id}))


def create_playlist(name, mood=None, track_ids=None):
    fields = _given(name=name, mood=mood, track_ids=track_ids)
    return Spelled(Http("POST", "/v1/playlists", fields), ("CreatePlaylist", fields),
                   ("CreatePlaylist", pb.CreatePlaylistRequest, fields))


def generate_playlist(mood, duration_minutes, name=None):
    fields = _given(mood=mood, duration_minutes=duration_minutes, name=name)
    return Spelled(Http("POST", "/v1/playlists:generate", fields), ("GeneratePlaylist", fields),
                   ("GeneratePlaylist", pb.GeneratePlaylistRequest, fields))


def get_playlist(playlist_id):
    return Spelled(Http("GET", f"/v1/playlists/{_id(playlist_id)}"), ("GetPlaylist", {"playlist_id": playlist_id}),
                   ("GetPlaylist", pb.GetPlaylistRequest, {"id": playlist_id}))


def list_playlists(page_size=None, page_token=None):
    fields = _given(page_size=page_size, page_token=page_token)
    return Spelled(Http("GET", _query("/v1/playlists", **fields)), ("ListPlaylists", fields),
                   ("ListPlaylists", pb.ListPlaylistsRequest, fields))


def update_playlist(playlist_id, version, name=None, mood=None, track_ids=None):
    changes = _given(name=name, mood=mood, track_ids=track_ids)
    # gRPC's field mask names what changes, so that "set to empty" and "leave alone" differ.
    mask = field_mask_pb2.FieldMask(paths=list(changes))
    return Spelled(Http("PATCH", f"/v1/playlists/{_id(playlist_id)}", changes, _if_match(version)),
                   ("UpdatePlaylist", {"playlist_id": playlist_id, "version": version, **changes}),
                   ("UpdatePlaylist", pb.UpdatePlaylistRequest,
                    {"id": playlist_id, "version": version, "update_mask": mask, **changes}))


def add_track(playlist_id, track_id, position=None, version=None):
    return Spelled(Http("POST", f"/v1/playlists/{_id(playlist_id)}/tracks", _given(track_id=track_id, position=position),
                        _if_match(version)),
                   ("AddTrack", _given(playlist_id=playlist_id, track_id=track_id, position=position, version=version)),
                   ("AddTrack", pb.AddTrackRequest,
                    _given(playlist_id=playlist_id, track_id=track_id, position=position, version=version)))


def remove_track(playlist_id, position, version=None):
    return Spelled(Http("DELETE", f"/v1/playlists/{_id(playlist_id)}/tracks/{position}", None, _if_match(version)),
                   ("RemoveTrack", _given(playlist_id=playlist_id, position=position, version=version)),
                   ("RemoveTrack", pb.RemoveTrackRequest, _given(playlist_id=playlist_id, position=position,
                                                               version=version)))


def delete_playlist(playlist_id):
    return Spelled(Http("DELETE", f"/v1/playlists/{_id(playlist_id)}"),
                   ("DeletePlaylist", {"playlist_id": playlist_id}),
                   ("DeletePlaylist", pb.DeletePlaylistRequest, {"id": playlist_id}))


def echo(message="hello, endpoint"):
    return Spelled(Http("POST", "/v1/echo", {"message": message}), ("Echo", {"message": message}),
                   ("Echo", pb.EchoRequest, {"message": message}))


OPERATIONS = {f.__name__: f for f in (who_am_i, list_moods, search_tracks, get_track, create_playlist,
                                      generate_playlist, get_playlist, list_playlists, update_playlist, add_track,
                                      remove_track, delete_playlist, echo)}

# --- the answer, read the same way whatever the protocol ----------------------------------------------

# One refusal of the core, as each protocol says it (the README's "Errors: one core error, three encodings").
KINDS = {
    "400": "invalid", "Client.InvalidArgument": "invalid", "INVALID_ARGUMENT": "invalid",
    "401": "unauthenticated", "Client.Unauthenticated": "unauthenticated", "UNAUTHENTICATED": "unauthenticated",
    "403": "forbidden", "Client.Forbidden": "forbidden", "PERMISSION_DENIED": "forbidden",
    "404": "not_found", "Client.NotFound": "not_found", "NOT_FOUND": "not_found",
    "409": "conflict", "412": "conflict", "Client.Conflict": "conflict", "ABORTED": "conflict",
    "428": "version_required", "Client.VersionRequired": "version_required", "FAILED_PRECONDITION": "version_required",
    "413": "too_large", "Client.TooLarge": "too_large",
    "429": "rate_limited", "Client.RateLimited": "rate_limited",
}
SUCCESSES = ("200", "201", "204", "OK")


@dataclass
class Answer:
    protocol: str
    status: str                      # "404", "Client.NotFound", "NOT_FOUND"; "200", "201", "204" or "OK"
    detail: str = ""                 # the problem's detail, the faultstring, the status's details
    retry_after: int | None = None   # Retry-After, <retry_after>, or RetryInfo's delay
    raw: bytes = b""                 # the body (REST, SOAP); the status, details and trailers (gRPC)
    headers: dict = field(default_factory=dict)   # the HTTP headers, less Date
    data: object = None              # a success, parsed: dict (REST), the response Element (SOAP), message (gRPC)
    broken: str = ""                 # how the answer breaks its protocol's own rules, if it does
    http: int | None = None          # the HTTP status (REST, SOAP); gRPC's travels in the trailers

    @property
    def ok(self) -> bool:
        return self.status in SUCCESSES

    @property
    def kind(self) -> str:
        """"ok", or the core's refusal: "unauthenticated", "not_found", "rate_limited" …"""
        if self.ok:
            return "ok"
        if self.status == "RESOURCE_EXHAUSTED":   # both "too many calls" (with RetryInfo) and "too large"
            return "rate_limited" if self.retry_after else "too_large"
        return KINDS.get(self.status, self.status)

    @property
    def everything(self) -> bytes:
        return self.raw + json.dumps(self.headers).encode()

    def playlist(self) -> dict:
        """The playlist a success carries: {"id", "version", "track_ids"}, whatever the protocol."""
        if isinstance(self.data, dict):
            return {"id": self.data["id"], "version": self.data["version"],
                    "track_ids": [t["id"] for t in self.data["tracks"]]}
        if isinstance(self.data, etree._Element):
            found = self.data.find(f".//{{{TNS}}}playlist")
            tracks = found.iterfind(f"{{{TNS}}}tracks/{{{TNS}}}Track")
            return {"id": found.findtext(f"{{{TNS}}}id"), "version": int(found.findtext(f"{{{TNS}}}version")),
                    "track_ids": [t.findtext(f"{{{TNS}}}id") for t in tracks]}
        return {"id": self.data.id, "version": self.data.version, "track_ids": [t.id for t in self.data.tracks]}

    def playlist_id(self) -> str:
        return self.playlist()["id"]

    def said(self) -> str:
        """What the answer says, in a few words: the refusal's reason, or a glimpse of the data."""
        if not self.ok:
            return self.detail + (f" (retry after {self.retry_after} s)" if self.retry_after else "")
        if isinstance(self.data, dict):
            return json.dumps(self.data, ensure_ascii=False)
        if isinstance(self.data, etree._Element):
            return " ".join(t.strip() for t in self.data.itertext() if t.strip())
        return text_format.MessageToString(self.data, as_one_line=True, as_utf8=True) if self.data else ""


def _headers(response: requests.Response) -> dict:
    return {k: v for k, v in response.headers.items() if k != "Date"}


def from_rest(response: requests.Response) -> Answer:
    """REST says it with the HTTP status; a refusal's body is RFC 9457 problem+json."""
    content_type = response.headers.get("Content-Type", "")
    data = response.json() if content_type.startswith(("application/json", "application/problem")) and \
        response.content else None
    broken = "" if response.ok or content_type.startswith("application/problem+json") else \
        f"HTTP {response.status_code} as {content_type or 'no Content-Type'}"
    retry = response.headers.get("Retry-After")
    return Answer("rest", str(response.status_code), data.get("detail", "") if data and not response.ok else "",
                  int(retry) if retry else None, response.content, _headers(response), data, broken,
                  response.status_code)


def from_soap(response: requests.Response) -> Answer:
    """SOAP 1.1 answers an envelope: the response element with HTTP 200, or a Fault with 500."""
    http, read = str(response.status_code), {"raw": response.content, "headers": _headers(response),
                                             "http": response.status_code}
    if not response.headers.get("Content-Type", "").startswith("text/xml"):
        return Answer("soap", http, broken=f"HTTP {http} as {response.headers.get('Content-Type')}", **read)
    body = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        return Answer("soap", http, broken=f"HTTP {http}: an envelope with no Body content", **read)
    fault = body.find(f"{{{SOAP_ENV}}}Fault")
    if fault is None:
        return Answer("soap", http, data=body[0], broken="" if http == "200" else f"HTTP {http} without a Fault",
                      **read)
    retry = fault.findtext("detail/retry_after")
    return Answer("soap", fault.findtext("faultcode").partition(":")[2], fault.findtext("faultstring"),
                  int(retry) if retry else None, broken="" if http == "500" else f"a Fault with HTTP {http}", **read)


def retry_after(error: grpc.RpcError) -> int | None:
    """The seconds of the RetryInfo detail in a failed call's trailers, if it has one."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.seconds
    return None


def from_grpc(call) -> Answer:
    """gRPC ends every call with a status; a refusal's details travel in the trailers."""
    try:
        response = call()
    except grpc.RpcError as error:
        trailers = [k.encode() + b"=" + (v if isinstance(v, bytes) else v.encode())
                    for k, v in error.trailing_metadata() or ()]
        raw = b"\n".join([error.code().name.encode(), error.details().encode(), *trailers])
        return Answer("grpc", error.code().name, error.details(), retry_after(error), raw)
    return Answer("grpc", "OK", raw=response.SerializeToString() if hasattr(response, "SerializeToString")
                  else response, data=response)


# --- the servers, and a call to any of them -------------------------------------------------------------

class SourceAddress(HTTPAdapter):
    """Connect from another local address (the whole 127.0.0.0/8 is this machine)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


class Endpoints:
    """The three servers: where they are, and one connection (or channel) to each, reused."""

    def __init__(self, rest: str, soap: str | None = None, grpc_address: str | None = None, rest_tls: str | None = None,
                 soap_tls: str | None = None, grpc_tls: str | None = None, source: str | None = None):
        self.rest_url, self.soap_url, self.grpc_address = rest.rstrip("/"), soap, grpc_address
        self.rest_tls, self.soap_tls, self.grpc_tls = rest_tls, soap_tls, grpc_tls
        self.session = requests.Session()
        self.session.trust_env = False   # our CA and addresses, not REQUESTS_CA_BUNDLE's or a proxy's
        if source:
            self.session.mount("http://", SourceAddress(source))
        self.channels = {}

    def close(self) -> None:
        self.session.close()
        for channel in self.channels.values():
            channel.close()

    def call(self, protocol: str, operation: str, credential=None, **arguments) -> Answer:
        """Make one operation's call over one protocol."""
        spelled = OPERATIONS[operation](**arguments)
        if protocol == "rest":
            http = spelled.rest
            return self.rest(http.method, http.path, credential, http.body, http.headers)
        if protocol == "soap":
            return self.soap(*spelled.soap, credential)
        method, message, fields = spelled.grpc
        return self.grpc(method, message(**fields), credential)

    def rest(self, method: str, path: str, credential=None, body=None, headers=None) -> Answer:
        """A JSON body (dict), or bytes as they are; the credential in the headers or the handshake."""
        base, tls = self.rest_url, {}
        if credential and credential[0] == "mtls":
            base, tls = self.rest_tls, {"verify": credential[1], "cert": credential[2:]}
        sent = {"data": body} if isinstance(body, bytes) else {"json": body}
        return from_rest(self.session.request(method, base + path, headers={**http_headers(credential),
                                                                            **(headers or {})},
                                              timeout=TIMEOUT, **sent, **tls))

    def soap(self, operation: str, fields: dict | None = None, credential=None, raw: bytes | None = None) -> Answer:
        """SOAP 1.1 over HTTP: always POST, text/xml, and a SOAPAction header naming the operation."""
        url, tls = self.soap_url, {}
        if credential and credential[0] == "mtls":
            url, tls = self.soap_tls, {"verify": credential[1], "cert": credential[2:]}
        data = raw if raw is not None else envelope(operation, fields or {}, credential)
        return from_soap(self.session.post(url, data=data, timeout=TIMEOUT, **tls, headers={
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'}))

    def grpc(self, method: str, request, credential=None) -> Answer:
        """A request message, or bytes sent as they are (no serializer checks them)."""
        channel = self.channel(credential if credential and credential[0] == "mtls" else None)
        if isinstance(request, bytes):
            rpc = channel.unary_unary(f"/playlist.v1.Playlists/{method}")
        else:
            rpc = getattr(playlist_pb2_grpc.PlaylistsStub(channel), method)
        return from_grpc(lambda: rpc(request, metadata=grpc_metadata(credential), timeout=TIMEOUT))

    def token(self, client_id: str, client_secret: str, scope: str | None = None) -> Answer:
        """An OAuth 2.0 access token from the REST server (client-credentials grant, RFC 6749 §4.4);
        it works on all three protocols."""
        return from_rest(self.session.post(self.rest_url + "/oauth/token", auth=(client_id, client_secret),
                                           data=_given(grant_type="client_credentials", scope=scope), timeout=TIMEOUT))

    def stub(self, credential=None) -> playlist_pb2_grpc.PlaylistsStub:
        """The generated stub, for what only gRPC has: its streams."""
        return playlist_pb2_grpc.PlaylistsStub(self.channel(credential if credential and credential[0] == "mtls"
                                                            else None))

    def channel(self, tls_credential=None):
        if tls_credential not in self.channels:
            if tls_credential:
                ca, cert, private_key = (open(path, "rb").read() for path in tls_credential[1:])
                # The demo server's certificate names localhost, whatever address we dial.
                self.channels[tls_credential] = grpc.secure_channel(
                    self.grpc_tls, grpc.ssl_channel_credentials(ca, private_key, cert),
                    options=[("grpc.ssl_target_name_override", "localhost")])
            else:
                self.channels[None] = grpc.insecure_channel(self.grpc_address)
        return self.channels[tls_credential]
