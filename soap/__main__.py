"""`python -m soap`: the SOAP server under gunicorn, plain HTTP and mutual TLS."""
import serve.green  # noqa: F401  (first of all: see serve/green.py)
import os
from pathlib import Path

from serve import cli, wsgi

from .app import DEFAULT_PUBLIC_URL, create_app, wsdl_document


def main() -> None:
    parser = cli.parser("python -m soap", "Serve the SOAP 1.1 API and its WSDL.", 8081, 8444, 2, "worker processes")
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
    os.environ["PLAYLISTS_SOAP_URL"] = args.public_url   # for the workers, as cli.settings explains
    settings = cli.settings(args)
    create_app()  # fail here, once, with a clear message if `make setup` has not run
    print(f"soap: http://{args.host}:{args.port}/soap"
          + (f" and https://{args.host}:{args.tls_port}/soap (mutual TLS)" if args.tls_port else "")
          + f"; WSDL at http://{args.host}:{args.port}/soap?wsdl, naming {args.public_url}", flush=True)
    wsgi.run(create_app, "soap", args.host, args.port, args.tls_port, settings.tls, workers=args.workers)


if __name__ == "__main__":
    main()
