"""Class mode, over the wire only: three seats on one server, each in its own sandbox.

The room is prepared for two seats, the servers started on it, and the room prepared again
for three seats with the servers' real ports: the second run must keep every secret the
first handed out, and add the third seat.
"""
import io
import json
import os
import subprocess
import sys
import time
import zipfile

import pytest
import requests
from cryptography import x509
from playwright.sync_api import expect

from core.limits import LOCKOUT_AFTER_FAILURES, SOURCE_LOCKOUT_AFTER_FAILURES
from serve.launch import ROOT, Server

from .test_browser import browser, visit  # noqa: F401  (the browser's fixtures, for the pages' test)

SEATS = ("seat01", "seat02", "seat03")
RATE = 40   # calls a minute: low enough to flood in a test, high enough for the exercises


def prepare(home, seats: int, ports: dict | None = None) -> None:
    subprocess.run([sys.executable, "-m", "core.classroom", str(seats), "--host", "127.0.0.1"], cwd=ROOT,
                   env={**os.environ, "PLAYLISTS_HOME": str(home), **(ports or {})}, check=True, capture_output=True)


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    home = tmp_path_factory.mktemp("class")
    prepare(home, 2)
    room = home / "class"
    first = {seat: (room / seat / "credentials.json").read_text() for seat in SEATS[:2]}
    env = {"PLAYLISTS_RATE_LIMIT": f"{RATE}/minute"}
    servers = {kind: Server(kind, room, env) for kind in ("rest", "rpc")}
    try:
        prepare(home, 3, {"PLAYLISTS_REST_PORT": str(servers["rest"].port),
                          "PLAYLISTS_REST_TLS_PORT": str(servers["rest"].tls_port),
                          "PLAYLISTS_GRPC_PORT": str(servers["rpc"].port),
                          "PLAYLISTS_GRPC_TLS_PORT": str(servers["rpc"].tls_port)})
        for seat, text in first.items():
            kept, now = json.loads(text), json.loads((room / seat / "credentials.json").read_text())
            assert (kept["users"], kept["seat"]) == (now["users"], now["seat"]), f"{seat}'s secrets changed"
        yield room, servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def rest(room):
    return f"http://127.0.0.1:{room[1]['rest'].port}"


def seat_file(room, seat: str) -> dict:
    return json.loads((room[0] / seat / "credentials.json").read_text())


def key(room, seat: str, who: str = "alice") -> dict:
    return {"X-API-Key": seat_file(room, seat)["users"][f"{seat}-{who}"]["api_key"]}


def trainer(room) -> dict:
    return {"X-API-Key": json.loads((room[0] / "trainer.json").read_text())["api_key"]}


def workshop(rest, headers, number: int, action: str) -> dict:
    response = requests.post(f"{rest}/v1/workshop/exercises/{number}:{action}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def checked(rest, headers, number: int, timeout: float = 10) -> dict:
    """Check until solved: the journal may write a call a moment after answering it."""
    deadline = time.monotonic() + timeout
    while True:
        result = workshop(rest, headers, number, "check")
        if result["solved"] or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def switch(rest, headers, defence: str, enabled: bool) -> None:
    response = requests.put(f"{rest}/v1/workshop/defences/{defence}", json={"enabled": enabled}, headers=headers,
                            timeout=10)
    assert response.status_code == 200 and response.json()[defence] is enabled, response.text


def test_each_seat_solves_the_first_call_and_bola_in_its_own_sandbox(room, rest):
    playlists = {}
    for seat in SEATS:
        alice, bob = key(room, seat), key(room, seat, "bob")
        assert f"GET {rest}/v1/moods" in workshop(rest, alice, 1, "start")["goal"]   # the class's address
        curl = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{rest}/v1/moods",
                               "-H", f"X-API-Key: {alice['X-API-Key']}"], capture_output=True, text=True)
        assert curl.stdout == "200"
        assert checked(rest, alice, 1)["solved"], seat

        workshop(rest, bob, 10, "start")
        not_yet = workshop(rest, bob, 10, "check")
        assert not not_yet["solved"] and "off for your seat" in not_yet["message"], not_yet
        switch(rest, bob, "bola", False)
        created = requests.post(f"{rest}/v1/playlists", json={"name": f"{seat}'s"}, headers=alice, timeout=10)
        playlists[seat] = created.json()["id"]
        stolen = requests.get(f"{rest}/v1/playlists/{playlists[seat]}", headers=bob, timeout=10)
        assert stolen.status_code == 200 and stolen.json()["owner"] == f"{seat}-alice"

    # With the ownership check off, a seat's users read each other's playlists, never another seat's.
    for seat, neighbour in zip(SEATS, SEATS[1:] + SEATS[:1]):
        elsewhere = requests.get(f"{rest}/v1/playlists/{playlists[neighbour]}", headers=key(room, seat, "bob"),
                                 timeout=10)
        assert elsewhere.status_code == 404, (seat, neighbour)

    for seat in SEATS:
        bob = key(room, seat, "bob")
        switch(rest, bob, "bola", True)
        refused = requests.get(f"{rest}/v1/playlists/{playlists[seat]}", headers=bob, timeout=10)
        assert refused.status_code == 404
        result = checked(rest, bob, 10)
        assert result["solved"], result["message"]


