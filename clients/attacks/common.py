"""What the attacks share: where the servers are, one way to call them with any credential,
and one way to show each exchange on a projector.

Like every client, this knows only the wire and the contracts: HTTP and JSON, SOAP
envelopes (lxml), and the gRPC stubs generated from the proto.
"""
import argparse
import base64
import json
import socket
import sys
import textwrap
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

import grpc
import requests
from google.protobuf import text_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from lxml import etree
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from .. import addresses
from .. import credentials as creds

PROTOCOLS = ("REST", "SOAP", "gRPC")
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:playlists:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WIDTH = 100
COLUMN = 34   # the width of the request (and status) column

# One refusal of the core, as each protocol says it (shared/DESIGN.md, "Errors").
KINDS = {
    "400": "invalid", "Client.InvalidArgument": "invalid", "INVALID_ARGUMENT": "invalid",
    "401": "unauthenticated", "Client.Unauthenticated": "unauthenticated", "UNAUTHENTICATED": "unauthenticated",
    "404": "not_found", "Client.NotFound": "not_found", "NOT_FOUND": "not_found",
    "413": "too_large", "Client.TooLarge": "too_large",
    "429": "rate_limited", "Client.RateLimited": "rate_limited",
}


# --- the answer, read the same way whatever the protocol ------------------------------------------

@dataclass
class Answer:
    status: str                    # "401 Unauthorized", "Client.NotFound", "RESOURCE_EXHAUSTED", "200 OK"
    kind: str                      # "ok", or the refusal: "unauthenticated", "not_found", "rate_limited" ...
    detail: str = ""               # what the server said about it
    retry_after: int | None = None
    raw: bytes = b""               # the whole answer, to check what it gives away
    notes: dict = field(default_factory=dict)   # headers worth showing, e.g. RateLimit-Policy
    data: object = None            # a success, parsed

    def playlist_id(self) -> str:
        """The id of the playlist a successful answer carries."""
        if isinstance(self.data, dict):
            return self.data["id"]
        if isinstance(self.data, etree._Element):
            return self.data.findtext(f".//{{{TNS}}}playlist/{{{TNS}}}id")
        return self.data.id

    def said(self) -> str:
        """What the answer says, in a few words: the refusal's reason, or a glimpse of the data."""
        if self.kind != "ok":
            retry = f" (retry after {self.retry_after} s)" if self.retry_after else ""
            return self.detail + retry
        if isinstance(self.data, dict):
            return json.dumps(self.data, ensure_ascii=False)
        if isinstance(self.data, etree._Element):
            return " ".join(t.strip() for t in self.data.itertext() if t.strip())
        return text_format.MessageToString(self.data, as_one_line=True, as_utf8=True) if self.data else ""


def from_http(response: requests.Response) -> Answer:
    code = str(response.status_code)
    is_json = response.headers.get("Content-Type", "").startswith(("application/json", "application/problem"))
    body = response.json() if is_json and response.content else {}
    retry = response.headers.get("Retry-After")
    notes = {k: response.headers[k] for k in ("RateLimit-Policy", "RateLimit-Remaining") if k in response.headers}
    return Answer(f"{code} {HTTPStatus(response.status_code).phrase}", "ok" if response.ok else KINDS.get(code, code),
                  body.get("detail", "") if not response.ok else "", int(retry) if retry else None,
                  response.content, notes, body)


