"""The exercises, in the handout's order: client, endpoint, schema, the three steps, the
protocols, the four ways to authenticate, then find it, fix it.

Each one is a goal, hints revealed one at a time, a solution in solutions/, and a check:
a function that looks at what the servers recorded (the calls since the exercise started,
the database now) and answers solved, or, in one sentence, what it saw and what is still
missing. The first hint points, the last shows the command. In hints, a line indented by
four spaces is a command, shown exactly as written; secrets go by one name each, everywhere:
API_KEY, PASSWORD, CLIENT_ID, CLIENT_SECRET, TOKEN (bob's key: BOB_API_KEY).

No exercise depends on how the others were done: opening one (`show`, `hint`, `check`, or
`reset N`) clears the rate limiter's budgets and the failed logins (workshop/reset.py), so a
flood of exercise 12 or the guessing of exercise 11 never refuses the next one's calls; and
the attack scripts leave behind what the checks read (alice's playlist, a stored name).
"""
import re
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from core.config import DEFENCES, parse_rate
from core.limits import LOCKOUT_AFTER_FAILURES
from core.scan import sensitive_kind

from .evidence import (PROTOCOLS, Need, Result, Seen, authenticated_by, closest_miss, describe, first, from_curl,
                       miss, off, operation, over, succeeded)

SOLUTIONS = Path(__file__).resolve().parent / "solutions"


def secret(field: str, user: str = "alice") -> str:
    """The shell line that reads one secret from credentials.json into its one name, e.g. API_KEY
    (bob's: BOB_API_KEY); hints, solutions and the handout all use these names."""
    name = ("" if user == "alice" else f"{user.upper()}_") + field.upper()
    return (f"    {name}=$(python3 -c 'import json; print(json.load(open(\".demo/credentials.json\"))"
            f"[\"users\"][\"{user}\"][\"{field}\"])')")


@dataclass(frozen=True)
class Exercise:
    number: int
    slug: str
    title: str
    topic: str            # the handout's section it practises
    goal: str
    hints: tuple[str, ...]
    check: Callable[[Seen], Result]
    solution: str         # a file in workshop/solutions/

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS / self.solution

    @property
    def run(self) -> str:
        """How to run the solution from the repository's root."""
        path = f"workshop/solutions/{self.solution}"
        return f".venv/bin/python {path}" if path.endswith(".py") else f"bash {path}"


EXERCISES: list[Exercise] = []


def exercise(slug: str, title: str, topic: str, goal: str, hints: tuple[str, ...], solution: str = "sh"):
    """Register the decorated check as the next exercise; its solution is NN_slug.<solution>."""
    def register(check: Callable[[Seen], Result]):
        number = len(EXERCISES) + 1
        EXERCISES.append(Exercise(number, slug, title, topic, " ".join(goal.split()), hints, check,
                                  f"{number:02d}_{slug}.{solution}"))
        return check
    return register


def nothing_since(seen: Seen, do: str) -> str:
    return f"I have seen no call since you started this exercise at {seen.started}: {do}."


def listing(items: list[str], word: str = "and") -> str:
    """'a', 'a and b', 'a, b and c' (or with another word than 'and')."""
    return f" {word} ".join(filter(None, [", ".join(items[:-1]), items[-1]])) if items else ""


def iso(at: float) -> str:
    """A journal time as the database writes times, to the second: '2026-11-26T09:12:03Z'."""
    return datetime.fromtimestamp(int(at), timezone.utc).isoformat().replace("+00:00", "Z")


def each_protocol(seen: Seen, needs: list[Need], doing: str) -> tuple[dict, str]:
    """The first call over each protocol meeting `needs`; when one is missing, a sentence
    naming what was seen, what was not, and the closest miss over each missing protocol."""
    found, missing, misses = {}, [], []
    for protocol, name in PROTOCOLS.items():
        calls = [call for call in seen.calls if call["protocol"] == protocol]
        call = first(calls, *needs)
        if call:
            found[protocol] = call
            continue
        missing.append(name)
        if calls:
            misses.append(f"over {name} the closest was {miss(calls, needs)}")
    if not missing:
        return found, ""
    seen_over = f"over {listing([PROTOCOLS[p] for p in found])}" if found else "over none of REST, SOAP and gRPC"
    saw = f"I saw {doing} {seen_over}" + (f", but none over {listing(missing, 'or')} yet" if found else " yet")
    return found, "; ".join([saw, *misses]) + "."


# --- the client -------------------------------------------------------------------------------

