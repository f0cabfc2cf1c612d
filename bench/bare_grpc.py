"""The bare gRPC baseline: the benchmark's answers served from memory by a plain grpcio servicer.

The same processes and thread pools as `python -m rpc` (rpc.server's DEFAULT_PROCESSES and
DEFAULT_WORKERS, started by its in_processes) and the same messages, built once at start;
no interceptors, no authentication, no core, no call log.
What `python -m rpc` costs beyond this is the price of our own code.
"""
import argparse
import json
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import json_format
from playlist.v1 import playlist_pb2 as pb
from playlist.v1 import playlist_pb2_grpc

from rpc.server import DEFAULT_PROCESSES, DEFAULT_WORKERS, in_processes


class BarePlaylists(playlist_pb2_grpc.PlaylistsServicer):
    """The three benchmarked RPCs; every other RPC answers UNIMPLEMENTED."""

    def __init__(self, data: dict):
        # ParseDict reads the ISO 8601 created_at/updated_at into Timestamps, as rpc/ does.
        self.playlist = json_format.ParseDict(data["playlist"], pb.Playlist())
        self.page = json_format.ParseDict(data["page"], pb.SearchTracksResponse())

    def GetPlaylist(self, request, context):
        return self.playlist

    def SearchTracks(self, request, context):
        return self.page

    def CreatePlaylist(self, request, context):
        return self.playlist


def main() -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m bench.bare_grpc", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to bind")
    parser.add_argument("--fixture", required=True, help="fixture.json written by the benchmark")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"threads serving calls in each process (default {DEFAULT_WORKERS}, as rpc)")
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES,
                        help=f"server processes sharing the port (default {DEFAULT_PROCESSES}, as rpc)")
    args = parser.parse_args()
    in_processes(serve_process, (args.host, args.port, json.loads(Path(args.fixture).read_text()), args.workers),
                 args.processes)


def serve_process(host: str, port: int, data: dict, workers: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    playlist_pb2_grpc.add_PlaylistsServicer_to_server(BarePlaylists(data), server)
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
