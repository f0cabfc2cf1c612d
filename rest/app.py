"""The REST adapter: HTTP and JSON (or XML, or HTML) in front of the core.

Four parts, in the same order as in soap/ and rpc/: the app factory, authentication
glue, one handler per operation, and the error mapping.
"""
import functools
import logging
import re
import time
from dataclasses import asdict
from http import HTTPStatus

from flask import Blueprint, Flask, current_app, g, jsonify, request, url_for
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException, NotAcceptable
from werkzeug.http import parse_accept_header

from core import PlaylistService, events, limits
from core.auth import ApiKey, ClientCertificate, UsernamePassword, credential_from_authorization
from core.errors import (Conflict, FieldViolation, Forbidden, InvalidArgument, NotFound, OAuthError,
                         RateLimited, ServiceError, TooLarge, Unauthenticated, VersionRequired)
from core.model import Playlist

from serve.wsgi import client_certificate_name

from .representations import JSON, OFFERED, render
from .validation import RequestValidator, load_openapi
from .workshop import workshop

log = logging.getLogger("rest")
api = Blueprint("api", __name__)


# --- 1. the app factory ------------------------------------------------------------------

def create_app(service: PlaylistService | None = None) -> Flask:
    app = Flask(__name__)
    # Werkzeug refuses a larger body with 413 before the handler reads it.
    app.config["MAX_CONTENT_LENGTH"] = limits.MAX_BODY_BYTES
    app.json.sort_keys = False
    app.extensions["playlists"] = service or PlaylistService()
    app.extensions["openapi"] = load_openapi()
    app.extensions["validator"] = RequestValidator(app.extensions["openapi"])
    app.register_blueprint(api)
    app.register_blueprint(workshop)
    app.add_url_rule("/openapi.json", "openapi", lambda: jsonify(current_app.extensions["openapi"]))
    app.add_url_rule("/oauth/token", "issue_token", issue_token, methods=["POST"])
    app.register_error_handler(ServiceError, problem_for_service_error)
    app.register_error_handler(HTTPException, problem_for_http_error)
    app.register_error_handler(Exception, problem_for_unexpected_error)
    app.before_request(start_clock)
    app.after_request(vary_on_accept)
    app.after_request(record_call)
    return app


def service() -> PlaylistService:
    return current_app.extensions["playlists"]


# --- 2. authentication glue: lift the credential out of HTTP, hand it to the core ----------

def credential_from_request():
    """X-API-Key, Authorization: Basic or Bearer, or the TLS client certificate."""
    if "X-API-Key" in request.headers:
        return ApiKey(request.headers["X-API-Key"])
    if "Authorization" in request.headers:
        return credential_from_authorization(request.headers["Authorization"])
    common_name = client_certificate_name(request.environ)
    return ClientCertificate(common_name) if common_name else None


@api.before_request
def negotiate_authenticate_validate():
    """The middle of a call's three steps, before any handler runs: who is calling, and is the request valid?"""
    g.media_type = negotiate()
    g.credential = credential_from_request()
    g.identity = service().authenticate(g.credential, request.remote_addr)
    validator = current_app.extensions["validator"]
    operation = request.endpoint.removeprefix("api.")
    validator.path(operation, request.view_args or {})
    g.query = validator.query(operation, request.args)
    g.body = validator.body(operation, request.mimetype, request.get_data()) if request.method in ("POST", "PATCH") \
        else None


def negotiate() -> str:
    chosen = media_type_for(request.headers.get("Accept", ""))
    if chosen is None:
        raise NotAcceptable(f"this API speaks {', '.join(OFFERED)}")
    return chosen


@functools.lru_cache(maxsize=256)
def media_type_for(accept: str) -> str | None:
    """What an Accept header chooses: a client sends the same one on every call, so each is parsed once."""
    accepted = parse_accept_header(accept, MIMEAccept)
    # No Accept header means "anything": JSON. An Accept we cannot meet is a 406.
    if not accepted:
        return JSON
    return accepted.best_match(OFFERED)