@exercise("first_call", "Your first call, with curl", "client",
          """A client is any program that formats a request and sends it. Be one: with curl, ask the REST
          server for the list of moods (GET http://127.0.0.1:8080/v1/moods), proving that you are alice with
          her API key.""",
          ("alice's API key is in .demo/credentials.json, under users, alice, api_key. REST carries an API key in "
           "an HTTP header, X-API-Key.",
           "This reads the key into a shell variable, API_KEY; curl adds a header with -H:\n" + secret("api_key"),
           "curl -i shows the status line and the headers too:\n"
           "    curl -i http://127.0.0.1:8080/v1/moods -H \"X-API-Key: $API_KEY\""))
def first_call(seen: Seen) -> Result:
    needs = [over("rest", "send it to http://127.0.0.1:8080/v1/moods"),
             operation("list_moods", "ask for GET /v1/moods"),
             from_curl("make this call yourself, with curl"),
             succeeded("send alice's key in the X-API-Key header"),
             authenticated_by("api_key", "send alice's key in the X-API-Key header")]
    call = first(seen.calls, *needs)
    if call is None:
        return Result(False, closest_miss(seen.calls, needs, nothing_since(seen, "call /v1/moods with curl")))
    return Result(True, "The server received your curl call, knew alice by her API key and answered: "
                        f"{describe(call)}.")


# --- the endpoint -----------------------------------------------------------------------------

@exercise("soap_by_hand", "A SOAP envelope by hand", "endpoint",
          """A SOAP service has one endpoint for every operation, http://127.0.0.1:8081/soap; the envelope you
          post says which operation you mean. Write a CreatePlaylist envelope by hand and post it with curl,
          proving who you are with a WS-Security UsernameToken (alice's name and password) in its Header.""",
          ("Start from the handout's envelope (docs/handout.md, or http://127.0.0.1:8080/handout). The WSDL "
           "(http://127.0.0.1:8081/soap?wsdl) lists CreatePlaylist's fields, in their order; in the Body, put\n"
           "    <p:CreatePlaylist><p:name>By hand</p:name></p:CreatePlaylist>",
           "The Header holds the UsernameToken; PASSWORD is under users, alice, password in "
           ".demo/credentials.json:\n"
           "    <wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/"
           "oasis-200401-wss-wssecurity-secext-1.0.xsd\">\n"
           "      <wsse:UsernameToken><wsse:Username>alice</wsse:Username>"
           "<wsse:Password>PASSWORD</wsse:Password></wsse:UsernameToken>\n"
           "    </wsse:Security>",
           "Post it with the headers SOAP 1.1 asks for. A Fault comes back with HTTP 500; its faultstring says "
           "what was wrong.\n"
           "    curl -i http://127.0.0.1:8081/soap -H 'Content-Type: text/xml; charset=utf-8' "
           "-H 'SOAPAction: \"CreatePlaylist\"' --data-binary @envelope.xml"))
def soap_by_hand(seen: Seen) -> Result:
    needs = [over("soap", "post the envelope to http://127.0.0.1:8081/soap"),
             operation("create_playlist", "put <p:CreatePlaylist> in the envelope's Body"),
             from_curl("write the envelope yourself and post it with curl"),
             succeeded("the faultstring says what to change"),
             authenticated_by("basic", "put a WS-Security UsernameToken in the envelope's Header")]
    call = first(seen.calls, *needs)
    if call is None:
        return Result(False, closest_miss(seen.calls, needs, nothing_since(seen, "post your envelope with curl")))
    return Result(True, "Your hand-written envelope reached the one SOAP endpoint, its UsernameToken proved you "
                        f"were {call['user']}, and the playlist was created: {describe(call)}.")


# --- the schema -------------------------------------------------------------------------------

TRACK_CHANGE = Need(lambda c: c["operation"] in ("add_track", "remove_track") or "tracks" in c.get("changed", ()),
                    lambda c: f"it changed {listing(c.get('changed') or ['nothing'])}, not the tracks: give the update "
                              "track_ids, or call AddTrack" if c["operation"] == "update_playlist" else
                              f"it was {c['operation']}, not a change of tracks: update_playlist with track_ids, "
                              "add_track or remove_track")


@exercise("three_contracts", "One operation, three contracts", "schema",
          """Each protocol has its contract: the OpenAPI document (rest/openapi.json), the WSDL
          (wsdl/playlists.wsdl) and the proto (protos/playlist/v1/playlist.proto). Find the operation that
          changes a playlist in all three, and use it over REST, over SOAP and over gRPC to rename a playlist
          and to change its tracks.""",
          ("Look for the operationId update_playlist in the OpenAPI document, and for UpdatePlaylist in the WSDL's "
           "portType and in the proto's service: their fields say what an update can change.",
           "All three refuse to overwrite a newer version, so all three want the version you read: REST in an "
           "If-Match header (the ETag of the playlist's last answer), SOAP and gRPC in a version field. gRPC "
           "also wants an update_mask naming the fields to change: paths [\"name\", \"track_ids\"].",
           "Create a playlist (POST /v1/playlists), then change it once over each protocol, a new name and a list "
           "of tracks in one update; each raises the version by one, so read the new one from each answer:\n"
           "    curl -i -X PATCH http://127.0.0.1:8080/v1/playlists/ID -H \"X-API-Key: $API_KEY\" "
           "-H 'If-Match: \"1\"' -H 'Content-Type: application/json' "
           "-d '{\"name\": \"Renamed\", \"track_ids\": [\"bach-bwv1068-air\"]}'\n"
           "AddTrack and RemoveTrack change the tracks too."),
          solution="py")
