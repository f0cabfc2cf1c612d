"""The bare SOAP baseline: the benchmark's answers served from memory by a plain Spyne service.

The same document/literal shapes as `python -m soap` (the XML Schema of soap/types.py and
the same <ApiKey> header declaration, so the very same envelopes come and go), the same
SOAP 1.1 protocol with lxml validation, under the same gunicorn settings (serve.wsgi). No
guard, no authentication, no core, no call log: what `python -m soap` costs beyond this is
the price of our own code.
"""
if __name__ == "__main__":
    import serve.green  # noqa: F401  (first of all, as in `python -m rest`: see serve/green.py)
import argparse
import json
import os
from pathlib import Path
from types import SimpleNamespace

from soap import compat  # noqa: F401  (before Spyne: Spyne 2.14 on Python 3.12+, see soap/compat.py)
from spyne import Application, Service, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from serve import wsgi
from soap.types import (TNS, AccessTokenHeader, ApiKeyHeader, MoodName, Name, PageSize, PageToken, Playlist,
                        PlaylistId, Query, TrackArray, TrackIds, optional, required)


def as_objects(value):
    """JSON data as objects with attributes, which is what Spyne serializes."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: as_objects(v) for k, v in value.items()})
    if isinstance(value, list):
        return [as_objects(v) for v in value]
    return value


class BarePlaylists(Service):
    """The three benchmarked operations, with the signatures of soap/app.py's Playlists."""
    __in_header__ = (ApiKeyHeader, AccessTokenHeader)

    @rpc(optional(MoodName), optional(Query), optional(Query), optional(Query), optional(PageSize), optional(PageToken),
         _returns=(required(TrackArray), required(Unicode)), _out_variable_names=("items", "next_page_token"))
    def SearchTracks(ctx, mood, composer, era, text, page_size, page_token):
        page = ctx.app.config.page
        return page.items, page.next_page_token

    @rpc(required(Name), optional(MoodName), optional(TrackIds), _returns=required(Playlist),
         _out_variable_name="playlist")
    def CreatePlaylist(ctx, name, mood, track_ids):
        return ctx.app.config.playlist

    @rpc(required(PlaylistId), _returns=required(Playlist), _out_variable_name="playlist")
    def GetPlaylist(ctx, playlist_id):
        return ctx.app.config.playlist


def soap_application(data: dict) -> Application:
    """The Spyne application, holding the fixture's playlist and page as objects."""
    return Application([BarePlaylists], TNS, name="Playlists", config=as_objects(data),
                       in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())


def create_app() -> WsgiApplication:
    """The WSGI app; the fixture's path comes from the environment (gunicorn calls us bare)."""
    return WsgiApplication(soap_application(json.loads(Path(os.environ["BENCH_FIXTURE"]).read_text())))


def main() -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m bench.bare_soap", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to bind")
    parser.add_argument("--fixture", required=True, help="fixture.json written by the benchmark")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2, as soap)")
    args = parser.parse_args()
    os.environ["BENCH_FIXTURE"] = str(Path(args.fixture).resolve())  # the workers inherit it
    wsgi.run(create_app, "bare-soap", args.host, args.port, 0, None, workers=args.workers)


if __name__ == "__main__":
    main()