def from_soap(response: requests.Response) -> Answer:
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    if fault is None:
        return Answer(f"{response.status_code} {HTTPStatus(response.status_code).phrase}", "ok", raw=response.content,
                      data=root.find(f"{{{SOAP_ENV}}}Body")[0])
    code = fault.findtext("faultcode").partition(":")[2]
    retry = fault.findtext("detail/retry_after")
    return Answer(code, KINDS.get(code, code), fault.findtext("faultstring"), int(retry) if retry else None,
                  response.content)


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
    try:
        response = call()
    except grpc.RpcError as error:
        retry_after_seconds = retry_after(error)
        code = error.code().name
        if code == "UNAVAILABLE":
            raise SystemExit(f"cannot reach the gRPC server: {error.details()}")
        # RESOURCE_EXHAUSTED is both "too many calls" (with RetryInfo) and "too large".
        kind = KINDS.get(code) or ("rate_limited" if retry_after_seconds else "too_large"
                                   if code == "RESOURCE_EXHAUSTED" else code)
        trailers = b"".join(v if isinstance(v, bytes) else v.encode() for _, v in error.trailing_metadata() or ())
        return Answer(code, kind, error.details(), retry_after_seconds, error.details().encode() + trailers)
    return Answer("OK", "ok", raw=response.SerializeToString(), data=response)


# --- the servers, and a call to any of them with any credential ------------------------------------
# A credential is ("key", api_key), ("basic", user, password), ("bearer", token) or None.

def soap_header(header, credential) -> None:
    kind = credential[0] if credential else None
    if kind == "key":
        etree.SubElement(header, f"{{{TNS}}}ApiKey").text = credential[1]
    elif kind == "bearer":
        etree.SubElement(header, f"{{{TNS}}}AccessToken").text = credential[1]
    elif kind == "basic":
        token = etree.SubElement(etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE}),
                                 f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = credential[1]
        etree.SubElement(token, f"{{{WSSE}}}Password").text = credential[2]


def envelope(operation: str, fields: dict, credential) -> bytes:
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "p": TNS})
    soap_header(etree.SubElement(root, f"{{{SOAP_ENV}}}Header"), credential)
    call = etree.SubElement(etree.SubElement(root, f"{{{SOAP_ENV}}}Body"), f"{{{TNS}}}{operation}")
    for name, value in fields.items():
        etree.SubElement(call, f"{{{TNS}}}{name}").text = str(value)
    return etree.tostring(root)


def http_headers(credential) -> dict:
    kind = credential[0] if credential else None
    if kind == "key":
        return {"X-API-Key": credential[1]}
    if kind == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"{credential[1]}:{credential[2]}".encode()).decode()}
    if kind == "bearer":
        return {"Authorization": f"Bearer {credential[1]}"}
    return {}


def shown(secret: str) -> str:
    return secret if len(secret) <= 12 else secret[:10] + "…"


def credential_text(protocol: str, credential) -> str:
    """How the credential travels, short enough for one line."""
    kind = credential[0] if credential else None
    if kind is None:
        return "(no credential)"
    if kind == "basic":
        pair = f"{credential[1]}:{credential[2]}"
        return {"REST": f"Authorization: Basic ‹{pair}›", "SOAP": f"<wsse:UsernameToken> ‹{pair}›",
                "gRPC": f"authorization: Basic ‹{pair}›"}[protocol]
    value = shown(credential[1])
    if kind == "key":
        return {"REST": f"X-API-Key: {value}", "SOAP": f"<ApiKey>{value}</ApiKey>",
                "gRPC": f"x-api-key: {value}"}[protocol]
    return {"REST": f"Authorization: Bearer {value}", "SOAP": f"<AccessToken>{value}</AccessToken>",
            "gRPC": f"authorization: Bearer {value}"}[protocol]


def operation(op: str, **arguments) -> tuple:
    """One operation as each protocol spells it: (REST method, path, body), (SOAP operation, fields), (gRPC)."""
    pid, title = arguments.get("playlist_id", ""), arguments.get("name", "")
    return {
        "who_am_i": (("GET", "/v1/me", None), ("WhoAmI", {}), ("WhoAmI", pb.WhoAmIRequest())),
        "list_moods": (("GET", "/v1/moods", None), ("ListMoods", {}), ("ListMoods", pb.ListMoodsRequest())),
        "get_playlist": (("GET", f"/v1/playlists/{pid}", None), ("GetPlaylist", {"playlist_id": pid}),
                         ("GetPlaylist", pb.GetPlaylistRequest(id=pid))),
        "create_playlist": (("POST", "/v1/playlists", {"name": title}), ("CreatePlaylist", {"name": title}),
                            ("CreatePlaylist", pb.CreatePlaylistRequest(name=title))),
        "delete_playlist": (("DELETE", f"/v1/playlists/{pid}", None), ("DeletePlaylist", {"playlist_id": pid}),
                            ("DeletePlaylist", pb.DeletePlaylistRequest(id=pid))),
    }[op]