def three_contracts(seen: Seen) -> Result:
    if not seen.calls:
        return Result(False, nothing_since(seen, "rename a playlist and change its tracks over each protocol"))
    renamed = Need(lambda c: "name" in c.get("changed", ()),
                   lambda c: f"it changed {listing(c.get('changed') or ['nothing'])}, not the name: give it a new name")
    found, missing = each_protocol(seen, [operation("update_playlist", "find the update in the contract"),
                                          succeeded("the answer says what to change"), renamed], "a rename")
    if missing:
        return Result(False, missing)
    tracks, missing = each_protocol(seen, [TRACK_CHANGE, succeeded("the answer says what to change")],
                                    "a change of tracks")
    if missing:
        return Result(False, missing)
    sizes = ", ".join(f"{PROTOCOLS[protocol]} sent {call['bytes_in']} bytes and got {call['bytes_out']} back"
                      for protocol, call in found.items())
    return Result(True, f"Renamed, and tracks changed, over all three; the renames: {sizes}. One operation, three "
                        "contracts, three sizes on the wire.")



@exercise("break_the_schema", "Break the schema, three ways", "schema",
          """The contract is also what each server checks a request against. Send each server a request that
          breaks it, and compare the three answers: one core error, invalid argument, encoded three ways.""",
          ("Each contract states types and rules: the OpenAPI document's schemas, the WSDL's XML Schema, the "
           "proto's field types and comments. Break one: a wrong type, or a number out of its range.",
           "REST: a playlist name that is a number. SOAP: text where the schema wants a number, e.g. "
           "<p:page_size>many</p:page_size> in a SearchTracks envelope; the Fault comes before any of the "
           "service's code runs. gRPC: the generated stub will not even build a message with text in an int32 (a "
           "TypeError, on your side of the wire), so break a rule the proto's comments state: page_size 1 to 50.",
           "REST, then gRPC (grpc_status.rpc_status.from_call(error) shows the BadRequest in the trailers):\n"
           "    curl -i http://127.0.0.1:8080/v1/playlists -H \"X-API-Key: $API_KEY\" "
           "-H 'Content-Type: application/json' -d '{\"name\": 42}'\n"
           "    stub.SearchTracks(pb.SearchTracksRequest(page_size=1000), metadata=[(\"x-api-key\", API_KEY)])"),
          solution="py")
def break_the_schema(seen: Seen) -> Result:
    invalid = Need(lambda c: c["outcome"] == "invalid_argument",
                   "it was not refused as an invalid argument: break a rule of the contract")
    found, missing = each_protocol(seen, [invalid], "a request that broke the contract")
    if missing:
        return Result(False, missing if seen.calls else nothing_since(seen, "break the contract on each protocol"))
    statuses = ", ".join(f"{PROTOCOLS[p]} {c['status']}" for p, c in found.items())
    return Result(True, f"The three errors: {statuses}. One core error, invalid argument, in three encodings.")


# --- the three steps --------------------------------------------------------------------------

STEPS = {0: "went through all three steps (e.g. GET /v1/me with a key)",
         2: "was refused at step 2 (e.g. no credential: 401)",
         3: "failed at step 3 (e.g. a playlist that does not exist: 404)"}


@exercise("three_steps", "Stop at each step", "the three steps",
          """Every call goes through three steps: received, then authenticated and validated, then answered.
          Make one call that is refused at step 2, one that fails at step 3, and one that gets through all
          three; the journal records where each one stopped.""",
          ("Step 2 checks who you are and whether the request is valid; step 3 is where the service looks things "
           "up. `make serve` prints each call with its three marks (✓ ✗ ·), and so does the live view at "
           "http://127.0.0.1:8080/live.",
           "Refused at step 2: leave the credential out. Failed at step 3: with a valid key, ask for a playlist "
           "that does not exist. Through all three: any call with a valid key.",
           "Three calls:\n"
           "    curl -i http://127.0.0.1:8080/v1/me\n"
           "    curl -i http://127.0.0.1:8080/v1/playlists/pl_nothing_here -H \"X-API-Key: $API_KEY\"\n"
           "    curl -i http://127.0.0.1:8080/v1/me -H \"X-API-Key: $API_KEY\""))
