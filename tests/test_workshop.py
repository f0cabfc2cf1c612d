"""The workshop: each solution, run as written against real servers, makes its check pass;
nothing, the wrong protocol or the wrong credential makes it fail with a sentence that
helps; hints come one at a time; a solve reaches the journal; reset really resets."""
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time

import grpc
import pytest
import requests
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from clients.calls import SOAP_ENV, TNS
from core import events
from core.config import load_settings
from core.limits import SharedCounter
from screen import pages
from serve.launch import ROOT, Server
from workshop import journal
from workshop.exercises import EXERCISES
from workshop.reset import reset

from .conftest import TEST_ENV, eventually

EXERCISE = {e.slug: e for e in EXERCISES}
# The attack exercises, and the teaching switch each one turns off.
SWITCH = {"bola": "bola", "brute_force": "lockout", "flood": "ratelimit", "sensitive_data": "scan"}
FLOOD_BUDGET = "20/minute"  # low, so that a flood is 41 calls; the check reads it from the refusals


# --- fixtures: the servers, the addresses the solutions read, a fresh start per test -------------

@pytest.fixture(scope="module")
def env(home, rest_server, soap_server, rpc_server):
    """The environment a solution runs in: `make serve`'s addresses, moved to the test servers."""
    return {**os.environ, **TEST_ENV, "PLAYLISTS_HOME": str(home),
            "REST": f"http://127.0.0.1:{rest_server.port}", "REST_TLS": f"https://127.0.0.1:{rest_server.tls_port}",
            "SOAP": f"http://127.0.0.1:{soap_server.port}/soap",
            "SOAP_TLS": f"https://127.0.0.1:{soap_server.tls_port}/soap",
            "GRPC": f"127.0.0.1:{rpc_server.port}", "GRPC_TLS": f"127.0.0.1:{rpc_server.tls_port}"}


@pytest.fixture(scope="module")
def server_with(home):
    """A server on its own ports, same home, started with extra settings (once per kind and settings)."""
    started = {}

    def start(kind: str, **settings) -> Server:
        key = (kind, *sorted(settings.items()))
        if key not in started:
            started[key] = Server(kind, home, {**TEST_ENV, **settings})
        return started[key]

    yield start
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def rest_with(server_with):
    """The address of a REST server started with extra settings."""
    return lambda **settings: f"http://127.0.0.1:{server_with('rest', **settings).port}"


@pytest.fixture(autouse=True)
def fresh(env):
    """Every test starts where the next group would: nothing of the last test is left."""
    reset(load_settings(env))


# --- helpers ---------------------------------------------------------------------------------------

def workshop(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workshop", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def said(result: subprocess.CompletedProcess) -> str:
    """What the command printed, with the line breaks of its wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def run_solution(exercise, env, **overrides) -> str:
    """The solution file exactly as a learner runs it, with the test servers' addresses."""
    tools = ["bash", "curl", "python3"] if exercise.solution.endswith(".sh") else []
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{exercise.solution} needs {tool}, which is not installed here")
    command = ["bash"] if tools else [sys.executable]
    result = subprocess.run([*command, str(exercise.solution_path)], cwd=ROOT, env={**env, **overrides},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def start(exercise, env):
    assert workshop(env, "show", str(exercise.number)).returncode == 0


def check(exercise, env, **overrides) -> subprocess.CompletedProcess:
    return workshop({**env, **overrides}, "check", str(exercise.number))


def check_until_solved(exercise, env, timeout: float = 15, **overrides) -> subprocess.CompletedProcess:
    """Check until it passes: a server journals a stream's end when it notices it, which may
    be a moment after the client gave up."""
    deadline = time.monotonic() + timeout
    result = check(exercise, env, **overrides)
    while result.returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        result = check(exercise, env, **overrides)
    return result


def fails_saying(result: subprocess.CompletedProcess, *phrases: str) -> None:
    text = said(result)
    assert result.returncode == 1 and text.startswith("✗"), text
    for phrase in phrases:
        assert phrase in text, text


def curl(*args) -> subprocess.CompletedProcess:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed here")
    return subprocess.run(["curl", "-s", *args], capture_output=True, text=True, timeout=30)


def user(credentials, name="alice") -> dict:
    return credentials["users"][name]


def journal_lines(home) -> list[dict]:
    path = home / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- every solution, as written, solves its exercise -----------------------------------------------

@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.slug not in SWITCH], ids=lambda e: e.slug)
def test_the_solution_passes_the_check(exercise, env):
    start(exercise, env)
    run_solution(exercise, env)
    result = check_until_solved(exercise, env)
    assert result.returncode == 0 and said(result).startswith(f"✓ Exercise {exercise.number} solved"), said(result)


