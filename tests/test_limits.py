"""Every limit of core/limits.py, against every place that states it: the OpenAPI document, the
WSDL (served and in the repository), the proto's comments, the core's own checks, and the wire,
where the same over-long value must get the same refusal from all three protocols."""
import json
import re
from pathlib import Path

import pytest
import requests
from lxml import etree

from clients import calls
from core import limits
from core.auth import ApiKey
from core.errors import InvalidArgument, TooLarge

from .conftest import endpoints

ROOT = Path(__file__).resolve().parent.parent
XSD = "{http://www.w3.org/2001/XMLSchema}"
CALM_TRACK = "bach-bwv1068-air"

# Each field of the contracts that has a cap, and the limit that caps it. The same names in
# REST (query, path and body), SOAP (elements) and gRPC (message fields).
FIELDS = {
    "playlist_id": "MAX_ID_LENGTH", "track_id": "MAX_ID_LENGTH", "id": "MAX_ID_LENGTH",
    "track_ids": "MAX_TRACKS_PER_PLAYLIST", "position": "MAX_TRACKS_PER_PLAYLIST",
    "name": "MAX_NAME_LENGTH", "mood": "MAX_MOOD_LENGTH",
    "composer": "MAX_QUERY_LENGTH", "era": "MAX_QUERY_LENGTH", "text": "MAX_QUERY_LENGTH",
    "page_size": "MAX_PAGE_SIZE", "page_token": "MAX_PAGE_TOKEN_LENGTH",
    "duration_minutes": "MAX_GENERATE_MINUTES",
}
# The limits that are no facet of a field, and where each is checked instead.
ELSEWHERE = {
    "MAX_BODY_BYTES": "over the wire, below",
    "DEFAULT_PAGE_SIZE": "OpenAPI's default, the proto's comment and the core, below",
    "MAX_STREAM_MESSAGES": "gRPC's MoodRadio only: the proto's comment below, tests/test_rpc_streams.py",
    "STREAMS_PER_USER": "gRPC's streams only: tests/test_rpc_streams.py",
    "STREAM_IDLE_SECONDS": "gRPC's MoodRadio only: tests/test_rpc_streams.py",
    "LOCKOUT_AFTER_FAILURES": "no contract states it: tests/test_security.py",
    "SOURCE_LOCKOUT_AFTER_FAILURES": "no contract states it: tests/test_security.py",
    "LOCKOUT_MAX_SECONDS": "no contract states it: tests/test_core.py",
    "FAILURES_FORGOTTEN_AFTER": "no contract states it: tests/test_core.py",
}
LIMITS = {name: value for name, value in vars(limits).items() if name.isupper() and isinstance(value, int)}
UPPER_FACETS = ("maxLength", "maximum", "maxItems")


def test_every_limit_is_placed():
    """A limit added to core/limits.py fails here until this file says where it is stated."""
    assert set(LIMITS) == set(FIELDS.values()) | set(ELSEWHERE)


# --- the contracts ----------------------------------------------------------------------------

def openapi_facets(document: dict):
    """(where, field, facet, value) for every upper bound in the document."""
    def walk(node, where, field):
        if isinstance(node, dict):
            for facet in UPPER_FACETS:
                if facet in node:
                    yield where, field, facet, node[facet]
            for key, value in node.items():
                if key == "properties":
                    for name, schema in value.items():
                        yield from walk(schema, f"{where}.{name}", name)
                elif key == "items":   # a list's items: track_ids holds track_id's
                    yield from walk(value, f"{where}[]", field.removesuffix("s"))
                elif key == "parameters":
                    for parameter in value:
                        yield from walk(parameter["schema"], f"{where} {parameter['name']}", parameter["name"])
                elif key != "schema" or "parameters" not in node:
                    yield from walk(value, f"{where}/{key}", field)
    return list(walk(document, "", ""))


def test_openapi_states_the_limits():
    facets = openapi_facets(json.loads((ROOT / "rest/openapi.json").read_text()))
    wrong = [(where, facet, value) for where, field, facet, value in facets if LIMITS[FIELDS[field]] != value]
    assert not wrong
    assert {FIELDS[field] for _, field, _, _ in facets} == set(FIELDS.values())
    document = json.loads((ROOT / "rest/openapi.json").read_text())
    page_sizes = [p["schema"] for item in document["paths"].values() for op in item.values()
                  for p in op.get("parameters", []) if p["name"] == "page_size"]
    assert page_sizes and all(s["default"] == limits.DEFAULT_PAGE_SIZE for s in page_sizes)


