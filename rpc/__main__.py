"""`.venv/bin/python -m rpc`: the gRPC server, plain HTTP/2 and mutual TLS."""
from core import events
from serve import cli

from .server import DEFAULT_PROCESSES, DEFAULT_WORKERS, serve


def main() -> None:
    parser = cli.parser(".venv/bin/python -m rpc", "Serve the gRPC API (protobuf over HTTP/2).", "GRPC",
                        DEFAULT_WORKERS, "threads serving calls in each process; a stream holds one while it lasts")
    parser.add_argument("--processes", type=cli.positive, default=DEFAULT_PROCESSES,
                        help=f"server processes sharing the ports, one core each (default {DEFAULT_PROCESSES})")
    args = parser.parse_args()
    settings = cli.settings(args)
    events.configure(settings)
    serve(args.host, args.port, args.tls_port, settings, args.workers, args.processes)


if __name__ == "__main__":
    main()