def three_steps(seen: Seen) -> Result:
    if not seen.calls:
        return Result(False, nothing_since(seen, "make three calls"))
    found = {step: first(seen.calls, Need(lambda c, s=step: c["stopped_at"] == s, "")) for step in STEPS}
    missing = [STEPS[step] for step, call in found.items() if call is None]
    if missing:
        saw = [f"a call that {STEPS[step].split(' (')[0]}" for step, call in found.items() if call]
        return Result(False, f"I saw {listing(saw)}, but no call yet that {', nor one that '.join(missing)}.")
    return Result(True, "All three seen. " + " ".join(f"One that {STEPS[step].split(' (')[0]}: {describe(call)}."
                                                       for step, call in found.items()))


# --- REST vs SOAP vs gRPC ---------------------------------------------------------------------

@exercise("stream_deadline", "A stream with a deadline", "REST vs SOAP vs gRPC",
          """A REST or SOAP call is one request and one answer; a gRPC call can stream. Play a playlist with
          PlayPlaylist, a server stream, and give the call a deadline shorter than the playlist: the deadline
          travels with the call, and the server stops playing the moment it passes.""",
          ("You need a playlist with a few tracks: GeneratePlaylist with mood 'calm' and 15 minutes makes one. "
           "Tracks play fast (5 ms per second of music): 15 minutes of music last about 4.5 s. The deadline is "
           "the client's to set, per call.",
           "In Python, timeout= is the deadline, in seconds from now; when it passes, the stream's loop ends with a "
           "grpc.RpcError whose code() is DEADLINE_EXCEEDED. Ctrl-C is not a deadline but a cancel, and the "
           "server records which it was.",
           "With the playlist's id and alice's key:\n"
           "    for now in stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist_id), "
           "metadata=[(\"x-api-key\", API_KEY)], timeout=1):\n"
           "        print(now.position, 'of', now.of, now.track.title)"),
          solution="py")
def stream_deadline(seen: Seen) -> Result:
    stopped = Need(lambda c: c["outcome"] == "deadline_exceeded",
                   lambda c: {"ok": "it played to its end: give the call a timeout shorter than the playlist",
                              "cancelled": "the client cancelled it before any deadline passed: give the call a "
                                           "timeout shorter than the playlist instead"}.get(
                       c["outcome"], "play a playlist that exists, with a timeout shorter than it"))
    needs = [over("grpc", "only gRPC streams; call PlayPlaylist on 127.0.0.1:50051"),
             operation("play_playlist", "call PlayPlaylist, the server stream"), stopped]
    call = first(seen.calls, *needs)
    if call is None:
        return Result(False, closest_miss(seen.calls, needs, nothing_since(seen, "play a playlist over gRPC")))
    return Result(True, f"The server saw your deadline pass after {call['ms'] / 1000:.1f} s and {call['bytes_out']} "
                        f"bytes, stopped playing and recorded {call['status']}. A REST or SOAP server would have sent "
                        "its whole answer.")


# --- authentication ---------------------------------------------------------------------------

METHODS = {"api_key": "an API key", "basic": "a user name and password",
           "bearer": "an OAuth token from POST /oauth/token", "mtls": "a client certificate on a TLS port"}


@exercise("four_ways_in", "Four ways in", "authentication",
          """The service accepts four credentials: an API key, a user name and password, an OAuth 2.0 bearer
          token and a client certificate. Make one successful call with each, over any protocol; the server
          records which credential proved who you were.""",
          ("alice's secrets are all in .demo/credentials.json (api_key, password, client_id, client_secret), her "
           "certificate and key in .demo/tls/. GET /v1/me answers who you are, and by what.",
           "API_KEY: the X-API-Key header. PASSWORD: HTTP Basic (curl -u). A TOKEN: trade CLIENT_ID and "
           "CLIENT_SECRET for one at POST /oauth/token with grant_type=client_credentials, then send it as "
           "Authorization: Bearer TOKEN. The certificate: the TLS port, https://127.0.0.1:8443.",
           "Four calls (the token's request answers JSON: its access_token is the TOKEN):\n"
           "    curl http://127.0.0.1:8080/v1/me -H \"X-API-Key: $API_KEY\"\n"
           "    curl http://127.0.0.1:8080/v1/me -u \"alice:$PASSWORD\"\n"
           "    curl http://127.0.0.1:8080/oauth/token -u \"$CLIENT_ID:$CLIENT_SECRET\" "
           "-d grant_type=client_credentials\n"
           "    curl http://127.0.0.1:8080/v1/me -H \"Authorization: Bearer $TOKEN\"\n"
           "    curl https://127.0.0.1:8443/v1/me --cacert .demo/tls/ca.pem --cert .demo/tls/alice.pem "
           "--key .demo/tls/alice.key"))