@pytest.mark.parametrize("slug", SWITCH)
def test_the_attack_succeeds_with_its_defence_off_and_fails_with_it_on(slug, env, rest_with):
    exercise, switch = EXERCISE[slug], SWITCH[slug]
    budget = {"PLAYLISTS_RATE_LIMIT": FLOOD_BUDGET} if slug == "flood" else {}
    defended = rest_with(**budget) if budget else env["REST"]
    start(exercise, env)
    run_solution(exercise, env, REST=rest_with(PLAYLISTS_UNSAFE=switch), **budget)
    fails_saying(check(exercise, env, **budget), "succeed while", "off", "not yet fail with it on")
    run_solution(exercise, env, REST=defended, **budget)
    result = check(exercise, env, **budget)
    assert result.returncode == 0 and "Found and fixed" in said(result), said(result)


def test_the_attack_must_be_fixed_after_it_was_found(env, rest_with):
    exercise = EXERCISE["bola"]
    start(exercise, env)
    run_solution(exercise, env)                                      # defended first: 404
    fails_saying(check(exercise, env), "refuse your attack", "never the attack succeed with it off",
                 "PLAYLISTS_UNSAFE=bola make serve")
    run_solution(exercise, env, REST=rest_with(PLAYLISTS_UNSAFE="bola"))   # then found: 200
    fails_saying(check(exercise, env), "not yet fail with it on after that", "plain `make serve`")


def solve(exercise, env, unsafe) -> subprocess.CompletedProcess:
    """Do the exercise as its solution says: an attack first with its defence off
    (`unsafe(switch)` gives that REST server's address), then with it on."""
    if exercise.slug in SWITCH:
        run_solution(exercise, env, REST=unsafe(SWITCH[exercise.slug]))
    run_solution(exercise, env)
    return check_until_solved(exercise, env)


