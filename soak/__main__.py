"""`python -m soak`: mixed traffic from all three protocols, some of it hostile, for a while.

It makes a fresh $PLAYLISTS_HOME, starts the REST, SOAP and gRPC servers on free loopback
ports, and runs `--concurrency` clients for `--seconds`: most are well-behaved users
(alice: each owns a playlist it reads, grows, renames, trims and now and then deletes and
makes again; each protocol also pays for a password login now and then, gRPC plays short
playlists), the others are hostile (wrong keys, and guesses at bob's password, from a
second loopback address, 127.0.0.2, so that the address lockout they earn does not lock
the users out; garbage bodies, oversized bodies, DTDs, undecodable protobuf, unknown
methods).

Every answer is sorted into: ok; an expected refusal (a hostile call refused the way the
contract says: 400, 401, 413, 429, Client.* faults, INVALID_ARGUMENT, ...); or an
unexpected error (a 5xx, a Server fault, INTERNAL or UNKNOWN, a refusal of a valid call,
a hostile call that succeeded, a timeout or a dropped connection, a traceback in a server
log, a database that fails its integrity check). It prints calls, errors by kind, p50/p99
latency per protocol and the servers' memory (RSS of every process of each server) before
and after, and exits 0 only when there was no unexpected error.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import grpc
import requests
from lxml import etree
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc
from requests.adapters import HTTPAdapter

from tests.servers import ROOT, Server

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:playlists:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PROTOCOLS = ("rest", "soap", "grpc")
TRACKS = ["bach-bwv1068-air", "bach-bwv1007-prelude", "josquin-ave-maria-virgo-serena", "bach-bwv1067-badinerie",
          "palestrina-papae-marcelli-kyrie"]
ATTACKER_ADDRESS = "127.0.0.2"     # loopback too: the whole 127.0.0.0/8 is this machine
BIG = 100 * 1024                   # over the 64 KiB body limit of all three servers
TIMEOUT = 30
TRACEBACK = "Traceback (most recent call last)"


class Unexpected(Exception):
    """A call that got an answer the contract does not allow for it."""


# --- what each call came to ----------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()            # ("ok" | "refused" | "unexpected", protocol, kind)
        self.latency = defaultdict(list)   # protocol -> seconds of its well-behaved calls
        self.examples = {}                 # an example of each unexpected kind

    def add(self, verdict: str, protocol: str, kind: str, seconds: float, example: str = "") -> None:
        with self.lock:
            self.counts[verdict, protocol, kind] += 1
            if verdict == "ok":   # a stream lasts as long as its music: its time is no latency
                self.latency[protocol if kind != "play" or protocol != "grpc" else "grpc stream"].append(seconds)
            if verdict == "unexpected" and (protocol, kind) not in self.examples:
                self.examples[protocol, kind] = f"[{time.strftime('%H:%M:%S')}] {example[:500]}"

    def total(self, verdict: str | None = None) -> int:
        return sum(n for (v, _, _), n in self.counts.items() if verdict in (None, v))


def percentile(values: list, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# --- the servers' memory -------------------------------------------------------------------------

def rss_of_group(pgid: int) -> tuple[int, int]:
    """(processes, total RSS in bytes) of every process in a process group."""
    count = total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:      # field 5 of /proc/PID/stat: the process group
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    count += 1
        except (OSError, ValueError):
            continue
    return count, total


# --- clients -------------------------------------------------------------------------------------

class SourceAddress(HTTPAdapter):
    """Connect from another loopback address."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def session(source: str | None = None) -> requests.Session:
    http = requests.Session()
    if source:
        http.mount("http://", SourceAddress(source))
    return http