def four_ways_in(seen: Seen) -> Result:
    found = {m: first(seen.calls, succeeded(), authenticated_by(m, "")) for m in METHODS}
    if not seen.calls:
        return Result(False, nothing_since(seen, "make one successful call with each credential"))
    done = [f"{m} ({PROTOCOLS[c['protocol']]})" for m, c in found.items() if c]
    missing = [f"{m} ({METHODS[m]})" for m, c in found.items() if c is None]
    if missing:
        saw = f"I saw successful calls authenticated by {listing(done)}, but" if done else "I saw no successful call,"
        return Result(False, f"{saw} none yet by {listing(missing, 'or')}.")
    return Result(True, f"Four ways in, each recorded by the server: {listing(done)}.")


@exercise("token_on_grpc", "One token, another protocol", "authentication",
          """The REST server issues OAuth 2.0 tokens, and every server accepts them: a token is a signed
          statement of who you are, not a session of one server. Get a token from POST /oauth/token and make a
          successful gRPC call with it.""",
          ("The REST server issues tokens at POST /oauth/token (OAuth 2.0's client-credentials grant) for alice's "
           "CLIENT_ID and CLIENT_SECRET (in .demo/credentials.json). gRPC credentials travel as metadata.",
           "The token's request, with curl; the answer's access_token is the TOKEN:\n"
           "    curl http://127.0.0.1:8080/oauth/token -u \"$CLIENT_ID:$CLIENT_SECRET\" "
           "-d grant_type=client_credentials",
           "gRPC metadata keys are lower-case; WhoAmI answers auth_method 'bearer' when the token worked:\n"
           "    stub.WhoAmI(pb.WhoAmIRequest(), metadata=[(\"authorization\", \"Bearer \" + TOKEN)])"),
          solution="py")
def token_on_grpc(seen: Seen) -> Result:
    token = first(seen.calls, over("rest", ""), operation("issue_token", ""), succeeded())
    if token is None:
        return Result(False, "I saw no token issued since you started this exercise at "
                             f"{seen.started}: ask POST http://127.0.0.1:8080/oauth/token for one first.")
    later = [call for call in seen.calls if call["at"] > token["at"]]
    needs = [over("grpc", "send it as gRPC metadata to 127.0.0.1:50051"),
             succeeded("send the whole token: authorization: Bearer TOKEN"),
             authenticated_by("bearer", "send the token as authorization: Bearer TOKEN metadata")]
    call = first(later, *needs)
    if call is None:
        return Result(False, closest_miss(later, needs, "I saw your token issued, but no call after it yet: "
                                                        "make a gRPC call with it."))
    return Result(True, f"A token from the REST server opened the gRPC server: {describe(call)}.")


@exercise("client_certificate", "A certificate, no secret", "authentication",
          """With mutual TLS the certificate is the credential: no key, password or token crosses the wire, and
          the server takes the user's name from the certificate its TLS handshake verified. Be bob: make a
          successful call with bob's client certificate, on any protocol's TLS port.""",
          ("bob's certificate and private key are .demo/tls/bob.pem and .demo/tls/bob.key; the CA that signed "
           "the server's certificate, which curl must trust, is .demo/tls/ca.pem.",
           "The TLS ports: REST https://127.0.0.1:8443, SOAP https://127.0.0.1:8444/soap, gRPC "
           "127.0.0.1:50052.\n"
           "    curl https://127.0.0.1:8443/v1/me --cacert .demo/tls/ca.pem --cert .demo/tls/bob.pem "
           "--key .demo/tls/bob.key",
           "Try it without --cert: the handshake fails before any request is sent, so the journal records "
           "nothing. The server never saw a call."))
def client_certificate(seen: Seen) -> Result:
    needs = [succeeded(),
             authenticated_by("mtls", "call a TLS port with --cert and --key, and no other credential"),
             # In class mode bob is the seat's: seat07-bob.
             Need(lambda c: c["user"].rpartition("-")[2] == "bob",
                  lambda c: f"the certificate was {c['user']}'s, not bob's: use tls/bob.pem and tls/bob.key")]
    call = first(seen.calls, *needs)
    if call is None:
        return Result(False, closest_miss(seen.calls, needs,
                                          nothing_since(seen, "call a TLS port with bob's certificate")))
    return Result(True, "The handshake verified bob's certificate and the server took his name from it: "
                        f"{describe(call)}.")


# --- find it, fix it --------------------------------------------------------------------------
# Each attack is run twice: with its defence switched off (PLAYLISTS_UNSAFE, on loopback
# only), when it must succeed, then with the defence on, when it must fail. Every call
# event carries the switches that were off on the server that answered it (`unsafe`),
# so the journal shows which run was which.


