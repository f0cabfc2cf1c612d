"""The workshop's screen: a landing page, the three contracts as readable pages, the live view.

These pages are public (the `api` blueprint authenticates /v1 only). Every script, style
and icon comes from this server, and the Content-Security-Policy header has the browser
refuse any request to another origin, so a page never reaches outside the machine.
"""
import json
import math
import os
import textwrap
import threading
import time
from pathlib import Path

import flask_swagger_ui
from flask import (Blueprint, Response, current_app, jsonify, make_response, render_template, request, send_file,
                   send_from_directory)
from google.protobuf import descriptor_pb2
from lxml import etree
from markdown_it import MarkdownIt
from markupsafe import Markup

from core import config, events, limits
from core.config import DEFENCES, grpc_address, soap_url

ROOT = Path(__file__).resolve().parent.parent
WSDL = ROOT / "wsdl" / "playlists.wsdl"
PROTO = ROOT / "protos" / "playlist" / "v1" / "playlist.proto"
DESCRIPTOR_SET = ROOT / "gen" / "playlist.desc"        # written by `make setup`, with the proto's comments
WSDL_TO_HTML = Path(__file__).parent / "templates" / "wsdl.xsl"
HANDOUT = ROOT / "docs" / "handout.md"
SWAGGER_UI = Path(flask_swagger_ui.__file__).parent / "dist"

# Only this origin: no inline script, no outside host. data: images are Swagger UI's icons.
CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
# The comparison page is written by `clients.compare`, self-contained: inline is fine, outside is not.
COMPARE_CSP = "default-src 'self' 'unsafe-inline' data:; base-uri 'none'; frame-ancestors 'none'"

pages = Blueprint("pages", __name__, static_folder="static", static_url_path="/assets",
                  template_folder="templates")