def wsdl_facets(wsdl: bytes):
    """(element, facet, value) for every element whose type has an upper bound: a simple type's
    maxLength or maxInclusive, or a list type's maxOccurs."""
    schema = etree.fromstring(wsdl).find(f".//{XSD}schema")
    bounds = {simple.get("name"): [(etree.QName(f).localname, int(f.get("value")))
                                   for f in simple.iter(f"{XSD}maxLength", f"{XSD}maxInclusive")]
              for simple in schema.iter(f"{XSD}simpleType")}
    for complex_type in schema.iter(f"{XSD}complexType"):
        bounds[complex_type.get("name")] = [("maxOccurs", int(e.get("maxOccurs"))) for e in complex_type.iter(
            f"{XSD}element") if e.get("maxOccurs", "unbounded").isdigit() and e.get("maxOccurs") != "1"]
    return [(element.get("name"), facet, value) for element in schema.iterfind(f".//{XSD}sequence/{XSD}element")
            for facet, value in bounds.get((element.get("type") or "").partition(":")[2], ())]


@pytest.fixture(scope="module")
def served_wsdl(soap_server):
    return requests.get(f"http://127.0.0.1:{soap_server.port}/soap?wsdl", timeout=10).content


@pytest.mark.parametrize("where", ["served", "wsdl/playlists.wsdl"])
def test_the_wsdl_states_the_limits(where, served_wsdl):
    wsdl = served_wsdl if where == "served" else (ROOT / "wsdl/playlists.wsdl").read_bytes()
    facets = wsdl_facets(wsdl)
    wrong = [(name, facet, value) for name, facet, value in facets if LIMITS[FIELDS[name]] != value]
    assert not wrong
    assert {FIELDS[name] for name, _, _ in facets} == set(FIELDS.values())


# The comment of each capped field of the proto (proto3 has no facets: its comments are the contract).
PROTO = {
    ("SearchTracksRequest", "mood"): "at most {MAX_MOOD_LENGTH} characters",
    ("SearchTracksRequest", "composer"): "at most {MAX_QUERY_LENGTH} characters",
    ("SearchTracksRequest", "era"): "at most {MAX_QUERY_LENGTH} characters",
    ("SearchTracksRequest", "text"): "at most {MAX_QUERY_LENGTH} characters",
    ("SearchTracksRequest", "page_size"): "1 to {MAX_PAGE_SIZE}; 0 means {DEFAULT_PAGE_SIZE}",
    ("SearchTracksRequest", "page_token"): "at most {MAX_PAGE_TOKEN_LENGTH} characters",
    ("ListPlaylistsRequest", "page_size"): "1 to {MAX_PAGE_SIZE}; 0 means {DEFAULT_PAGE_SIZE}",
    ("ListPlaylistsRequest", "page_token"): "at most {MAX_PAGE_TOKEN_LENGTH} characters",
    ("CreatePlaylistRequest", "name"): "1 to {MAX_NAME_LENGTH} characters",
    ("CreatePlaylistRequest", "track_ids"): "at most {MAX_TRACKS_PER_PLAYLIST}",
    ("GeneratePlaylistRequest", "duration_minutes"): "1 to {MAX_GENERATE_MINUTES} minutes",
}


def test_the_proto_states_the_limits():
    proto = (ROOT / "protos/playlist/v1/playlist.proto").read_text()
    for (message, field), phrase in PROTO.items():
        body = re.search(rf"^message {message} {{(.*?)^}}", proto, re.S | re.M).group(1)
        comment = re.search(rf"^.* {field} = \d+;\s*//(.*)$", body, re.M).group(1)
        assert phrase.format(**LIMITS) in comment, (message, field)
    assert f"an id is at most {limits.MAX_ID_LENGTH} characters" in proto
    assert f"at most {limits.MAX_STREAM_MESSAGES} of them" in proto


# --- the core ---------------------------------------------------------------------------------

def over(name: str) -> str:
    return "x" * (LIMITS[name] + 1)


# field -> a core call with that field one over its limit
CORE_CALLS = {
    "track_id": lambda s, who: s.get_track(who, over("MAX_ID_LENGTH")),
    "playlist_id": lambda s, who: s.get_playlist(who, over("MAX_ID_LENGTH")),
    "track_ids": lambda s, who: s.create_playlist(who, "Mix", "", [CALM_TRACK] * (limits.MAX_TRACKS_PER_PLAYLIST + 1)),
    "track_ids[0]": lambda s, who: s.create_playlist(who, "Mix", "", [over("MAX_ID_LENGTH")]),
    "name": lambda s, who: s.create_playlist(who, over("MAX_NAME_LENGTH")),
    "mood": lambda s, who: s.search_tracks(who, mood=over("MAX_MOOD_LENGTH")),
    "composer": lambda s, who: s.search_tracks(who, composer=over("MAX_QUERY_LENGTH")),
    "era": lambda s, who: s.search_tracks(who, era=over("MAX_QUERY_LENGTH")),
    "text": lambda s, who: s.search_tracks(who, text=over("MAX_QUERY_LENGTH")),
    "page_size": lambda s, who: s.search_tracks(who, page_size=limits.MAX_PAGE_SIZE + 1),
    "page_token": lambda s, who: s.search_tracks(who, page_token=over("MAX_PAGE_TOKEN_LENGTH")),
    "duration_minutes": lambda s, who: s.generate_playlist(who, "calm", limits.MAX_GENERATE_MINUTES + 1),
    "position": lambda s, who: s.add_track(who, s.create_playlist(who, "Mix").id, CALM_TRACK,
                                           limits.MAX_TRACKS_PER_PLAYLIST + 1),
}


