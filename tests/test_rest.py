"""The REST server over real HTTP: status codes, headers, representations and problems."""
import ast
import base64
import json
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests


@pytest.fixture(scope="module")
def api(rest_server, credentials):
    """A requests session for alice against the real server."""
    session = requests.Session()
    session.headers["X-API-Key"] = credentials["users"]["alice"]["api_key"]
    session.base = f"http://127.0.0.1:{rest_server.port}"
    return session


def url(api, path):
    return api.base + path


def playlist_count(home):
    with sqlite3.connect(home / "playlists.sqlite3") as db:
        return db.execute("SELECT COUNT(*), COALESCE(SUM(version), 0) FROM playlists").fetchone()


def assert_problem(response, status, field=None):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if field:
        assert field in [e["field"] for e in problem["errors"]], problem
    return problem


def test_who_am_i_with_each_credential(api, rest_server, credentials, home):
    alice = credentials["users"]["alice"]
    assert requests.get(url(api, "/v1/me"), headers={"X-API-Key": alice["api_key"]}).json()["auth_method"] == "api_key"
    basic = requests.get(url(api, "/v1/me"), auth=("alice", alice["password"])).json()
    assert basic == {"name": "alice", "auth_method": "basic", "scopes": ["playlists:read", "playlists:write"]}
    token = requests.post(url(api, "/oauth/token"), data={"grant_type": "client_credentials"},
                          auth=(alice["client_id"], alice["client_secret"])).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    me = requests.get(url(api, "/v1/me"), headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert me["auth_method"] == "bearer"
    tls = home / credentials["tls"]["clients"]["alice"]["cert"], home / credentials["tls"]["clients"]["alice"]["key"]
    mtls = requests.get(f"https://127.0.0.1:{rest_server.tls_port}/v1/me", cert=tuple(map(str, tls)),
                        verify=str(home / credentials["tls"]["ca"])).json()
    assert mtls["name"] == "alice" and mtls["auth_method"] == "mtls"


def test_no_client_certificate_is_refused_in_the_handshake(rest_server, home, credentials):
    with pytest.raises(requests.exceptions.SSLError):   # or ConnectionError: the TLS alert ends it
        requests.get(f"https://127.0.0.1:{rest_server.tls_port}/v1/me", verify=str(home / credentials["tls"]["ca"]))


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "pk_guess"}, {"Authorization": "Basic !!!"},
                                     {"Authorization": "Bearer x.y.z"},
                                     {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}])
def test_missing_or_wrong_credentials_get_401_with_a_challenge(api, headers):
    response = requests.get(url(api, "/v1/me"), headers=headers)
    assert_problem(response, 401)
    assert "Basic" in response.headers["WWW-Authenticate"] and "Bearer" in response.headers["WWW-Authenticate"]


