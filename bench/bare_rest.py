"""The bare REST baseline: the benchmark's answers served from memory by a plain Flask app.

It runs under exactly the gunicorn settings of `python -m rest` (serve.wsgi) and sends the
same JSON bytes, but does no authentication, validation, rate limiting, storage or call
logging. Whatever `python -m rest` costs beyond this is the price of our own code.
"""
if __name__ == "__main__":
    import serve.green  # noqa: F401  (first of all, as in `python -m rest`: see serve/green.py)
import argparse
import json
import os
from pathlib import Path

from flask import Flask, request

from serve import wsgi


def create_app() -> Flask:
    """The three routes; the fixture's path comes from the environment (gunicorn calls us bare)."""
    data = json.loads(Path(os.environ["BENCH_FIXTURE"]).read_text())
    app = Flask(__name__)

    def answer(payload, status: int = 200, headers: dict | None = None):
        # Encoded per call, as rest/representations.py does it, so the same bytes travel.
        body = json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
        return body, status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}

    @app.get("/v1/playlists/<playlist_id>")
    def get_playlist(playlist_id):
        return answer(data["playlist"])

    @app.get("/v1/tracks")
    def search_tracks():
        return answer(data["page"])

    @app.post("/v1/playlists")
    def create_playlist():
        request.get_json()  # decode the body, as any handler that uses it must
        return answer(data["playlist"], 201, {"Location": f"/v1/playlists/{data['playlist_id']}"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m bench.bare_rest", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to bind")
    parser.add_argument("--fixture", required=True, help="fixture.json written by the benchmark")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2, as rest)")
    args = parser.parse_args()
    os.environ["BENCH_FIXTURE"] = str(Path(args.fixture).resolve())  # the workers inherit it
    wsgi.run(create_app, "bare-rest", args.host, args.port, 0, None, workers=args.workers)


if __name__ == "__main__":
    main()
