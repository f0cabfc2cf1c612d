"""`python -m rest`: the REST server under gunicorn, plain HTTP and mutual TLS."""
import argparse
import os

from core.config import check_unsafe_allowed, load_settings
from serve import wsgi

from .app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m rest", description="Serve the REST API (JSON, XML, HTML).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="plain HTTP port (default 8080)")
    parser.add_argument("--tls-port", type=int, default=8443, help="mutual-TLS port (default 8443; 0 = off)")
    parser.add_argument("--db", help="SQLite database (default $PLAYLISTS_HOME/playlists.sqlite3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    if args.db:
        os.environ["PLAYLISTS_DB"] = args.db  # the workers read their settings from the environment
    settings = load_settings()
    check_unsafe_allowed(settings, [args.host])
    create_app()  # fail here, once, with a clear message if `make setup` has not run
    print(f"rest: http://{args.host}:{args.port}"
          + (f" and https://{args.host}:{args.tls_port} (mutual TLS)" if args.tls_port else ""), flush=True)
    wsgi.run(create_app, "rest", args.host, args.port, args.tls_port, settings.tls, workers=args.workers)


if __name__ == "__main__":
    main()
