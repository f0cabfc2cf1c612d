"""The workshop's screen: a landing page, the three contracts as readable pages, the live view.

These pages are public (the `api` blueprint authenticates /v1 only). Every script, style
and icon comes from this server, and the Content-Security-Policy header has the browser
refuse any request to another origin, so a page never reaches outside the machine.
"""
import itertools
import json
import os
import textwrap
import threading
import time
from collections import Counter, deque
from pathlib import Path

import flask_swagger_ui
from flask import (Blueprint, Response, current_app, jsonify, make_response, render_template, request, send_file,
                   send_from_directory, url_for)
from google.protobuf import descriptor_pb2
from lxml import etree
from markdown_it import MarkdownIt
from markupsafe import Markup

from core import classroom, config, events, limits
from core.config import DEFENCES, grpc_address, soap_url
from serve import lifecycle

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
        return render_template("landing.html", links=links, classroom=settings().classroom)
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
    return render_template("docs_grpc.html", files=ours, address=grpc_address(), kinds=KIND_MEANINGS)


RPC_KINDS = {(False, False): "unary", (False, True): "server streaming", (True, False): "client streaming",
             (True, True): "bidirectional streaming"}
# What each kind means on the wire: every RPC is one HTTP/2 stream, whatever its kind.
KIND_MEANINGS = {
    "unary": "one request message, one response message: the shape of a REST or SOAP call.",
    "server streaming": "one request, then as many response messages as the server sends, each when it is "
                        "ready, until the status in the trailers ends the call.",
    "client streaming": "as many request messages as the client sends, then one response.",
    "bidirectional streaming": "both sides send messages when they like, on the same HTTP/2 stream, each "
                               "independent of the other, until both are done.",
}
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
                 "methods": [{"name": m.name, "path": f"/{file.package}.{service.name}/{m.name}",
                              "input": m.input_type.lstrip("."), "output": m.output_type.lstrip("."),
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
        # The command for the servers as this one knows them: its own address, and the others' public ones.
        command = (f".venv/bin/python -m clients.compare all --rest {request.host_url.rstrip('/')} "
                   f"--soap {soap_url()} --grpc {grpc_address()}")
        return render_template("compare_missing.html", command=command)
    response = send_file(report, mimetype="text/html", max_age=0)
    response.headers["Content-Security-Policy"] = COMPARE_CSP
    return response


# --- the live view ---------------------------------------------------------------------------
# Every server appends one JSON line per call to $PLAYLISTS_HOME/events.jsonl (core/events.py).
# /live/events passes each new line to the browser as a server-sent event: one long HTTP
# response the server keeps writing to, so a call appears within a tenth of a second, with no
# page asking again and again as polling would. One follower of the journal per worker process
# (the Hub) reads each line once, however many pages watch, and keeps the counters: every tab,
# and every reload, shows the same numbers, worked out from the same file.

JOURNAL, ROTATED = events.JOURNAL, events.ROTATED
# Only these fields ever leave the server: a call's, or a workshop solve's (python -m workshop).
SHOWN = ("protocol", "operation", "user", "claimed", "auth_method", "outcome", "status", "stopped_at", "reason",
         "bytes_in", "bytes_out", "ms", "client", "source", "at", "unsafe")
SOLVE_SHOWN = ("kind", "exercise", "title", "hints", "at")
BACKLOG_EVENTS = 50          # what a new page starts with
KEPT_EVENTS = 2000           # what a page that reconnects can catch up on
POLL_SECONDS = 0.1           # a look at the file costs a read() that usually returns nothing
STATE_SECONDS = 1.0          # how often the counters go out; they double as the stream's heartbeat
READY_SECONDS = 5            # the longest a first page waits for the hub's first read of the journal
CATCH_UP_SECONDS = 3 * POLL_SECONDS
FLOOD_SECONDS, LOGINS_SECONDS = 10, 60
# A viewer is one open response: a greenlet of a gevent worker waiting for the hub's next line,
# never a request thread. Past VIEWERS per worker process a page is told at once that the limit
# is reached, rather than queue.
VIEWERS = 20
# A stream ends on schedule and the page resumes at once where it left off (the `rollover`
# event, then a new request naming the last event it saw): no stream outlives a worker that
# gunicorn recycles or a proxy's idle timer, and the resume path runs every few minutes, not
# only on the day something breaks. PLAYLISTS_LIVE_STREAM_SECONDS shortens it for a test.
STREAM_SECONDS = float(os.environ.get("PLAYLISTS_LIVE_STREAM_SECONDS", "120"))


def may_watch() -> bool:
    """In class mode the live view shows every seat's calls: only the trainer's link opens it."""
    return not settings().classroom or classroom.may_watch(settings().home, request.args.get("key", ""))


def not_for_everyone():
    return render_template("locked.html"), 401


@pages.get("/live")
def live():
    """The live view of every call to the three servers, for projection."""
    if not may_watch():
        return not_for_everyone()
    # In class mode the key travels on to the stream: an EventSource sends no header of ours.
    events_url = url_for("pages.live_events", key=request.args["key"]) if settings().classroom else "/live/events"
    return render_template("live.html", config={"events": events_url, "defences": DEFENCES},
                           outcomes=sorted(events.STOPPED_AT))


@pages.get("/live/events")
def live_events():
    """Server-sent events: the counters, the newest journalled calls, then each new one as a server appends it."""
    if not may_watch():
        return not_for_everyone()
    hub = Hub.of(settings())
    if not hub.admit():
        # An EventSource cannot read the body of a 503, so the refusal is an event it can show.
        return Response(f"event: full\ndata: {json.dumps({'viewers': VIEWERS})}\n\n",
                        mimetype="text/event-stream", headers={"Cache-Control": "no-store"})
    after = request.args.get("after") or request.headers.get("Last-Event-ID", "")
    response = Response(hub.stream(after), mimetype="text/event-stream", headers={"Cache-Control": "no-store"})
    response.call_on_close(hub.leave)   # however the stream ends, even before it starts
    return response


def server_sent_event(position: str, event: dict) -> str:
    # The id comes back as Last-Event-ID (or ?after=) when the page reconnects: "I have seen up to here".
    return f"id: {position}\ndata: {json.dumps(event)}\n\n"


class Hub:
    """The journal followed once per worker process, with the recent calls and the counters."""

    hubs: dict = {}
    hubs_lock = threading.Lock()

    @classmethod
    def of(cls, settings) -> "Hub":
        with cls.hubs_lock:
            if settings.home not in cls.hubs:
                cls.hubs[settings.home] = cls(settings)
            return cls.hubs[settings.home]

    def __init__(self, settings):
        self.tail = JournalTail(settings.home)
        self.changed = threading.Condition()
        self.recent = deque(maxlen=KEPT_EVENTS)   # (position, event), in the journal's order
        self.counts = Counts(settings)
        self.state = self.counts.state()
        self.viewers = 0
        self.started = False
        self.ready = threading.Event()   # set once the journal as it stood has been read

    def admit(self) -> bool:
        with self.changed:
            if self.viewers >= VIEWERS:
                return False
            self.viewers += 1
            if not self.started:
                self.started = True
                threading.Thread(target=self.follow, name="live-hub", daemon=True).start()
            return True

    def leave(self) -> None:
        with self.changed:
            self.viewers -= 1

    def follow(self) -> None:
        """Read what the servers append, ten times a second; wake every stream when there is news."""
        next_state = 0.0
        while not lifecycle.STOPPING.is_set():
            new = self.tail.read_new()
            now = time.time()
            with self.changed:
                for position, event in new:
                    self.recent.append((position, event))
                    self.counts.add(position, event)
                state_due = now >= next_state
                if state_due:
                    self.state, next_state = self.counts.state(), now + STATE_SECONDS
                if new or state_due:
                    self.changed.notify_all()
            self.ready.set()
            lifecycle.STOPPING.wait(POLL_SECONDS)
        with self.changed:
            self.changed.notify_all()

    def stream(self, after: str):
        """One page's stream: where it left off (or the last few calls), then each new call."""
        self.ready.wait(READY_SECONDS)
        with self.changed:
            # The page may come from another worker process whose follower read the last line
            # first: give this one a moment to catch up before taking `after` for a lost position.
            self.changed.wait_for(lambda: not after or any(after == position for position, _ in self.recent),
                                  timeout=CATCH_UP_SECONDS)
            kept = list(self.recent)
        positions = [position for position, _ in kept]
        start = positions.index(after) + 1 if after in positions else max(0, len(kept) - BACKLOG_EVENTS)
        seen = kept[-1][0] if kept else ""
        state = self.state
        yield self._state(state) + "".join(server_sent_event(*item) for item in kept[start:])
        end = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < end:
            with self.changed:
                self.changed.wait(STATE_SECONDS)
                if lifecycle.STOPPING.is_set():
                    break
                kept = list(self.recent)
            new = list(itertools.takewhile(lambda item: item[0] != seen, reversed(kept)))[::-1]
            if new:
                seen = new[-1][0]
            chunk = "".join(server_sent_event(*item) for item in new)
            if self.state is not state:   # once a second: a closed tab's stream fails at this write
                state = self.state
                chunk += self._state(state)
            if chunk:
                yield chunk
        # Planned or not, the page is told why the stream ends: a rollover, it resumes at once;
        # a server that stops, it says so and comes back when the server does.
        yield "event: stopped\ndata: {}\n\n" if lifecycle.STOPPING.is_set() else "event: rollover\ndata: {}\n\n"

    @staticmethod
    def _state(state: dict) -> str:
        return f"event: state\ndata: {json.dumps(state)}\n\n"


class Window:
    """How many times each key was seen in the last `seconds`: a queue, oldest first, and a count
    per key that grows as events arrive and shrinks as they age out."""

    def __init__(self, seconds: float):
        self.seconds, self.seen, self.counts = seconds, deque(), Counter()

    def add(self, at: float, key: str) -> None:
        self.seen.append((at, key))
        self.counts[key] += 1

    def top(self, now: float, n: int = 3) -> list:
        while self.seen and self.seen[0][0] < now - self.seconds:
            key = self.seen.popleft()[1]
            self.counts[key] -= 1
            if not self.counts[key]:
                del self.counts[key]
        return self.counts.most_common(n)


def caller(event: dict) -> str:
    """A user once the server knew them; before that, the client's name for itself (its User-Agent's
    product, "python-requests" of "python-requests/2.32.3")."""
    return event["user"] or f"anonymous · {(event['client'] or '').split('/')[0] or 'unknown client'}"


class Counts:
    """What the live view's counters say, from the journal's files as they are now."""

    TOTALS = ("total", "ok", "refused", "failed", "rest", "soap", "grpc")

    def __init__(self, settings):
        self.home = settings.home
        calls, window = settings.rate()
        self.limits = {"flood": max(1, calls * FLOOD_SECONDS // window), "user": limits.LOCKOUT_AFTER_FAILURES,
                       "source": limits.SOURCE_LOCKOUT_AFTER_FAILURES}
        self.per_file = {}   # inode -> Counter: a rotation drops the oldest file's calls from the totals
        self.flood, self.logins = Window(FLOOD_SECONDS), Window(LOGINS_SECONDS)
        # The defences each server has switched off: REST's from its own settings (this is the
        # REST server), the others' from their latest call.
        self.unsafe = {"rest": ",".join(sorted(settings.unsafe))}
        self.solves = deque(maxlen=5)

    def add(self, position: str, event: dict) -> None:
        if event.get("kind") == "solve":
            self.solves.append(event)
            return
        totals = self.per_file.setdefault(position.split("-")[0], Counter())
        totals["total"] += 1
        totals[{0: "ok", 2: "refused"}.get(event["stopped_at"], "failed")] += 1
        totals[event["protocol"]] += 1
        self.flood.add(event["at"], caller(event))
        if event["outcome"] == "unauthenticated":
            # A failed login counts against the user it claimed to be, and against its address:
            # the two keys a lockout counts by (core/auth.py).
            if event.get("claimed"):
                self.logins.add(event["at"], f"user {event['claimed']}")
            self.logins.add(event["at"], f"from {event['source'] or 'an unknown address'}")
        if event["protocol"] != "rest":
            self.unsafe[event["protocol"]] = event["unsafe"] or ""

    def state(self) -> dict:
        present = {str(inode) for inode in map(inode_of, (self.home / JOURNAL, self.home / ROTATED)) if inode}
        for gone in set(self.per_file) - present:
            del self.per_file[gone]
        totals = sum(self.per_file.values(), Counter())
        now = time.time()
        logins = [(who, n, self.limits["user" if who.startswith("user ") else "source"])
                  for who, n in self.logins.top(now)]
        return {"totals": {name: totals[name] for name in self.TOTALS},
                "flood": [(who, n, self.limits["flood"]) for who, n in self.flood.top(now)], "logins": logins,
                "unsafe": self.unsafe.copy(), "solves": list(self.solves)}


def inode_of(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


class JournalTail:
    """Follow the journal the way `tail -F` does, from its first kept line, on through its rotation.

    Each event comes with its position, "<inode>-<offset of its end>": the same line has the
    same position in every process, so a page may resume on another worker than the one it left."""

    def __init__(self, home: Path):
        self.path = home / JOURNAL
        older = home / ROTATED
        self.file = self._open(older) if older.exists() else None
        self.offset = 0
        self.partial = b""  # the start of a line whose end is not written yet

    def read_new(self) -> list[tuple[str, dict]]:
        """The events appended since the last look."""
        found = []
        while True:
            if self.file is None:
                self.file = self._open(self.path)   # a journal that appears only now is new from its first line
                if self.file is None:
                    return found
            found += self._parse(self.file.read())
            if self._is_current():
                return found
            # Either the older file, read to its end, or one a server has just renamed to
            # events.jsonl.1: its last lines may have landed since the read above.
            found += self._parse(self.file.read())
            self.file.close()
            self.file, self.offset, self.partial = None, 0, b""

    def close(self) -> None:
        if self.file:
            self.file.close()

    def _open(self, path: Path):
        try:
            return path.open("rb")
        except FileNotFoundError:
            return None

    def _is_current(self) -> bool:
        current = inode_of(self.path)
        if self.file.name != str(self.path):
            return False   # the older file, read to its end: on to the current one
        # None: renamed, and no server has written the next call yet.
        return current is None or current == os.fstat(self.file.fileno()).st_ino

    def _parse(self, data: bytes) -> list[tuple[str, dict]]:
        inode = os.fstat(self.file.fileno()).st_ino
        found = []
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            self.offset += len(line) + 1
            try:
                event = json.loads(line)
            except ValueError:
                continue
            shown = SOLVE_SHOWN if event.get("kind") == "solve" else SHOWN
            found.append((f"{inode}-{self.offset}", {key: event.get(key) for key in shown}))
        return found
