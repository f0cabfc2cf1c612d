"""The command line the three clients share: the same operations, the same arguments.

`python -m clients.rest search --mood calm`, `python -m clients.soap search --mood calm`
and `python -m clients.grpc search --mood calm` make the same call over three protocols.
"""
import argparse

from .credentials import AUTH_METHODS

# operation (the core's name, in kebab-case) -> short alias
ALIASES = {"who-am-i": "whoami", "list-moods": "moods", "search-tracks": "search", "get-track": "track",
           "create-playlist": "create", "generate-playlist": "generate", "get-playlist": "get",
           "list-playlists": "list", "update-playlist": "update", "add-track": "add", "remove-track": "remove",
           "delete-playlist": "delete", "echo": None}
COMMON = {"auth", "user", "show_wire", "operation", "server"}


def parser(prog: str, description: str, server_help: str) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--server", help=server_help)
    p.add_argument("--auth", choices=AUTH_METHODS, default="key",
                   help="key (API key), basic (user + password), token (OAuth 2.0), mtls (client certificate)")
    p.add_argument("--user", default="alice", help="whose credentials from $PLAYLISTS_HOME (default alice)")
    p.add_argument("--show-wire", action="store_true", help="print what really crossed the wire")
    ops = p.add_subparsers(dest="operation", required=True, metavar="OPERATION")

    def op(name, help_text):
        alias = ALIASES[name]
        return ops.add_parser(name, aliases=[alias] if alias else [], help=help_text)

    op("who-am-i", "who the server thinks you are")
    op("list-moods", "the mood vocabulary")
    search = op("search-tracks", "search the catalog")
    for flag in ("--mood", "--composer", "--era", "--text", "--page-token"):
        search.add_argument(flag)
    search.add_argument("--page-size", type=int)
    op("get-track", "one track").add_argument("track_id")
    create = op("create-playlist", "create a playlist")
    create.add_argument("name")
    create.add_argument("--mood")
    create.add_argument("--track", dest="track_ids", action="append", help="a track id (repeat for more)")
    generate = op("generate-playlist", "a playlist for a mood and a length")
    generate.add_argument("mood")
    generate.add_argument("duration_minutes", type=int)
    generate.add_argument("--name")
    op("get-playlist", "one of your playlists").add_argument("playlist_id")
    listing = op("list-playlists", "your playlists")
    listing.add_argument("--page-size", type=int)
    listing.add_argument("--page-token")
    update = op("update-playlist", "rename, change the mood, replace the tracks")
    update.add_argument("playlist_id")
    update.add_argument("--version", type=int, required=True, help="the version you read")
    update.add_argument("--name")
    update.add_argument("--mood")
    update.add_argument("--track", dest="track_ids", action="append", help="the new track list (repeat)")
    add = op("add-track", "add a track")
    add.add_argument("playlist_id")
    add.add_argument("track_id")
    add.add_argument("--position", type=int, help="1-based; default: at the end")
    remove = op("remove-track", "remove the track at a position")
    remove.add_argument("playlist_id")
    remove.add_argument("position", type=int, help="1-based")
    op("delete-playlist", "delete a playlist").add_argument("playlist_id")
    op("echo", "what the server received, credentials redacted").add_argument(
        "--message", default="hello, endpoint", help="text to send")
    return p, ops


def call(client, args, skip=()) -> object:
    """Run the chosen operation: its method has the operation's name, in snake_case."""
    name = next((full for full, alias in ALIASES.items() if args.operation in (full, alias)), args.operation)
    arguments = {k: v for k, v in vars(args).items() if k not in COMMON | set(skip)}
    return getattr(client, name.replace("-", "_"))(**arguments)