def test_the_scoreboard_shows_exactly_what_each_seat_solved(room, rest):
    board = requests.get(f"{rest}/v1/workshop/scoreboard", headers=trainer(room), timeout=10)
    assert board.status_code == 200
    seats = {entry["seat"]: entry for entry in board.json()["seats"]}
    assert sorted(seats) == list(SEATS)
    for seat, entry in seats.items():
        solved = {n for n, progress in entry["exercises"].items() if progress["solved_at"]}
        assert solved == {"1", "10"} and entry["solved"] == 2, (seat, entry)
        assert entry["defences_off"] == []


def test_the_scoreboard_wants_the_trainers_key(room, rest):
    for headers in ({}, key(room, "seat01"), {"X-API-Key": "tk_guess"}):
        answer = requests.get(f"{rest}/v1/workshop/scoreboard", headers=headers, timeout=10)
        assert answer.status_code == 401 and answer.headers["Content-Type"] == "application/problem+json"


def test_a_seat_switches_defences_for_itself_alone(room, rest):
    switch(rest, key(room, "seat01"), "scan", False)
    card = {"name": "Card 4111 1111 1111 1111"}
    assert requests.post(f"{rest}/v1/playlists", json=card, headers=key(room, "seat01", "bob"),
                         timeout=10).status_code == 201
    assert requests.post(f"{rest}/v1/playlists", json=card, headers=key(room, "seat02"), timeout=10).status_code == 400
    switch(rest, key(room, "seat01"), "scan", True)
    bad = requests.put(f"{rest}/v1/workshop/defences/firewall", json={"enabled": False}, headers=key(room, "seat01"),
                       timeout=10)
    assert bad.status_code == 404


def locked_out(rest, name, attempts: int) -> bool:
    """Guess passwords for name(i) until the lockout refuses one (True), or `attempts` ran out."""
    return any(requests.get(f"{rest}/v1/me", auth=(name(i), "wrong"), timeout=10).status_code == 429
               for i in range(attempts))


def test_one_seats_flood_and_failed_logins_never_refuse_another_seat(room, rest):
    """The whole room calls from one address, as from behind a classroom NAT."""
    flood = [requests.get(f"{rest}/v1/moods", headers=key(room, "seat01"), timeout=10).status_code
             for _ in range(2 * RATE + 1)]
    assert 429 in flood
    # Guessing: seat01-bob's password until he is locked out, then names that are no one's until
    # the address itself is locked for them (each lock grows with each failure: it comes).
    assert locked_out(rest, lambda i: "seat01-bob", 3 * LOCKOUT_AFTER_FAILURES)
    assert locked_out(rest, lambda i: f"nobody{i}", 3 * SOURCE_LOCKOUT_AFTER_FAILURES)
    password = seat_file(room, "seat02")["users"]["seat02-alice"]["password"]
    for credential in ({"headers": key(room, "seat02")}, {"auth": ("seat02-alice", password)}):
        answer = requests.get(f"{rest}/v1/me", timeout=10, **credential)
        assert answer.status_code == 200, answer.text


