"""`.venv/bin/python -m clients.compare SCENARIO`: one call, three protocols, side by side.

Each scenario makes the same call over REST, SOAP and gRPC, captures what really crossed
the wire, and prints the three exchanges next to each other (one after another on a
narrow terminal), then a summary of bytes, time and status. It also writes the
comparison as one self-contained HTML page, $PLAYLISTS_HOME/compare.html, for a projector.
"""
import argparse
import html
import shutil
import sys
import textwrap
import time
from dataclasses import dataclass

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from . import addresses
from . import credentials as creds
from .grpc import GrpcClient
from .grpc_wire import describe
from .rest import RestClient
from .soap import SoapClient
from .wire import Tap

SCENARIOS = {
    "discovery": "Discovery: ask the server for its contract (OpenAPI, WSDL, reflection)",
    "search": "Search: calm Baroque tracks, a page of 2",
    "create": "An authenticated create: a playlist with one track",
    "validation-error": "A request that breaks the schema: a length of 'ten' minutes (or -5)",
    "not-found": "A playlist id that does not exist",
}
PROTOCOLS = ("REST", "SOAP", "gRPC")
MAX_LINES = 60   # per exchange on screen; the HTML page keeps them all


@dataclass
class Exchange:
    wire: str       # what crossed, as text: request first, then response
    sent: int       # bytes
    received: int
    ms: float
    status: str


def over_http(tap: Tap, call) -> Exchange:
    """Run an HTTP call (REST or SOAP) with the tap on; the wire text comes from the tap."""
    from .wire import show
    tap.clear()
    started = time.perf_counter()
    response = call()
    ms = (time.perf_counter() - started) * 1000
    text = _Text()
    show(tap, text)
    return Exchange(text.value, len(tap.sent), len(tap.received), ms, f"{response.status_code} {response.reason}")


def over_grpc(client: GrpcClient, call) -> Exchange:
    """Run a gRPC call through the relay; the wire text is the decoded HTTP/2 frames.
    (The relay records each byte before passing it on, so when the call returns its
    trailers are already in the capture.)"""
    mark = client.relay.mark()
    started = time.perf_counter()
    try:
        call()
        status = "OK"
    except grpc.RpcError as error:
        status = error.code().name
    ms = (time.perf_counter() - started) * 1000
    sent, received = len(client.relay.sent) - mark[0], len(client.relay.received) - mark[1]
    # Narrow hex: the decoded fields matter more than every byte in a column.
    return Exchange(describe(client.relay.sent, client.relay.received, mark, hex_width=14), sent, received, ms, status)


class _Text:
    def __init__(self):
        self.value = ""

    def write(self, text):
        self.value += text


def reflection_list(client: GrpcClient):
    """Server reflection: the gRPC way to ask a server which services it offers."""
    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    return list(stub.ServerReflectionInfo(iter([request])))


def run(scenario: str, rest: RestClient, rest_tap: Tap, soap: SoapClient, soap_tap: Tap, rpc: GrpcClient) -> dict:
    calls = {
        "discovery": (lambda: rest.call("GET", "/openapi.json"), soap.wsdl, lambda: reflection_list(rpc)),
        "search": (lambda: rest.search_tracks(mood="calm", era="Baroque", page_size=2),
                   lambda: soap.search_tracks(mood="calm", era="Baroque", page_size=2),
                   lambda: rpc.search_tracks(mood="calm", era="Baroque", page_size=2)),
        "create": (lambda: rest.create_playlist("Side by side", "calm", ["bach-bwv1007-prelude"]),
                   lambda: soap.create_playlist("Side by side", "calm", ["bach-bwv1007-prelude"]),
                   lambda: rpc.create_playlist("Side by side", "calm", ["bach-bwv1007-prelude"])),
        "validation-error": (lambda: rest.generate_playlist("calm", "ten"),
                             lambda: soap.generate_playlist("calm", "ten"),
                             lambda: rpc.generate_playlist("calm", -5)),
        "not-found": (lambda: rest.get_playlist("pl_doesnotexist"), lambda: soap.get_playlist("pl_doesnotexist"),
                      lambda: rpc.get_playlist("pl_doesnotexist")),
    }[scenario]
    return {"REST": over_http(rest_tap, calls[0]), "SOAP": over_http(soap_tap, calls[1]),
            "gRPC": over_grpc(rpc, calls[2])}


def redacted(exchanges: dict, secrets: list) -> dict:
    """The exchanges with the caller's secrets blanked: the page is projected, and served at
    /compare to anyone who can reach the REST server. (The byte counts stay the real ones.)"""
    for exchange in exchanges.values():
        for secret in secrets:
            exchange.wire = exchange.wire.replace(secret, "[redacted]")
    return exchanges


def clip(text: str, limit: int = MAX_LINES) -> list[str]:
    lines = text.rstrip("\n").split("\n")
    return lines if len(lines) <= limit else lines[:limit] + [f"… ({len(lines) - limit} more lines)"]