def test_every_solution_passes_in_any_order_twice_and_after_the_attacks(home, rest_with):
    """One set of servers with a small budget, so that a flood really spends it; the thirteen
    solutions in a shuffled order, then every attack, then the thirteen again in another order."""
    budget = {**TEST_ENV, "PLAYLISTS_RATE_LIMIT": FLOOD_BUDGET}
    servers = {kind: Server(kind, home, budget) for kind in ("rest", "soap", "rpc")}
    try:
        env = {**os.environ, **budget, "PLAYLISTS_HOME": str(home),
               "REST": f"http://127.0.0.1:{servers['rest'].port}",
               "REST_TLS": f"https://127.0.0.1:{servers['rest'].tls_port}",
               "SOAP": f"http://127.0.0.1:{servers['soap'].port}/soap",
               "SOAP_TLS": f"https://127.0.0.1:{servers['soap'].tls_port}/soap",
               "GRPC": f"127.0.0.1:{servers['rpc'].port}", "GRPC_TLS": f"127.0.0.1:{servers['rpc'].tls_port}"}
        seed = random.randrange(10 ** 6)
        order = random.Random(seed)

        def unsafe(switch):
            return rest_with(PLAYLISTS_UNSAFE=switch, PLAYLISTS_RATE_LIMIT=FLOOD_BUDGET)

        for round_ in (1, 2):
            exercises = order.sample(EXERCISES, len(EXERCISES))
            for exercise in exercises:
                assert workshop(env, "reset", str(exercise.number)).returncode == 0
                result = solve(exercise, env, unsafe)
                assert result.returncode == 0, (f"round {round_}, seed {seed}, order "
                                                f"{[e.number for e in exercises]}: {said(result)}")
            if round_ == 1:
                # As the attacks' own preflight advises: opening an exercise gives a fresh budget.
                assert workshop(env, "reset", "1").returncode == 0
                attacks = subprocess.run([sys.executable, "-m", "clients.attacks", "all", "--rest", env["REST"],
                                          "--soap", env["SOAP"], "--grpc", env["GRPC"], "--token-wait", "0"],
                                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
                assert "attacks stopped" in attacks.stdout, attacks.stdout + attacks.stderr
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("slug, attack", [("bola", "bola"), ("sensitive_data", "sensitive_data"),
                                          ("brute_force", "brute_force"), ("flood", "flood")])
def test_the_attack_scripts_solve_their_exercise(slug, attack, env, server_with):
    """The route the hints give: the attack against the three servers with its defence off,
    then on; it leaves the evidence the check needs (alice's playlist, the stored name)."""
    exercise = EXERCISE[slug]
    budget = {"PLAYLISTS_RATE_LIMIT": FLOOD_BUDGET} if slug == "flood" else {}
    start(exercise, env)
    for settings in ({"PLAYLISTS_UNSAFE": SWITCH[slug], **budget}, budget):
        rest, soap, rpc = (server_with(kind, **settings) for kind in ("rest", "soap", "rpc"))
        subprocess.run([sys.executable, "-m", "clients.attacks", attack, "--rest", f"http://127.0.0.1:{rest.port}",
                        "--soap", f"http://127.0.0.1:{soap.port}/soap", "--grpc", f"127.0.0.1:{rpc.port}"],
                       cwd=ROOT, env={**env, **budget}, capture_output=True, timeout=300)
    result = check(exercise, env, **budget)
    assert result.returncode == 0 and "Found and fixed" in said(result), said(result)


# --- doing nothing, or the wrong thing, fails with a sentence that helps ----------------------------

@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.slug)
def test_doing_nothing_fails_and_says_so(exercise, env):
    start(exercise, env)
    fails_saying(check(exercise, env), "since you started this exercise at")


def test_a_check_before_the_exercise_started_starts_it(env, home):
    fails_saying(workshop(env, "check", "1"), "starts now", "python -m workshop show 1")
    assert json.loads((home / "workshop.json").read_text())["exercises"]["1"]["solved_at"] is None


def test_calls_before_the_exercise_started_do_not_count(env):
    exercise = EXERCISE["first_call"]
    start(exercise, env)
    run_solution(exercise, env)
    assert workshop(env, "reset", "1").returncode == 0
    fails_saying(check(exercise, env), "no call since you started")


def test_first_call_over_soap_from_our_own_client_or_with_a_password_fails(env, credentials):
    exercise = EXERCISE["first_call"]
    start(exercise, env)
    envelope = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:p="{TNS}"><soap:Header>'
                f'<p:ApiKey>{user(credentials)["api_key"]}</p:ApiKey></soap:Header>'
                '<soap:Body><p:ListMoods/></soap:Body></soap:Envelope>')
    curl(env["SOAP"], "-H", "Content-Type: text/xml; charset=utf-8", "--data-binary", envelope)
    fails_saying(check(exercise, env), "a SOAP list_moods by alice (api_key)", "it came over SOAP, not REST")
    requests.get(f"{env['REST']}/v1/moods", headers={"X-API-Key": user(credentials)["api_key"]})
    fails_saying(check(exercise, env), "from python-requests/", "one of this project's clients", "not from curl")
    curl(f"{env['REST']}/v1/moods", "-u", f"alice:{user(credentials)['password']}")
    fails_saying(check(exercise, env), "authenticated by basic, not api_key", "X-API-Key")


