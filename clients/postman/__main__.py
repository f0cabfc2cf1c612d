"""`python -m clients.postman`: the Postman collection (v2.1), generated from the contracts.

REST requests come from rest/openapi.json, one per operation; SOAP requests are raw
envelopes built from wsdl/playlists.wsdl, one per operation. Every request carries tests
(the status the contract documents, its media type, no Fault) and passes on what the next
one needs (a playlist's id, its ETag or version). Secrets and addresses are variables
({{api_key}}, {{rest_url}} ...), filled from an environment:

    python -m clients.postman                 # writes clients/postman/playlists.postman_collection.json
    python -m clients.postman --environment   # writes $PLAYLISTS_HOME/postman_environment.json (make setup)

Then: Postman > Import both files; or `npx newman run` the collection with `-e` the environment.
gRPC has no collection format: Postman reads the server's reflection instead (New > gRPC).
"""
import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from .. import addresses, credentials
from ..calls import SOAP_ENV, TNS, WSSE

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "rest" / "openapi.json"
WSDL = ROOT / "wsdl" / "playlists.wsdl"
COLLECTION = Path(__file__).resolve().parent / "playlists.postman_collection.json"
ENVIRONMENT = "postman_environment.json"
SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
XS = "{http://www.w3.org/2001/XMLSchema}"

# The order a run goes in: what a request needs was made by one before it; the delete comes last.
REST_FLOW = ("who_am_i", "list_moods", "search_tracks", "get_track", "generate_playlist", "create_playlist",
             "get_playlist", "list_playlists", "update_playlist", "add_track", "remove_track", "echo", "issue_token",
             "delete_playlist")
SOAP_FLOW = ("WhoAmI", "ListMoods", "SearchTracks", "GetTrack", "GeneratePlaylist", "CreatePlaylist", "GetPlaylist",
             "ListPlaylists", "UpdatePlaylist", "AddTrack", "RemoveTrack", "Echo", "DeletePlaylist")
# The SOAP answers that are the one playlist the next requests work on: its id and version are kept.
SOAP_KEEPS = ("CreatePlaylist", "GetPlaylist", "UpdatePlaylist", "AddTrack", "RemoveTrack")

# Operations with these tags are the class's workshop API, not the playlist service: left out.
LEFT_OUT_TAGS = {"workshop"}
# A value for each field a request sends (a field without one is left out, if the contract allows).
SAMPLES = {"name": "From Postman", "mood": "calm", "track_ids": ["{{track_id}}"], "track_id": "{{track_id}}",
           "duration_minutes": 15, "position": 1, "grant_type": "client_credentials", "page_size": 5,
           "playlist_id": "{{playlist_id}}", "version": "{{version}}", "message": "hello from Postman"}
# The collection's own variables: what one request leaves for the next.
VARIABLES = {"track_id": "bach-bwv1068-air", "playlist_id": "", "etag": "", "version": "", "token": ""}


def script(*lines: str) -> list[dict]:
    return [{"listen": "test", "script": {"type": "text/javascript", "exec": list(lines)}}]


# --- REST, from the OpenAPI document ------------------------------------------------------------------

