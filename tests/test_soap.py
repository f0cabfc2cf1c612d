"""The SOAP server end to end: zeep from the served WSDL, every operation, every credential,
every fault of the mapping table, the WSDL as a contract, and parity with REST."""
import json
import logging
import os
import socket
import ssl
import subprocess
import sys

import pytest
import requests
import zeep
from lxml import etree
from werkzeug.test import Client
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

from clients.calls import SOAP_ENV, TNS, WSSE
from core.config import load_settings
from core.setup import setup
from serve.launch import ROOT, Server
from soap.app import create_app

from .conftest import TEST_ENV

SERVICE = f"{{{TNS}}}Playlists"
CALM_TRACK = "josquin-ave-maria-virgo-serena"


# --- clients --------------------------------------------------------------------------------

def soap_url(server) -> str:
    return f"http://127.0.0.1:{server.port}/soap"


def soap_client(server, wsse=None):
    """A zeep proxy built from the served WSDL, bound to the test server's port: the WSDL
    names the production address, as it should, and zeep is told to post elsewhere."""
    client = zeep.Client(soap_url(server) + "?wsdl", wsse=wsse)
    return client.create_service(SERVICE, soap_url(server))


@pytest.fixture(scope="module")
def alice(soap_server, credentials):
    return soap_client(soap_server, UsernameToken("alice", credentials["users"]["alice"]["password"]))


@pytest.fixture(scope="module")
def bob(soap_server, credentials):
    return soap_client(soap_server, UsernameToken("bob", credentials["users"]["bob"]["password"]))


@pytest.fixture(scope="module")
def anonymous(soap_server):
    """No credential of its own: each call passes _soapheaders."""
    return soap_client(soap_server)


def fault(call, *args, **kwargs) -> zeep.exceptions.Fault:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        call(*args, **kwargs)
    return caught.value


def outcome(call, **kwargs) -> zeep.exceptions.Fault | None:
    try:
        call(**kwargs)
    except zeep.exceptions.Fault as error:
        return error
    return None


def code(error: zeep.exceptions.Fault) -> str:
    """The fault code without its prefix: soap11env:Client.NotFound -> Client.NotFound."""
    return error.code.rpartition(":")[2]


def oauth_token(rest_server, credentials, user="alice", scope="") -> str:
    """RFC 6749 §4.4, the client authenticating with HTTP Basic (§2.3.1)."""
    user = credentials["users"][user]
    answer = requests.post(f"http://127.0.0.1:{rest_server.port}/oauth/token",
                           data={"grant_type": "client_credentials", "scope": scope},
                           auth=(user["client_id"], user["client_secret"]))
    answer.raise_for_status()
    return answer.json()["access_token"]


def as_rest_json(playlist) -> dict:
    """A zeep Playlist in the shape REST's JSON gives it: lists unwrapped, and the empty
    strings that zeep reads as None made empty strings again."""
    data = serialize_object(playlist, dict)
    tracks = [{**t, "key": t["key"] or "", "moods": t["moods"]["mood"]}
              for t in (data["tracks"] or {}).get("Track", [])]
    return {**data, "mood": data["mood"] or "", "tracks": tracks}


# --- every operation, with a WS-Security UsernameToken ------------------------------------------

def test_who_am_i(alice):
    user = alice.WhoAmI()
    assert (user.name, user.auth_method) == ("alice", "basic")
    assert user.scopes.scope == ["playlists:read", "playlists:write"]


def test_list_moods(alice):
    moods = alice.ListMoods()
    assert "calm" in [m.name for m in moods]
    assert all(m.description for m in moods)


def test_search_tracks_pages_through_the_catalog(alice):
    first = alice.SearchTracks(mood="calm", page_size=2)
    assert len(first["items"]["Track"]) == 2 and first.next_page_token
    assert all("calm" in t.moods.mood for t in first["items"]["Track"])
    second = alice.SearchTracks(mood="calm", page_size=2, page_token=first.next_page_token)
    assert {t.id for t in second["items"]["Track"]}.isdisjoint(t.id for t in first["items"]["Track"])


def test_get_track(alice):
    track = alice.GetTrack(track_id=CALM_TRACK)
    assert (track.id, track.composer, track.year) == (CALM_TRACK, "Josquin des Prez", 1502)