def soap_envelope(body: str, header: str) -> bytes:
    return (f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:p="{TNS}"><s:Header>{header}</s:Header>'
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


def soap_answer(answer: requests.Response):
    """('ok', the response element) or ('fault', the fault code); Unexpected for anything else."""
    if not answer.headers.get("Content-Type", "").startswith("text/xml"):
        raise Unexpected(f"HTTP {answer.status_code} {answer.headers.get('Content-Type')}")
    root = etree.fromstring(answer.content)
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise Unexpected(f"HTTP {answer.status_code}: an envelope with no Body content")
    fault = body.find(f"{{{SOAP_ENV}}}Fault")
    if fault is not None:
        if answer.status_code != 500:
            raise Unexpected(f"a Fault with HTTP {answer.status_code}")
        return "fault", fault.findtext("faultcode").rpartition(":")[2]
    if answer.status_code != 200:
        raise Unexpected(f"HTTP {answer.status_code} without a Fault")
    return "ok", body[0]


class User:
    """A well-behaved client of one protocol; it owns one playlist at a time."""

    def __init__(self, protocol: str, endpoints: dict, credentials: dict, rng: random.Random):
        self.protocol, self.rng = protocol, rng
        alice = credentials["users"]["alice"]
        self.key, self.password = alice["api_key"], alice["password"]
        self.rest = f"http://127.0.0.1:{endpoints['rest'].port}"
        self.soap = f"http://127.0.0.1:{endpoints['soap'].port}/soap"
        self.http = session()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{endpoints['grpc'].port}")
        self.stub = playlist_pb2_grpc.PlaylistsStub(self.channel)
        self.metadata = [("x-api-key", self.key)]
        self.playlist, self.version, self.length = None, 0, 0

    def close(self):
        self.http.close()
        self.channel.close()

    def next_call(self):
        """The next operation: create when there is no playlist, else a weighted mix."""
        if self.playlist is None:
            return "create"
        if self.length >= 20:
            return "remove"
        return self.rng.choices(["who_am_i", "search", "get_track", "get", "list", "add", "rename", "remove",
                                 "delete", "basic", "play", "echo"],
                                weights=[6, 10, 8, 12, 5, 14, 5, 6, 1, 1, 2, 3])[0]

    # Each call returns nothing on success and raises Unexpected otherwise.

    def call(self, operation: str) -> str | None:
        """None when the call succeeded; the kind of refusal when the server pushed back."""
        return getattr(self, f"{self.protocol}_{operation}" if hasattr(self, f"{self.protocol}_{operation}")
                       else f"{self.protocol}_generic")(operation)

    # REST

    def rest_request(self, method, path, expect, **kwargs):
        kwargs.setdefault("headers", {"X-API-Key": self.key})
        answer = self.http.request(method, self.rest + path, timeout=TIMEOUT, **kwargs)
        if answer.status_code != expect:
            raise Unexpected(f"{method} {path}: HTTP {answer.status_code} {answer.text[:200]}")
        return answer.json() if answer.content else None

    def rest_playlist(self, data):
        self.playlist, self.version, self.length = data["id"], data["version"], len(data["tracks"])

    def rest_generic(self, operation):
        if operation == "create":
            self.rest_playlist(self.rest_request("POST", "/v1/playlists", 201, json={
                "name": "soak", "mood": "calm", "track_ids": TRACKS[:2]}))
        elif operation == "who_am_i":
            self.rest_request("GET", "/v1/me", 200)
        elif operation == "basic":
            self.rest_request("GET", "/v1/me", 200, headers={}, auth=("alice", self.password))
        elif operation == "search":
            self.rest_request("GET", "/v1/tracks", 200, params={"mood": self.rng.choice(["calm", "joyful"]),
                                                                 "page_size": 10})
        elif operation == "get_track":
            self.rest_request("GET", f"/v1/tracks/{self.rng.choice(TRACKS)}", 200)
        elif operation == "get":
            self.rest_playlist(self.rest_request("GET", f"/v1/playlists/{self.playlist}", 200))
        elif operation == "list":
            self.rest_request("GET", "/v1/playlists", 200, params={"page_size": 5})
        elif operation == "add":
            self.rest_playlist(self.rest_request("POST", f"/v1/playlists/{self.playlist}/tracks", 200,
                                                 json={"track_id": self.rng.choice(TRACKS)}))
        elif operation == "rename":
            self.rest_playlist(self.rest_request("PATCH", f"/v1/playlists/{self.playlist}", 200, json={
                "name": f"soak {self.version}"}, headers={"X-API-Key": self.key, "If-Match": f'"{self.version}"'}))
        elif operation == "remove":
            if self.length:
                self.rest_playlist(self.rest_request("DELETE", f"/v1/playlists/{self.playlist}/tracks/1", 200))
        elif operation == "delete":
            self.rest_request("DELETE", f"/v1/playlists/{self.playlist}", 204)
            self.playlist = None
        elif operation in ("play", "echo"):
            self.rest_request("POST", "/v1/echo", 200, json={"message": "soak"})

    # SOAP

    def soap_call(self, body: str, header: str | None = None):
        header = f"<p:ApiKey>{self.key}</p:ApiKey>" if header is None else header
        answer = self.http.post(self.soap, data=soap_envelope(body, header), headers={"Content-Type": "text/xml"},
                                timeout=TIMEOUT)
        verdict, value = soap_answer(answer)
        if verdict != "ok":
            raise Unexpected(f"{body[:60]}: fault {value}")
        return value

    def soap_playlist(self, response):
        playlist = response.find(f"{{{TNS}}}playlist")
        self.playlist = playlist.findtext(f"{{{TNS}}}id")
        self.version = int(playlist.findtext(f"{{{TNS}}}version"))
        self.length = len(playlist.findall(f"{{{TNS}}}tracks/{{{TNS}}}Track"))

    def soap_generic(self, operation):
        pid = f"<p:playlist_id>{self.playlist}</p:playlist_id>"
        if operation == "create":
            self.soap_playlist(self.soap_call("<p:CreatePlaylist><p:name>soak</p:name><p:mood>calm</p:mood>"
                                              f"<p:track_ids><p:track_id>{TRACKS[0]}</p:track_id></p:track_ids>"
                                              "</p:CreatePlaylist>"))
        elif operation == "who_am_i":
            self.soap_call("<p:WhoAmI/>")
        elif operation == "basic":
            header = (f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>alice</wsse:Username>'
                      f"<wsse:Password>{self.password}</wsse:Password></wsse:UsernameToken></wsse:Security>")
            self.soap_call("<p:WhoAmI/>", header)
        elif operation == "search":
            self.soap_call(f"<p:SearchTracks><p:mood>{self.rng.choice(['calm', 'joyful'])}</p:mood>"
                           "<p:page_size>10</p:page_size></p:SearchTracks>")
        elif operation == "get_track":
            self.soap_call(f"<p:GetTrack><p:track_id>{self.rng.choice(TRACKS)}</p:track_id></p:GetTrack>")
        elif operation == "get":
            self.soap_playlist(self.soap_call(f"<p:GetPlaylist>{pid}</p:GetPlaylist>"))
        elif operation == "list":
            self.soap_call("<p:ListPlaylists><p:page_size>5</p:page_size></p:ListPlaylists>")
        elif operation == "add":
            self.soap_playlist(self.soap_call(f"<p:AddTrack>{pid}<p:track_id>{self.rng.choice(TRACKS)}</p:track_id>"
                                              "</p:AddTrack>"))
        elif operation == "rename":
            self.soap_playlist(self.soap_call(f"<p:UpdatePlaylist>{pid}<p:version>{self.version}</p:version>"
                                              f"<p:name>soak {self.version}</p:name></p:UpdatePlaylist>"))
        elif operation == "remove":
            if self.length:
                self.soap_playlist(self.soap_call(f"<p:RemoveTrack>{pid}<p:position>1</p:position></p:RemoveTrack>"))
        elif operation == "delete":
            self.soap_call(f"<p:DeletePlaylist>{pid}</p:DeletePlaylist>")
            self.playlist = None
        elif operation in ("play", "echo"):
            self.soap_call("<p:Echo><p:message>soak</p:message></p:Echo>")

    # gRPC

    def grpc_do(self, method, request, metadata=None):
        try:
            return getattr(self.stub, method)(request, metadata=metadata or self.metadata, timeout=TIMEOUT)
        except grpc.RpcError as error:
            raise Unexpected(f"{method}: {error.code().name} {error.details()}") from None

    def grpc_playlist(self, playlist):
        self.playlist, self.version, self.length = playlist.id, playlist.version, len(playlist.tracks)

    def grpc_generic(self, operation):
        if operation == "create":
            self.grpc_playlist(self.grpc_do("CreatePlaylist", pb.CreatePlaylistRequest(
                name="soak", mood="calm", track_ids=TRACKS[:2])))
        elif operation == "who_am_i":
            self.grpc_do("WhoAmI", pb.WhoAmIRequest())
        elif operation == "basic":
            import base64
            token = base64.b64encode(f"alice:{self.password}".encode()).decode()
            self.grpc_do("WhoAmI", pb.WhoAmIRequest(), [("authorization", f"Basic {token}")])
        elif operation == "search":
            self.grpc_do("SearchTracks", pb.SearchTracksRequest(mood=self.rng.choice(["calm", "joyful"]), page_size=10))
        elif operation == "get_track":
            self.grpc_do("GetTrack", pb.GetTrackRequest(id=self.rng.choice(TRACKS)))
        elif operation == "get":
            self.grpc_playlist(self.grpc_do("GetPlaylist", pb.GetPlaylistRequest(id=self.playlist)))
        elif operation == "list":
            self.grpc_do("ListPlaylists", pb.ListPlaylistsRequest(page_size=5))
        elif operation == "add":
            self.grpc_playlist(self.grpc_do("AddTrack", pb.AddTrackRequest(playlist_id=self.playlist,
                                                                           track_id=self.rng.choice(TRACKS))))
        elif operation == "rename":
            self.grpc_playlist(self.grpc_do("UpdatePlaylist", pb.UpdatePlaylistRequest(
                id=self.playlist, version=self.version, name=f"soak {self.version}")))
        elif operation == "remove":
            if self.length:
                self.grpc_playlist(self.grpc_do("RemoveTrack", pb.RemoveTrackRequest(playlist_id=self.playlist,
                                                                                     position=1)))
        elif operation == "delete":
            self.grpc_do("DeletePlaylist", pb.DeletePlaylistRequest(id=self.playlist))
            self.playlist = None
        elif operation == "play" and self.length > 4:
            self.grpc_generic("get")
        elif operation == "play":
            # A server stream: at 1 ms a second of music, four tracks take about a second.
            try:
                messages = list(self.stub.PlayPlaylist(pb.PlayPlaylistRequest(id=self.playlist, ms_per_second=1),
                                                       metadata=self.metadata, timeout=TIMEOUT))
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # Back-pressure, by design: streams may hold all of the server's threads but one.
                    return "RESOURCE_EXHAUSTED (every stream slot busy)"
                raise Unexpected(f"PlayPlaylist: {error.code().name} {error.details()}") from None
            if len(messages) != self.length:
                raise Unexpected(f"PlayPlaylist sent {len(messages)} of {self.length} tracks")
        elif operation == "echo":
            self.grpc_do("Echo", pb.EchoRequest(message="soak"))


# --- hostile clients: each attack and the refusals the contract allows for it --------------------

class Hostile:
    def __init__(self, protocol: str, endpoints: dict, credentials: dict, rng: random.Random):
        self.protocol, self.rng = protocol, rng
        self.key = credentials["users"]["alice"]["api_key"]
        self.rest = f"http://127.0.0.1:{endpoints['rest'].port}"
        self.soap = f"http://127.0.0.1:{endpoints['soap'].port}/soap"
        self.http = session()                         # garbage, with a valid key: no lockout earned
        self.attacker = session(ATTACKER_ADDRESS)     # wrong credentials, from another address
        self.channel = grpc.insecure_channel(f"127.0.0.1:{endpoints['grpc'].port}")

    def close(self):
        self.http.close()
        self.attacker.close()
        self.channel.close()

    ATTACKS = {"rest": ["wrong_key", "wrong_password", "garbage_body", "wrong_types", "oversized", "bad_query",
                        "probe"],
               "soap": ["wrong_password", "wrong_key", "garbage", "oversized", "entities", "schema_invalid"],
               "grpc": ["no_credential", "undecodable", "oversized", "bad_argument", "unknown_method"]}

    only: set = set()   # --attacks: a subset of the attacks, to find which one causes what

    def next_call(self):
        attacks = [a for a in self.ATTACKS[self.protocol] if not self.only or a in self.only]
        return self.rng.choice(attacks or self.ATTACKS[self.protocol])

    def call(self, attack: str) -> str:
        """Run one attack; the kind of refusal it got (raises Unexpected for any other answer)."""
        return getattr(self, f"{self.protocol}_{attack}")()

    # REST: status codes allowed for each attack

    def rest_expect(self, answer, allowed) -> str:
        if answer.status_code not in allowed:
            raise Unexpected(f"HTTP {answer.status_code} {answer.text[:200]}")
        if not answer.headers.get("Content-Type", "").startswith("application/problem+json"):
            raise Unexpected(f"HTTP {answer.status_code} as {answer.headers.get('Content-Type')}")
        return str(answer.status_code)

    def rest_wrong_key(self):
        answer = self.attacker.get(f"{self.rest}/v1/me", headers={"X-API-Key": "pk_" + "x" * 32}, timeout=TIMEOUT)
        return self.rest_expect(answer, (401, 429))   # 429: the attacker's address is locked out

    def rest_wrong_password(self):
        # Guessing bob's password: it locks bob's password logins (by design: 5 failures in a row),
        # while alice, whose traffic this soak measures, goes on.
        answer = self.attacker.get(f"{self.rest}/v1/me", auth=("bob", "guess"), timeout=TIMEOUT)
        return self.rest_expect(answer, (401, 429))

    def rest_garbage_body(self):
        body = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 500)))
        answer = self.http.post(f"{self.rest}/v1/playlists", data=body, timeout=TIMEOUT,
                                headers={"X-API-Key": self.key, "Content-Type": "application/json"})
        return self.rest_expect(answer, (400,))

    def rest_wrong_types(self):
        answer = self.http.post(f"{self.rest}/v1/playlists", json={"name": 42, "track_ids": "all"}, timeout=TIMEOUT,
                                headers={"X-API-Key": self.key})
        return self.rest_expect(answer, (400,))

    def rest_oversized(self):
        answer = self.http.post(f"{self.rest}/v1/playlists", data=b'{"name": "' + b"x" * BIG + b'"}',
                                headers={"X-API-Key": self.key, "Content-Type": "application/json"}, timeout=TIMEOUT)
        return self.rest_expect(answer, (413,))

    def rest_bad_query(self):
        answer = self.http.get(f"{self.rest}/v1/tracks", params={"page_size": "lots", "page_token": "forged.token"},
                               headers={"X-API-Key": self.key}, timeout=TIMEOUT)
        return self.rest_expect(answer, (400,))

    def rest_probe(self):
        answer = self.http.get(f"{self.rest}/v1/playlists/pl_{self.rng.getrandbits(64):x}",
                               headers={"X-API-Key": self.key}, timeout=TIMEOUT)
        return self.rest_expect(answer, (404,))

    # SOAP: fault codes allowed for each attack

    def soap_expect(self, answer, allowed) -> str:
        verdict, code = soap_answer(answer)
        if verdict != "fault" or code not in allowed:
            raise Unexpected(f"{verdict} {code if verdict == 'fault' else ''}")
        return code

    def soap_post(self, data, http=None):
        return (http or self.http).post(self.soap, data=data, headers={"Content-Type": "text/xml"}, timeout=TIMEOUT)

    def soap_wrong_password(self):
        header = (f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>bob</wsse:Username>'
                  "<wsse:Password>guess</wsse:Password></wsse:UsernameToken></wsse:Security>")
        return self.soap_expect(self.soap_post(soap_envelope("<p:WhoAmI/>", header), self.attacker),
                                ("Client.Unauthenticated", "Client.RateLimited"))

    def soap_wrong_key(self):
        return self.soap_expect(self.soap_post(soap_envelope("<p:WhoAmI/>", "<p:ApiKey>pk_nope</p:ApiKey>"),
                                               self.attacker), ("Client.Unauthenticated", "Client.RateLimited"))

    def soap_garbage(self):
        body = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 500)))
        return self.soap_expect(self.soap_post(body), ("Client.XMLSyntaxError",))

    def soap_oversized(self):
        name = "x" * BIG
        return self.soap_expect(self.soap_post(soap_envelope(f"<p:CreatePlaylist><p:name>{name}</p:name>"
                                                             "</p:CreatePlaylist>", f"<p:ApiKey>{self.key}</p:ApiKey>")),
                                ("Client.TooLarge",))

    def soap_entities(self):
        data = b'<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + soap_envelope(
            "<p:CreatePlaylist><p:name>&x;</p:name></p:CreatePlaylist>", f"<p:ApiKey>{self.key}</p:ApiKey>")
        return self.soap_expect(self.soap_post(data), ("Client.DTDNotAllowed",))

    def soap_schema_invalid(self):
        data = soap_envelope("<p:GeneratePlaylist><p:mood>calm</p:mood><p:duration_minutes>forever"
                             "</p:duration_minutes></p:GeneratePlaylist>", f"<p:ApiKey>{self.key}</p:ApiKey>")
        return self.soap_expect(self.soap_post(data), ("Client.SchemaValidationError",))

    # gRPC: status codes allowed for each attack

    def grpc_expect(self, method: str, data: bytes, metadata, allowed) -> str:
        call = self.channel.unary_unary(f"/playlist.v1.Playlists/{method}")   # raw bytes out, raw bytes in
        try:
            call(data, metadata=metadata, timeout=TIMEOUT)
        except grpc.RpcError as error:
            if error.code() not in allowed:
                raise Unexpected(f"{method}: {error.code().name} {error.details()}") from None
            return error.code().name
        raise Unexpected(f"{method}: OK for a hostile call")

    def grpc_no_credential(self):
        return self.grpc_expect("WhoAmI", b"", [], (grpc.StatusCode.UNAUTHENTICATED,))

    def grpc_undecodable(self):
        data = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 200))) + b"\xff\xff\xff\xff\x0f"
        return self.grpc_expect("CreatePlaylist", data, [("x-api-key", self.key)],
                                (grpc.StatusCode.INVALID_ARGUMENT,))

    def grpc_oversized(self):
        data = pb.CreatePlaylistRequest(name="x" * BIG).SerializeToString()
        return self.grpc_expect("CreatePlaylist", data, [("x-api-key", self.key)],
                                (grpc.StatusCode.RESOURCE_EXHAUSTED,))

    def grpc_bad_argument(self):
        data = pb.SearchTracksRequest(page_size=-5, mood="furious").SerializeToString()
        return self.grpc_expect("SearchTracks", data, [("x-api-key", self.key)], (grpc.StatusCode.INVALID_ARGUMENT,))

    def grpc_unknown_method(self):
        return self.grpc_expect("DropTables", b"", [("x-api-key", self.key)], (grpc.StatusCode.UNIMPLEMENTED,))