@pages.after_request
def no_outside_requests(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


def settings():
    return current_app.extensions["playlists"].settings


def missing(what: str, path: Path, command: str):
    return render_template("missing.html", what=what, path=path.relative_to(ROOT), command=command), 404


# --- the landing page -----------------------------------------------------------------------

@pages.get("/")
def landing():
    """What this is and where everything is: a page for browsers, an index of links for programs."""
    links = {"rest": {"endpoint": request.host_url.rstrip("/"), "contract": "/openapi.json", "docs": "/docs/rest"},
             "soap": {"endpoint": soap_url(), "contract": soap_url() + "?wsdl", "docs": "/docs/soap"},
             "grpc": {"endpoint": grpc_address(), "contract": "/protos/playlist/v1/playlist.proto",
                      "docs": "/docs/grpc"},
             "live": "/live", "compare": "/compare"}
    # curl and generated clients send Accept: */* and get JSON, like everywhere else in the API;
    # a browser prefers text/html. The app adds Vary: Accept, so caches keep the two apart.
    if request.accept_mimetypes.best_match(["application/json", "text/html"], "application/json") == "text/html":
        return render_template("landing.html", links=links)
    return jsonify(service="Tri-Protocol Playlists", links=links)


@pages.get("/favicon.ico")
def favicon():
    """The icon a browser asks for on a page that names none, such as the comparison page."""
    return send_from_directory(pages.static_folder, "favicon.svg", mimetype="image/svg+xml")


@pages.get("/protos/playlist/v1/playlist.proto")
def proto():
    """The gRPC contract itself."""
    return send_file(PROTO, mimetype="text/plain")


@pages.get("/wsdl/playlists.wsdl")
def wsdl():
    """The SOAP contract as committed (the SOAP server serves the same at /soap?wsdl)."""
    if not WSDL.exists():
        return missing("The WSDL", WSDL, "make wsdl")
    return send_file(WSDL, mimetype="text/xml")


@pages.get("/handout")
def handout():
    """The attendee's sheet, docs/handout.md, as a page that prints on two A4 pages."""
    # CommonMark with tables; raw HTML in the file stays text, as it does on GitHub.
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(HANDOUT.read_text())
    return render_template("handout.html", handout=Markup(html))


# --- the three contracts, as documentation that cannot drift from them --------------------

@pages.get("/docs/rest")
def docs_rest():
    """The OpenAPI document in Swagger UI."""
    document = current_app.extensions["openapi"]
    servers = rest_servers(document["servers"])
    page = make_response(render_template("docs_rest.html", schemes=document["components"]["securitySchemes"],
                                         servers=servers))
    # "Try it out" is a fetch() from this page: allowed to the servers it offers, and nowhere else.
    page.headers["Content-Security-Policy"] = CSP + "; connect-src 'self' " + " ".join(s["url"] for s in servers)
    return page


def rest_servers(listed: list[dict]) -> list[dict]:
    """Where "Try it out" may send a call: this page's own server first, then the contract's
    servers at this run's addresses (the contract names the defaults)."""
    servers = [{"url": request.host_url.rstrip("/"), "description": "the server of this page"}]
    for server in listed:
        moved = {**server, "url": config.moved(server["url"])}
        if moved["url"] not in [s["url"] for s in servers]:
            servers.append(moved)
    return servers


@pages.get("/docs/rest/swagger-ui/<path:name>")
def swagger_ui(name):
    """Swagger UI's own files, from the pinned flask-swagger-ui package: no CDN."""
    return send_from_directory(SWAGGER_UI, name)


@pages.get("/docs/soap")
def docs_soap():
    """The WSDL as HTML, through an XSLT stylesheet: the page is the contract, restyled."""
    if not WSDL.exists():
        return missing("The WSDL", WSDL, "make wsdl")
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    # DENY_ALL: the stylesheet may read no other file and open no URL while it runs.
    transform = etree.XSLT(etree.parse(WSDL_TO_HTML, parser), access_control=etree.XSLTAccessControl.DENY_ALL)
    body = transform(etree.parse(WSDL, parser), wsdl_url=etree.XSLT.strparam(soap_url() + "?wsdl"),
                     endpoint=etree.XSLT.strparam(soap_url()))
    return render_template("docs_soap.html", body=Markup(str(body)))


@pages.get("/docs/grpc")
def docs_grpc():
    """The proto's services, RPCs, messages and comments, from the descriptor set `make setup` writes."""
    if not DESCRIPTOR_SET.exists():
        return missing("The gRPC descriptor set", DESCRIPTOR_SET, "make setup")
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    # --include_imports puts google/protobuf/*.proto in the set too; document only ours.
    ours = [proto_file(f) for f in files if not f.package.startswith("google.")]
    return render_template("docs_grpc.html", files=ours, address=grpc_address())


RPC_KINDS = {(False, False): "unary", (False, True): "server streaming", (True, False): "client streaming",
             (True, True): "bidirectional streaming"}
# SourceCodeInfo finds a comment by a path of field numbers of descriptor.proto: (4, 2) is the
# file's message_type[2], (4, 2, 2, 0) that message's field[0], (6, 0, 2, 5) service 0's method[5].
SYNTAX, MESSAGE, ENUM, SERVICE = 12, 4, 5, 6
FIELD, NESTED_MESSAGE, NESTED_ENUM, METHOD, ENUM_VALUE = 2, 3, 4, 2, 2


def proto_file(file: descriptor_pb2.FileDescriptorProto) -> dict:
    """One .proto file as plain data for the template: services, messages and enums with their comments."""
    where = {tuple(location.path): location for location in file.source_code_info.location}

    def comment(*path, file_header=False) -> str:
        location = where.get(path)
        if location is None:
            return ""
        # A detached comment (a blank line between it and what follows) is a section banner,
        # except at the top of the file. The file's header keeps its layout, aligned columns and all.
        detached = location.leading_detached_comments if file_header else ()
        parts = (*detached, location.leading_comments, location.trailing_comments)
        text = textwrap.dedent("\n\n".join(part.strip("\n") for part in parts if part.strip()))
        if file_header:
            return text
        # The proto's lines were broken to fit an editor; the page's own width decides here.
        return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))

    messages, enums = [], []
    maps = {}  # a map<K, V> field is compiled to a repeated "...Entry" message: show it as written

    def walk(message_types, enum_types, prefix: str, path: tuple):
        for i, enum in enumerate(enum_types):
            enum_path = (*path, NESTED_ENUM if path else ENUM, i)
            enums.append({"name": f"{prefix}.{enum.name}", "comment": comment(*enum_path),
                          "values": [{"name": v.name, "number": v.number, "comment": comment(*enum_path, ENUM_VALUE, j)}
                                     for j, v in enumerate(enum.value)]})
        for i, message in enumerate(message_types):
            name, message_path = f"{prefix}.{message.name}", (*path, NESTED_MESSAGE if path else MESSAGE, i)
            if message.options.map_entry:
                maps[name] = message
                continue
            walk(message.nested_type, message.enum_type, name, message_path)
            messages.append({"name": name, "comment": comment(*message_path),
                             "fields": [{"name": f.name, "number": f.number, "label": field_label(f),
                                         "type": field_type(f), "comment": comment(*message_path, FIELD, j)}
                                        for j, f in enumerate(message.field)]})

    walk(file.message_type, file.enum_type, file.package, ())
    for field in (field for message in messages for field in message["fields"]):
        entry = maps.get(field["type"])
        if entry:
            field["label"], field["type"] = "", f"map<{field_type(entry.field[0])}, {field_type(entry.field[1])}>"
    services = [{"name": f"{file.package}.{service.name}", "comment": comment(SERVICE, i),
                 "methods": [{"name": m.name, "input": m.input_type.lstrip("."), "output": m.output_type.lstrip("."),
                              "kind": RPC_KINDS[m.client_streaming, m.server_streaming],
                              "client_streaming": m.client_streaming, "server_streaming": m.server_streaming,
                              "comment": comment(SERVICE, i, METHOD, j)} for j, m in enumerate(service.method)]}
                for i, service in enumerate(file.service)]
    return {"name": file.name, "package": file.package, "comment": comment(SYNTAX, file_header=True),
            "services": services, "messages": messages, "enums": enums,
            "defined": {t["name"] for t in messages + enums}}  # the types a page can link to