def switch_off(seen: Seen, defence: str) -> str:
    """How to switch the defence off: for the whole server on one's own machine, for one's seat in class."""
    if seen.settings.classroom:
        return (f"switch {DEFENCES[defence]} off for your seat (its switch on the /workshop page, or "
                f".venv/bin/python -m workshop --server URL defence {defence} off)")
    return f"start the servers with PLAYLISTS_UNSAFE={defence} make serve"


def switch_on(seen: Seen, defence: str) -> str:
    if seen.settings.classroom:
        return f"switch {DEFENCES[defence]} back on for your seat"
    return "stop the servers, start them again with plain `make serve`"


def found_and_fixed(seen: Seen, defence: str, success: dict | None, refusals: list[dict], not_yet: str,
                    what: str = "") -> Result:
    """Solved when the attack succeeded with `defence` off and was refused, after that, with it on;
    `what` tells the success, when one call does not tell it all."""
    name = DEFENCES[defence]
    what = what or (describe(success) if success else "")
    if success is None:
        if refusals:
            return Result(False, f"I saw {name} refuse your attack ({describe(refusals[-1])}), but never the "
                                 f"attack succeed with it off: {switch_off(seen, defence)}, run the attack again "
                                 "and watch it work, then switch the defence back on.")
        return Result(False, not_yet)
    after = [call for call in refusals if call["at"] > success["at"]]
    if not after:
        return Result(False, f"I saw the attack succeed while {name} was off ({what}), but not yet fail "
                             f"with it on after that: {switch_on(seen, defence)}, and run the same attack.")
    return Result(True, f"Found and fixed. With {name} off: {what}. With it on: {describe(after[0])}.")


def no_attack(seen: Seen, defence: str, attack: str) -> str:
    off_calls = [call for call in seen.calls if off(call, defence)]
    if not seen.calls:
        return nothing_since(seen, f"{switch_off(seen, defence)} and {attack}")
    if not off_calls:
        return (f"I saw your calls, but none answered with {DEFENCES[defence]} off: {switch_off(seen, defence)}, "
                f"then {attack}.")
    return (f"I saw calls with {DEFENCES[defence]} off (the last: {describe(off_calls[-1])}), but no successful "
            f"attack: {attack}.")


PLAYLIST_BY_ID = ("get_playlist", "update_playlist", "add_track", "remove_track", "delete_playlist")
NOT_FOUND = re.compile(r"no playlist with id '([^']+)'")


@exercise("bola", "Find it, fix it: another user's playlist", "attacks",
          """Broken object-level authorization (BOLA, OWASP's API1): a server that checks who you are, but not
          whether the object you name is yours. Switch the ownership check off, and as bob read a playlist of
          alice's by its id: it works. Switch it back on, and the same request is refused as not found.""",
          ("Stop `make serve` (Ctrl-C) and start it with the defence off: PLAYLISTS_UNSAFE=bola make serve (the live "
           "view's Defences panel shows which defences are off). Then, as bob, ask for a playlist of alice's.",
           "As alice, create a playlist and note its id (POST /v1/playlists); as bob, with his own API key, "
           "GET /v1/playlists/THAT_ID. bob must own no playlist himself: the journal records who called, not which "
           "playlist a call read. `.venv/bin/python -m clients.attacks bola` makes both calls for you, on all three "
           "protocols.",
           "The two calls, then Ctrl-C, plain `make serve`, and both again: 404, the same answer as for an id that "
           "does not exist, so ids cannot even be probed.\n"
           + secret("api_key", "bob") + "\n"
           "    curl -s http://127.0.0.1:8080/v1/playlists -H \"X-API-Key: $API_KEY\" "
           "-H 'Content-Type: application/json' -d '{\"name\": \"Alice, private\"}'\n"
           "    curl -i http://127.0.0.1:8080/v1/playlists/THAT_ID -H \"X-API-Key: $BOB_API_KEY\""))
def bola(seen: Seen) -> Result:
    owners = {row["id"]: row["owner"] for row in seen.query("SELECT id, owner FROM playlists")}

    def owned_none(call):
        # created_at has whole seconds: a playlist made in the same second counts as made before.
        before = seen.query("SELECT COUNT(*) FROM playlists WHERE owner = ? AND created_at <= ?", call["user"],
                            iso(call["at"]))
        return before[0][0] == 0

    def named(call) -> str:
        return NOT_FOUND.search(call["reason"])[1]

    reads = [c for c in seen.calls if off(c, "bola") and c["operation"] in PLAYLIST_BY_ID and c["outcome"] == "ok"]
    success = next((call for call in reads if owned_none(call)), None)
    # The same attack refused: not found, for a playlist the database knows to be someone else's.
    refused = [c for c in seen.calls if not off(c, "bola") and c["operation"] in PLAYLIST_BY_ID
               and c["outcome"] == "not_found" and NOT_FOUND.search(c["reason"])]
    refusals = [call for call in refused if owners.get(named(call), call["user"]) != call["user"]]
    if success and not any(call["at"] > success["at"] for call in refusals):
        gone = [call for call in refused if call["at"] > success["at"] and named(call) not in owners]
        if gone:
            return Result(False, f"I saw {describe(gone[-1])} with the ownership check on, but that playlist is no "
                                 "longer in the database, so I cannot tell it was someone else's rather than an id "
                                 "that never existed: ask, as bob, for one of alice's playlists that is still there.")
    if reads and success is None:
        not_yet = (f"I saw {describe(reads[-1])} with the ownership check off, but {reads[-1]['user']} owned "
                   "playlists of his own, so I cannot tell it was someone else's: attack as a user who owns none.")
    else:
        not_yet = no_attack(seen, "bola", "as bob, read a playlist of alice's by its id")
    return found_and_fixed(seen, "bola", success, refusals, not_yet)