def test_soap_by_hand_wants_curl_and_a_username_token(env, credentials):
    exercise = EXERCISE["soap_by_hand"]
    start(exercise, env)
    ours = subprocess.run([sys.executable, "-m", "clients.soap", "--server", env["SOAP"], "--auth", "basic", "create",
                           "Not by hand"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    fails_saying(check(exercise, env), "a SOAP create_playlist by alice (basic)", "one of this project's clients",
                 "post it with curl")
    envelope = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:p="{TNS}"><soap:Header>'
                f'<p:ApiKey>{user(credentials)["api_key"]}</p:ApiKey></soap:Header><soap:Body>'
                '<p:CreatePlaylist><p:name>By hand, with a key</p:name></p:CreatePlaylist>'
                '</soap:Body></soap:Envelope>')
    curl(env["SOAP"], "-H", "Content-Type: text/xml; charset=utf-8", "--data-binary", envelope)
    fails_saying(check(exercise, env), "authenticated by api_key, not basic", "UsernameToken")


def test_the_wrong_protocol_is_named(env, credentials):
    exercise = EXERCISE["break_the_schema"]
    start(exercise, env)
    key = {"X-API-Key": user(credentials)["api_key"]}
    assert requests.post(f"{env['REST']}/v1/playlists", json={"name": 42}, headers=key).status_code == 400
    envelope = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:p="{TNS}"><soap:Body><p:SearchTracks>'
                '<p:page_size>many</p:page_size></p:SearchTracks></soap:Body></soap:Envelope>')
    requests.post(env["SOAP"], data=envelope, headers={"Content-Type": "text/xml"})
    stub = playlist_pb2_grpc.PlaylistsStub(grpc.insecure_channel(env["GRPC"]))
    stub.SearchTracks(pb.SearchTracksRequest(page_size=5), metadata=[("x-api-key", key["X-API-Key"])])
    fails_saying(check(exercise, env), "over REST and SOAP, but none over gRPC yet",
                 "over gRPC the closest was a gRPC search_tracks", "not refused as an invalid argument")


def update_everywhere(env, key: str, **change) -> None:
    """The same update_playlist over REST, SOAP and gRPC, each on a playlist of its own."""
    header = {"X-API-Key": key}
    ids = [requests.post(f"{env['REST']}/v1/playlists", json={"name": "to change"}, headers=header).json()["id"]
           for _ in range(3)]
    assert requests.patch(f"{env['REST']}/v1/playlists/{ids[0]}", json=change,
                          headers={**header, "If-Match": '"1"'}).status_code == 200
    fields = "".join(f"<p:{field}>{value}</p:{field}>" for field, value in change.items())
    envelope = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:p="urn:playlists:v1"><soap:Header>'
                f'<p:ApiKey>{key}</p:ApiKey></soap:Header><soap:Body><p:UpdatePlaylist><p:playlist_id>{ids[1]}'
                f'</p:playlist_id><p:version>1</p:version>{fields}</p:UpdatePlaylist></soap:Body></soap:Envelope>')
    assert requests.post(env["SOAP"], data=envelope, headers={"Content-Type": "text/xml"}).status_code == 200
    stub = playlist_pb2_grpc.PlaylistsStub(grpc.insecure_channel(env["GRPC"]))
    stub.UpdatePlaylist(pb.UpdatePlaylistRequest(id=ids[2], version=1, update_mask={"paths": list(change)}, **change),
                        metadata=[("x-api-key", key)])


@pytest.mark.parametrize("change, phrases", [
    ({"mood": "calm"}, ("I saw a rename over none of REST, SOAP and gRPC yet", "it changed mood, not the name")),
    ({"name": "Renamed"}, ("I saw a change of tracks over none of REST, SOAP and gRPC yet",
                           "it changed name, not the tracks"))], ids=["mood only", "rename only"])
