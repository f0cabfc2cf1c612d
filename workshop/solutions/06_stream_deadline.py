"""Exercise 6, a stream with a deadline: PlayPlaylist, stopped by the client's deadline.

From the repository's root, with `make serve` running:
    .venv/bin/python workshop/solutions/06_stream_deadline.py
"""
import json
import os

import grpc
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

HOST = os.environ.get("PLAYLISTS_HOST", "127.0.0.1")   # where `make serve` listens
GRPC = os.environ.get("GRPC", f"{HOST}:{os.environ.get('PLAYLISTS_GRPC_PORT', '50051')}")
CREDENTIALS = os.path.join(os.environ.get("PLAYLISTS_HOME", ".demo"), "credentials.json")
API_KEY = json.load(open(CREDENTIALS))["users"]["alice"]["api_key"]
METADATA = [("x-api-key", API_KEY)]

stub = playlist_pb2_grpc.PlaylistsStub(grpc.insecure_channel(GRPC))
playlist = stub.GeneratePlaylist(pb.GeneratePlaylistRequest(mood="calm", duration_minutes=15), metadata=METADATA)
print(f"{playlist.name}: {len(playlist.tracks)} tracks; at 5 ms per second of music, "
      f"{playlist.total_duration_seconds * 5 / 1000:.1f} s to play")

# timeout=1 is a deadline one second from now. It travels with the call (the grpc-timeout
# header), so the server knows it too, and stops the stream the moment it passes.
try:
    for now in stub.PlayPlaylist(pb.PlayPlaylistRequest(id=playlist.id), metadata=METADATA, timeout=1):
        print("playing", now.position, "of", now.of, "-", now.track.title)
except grpc.RpcError as error:
    if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
        raise
    print(error.code().name, "- the deadline passed, and the server stopped playing")
