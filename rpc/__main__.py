"""`.venv/bin/python -m rpc`: the gRPC server, plain HTTP/2 and mutual TLS."""
from core import events
from serve import cli

from .server import DEFAULT_WORKERS, serve


def main() -> None:
    args = cli.parser(".venv/bin/python -m rpc", "Serve the gRPC API (protobuf over HTTP/2).", "GRPC", DEFAULT_WORKERS,
                      "threads serving calls; a stream holds one while it lasts").parse_args()
    settings = cli.settings(args)
    events.configure(settings)
    serve(args.host, args.port, args.tls_port, settings, args.workers)


if __name__ == "__main__":
    main()