def rest_request(path: str, method: str, op: dict) -> dict:
    status = next(code for code in op["responses"] if code.startswith("2"))
    media = next(iter(op["responses"][status].get("content", {})), "")
    query = [{"key": p["name"], "value": str(SAMPLES[p["name"]])} for p in op.get("parameters", [])
             if p["in"] == "query" and p["name"] in SAMPLES]
    headers = [{"key": "If-Match", "value": "{{etag}}"} for p in op.get("parameters", []) if p["name"] == "If-Match"]
    raw_path = re.sub(r"\{(\w+)\}", lambda m: "1" if m[1] == "position" else "{{%s}}" % m[1], path)
    request = {"method": method.upper(), "header": headers,
               "url": {"raw": "{{rest_url}}" + raw_path + "".join(f"{'&' if i else '?'}{q['key']}={q['value']}"
                                                                  for i, q in enumerate(query)),
                       "host": ["{{rest_url}}"], "path": raw_path.strip("/").split("/"), "query": query}}
    body = op.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        schema = body["application/json"]["schema"]
        fields = resolve(schema).get("properties", {"message": {}})
        request["body"] = {"mode": "raw", "raw": json.dumps({k: SAMPLES[k] for k in fields if k in SAMPLES}, indent=2),
                           "options": {"raw": {"language": "json"}}}
        request["header"].append({"key": "Content-Type", "value": "application/json"})
    elif "application/x-www-form-urlencoded" in body:    # the token: the client's id and secret, as Basic
        request["body"] = {"mode": "urlencoded",
                           "urlencoded": [{"key": "grant_type", "value": SAMPLES["grant_type"]}]}
        request["auth"] = {"type": "basic", "basic": [{"key": "username", "value": "{{client_id}}"},
                                                      {"key": "password", "value": "{{client_secret}}"}]}
    tests = [f"pm.test('{op['operationId']} answers {status}', () => pm.response.to.have.status({status}));"]
    if media:
        tests.append(f"pm.test('as {media}', () => pm.expect(pm.response.headers.get('Content-Type'))"
                     f".to.include('{media}'));")
    if op["operationId"] == "create_playlist":
        tests.append("pm.collectionVariables.set('playlist_id', pm.response.json().id);")
    if op["operationId"] == "issue_token":
        tests.append("pm.collectionVariables.set('token', pm.response.json().access_token);")
    # The ETag is the version a later change must send back in If-Match.
    tests.append("if (pm.response.headers.has('ETag')) pm.collectionVariables.set('etag', "
                 "pm.response.headers.get('ETag'));")
    return {"name": f"{method.upper()} {path} ({op['operationId']})", "request": request, "event": script(*tests)}


SPEC: dict = {}


def resolve(schema: dict) -> dict:
    if "$ref" in schema:
        return SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def rest_folder() -> dict:
    SPEC.update(json.loads(OPENAPI.read_text()))
    operations = {op["operationId"]: (path, method, op) for path, ops in SPEC["paths"].items()
                  for method, op in ops.items() if isinstance(op, dict) and "operationId" in op
                  and not LEFT_OUT_TAGS & set(op.get("tags", ()))}
    unplaced = set(operations) - set(REST_FLOW)
    if unplaced:
        raise SystemExit(f"clients.postman: place {sorted(unplaced)} in REST_FLOW")
    return {"name": "REST", "description": f"From {OPENAPI.relative_to(ROOT)}: one request per operationId.",
            "auth": {"type": "apikey", "apikey": [{"key": "key", "value": "X-API-Key"},
                                                  {"key": "value", "value": "{{api_key}}"},
                                                  {"key": "in", "value": "header"}]},
            "item": [rest_request(*operations[name]) for name in REST_FLOW]}


# --- SOAP, from the WSDL ---------------------------------------------------------------------------------

def soap_fields(types: dict, operation: str) -> str:
    """The operation's body elements, in the schema's order: the required ones, and the others we have a value for."""
    parts = []
    for element in types[operation].iterfind(f"{XS}sequence/{XS}element"):
        name = element.get("name")
        if name not in SAMPLES:
            if element.get("minOccurs") == "0":
                continue
            raise SystemExit(f"clients.postman: no sample value for {operation}'s {name}")
        value = SAMPLES[name]
        if isinstance(value, list):
            value = "".join(f"<p:track_id>{v}</p:track_id>" for v in value)
        parts.append(f"<p:{name}>{value}</p:{name}>")
    return "".join(parts)


def envelope(operation: str, fields: str) -> str:
    # WhoAmI shows WS-Security's UsernameToken; the others carry the API key's header element.
    if operation == "WhoAmI":
        header = (f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>{{{{username}}}}'
                  '</wsse:Username><wsse:Password>{{password}}</wsse:Password></wsse:UsernameToken></wsse:Security>')
    else:
        header = "<p:ApiKey>{{api_key}}</p:ApiKey>"
    return (f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:p="{TNS}">\n'
            f"  <soap:Header>{header}</soap:Header>\n"
            f"  <soap:Body><p:{operation}>{fields}</p:{operation}></soap:Body>\n"
            "</soap:Envelope>")