# --- the run -------------------------------------------------------------------------------------

def client_loop(client, protocol: str, hostile: bool, deadline: float, tally: Tally) -> None:
    finished = time.perf_counter()
    try:
        while time.monotonic() < deadline:
            operation = client.next_call()
            started = time.perf_counter()
            idle, finished = started - finished, started   # how long this client left its connection unused
            try:
                refusal = client.call(operation)
            except Unexpected as error:
                tally.add("unexpected", protocol, f"{'hostile ' if hostile else ''}{operation}",
                          time.perf_counter() - started, str(error))
                finished = time.perf_counter()
                if not hostile:
                    client.playlist = None   # start afresh from a known state
                continue
            except Exception as error:  # a dropped connection, a timeout, an answer that does not parse
                tally.add("unexpected", protocol, f"{'hostile ' if hostile else ''}{operation}: "
                          f"{type(error).__name__}", time.perf_counter() - started,
                          f"{error!r} (the connection had been idle {idle:.2f} s)")
                if not hostile:
                    client.playlist = None
                finished = time.perf_counter()
                continue
            seconds = time.perf_counter() - started
            finished = time.perf_counter()
            if hostile or refusal:
                tally.add("refused", protocol, f"{operation} -> {refusal}", seconds)
            else:
                tally.add("ok", protocol, operation, seconds)
    finally:
        client.close()