def test_cards_name_every_seat_and_the_server_certificate_names_the_host(room):
    cards = (room[0] / "cards.html").read_text()
    for seat in SEATS:
        assert seat_file(room, seat)["seat"]["code"] in cards
        assert seat_file(room, seat)["users"][f"{seat}-bob"]["password"] in cards
    certificate = x509.load_pem_x509_certificate((room[0] / "tls" / "server.pem").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


def test_a_seat_code_downloads_a_bundle_whose_credentials_work_with_the_repos_clients(room, rest, tmp_path):
    code = seat_file(room, "seat02")["seat"]["code"]
    assert requests.post(f"{rest}/v1/workshop/bundle", data={"code": "AAAA-AAAA"}, timeout=10).status_code == 401
    answer = requests.post(f"{rest}/v1/workshop/bundle", data={"code": code.lower()}, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(answer.content)).extractall(tmp_path)
    seat_home = tmp_path / "seat02"
    bundled = json.loads((seat_home / "credentials.json").read_text())
    assert sorted(bundled["users"]) == ["seat02-alice", "seat02-bob"]
    assert (seat_home / "env.sh").exists()
    assert sorted(p.name for p in (seat_home / "tls").iterdir()) == [
        "ca.pem", "seat02-alice.key", "seat02-alice.pem", "seat02-bob.key", "seat02-bob.pem"]

    env = {**os.environ, "PLAYLISTS_HOME": str(seat_home)}
    servers = bundled["servers"]
    # env.sh points the clients at the class: no --server needed.
    for client, auth in (("rest", "key"), ("grpc", "basic")):
        run = subprocess.run(["bash", "-c", f'source "$1" && exec "$2" -m clients.{client} --auth {auth} '
                              "--user seat02-bob whoami", "-", seat_home / "env.sh", sys.executable], cwd=ROOT,
                             env={k: v for k, v in os.environ.items() if not k.startswith("PLAYLISTS_")},
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and "seat02-bob" in run.stdout, run.stdout + run.stderr
    def workshop_cli(*args):
        return subprocess.run([sys.executable, "-m", "workshop", "--server", servers["rest"], *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)

    status = workshop_cli("status")
    assert status.returncode == 0 and "2 of 13 solved" in status.stdout, status.stdout + status.stderr
    assert "✓ Exercise 1 solved" in workshop_cli("check", "1").stdout
    assert "lockout OFF" in workshop_cli("defence", "lockout", "off").stdout
    assert "lockout on" in workshop_cli("defence", "lockout", "on").stdout
    # Mutual TLS from a machine without the repository: curl, and the bundle's files.
    tls = seat_home / "tls"
    curl = subprocess.run(["curl", "-s", "--cacert", tls / "ca.pem", "--cert", tls / "seat02-alice.pem",
                           "--key", tls / "seat02-alice.key", f"{servers['rest_tls']}/v1/me"],
                          capture_output=True, text=True, timeout=30)
    assert json.loads(curl.stdout)["name"] == "seat02-alice", curl.stdout + curl.stderr
    # Exercise 9 as a seat: bob is the seat's bob.
    workshop_cli("show", "9")
    subprocess.run(["curl", "-s", "--cacert", tls / "ca.pem", "--cert", tls / "seat02-bob.pem",
                    "--key", tls / "seat02-bob.key", f"{servers['rest_tls']}/v1/me"], capture_output=True, timeout=30)
    deadline = time.monotonic() + 10
    while (solved := workshop_cli("check", "9")).returncode and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "✓ Exercise 9 solved" in solved.stdout, solved.stdout + solved.stderr


def test_the_global_unsafe_switch_is_refused_in_class_mode(room):
    refused = subprocess.run([sys.executable, "-m", "rest", "--port", "0", "--tls-port", "0"], cwd=ROOT,
                             env={**os.environ, "PLAYLISTS_HOME": str(room[0]), "PLAYLISTS_UNSAFE": "bola"},
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "refused in class mode" in refused.stderr


def test_the_live_view_of_a_class_opens_only_with_the_trainers_link(room, rest):
    viewer = requests.get(f"{rest}/v1/workshop/scoreboard", headers=trainer(room), timeout=10).json()["viewer_key"]
    for path in ("/live", "/live/events", f"/live?key={key(room, 'seat01')['X-API-Key']}"):
        assert requests.get(rest + path, timeout=10).status_code == 401, path
    opened = requests.get(f"{rest}/live", params={"key": viewer}, timeout=10)
    assert opened.status_code == 200 and f"/live/events?key={viewer}" in opened.text
    with requests.get(f"{rest}/live/events", params={"key": viewer}, stream=True, timeout=10) as events:
        assert events.status_code == 200 and events.headers["Content-Type"].startswith("text/event-stream")


def test_the_class_pages_are_served(room, rest):
    for path in ("/workshop", "/class"):
        page = requests.get(rest + path, timeout=10)
        assert page.status_code == 200 and "classroom.js" in page.text
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    landing = requests.get(rest, headers={"Accept": "text/html"}, timeout=10)
    assert 'action="/v1/workshop/bundle"' in landing.text
    journal = (room[0] / "events.jsonl").read_text()
    assert '"operation":"class_pages.' not in journal and '"operation":"workshop.' not in journal


def test_a_seat_and_the_trainer_in_a_browser(room, rest, visit):
    page = visit.open(f"{rest}/workshop")
    page.fill("#signin-form input", seat_file(room, "seat03")["seat"]["code"])
    page.click("#signin-form button")
    expect(page.locator("#who")).to_have_text("signed in as seat03-alice")
    expect(page.locator("#progress")).to_have_text("2 of 13 solved")
    page.click("#exercises li:first-child a")
    expect(page.locator("#title")).to_have_text("Exercise 1 · Your first call, with curl")
    page.click("#hint")
    expect(page.locator("#hints li")).to_have_count(1)
    page.click("#check")
    expect(page.locator("#verdict")).to_contain_text("✓ Solved.")

    page = visit.open(f"{rest}/class")
    page.fill("#signin-form input", trainer(room)["X-API-Key"])
    page.click("#signin-form button")
    expect(page.locator("#seats tr")).to_have_count(len(SEATS))
    expect(page.locator("#seats tr").first).to_contain_text("✓")
    visit.assert_clean()


def test_the_trainer_resets_one_seat_then_the_room_and_every_secret_stays(room, rest):
    def board():
        return {entry["seat"]: entry for entry in requests.get(f"{rest}/v1/workshop/scoreboard",
                                                               headers=trainer(room), timeout=10).json()["seats"]}

    secrets_before = {seat: seat_file(room, seat) for seat in SEATS}
    assert requests.post(f"{rest}/v1/workshop/seats/seat03:reset", headers=key(room, "seat03"),
                         timeout=10).status_code == 401
    assert requests.post(f"{rest}/v1/workshop/seats/seat03:reset", headers=trainer(room), timeout=10).status_code == 204
    after = board()
    assert after["seat03"]["exercises"] == {} and after["seat01"]["solved"] == 2
    assert requests.get(f"{rest}/v1/playlists", headers=key(room, "seat03"), timeout=10).json()["items"] == []
    # seat01's alice flooded: bob, who made a playlist too, shows that seat01 kept its playlists.
    assert requests.get(f"{rest}/v1/playlists", headers=key(room, "seat01", "bob"), timeout=10).json()["items"] != []

    assert requests.post(f"{rest}/v1/workshop/seats:reset", headers=trainer(room), timeout=10).status_code == 204
    assert all(entry["exercises"] == {} for entry in board().values())
    assert {seat: seat_file(room, seat) for seat in SEATS} == secrets_before
    assert requests.get(f"{rest}/v1/me", headers=key(room, "seat02"), timeout=10).status_code == 200


@pytest.mark.parametrize("host, kind", [("10.9.8.7", x509.IPAddress), ("trainer.example", x509.DNSName)])
def test_the_server_certificate_names_the_host_the_room_reaches(tmp_path, host, kind):
    defaults = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLISTS_")}   # the default ports
    subprocess.run([sys.executable, "-m", "core.classroom", "1", "--host", host], cwd=ROOT, check=True,
                   env={**defaults, "PLAYLISTS_HOME": str(tmp_path)}, capture_output=True)
    certificate = x509.load_pem_x509_certificate((tmp_path / "class" / "tls" / "server.pem").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert host in {str(name) for name in names.get_values_for_type(kind)}
    assert json.loads((tmp_path / "class" / "seat01" / "credentials.json").read_text())["servers"]["rest"] == \
        f"http://{host}:8080"