@exercise("brute_force", "Find it, fix it: guessing a password", "attacks",
          f"""A password can be guessed when nothing stops the guessing. Switch the lockout off and guess alice's
          password: every wrong guess is answered, and so, at last, is the right one. Switch it on and guess
          again: after {LOCKOUT_AFTER_FAILURES} failures even the right password is refused for a while.""",
          ("Start the servers with the lockout off (PLAYLISTS_UNSAFE=lockout make serve), then guess alice's "
           "password: any call that carries a password counts, HTTP Basic (curl -u) or a UsernameToken.",
           f"Guess {LOCKOUT_AFTER_FAILURES} or more wrong passwords, then the right one, PASSWORD. With the lockout "
           f"on, failure {LOCKOUT_AFTER_FAILURES} locks alice for 1 s, the next for 2 s, then 4 s; the lock is "
           "checked before the password, so the right one gets 429 too. "
           "`.venv/bin/python -m clients.attacks brute_force` guesses for you, over the three protocols in turn.",
           "Five wrong guesses and the right one, printing only the status; keep to a few: after 20 failures the "
           "whole address is locked, and everyone calling from this machine waits.\n"
           "    for guess in 123456 qwerty letmein iloveyou alice2026 \"$PASSWORD\"; do curl -s -o /dev/null "
           "-w '%{http_code}\\n' -u \"alice:$guess\" http://127.0.0.1:8080/v1/me; done"))
def brute_force(seen: Seen) -> Result:
    failures, success = 0, None
    # Count the failed logins with the lockout off, until a password gets through after enough of them.
    for call in seen.calls:
        if off(call, "lockout") and call["outcome"] == "unauthenticated":
            failures += 1
        elif off(call, "lockout") and call["outcome"] == "ok" and call["auth_method"] == "basic" \
                and failures >= LOCKOUT_AFTER_FAILURES:
            success = call
            break
    refusals = [c for c in seen.calls if not off(c, "lockout") and c["outcome"] == "rate_limited"
                and c["reason"].startswith("too many failed attempts")]
    if success is None and failures:
        not_yet = (f"I saw {failures} failed logins with the lockout off, but not {LOCKOUT_AFTER_FAILURES} or more "
                   "followed by the right password (HTTP Basic or a UsernameToken): keep guessing, then log in.")
    else:
        not_yet = no_attack(seen, "lockout",
                            f"guess alice's password {LOCKOUT_AFTER_FAILURES} times, then the right one")
    return found_and_fixed(seen, "lockout", success, refusals, not_yet,
                           f"{failures} failed logins, then {describe(success)}" if success else "")


RATE_IN_REASON = re.compile(r"rate limit of (\S+) exceeded")


@exercise("flood", "Find it, fix it: a flood", "attacks",
          """Every caller has a budget, PLAYLISTS_RATE_LIMIT (600 calls a minute unless the servers were started
          with another), shared by the three servers. Switch the rate limit off and flood a server with more
          calls than the budget allows: all are answered. Switch it on and flood again: 429 Too Many
          Requests.""",
          ("Start the servers with the rate limit off (PLAYLISTS_UNSAFE=ratelimit make serve), then send one "
           "caller's calls faster than the budget allows: curl can send many at once.",
           "Send more than twice the limit: the limiter counts in fixed windows (each minute from :00), and a "
           "flood that straddles two windows needs that many to overflow one. A 429 carries Retry-After and "
           "RateLimit-* headers (curl -i shows them); the live view's 'calls in the last 10 s' bars turn red. "
           "`.venv/bin/python -m clients.attacks flood` floods for you, as bob, over the three protocols in turn.",
           "1201 calls, 16 at a time; #[1-1201] is curl's URL globbing (the fragment is never sent). The flood "
           "spends alice's budget for the rest of the minute; the next exercise you open starts with a fresh one.\n"
           "    curl -s --no-progress-meter -o /dev/null -w '%{http_code}\\n' --parallel --parallel-max 16 "
           "\"http://127.0.0.1:8080/v1/moods#[1-1201]\" -H \"X-API-Key: $API_KEY\" | sort | uniq -c"))
