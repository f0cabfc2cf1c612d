"""`.venv/bin/python -m rest`: the REST server under gunicorn, plain HTTP and mutual TLS, with the workshop's screen."""
import serve.green  # noqa: F401  (first of all: see serve/green.py)
from screen import create_app
from serve import cli, wsgi


def main() -> None:
    args = cli.parser(".venv/bin/python -m rest", "Serve the REST API (JSON, XML, HTML).", "REST", 2,
                      "worker processes").parse_args()
    settings = cli.settings(args)
    create_app()  # fail here, once, with a clear message if `make setup` has not run
    print(f"rest: http://{args.host}:{args.port}"
          + (f" and https://{args.host}:{args.tls_port} (mutual TLS)" if args.tls_port else ""), flush=True)
    wsgi.run(create_app, "rest", args.host, args.port, args.tls_port, settings.tls, workers=args.workers)


if __name__ == "__main__":
    main()