def test_playlist_lifecycle(alice):
    created = alice.CreatePlaylist(name="Evening", mood="calm", track_ids={"track_id": [CALM_TRACK]})
    assert (created.owner, created.name, created.version) == ("alice", "Evening", 1)
    assert [t.id for t in created.tracks.Track] == [CALM_TRACK]
    assert alice.GetPlaylist(playlist_id=created.id).name == "Evening"
    assert created.id in [p.id for p in alice.ListPlaylists(page_size=50)["items"]["Playlist"]]

    renamed = alice.UpdatePlaylist(playlist_id=created.id, version=1, name="Night")
    assert (renamed.name, renamed.mood, renamed.version, len(renamed.tracks.Track)) == ("Night", "calm", 2, 1)
    second = alice.SearchTracks(mood="calm", page_size=2)["items"]["Track"][1].id
    added = alice.AddTrack(playlist_id=created.id, track_id=second, position=1)
    assert [t.id for t in added.tracks.Track] == [second, CALM_TRACK]
    appended = alice.AddTrack(playlist_id=created.id, track_id=second)
    assert [t.id for t in appended.tracks.Track] == [second, CALM_TRACK, second]
    removed = alice.RemoveTrack(playlist_id=created.id, position=3, version=appended.version)
    assert [t.id for t in removed.tracks.Track] == [second, CALM_TRACK]
    assert removed.total_duration_seconds == sum(t.duration_seconds for t in removed.tracks.Track)
    cleared = alice.UpdatePlaylist(playlist_id=created.id, version=removed.version, mood="", track_ids={"track_id": []})
    assert (cleared.name, cleared.mood, cleared.tracks) == ("Night", None, None)

    assert alice.DeletePlaylist(playlist_id=created.id) is None
    assert code(fault(alice.GetPlaylist, playlist_id=created.id)) == "Client.NotFound"


def test_generate_playlist(alice):
    playlist = alice.GeneratePlaylist(mood="calm", duration_minutes=20)
    assert playlist.mood == "calm" and playlist.name
    assert 0.9 * 1200 <= playlist.total_duration_seconds <= 1.1 * 1200


def test_echo_shows_the_envelope_with_the_password_redacted(alice, credentials):
    received = alice.Echo(message="hello, wire")
    assert (received.protocol, received.operation, received.user) == ("soap", "Echo", "alice")
    headers = {h.name: h.value for h in received.headers.Header}
    assert headers["Content-Type"].startswith("text/xml") and headers["Soapaction"] == '"Echo"'
    assert "<wsse:Username>alice</wsse:Username>" in received.body and "hello, wire" in received.body
    assert credentials["users"]["alice"]["password"] not in received.body
    assert "[redacted]" in received.body


# --- the other credentials ---------------------------------------------------------------------

def test_api_key_header(anonymous, credentials):
    user = anonymous.WhoAmI(_soapheaders={"ApiKey": credentials["users"]["bob"]["api_key"]})
    assert (user.name, user.auth_method) == ("bob", "api_key")


def test_access_token_header(anonymous, rest_server, credentials):
    token = oauth_token(rest_server, credentials)
    user = anonymous.WhoAmI(_soapheaders={"AccessToken": token})
    assert (user.name, user.auth_method) == ("alice", "bearer")


