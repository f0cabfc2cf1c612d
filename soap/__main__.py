"""`python -m soap`: the SOAP server under gunicorn, plain HTTP and mutual TLS."""
import argparse
import os
from pathlib import Path

from core.config import check_unsafe_allowed, load_settings
from serve import wsgi

from .app import DEFAULT_PUBLIC_URL, create_app, wsdl_document


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m soap", description="Serve the SOAP 1.1 API and its WSDL.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="plain HTTP port (default 8081)")
    parser.add_argument("--tls-port", type=int, default=8444, help="mutual-TLS port (default 8444; 0 = off)")
    parser.add_argument("--db", help="SQLite database (default $PLAYLISTS_HOME/playlists.sqlite3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--public-url", default=os.environ.get("PLAYLISTS_SOAP_URL", DEFAULT_PUBLIC_URL),
                        help="the address the WSDL gives clients, never taken from a request's Host header "
                             f"(default $PLAYLISTS_SOAP_URL or {DEFAULT_PUBLIC_URL})")
    parser.add_argument("--write-wsdl", metavar="PATH", type=Path,
                        help="write the WSDL exactly as served (with --public-url) to PATH and exit")
    args = parser.parse_args()
    if args.write_wsdl:
        args.write_wsdl.write_bytes(wsdl_document(args.public_url))
        print(f"soap: wrote {args.write_wsdl}")
        return
    # The workers, fresh processes, read their settings from the environment.
    os.environ["PLAYLISTS_SOAP_URL"] = args.public_url
    if args.db:
        os.environ["PLAYLISTS_DB"] = args.db
    settings = load_settings()
    check_unsafe_allowed(settings, [args.host])
    create_app()  # fail here, once, with a clear message if `make setup` has not run
    print(f"soap: http://{args.host}:{args.port}/soap"
          + (f" and https://{args.host}:{args.tls_port}/soap (mutual TLS)" if args.tls_port else "")
          + f"; WSDL at http://{args.host}:{args.port}/soap?wsdl, naming {args.public_url}", flush=True)
    wsgi.run(create_app, "soap", args.host, args.port, args.tls_port, settings.tls, workers=args.workers)


if __name__ == "__main__":
    main()