def soap_request(types: dict, operation: str) -> dict:
    tests = [f"pm.test('{operation} answers 200', () => pm.response.to.have.status(200));",
             "pm.test('as text/xml', () => pm.expect(pm.response.headers.get('Content-Type')).to.include('text/xml'));",
             f"pm.test('a {operation}Response, no Fault', () => {{ pm.expect(pm.response.text()).to.not.include("
             f"'Fault>'); pm.expect(pm.response.text()).to.include('{operation}Response'); }});"]
    if operation in SOAP_KEEPS:
        tests += ["const id = pm.response.text().match(/<(?:\\w+:)?id>(pl_[^<]+)</);",
                  "const version = pm.response.text().match(/<(?:\\w+:)?version>(\\d+)</);",
                  "pm.collectionVariables.set('playlist_id', id[1]);",
                  "pm.collectionVariables.set('version', version[1]);"]
    body = {"mode": "raw", "raw": envelope(operation, soap_fields(types, operation)),
            "options": {"raw": {"language": "xml"}}}
    return {"name": f"POST /soap {operation}",
            "request": {"method": "POST", "auth": {"type": "noauth"},
                        "header": [{"key": "Content-Type", "value": "text/xml; charset=utf-8"},
                                   {"key": "SOAPAction", "value": f'"{operation}"'}],
                        "body": body, "url": {"raw": "{{soap_url}}", "host": ["{{soap_url}}"]}},
            "event": script(*tests)}


def soap_folder() -> dict:
    wsdl = ET.parse(WSDL).getroot()
    types = {t.get("name"): t for t in wsdl.iter(f"{XS}complexType")}
    port = wsdl.find("{http://schemas.xmlsoap.org/wsdl/}portType")
    operations = {op.get("name") for op in port}
    unplaced = operations - set(SOAP_FLOW)
    if unplaced:
        raise SystemExit(f"clients.postman: place {sorted(unplaced)} in SOAP_FLOW")
    return {"name": "SOAP", "description": f"From {WSDL.relative_to(ROOT)}: one raw envelope per operation, "
                                           "posted to the one endpoint.",
            "item": [soap_request(types, name) for name in SOAP_FLOW]}


def collection() -> dict:
    return {"info": {"name": "Tri-Protocol Playlists", "schema": SCHEMA,
                     "description": "Generated by `python -m clients.postman` from rest/openapi.json and "
                                    "wsdl/playlists.wsdl; do not edit. gRPC: New > gRPC, server reflection."},
            "item": [rest_folder(), soap_folder()],
            "variable": [{"key": key, "value": value} for key, value in VARIABLES.items()]}


# --- the environment: addresses and secrets, never committed ---------------------------------------------

def environment(user: str = "alice") -> dict:
    secrets = credentials.load(user)
    values = {"rest_url": addresses.rest_url(), "soap_url": addresses.soap_url(),
              "grpc_address": addresses.grpc_address(), "api_key": secrets["api_key"], "username": user,
              "password": secrets["password"], "client_id": secrets["client_id"],
              "client_secret": secrets["client_secret"]}
    hidden = {"api_key", "password", "client_secret"}
    return {"name": f"Tri-Protocol Playlists ({user}, {addresses.host()})", "_postman_variable_scope": "environment",
            "values": [{"key": key, "value": value, "type": "secret" if key in hidden else "default", "enabled": True}
                       for key, value in values.items()]}


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=".venv/bin/python -m clients.postman",
                                description=__doc__.splitlines()[0].split(": ")[1])
    p.add_argument("--environment", action="store_true",
                   help=f"write $PLAYLISTS_HOME/{ENVIRONMENT} (addresses and alice's secrets) instead")
    p.add_argument("--out", type=Path, help="where to write (default: the collection beside this module, or the "
                                            "environment in $PLAYLISTS_HOME)")
    args = p.parse_args(argv)
    path = args.out or (credentials.home() / ENVIRONMENT if args.environment else COLLECTION)
    write(path, environment() if args.environment else collection())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
