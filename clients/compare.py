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
from lxml import etree
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
MAX_LINES = 26   # per exchange on screen, so the whole tour fits a projector; the HTML page keeps them all


@dataclass
class Exchange:
    wire: str       # what crossed, as text: request first, then response
    sent: int       # bytes
    received: int
    ms: float
    status: str
    answer: object = None   # what the client got back, for the discovery scenario's summary
    note: str = ""          # a word on a figure that would surprise


def over_http(tap: Tap, call) -> Exchange:
    """Run an HTTP call (REST or SOAP) with the tap on; the wire text comes from the tap."""
    from .wire import show
    tap.clear()
    started = time.perf_counter()
    response = call()
    ms = (time.perf_counter() - started) * 1000
    text = _Text()
    show(tap, text)
    return Exchange(text.value, len(tap.sent), len(tap.received), ms, f"{response.status_code} {response.reason}",
                    response)


def over_grpc(client: GrpcClient, call) -> Exchange:
    """Run a gRPC call through the relay; the wire text is the decoded HTTP/2 frames.
    (The relay records each byte before passing it on, so when the call returns its
    trailers are already in the capture.)"""
    mark = client.relay.mark()
    started = time.perf_counter()
    answer = None
    try:
        answer = call()
        status = "OK"
    except grpc.RpcError as error:
        status = error.code().name
    ms = (time.perf_counter() - started) * 1000
    sent, received = len(client.relay.sent) - mark[0], len(client.relay.received) - mark[1]
    # Narrow hex: the decoded fields matter more than every byte in a column.
    return Exchange(describe(client.relay.sent, client.relay.received, mark, hex_width=14), sent, received, ms, status,
                    answer)


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
    exchanges = {"REST": over_http(rest_tap, calls[0]), "SOAP": over_http(soap_tap, calls[1]),
                 "gRPC": over_grpc(rpc, calls[2])}
    if exchanges["gRPC"].sent > exchanges["REST"].sent:
        exchanges["gRPC"].note = heavier_headers(exchanges, over_grpc(rpc, calls[2]))
    return exchanges


def heavier_headers(exchanges: dict, again: Exchange) -> str:
    """Why gRPC sent more than REST, measured: the same call once more on the same connection."""
    cold, rest = exchanges["gRPC"].sent, exchanges["REST"].sent
    return (f"gRPC sent more than REST ({cold:,} B vs {rest:,} B): on a cold connection a call's HTTP/2 headers "
            f"(:path, :authority, te, user-agent, metadata) travel in full; HPACK then refers to them by index, "
            f"and the same call again, on the now warm connection, sent {again.sent:,} B.")


def contracts(exchanges: dict) -> dict:
    """Discovery, summarised: what each contract is and where, rather than its whole text."""
    openapi, wsdl = exchanges["REST"].answer.json(), etree.fromstring(exchanges["SOAP"].answer.content)
    operations = [op for path in openapi.get("paths", {}).values() for op in path.values() if isinstance(op, dict)]
    port_types = wsdl.findall("{http://schemas.xmlsoap.org/wsdl/}portType/{http://schemas.xmlsoap.org/wsdl/}operation")
    services = [s.name for r in exchanges["gRPC"].answer or () for s in r.list_services_response.service]
    return {
        "REST": f"GET /openapi.json: an OpenAPI {openapi.get('openapi')} document of {exchanges['REST'].received:,} B: "
                f"{len(openapi.get('paths', {}))} paths, {len(operations)} operations, "
                f"{len(openapi.get('components', {}).get('securitySchemes', {}))} security schemes. "
                "Read it as a page at /docs/rest.",
        "SOAP": f"GET /soap?wsdl: a WSDL 1.1 document of {exchanges['SOAP'].received:,} B: {len(port_types)} "
                "operations, their messages and XML Schema types, the two header elements for credentials, "
                "and the endpoint's address. Read it as a page at /docs/soap.",
        "gRPC": f"Server reflection (a bidirectional stream, ServerReflectionInfo): {len(services)} services, "
                f"{', '.join(services)}. The contract itself is the .proto, at /protos/playlist/v1/playlist.proto; "
                "read it as a page at /docs/grpc.",
    }