class Targets:
    """The three servers under attack."""

    def __init__(self, rest: str, soap: str, grpc_address: str):
        self.rest_url, self.soap_url, self.grpc_address = rest.rstrip("/"), soap, grpc_address
        self.session = requests.Session()
        self.session.trust_env = False
        self.channel = grpc.insecure_channel(grpc_address)
        self.stub = playlist_pb2_grpc.PlaylistsStub(self.channel)

    def rest(self, method: str, path: str, credential=None, body=None) -> Answer:
        return from_http(self.session.request(method, self.rest_url + path, headers=http_headers(credential),
                                              json=body, timeout=30))

    def soap(self, operation_name: str, fields: dict, credential=None, raw: bytes | None = None) -> Answer:
        return from_soap(self.session.post(self.soap_url, data=raw or envelope(operation_name, fields, credential),
                                           headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30))

    def grpc(self, method: str, request, credential=None) -> Answer:
        metadata = [(k.lower(), v) for k, v in http_headers(credential).items()]
        return from_grpc(lambda: getattr(self.stub, method)(request, metadata=metadata, timeout=30))

    def call(self, protocol: str, op: str, credential=None, show: bool = True, **arguments) -> Answer:
        """Make one operation's call over one protocol; print what was sent and what came back."""
        rest, soap, rpc = operation(op, **arguments)
        if protocol == "REST":
            answer, sent = self.rest(*rest[:2], credential, rest[2]), f"{rest[0]} {rest[1]}"
        elif protocol == "SOAP":
            answer, sent = self.soap(*soap, credential), f"POST {urlsplit(self.soap_url).path}  {soap[0]}"
        else:
            answer, sent = self.grpc(*rpc, credential), rpc[0]
        if show:
            exchange(protocol, sent, credential_text(protocol, credential), answer)
        return answer

    def addresses(self) -> list[tuple[str, int]]:
        rest, soap = urlsplit(self.rest_url), urlsplit(self.soap_url)
        grpc_host, _, grpc_port = self.grpc_address.rpartition(":")
        return [(rest.hostname, rest.port or 80), (soap.hostname, soap.port or 80), (grpc_host, int(grpc_port))]

    def listening(self) -> list[bool]:
        """Whether each of the three servers accepts a connection right now."""
        def accepts(address):
            try:
                socket.create_connection(address, timeout=1).close()
                return True
            except OSError:
                return False
        return [accepts(address) for address in self.addresses()]

    def wait_until_listening(self, seconds: float) -> None:
        """Wait until the three servers accept connections (after `make serve` starts them)."""
        deadline = time.monotonic() + seconds
        for address in self.addresses():
            while True:
                try:
                    socket.create_connection(address, timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"attacks: nothing answers on {address[0]}:{address[1]}; "
                                         "is `make serve` running?") from None
                    time.sleep(0.1)


def preflight(targets: "Targets") -> None:
    """Make sure the demo users may call at all: an address locked out by earlier failures, or a
    spent rate limit, would refuse every attack for reasons that have nothing to do with it."""
    for user in ("alice", "bob"):
        answer = targets.rest("GET", "/v1/me", ("key", load(user)["api_key"]))
        if answer.kind == "unauthenticated":
            raise SystemExit(f"attacks: the servers at {targets.rest_url} do not know {user}'s key from "
                             f"{creds.home() / 'credentials.json'}: they were started with another home; set "
                             "PLAYLISTS_HOME to theirs")
        if answer.kind != "ok":
            raise SystemExit(f"attacks: the servers refuse {user}'s own key right now ({answer.status}: "
                             f"{answer.said()}), because of earlier calls (an earlier run of the attacks?); wait, or "
                             "clear the counters with `.venv/bin/python -m workshop reset --yes` (or by opening an exercise)")