def print_side_by_side(title: str, exchanges: dict, out, width: int) -> None:
    out.write(f"\n{'═' * min(width, 160)}\n{title}\n{'═' * min(width, 160)}\n")
    column = (width - 6) // 3
    if column >= 48:
        wrapped = {p: [piece for line in clip(e.wire) for piece in (textwrap.wrap(line, column, drop_whitespace=False)
                                                                     or [""])] for p, e in exchanges.items()}
        out.write(" │ ".join(f"{p:<{column}}" for p in PROTOCOLS).rstrip() + "\n")
        out.write("─┼─".join("─" * column for _ in PROTOCOLS) + "\n")
        for row in range(max(len(w) for w in wrapped.values())):
            cells = [wrapped[p][row] if row < len(wrapped[p]) else "" for p in PROTOCOLS]
            out.write(" │ ".join(f"{c:<{column}}" for c in cells).rstrip() + "\n")
    else:
        for protocol in PROTOCOLS:
            out.write(f"\n── {protocol} {'─' * (width - len(protocol) - 5)}\n")
            out.write("\n".join(clip(exchanges[protocol].wire)) + "\n")
    out.write("\n" + summary(exchanges))


def summary(exchanges: dict) -> str:
    rows = [("bytes sent", lambda e: f"{e.sent:,}"), ("bytes received", lambda e: f"{e.received:,}"),
            ("time", lambda e: f"{e.ms:.1f} ms"), ("status", lambda e: e.status)]
    lines = [f"{'':<16}" + "".join(f"{p:>27}" for p in PROTOCOLS)]
    lines += [f"{name:<16}" + "".join(f"{get(exchanges[p]):>27}" for p in PROTOCOLS) for name, get in rows]
    return "\n".join(lines) + "\n"


def write_html(results: list, path) -> None:
    sections = []
    for title, exchanges in results:
        columns = "".join(f"<div><h3>{p}</h3><pre>{html.escape(exchanges[p].wire)}</pre></div>" for p in PROTOCOLS)
        rows = "".join(f"<tr><th>{p}</th><td>{e.sent:,}</td><td>{e.received:,}</td><td>{e.ms:.1f} ms</td>"
                       f"<td>{html.escape(e.status)}</td></tr>" for p, e in exchanges.items())
        sections.append(f"<section><h2>{html.escape(title)}</h2><div class=cols>{columns}</div>"
                        f"<table><tr><th></th><th>bytes sent</th><th>bytes received</th><th>time</th>"
                        f"<th>status</th></tr>{rows}</table></section>")
    path.write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>One call, three protocols</title><style>"
        "body{font:18px system-ui,sans-serif;margin:1.5em;background:#fafafa}h1{margin-top:0}"
        ".cols{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:1em}"
        "pre{background:#fff;border:1px solid #ddd;padding:.6em;font-size:13px;overflow:auto;max-height:32em;"
        "white-space:pre-wrap;word-break:break-all}table{border-collapse:collapse;margin:.8em 0 2em}"
        "td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
        "<h1>One call, three protocols</h1><p>What crossed the wire, captured from real exchanges with the "
        "REST, SOAP and gRPC servers (gRPC's binary frames decoded).</p>" + "".join(sections) + "</body></html>\n",
        encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=".venv/bin/python -m clients.compare", description=__doc__.splitlines()[0],
                                epilog="The defaults follow PLAYLISTS_HOST and the PLAYLISTS_*_PORT variables.")
    p.add_argument("scenario", choices=[*SCENARIOS, "all"], help="which call to compare, or all of them")
    p.add_argument("--user", default="alice", help="whose credentials (default alice)")
    p.add_argument("--rest", default=addresses.rest_url(), help=f"REST base URL (default {addresses.rest_url()})")
    p.add_argument("--soap", default=addresses.soap_url(), help=f"SOAP endpoint (default {addresses.soap_url()})")
    p.add_argument("--grpc", default=addresses.grpc_address(),
                   help=f"gRPC address (default {addresses.grpc_address()})")
    p.add_argument("--width", type=int, default=shutil.get_terminal_size((180, 40)).columns,
                   help="terminal width (default: this terminal's)")
    args = p.parse_args(argv)
    rest_tap, soap_tap = Tap(), Tap()
    try:
        rest = RestClient(args.rest, user=args.user, tap=rest_tap)
        soap = SoapClient(args.soap, user=args.user, tap=soap_tap)
        rpc = GrpcClient(args.grpc, user=args.user, relay=True)
        # Open the HTTP/2 connection first, so its preface and settings are not counted as the first call's.
        grpc.channel_ready_future(rpc.channel).result(timeout=10)
        results = []
        secrets = [v for k, v in creds.load(args.user).items() if k in ("api_key", "password", "client_secret")]
        for scenario in SCENARIOS if args.scenario == "all" else [args.scenario]:
            exchanges = redacted(run(scenario, rest, rest_tap, soap, soap_tap, rpc), secrets)
            print_side_by_side(SCENARIOS[scenario], exchanges, sys.stdout, args.width)
            results.append((SCENARIOS[scenario], exchanges))
    except (OSError, grpc.FutureTimeoutError) as error:
        raise SystemExit(f"compare: cannot reach a server ({error.__class__.__name__}): is `make serve` running?")
    page = creds.home() / "compare.html"
    write_html(results, page)
    print(f"\nThe comparison as a page: {page} (also at {args.rest}/compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