def test_playlist_lifecycle_speaks_http(api):
    created = api.post(url(api, "/v1/playlists"), json={"name": "Evening", "mood": "calm",
                                                        "track_ids": ["bach-bwv1007-prelude"]})
    assert created.status_code == 201
    playlist = created.json()
    assert created.headers["Location"] == f"/v1/playlists/{playlist['id']}"
    assert created.headers["ETag"] == '"1"'
    fetched = api.get(url(api, created.headers["Location"]))
    assert fetched.json() == playlist and fetched.headers["ETag"] == '"1"'

    added = api.post(url(api, f"/v1/playlists/{playlist['id']}/tracks"), json={"track_id": "satie-gymnopedie-1"})
    assert added.status_code == 200 and added.headers["ETag"] == '"2"'
    assert [t["id"] for t in added.json()["tracks"]] == ["bach-bwv1007-prelude", "satie-gymnopedie-1"]

    stale = api.patch(url(api, f"/v1/playlists/{playlist['id']}"), json={"name": "Late"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412)
    assert stale.headers["ETag"] == '"2"'
    assert_problem(api.patch(url(api, f"/v1/playlists/{playlist['id']}"), json={"name": "Late"}), 428)
    renamed = api.patch(url(api, f"/v1/playlists/{playlist['id']}"), json={"name": "Late", "track_ids":
                        ["satie-gymnopedie-1", "bach-bwv1007-prelude"]}, headers={"If-Match": '"2"'})
    assert renamed.json()["name"] == "Late" and renamed.json()["version"] == 3
    assert renamed.json()["tracks"][0]["id"] == "satie-gymnopedie-1"

    removed = api.delete(url(api, f"/v1/playlists/{playlist['id']}/tracks/1"))
    assert [t["id"] for t in removed.json()["tracks"]] == ["bach-bwv1007-prelude"]
    listed = api.get(url(api, "/v1/playlists"), params={"page_size": 50}).json()
    assert playlist["id"] in [p["id"] for p in listed["items"]]

    deleted = api.delete(url(api, f"/v1/playlists/{playlist['id']}"))
    assert deleted.status_code == 204 and deleted.content == b""
    assert_problem(api.get(url(api, f"/v1/playlists/{playlist['id']}")), 404)


def test_generate_answers_201_with_a_playlist_of_that_mood(api):
    response = api.post(url(api, "/v1/playlists:generate"), json={"mood": "dreamy", "duration_minutes": 20})
    assert response.status_code == 201
    playlist = response.json()
    assert all("dreamy" in t["moods"] for t in playlist["tracks"])
    assert 18 * 60 <= playlist["total_duration_seconds"] <= 22 * 60


def test_one_resource_three_representations(api):
    as_json = api.get(url(api, "/v1/tracks/bach-bwv1007-prelude"))
    assert as_json.headers["Content-Type"].startswith("application/json") and "Accept" in as_json.headers["Vary"]
    as_xml = api.get(url(api, "/v1/tracks/bach-bwv1007-prelude"), headers={"Accept": "application/xml"})
    assert ET.fromstring(as_xml.content).findtext("composer") == as_json.json()["composer"]
    as_html = api.get(url(api, "/v1/tracks/bach-bwv1007-prelude"), headers={"Accept": "text/html"})
    assert as_html.headers["Content-Type"].startswith("text/html") and "<table>" in as_html.text
    assert api.get(url(api, "/v1/moods"), headers={"Accept": "*/*"}).headers["Content-Type"].startswith("application/json")
    assert_problem(api.get(url(api, "/v1/moods"), headers={"Accept": "image/png"}), 406)


def test_json_is_indented_for_reading_exactly_as_the_standard_library_writes_it(api):
    created = api.post(url(api, "/v1/playlists"), json={"name": "Für Elise — «encore» ☃", "mood": "calm",
                                                          "track_ids": ["bach-bwv1068-air", "bach-bwv1007-prelude"]})
    for response in (created, api.get(url(api, "/v1/tracks?page_size=3")), api.get(url(api, "/v1/moods"))):
        assert response.content == (json.dumps(response.json(), ensure_ascii=False, indent=2) + "\n").encode()


@pytest.mark.parametrize("body,field", [
    ('{"name": ', "body"),
    ('{"name": 42}', "name"),
    ('{"name": "x", "colour": "red"}', "colour"),
    ('{"mood": "calm"}', "name"),
    ('{"name": "x", "track_ids": ["no-such-track"]}', "track_ids[0]"),
    ('{"name": "x", "mood": "angry"}', "mood"),
    ('{"name": "x" }' + " " * 10 + "[", "body"),
    ('[1, 2]', "body"),
])
def test_bad_bodies_get_400_with_the_field_and_nothing_is_written(api, home, body, field):
    before = playlist_count(home)
    response = api.post(url(api, "/v1/playlists"), data=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, field)
    assert playlist_count(home) == before


@pytest.mark.parametrize("query,field", [("page_size=-1", "page_size"), ("page_size=100000", "page_size"),
                                         ("page_size=ten", "page_size"), ("page_token=forged.token", "page_token"),
                                         ("colour=red", "colour"), ("mood=angry", "mood")])
def test_bad_queries_get_400_with_the_field(api, query, field):
    assert_problem(api.get(url(api, "/v1/tracks?" + query)), 400, field)


def test_a_two_megabyte_string_gets_413_and_nothing_is_written(api, home):
    before = playlist_count(home)
    response = api.post(url(api, "/v1/playlists"), json={"name": "x" * 2_000_000})
    assert_problem(response, 413)
    assert playlist_count(home) == before


def test_unknown_routes_and_methods_are_problems_too(api):
    assert_problem(api.get(url(api, "/v2/nothing")), 404)
    response = api.put(url(api, "/v1/moods"))
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_the_openapi_document_is_served(api):
    document = api.get(url(api, "/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert {op["operationId"] for item in document["paths"].values() for op in item.values()} >= {
        "who_am_i", "list_moods", "search_tracks", "get_track", "create_playlist", "generate_playlist",
        "get_playlist", "list_playlists", "update_playlist", "add_track", "remove_track", "delete_playlist", "echo"}


def test_oauth_errors_follow_rfc_6749(api, credentials):
    alice = credentials["users"]["alice"]
    wrong = requests.post(url(api, "/oauth/token"), data={"grant_type": "client_credentials",
                                                          "client_id": alice["client_id"], "client_secret": "no"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    in_form = requests.post(url(api, "/oauth/token"), data={"grant_type": "client_credentials",
                            "client_id": alice["client_id"], "client_secret": alice["client_secret"]})
    assert in_form.status_code == 200 and in_form.headers["Cache-Control"] == "no-store"
    grant = requests.post(url(api, "/oauth/token"), data={"grant_type": "password"}, auth=(alice["client_id"], alice["client_secret"]))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = requests.post(url(api, "/oauth/token"), data={"grant_type": "client_credentials", "scope": "admin"},
                          auth=(alice["client_id"], alice["client_secret"]))
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    read_only = requests.post(url(api, "/oauth/token"), data={"grant_type": "client_credentials",
                              "scope": "playlists:read"}, auth=(alice["client_id"], alice["client_secret"])).json()
    headers = {"Authorization": f"Bearer {read_only['access_token']}"}
    assert requests.get(url(api, "/v1/moods"), headers=headers).status_code == 200
    assert_problem(requests.post(url(api, "/v1/playlists"), json={"name": "x"}, headers=headers), 403)


def test_echo_shows_the_request_with_credentials_redacted(api, credentials):
    key = credentials["users"]["alice"]["api_key"]
    body = json.dumps({"note": "hello", "leaked": key})
    echo = api.post(url(api, "/v1/echo"), data=body, headers={"Content-Type": "application/json"}).json()
    headers = {h["name"].lower(): h["value"] for h in echo["headers"]}
    assert headers["x-api-key"] == "[redacted]" and headers["content-type"] == "application/json"
    assert echo["body"] == body.replace(key, "[redacted]")


def test_a_flood_gets_429_with_retry_after(home, credentials):
    from serve.launch import Server
    server = Server("rest", home, {"PLAYLISTS_RATE_LIMIT": "5/minute"}, tls=False)
    try:
        headers = {"X-API-Key": credentials["users"]["bob"]["api_key"]}
        answers = [requests.get(f"http://127.0.0.1:{server.port}/v1/moods", headers=headers) for _ in range(7)]
        assert [a.status_code for a in answers].count(200) <= 5
        limited = answers[-1]
        problem = assert_problem(limited, 429)
        assert 1 <= int(limited.headers["Retry-After"]) <= 60 and problem["retry_after"] == int(limited.headers["Retry-After"])
        assert limited.headers["RateLimit-Policy"] == "5/minute"
    finally:
        server.stop()


KNOWS_SOAP_OR_GRPC = {"soap", "rpc", "screen", "clients", "spyne", "zeep", "grpc", "grpc_status", "google", "playlist"}


def top_level_imports(path: Path) -> set:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    return imported


def test_the_adapter_imports_the_core_and_nothing_that_knows_soap_or_grpc():
    """The REST adapter only translates; the screen (which knows all three) is mounted by `python -m rest`."""
    folder = Path(__file__).resolve().parent.parent / "rest"
    adapter = [path for path in folder.glob("*.py") if path.name != "__main__.py"]
    imported = set().union(*map(top_level_imports, adapter))
    assert "core" in imported and not imported & KNOWS_SOAP_OR_GRPC, imported & KNOWS_SOAP_OR_GRPC
    assert top_level_imports(folder / "__main__.py") == {"screen", "serve"}
    # Nor through another module: importing the adapter loads no SOAP or gRPC library.
    loaded = subprocess.run([sys.executable, "-c", "import sys, rest.app; print(*sys.modules)"],
                            cwd=folder.parent, capture_output=True, text=True, check=True).stdout.split()
    assert not {name.split(".")[0] for name in loaded} & KNOWS_SOAP_OR_GRPC