def load(user: str) -> dict:
    """A demo user's secrets from $PLAYLISTS_HOME/credentials.json."""
    return creds.load(user)


# --- the command line every attack shares ------------------------------------------------------------

def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--rest", default=addresses.rest_url(), help=f"REST base URL (default {addresses.rest_url()})")
    p.add_argument("--soap", default=addresses.soap_url(), help=f"SOAP endpoint (default {addresses.soap_url()})")
    p.add_argument("--grpc", default=addresses.grpc_address(),
                   help=f"gRPC address (default {addresses.grpc_address()})")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="wait up to SECONDS for the servers to accept connections (default 0)")
    p.add_argument("--max-calls", type=int, default=2000,
                   help="flood: give up after this many calls (default 2000)")
    p.add_argument("--token-wait", type=float, default=30, metavar="SECONDS",
                   help="expired_token: wait at most SECONDS for the token to expire (default 30)")
    return p


def run_one(module, argv=None) -> int:
    """`python -m clients.attacks.NAME`: one attack, exit code 0 if it was stopped."""
    args = parser(f".venv/bin/python -m clients.attacks.{module.__name__.rpartition('.')[2]}",
                  module.__doc__.splitlines()[0]).parse_args(argv)
    targets = Targets(args.rest, args.soap, args.grpc)
    targets.wait_until_listening(args.wait)
    preflight(targets)
    return 0 if module.run(targets, args).stopped else 1


# --- showing it ---------------------------------------------------------------------------------------

COLOURS = {"STOPPED": "\033[32m", "GOT THROUGH": "\033[31m", "NOT SHOWN": "\033[33m"}


@dataclass(frozen=True)
class Verdict:
    stopped: bool
    defence: str     # a few words for the summary: the defence (or, NOT SHOWN, why not)
    word: str        # STOPPED, GOT THROUGH or NOT SHOWN


def title(name: str, story: str) -> None:
    print(f"\n━━ {name} {'━' * (WIDTH - len(name) - 4)}")
    for line in story.strip().splitlines():
        print(f"   {line.strip()}")
    print()


def say(text: str = "") -> None:
    print(f"   {text}" if text else "")


def exchange(protocol: str, request: str, credential: str, answer: Answer) -> None:
    """One request and its answer, in lines whose columns line up."""
    sent(protocol, request, credential)
    answered(answer)


def sent(protocol: str, request: str, credential: str = "") -> None:
    print(clip(f"   {protocol:<4} → {request:<{COLUMN}} {credential}"))


def answered(answer: Answer, protocol: str = "") -> None:
    """A refusal's reason is wrapped, never cut; a success's data is only glimpsed."""
    said = answer.said()
    lines = textwrap.wrap(said, WIDTH - COLUMN - 12) if answer.kind != "ok" else [said]
    print(clip(f"   {protocol:<4} ← {answer.status:<{COLUMN}} {lines[0] if lines else ''}"))
    for line in lines[1:]:
        print(f"   {'':<4}   {'':<{COLUMN}} {line}")


def clip(line: str) -> str:
    return line if len(line) <= WIDTH else line[:WIDTH - 1] + "…"


def verdict(stopped: bool, defence: str, why: str, word: str | None = None) -> Verdict:
    """The attack's last lines: STOPPED and how `defence` stopped it (`why`), or GOT THROUGH."""
    word = word or ("STOPPED" if stopped else "GOT THROUGH")
    if word == "GOT THROUGH":
        why = f"{defence} did not stop it, as the answers above show (switched off with PLAYLISTS_UNSAFE?)"
    coloured = f"{COLOURS[word]}{word}\033[0m" if sys.stdout.isatty() else word
    lines = textwrap.wrap(why, WIDTH - 17)
    print(f"\n   {coloured}{' ' * (12 - len(word))}  {lines[0]}")
    for line in lines[1:]:
        print(f"   {'':<12}  {line}")
    return Verdict(stopped, defence, word)
