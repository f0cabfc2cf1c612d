"""`.venv/bin/python -m soap`: the SOAP server under gunicorn, plain HTTP and mutual TLS."""
import serve.green  # noqa: F401  (first of all: see serve/green.py)
import os
from pathlib import Path

from core import config
from serve import cli, wsgi

from .app import create_app, wsdl_document


def main() -> None:
    parser = cli.parser(".venv/bin/python -m soap", "Serve the SOAP 1.1 API and its WSDL.", "SOAP", 2,
                        "worker processes")
    parser.add_argument("--public-url", default=config.soap_url(),
                        help="the address the WSDL gives clients, never taken from a request's Host header "
                             f"(default $PLAYLISTS_SOAP_URL, or $PLAYLISTS_HOST and $PLAYLISTS_SOAP_PORT: {config.soap_url()})")
    parser.add_argument("--write-wsdl", metavar="PATH", type=Path,
                        help="write the WSDL exactly as served (with --public-url) to PATH and exit")
    args = parser.parse_args()
    if args.write_wsdl:
        args.write_wsdl.write_bytes(wsdl_document(args.public_url))
        print(f"soap: wrote {args.write_wsdl}")
        return
    os.environ["PLAYLISTS_SOAP_URL"] = args.public_url   # for the workers, as cli.settings explains
    settings = cli.settings(args)
    create_app()  # fail here, once, with a clear message if `make setup` has not run
    print(f"soap: http://{args.host}:{args.port}/soap"
          + (f" and https://{args.host}:{args.tls_port}/soap (mutual TLS)" if args.tls_port else "")
          + f"; WSDL at http://{args.host}:{args.port}/soap?wsdl, naming {args.public_url}", flush=True)
    wsgi.run(create_app, "soap", args.host, args.port, args.tls_port, settings.tls, workers=args.workers)


if __name__ == "__main__":
    main()
