"""The workshop's pages over HTTP: the landing page, the three docs pages, /compare and the live stream."""
import html
import itertools
import json
import os
import signal
import time

import pytest
import requests
from google.protobuf import descriptor_pb2
from grpc_tools import protoc
from lxml import etree

from core import PlaylistService, limits
from core.config import load_settings
from screen import pages
from screen import create_app
from serve.launch import ROOT, Server

from .conftest import TEST_ENV

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
WSDL_NS = {"wsdl": "http://schemas.xmlsoap.org/wsdl/"}


@pytest.fixture(scope="module")
def client(service):
    return create_app(service).test_client()


def test_the_landing_page_is_html_for_a_browser(client):
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Accept" in response.headers["Vary"]
    page = response.get_data(as_text=True)
    for link in ("/openapi.json", "http://127.0.0.1:8081/soap?wsdl", "/protos/playlist/v1/playlist.proto",
                 "/docs/rest", "/docs/soap", "/docs/grpc", "/live", "/compare"):
        assert f'href="{link}"' in page


@pytest.mark.parametrize("accept", ["*/*", "application/json", None])
def test_the_landing_page_is_a_json_index_for_programs(client, accept):
    response = client.get("/", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "Accept" in response.headers["Vary"]
    links = response.get_json()["links"]
    assert links["rest"]["contract"] == "/openapi.json"
    assert links["soap"] == {"endpoint": "http://127.0.0.1:8081/soap", "contract": "http://127.0.0.1:8081/soap?wsdl",
                             "docs": "/docs/soap"}
    assert links["grpc"]["endpoint"] == "127.0.0.1:50051"
    assert links["live"] == "/live" and links["compare"] == "/compare"


def test_every_page_names_the_addresses_the_port_settings_give(client, monkeypatch):
    for name, port in {"REST": 9080, "REST_TLS": 9443, "SOAP": 9081, "GRPC": 9051}.items():
        monkeypatch.setenv(f"PLAYLISTS_{name}_PORT", str(port))
    links = client.get("/").get_json()["links"]
    assert links["soap"]["contract"] == "http://127.0.0.1:9081/soap?wsdl"
    assert links["grpc"]["endpoint"] == "127.0.0.1:9051"
    docs = client.get("/docs/rest")
    servers = json.loads(etree.HTML(docs.data).xpath("//div[@id='swagger-ui']/@data-servers")[0])
    # The page's own server first: "Try it out" then calls where the page came from.
    assert [s["url"] for s in servers] == ["http://localhost", "http://127.0.0.1:9080", "https://127.0.0.1:9443"]
    assert "connect-src 'self' http://localhost http://127.0.0.1:9080 https://127.0.0.1:9443" in \
        docs.headers["Content-Security-Policy"]
    if pages.WSDL.exists():
        page = client.get("/docs/soap").get_data(as_text=True)
        assert "http://127.0.0.1:9081/soap" in page and ":8081" not in page
    if pages.DESCRIPTOR_SET.exists():
        assert "127.0.0.1:9051" in client.get("/docs/grpc").get_data(as_text=True)
    monkeypatch.setenv("PLAYLISTS_SOAP_URL", "https://playlists.example/soap")
    assert client.get("/").get_json()["links"]["soap"]["endpoint"] == "https://playlists.example/soap"


@pytest.mark.parametrize("path", ["/", "/docs/rest", "/docs/soap", "/docs/grpc", "/compare", "/live"])
def test_pages_are_public_and_forbid_requests_to_other_origins(client, path):
    response = client.get(path, headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code in (200, 404)  # 404: a contract that `make` has not generated yet
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert client.get("/v1/me").status_code == 401


def test_rest_docs_use_the_packaged_swagger_ui_and_list_the_four_schemes(client):
    page = client.get("/docs/rest").get_data(as_text=True)
    tree = etree.HTML(page)
    sources = tree.xpath("//script/@src | //link/@href")
    assert sources and all(source.startswith("/") for source in sources)
    for scheme in ("apiKey", "basic", "bearer", "mutualTLS"):
        assert f'id="scheme-{scheme}"' in page
    bundle = client.get("/docs/rest/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "javascript" in bundle.mimetype and b"SwaggerUIBundle" in bundle.data


def test_the_openapi_document_groups_operations_by_tag_with_examples_from_the_catalog(client):
    document = client.get("/openapi.json").get_json()
    assert [tag["name"] for tag in document["tags"]] == ["catalog", "playlists", "account", "token"]
    operations = [op for item in document["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert all(len(op["tags"]) == 1 and op["tags"][0] in [tag["name"] for tag in document["tags"]]
               for op in operations)
    track = document["paths"]["/v1/tracks/{track_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    catalog = {t["id"]: t for t in json.loads((ROOT / "core" / "catalog.json").read_text())["tracks"]}
    assert track["example"] == catalog[track["example"]["id"]]   # a real track, as served
    create = document["paths"]["/v1/playlists"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert set(create["track_ids"]) <= set(catalog)


def test_swagger_ui_files_cannot_reach_outside_their_folder(client):
    assert client.get("/docs/rest/swagger-ui/../../pages.py").status_code == 404


@pytest.mark.skipif(not pages.WSDL.exists(), reason="wsdl/playlists.wsdl is not written yet (make wsdl)")
def test_soap_docs_show_every_operation_header_and_type_of_the_wsdl(client):
    page = client.get("/docs/soap").get_data(as_text=True)
    wsdl = etree.parse(pages.WSDL)
    operations = wsdl.xpath("//wsdl:portType/wsdl:operation/@name", namespaces=WSDL_NS)
    assert len(operations) >= 13
    for operation in operations:
        assert f'id="op-{operation}"' in page
    for header in ("ApiKey", "AccessToken", "wsse"):
        assert f'id="header-{header}"' in page
    for complex_type in ("Track", "Playlist", "Mood"):
        assert f'id="type-{complex_type}"' in page
    assert "UsernameToken" in page and "at most 100 characters" in page
    raw = client.get("/wsdl/playlists.wsdl")
    assert raw.mimetype == "text/xml" and raw.data == pages.WSDL.read_bytes()


def test_soap_docs_say_how_to_make_a_missing_wsdl(client, monkeypatch, tmp_path):
    monkeypatch.setattr(pages, "WSDL", tmp_path / "wsdl" / "playlists.wsdl")
    monkeypatch.setattr(pages, "ROOT", tmp_path)
    response = client.get("/docs/soap")
    assert response.status_code == 404 and "make wsdl" in response.get_data(as_text=True)


def test_grpc_docs_show_every_rpc_with_its_kind_and_every_comment(client):
    page = html.unescape(client.get("/docs/grpc").get_data(as_text=True))
    files = descriptor_pb2.FileDescriptorSet.FromString(pages.DESCRIPTOR_SET.read_bytes()).file
    ours = next(f for f in files if f.package == "playlist.v1")
    kinds = {(m.client_streaming, m.server_streaming) for s in ours.service for m in s.method}
    assert {(False, False), (False, True), (True, True)} <= kinds
    for service in ours.service:
        for method in service.method:
            kind = pages.RPC_KINDS[method.client_streaming, method.server_streaming]
            assert f'id="{ours.package}.{service.name}.{method.name}" data-kind="{kind}"' in page
            assert f'<code class="path">/{ours.package}.{service.name}/{method.name}</code>' in page
            assert f'href="#{ours.package}.{service.name}.{method.name}"' in page   # in the contents
    for message in ours.message_type:
        assert f'id="{ours.package}.{message.name}"' in page
    comments = [" ".join(location.trailing_comments.split()) for location in ours.source_code_info.location
                if location.trailing_comments.strip()]
    assert comments and all(comment in page for comment in comments)
    assert all(f'id="kind-{kind.replace(" ", "-")}"' in page for kind in pages.RPC_KINDS.values())


def test_every_comment_of_the_proto_reaches_the_descriptor_set():
    """protoc keeps a comment only where it attaches to something: a trailing comment's second
    line before a closing brace, say, is dropped without a word."""
    files = descriptor_pb2.FileDescriptorSet.FromString(pages.DESCRIPTOR_SET.read_bytes()).file
    kept = " ".join(" ".join([location.leading_comments, location.trailing_comments,
                              *location.leading_detached_comments])
                    for file in files for location in file.source_code_info.location)
    kept = " ".join(kept.split())
    written = [" ".join(line.split("//", 1)[1].split()) for line in pages.PROTO.read_text().splitlines()
               if "//" in line]
    assert [comment for comment in written if comment not in kept] == []


def test_grpc_docs_read_enums_maps_and_nested_messages(tmp_path):
    (tmp_path / "demo.proto").write_text("""syntax = "proto3";
package demo.v1;
// A colour.
enum Colour {
  COLOUR_UNSPECIFIED = 0;  // not set
  RED = 1;
}
message Box {
  // What a box holds.
  message Item { string name = 1; }
  map<string, int32> counts = 1;  // how many of each
  repeated Item items = 2;
  optional Colour colour = 3;
}
""")
    assert protoc.main(["protoc", f"-I{tmp_path}", "--include_source_info",
                        f"--descriptor_set_out={tmp_path / 'demo.desc'}", str(tmp_path / "demo.proto")]) == 0
    (file,) = descriptor_pb2.FileDescriptorSet.FromString((tmp_path / "demo.desc").read_bytes()).file
    contract = pages.proto_file(file)
    messages = {message["name"]: message for message in contract["messages"]}
    assert set(messages) == {"demo.v1.Box", "demo.v1.Box.Item"}  # the map's CountsEntry is no message of ours
    assert [(f["label"], f["type"], f["comment"]) for f in messages["demo.v1.Box"]["fields"]] == [
        ("", "map<string, int32>", "how many of each"), ("repeated", "demo.v1.Box.Item", ""),
        ("optional", "demo.v1.Colour", "")]
    assert messages["demo.v1.Box.Item"]["comment"] == "What a box holds."
    (colour,) = contract["enums"]
    assert colour["comment"] == "A colour." and colour["values"][0]["comment"] == "not set"
    assert contract["defined"] == {"demo.v1.Box", "demo.v1.Box.Item", "demo.v1.Colour"}


def test_grpc_docs_say_how_to_make_a_missing_descriptor_set(client, monkeypatch, tmp_path):
    monkeypatch.setattr(pages, "DESCRIPTOR_SET", tmp_path / "gen" / "playlist.desc")
    monkeypatch.setattr(pages, "ROOT", tmp_path)
    response = client.get("/docs/grpc")
    assert response.status_code == 404 and "make setup" in response.get_data(as_text=True)


def test_a_browser_asking_for_favicon_ico_gets_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"


def test_the_proto_is_served_as_text(client):
    response = client.get("/protos/playlist/v1/playlist.proto")
    assert response.mimetype == "text/plain" and b"service Playlists" in response.data


def test_compare_says_how_to_make_one_then_serves_the_latest(client, home):
    report = home / "compare.html"
    report.unlink(missing_ok=True)
    absent = client.get("/compare")
    said = absent.get_data(as_text=True)
    assert absent.status_code == 200 and "make demo" in said
    assert "python -m clients.compare all --rest http://localhost --soap http://127.0.0.1:8081/soap --grpc " in said
    report.write_text("<!doctype html><title>compare</title><p>REST 312 B, SOAP 845 B, gRPC 97 B</p>")
    try:
        present = client.get("/compare")
        assert present.status_code == 200 and b"gRPC 97 B" in present.data
        assert "default-src 'self'" in present.headers["Content-Security-Policy"]
    finally:
        report.unlink()


def test_the_live_view_counts_the_rest_servers_own_switched_off_defences(home):
    settings = load_settings({"PLAYLISTS_HOME": str(home), **TEST_ENV, "PLAYLISTS_UNSAFE": "ratelimit,bola"})
    assert pages.Counts(settings).state()["unsafe"] == {"rest": "bola,ratelimit"}


# --- the journal tail and the counts behind /live/events ------------------------------------

def event(n: int, **fields) -> dict:
    return {"protocol": "rest", "operation": "who_am_i", "user": "alice", "auth_method": "api_key", "outcome": "ok",
            "status": "200", "bytes_in": 0, "bytes_out": 10, "ms": 1.0, "reason": "", "client": "test",
            "source": "127.0.0.1", "at": 1000.0 + n, "stopped_at": 0, "unsafe": "", **fields}


def append(path, *records) -> None:
    with path.open("a") as journal:
        journal.writelines(json.dumps(record) + "\n" for record in records)


def ats(found) -> list:
    return [e["at"] for _, e in found]


def test_the_tail_reads_the_kept_journal_then_each_new_line(tmp_path):
    append(tmp_path / "events.jsonl.1", *(event(n) for n in range(3)))
    append(tmp_path / "events.jsonl", *(event(n) for n in range(3, 5)))
    tail = pages.JournalTail(tmp_path)
    assert ats(tail.read_new()) == [1000.0 + n for n in range(5)]
    assert tail.read_new() == []
    append(tmp_path / "events.jsonl", event(5))
    assert ats(tail.read_new()) == [1005.0]
    tail.close()


def test_a_line_has_the_same_position_in_every_process(tmp_path):
    append(tmp_path / "events.jsonl", *(event(n) for n in range(4)))
    first, second = pages.JournalTail(tmp_path), pages.JournalTail(tmp_path)
    assert [p for p, _ in first.read_new()] == [p for p, _ in second.read_new()]
    first.close()
    second.close()


def test_the_tail_follows_the_journal_through_its_rotation(tmp_path):
    journal = tmp_path / "events.jsonl"
    append(journal, event(0))
    tail = pages.JournalTail(tmp_path)
    assert ats(tail.read_new()) == [1000.0]
    append(journal, event(1))
    journal.rename(tmp_path / "events.jsonl.1")     # what core/events.py does at MAX_FILE_BYTES
    assert ats(tail.read_new()) == [1001.0]
    append(journal, event(2), event(3))
    assert ats(tail.read_new()) == [1002.0, 1003.0]
    tail.close()


def test_the_tail_waits_for_the_end_of_a_line(tmp_path):
    journal = tmp_path / "events.jsonl"
    tail = pages.JournalTail(tmp_path)
    assert tail.read_new() == []
    line = json.dumps(event(0)) + "\n"
    journal.write_text(line[:20])
    assert tail.read_new() == []
    with journal.open("a") as file:
        file.write(line[20:])
    assert ats(tail.read_new()) == [1000.0]
    tail.close()


def test_the_tail_passes_on_only_the_listed_fields(tmp_path):
    solve = {"kind": "solve", "exercise": 2, "title": "A SOAP envelope by hand", "hints": 1, "at": 1002.0,
             "summary": "alice's envelope"}
    append(tmp_path / "events.jsonl", event(1, password="hunter2"), solve)
    tail = pages.JournalTail(tmp_path)
    (_, call), (_, solved) = tail.read_new()
    assert set(call) == set(pages.SHOWN) and call["at"] == 1001.0
    assert solved == {k: solve[k] for k in pages.SOLVE_SHOWN}
    tail.close()


def counted(home, *records):
    """What the live view's counters say of these journal lines."""
    append(home / "events.jsonl", *records)
    counts, tail = pages.Counts(load_settings({"PLAYLISTS_HOME": str(home), **TEST_ENV})), pages.JournalTail(home)
    for position, found in tail.read_new():
        counts.add(position, found)
    tail.close()
    return counts


def test_failed_logins_count_by_the_user_claimed_and_by_address_not_validation_errors(tmp_path):
    now = time.time()
    failed = {"user": "", "outcome": "unauthenticated", "stopped_at": 2, "at": now}
    state = counted(tmp_path, event(0, **failed, claimed="bob"), event(1, **failed, claimed="bob"),
                    event(2, **failed, source="10.0.0.9"),
                    event(3, outcome="invalid_argument", stopped_at=2, at=now)).state()
    assert state["logins"] == [("user bob", 2, limits.LOCKOUT_AFTER_FAILURES),
                               ("from 127.0.0.1", 2, limits.SOURCE_LOCKOUT_AFTER_FAILURES),
                               ("from 10.0.0.9", 1, limits.SOURCE_LOCKOUT_AFTER_FAILURES)]
    assert state["totals"] == {"total": 4, "ok": 0, "refused": 4, "failed": 0, "rest": 4, "soap": 0, "grpc": 0}


def test_the_totals_are_those_of_the_journal_files_kept(tmp_path):
    counts = counted(tmp_path, event(0), event(1, protocol="grpc", outcome="not_found", stopped_at=3))
    assert counts.state()["totals"] == {"total": 2, "ok": 1, "refused": 0, "failed": 1, "rest": 1, "soap": 0,
                                        "grpc": 1}
    (tmp_path / "events.jsonl").rename(tmp_path / "events.jsonl.1")
    assert counts.state()["totals"]["total"] == 2          # rotated, still kept
    (tmp_path / "events.jsonl.1").unlink()                  # what the next rotation does to it
    assert counts.state()["totals"]["total"] == 0


def stream_events(response):
    """(name, data, id) of each event of an open text/event-stream, its data decoded from JSON."""
    name, data, position = "message", None, ""
    for line in response.iter_lines(decode_unicode=True):
        field, _, value = line.partition(": ")
        if field in ("event", "id"):
            name, position = (value, position) if field == "event" else (name, value)
        elif field == "data":
            data = json.loads(value)
        elif not line and data is not None:
            yield name, data, position
            name, data, position = "message", None, ""


def open_stream(base: str, after: str = ""):
    """A live stream, once a slot is free: a closed stream's slot frees at its next write, within a second."""
    deadline = time.monotonic() + 5
    while True:
        stream = requests.get(base + "/live/events", params={"after": after} if after else None, stream=True, timeout=5)
        events = stream_events(stream)
        name, data, _ = next(events)
        if name == "state":
            return stream, events
        stream.close()
        assert name == "full" and time.monotonic() < deadline, name
        time.sleep(0.2)


def calls(events):
    return (data for name, data, _ in events if name == "message")


def test_the_live_stream_sends_the_counters_the_backlog_and_then_each_call_as_it_is_made(rest_server, credentials):
    base = f"http://127.0.0.1:{rest_server.port}"
    alice = {"X-API-Key": credentials["users"]["alice"]["api_key"]}
    requests.get(base + "/v1/me", headers=alice, timeout=5)
    stream, events = open_stream(base)
    with stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Cache-Control"] == "no-store"
        assert any(e["operation"] == "who_am_i" and e["user"] == "alice" for e in calls(events))
        requests.get(base + "/live", timeout=5)  # a page view: not a call to show
        started = time.monotonic()
        requests.get(base + "/v1/moods", headers={"X-API-Key": "not-a-key"}, timeout=5)
        refused = next(calls(events))
        assert time.monotonic() - started < 1
        assert (refused["operation"], refused["status"], refused["stopped_at"]) == ("list_moods", "401", 2)


def test_a_page_that_reconnects_gets_exactly_what_it_missed(rest_server, credentials):
    base = f"http://127.0.0.1:{rest_server.port}"
    alice = {"X-API-Key": credentials["users"]["alice"]["api_key"], "User-Agent": "resuming"}
    requests.get(base + "/v1/me", headers=alice, timeout=5)
    stream, events = open_stream(base)
    with stream:
        last = next(position for name, data, position in events if data.get("client") == "resuming")
    for _ in range(2):
        requests.get(base + "/v1/moods", headers=alice, timeout=5)
    stream, events = open_stream(base, last)
    with stream:
        assert [(e["operation"], e["client"]) for e in itertools.islice(calls(events), 2)] == [
            ("list_moods", "resuming"), ("list_moods", "resuming")]


def test_a_page_past_the_viewer_limit_is_told_at_once_and_the_api_still_answers(home, credentials):
    server = Server("rest", home, TEST_ENV, tls=False)
    base, streams = f"http://127.0.0.1:{server.port}", []
    try:
        refused = None
        for _ in range(pages.VIEWERS * 2 + 1):   # more than every worker process admits
            stream = requests.get(f"{base}/live/events", stream=True, timeout=5)
            streams.append(stream)
            name, data, _ = next(stream_events(stream))
            if name == "full":
                refused = data
                break
        assert refused == {"viewers": pages.VIEWERS}
        me = requests.get(f"{base}/v1/me", headers={"X-API-Key": credentials["users"]["alice"]["api_key"]}, timeout=5)
        assert me.status_code == 200
    finally:
        for stream in streams:
            stream.close()
        server.stop()


def test_a_stopping_server_ends_its_streams_at_once_saying_so(home):
    server = Server("rest", home, TEST_ENV, tls=False)
    stream, events = open_stream(f"http://127.0.0.1:{server.port}")
    with stream:
        started = time.monotonic()
        os.killpg(server.process.pid, signal.SIGTERM)
        assert "stopped" in [name for name, _, _ in events]
        told = time.monotonic() - started
    server.stop()
    stopped = time.monotonic() - started
    # Held by the stream, the server would stop only at gunicorn's graceful timeout (10 s).
    assert told < 2 and stopped < 5, f"told after {told:.1f} s, stopped after {stopped:.1f} s"


def test_soap_docs_give_every_operation_a_sample_envelope_the_schema_accepts(client, soap_server, credentials):
    page = etree.HTML(client.get("/docs/soap").get_data())
    operations = page.xpath('//article[@class="operation"]')
    assert operations and all(op.xpath('.//a[@class="back"][@href="#contents"]') for op in operations)
    for operation in operations:
        name = operation.get("id").removeprefix("op-")
        sample = operation.xpath('.//details[@class="sample"]/pre/text()')[0]
        envelope = sample.replace("<tns:ApiKey>…</tns:ApiKey>",
                                  f"<tns:ApiKey>{credentials['users']['alice']['api_key']}</tns:ApiKey>")
        answer = requests.post(f"http://127.0.0.1:{soap_server.port}/soap", data=envelope.encode(), timeout=5,
                               headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{name}"'})
        fault = etree.fromstring(answer.content).findtext(".//faultcode") or ""
        assert answer.status_code == 200 or fault.endswith(("NotFound", "Conflict")), (name, answer.text)