def if_match() -> int | None:
    """The version in an If-Match header ("3" or W/"3"); None without one, or for '*' (any version)."""
    value = request.headers.get("If-Match", "").removeprefix("W/").strip('" ')
    if not value or value == "*":
        return None
    if not re.fullmatch(r"[0-9]{1,10}", value):   # str.isdigit() would also take "²"
        raise InvalidArgument(FieldViolation("If-Match", "must be an ETag this server sent"))
    return int(value)


def answer(result, status: int = 200, headers: dict | None = None):
    if isinstance(result, Playlist):
        # The ETag is the version: the client sends it back in If-Match to update safely.
        headers = {"ETag": f'"{result.version}"', **(headers or {})}
    body = render(result, g.media_type, request.endpoint.removeprefix("api."))
    return body, status, {"Content-Type": f"{g.media_type}; charset=utf-8", **(headers or {})}


def vary_on_accept(response):
    response.vary.add("Accept")  # caches must key the answer on Accept: one URL, three formats
    return response


def start_clock():
    g.started = time.perf_counter()


def record_call(response):
    """One call event per API call: the `api` blueprint's, and the app's own routes (the OpenAPI
    document, the token endpoint, a path that matches nothing). Any other blueprint (the
    screen's pages, the workshop's own API) and static files are not calls of the playlist API.

    The hook is Flask's after_request: it runs once per request, after an error handler has
    turned any error into its problem+json, so it sees the status and the body that leave."""
    if request.blueprint not in (None, "api") or request.endpoint == "static":
        return response
    events.record(events.call_event(
        "rest", (request.endpoint or "-").removeprefix("api."), g.get("identity"), g.get("outcome", "ok"),
        str(response.status_code), request.content_length or 0,
        # A streamed body is not counted: measuring it would mean reading it to its end.
        0 if response.is_streamed else response.calculate_content_length() or 0,
        g.get("started", time.perf_counter()), g.get("reason", ""), request.headers.get("User-Agent", ""),
        request.remote_addr or "", credential=g.get("credential")))
    return response


# --- 3. one handler per operation (the names are the OpenAPI operationIds) -------------------

@api.get("/v1/me", endpoint="who_am_i")
def who_am_i():
    return answer(service().who_am_i(g.identity))


@api.get("/v1/moods", endpoint="list_moods")
def list_moods():
    return answer({"items": [asdict(m) for m in service().list_moods(g.identity)]})


@api.get("/v1/tracks", endpoint="search_tracks")
def search_tracks():
    return answer(service().search_tracks(g.identity, **g.query))


@api.get("/v1/tracks/<track_id>", endpoint="get_track")
def get_track(track_id):
    return answer(service().get_track(g.identity, track_id))


@api.post("/v1/playlists", endpoint="create_playlist")
def create_playlist():
    playlist = service().create_playlist(g.identity, **g.body)
    # 201 Created names the new resource in Location: the client can GET it from there.
    return answer(playlist, 201, {"Location": url_for("api.get_playlist", playlist_id=playlist.id)})


@api.post("/v1/playlists:generate", endpoint="generate_playlist")
def generate_playlist():
    playlist = service().generate_playlist(g.identity, **g.body)
    return answer(playlist, 201, {"Location": url_for("api.get_playlist", playlist_id=playlist.id)})


@api.get("/v1/playlists/<playlist_id>", endpoint="get_playlist")
def get_playlist(playlist_id):
    return answer(service().get_playlist(g.identity, playlist_id))


@api.get("/v1/playlists", endpoint="list_playlists")
def list_playlists():
    return answer(service().list_playlists(g.identity, **g.query))


@api.patch("/v1/playlists/<playlist_id>", endpoint="update_playlist")
def update_playlist(playlist_id):
    return answer(service().update_playlist(g.identity, playlist_id, if_match(), **g.body))


@api.post("/v1/playlists/<playlist_id>/tracks", endpoint="add_track")
def add_track(playlist_id):
    return answer(service().add_track(g.identity, playlist_id, expected_version=if_match(), **g.body))