def test_security_header_with_must_understand(soap_server, credentials):
    password = credentials["users"]["alice"]["password"]
    envelope = f"""<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:p="{TNS}"><s:Header>
      <wsse:Security xmlns:wsse="{WSSE}" s:mustUnderstand="1"><wsse:UsernameToken>
        <wsse:Username>alice</wsse:Username><wsse:Password>{password}</wsse:Password>
      </wsse:UsernameToken></wsse:Security></s:Header><s:Body><p:WhoAmI/></s:Body></s:Envelope>"""
    answer = requests.post(soap_url(soap_server), data=envelope, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200
    assert etree.fromstring(answer.content).findtext(f".//{{{TNS}}}name") == "alice"


def test_mutual_tls_with_alices_certificate(soap_server, home, credentials):
    tls, alices = credentials["tls"], credentials["tls"]["clients"]["alice"]
    envelope = f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><WhoAmI xmlns="{TNS}"/></s:Body></s:Envelope>'
    answer = requests.post(f"https://127.0.0.1:{soap_server.tls_port}/soap", data=envelope,
                           headers={"Content-Type": "text/xml"}, verify=str(home / tls["ca"]),
                           cert=(str(home / alices["cert"]), str(home / alices["key"])))
    assert answer.status_code == 200
    user = etree.fromstring(answer.content).find(f".//{{{TNS}}}user")
    assert [user.findtext(f"{{{TNS}}}{f}") for f in ("name", "auth_method")] == ["alice", "mtls"]


def test_mutual_tls_without_a_certificate_fails_the_handshake(soap_server, home, credentials):
    context = ssl.create_default_context(cafile=str(home / credentials["tls"]["ca"]))
    with socket.create_connection(("127.0.0.1", soap_server.tls_port)) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                # TLS 1.3 reports the refused certificate on the first read, not in the handshake.
                tls.sendall(b"POST /soap HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
                if not tls.recv(1):
                    raise ConnectionResetError("closed without an answer")


# --- the fault mapping table -------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"ApiKey": "pk_not-a-real-key"}, {"AccessToken": "not.a.token"}],
                         ids=["missing", "wrong-api-key", "wrong-token"])
def test_missing_or_wrong_credentials(anonymous, headers):
    error = fault(anonymous.WhoAmI, _soapheaders=headers)
    assert code(error) == "Client.Unauthenticated"


def test_wrong_password(soap_server):
    error = fault(soap_client(soap_server, UsernameToken("alice", "not her password")).WhoAmI)
    assert code(error) == "Client.Unauthenticated"


def test_bob_cannot_read_alices_playlist(alice, bob):
    playlist = alice.CreatePlaylist(name="Alice's only")
    theirs, missing = fault(bob.GetPlaylist, playlist_id=playlist.id), fault(bob.GetPlaylist, playlist_id="pl_missing")
    assert code(theirs) == code(missing) == "Client.NotFound"
    assert theirs.message.replace(playlist.id, "X") == missing.message.replace("pl_missing", "X")


def test_invalid_argument_lists_each_field(alice):
    error = fault(alice.CreatePlaylist, name="Bad", track_ids={"track_id": [CALM_TRACK, "no-such", "nor-this"]})
    assert code(error) == "Client.InvalidArgument"
    violations = {v.findtext("field"): v.findtext("description") for v in error.detail.iter("violation")}
    assert violations == {"track_ids[1]": "no track with id 'no-such'", "track_ids[2]": "no track with id 'nor-this'"}


def test_stale_version_is_a_conflict(alice):
    playlist = alice.CreatePlaylist(name="Versioned")
    alice.UpdatePlaylist(playlist_id=playlist.id, version=1, name="Second")
    error = fault(alice.UpdatePlaylist, playlist_id=playlist.id, version=1, name="Lost update")
    assert code(error) == "Client.Conflict"
    assert error.detail.findtext("current_version") == "2"


def test_an_update_without_its_version_is_refused(alice):
    playlist = alice.CreatePlaylist(name="Unversioned")
    assert code(fault(alice.UpdatePlaylist, playlist_id=playlist.id, name="Blind")) == "Client.VersionRequired"
    assert alice.GetPlaylist(playlist_id=playlist.id).name == "Unversioned"


def test_read_only_token_is_forbidden_to_write(anonymous, rest_server, credentials):
    token = oauth_token(rest_server, credentials, scope="playlists:read")
    error = fault(anonymous.CreatePlaylist, name="Nope", _soapheaders={"AccessToken": token})
    assert code(error) == "Client.Forbidden"


def test_a_full_playlist_is_too_large(alice):
    ids = [t.id for t in alice.SearchTracks(page_size=50)["items"]["Track"]]
    playlist = alice.CreatePlaylist(name="Full", track_ids={"track_id": (ids * 2)[:100]})
    error = fault(alice.AddTrack, playlist_id=playlist.id, track_id=ids[0])
    assert code(error) == "Client.TooLarge"
    assert error.detail.findtext("limit") == "100"


def test_rate_limited_with_retry_after(tmp_path):
    env = {"PLAYLISTS_HOME": str(tmp_path), "PLAYLISTS_RATE_LIMIT": "2/minute"}
    setup(load_settings({**os.environ, **env}))
    api_key = {"ApiKey": json.loads((tmp_path / "credentials.json").read_text())["users"]["alice"]["api_key"]}
    server = Server("soap", tmp_path, env, tls=False)
    try:
        anonymous = soap_client(server)
        # Five calls: even if a minute's window ends among them, one of them is over the limit.
        refusals = [error for error in (outcome(anonymous.WhoAmI, _soapheaders=api_key) for _ in range(5)) if error]
    finally:
        server.stop()
    assert refusals and code(refusals[0]) == "Client.RateLimited"
    assert int(refusals[0].detail.findtext("retry_after")) > 0


def test_unexpected_error_is_a_server_fault_without_internals(service, monkeypatch, caplog, credentials):
    def broken(*args):
        raise RuntimeError("secret internals: /var/db/password")

    monkeypatch.setattr(service, "get_track", broken)
    envelope = (f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:p="{TNS}"><s:Header><p:ApiKey>'
                f'{credentials["users"]["alice"]["api_key"]}</p:ApiKey></s:Header>'
                f'<s:Body><p:GetTrack><p:track_id>{CALM_TRACK}</p:track_id></p:GetTrack></s:Body></s:Envelope>')
    with caplog.at_level(logging.ERROR):
        answer = Client(create_app(service)).post("/soap", data=envelope, content_type="text/xml")
    assert answer.status_code == 500 and answer.content_type.startswith("text/xml")
    assert etree.fromstring(answer.data).findtext(".//faultcode") == "soap11env:Server"
    assert b"secret" not in answer.data and b"RuntimeError" not in answer.data
    assert any("secret internals" in str(r.exc_info) for r in caplog.records if r.exc_info)


# --- the WSDL is the contract ------------------------------------------------------------------

def test_wsdl_in_the_repository_is_what_the_server_serves(soap_server, tmp_path):
    served = requests.get(soap_url(soap_server) + "?wsdl")
    assert served.headers["Content-Type"].startswith("text/xml")
    committed = (ROOT / "wsdl" / "playlists.wsdl").read_bytes()
    assert served.content == committed, "the WSDL changed: run `make wsdl` and commit wsdl/playlists.wsdl"
    written = tmp_path / "written.wsdl"
    subprocess.run([sys.executable, "-m", "soap", "--write-wsdl", str(written)], cwd=ROOT, check=True,
                   env={k: v for k, v in os.environ.items() if k != "PLAYLISTS_SOAP_URL"}, capture_output=True)
    assert written.read_bytes() == committed


def wsdl_address(wsdl: bytes) -> str:
    return etree.fromstring(wsdl).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address").get("location")


def test_host_header_cannot_change_the_wsdl_address(home):
    server = Server("soap", home, {**TEST_ENV, "PLAYLISTS_SOAP_URL": "https://playlists.example/soap"}, tls=False)
    try:
        # The very first request a fresh server sees: the one Spyne would have cached.
        forged = requests.get(soap_url(server) + "?wsdl", headers={"Host": "evil.example:666"})
        honest = requests.get(soap_url(server) + "?wsdl")
    finally:
        server.stop()
    assert wsdl_address(forged.content) == wsdl_address(honest.content) == "https://playlists.example/soap"


def test_default_wsdl_address_is_the_configured_one(soap_server):
    wsdl = requests.get(soap_url(soap_server) + "?wsdl", headers={"Host": "evil.example"}).content
    assert wsdl_address(wsdl) == "http://127.0.0.1:8081/soap"


# --- one core, two protocols -------------------------------------------------------------------

def test_created_over_rest_reads_back_identically_over_soap(rest_server, alice, credentials):
    created = requests.post(f"http://127.0.0.1:{rest_server.port}/v1/playlists",
                            json={"name": "From REST", "mood": "calm", "track_ids": [CALM_TRACK]},
                            headers={"X-API-Key": credentials["users"]["alice"]["api_key"]})
    assert created.status_code == 201
    assert as_rest_json(alice.GetPlaylist(playlist_id=created.json()["id"])) == created.json()


def test_created_over_soap_reads_back_identically_over_rest(rest_server, alice, credentials):
    created = alice.CreatePlaylist(name="From SOAP", track_ids={"track_id": [CALM_TRACK, CALM_TRACK]})
    read = requests.get(f"http://127.0.0.1:{rest_server.port}/v1/playlists/{created.id}",
                        headers={"X-API-Key": credentials["users"]["alice"]["api_key"]})
    assert read.status_code == 200
    assert read.json() == as_rest_json(created)