def field_type(field: descriptor_pb2.FieldDescriptorProto) -> str:
    """'string', 'int32', ... or the message or enum type's full name."""
    if field.type_name:
        return field.type_name.lstrip(".")
    return descriptor_pb2.FieldDescriptorProto.Type.Name(field.type).removeprefix("TYPE_").lower()


def field_label(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
        return "repeated"
    return "optional" if field.proto3_optional else ""


# --- the comparison page ---------------------------------------------------------------------

@pages.get("/compare")
def compare():
    """The side-by-side comparison the clients' compare command wrote last, or how to make one."""
    report = settings().home / "compare.html"
    if not report.exists():
        return render_template("compare_missing.html")
    response = send_file(report, mimetype="text/html", max_age=0)
    response.headers["Content-Security-Policy"] = COMPARE_CSP
    return response


# --- the live view ---------------------------------------------------------------------------
# Every server appends one JSON line per call to $PLAYLISTS_HOME/events.jsonl (core/events.py).
# /live/events follows that file and passes each new line to the browser as a server-sent
# event: one long HTTP response the server keeps writing to, so a call appears within a
# tenth of a second, with no page asking again and again as polling would.

JOURNAL = events.JOURNAL
# Only these fields ever leave the server: a call's, or a workshop solve's (python -m workshop).
SHOWN = ("protocol", "operation", "user", "auth_method", "outcome", "status", "stopped_at", "reason",
         "bytes_in", "bytes_out", "ms", "client", "source", "at", "unsafe")
SOLVE_SHOWN = ("kind", "exercise", "title", "hints", "at")
BACKLOG_EVENTS = 50          # what a new page starts with
BACKLOG_BYTES = 256 * 1024   # how far back a reconnect looks for what it missed: ~1000 events
POLL_SECONDS = 0.1           # a look at the file costs a read() that usually returns nothing
# An open stream holds a connection (a greenlet of a gevent worker: no request thread, see
# serve/wsgi.py) for as long as it lasts. So a stream ends
# after STREAM_SECONDS, and the browser, told so by `retry`, reconnects RETRY_MS later with
# the Last-Event-ID it saw. A heartbeat every HEARTBEAT_SECONDS makes the stream of a closed
# tab fail at its next writes, freeing its slot, rather than at the end.
STREAM_SECONDS = 120
# Each stream looks at the journal ten times a second: so that no number of open pages can
# starve the API, each worker process serves at most two, and answers any further page 503.
LIVE_STREAMS = threading.BoundedSemaphore(2)
RETRY_MS = 1000
HEARTBEAT_SECONDS = 2


@pages.get("/live")
def live():
    """The live view of every call to the three servers, for projection."""
    calls, window = settings().rate()
    config = {"events": "/live/events", "rest_unsafe": sorted(settings().unsafe), "defences": DEFENCES,
              "flood_per_10s": max(1, calls * 10 // window), "brute_force_per_60s": limits.LOCKOUT_AFTER_FAILURES}
    return render_template("live.html", config=config, outcomes=sorted(events.STOPPED_AT))


@pages.get("/live/events")
def live_events():
    """Server-sent events: the newest journalled calls, then each new one as a server appends it."""
    # Wait a little for a slot: a tab just closed frees its stream at the next heartbeat.
    if not LIVE_STREAMS.acquire(timeout=HEARTBEAT_SECONDS + 1):
        return Response("too many live views are open; try again shortly\n", 503, {"Retry-After": "5"},
                        mimetype="text/plain")
    tail = JournalTail(settings().home)
    since = last_event_id()
    # A reconnecting page asks again for the last moments too (a batch may have landed late);
    # it skips what it has already shown.
    backlog = tail.backlog(since - events.BATCH_SECONDS * 4, None) if since else tail.backlog(0, BACKLOG_EVENTS)

    def stream():
        try:
            yield f"retry: {RETRY_MS}\n\n" + "".join(map(server_sent_event, backlog))
            now = time.monotonic()
            end, heartbeat = now + STREAM_SECONDS, now + HEARTBEAT_SECONDS
            while time.monotonic() < end:
                new = tail.read_new()
                if new:
                    yield "".join(map(server_sent_event, new))
                elif time.monotonic() > heartbeat:
                    yield ": heartbeat\n\n"
                    heartbeat = time.monotonic() + HEARTBEAT_SECONDS
                else:
                    time.sleep(POLL_SECONDS)
        finally:
            tail.close()

    response = Response(stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-store"})
    response.call_on_close(LIVE_STREAMS.release)   # however the stream ends, even before it starts
    return response


def server_sent_event(event: dict) -> str:
    # The id comes back as Last-Event-ID when the browser reconnects: "I have seen up to here".
    return f"id: {event['at']!r}\ndata: {json.dumps(event)}\n\n"


def last_event_id() -> float:
    """Where a reconnecting EventSource left off: the time of the last event it received, or 0."""
    try:
        since = float(request.headers.get("Last-Event-ID", "0"))
    except ValueError:
        return 0.0
    return since if math.isfinite(since) else 0.0


class JournalTail:
    """Follow the journal the way `tail -F` does: from near its end, on through its rotation."""

    def __init__(self, home: Path):
        self.path = home / JOURNAL
        self.file = None
        self.partial = b""  # the start of a line whose end is not written yet

    def backlog(self, since: float, limit: int | None) -> list[dict]:
        """The newest events after `since` (the last `limit` of them); following starts after them."""
        self.file = self._open()
        data = b""
        if self.file:
            self.file.seek(max(0, self.file.seek(0, os.SEEK_END) - BACKLOG_BYTES))
            data = self.file.read()
        older = self.path.with_name(JOURNAL + ".1")
        if len(data) < BACKLOG_BYTES and older.exists():
            with older.open("rb") as file:
                file.seek(max(0, file.seek(0, os.SEEK_END) - (BACKLOG_BYTES - len(data))))
                data = file.read() + data
        found = [event for event in self._parse(data) if event["at"] > since]
        return found[-limit:] if limit else found

    def read_new(self) -> list[dict]:
        """The events appended since the last look."""
        if self.file is None:
            self.file = self._open()  # a journal that appears only now is new from its first line
            if self.file is None:
                return []
        data = self.file.read()
        if self._rotated():
            # A server renamed the full file to events.jsonl.1 and the next call starts a new
            # one: finish the old file (its last lines may have landed since we read), then
            # read the new one from its beginning.
            data += self.file.read()
            self.file.close()
            self.file = self._open()
            data += self.file.read() if self.file else b""
        return self._parse(data)

    def close(self) -> None:
        if self.file:
            self.file.close()

    def _open(self):
        try:
            return self.path.open("rb")
        except FileNotFoundError:
            return None

    def _rotated(self) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(self.file.fileno()).st_ino
        except FileNotFoundError:
            return False  # renamed, and no server has written the next call yet

    def _parse(self, data: bytes) -> list[dict]:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        found = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the cut-off first line of a backlog
            shown = SOLVE_SHOWN if event.get("kind") == "solve" else SHOWN
            found.append({key: event.get(key) for key in shown})
        return found