def redacted(exchanges: dict, secrets: list) -> dict:
    """The exchanges with the caller's secrets blanked: the page is projected, and served at
    /compare to anyone who can reach the REST server. (The byte counts stay the real ones.)"""
    for exchange in exchanges.values():
        for secret in secrets:
            exchange.wire = exchange.wire.replace(secret, "[redacted]")
    return exchanges


def clip(lines: list[str], limit: int = MAX_LINES) -> list[str]:
    """The start of the request and the end of the answer (where its status and error are), when too long."""
    if len(lines) <= limit:
        return lines
    head, tail = limit - limit // 2, limit // 2
    return lines[:head] + [f"⋮ ({len(lines) - limit} more lines: see /compare)"] + lines[-tail:]


def print_side_by_side(title: str, exchanges: dict, out, width: int, summaries: dict | None = None) -> None:
    out.write(f"\n{'═' * min(width, 160)}\n{title}\n{'═' * min(width, 160)}\n")
    column = (width - 6) // 3
    if summaries:
        for protocol in PROTOCOLS:
            out.write("\n".join(textwrap.wrap(summaries[protocol], min(width, 160), initial_indent=f"{protocol:<6}",
                                               subsequent_indent=" " * 6)) + "\n")
        out.write("(each whole document: in the page at /compare)\n")
    elif column >= 48:
        wrapped = {p: clip([piece for line in e.wire.rstrip("\n").split("\n")
                            for piece in textwrap.wrap(line, column, drop_whitespace=False) or [""]])
                   for p, e in exchanges.items()}
        out.write(" │ ".join(f"{p:<{column}}" for p in PROTOCOLS).rstrip() + "\n")
        out.write("─┼─".join("─" * column for _ in PROTOCOLS) + "\n")
        for row in range(max(len(w) for w in wrapped.values())):
            cells = [wrapped[p][row] if row < len(wrapped[p]) else "" for p in PROTOCOLS]
            out.write(" │ ".join(f"{c:<{column}}" for c in cells).rstrip() + "\n")
    else:
        for protocol in PROTOCOLS:
            out.write(f"\n── {protocol} {'─' * (width - len(protocol) - 5)}\n")
            out.write("\n".join(clip(exchanges[protocol].wire.rstrip("\n").split("\n"), 12)) + "\n")
    out.write("\n" + summary(exchanges))
    for exchange in exchanges.values():
        if exchange.note:
            out.write("\n".join(textwrap.wrap("Note: " + exchange.note, min(width, 160))) + "\n")


def summary(exchanges: dict) -> str:
    rows = [("bytes sent", lambda e: f"{e.sent:,}"), ("bytes received", lambda e: f"{e.received:,}"),
            ("time", lambda e: f"{e.ms:.1f} ms"), ("status", lambda e: e.status)]
    lines = [f"{'':<16}" + "".join(f"{p:>27}" for p in PROTOCOLS)]
    lines += [f"{name:<16}" + "".join(f"{get(exchanges[p]):>27}" for p in PROTOCOLS) for name, get in rows]
    return "\n".join(lines) + "\n"


PAGE_STYLE = """
body{font:18px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
.bar{display:flex;align-items:center;gap:2rem;padding:.7rem 1.5rem;background:#1d3557}
.bar a{color:#fff;text-decoration:none}.bar .brand{font-weight:700}.bar nav{display:flex;gap:1.4rem;flex-wrap:wrap}
.bar [aria-current]{border-bottom:3px solid #4cc9f0}
main{padding:0 1.5rem 3rem}h1{margin:.6em 0 .3em}h2{margin:1.6em 0 .4em}a{color:#0b5cad}
.contents ol{display:flex;flex-wrap:wrap;gap:.3em 1.6em;padding-left:1.2em}
.cols{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:1em}
pre{background:#f3f5f8;border:1px solid #d5dbe2;border-radius:6px;padding:.6em;margin:0;font:16px/1.4 ui-monospace,
"DejaVu Sans Mono",monospace;white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.8em 0}td,th{padding:.2em .8em;border-bottom:1px solid #d5dbe2;text-align:right}
.note{border-left:5px solid #e6b84c;background:#fff8e6;padding:.4em .8em;max-width:60em}
details summary{cursor:pointer;color:#0b5cad;margin:.4em 0}
"""
SITE = (("/docs/rest", "REST"), ("/docs/soap", "SOAP"), ("/docs/grpc", "gRPC"), ("/live", "Live"),
        ("/compare", "Compare"))
