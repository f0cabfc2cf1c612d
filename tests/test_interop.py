"""Outside clients only: programs nobody here wrote, against the real servers.

Nothing of clients/, core/, rest/, soap/ or rpc/ acts as a client in this file: suds and
zeep read the served WSDL, node's `soap` package and @grpc/grpc-js run as node programs
(interop/), `buf curl` learns the schema through reflection, xmllint checks requests
against the XML Schema inside the WSDL, schemathesis reads the served /openapi.json, and
curl runs the README's examples as a reader would paste them. The fixtures only start the
servers and read credentials.json, as a learner's shell would.

A client missing on this machine is a skipped test that says how to install it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from lxml import etree
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serve.launch import ROOT, Server

from .conftest import TEST_ENV

INTEROP = ROOT / "interop"
PROTOS = ROOT / "protos"
TNS = "urn:playlists:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSD = "http://www.w3.org/2001/XMLSchema"
NPM_CI = "npm ci --prefix interop   (or `make interop`)"


# --- the tools, or a skip that says how to get them --------------------------------------------

def need_node_package(package: str) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: apt-get install -y nodejs npm, then " + NPM_CI)
    if not (INTEROP / "node_modules" / package / "package.json").exists():
        pytest.skip(f"the npm package {package} is not installed: {NPM_CI}")


def need_buf() -> Path:
    need_node_package("@bufbuild/buf")
    buf = INTEROP / "node_modules" / ".bin" / "buf"
    if subprocess.run([buf, "--version"], capture_output=True).returncode != 0:
        pytest.skip(f"buf from @bufbuild/buf does not run here (no binary for this platform?): {NPM_CI}")
    return buf


def need_xmllint() -> str:
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        pytest.skip("xmllint is not installed: apt-get install -y libxml2-utils")
    return xmllint


def need_suds():
    try:
        import suds.client
    except ImportError:
        pytest.skip("suds is not installed: .venv/bin/pip install -r requirements-dev.txt (suds-community)")
    return suds.client


def run(command, env=None, cwd=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def node(script: str, *args, env=None) -> dict:
    """Run one of interop/*.js; it prints one JSON object."""
    done = run(["node", INTEROP / script, *args], env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- shared fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alice(credentials) -> dict:
    return credentials["users"]["alice"]


@pytest.fixture(scope="module")
def tls(home, credentials) -> dict:
    """Absolute paths of the CA and alice's client certificate and key."""
    paths = credentials["tls"]
    return {"ca": home / paths["ca"], "cert": home / paths["clients"]["alice"]["cert"],
            "key": home / paths["clients"]["alice"]["key"]}


@pytest.fixture(scope="module")
def soap_url(soap_server) -> str:
    # The WSDL names the configured public address (8081), as it must; every client here
    # is told to post to the test server's port instead.
    return f"http://127.0.0.1:{soap_server.port}/soap"


@pytest.fixture(scope="module")
def wsdl(soap_url) -> bytes:
    answer = requests.get(soap_url + "?wsdl", timeout=10)
    assert answer.status_code == 200
    return answer.content


# --- SOAP: suds ---------------------------------------------------------------------------------

def suds_client(soap_url, **options):
    """A suds client from the served WSDL, posting to the test server, keeping what it sends."""
    client_module = need_suds()
    from suds.plugin import MessagePlugin

    class Captured(MessagePlugin):
        def __init__(self):
            self.sent = []

        def sending(self, context):
            self.sent.append(bytes(context.envelope))

    captured = Captured()
    client = client_module.Client(soap_url + "?wsdl", location=soap_url, cache=None, plugins=[captured],
                                  timeout=20, **options)
    return client, captured


def test_suds_with_a_ws_security_username_token(soap_url, alice):
    from suds import WebFault
    from suds.wsse import Security, UsernameToken
    security = Security()
    security.tokens.append(UsernameToken("alice", alice["password"]))
    client, captured = suds_client(soap_url, wsse=security)
    me = client.service.WhoAmI()
    assert (me.name, me.auth_method) == ("alice", "basic")
    assert [m.name for m in client.service.ListMoods().Mood][:1] == ["calm"]
    page = client.service.SearchTracks(mood="calm", era="Baroque", page_size=2)
    assert len(page.items.Track) == 2 and page.next_page_token
    assert all("calm" in t.moods.mood and t.era == "Baroque" for t in page.items.Track)
    assert b"UsernameToken" in captured.sent[0] and alice["password"].encode() in captured.sent[0]
    wrong = Security()
    wrong.tokens.append(UsernameToken("alice", "not-the-password"))
    client.set_options(wsse=wrong)
    with pytest.raises(WebFault) as caught:
        client.service.WhoAmI()
    assert caught.value.fault.faultcode.endswith(":Client.Unauthenticated")


def test_suds_with_the_api_key_header(soap_url, alice):
    from suds import WebFault
    client, captured = suds_client(soap_url, soapheaders={"ApiKey": alice["api_key"]})
    assert client.service.WhoAmI().auth_method == "api_key"
    created = client.service.CreatePlaylist(name="suds", mood="calm",
                                            track_ids={"track_id": ["bach-bwv1007-prelude"]})
    assert (created.version, created.owner, created.tracks.Track[0].id) == (1, "alice", "bach-bwv1007-prelude")
    added = client.service.AddTrack(playlist_id=created.id, track_id="bach-bwv1068-air")
    assert added.version == 2 and [t.id for t in added.tracks.Track] == ["bach-bwv1007-prelude", "bach-bwv1068-air"]
    read = client.service.GetPlaylist(playlist_id=created.id)
    assert read.version == 2 and read.total_duration_seconds == sum(t.duration_seconds for t in read.tracks.Track)
    with pytest.raises(WebFault) as caught:
        client.service.GetTrack(track_id="no-such-track")
    assert caught.value.fault.faultcode.endswith(":Client.NotFound")
    with pytest.raises(WebFault) as caught:  # a stale version: Client.Conflict with the current one
        client.service.AddTrack(playlist_id=created.id, track_id="bach-bwv1068-air", version=1)
    assert caught.value.fault.faultcode.endswith(":Client.Conflict")
    assert all(f"<tns:ApiKey>{alice['api_key']}</tns:ApiKey>".encode() in e for e in captured.sent)


# --- SOAP: node's `soap` package -----------------------------------------------------------------

@pytest.fixture(scope="module")
def node_soap(soap_url, alice) -> dict:
    """What the node client did with the ApiKey header (run once; two tests read it)."""
    need_node_package("soap")
    return node("soap_client.js", soap_url + "?wsdl", soap_url, env={"SOAP_AUTH": "apikey",
                                                                     "SOAP_API_KEY": alice["api_key"]})


def test_node_soap_from_the_wsdl_with_the_api_key_header(node_soap):
    assert set(node_soap["operations"]) == {
        "WhoAmI", "ListMoods", "SearchTracks", "GetTrack", "CreatePlaylist", "GeneratePlaylist", "GetPlaylist",
        "ListPlaylists", "UpdatePlaylist", "AddTrack", "RemoveTrack", "DeletePlaylist", "Echo"}
    assert node_soap["whoami"]["user"]["auth_method"] == "api_key"
    assert len(node_soap["search"]["items"]["Track"]) == 2
    added = node_soap["added"]["playlist"]
    assert added["version"] == 2 and [t["id"] for t in added["tracks"]["Track"]] == [
        "bach-bwv1007-prelude", "bach-bwv1068-air"]
    assert node_soap["fault"]["faultcode"].endswith(":Client.NotFound") and node_soap["fault_status"] == 500


def test_node_soap_with_a_ws_security_username_token(soap_url, alice):
    need_node_package("soap")
    out = node("soap_client.js", soap_url + "?wsdl", soap_url,
               env={"SOAP_AUTH": "wsse", "SOAP_USER": "alice", "SOAP_PASSWORD": alice["password"]})
    assert out["whoami"]["user"] == {"name": "alice", "auth_method": "basic",
                                     "scopes": {"scope": ["playlists:read", "playlists:write"]}}
    assert "wsse:UsernameToken" in out["requests"][0]
    assert out["created"]["playlist"]["name"] == "node-soap"


# --- SOAP: xmllint, the requests against the XML Schema inside the WSDL ---------------------------

# SOAP 1.1's envelope, reduced to what a request needs. The Body must hold exactly one
# element of the service's namespace, validated strictly against the WSDL's schema; the
# header entries are checked when the schema declares them (ApiKey), skipped when not
# (wsse:Security), as the envelope schema of SOAP 1.1 itself does.
ENVELOPE_XSD = f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="{XSD}" targetNamespace="{SOAP_ENV}" elementFormDefault="qualified">
  <xs:import namespace="{TNS}" schemaLocation="playlists.xsd"/>
  <xs:element name="Envelope">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Header" minOccurs="0">
          <xs:complexType>
            <xs:sequence><xs:any namespace="##other" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence>
            <xs:anyAttribute namespace="##other" processContents="lax"/>
          </xs:complexType>
        </xs:element>
        <xs:element name="Body">
          <xs:complexType>
            <xs:sequence><xs:any namespace="{TNS}" processContents="strict"/></xs:sequence>
            <xs:anyAttribute namespace="##other" processContents="lax"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
      <xs:anyAttribute namespace="##other" processContents="lax"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


@pytest.fixture(scope="module")
def schema_dir(wsdl, tmp_path_factory) -> Path:
    """The xs:schema of the served WSDL as playlists.xsd, beside the envelope schema."""
    folder = tmp_path_factory.mktemp("xsd")
    schemas = etree.fromstring(wsdl).findall(f".//{{{XSD}}}schema")
    assert len(schemas) == 1
    # lxml writes the namespace declarations in scope (tns:, xs:), so type="tns:Name" resolves.
    (folder / "playlists.xsd").write_bytes(etree.tostring(schemas[0], xml_declaration=True, encoding="UTF-8"))
    (folder / "envelope.xsd").write_text(ENVELOPE_XSD)
    return folder


def xmllint(schema_dir: Path, envelopes: dict, tmp_path: Path) -> dict:
    """Validate each envelope; {name: (valid, what xmllint said)}."""
    tool = need_xmllint()
    results = {}
    for name, body in envelopes.items():
        path = tmp_path / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.xml"
        path.write_bytes(body if isinstance(body, bytes) else body.encode())
        done = run([tool, "--noout", "--nonet", "--schema", schema_dir / "envelope.xsd", path])
        results[name] = (done.returncode == 0 and "validates" in done.stderr, done.stderr.strip())
    return results


def readme_envelope(api_key: str) -> bytes:
    """The hand-written GetTrack envelope of README.md's SOAP section, its key filled in."""
    block = readme_blocks("SOAP")[0]
    body = block.split("<<EOF\n", 1)[1].split("\nEOF", 1)[0]
    return re.sub(r"\$\(python3 .*?\)(?=</p:ApiKey>)", api_key, body).encode()


def test_xmllint_validates_what_suds_zeep_and_the_readme_send(schema_dir, soap_url, alice, tmp_path):
    need_xmllint()
    import zeep
    from suds.wsse import Security, UsernameToken
    security = Security()
    security.tokens.append(UsernameToken("alice", alice["password"]))
    envelopes = {}
    # suds builds the envelope and hands it over without sending it (nosend).
    client, _ = suds_client(soap_url, nosend=True, soapheaders={"ApiKey": alice["api_key"]})
    calls = {"WhoAmI": {}, "SearchTracks": {"mood": "calm", "page_size": 2},
             "CreatePlaylist": {"name": "x", "track_ids": {"track_id": ["bach-bwv1068-air"]}},
             "AddTrack": {"playlist_id": "pl_x", "track_id": "bach-bwv1068-air", "position": 1},
             "UpdatePlaylist": {"playlist_id": "pl_x", "version": 2, "name": "y"},
             "GeneratePlaylist": {"mood": "calm", "duration_minutes": 30}}
    for operation, args in calls.items():
        envelopes[f"suds {operation}"] = getattr(client.service, operation)(**args).envelope
    wsse_client, _ = suds_client(soap_url, nosend=True, wsse=security)
    envelopes["suds WhoAmI with wsse"] = wsse_client.service.WhoAmI().envelope
    # zeep: create_message builds the request as it would post it.
    proxy = zeep.Client(soap_url + "?wsdl")
    for operation, args in calls.items():
        message = proxy.create_message(proxy.service, operation, **args, _soapheaders={"ApiKey": alice["api_key"]})
        envelopes[f"zeep {operation}"] = etree.tostring(message)
    envelopes["README GetTrack"] = readme_envelope(alice["api_key"])
    results = xmllint(schema_dir, envelopes, tmp_path)
    assert {name: said for name, (valid, said) in results.items() if not valid} == {}


def test_xmllint_validates_what_node_soap_sends(schema_dir, node_soap, tmp_path):
    envelopes = {f"node-soap {i}": body for i, body in enumerate(node_soap["requests"])}
    assert len(envelopes) == 5
    results = xmllint(schema_dir, envelopes, tmp_path)
    assert {name: said for name, (valid, said) in results.items() if not valid} == {}


def test_xmllint_refuses_envelopes_that_break_the_schema(schema_dir, alice, tmp_path):
    """The control: were the schema not applied, these would pass too."""
    good = readme_envelope(alice["api_key"]).decode()
    broken = {
        "missing track_id": re.sub(r"<p:track_id>.*?</p:track_id>", "", good),
        "id over 64 characters": good.replace("bach-bwv1068-air", "x" * 65),
        "unknown element": good.replace("</p:GetTrack>", "<p:colour>red</p:colour></p:GetTrack>"),
        "wrong namespace": good.replace('xmlns:p="urn:playlists:v1"', 'xmlns:p="urn:playlists:v2"'),
        "negative position": good.replace("<p:GetTrack>\n      <p:track_id>bach-bwv1068-air</p:track_id>",
                                          "<p:AddTrack><p:playlist_id>pl_x</p:playlist_id>"
                                          "<p:track_id>bach-bwv1068-air</p:track_id><p:position>-1</p:position>"
                                          ).replace("</p:GetTrack>", "</p:AddTrack>"),
    }
    assert all(good != b for b in broken.values())
    results = xmllint(schema_dir, broken, tmp_path)
    assert {name for name, (valid, _) in results.items() if valid} == set()


# --- gRPC: @grpc/grpc-js with @grpc/proto-loader ------------------------------------------------

def check_grpc_js(out: dict, method: str) -> None:
    assert out["whoami"] == {"name": "alice", "auth_method": method, "scopes": ["playlists:read", "playlists:write"]}
    ids = [t["id"] for t in out["search"]["items"]]
    assert len(ids) == 3 and out["created"]["version"] == 1
    assert [t["id"] for t in out["created"]["tracks"]] == ids
    # PlayPlaylist, a server stream: one message per track, in order, with the time before it.
    assert [(m["position"], m["of"], m["track"]["id"]) for m in out["played"]] == [
        (i, 3, track_id) for i, track_id in enumerate(ids, start=1)]
    durations = [t["duration_seconds"] for t in out["created"]["tracks"]]
    assert [m["elapsed_seconds"] for m in out["played"]] == [0, durations[0], durations[0] + durations[1]]
    # MoodRadio, bidirectional: one answer per mood sent.
    assert [m["mood"] for m in out["radio"]] == ["calm", "joyful"] and all(m["tracks"] for m in out["radio"])
    assert out["error"] == {"code": 5, "name": "NOT_FOUND", "details": "no track with id 'no-such-track'"}


def test_grpc_js_with_the_api_key_metadata(rpc_server, alice):
    need_node_package("@grpc/grpc-js")
    need_node_package("@grpc/proto-loader")
    out = node("grpc_client.js", f"127.0.0.1:{rpc_server.port}", PROTOS, env={"GRPC_API_KEY": alice["api_key"]})
    check_grpc_js(out, "api_key")


def test_grpc_js_with_mutual_tls(rpc_server, tls):
    need_node_package("@grpc/grpc-js")
    need_node_package("@grpc/proto-loader")
    out = node("grpc_client.js", f"127.0.0.1:{rpc_server.tls_port}", PROTOS,
               env={"GRPC_CA": tls["ca"], "GRPC_CERT": tls["cert"], "GRPC_KEY": tls["key"]})
    check_grpc_js(out, "mtls")


# --- gRPC: buf curl, the schema learnt through reflection (no --schema, no .proto) ----------------

def buf_curl(*args, tls=None, env=None) -> subprocess.CompletedProcess:
    buf = need_buf()
    flags = ["--protocol", "grpc", "--timeout", "20s"]
    if tls:
        flags += ["--cacert", tls["ca"], "--cert", tls["cert"], "--key", tls["key"]]
    # A private cache: buf keeps what reflection taught it nowhere a later run could reuse.
    return run([buf, "curl", *flags, *args], env={"BUF_CACHE_DIR": str(ROOT / ".pytest_cache" / "buf"), **(env or {})})


def test_buf_curl_lists_and_describes_the_service_through_reflection(rpc_server):
    base = f"http://127.0.0.1:{rpc_server.port}"
    services = buf_curl("--list-services", base)
    assert services.returncode == 0, services.stderr
    assert set(services.stdout.split()) == {"playlist.v1.Playlists", "grpc.health.v1.Health",
                                            "grpc.reflection.v1alpha.ServerReflection"}
    methods = buf_curl("--list-methods", base)
    assert {m for m in methods.stdout.split() if m.startswith("playlist.v1.")} == {
        f"playlist.v1.Playlists/{name}" for name in (
            "WhoAmI", "ListMoods", "SearchTracks", "GetTrack", "CreatePlaylist", "GeneratePlaylist", "GetPlaylist",
            "ListPlaylists", "UpdatePlaylist", "AddTrack", "RemoveTrack", "DeletePlaylist", "Echo", "PlayPlaylist",
            "MoodRadio")}
    # buf knows the request message from reflection alone: it refuses a field the message
    # does not have before sending anything (exit code below 8: a usage error, no RPC).
    unknown = buf_curl("-d", '{"colour": "red"}', f"{base}/playlist.v1.Playlists/GetTrack")
    assert 0 < unknown.returncode < 8 and 'unknown field "colour"' in unknown.stderr
    health = buf_curl(f"{base}/grpc.health.v1.Health/Check")
    assert json.loads(health.stdout) == {"status": "SERVING"}


def test_buf_curl_unary_with_the_api_key(rpc_server, alice):
    base = f"http://127.0.0.1:{rpc_server.port}/playlist.v1.Playlists"
    key = ["-H", f"x-api-key: {alice['api_key']}"]
    page = buf_curl(*key, "-d", '{"mood": "calm", "era": "Baroque", "page_size": 2}', f"{base}/SearchTracks")
    assert page.returncode == 0, page.stderr
    items = json.loads(page.stdout)["items"]  # proto3 JSON: lowerCamelCase names
    assert len(items) == 2 and all(t["era"] == "Baroque" and "durationSeconds" in t for t in items)
    created = buf_curl(*key, "-d", json.dumps({"name": "buf", "trackIds": [items[0]["id"]]}), f"{base}/CreatePlaylist")
    assert json.loads(created.stdout)["version"] == 1
    # A failed RPC: buf's exit code is the gRPC code shifted left by three (NOT_FOUND = 5).
    missing = buf_curl(*key, "-d", '{"id": "no-such-track"}', f"{base}/GetTrack")
    assert missing.returncode == 5 << 3 and json.loads(missing.stderr)["code"] == "not_found"  # the status goes to stderr
    anonymous = buf_curl(f"{base}/WhoAmI")
    assert anonymous.returncode == 16 << 3  # UNAUTHENTICATED


def test_buf_curl_over_mutual_tls_unary_and_stream(rpc_server, tls):
    base = f"https://127.0.0.1:{rpc_server.tls_port}"
    listed = buf_curl("--list-services", base, tls=tls)
    assert "playlist.v1.Playlists" in listed.stdout.split(), listed.stderr
    me = buf_curl(f"{base}/playlist.v1.Playlists/WhoAmI", tls=tls)
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout) == {"name": "alice", "authMethod": "mtls", "scopes": [
        "playlists:read", "playlists:write"]}
    created = buf_curl("-d", '{"name": "buf mtls", "trackIds": ["bach-bwv1068-air", "bach-bwv1007-prelude"]}',
                       f"{base}/playlist.v1.Playlists/CreatePlaylist", tls=tls)
    playlist_id = json.loads(created.stdout)["id"]
    played = buf_curl("-d", json.dumps({"id": playlist_id, "msPerSecond": 1}),
                      f"{base}/playlist.v1.Playlists/PlayPlaylist", tls=tls)
    assert played.returncode == 0, played.stderr
    messages = [json.loads(m) for m in re.split(r"(?<=\})\n(?=\{)", played.stdout.strip())]
    assert [(m["position"], m["track"]["id"]) for m in messages] == [(1, "bach-bwv1068-air"),
                                                                      (2, "bach-bwv1007-prelude")]
    # Without a client certificate the handshake itself fails: no RPC, a usage-level error.
    bare = buf_curl("--cacert", tls["ca"], f"{base}/playlist.v1.Playlists/WhoAmI")
    assert bare.returncode != 0 and "alice" not in bare.stdout


# --- REST: schemathesis over real HTTP, from the served document -----------------------------------

@pytest.fixture(scope="module")
def schemathesis_server(tmp_path_factory):
    # schemathesis sends bad credentials on purpose again and again, to see each refused
    # with a 401; the lockout would rightly turn them into 429s (it has tests of its own).
    # Its own home: the failures are still counted in the database, and would lock this
    # address out of the module's other servers.
    home = tmp_path_factory.mktemp("schemathesis-home")
    env = {**TEST_ENV, "PLAYLISTS_HOME": str(home), "PLAYLISTS_UNSAFE": "lockout"}
    done = run([sys.executable, "-m", "core.setup"], env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    server = Server("rest", home, env, tls=False)
    yield server, json.loads((home / "credentials.json").read_text())
    server.stop()


@pytest.fixture(scope="module")
def served_schema(schemathesis_server):
    base = f"http://127.0.0.1:{schemathesis_server[0].port}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")  # the document the server serves
    schema.config.update(base_url=base)
    return schema


# The operations are named from the contract in the repository; the test then finds each one
# in the SERVED document (and fails if the server does not serve it). schemathesis's own
# pytest loader for a fixture (`schemathesis.pytest.from_fixture`) breaks under pytest 9
# ('Function' object has no attribute '_nodeid'), so hypothesis drives the strategies here.
OPERATIONS = [op["operationId"] for item in json.loads((ROOT / "rest" / "openapi.json").read_text())["paths"].values()
              for op in item.values() if op["operationId"] != "issue_token"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_schemathesis_against_the_running_server(schemathesis_server, served_schema, operation_id, mode):
    operation = served_schema.find_operation_by_id(operation_id)
    headers = {"X-API-Key": schemathesis_server[1]["users"]["alice"]["api_key"]}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def every_answer_matches_the_document(case):
        # Schema-valid requests may still be refused by rules no schema states (a track id
        # that does not exist, a page token never issued): positive_data_acceptance is off.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance], timeout=20)

    every_answer_matches_the_document()


# --- REST and SOAP: the README's curl lines, verbatim -------------------------------------------

def readme_blocks(section: str) -> list[str]:
    """The ```sh blocks of the section of docs/reference.md (the README's tour, moved there)
    whose heading starts with `section`."""
    text = (ROOT / "docs" / "reference.md").read_text()
    part = re.search(rf"^## {re.escape(section)}.*?(?=^## )", text, re.S | re.M)
    assert part, f"docs/reference.md has no section '## {section}'"
    return re.findall(r"^```sh\n(.*?)^```", part.group(0), re.S | re.M)


# The two lines the README itself says show the errors ("The last two show the errors").
README_ERRORS = {'-d \'{"name": 42}\'': 400, "curl -i http://127.0.0.1:8080/v1/me\n": 401}


@pytest.fixture
def readme_shell(home, rest_server, soap_server, tmp_path):
    """Run a README block as a reader would, from a folder whose .demo is the test home.

    What is rewritten, and only that: the addresses 127.0.0.1:8080, :8443 and :8081 become
    the test servers' ports. A .curlrc (through CURL_HOME) makes every curl also print its
    HTTP status on stderr, so the lines themselves stay verbatim."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed: apt-get install -y curl")
    workdir = tmp_path / "repo"
    workdir.mkdir()
    (workdir / ".demo").symlink_to(home)
    (tmp_path / ".curlrc").write_text('write-out = "%{stderr}CURL-STATUS %{http_code}\\n"\n')
    ports = {"http://127.0.0.1:8080": f"http://127.0.0.1:{rest_server.port}",
             "https://127.0.0.1:8443": f"https://127.0.0.1:{rest_server.tls_port}",
             "http://127.0.0.1:8081": f"http://127.0.0.1:{soap_server.port}"}

    def shell(block: str):
        script = block
        for old, new in ports.items():
            script = script.replace(old, new)
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=workdir, capture_output=True,
                              text=True, timeout=60, env={**os.environ, "CURL_HOME": str(tmp_path)})
        statuses = [int(s) for s in re.findall(r"^CURL-STATUS (\d+)$", done.stderr, re.M)]
        return done, statuses
    return shell


def expected_statuses(block: str) -> list:
    """One entry per curl the block runs: the README's declared error, or any 2xx."""
    expected = []
    for line in block.splitlines(keepends=True):
        for _ in re.finditer(r"(^|\$\()curl ", line):
            expected.append(next((s for marker, s in README_ERRORS.items() if marker in line), "2xx"))
    return expected


@pytest.mark.parametrize("section", ["REST", "SOAP"])
def test_every_readme_curl_line_works(section, readme_shell):
    blocks = [b for b in readme_blocks(section) if re.search(r"(^|\$\()curl ", b, re.M)]
    assert blocks, f"no curl lines in README's {section} section"
    for block in blocks:
        done, statuses = readme_shell(block)
        assert done.returncode == 0, f"{block}\n---\n{done.stderr}"
        expected = expected_statuses(block)
        assert len(statuses) == len(expected), (block, statuses)
        for got, want in zip(statuses, expected):
            assert (200 <= got < 300) if want == "2xx" else got == want, (block, statuses, expected)
        if section == "SOAP":
            assert "<tns:id>bach-bwv1068-air</tns:id>" in done.stdout and "HTTP/1.1 200 OK" in done.stdout
    if section == "REST":
        assert sorted(README_ERRORS.values()) == [400, 401]
