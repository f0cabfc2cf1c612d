"""Three server processes, one SQLite database, many clients writing the same playlist at once.

3 × 16 clients (threads, each with its own connection) add tracks to one playlist through
REST, SOAP and gRPC together. Afterwards every acknowledged add is in the playlist exactly
once, the versions the answers carried are exactly 2..N+1 (one per add, no gap, no
repeat), each answer shows the playlist as it was right after that add, and no valid
request got a 5xx, a Server fault or INTERNAL. A second round does the same with
optimistic concurrency (each add names the version it read): conflicts are refused,
retried, and nothing is lost.

The rate limit is raised (tests/conftest.py TEST_ENV: 100000/minute): every call is alice's.
"""
import socket
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

from clients import calls
from core import limits

from .conftest import endpoints

CLIENTS_PER_PROTOCOL = 16
ADDS_PER_CLIENT = 2
PROTOCOLS = calls.PROTOCOLS
TOTAL_ADDS = len(PROTOCOLS) * CLIENTS_PER_PROTOCOL * ADDS_PER_CLIENT   # 96
assert TOTAL_ADDS <= limits.MAX_TRACKS_PER_PLAYLIST  # the cap is 100: all of them must fit


@dataclass
class Outcome:
    """One add as its client saw it."""
    protocol: str
    track_id: str
    ok: bool
    status: str                     # "201"/"409"…, "Client.Conflict"…, "OK"/"ABORTED"…
    version: int = 0
    tracks: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def server_fault(self) -> bool:
        return self.status.startswith(("5", "Server")) or self.status in ("INTERNAL", "UNKNOWN")


def added(protocol: str, track_id: str, answer) -> Outcome:
    """What an add's answer said, whatever the protocol."""
    if not answer.ok:
        return Outcome(protocol, track_id, False, answer.status)
    playlist = answer.playlist()
    return Outcome(protocol, track_id, True, answer.status, playlist["version"], playlist["track_ids"])


def version(client, protocol: str, key, playlist_id: str) -> int:
    return client.call(protocol, "get_playlist", key, playlist_id=playlist_id).playlist()["version"]


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers(rest_server, soap_server, rpc_server):
    """Three separate processes (gunicorn with 2 workers each for REST and SOAP) on one home."""
    return {"rest": rest_server, "soap": soap_server, "grpc": rpc_server}


@pytest.fixture(scope="module")
def alice_key(credentials):
    return calls.key(credentials["users"]["alice"]["api_key"])


@pytest.fixture(scope="module")
def wire(servers):
    """One more client, for setting up and reading back."""
    client = endpoints(servers)
    yield client
    client.close()


@pytest.fixture(scope="module")
def catalog(wire, alice_key) -> list[str]:
    """Track ids of the catalog, in its order (it has 300)."""
    ids, token = [], None
    while True:
        page = wire.call("rest", "search_tracks", alice_key, page_size=50, page_token=token).data
        ids += [t["id"] for t in page["items"]]
        token = page["next_page_token"]
        if not token:
            return ids


def new_playlist(wire, key, name) -> str:
    answer = wire.call("rest", "create_playlist", key, name=name)
    assert answer.status == "201"
    return answer.playlist_id()


def read_back(wire, key, playlist_id, home) -> dict:
    """The playlist as REST answers it, checked against the rows: positions 1..n, no gap."""
    playlist = wire.call("rest", "get_playlist", key, playlist_id=playlist_id).data
    with sqlite3.connect(f"file:{home / 'playlists.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT position, track_id FROM playlist_tracks WHERE playlist_id = ? ORDER BY position",
                          (playlist_id,)).fetchall()
        (version,) = db.execute("SELECT version FROM playlists WHERE id = ?", (playlist_id,)).fetchone()
    assert rows == [(i, t["id"]) for i, t in enumerate(playlist["tracks"], start=1)]
    assert version == playlist["version"]
    return playlist


def run_clients(servers, label: str, work) -> list[Outcome]:
    """16 threads per protocol, each with its own connection; all start at the same moment.
    `work(client, protocol, index)` returns that client's outcomes; a summary is printed."""
    threads, results, errors = [], [], []
    start = threading.Barrier(len(PROTOCOLS) * CLIENTS_PER_PROTOCOL)
    lock = threading.Lock()

    def client_thread(protocol, index):
        client = endpoints(servers)
        try:
            start.wait(timeout=60)
            outcomes = work(client, protocol, index)
            with lock:
                results.extend(outcomes)
        except Exception as error:  # a transport error is a finding too: report it, do not hang
            with lock:
                errors.append(f"{protocol}#{index}: {error!r}")
        finally:
            client.close()

    for protocol in PROTOCOLS:
        for index in range(CLIENTS_PER_PROTOCOL):
            threads.append(threading.Thread(target=client_thread, args=(protocol, index), daemon=True))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert errors == []
    print("\n" + summary(label, results, time.perf_counter() - started))
    return results


def check_serialised(outcomes: list[Outcome], final: dict) -> None:
    """The adds happened one after another: versions 2..N+1, and the answer of the add that
    made version v shows exactly the first v-1 tracks of the final playlist."""
    done = [o for o in outcomes if o.ok]
    final_ids = [t["id"] for t in final["tracks"]]
    assert sorted(o.version for o in done) == list(range(2, len(done) + 2))
    assert final["version"] == len(done) + 1
    assert Counter(final_ids) == Counter(o.track_id for o in done)   # each acknowledged add exactly once
    for outcome in done:
        assert outcome.tracks == final_ids[:outcome.version - 1], outcome
        assert outcome.tracks[-1] == outcome.track_id  # appended at the end, under the write lock


