"""The soak's traffic: well-behaved users and hostile clients, each on one protocol, all
calling through clients/calls.py, and the tally of what every call came to."""
import threading
import time
from collections import Counter, defaultdict

import grpc
from playlist.v1 import playlist_pb2 as pb

from clients import calls

TRACKS = ["bach-bwv1068-air", "bach-bwv1007-prelude", "josquin-ave-maria-virgo-serena", "bach-bwv1067-badinerie",
          "palestrina-papae-marcelli-kyrie"]
BIG = 100 * 1024                   # over the 64 KiB body limit of all three servers


class Unexpected(Exception):
    """A call that got an answer the contract does not allow for it."""


class Tally:
    """What each call came to: ok, an expected refusal, or unexpected."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()            # ("ok" | "refused" | "unexpected", protocol, kind)
        self.latency = defaultdict(list)   # protocol -> seconds of its well-behaved calls
        self.examples = {}                 # an example of each unexpected kind

    def add(self, verdict: str, protocol: str, kind: str, seconds: float, example: str = "") -> None:
        with self.lock:
            self.counts[verdict, protocol, kind] += 1
            if verdict == "ok":   # a stream lasts as long as its music: its time is no latency
                stream = protocol == "grpc" and kind == "play_playlist"
                self.latency["grpc stream" if stream else protocol].append(seconds)
            if verdict == "unexpected" and (protocol, kind) not in self.examples:
                self.examples[protocol, kind] = f"[{time.strftime('%H:%M:%S')}] {example[:500]}"

    def total(self, verdict: str | None = None) -> int:
        return sum(n for (v, _, _), n in self.counts.items() if verdict in (None, v))


# --- well-behaved users ------------------------------------------------------------------------

# How often a user makes each call. "who_am_i (basic)" pays for a password login now and then;
# play_playlist streams a short playlist over gRPC (REST and SOAP, which have no streams, echo).
WEIGHTS = {"who_am_i": 6, "search_tracks": 10, "get_track": 8, "get_playlist": 12, "list_playlists": 5,
           "add_track": 14, "update_playlist": 5, "remove_track": 6, "delete_playlist": 1, "who_am_i (basic)": 1,
           "play_playlist": 2, "echo": 3}
ANSWERED_WITH_THE_PLAYLIST = {"create_playlist", "get_playlist", "add_track", "update_playlist", "remove_track"}


def success(protocol: str, operation: str) -> str:
    """The status of a success: REST says 201 for a creation and 204 for a deletion."""
    if protocol == "rest":
        return {"create_playlist": "201", "delete_playlist": "204"}.get(operation, "200")
    return {"soap": "200", "grpc": "OK"}[protocol]


class User:
    """A well-behaved client of one protocol (alice); it owns one playlist at a time, which it
    reads, grows, renames, trims and now and then deletes and makes again."""

    def __init__(self, protocol: str, wire: calls.Endpoints, credentials: dict, rng):
        self.protocol, self.wire, self.rng = protocol, wire, rng
        alice = credentials["users"]["alice"]
        self.key, self.password = calls.key(alice["api_key"]), calls.basic("alice", alice["password"])
        self.playlist, self.version, self.length = None, 0, 0

    def close(self):
        self.wire.close()

    def next_call(self) -> str:
        """The next call: create when there is no playlist, else a weighted mix."""
        if self.playlist is None:
            return "create_playlist"
        if self.length >= 20:
            return "remove_track"
        return self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]

    def arguments(self, operation: str) -> dict:
        pid = self.playlist
        return {"create_playlist": {"name": "soak", "mood": "calm", "track_ids": TRACKS[:2]},
                "who_am_i": {}, "echo": {"message": "soak"},
                "search_tracks": {"mood": self.rng.choice(["calm", "joyful"]), "page_size": 10},
                "get_track": {"track_id": self.rng.choice(TRACKS)}, "get_playlist": {"playlist_id": pid},
                "list_playlists": {"page_size": 5},
                "add_track": {"playlist_id": pid, "track_id": self.rng.choice(TRACKS)},
                "update_playlist": {"playlist_id": pid, "version": self.version, "name": f"soak {self.version}"},
                "remove_track": {"playlist_id": pid, "position": 1},
                "delete_playlist": {"playlist_id": pid}}[operation]

    def call(self, step: str) -> str | None:
        """None when the call succeeded; the kind of refusal when the server pushed back by design.
        Raises Unexpected for any other answer."""
        if step == "play_playlist":
            return self.play()
        if step == "remove_track" and not self.length:
            return None
        operation = step.removesuffix(" (basic)")
        credential = self.password if step.endswith("(basic)") else self.key
        answer = self.wire.call(self.protocol, operation, credential, **self.arguments(operation))
        if answer.status != success(self.protocol, operation) or answer.broken:
            raise Unexpected(f"{operation}: {answer.status} {answer.broken or answer.detail[:200]}")
        if operation == "delete_playlist":
            self.playlist = None
        elif operation in ANSWERED_WITH_THE_PLAYLIST:
            playlist = answer.playlist()
            self.playlist, self.version, self.length = playlist["id"], playlist["version"], len(playlist["track_ids"])
        return None

    def play(self) -> str | None:
        if self.protocol != "grpc":
            return self.call("echo")
        if self.length > 4:
            return self.call("get_playlist")
        # A server stream: at 1 ms a second of music, four tracks take about a second.
        try:
            messages = list(self.wire.stub().PlayPlaylist(pb.PlayPlaylistRequest(id=self.playlist, ms_per_second=1),
                                                          metadata=calls.grpc_metadata(self.key),
                                                          timeout=calls.TIMEOUT))
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # Back-pressure, by design: streams may hold all of the server's threads but one.
                return "RESOURCE_EXHAUSTED (every stream slot busy)"
            raise Unexpected(f"PlayPlaylist: {error.code().name} {error.details()}") from None
        if len(messages) != self.length:
            raise Unexpected(f"PlayPlaylist sent {len(messages)} of {self.length} tracks")
        return None


# --- hostile clients: each attack, and the refusals the contract allows for it ------------------
# `h.wire` calls with alice's valid key (garbage earns no lockout); `h.attacker` calls from a
# second loopback address, so that the address lockout that wrong credentials earn does not
# lock the users out. Guessing bob's password locks bob's password logins (5 failures in a row),
# by design, while alice, whose traffic the soak measures, goes on.

def garbage(h, most: int) -> bytes:
    return bytes(h.rng.getrandbits(8) for _ in range(h.rng.randint(1, most)))


def with_an_entity(h) -> bytes:
    """A CreatePlaylist envelope whose DTD points an entity at a file, and a name that uses it."""
    body = calls.envelope("CreatePlaylist", {"name": "ENTITY"}, h.key).replace(b"ENTITY", b"&x;")
    return b'<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body


# 429 and Client.RateLimited: the attacker's address, locked out by its own failures.
ATTACKS = {
    "rest": {
        "wrong_key": (lambda h: h.attacker.call("rest", "who_am_i", calls.key("pk_" + "x" * 32)), ("401", "429")),
        "wrong_password": (lambda h: h.attacker.call("rest", "who_am_i", calls.basic("bob", "guess")), ("401", "429")),
        "garbage_body": (lambda h: h.wire.rest("POST", "/v1/playlists", h.key, garbage(h, 500),
                                               {"Content-Type": "application/json"}), ("400",)),
        "wrong_types": (lambda h: h.wire.rest("POST", "/v1/playlists", h.key, {"name": 42, "track_ids": "all"}),
                        ("400",)),
        "oversized": (lambda h: h.wire.rest("POST", "/v1/playlists", h.key, b'{"name": "' + b"x" * BIG + b'"}',
                                            {"Content-Type": "application/json"}), ("413",)),
        "bad_query": (lambda h: h.wire.call("rest", "search_tracks", h.key, page_size="lots",
                                            page_token="forged.token"), ("400",)),
        "probe": (lambda h: h.wire.call("rest", "get_playlist", h.key, playlist_id=f"pl_{h.rng.getrandbits(64):x}"),
                  ("404",)),
    },
    "soap": {
        "wrong_password": (lambda h: h.attacker.call("soap", "who_am_i", calls.basic("bob", "guess")),
                           ("Client.Unauthenticated", "Client.RateLimited")),
        "wrong_key": (lambda h: h.attacker.call("soap", "who_am_i", calls.key("pk_nope")),
                      ("Client.Unauthenticated", "Client.RateLimited")),
        "garbage": (lambda h: h.wire.soap("", raw=garbage(h, 500)), ("Client.XMLSyntaxError",)),
        "oversized": (lambda h: h.wire.call("soap", "create_playlist", h.key, name="x" * BIG), ("Client.TooLarge",)),
        "entities": (lambda h: h.wire.soap("CreatePlaylist", raw=with_an_entity(h)), ("Client.DTDNotAllowed",)),
        "schema_invalid": (lambda h: h.wire.call("soap", "generate_playlist", h.key, mood="calm",
                                                 duration_minutes="forever"), ("Client.SchemaValidationError",)),
    },
    "grpc": {
        "no_credential": (lambda h: h.wire.call("grpc", "who_am_i"), ("UNAUTHENTICATED",)),
        "undecodable": (lambda h: h.wire.grpc("CreatePlaylist", garbage(h, 200) + b"\xff\xff\xff\xff\x0f", h.key),
                        ("INVALID_ARGUMENT",)),
        "oversized": (lambda h: h.wire.call("grpc", "create_playlist", h.key, name="x" * BIG), ("RESOURCE_EXHAUSTED",)),
        "bad_argument": (lambda h: h.wire.call("grpc", "search_tracks", h.key, page_size=-5, mood="furious"),
                         ("INVALID_ARGUMENT",)),
        "unknown_method": (lambda h: h.wire.grpc("DropTables", b"", h.key), ("UNIMPLEMENTED",)),
    },
}


class Hostile:
    """A hostile client of one protocol: each call one of its protocol's attacks, at random."""

    def __init__(self, protocol: str, wire: calls.Endpoints, attacker: calls.Endpoints, credentials: dict, rng,
                 only: set = frozenset()):
        self.protocol, self.wire, self.attacker, self.rng = protocol, wire, attacker, rng
        self.key = calls.key(credentials["users"]["alice"]["api_key"])
        chosen = [name for name in ATTACKS[protocol] if name in only]   # --attacks: to find which one causes what
        self.attacks = chosen or list(ATTACKS[protocol])

    def close(self):
        self.wire.close()
        self.attacker.close()

    def next_call(self) -> str:
        return self.rng.choice(self.attacks)

    def call(self, attack: str) -> str:
        """Run one attack; the refusal it got (raises Unexpected for any other answer)."""
        make, allowed = ATTACKS[self.protocol][attack]
        answer = make(self)
        if answer.ok:
            raise Unexpected(f"{answer.status} for a hostile call")
        if answer.status not in allowed or answer.broken:
            raise Unexpected(f"{answer.status} {answer.broken or answer.detail[:200]}")
        return answer.status


def client_loop(client, protocol: str, hostile: bool, deadline: float, tally: Tally) -> None:
    """One client's calls until the deadline, each tallied."""
    finished = time.perf_counter()
    try:
        while time.monotonic() < deadline:
            operation = client.next_call()
            started = time.perf_counter()
            idle, finished = started - finished, started   # how long this client left its connection unused
            kind = f"{'hostile ' if hostile else ''}{operation}"
            try:
                refusal = client.call(operation)
            except Unexpected as error:
                tally.add("unexpected", protocol, kind, time.perf_counter() - started, str(error))
                refusal = "unexpected"
            except Exception as error:  # a dropped connection, a timeout, an answer that does not parse
                tally.add("unexpected", protocol, f"{kind}: {type(error).__name__}", time.perf_counter() - started,
                          f"{error!r} (the connection had been idle {idle:.2f} s)")
                refusal = "unexpected"
            seconds = time.perf_counter() - started
            finished = time.perf_counter()
            if refusal == "unexpected":
                if not hostile:
                    client.playlist = None   # start afresh from a known state
            elif hostile or refusal:
                tally.add("refused", protocol, f"{operation} -> {refusal}", seconds)
            else:
                tally.add("ok", protocol, operation, seconds)
    finally:
        client.close()
