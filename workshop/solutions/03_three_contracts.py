"""Exercise 3, one operation in three contracts: over REST, SOAP and gRPC, rename a playlist
and change its tracks, with update_playlist.

From the repository's root, with `make serve` running:
    .venv/bin/python workshop/solutions/03_three_contracts.py
"""
import json
import os
import xml.etree.ElementTree as ET

import grpc
import requests
from google.protobuf import field_mask_pb2
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

HOST = os.environ.get("PLAYLISTS_HOST", "127.0.0.1")   # where `make serve` listens
REST = os.environ.get("REST", f"http://{HOST}:{os.environ.get('PLAYLISTS_REST_PORT', '8080')}")
SOAP = os.environ.get("SOAP", f"http://{HOST}:{os.environ.get('PLAYLISTS_SOAP_PORT', '8081')}/soap")
GRPC = os.environ.get("GRPC", f"{HOST}:{os.environ.get('PLAYLISTS_GRPC_PORT', '50051')}")
CREDENTIALS = os.path.join(os.environ.get("PLAYLISTS_HOME", ".demo"), "credentials.json")
API_KEY = json.load(open(CREDENTIALS))["users"]["alice"]["api_key"]
TNS = "{urn:playlists:v1}"
# A new name and a new list of tracks for each protocol's update.
CHANGES = {"REST": ("Renamed over REST", ["bach-bwv1068-air"]),
           "SOAP": ("Renamed over SOAP", ["bach-bwv1068-air", "satie-gymnopedie-1"]),
           "gRPC": ("Renamed over gRPC", ["satie-gymnopedie-1"])}

# OpenAPI, operationId update_playlist: PATCH the resource, with the ETag it was read at in
# If-Match, so that a newer version is never overwritten (412 if it changed meanwhile).
created = requests.post(f"{REST}/v1/playlists", json={"name": "Three doors"}, headers={"X-API-Key": API_KEY})
created.raise_for_status()
playlist_id = created.json()["id"]
name, track_ids = CHANGES["REST"]
renamed = requests.patch(f"{REST}/v1/playlists/{playlist_id}", json={"name": name, "track_ids": track_ids},
                         headers={"X-API-Key": API_KEY, "If-Match": created.headers["ETag"]})
renamed.raise_for_status()
print("REST:", renamed.json()["name"], len(renamed.json()["tracks"]), "tracks - version", renamed.json()["version"])

# WSDL, operation UpdatePlaylist: the version is an element of the body, and the elements
# come in the order of the schema's <xs:sequence>: playlist_id, version, name, mood, track_ids.
name, track_ids = CHANGES["SOAP"]
tracks = "".join(f"<p:track_id>{track_id}</p:track_id>" for track_id in track_ids)
envelope = f"""<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="urn:playlists:v1">
  <soap:Header><p:ApiKey>{API_KEY}</p:ApiKey></soap:Header>
  <soap:Body>
    <p:UpdatePlaylist>
      <p:playlist_id>{playlist_id}</p:playlist_id>
      <p:version>{renamed.json()["version"]}</p:version>
      <p:name>{name}</p:name>
      <p:track_ids>{tracks}</p:track_ids>
    </p:UpdatePlaylist>
  </soap:Body>
</soap:Envelope>"""
answer = requests.post(SOAP, data=envelope.encode(), headers={"Content-Type": "text/xml; charset=utf-8",
                                                               "SOAPAction": '"UpdatePlaylist"'})
playlist = ET.fromstring(answer.content).find(f".//{TNS}playlist")
if playlist is None:
    raise SystemExit(f"SOAP answered {answer.status_code}:\n{answer.text}")
print("SOAP:", playlist.findtext(f"{TNS}name"), len(playlist.findall(f"{TNS}tracks/{TNS}track")), "tracks - version",
      playlist.findtext(f"{TNS}version"))

# proto, rpc UpdatePlaylist: the version, and an update_mask naming the fields to change
# (protobuf cannot tell a field left out from one set to "", so the mask says which count).
name, track_ids = CHANGES["gRPC"]
stub = playlist_pb2_grpc.PlaylistsStub(grpc.insecure_channel(GRPC))
updated = stub.UpdatePlaylist(pb.UpdatePlaylistRequest(
    id=playlist_id, version=int(playlist.findtext(f"{TNS}version")),
    update_mask=field_mask_pb2.FieldMask(paths=["name", "track_ids"]), name=name, track_ids=track_ids),
    metadata=[("x-api-key", API_KEY)])
print("gRPC:", updated.name, len(updated.tracks), "tracks - version", updated.version)