def test_an_update_that_is_not_a_rename_and_a_change_of_tracks(change, phrases, env, credentials):
    exercise = EXERCISE["three_contracts"]
    start(exercise, env)
    update_everywhere(env, user(credentials)["api_key"], **change)
    fails_saying(check(exercise, env), *phrases)


def test_two_steps_are_not_three(env, credentials):
    exercise = EXERCISE["three_steps"]
    start(exercise, env)
    requests.get(f"{env['REST']}/v1/me")
    requests.get(f"{env['REST']}/v1/me", headers={"X-API-Key": user(credentials)["api_key"]})
    fails_saying(check(exercise, env), "but no call yet that failed at step 3")


@pytest.fixture
def calm_playlist(env, credentials):
    stub = playlist_pb2_grpc.PlaylistsStub(grpc.insecure_channel(env["GRPC"]))
    key = [("x-api-key", user(credentials)["api_key"])]
    return stub, key, stub.GeneratePlaylist(pb.GeneratePlaylistRequest(mood="calm", duration_minutes=15), metadata=key)


def test_a_stream_stopped_by_hand_is_no_deadline(env, calm_playlist):
    exercise = EXERCISE["stream_deadline"]
    stub, key, playlist = calm_playlist
    start(exercise, env)
    call = stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist.id), metadata=key)   # no timeout: Ctrl-C
    next(call)
    call.cancel()
    # The server journals the stream's end when it notices it.
    eventually(lambda: "cancelled" in said(check(exercise, env)), timeout=15)
    fails_saying(check(exercise, env), "CANCELLED", "the client cancelled it before any deadline passed",
                 "give the call a timeout shorter than the playlist")


def test_a_stream_played_to_its_end_is_no_deadline(env, calm_playlist):
    exercise = EXERCISE["stream_deadline"]
    stub, key, playlist = calm_playlist
    start(exercise, env)
    assert len(list(stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist.id, ms_per_second=1), metadata=key)))
    fails_saying(check(exercise, env), "it played to its end")


def test_a_spent_budget_is_not_a_missing_credential(env, credentials, rest_with):
    exercise = EXERCISE["first_call"]
    start(exercise, env)
    tight, key = rest_with(PLAYLISTS_RATE_LIMIT="1/minute"), f"X-API-Key: {user(credentials)['api_key']}"
    curl(f"{tight}/v1/me", "-H", key)       # the minute's one call
    curl(f"{tight}/v1/moods", "-H", key)
    text = said(check(exercise, env))
    fails_saying(check(exercise, env), "refused with 429", "wait as long as its Retry-After says")
    assert "no accepted credential" not in text and "X-API-Key header" not in text, text


def test_a_few_guesses_are_no_brute_force(env, credentials, rest_with):
    exercise = EXERCISE["brute_force"]
    start(exercise, env)
    unsafe = rest_with(PLAYLISTS_UNSAFE="lockout")
    for password in ("123456", "qwerty", user(credentials)["password"]):
        requests.get(f"{unsafe}/v1/me", auth=("alice", password))
    fails_saying(check(exercise, env), "I saw 2 failed logins with the lockout off", "keep guessing")


def test_a_token_used_over_rest_is_not_a_token_used_over_grpc(env, credentials):
    exercise = EXERCISE["token_on_grpc"]
    start(exercise, env)
    alice = user(credentials)
    token = requests.post(f"{env['REST']}/oauth/token", auth=(alice["client_id"], alice["client_secret"]),
                          data={"grant_type": "client_credentials"}).json()["access_token"]
    assert requests.get(f"{env['REST']}/v1/me", headers={"Authorization": f"Bearer {token}"}).ok
    fails_saying(check(exercise, env), "a REST who_am_i by alice (bearer)", "it came over REST, not gRPC")