@api.delete("/v1/playlists/<playlist_id>/tracks/<int:position>", endpoint="remove_track")
def remove_track(playlist_id, position):
    return answer(service().remove_track(g.identity, playlist_id, position, if_match()))


@api.delete("/v1/playlists/<playlist_id>", endpoint="delete_playlist")
def delete_playlist(playlist_id):
    service().delete_playlist(g.identity, playlist_id, if_match())
    return "", 204


@api.post("/v1/echo", endpoint="echo")
def echo():
    received = service().echo(g.identity, "rest", f"{request.method} {request.path}", list(request.headers.items()),
                              request.get_data(as_text=True), g.credential)
    return answer(received)


def issue_token():
    """RFC 6749 §4.4: the client authenticates with HTTP Basic or with form fields."""
    basic = credential_from_authorization(request.headers.get("Authorization", ""))
    form = request.form
    client_id, secret = ((basic.username, basic.password) if isinstance(basic, UsernamePassword)
                         else (form.get("client_id", ""), form.get("client_secret", "")))
    token = service().issue_token(form.get("grant_type", ""), client_id, secret, form.get("scope", ""),
                                  request.remote_addr)
    # Tokens are credentials: no cache may keep them (RFC 6749 §5.1).
    return jsonify(token), 200, {"Cache-Control": "no-store", "Pragma": "no-cache"}


# --- 4. error mapping: one core error, one HTTP status, always RFC 9457 problem+json ---------

# A missing version is 428 Precondition Required (RFC 6585): the update must be conditional.
STATUS = {InvalidArgument: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404,
          TooLarge: 413, Conflict: 412, VersionRequired: 428, RateLimited: 429}


def problem(status: int, title: str, detail: str, headers: dict | None = None, **extra):
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    response.content_type = "application/problem+json"
    return response


def problem_for_service_error(error: ServiceError):
    g.outcome, g.reason = error.kind, error.message
    if isinstance(error, OAuthError):
        # The token endpoint answers in RFC 6749 §5.2's own format, not problem+json.
        status = 401 if error.code == "invalid_client" else 400
        headers = {"WWW-Authenticate": 'Basic realm="playlists"'} if status == 401 else {}
        return jsonify(error=error.code, error_description=error.message), status, {"Cache-Control": "no-store", **headers}
    status = STATUS[type(error)]
    headers, extra = {}, {}
    if isinstance(error, InvalidArgument):
        extra["errors"] = [{"field": v.field, "detail": v.description} for v in error.violations]
    if isinstance(error, Unauthenticated):
        # 401 must say how to authenticate (RFC 9110 §11.6.1).
        headers["WWW-Authenticate"] = 'Basic realm="playlists", Bearer realm="playlists"'
    if isinstance(error, RateLimited):
        # Retry-After (RFC 9110) says when; the RateLimit fields (IETF draft) say which budget.
        headers["Retry-After"] = str(error.retry_after)
        if error.limit:
            headers.update({"RateLimit-Policy": error.limit, "RateLimit-Remaining": "0",
                            "RateLimit-Reset": str(error.retry_after)})
        extra["retry_after"] = error.retry_after
    if isinstance(error, Conflict):
        headers["ETag"] = f'"{error.current_version}"'
    return problem(status, HTTPStatus(status).phrase, error.message, headers, **extra)


def problem_for_http_error(error: HTTPException):
    # Keep the headers Werkzeug chose (Allow on a 405, for one).
    g.outcome = {404: "not_found", 413: "too_large"}.get(error.code, "invalid_argument")
    g.reason = error.name
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    detail = error.description if error.code != 404 else "no such endpoint; see /openapi.json"
    return problem(error.code, error.name, detail, headers)


def problem_for_unexpected_error(error: Exception):
    g.outcome, g.reason = "internal", type(error).__name__
    log.exception("unexpected error")  # the trace goes to the log, never to the client
    return problem(500, "Internal Server Error", "something went wrong on our side")