WHOLE_LINES = 120   # a longer exchange (a whole contract) opens on request


def write_html(results: list, path, summaries: dict) -> None:
    """The comparison as one self-contained page, for /compare: every exchange whole."""
    sections = []
    for number, (scenario, title, exchanges) in enumerate(results, 1):
        panes = "".join(f"<div><h3>{p}</h3>{whole(exchanges[p].wire)}</div>" for p in PROTOCOLS)
        said = "".join(f"<li><b>{p}</b>: {html.escape(summaries[scenario][p])}</li>" for p in PROTOCOLS
                       if scenario in summaries)
        notes = "".join(f"<p class=note>{html.escape(e.note)}</p>" for e in exchanges.values() if e.note)
        rows = "".join(f"<tr><th>{p}</th><td>{e.sent:,}</td><td>{e.received:,}</td><td>{e.ms:.1f} ms</td>"
                       f"<td>{html.escape(e.status)}</td></tr>" for p, e in exchanges.items())
        sections.append(f"<section id=s{number} aria-labelledby=t{number}><h2 id=t{number}>{html.escape(title)}</h2>"
                        f"{f'<ul>{said}</ul>' if said else ''}<div class=cols>{panes}</div>"
                        f"<table><tr><th></th><th>bytes sent</th><th>bytes received</th><th>time</th>"
                        f"<th>status</th></tr>{rows}</table>{notes}</section>")
    contents = "".join(f"<li><a href=#s{n}>{html.escape(title)}</a></li>" for n, (_, title, _) in enumerate(results, 1))
    site = "".join(f"<a href={href}{' aria-current=page' if label == 'Compare' else ''}>{label}</a>"
                   for href, label in SITE)
    path.write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>One call, three protocols · Tri-Protocol Playlists</title><style>{PAGE_STYLE}</style></head><body>"
        f"<header class=bar><a class=brand href=/>Tri-Protocol Playlists</a><nav aria-label=Site>{site}</nav></header>"
        "<main><h1>One call, three protocols</h1><p>What crossed the wire, captured from real exchanges with the "
        "REST, SOAP and gRPC servers (gRPC's binary frames decoded).</p>"
        f"<nav class=contents aria-label=Scenarios><ol>{contents}</ol></nav>" + "".join(sections) +
        "</main></body></html>\n", encoding="utf-8")


def whole(wire: str) -> str:
    lines = wire.count("\n")
    if lines <= WHOLE_LINES:
        return f"<pre>{html.escape(wire)}</pre>"
    return f"<details><summary>the whole exchange, {lines:,} lines</summary><pre>{html.escape(wire)}</pre></details>"


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
        results, summaries = [], {}
        secrets = [v for k, v in creds.load(args.user).items() if k in ("api_key", "password", "client_secret")]
        for scenario in SCENARIOS if args.scenario == "all" else [args.scenario]:
            exchanges = redacted(run(scenario, rest, rest_tap, soap, soap_tap, rpc), secrets)
            if scenario == "discovery":
                summaries[scenario] = contracts(exchanges)
            print_side_by_side(SCENARIOS[scenario], exchanges, sys.stdout, args.width, summaries.get(scenario))
            results.append((scenario, SCENARIOS[scenario], exchanges))
    except (OSError, grpc.FutureTimeoutError) as error:
        raise SystemExit(f"compare: cannot reach a server ({error.__class__.__name__}): is `make serve` running?")
    page = creds.home() / "compare.html"
    write_html(results, page, summaries)
    print(f"\nThe comparison as a page: {page} (also at {args.rest}/compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