def test_alices_certificate_is_not_bobs(env, home):
    exercise = EXERCISE["client_certificate"]
    start(exercise, env)
    tls = home / "tls"
    assert curl(f"{env['REST_TLS']}/v1/me", "--cacert", str(tls / "ca.pem"), "--cert", str(tls / "alice.pem"),
                "--key", str(tls / "alice.key")).returncode == 0
    fails_saying(check(exercise, env), "by alice (mtls)", "the certificate was alice's, not bob's", "tls/bob.pem")


def test_three_ways_in_are_not_four(env, credentials):
    exercise = EXERCISE["four_ways_in"]
    start(exercise, env)
    alice = user(credentials)
    requests.get(f"{env['REST']}/v1/me", headers={"X-API-Key": alice["api_key"]})
    requests.get(f"{env['REST']}/v1/me", auth=("alice", alice["password"]))
    token = requests.post(f"{env['REST']}/oauth/token", auth=(alice["client_id"], alice["client_secret"]),
                          data={"grant_type": "client_credentials"}).json()["access_token"]
    requests.get(f"{env['REST']}/v1/me", headers={"Authorization": f"Bearer {token}"})
    fails_saying(check(exercise, env), "authenticated by api_key (REST), basic (REST) and bearer (REST)",
                 "none yet by mtls (a client certificate on a TLS port)")


def test_bola_needs_an_attacker_who_owns_no_playlist(env, credentials, rest_with):
    exercise = EXERCISE["bola"]
    start(exercise, env)
    bob = {"X-API-Key": user(credentials, "bob")["api_key"]}
    assert requests.post(f"{env['REST']}/v1/playlists", json={"name": "bob's own"}, headers=bob).status_code == 201
    run_solution(exercise, env, REST=rest_with(PLAYLISTS_UNSAFE="bola"))
    fails_saying(check(exercise, env), "bob owned playlists of his own", "who owns none")


def test_bola_counts_a_refusal_only_for_a_playlist_still_there(env, credentials, rest_with):
    exercise = EXERCISE["bola"]
    start(exercise, env)
    run_solution(exercise, env, REST=rest_with(PLAYLISTS_UNSAFE="bola"))
    alice, bob = ({"X-API-Key": user(credentials, name)["api_key"]} for name in ("alice", "bob"))
    playlist = requests.post(f"{env['REST']}/v1/playlists", json={"name": "soon gone"}, headers=alice).json()["id"]
    assert requests.delete(f"{env['REST']}/v1/playlists/{playlist}", headers=alice).status_code == 204
    assert requests.get(f"{env['REST']}/v1/playlists/{playlist}", headers=bob).status_code == 404
    fails_saying(check(exercise, env), f"no playlist with id '{playlist}'", "no longer in the database",
                 "one of alice's playlists that is still there")


def test_sensitive_data_tidied_away_counts_when_the_same_request_is_refused(env, credentials, rest_with):
    exercise = EXERCISE["sensitive_data"]
    start(exercise, env)
    key, card = {"X-API-Key": user(credentials)["api_key"]}, {"name": "Card 4111 1111 1111 1111"}
    stored = requests.post(f"{rest_with(PLAYLISTS_UNSAFE='scan')}/v1/playlists", json=card, headers=key)
    assert stored.status_code == 201
    assert requests.delete(f"{env['REST']}/v1/playlists/{stored.json()['id']}", headers=key).status_code == 204
    fails_saying(check(exercise, env), "no name with sensitive data")
    assert requests.post(f"{env['REST']}/v1/playlists", json=card, headers=key).status_code == 400
    assert check(exercise, env).returncode == 0