def fresh_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="playlists-soak-"))
    subprocess.run([sys.executable, "-m", "core.setup"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PLAYLISTS_HOME": str(home)})
    return home


def report(tally: Tally, args, endpoints, memory_before, memory_warm, memory_after, extra_unexpected: list,
           seconds: float) -> str:
    lines = [f"soak: {seconds:.0f} s, {args.concurrency} clients ({args.concurrency - args.hostile} well-behaved, "
             f"{args.hostile} hostile) on REST :{endpoints['rest'].port}, SOAP :{endpoints['soap'].port}, "
             f"gRPC :{endpoints['grpc'].port}",
             f"calls: {tally.total()} ({tally.total() / seconds:.0f}/s): ok {tally.total('ok')}, expected refusals "
             f"{tally.total('refused')}, unexpected errors {tally.total('unexpected') + len(extra_unexpected)}"]
    for verdict, title in (("refused", "expected refusals, by kind"), ("unexpected", "UNEXPECTED errors, by kind")):
        rows = sorted(((p, k, n) for (v, p, k), n in tally.counts.items() if v == verdict))
        if rows:
            lines.append(f"  {title}:")
            lines += [f"    {p:4} {k:40} {n:6}" for p, k, n in rows]
    for (protocol, kind), example in tally.examples.items():
        lines.append(f"    e.g. {protocol} {kind}: {example}")
    lines += [f"    {problem}" for problem in extra_unexpected]
    lines.append("  latency of the well-behaved calls (ms):   calls     p50     p99     max")
    for protocol in (*PROTOCOLS, "grpc stream"):
        values = tally.latency[protocol]
        lines.append(f"    {protocol:36} {len(values):7} {percentile(values, .5) * 1000:7.1f} "
                     f"{percentile(values, .99) * 1000:7.1f} {max(values, default=0) * 1000:7.1f}")
    everything = [v for p in PROTOCOLS for v in tally.latency[p]]
    lines.append(f"    all unary calls {'':21} {len(everything):7} {percentile(everything, .5) * 1000:7.1f} "
                 f"{percentile(everything, .99) * 1000:7.1f} {max(everything, default=0) * 1000:7.1f}")
    lines.append("  server memory, RSS of all the server's processes:   before    warmed up     at the end")
    for kind in PROTOCOLS:
        (n0, before), (_, warm), (n1, after) = memory_before[kind], memory_warm[kind], memory_after[kind]
        lines.append(f"    {kind:4} ({n0} -> {n1} processes) {'':14} {before / 2**20:7.1f} MB {warm / 2**20:9.1f} MB "
                     f"{after / 2**20:9.1f} MB  (after warm-up {(after - warm) / 2**20:+.1f} MB)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long the traffic runs (default 60)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients at once (default 32)")
    parser.add_argument("--hostile", type=int, help="of which hostile (default: one in five)")
    parser.add_argument("--attacks", default="", help="only these hostile calls, comma-separated (default: all)")
    parser.add_argument("--seed", type=int, default=8, help="random seed of the clients' choices (default 8)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary $PLAYLISTS_HOME")
    args = parser.parse_args()
    args.hostile = args.concurrency // 5 if args.hostile is None else args.hostile
    Hostile.only = {a for a in args.attacks.split(",") if a}
    home = fresh_home()
    env = {"PLAYLISTS_RATE_LIMIT": "1000000/minute"}   # one user makes every good call: no rate limit in the way
    endpoints = {}
    try:
        for kind, module in (("rest", "rest"), ("soap", "soap"), ("grpc", "rpc")):
            endpoints[kind] = Server(module, home, env)
        credentials = json.loads((home / "credentials.json").read_text())
        print(f"soak: servers up on a fresh home {home}; {args.seconds:.0f} s of traffic from {args.concurrency} "
              "clients ...", flush=True)
        # Warm up (each server answers once), then read the memory the run starts from.
        for protocol in PROTOCOLS:
            user = User(protocol, endpoints, credentials, random.Random(0))
            user.call("who_am_i")
            user.close()
        memory_before = {kind: rss_of_group(server.process.pid) for kind, server in endpoints.items()}
        tally, threads = Tally(), []
        started = time.monotonic()
        deadline = started + args.seconds
        for index in range(args.concurrency):
            protocol = PROTOCOLS[index % len(PROTOCOLS)]
            hostile = index >= args.concurrency - args.hostile
            rng = random.Random(args.seed * 1000 + index)
            client = (Hostile if hostile else User)(protocol, endpoints, credentials, rng)
            threads.append(threading.Thread(target=client_loop, args=(client, protocol, hostile, deadline, tally),
                                            daemon=True))
        for thread in threads:
            thread.start()
        # The first quarter (at most 15 s) warms the servers up: their memory from then on is what may leak.
        threads[0].join(timeout=min(15.0, args.seconds / 4))
        memory_warm = {kind: rss_of_group(server.process.pid) for kind, server in endpoints.items()}
        for thread in threads:
            thread.join(timeout=args.seconds + TIMEOUT + 30)
        elapsed = time.monotonic() - started
        extra = [f"a client thread never finished ({sum(t.is_alive() for t in threads)})"] if any(
            t.is_alive() for t in threads) else []
        memory_after = {kind: rss_of_group(server.process.pid) for kind, server in endpoints.items()}
        for kind, server in endpoints.items():
            if server.process.poll() is not None:
                extra.append(f"the {kind} server died (exit {server.process.returncode})")
        with sqlite3.connect(home / "playlists.sqlite3", timeout=30) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            extra.append(f"integrity_check: {integrity}")
        logged = {kind: len(server.output()) for kind, server in endpoints.items()}
    finally:
        stopped = {kind: server.stop() for kind, server in endpoints.items()}
    for kind, server in endpoints.items():
        log = server.output()
        during, after = (log[:logged.get(kind, len(log))].count(TRACEBACK), log[logged.get(kind, len(log)):].count(
            TRACEBACK))
        if during:
            extra.append(f"the {kind} server logged {during} tracebacks under traffic (log: {server.log_path})")
        if after or stopped[kind] != 0:
            extra.append(f"the {kind} server, stopped with SIGTERM, exited {stopped[kind]} and logged {after} "
                         f"tracebacks while stopping (log: {server.log_path})")
    text = report(tally, args, endpoints, memory_before, memory_warm, memory_after, extra, elapsed)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({
            "seconds": elapsed, "concurrency": args.concurrency, "hostile": args.hostile, "calls": tally.total(),
            "ok": tally.total("ok"), "refused": tally.total("refused"),
            "unexpected": tally.total("unexpected") + len(extra),
            "by_kind": [{"verdict": v, "protocol": p, "kind": k, "count": n} for (v, p, k), n in tally.counts.items()],
            "p99_ms": {p: percentile(tally.latency[p], .99) * 1000 for p in PROTOCOLS},
            "rss_mb": {k: {"before": memory_before[k][1] / 2**20, "warmed_up": memory_warm[k][1] / 2**20,
                           "after": memory_after[k][1] / 2**20}
                       for k in PROTOCOLS}}, indent=2))
    unexpected = tally.total("unexpected") + len(extra)
    if unexpected == 0 and not args.keep_home:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"soak: the home is kept for a look: {home}")
    print(f"soak: {'PASS' if unexpected == 0 else 'FAIL'}: {unexpected} unexpected errors")
    return 0 if unexpected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
