"""`python -m rpc`: the gRPC server, plain HTTP/2 and mutual TLS."""
import argparse
import os

from core import events
from core.config import check_unsafe_allowed, load_settings

from .server import DEFAULT_WORKERS, serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m rpc", description="Serve the gRPC API (protobuf over HTTP/2).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=50051, help="plain (unencrypted) port (default 50051)")
    parser.add_argument("--tls-port", type=int, default=50052, help="mutual-TLS port (default 50052; 0 = off)")
    parser.add_argument("--db", help="SQLite database (default $PLAYLISTS_HOME/playlists.sqlite3)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"threads serving calls; a stream holds one while it lasts (default {DEFAULT_WORKERS})")
    args = parser.parse_args()
    settings = load_settings({**os.environ, "PLAYLISTS_DB": args.db} if args.db else os.environ)
    check_unsafe_allowed(settings, [args.host])
    events.configure(settings)
    serve(args.host, args.port, args.tls_port, settings, args.workers)


if __name__ == "__main__":
    main()