@pytest.fixture(scope="module")
def alice(service, credentials):
    return service.authenticate(ApiKey(credentials["users"]["alice"]["api_key"]), "127.0.0.1")


@pytest.mark.parametrize("field", CORE_CALLS)
def test_the_core_refuses_one_over_each_limit(service, alice, field):
    with pytest.raises(InvalidArgument) as refused:
        CORE_CALLS[field](service, alice)
    assert [v.field for v in refused.value.violations] == [field]


def test_the_core_caps_what_it_answers_and_receives(service, alice):
    assert len(service.search_tracks(alice).items) == limits.DEFAULT_PAGE_SIZE
    assert len(service.search_tracks(alice, page_size=limits.MAX_PAGE_SIZE).items) == limits.MAX_PAGE_SIZE
    with pytest.raises(TooLarge):
        service.echo(alice, "test", "echo", [], "x" * (limits.MAX_BODY_BYTES + 1))


# --- the wire: the same over-long value, the same refusal on all three ------------------------

LONG_ID = over("MAX_ID_LENGTH")
# field -> the operation and the arguments that put that field one over its limit
WIRE = {
    "track_id": ("get_track", {"track_id": LONG_ID}),
    "playlist_id": ("get_playlist", {"playlist_id": LONG_ID}),
    "name": ("create_playlist", {"name": over("MAX_NAME_LENGTH")}),
    "track_ids": ("create_playlist", {"name": "Mix", "track_ids": [CALM_TRACK] * (limits.MAX_TRACKS_PER_PLAYLIST + 1)}),
    "mood": ("search_tracks", {"mood": over("MAX_MOOD_LENGTH")}),
    "composer": ("search_tracks", {"composer": over("MAX_QUERY_LENGTH")}),
    "page_size": ("search_tracks", {"page_size": limits.MAX_PAGE_SIZE + 1}),
    "page_token": ("list_playlists", {"page_token": over("MAX_PAGE_TOKEN_LENGTH")}),
    "duration_minutes": ("generate_playlist", {"mood": "calm", "duration_minutes": limits.MAX_GENERATE_MINUTES + 1}),
}


@pytest.fixture(scope="module")
def wire(rest_server, soap_server, rpc_server, credentials):
    servers = endpoints({"rest": rest_server, "soap": soap_server, "grpc": rpc_server})
    key = calls.key(credentials["users"]["alice"]["api_key"])
    yield lambda operation, **arguments: {protocol: servers.call(protocol, operation, key, **arguments)
                                          for protocol in calls.PROTOCOLS}
    servers.close()


@pytest.mark.parametrize("field", WIRE)
def test_one_over_a_limit_is_the_same_invalid_argument_on_all_three(wire, field):
    operation, arguments = WIRE[field]
    answers = wire(operation, **arguments)
    # SOAP's schema refuses it before the core sees it, with a fault that names the element
    # (for a list, the one track_id too many); REST and gRPC name the field as the core does.
    assert {p: a.status for p, a in answers.items()} == {
        "rest": "400", "soap": "Client.SchemaValidationError", "grpc": "INVALID_ARGUMENT"}
    assert answers["rest"].detail.startswith(f"{field}: ") and answers["grpc"].detail.startswith(f"{field}: ")
    assert field.removesuffix("s") in answers["soap"].detail


def test_an_id_at_its_limit_is_only_not_found_on_all_three(wire):
    answers = wire("get_playlist", playlist_id="x" * limits.MAX_ID_LENGTH)
    assert {a.kind for a in answers.values()} == {"not_found"}


def test_one_byte_over_the_body_limit_is_too_large_on_all_three(wire):
    answers = wire("echo", message="x" * (limits.MAX_BODY_BYTES + 1))
    assert {p: a.status for p, a in answers.items()} == {
        "rest": "413", "soap": "Client.TooLarge", "grpc": "RESOURCE_EXHAUSTED"}