def test_a_flood_within_the_budget_is_no_flood(env, credentials, rest_with):
    exercise = EXERCISE["flood"]
    start(exercise, env)
    unsafe = rest_with(PLAYLISTS_UNSAFE="ratelimit")
    for _ in range(5):
        requests.get(f"{unsafe}/v1/moods", headers={"X-API-Key": user(credentials)["api_key"]})
    fails_saying(check(exercise, env, PLAYLISTS_RATE_LIMIT=FLOOD_BUDGET),
                 "at most 5 answered calls by one caller within 60 s", "the budget is 20/minute")


def test_a_harmless_name_is_no_sensitive_data(env, credentials, rest_with):
    exercise = EXERCISE["sensitive_data"]
    start(exercise, env)
    unsafe = rest_with(PLAYLISTS_UNSAFE="scan")
    assert requests.post(f"{unsafe}/v1/playlists", json={"name": "Sunday morning"},
                         headers={"X-API-Key": user(credentials)["api_key"]}).status_code == 201
    fails_saying(check(exercise, env), "no name with sensitive data", "4111 1111 1111 1111")


# --- hints, progress, the journal ------------------------------------------------------------------

def test_hints_come_one_at_a_time_and_are_remembered(env):
    exercise = EXERCISE["soap_by_hand"]
    first, second = (said(workshop(env, "hint", "2")) for _ in range(2))
    assert first.startswith("Hint 1 of 3:") and second.startswith("Hint 2 of 3:"), (first, second)
    assert "Hint 1 of 3" in said(workshop(env, "show", "2")) and "Hint 3" not in said(workshop(env, "show", "2"))
    workshop(env, "hint", "2")
    assert f"The solution is bash workshop/solutions/{exercise.solution}" in said(workshop(env, "hint", "2"))
    assert " 2 A SOAP envelope by hand 3/3 -" in said(workshop(env, "status"))


def test_status_is_an_aligned_table_with_the_time_of_each_solve(env):
    exercise = EXERCISE["first_call"]
    start(exercise, env)
    run_solution(exercise, env)
    assert check(exercise, env).returncode == 0
    lines = workshop(env, "status").stdout.splitlines()
    header, rows = lines[0], lines[1:1 + len(EXERCISES)]
    assert header.split() == ["#", "exercise", "hints", "solved"]
    hints_end, solved = header.index("hints") + len("hints"), header.index("solved")
    for row in rows:  # the hints right-aligned under their heading, the time of the solve under its own
        assert re.fullmatch(r"\d/\d", row[hints_end - 3:hints_end]) and row[solved - 2:solved] == "  ", lines
    assert re.fullmatch(r"\d\d:\d\d:\d\d", rows[0][solved:]), lines
    assert all(row[solved:] == "-" for row in rows[1:]), lines
    assert lines[-1] == f"1 of {len(EXERCISES)} solved"


def test_a_solve_is_journalled_once_in_the_shape_the_live_view_reads(env, home):
    exercise = EXERCISE["first_call"]
    start(exercise, env)
    run_solution(exercise, env)
    assert check(exercise, env).returncode == 0 and check(exercise, env).returncode == 0
    solves = [line for line in journal_lines(home) if line.get("kind") == "solve"]
    assert len(solves) == 1, solves
    assert {"exercise": 1, "slug": "first_call", "hints": 0}.items() <= solves[0].items()
    tail = pages.JournalTail(home)
    assert [e for _, e in tail.read_new() if e.get("kind") == "solve"] == [
        {key: solves[0][key] for key in pages.SOLVE_SHOWN}]   # what the live view's solved list shows
    tail.close()
    assert all("kind" not in call for call in journal.calls(home, 0))  # a check never takes a solve for a call


def test_an_exercise_opens_with_a_fresh_budget_and_no_failed_logins(env, credentials, home, rest_with):
    tight = rest_with(PLAYLISTS_RATE_LIMIT="1/minute")
    key = {"X-API-Key": user(credentials)["api_key"]}
    assert [requests.get(f"{tight}/v1/moods", headers=key).status_code for _ in range(2)] == [200, 429]
    requests.get(f"{env['REST']}/v1/me", auth=("alice", "wrong"))
    assert count(home, "auth_failures")
    workshop(env, "show", "13")
    assert count(home, "auth_failures") == 0
    assert requests.get(f"{tight}/v1/moods", headers=key).status_code == 200    # a fresh budget