def summary(label: str, outcomes: list[Outcome], seconds: float) -> str:
    by_protocol = {p: Counter(o.status for o in outcomes if o.protocol == p) for p in PROTOCOLS}
    return f"{label}: {len(outcomes)} calls in {seconds:.2f}s; " + "; ".join(
        f"{p} {dict(c)}" for p, c in by_protocol.items())


# --- the tests ---------------------------------------------------------------------------------

def test_three_times_sixteen_clients_append_to_one_playlist(servers, wire, alice_key, catalog, home):
    playlist_id = new_playlist(wire, alice_key, "Crowded")
    assert len(catalog) >= TOTAL_ADDS
    plan = {}  # (protocol, client) -> its own distinct tracks
    for n, track_id in enumerate(catalog[:TOTAL_ADDS]):
        plan.setdefault((PROTOCOLS[n % 3], (n // 3) % CLIENTS_PER_PROTOCOL), []).append(track_id)

    def work(client, protocol, index):
        outcomes = []
        for track_id in plan[protocol, index]:
            started = time.perf_counter()
            outcome = added(protocol, track_id, client.call(protocol, "add_track", alice_key, playlist_id=playlist_id,
                                                            track_id=track_id))
            outcome.seconds = time.perf_counter() - started
            outcomes.append(outcome)
        return outcomes

    outcomes = run_clients(servers, "append", work)
    assert [o for o in outcomes if o.server_fault] == []
    assert [o for o in outcomes if not o.ok] == []   # every request was valid: all must succeed
    assert len(outcomes) == TOTAL_ADDS
    check_serialised(outcomes, read_back(wire, alice_key, playlist_id, home))


def test_optimistic_concurrency_refuses_stale_versions_and_loses_nothing(servers, wire, alice_key, catalog, home):
    """Each client reads the version, then adds naming it; a stale one is refused
    (412 / Client.Conflict / ABORTED) and the client reads again, up to 200 tries."""
    playlist_id = new_playlist(wire, alice_key, "Contended")
    tracks = catalog[-len(PROTOCOLS) * CLIENTS_PER_PROTOCOL:]

    def work(client, protocol, index):
        track_id = tracks[PROTOCOLS.index(protocol) * CLIENTS_PER_PROTOCOL + index]
        outcomes = []
        for _ in range(200):
            outcome = added(protocol, track_id, client.call(protocol, "add_track", alice_key, playlist_id=playlist_id,
                                                            track_id=track_id,
                                                            version=version(client, protocol, alice_key, playlist_id)))
            outcomes.append(outcome)
            if outcome.ok or outcome.status not in ("412", "Client.Conflict", "ABORTED"):
                break
        return outcomes

    outcomes = run_clients(servers, "compare-and-set", work)
    assert [o for o in outcomes if o.server_fault] == []
    assert {o.status for o in outcomes if not o.ok} <= {"412", "Client.Conflict", "ABORTED"}
    assert Counter(o.protocol for o in outcomes if o.ok) == {p: CLIENTS_PER_PROTOCOL for p in PROTOCOLS}
    check_serialised(outcomes, read_back(wire, alice_key, playlist_id, home))


def test_the_servers_are_still_three_and_serving(servers, wire, alice_key):
    for server in servers.values():
        assert server.process.poll() is None, server.output()[-2000:]
    assert version(wire, "rest", alice_key, new_playlist(wire, alice_key, "After")) == 1


# --- one client must not stall the others ---------------------------------------------------------

LINGER_SECONDS = 2.5   # what the lingering client does: it reads its answer and keeps the socket open


def lingering_client(port: int, path: str, rounds: int, done: threading.Event) -> None:
    """Ask for `Connection: close`, read the answer, and do not hang up for a while: the
    server must close its side without waiting for ours."""
    for _ in range(rounds):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            connection.recv(65536)
            done.wait(LINGER_SECONDS)   # the attack itself: holding the connection, not a synchronisation
    done.set()


@pytest.mark.parametrize("kind, path", [("rest", "/v1/moods"), ("soap", "/soap?wsdl")])
def test_a_client_that_does_not_hang_up_stalls_no_one(servers, alice_key, kind, path):
    port = servers[kind].port
    done = threading.Event()
    latencies, errors = [], []

    def user():
        http = requests.Session()
        while not done.is_set():
            started = time.perf_counter()
            try:
                http.get(f"http://127.0.0.1:{port}{path}", headers=calls.http_headers(alice_key), timeout=30)
                latencies.append(time.perf_counter() - started)
            except requests.RequestException as error:
                errors.append(repr(error))
        http.close()

    users = [threading.Thread(target=user) for _ in range(6)]
    for thread in users:
        thread.start()
    lingering_client(port, path, 3, done)
    for thread in users:
        thread.join(timeout=30)
    print(f"\n{kind}: {len(latencies)} calls beside a lingering client, max {max(latencies) * 1000:.0f} ms, "
          f"{len(errors)} connection errors")
    assert errors == [] and max(latencies) < 1.0