def flood(seen: Seen) -> Result:
    refusals = [c for c in seen.calls if not off(c, "ratelimit") and c["outcome"] == "rate_limited"
                and RATE_IN_REASON.search(c["reason"])]
    # The limit the servers enforced is in their refusals; before there is one, ours.
    rate = RATE_IN_REASON.search(refusals[0]["reason"]).group(1) if refusals else seen.settings.rate_limit
    limit, window = parse_rate(rate)
    answered = [c for c in seen.calls if off(c, "ratelimit") and c["outcome"] == "ok"]
    success, most = over_budget(answered, limit, window)
    what = (f"{most} calls by {success['user'] or 'one caller'} within {window} s, over a budget of {rate}, all "
            f"answered; the last, {describe(success)}") if success else ""
    if success is None and answered:
        not_yet = (f"With the rate limit off I saw at most {most} answered calls by one caller within {window} s, "
                   f"but the budget is {rate} (PLAYLISTS_RATE_LIMIT): send more than {limit} within {window} s.")
    else:
        not_yet = no_attack(seen, "ratelimit", f"send more than {limit} calls within {window} s")
    return found_and_fixed(seen, "ratelimit", success, refusals, not_yet, what)


def over_budget(calls: list[dict], limit: int, window: int) -> tuple[dict | None, int]:
    """The call with which one caller had more than `limit` calls within `window` seconds
    (or None), and the most calls one caller had within any such window."""
    recent, most = defaultdict(deque), 0
    for call in calls:
        times = recent[call["user"]]
        times.append(call["at"])
        while times[0] <= call["at"] - window:
            times.popleft()
        most = max(most, len(times))
        if len(times) > limit:
            return call, most
    return None, most


NAMING = ("create_playlist", "update_playlist", "generate_playlist")


@exercise("sensitive_data", "Find it, fix it: a card number in a name", "attacks",
          """A service should refuse data it has no business keeping: card numbers, e-mail addresses, keys and
          tokens. Switch the sensitive-data scanner off and create a playlist named with a test card number:
          it is stored. Switch it on and try again: refused as an invalid argument.""",
          ("Start the servers with the scanner off (PLAYLISTS_UNSAFE=scan make serve), then create a playlist whose "
           "name holds a test card number: 4111 1111 1111 1111 is a Visa test number, and passes the Luhn check "
           "as a real one does.",
           "With the scanner on, the 400 names the kind of data it found, never the data itself: an error must not "
           "echo a secret back. Read the stored playlist back with it on: its name comes out as [withheld: "
           "sensitive data]. `.venv/bin/python -m clients.attacks sensitive_data` tries a card number, an e-mail "
           "address and a token for you.",
           "The same request with the scanner off (201), then on (400):\n"
           "    curl -i http://127.0.0.1:8080/v1/playlists -H \"X-API-Key: $API_KEY\" "
           "-H 'Content-Type: application/json' -d '{\"name\": \"Card 4111 1111 1111 1111\"}'"))
def sensitive_data(seen: Seen) -> Result:
    # When each playlist whose name holds sensitive data was created or last changed, to the second.
    written = [at for row in seen.query("SELECT name, created_at, updated_at FROM playlists")
               if sensitive_kind(row["name"]) for at in (row["created_at"], row["updated_at"])]

    def stored(call):
        # The service stamps the row while answering; the journal's time comes after the answer.
        return any(iso(call["at"] - call["ms"] / 1000 - 1) <= at <= iso(call["at"]) for at in written)

    refusals = [c for c in seen.calls if not off(c, "scan") and c["outcome"] == "invalid_argument"
                and "sensitive data" in c["reason"]]

    def refused_later(call):
        # The playlist may be gone (deleted, to tidy up), but then the very same request, the
        # same operation over the same protocol with the same number of bytes, was refused.
        return any((r["protocol"], r["operation"], r["bytes_in"]) == (call["protocol"], call["operation"],
                                                                       call["bytes_in"]) and r["at"] > call["at"]
                   for r in refusals)

    accepted = [c for c in seen.calls if off(c, "scan") and c["operation"] in NAMING and c["outcome"] == "ok"]
    success = next((call for call in accepted if stored(call) or refused_later(call)), None)
    if accepted:
        not_yet = (f"I saw a playlist named with the scanner off ({describe(accepted[-1])}), but the database "
                   "holds no name with sensitive data written by it: name one with a test card number, "
                   "4111 1111 1111 1111. (If you deleted it, send the very same request with the scanner on: "
                   "that counts too.)")
    else:
        not_yet = no_attack(seen, "scan", "create a playlist named with a test card number")
    return found_and_fixed(seen, "scan", success, refusals, not_yet)