def test_reset_of_one_exercise_restarts_only_that_one(env):
    for number in ("1", "2"):
        workshop(env, "hint", number)
    assert workshop(env, "reset", "1").returncode == 0
    status = said(workshop(env, "status"))
    assert " 1 Your first call, with curl 0/3 -" in status and " 2 A SOAP envelope by hand 1/3 -" in status


# --- reset --------------------------------------------------------------------------------------------

def fingerprint(home) -> dict:
    """Every file setup made that holds a secret, by its hash."""
    files = [home / "credentials.json", *sorted((home / "keys").iterdir()), *sorted((home / "tls").iterdir())]
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def count(home, table: str) -> int:
    with sqlite3.connect(home / "playlists.sqlite3") as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_a_full_reset_wants_to_be_sure(env, credentials, home):
    key = {"X-API-Key": user(credentials)["api_key"]}
    assert requests.post(f"{env['REST']}/v1/playlists", json={"name": "kept"}, headers=key).status_code == 201
    refused = workshop(env, "reset")
    assert refused.returncode == 1 and "python -m workshop reset --yes" in said(refused)
    assert count(home, "playlists") == 1 and (home / "events.jsonl").exists()


def test_reset_leaves_a_fresh_start_and_every_secret_as_it_was(env, credentials, home):
    before, catalog, users = fingerprint(home), count(home, "tracks"), count(home, "users")
    workshop(env, "hint", "3")      # opening an exercise clears the counters: before the calls
    key = {"X-API-Key": user(credentials)["api_key"]}
    for name in ("one", "two"):
        requests.post(f"{env['REST']}/v1/playlists", json={"name": name, "track_ids": ["bach-bwv1068-air"]},
                      headers=key)
    requests.get(f"{env['REST']}/v1/me", auth=("alice", "a wrong password"))          # a failed login
    assert count(home, "playlists") == 2 and count(home, "playlist_tracks") == 2
    assert count(home, "auth_failures") and events.read(home)
    assert (home / "workshop.json").exists()

    result = workshop(env, "reset", "--yes")

    assert result.returncode == 0 and "2 playlists" in said(result), said(result)
    assert int(re.search(r"(\d+) rate counters?\b", said(result)).group(1)) >= 1, said(result)
    assert SharedCounter.beside(home / "playlists.sqlite3").clear() == 0
    for table in ("playlists", "playlist_tracks", "auth_failures"):
        assert count(home, table) == 0, table
    assert not (home / "events.jsonl").exists() and not (home / "workshop.json").exists()
    assert workshop(env, "status").stdout.splitlines()[3].split()[-2:] == ["0/3", "-"]
    assert fingerprint(home) == before and (count(home, "tracks"), count(home, "users")) == (catalog, users)
    me = requests.get(f"{env['REST']}/v1/me", headers=key)    # the key handed out before still opens the door
    assert me.status_code == 200 and me.json()["name"] == "alice"


# --- the command line -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["hint"], ["check"], ["status"], ["reset"]])
def test_every_command_explains_itself(command, env):
    result = workshop(env, *command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: .venv/bin/python -m workshop"), result.stdout


def test_an_exercise_that_does_not_exist_is_refused_by_name(env):
    result = workshop(env, "show", "99")
    assert result.returncode == 2 and f"exercises are numbered 1 to {len(EXERCISES)}" in result.stderr


def test_every_exercise_has_a_goal_hints_and_its_solution_file():
    assert [e.number for e in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    for e in EXERCISES:
        assert e.solution_path.exists(), e.solution
        assert len(re.findall(r"[.:] [A-Z]", e.goal)) + 1 in (2, 3) and len(e.hints) >= 2, e.slug
