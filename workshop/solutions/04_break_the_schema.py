"""Exercise 4, break the schema three ways: one invalid argument, three encodings.

From the repository's root, with `make serve` running:
    .venv/bin/python workshop/solutions/04_break_the_schema.py
"""
import json
import os
import xml.etree.ElementTree as ET

import grpc
import requests
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

HOST = os.environ.get("PLAYLISTS_HOST", "127.0.0.1")   # where `make serve` listens
REST = os.environ.get("REST", f"http://{HOST}:{os.environ.get('PLAYLISTS_REST_PORT', '8080')}")
SOAP = os.environ.get("SOAP", f"http://{HOST}:{os.environ.get('PLAYLISTS_SOAP_PORT', '8081')}/soap")
GRPC = os.environ.get("GRPC", f"{HOST}:{os.environ.get('PLAYLISTS_GRPC_PORT', '50051')}")
CREDENTIALS = os.path.join(os.environ.get("PLAYLISTS_HOME", ".demo"), "credentials.json")
API_KEY = json.load(open(CREDENTIALS))["users"]["alice"]["api_key"]

# REST: the OpenAPI schema says a playlist's name is a string. 400, application/problem+json.
answer = requests.post(f"{REST}/v1/playlists", json={"name": 42}, headers={"X-API-Key": API_KEY})
print("REST:", answer.status_code, answer.headers["Content-Type"], answer.json()["errors"])

# SOAP: the WSDL's XML Schema says page_size is a number from 1 to 50. A Fault, with HTTP 500.
envelope = f"""<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="urn:playlists:v1">
  <soap:Header><p:ApiKey>{API_KEY}</p:ApiKey></soap:Header>
  <soap:Body><p:SearchTracks><p:page_size>many</p:page_size></p:SearchTracks></soap:Body>
</soap:Envelope>"""
answer = requests.post(SOAP, data=envelope.encode(), headers={"Content-Type": "text/xml; charset=utf-8",
                                                               "SOAPAction": '"SearchTracks"'})
fault = ET.fromstring(answer.content).find(".//faultcode")
print("SOAP:", answer.status_code, fault.text if fault is not None else answer.text)

# gRPC: the generated code refuses text in an int32 field before anything is sent ...
try:
    pb.SearchTracksRequest(page_size="many")
except TypeError as error:
    print("gRPC, on our side of the wire:", error)
# ... so break the rule the proto states in a comment: page_size is 1 to 50.
stub = playlist_pb2_grpc.PlaylistsStub(grpc.insecure_channel(GRPC))
try:
    stub.SearchTracks(pb.SearchTracksRequest(page_size=1000), metadata=[("x-api-key", API_KEY)])
except grpc.RpcError as error:
    # The status and its details travel in the trailers, after any message.
    bad_request = error_details_pb2.BadRequest()
    for detail in rpc_status.from_call(error).details:
        detail.Unpack(bad_request)
    print("gRPC:", error.code().name, [(v.field, v.description) for v in bad_request.field_violations])
