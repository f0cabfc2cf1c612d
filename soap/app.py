"""The SOAP adapter: SOAP 1.1 envelopes, described by a WSDL, in front of the core.

Four parts, in the same order as in rest/ and rpc/: the app factory, authentication
glue, one handler per operation, and the error mapping. The XML Schema the handlers
speak is in types.py; guard.py refuses hostile input before Spyne parses anything.
"""
import logging
import math
import re

import spyne.const
from lxml import etree
from spyne import Application, Array, Fault, Integer, Service, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.protocol.xml import SchemaValidationError
from spyne.server.wsgi import WsgiApplication

from core import PlaylistService, config
from core.auth import ApiKey, BearerToken, Caller, ClientCertificate, UsernamePassword
from core.errors import (Conflict, FieldViolation, Forbidden, InvalidArgument, NotFound, RateLimited, ServiceError,
                         TooLarge, Unauthenticated, VersionRequired, at_least_characters, at_most_characters,
                         integer_between)
from serve.wsgi import client_certificate_name

from .guard import CALL, Guard
from .types import (TNS, AccessTokenHeader, ApiKeyHeader, Minutes, MoodArray, MoodName, Name, PageSize, PageToken,
                    Playlist, PlaylistArray, PlaylistId, Position, Query, Received, Track, TrackArray, TrackId,
                    TrackIds, User, Version, optional, required)

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XSD = "http://www.w3.org/2001/XMLSchema"
SCHEMA_ORDER = ["import", "simpleType", "complexType", "element"]
PASSWORD_TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"

# The headers this service understands: a header outside this list that is marked
# mustUnderstand="1" fails the call (see guard.py).
UNDERSTOOD_HEADERS = (f"{{{TNS}}}ApiKey", f"{{{TNS}}}AccessToken", f"{{{WSSE}}}Security")

# Spyne chats at INFO, and logs every client Fault as an ERROR with a traceback: a bad
# request is no server error. A server error still reaches "spyne.application.server".
logging.getLogger("spyne").setLevel(logging.WARNING)
logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)

# Spyne runs a full gc.collect() after a call, at most once a second per process, to close
# uploaded files promptly (we take none). With Spyne and lxml loaded it lasts 30-100 ms and
# holds the GIL: every call in that worker waits, and it sets SOAP's p99. Python's own
# generational collector still runs.
spyne.const.MIN_GC_INTERVAL = math.inf


# --- 1. the app factory ------------------------------------------------------------------

def create_app(service: PlaylistService | None = None, public_url: str | None = None) -> Guard:
    """The WSGI app: the guard, then Spyne. The WSDL names `public_url` as the address."""
    service = service or PlaylistService()
    soap = soap_application(service, public_url or config.soap_url())
    return Guard(soap, readable_wsdl(soap), UNDERSTOOD_HEADERS, service.refused_unread)


def soap_application(service: PlaylistService | None, public_url: str) -> WsgiApplication:
    app = Application([Playlists], TNS, name="Playlists", config=service,
                      in_protocol=Soap11InWords(validator="lxml"), out_protocol=Soap11())
    soap = WsgiApplication(app)
    # Left alone, Spyne writes into the WSDL the Host header of the first ?wsdl request it
    # sees, and keeps it: one forged Host would send every later client elsewhere.
    soap.doc.wsdl11.build_interface_document(public_url)
    soap.event_manager.add_listener("wsgi_return", note_call)
    soap.event_manager.add_listener("wsgi_exception", note_call)
    return soap


def readable_wsdl(soap: WsgiApplication) -> bytes:
    """Spyne's WSDL, indented and in a fixed order: the contract is read by people and
    diffed in git. (Spyne declares the schema's types in an order that changes from one
    process to the next; the order of declarations means nothing to XML Schema.)"""
    document = etree.fromstring(soap.doc.wsdl11.get_interface_document())
    for schema in document.iter(f"{{{XSD}}}schema"):
        schema[:] = sorted(schema, key=lambda node: (SCHEMA_ORDER.index(etree.QName(node).localname),
                                                     node.get("name", "")))
    return etree.tostring(document, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def wsdl_document(public_url: str) -> bytes:
    """The WSDL, byte for byte as a server started with this public URL serves it."""
    return readable_wsdl(soap_application(None, public_url))


def service(ctx) -> PlaylistService:
    """The core service this application was built around."""
    return ctx.app.config


def note_call(ctx) -> None:
    """Tell the guard, which records the call event, what Spyne learnt: operation, caller, fault.
    Spyne's wsgi_return and wsgi_exception events fire once a call, answered or failed."""
    call = ctx.transport.req_env[CALL]
    call.operation = CORE_OPERATIONS.get(ctx.method_request_string, "-")
    if ctx.udc is not None:
        call.identity = ctx.udc.identity
    else:
        call.credential = credential_from_envelope(ctx)
    fault = ctx.out_error or ctx.in_error
    if fault is not None:
        reason = fault.faultstring  # Spyne's schema errors carry theirs as bytes
        call.reason = (reason.decode() if isinstance(reason, bytes) else reason)[:120]
        call.status = fault.faultcode
        call.outcome = OUTCOMES.get(fault.faultcode) or ("invalid_argument" if fault.faultcode.startswith("Client")
                                                         else "internal")


# --- 2. authentication glue: lift the credential out of the envelope, hand it to the core ---

def authenticate(ctx) -> Caller:
    credential = credential_from_envelope(ctx)
    return Caller(service(ctx).authenticate(credential, ctx.transport.req_env.get("REMOTE_ADDR", "")), credential)


def credential_from_envelope(ctx):
    """<ApiKey>, <AccessToken>, a WS-Security UsernameToken, or the TLS client certificate."""
    # Read from the header elements as they came (headers are not schema-validated): so a
    # caller is known even when the schema refuses the body.
    headers = ctx.in_header_doc or ()
    api_key, access_token = (next((h.text for h in headers if h.tag == f"{{{TNS}}}{name}"), None)
                             for name in ("ApiKey", "AccessToken"))
    if api_key:
        return ApiKey(api_key)
    if access_token:
        return BearerToken(access_token)
    token = username_token(headers)
    if token is not None:
        return token
    common_name = client_certificate_name(ctx.transport.req_env)
    return ClientCertificate(common_name) if common_name else None


def username_token(headers) -> UsernamePassword | None:
    """<wsse:Security><wsse:UsernameToken> with a PasswordText password, read with lxml."""
    # Spyne knows no WS-Security. A PasswordDigest cannot be checked against the slow
    # one-way hashes the core keeps, so here it proves nothing.
    names = {"wsse": WSSE}
    for header in headers:
        if header.tag == f"{{{WSSE}}}Security":
            username = header.findtext("wsse:UsernameToken/wsse:Username", namespaces=names)
            password = header.find("wsse:UsernameToken/wsse:Password", namespaces=names)
            if username and password is not None and password.get("Type", PASSWORD_TEXT) == PASSWORD_TEXT:
                return UsernamePassword(username, password.text or "")
    return None


def http_headers(environ) -> list[tuple[str, str]]:
    """The HTTP headers of the request, from the WSGI environ (HTTP_SOAPACTION -> Soapaction)."""
    plain = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
    return [(plain.get(key) or key[5:].replace("_", "-").title(), value)
            for key, value in environ.items() if key in plain or key.startswith("HTTP_")]


# --- 3. one handler per operation (the names are the WSDL's operations) ----------------------

class Playlists(Service):
    """The playlist service: every operation of the contract, one core call each."""
    # Declared on every operation's input as soap:header, so generated clients can send them.
    __in_header__ = (ApiKeyHeader, AccessTokenHeader)

    @classmethod
    def call_wrapper(cls, ctx, args=None):
        """Authenticate, then run the handler; a core error leaves as its Fault (part 4)."""
        try:
            ctx.udc = authenticate(ctx)
            return super().call_wrapper(ctx, args)
        except ServiceError as error:
            raise fault_for(error) from None

    @rpc(_returns=required(User), _out_variable_name="user")
    def WhoAmI(ctx):
        """Who the credential in this envelope belongs to, and what it may do."""
        return service(ctx).who_am_i(ctx.udc.identity)

    @rpc(_returns=required(MoodArray), _out_variable_name="items")
    def ListMoods(ctx):
        """The moods the catalog knows."""
        return service(ctx).list_moods(ctx.udc.identity)

    @rpc(optional(MoodName), optional(Query), optional(Query), optional(Query), optional(PageSize), optional(PageToken),
         _returns=(required(TrackArray), required(Unicode)), _out_variable_names=("items", "next_page_token"))
    def SearchTracks(ctx, mood, composer, era, text, page_size, page_token):
        """Search the catalog; an empty next_page_token means the last page."""
        page = service(ctx).search_tracks(ctx.udc.identity, mood or "", composer or "", era or "", text or "",
                                          page_size, page_token or "")
        return page.items, page.next_page_token

    @rpc(required(TrackId), _returns=required(Track), _out_variable_name="track")
    def GetTrack(ctx, track_id):
        """One track of the catalog."""
        return service(ctx).get_track(ctx.udc.identity, track_id)

    @rpc(required(Name), optional(MoodName), optional(TrackIds), _returns=required(Playlist),
         _out_variable_name="playlist")
    def CreatePlaylist(ctx, name, mood, track_ids):
        """A new playlist of the caller's."""
        return service(ctx).create_playlist(ctx.udc.identity, name, mood or "", track_ids or [])

    @rpc(required(MoodName), required(Minutes), optional(Name),
         _returns=required(Playlist), _out_variable_name="playlist")
    def GeneratePlaylist(ctx, mood, duration_minutes, name):
        """A new playlist of a mood's tracks, within 10% of duration_minutes."""
        return service(ctx).generate_playlist(ctx.udc.identity, mood, duration_minutes, name or "")

    @rpc(required(PlaylistId), _returns=required(Playlist), _out_variable_name="playlist")
    def GetPlaylist(ctx, playlist_id):
        """One playlist of the caller's (another user's is NotFound, like a missing one)."""
        return service(ctx).get_playlist(ctx.udc.identity, playlist_id)

    @rpc(optional(PageSize), optional(PageToken), _returns=(required(PlaylistArray), required(Unicode)),
         _out_variable_names=("items", "next_page_token"))
    def ListPlaylists(ctx, page_size, page_token):
        """The caller's playlists, oldest first; an empty next_page_token means the last page."""
        page = service(ctx).list_playlists(ctx.udc.identity, page_size, page_token or "")
        return page.items, page.next_page_token

    @rpc(required(PlaylistId), optional(Version), optional(Name), optional(MoodName), optional(TrackIds),
         _returns=required(Playlist), _out_variable_name="playlist")
    def UpdatePlaylist(ctx, playlist_id, version, name, mood, track_ids):
        """Change the name, mood or tracks (the fields sent) of version `version`; none: Client.VersionRequired."""
        return service(ctx).update_playlist(ctx.udc.identity, playlist_id, version, name, mood, track_ids)

    @rpc(required(PlaylistId), required(TrackId), optional(Position), optional(Version), _returns=required(Playlist),
         _out_variable_name="playlist")
    def AddTrack(ctx, playlist_id, track_id, position, version):
        """Insert a track at a 1-based position; 0 or none appends it."""
        return service(ctx).add_track(ctx.udc.identity, playlist_id, track_id, position or 0, version)

    @rpc(required(PlaylistId), required(Position), optional(Version), _returns=required(Playlist),
         _out_variable_name="playlist")
    def RemoveTrack(ctx, playlist_id, position, version):
        """Remove the track at a 1-based position."""
        return service(ctx).remove_track(ctx.udc.identity, playlist_id, position, version)

    @rpc(required(PlaylistId), optional(Version))
    def DeletePlaylist(ctx, playlist_id, version):
        """Delete a playlist of the caller's; the answer is empty."""
        service(ctx).delete_playlist(ctx.udc.identity, playlist_id, version)

    @rpc(optional(Unicode), _returns=required(Received), _out_variable_name="received")
    def Echo(ctx, message):
        """What the server received: HTTP headers and the raw envelope, credentials redacted."""
        environ = ctx.transport.req_env
        return service(ctx).echo(ctx.udc.identity, "soap", "Echo", http_headers(environ), environ[CALL].text,
                                 ctx.udc.credential)


CORE_OPERATIONS = {f"{{{TNS}}}{name}": re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()
                   for name in Playlists.public_methods}


# --- 4. error mapping: one core error, one SOAP 1.1 Fault ------------------------------------
# A faultcode says whose fault it is: "Client" (the message was wrong; sent again unchanged
# it fails again) or "Server", refined after a dot. SOAP 1.1 §6.2: every Fault travels with
# HTTP 500 and text/xml; Spyne's Soap11 does it, and the guard does it for its own.

FAULTS = {
    InvalidArgument: ("Client.InvalidArgument", lambda e: {"violations": {"violation": [
        {"field": v.field, "description": v.description} for v in e.violations]}}),
    Unauthenticated: ("Client.Unauthenticated", None),
    Forbidden: ("Client.Forbidden", None),
    NotFound: ("Client.NotFound", None),
    Conflict: ("Client.Conflict", lambda e: {"current_version": e.current_version}),
    VersionRequired: ("Client.VersionRequired", None),
    RateLimited: ("Client.RateLimited", lambda e: {"retry_after": e.retry_after}),
    TooLarge: ("Client.TooLarge", lambda e: {"limit": e.limit}),
}
# Anything else a handler raises becomes Spyne's Fault("Server", "Internal Error"): the
# traceback goes to the "spyne.application.server" log, never to the client.

OUTCOMES = {code: error.kind for error, (code, _) in FAULTS.items()}


def fault_for(error: ServiceError, code: str | None = None) -> Fault:
    """The error's Fault; `code` names it more closely where the table's code is too broad."""
    table_code, detail = FAULTS[type(error)]
    return Fault(code or table_code, error.message, detail=detail(error) if detail else None)


# The schema's own errors (libxml2's) quote the value they refuse: a card number typed into
# <position> would travel on in the fault, the logs and the live view. They are answered in
# words instead: the field, and the whole rule it breaks, the way REST and gRPC say it.

ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']{1,40})")
EXPECTED = re.compile(r"Expected is (?:one of )?\( (?:\{[^}]*\})?([^ ,)]{1,40})")


class Soap11InWords(Soap11):
    """Spyne's SOAP 1.1, whose schema errors name each field and its rule, never its value."""

    def validate_body(self, ctx, message):
        try:
            super().validate_body(ctx, message)
        except SchemaValidationError:
            error = InvalidArgument(*dict.fromkeys(map(in_words, self.validation_schema.error_log)))
            # Spyne validates before any operation runs, so the credential has not been read
            # yet: read it now, so that the mistake is recorded as its caller's, and one
            # without a valid credential counts against its address's rate limit.
            try:
                ctx.udc = authenticate(ctx)
            except Unauthenticated:
                pass
            except ServiceError as refused:
                raise fault_for(refused) from None
            raise fault_for(error, "Client.SchemaValidationError") from None


def in_words(entry) -> FieldViolation:
    """One libxml2 schema error as field + rule."""
    message = entry.message
    name = (ELEMENT.match(message) or [None, "body"])[1]
    expected = EXPECTED.search(message)
    if "Missing child element" in message and expected:
        return FieldViolation(expected[1], "is required")
    if "This element is not expected" in message:
        return FieldViolation(name, f"at most {MOST[name]} allowed" if name in MOST else
                              "is not expected here" if name in FIELDS else "is not a known field")
    return FieldViolation(name, rule(FIELDS[name], message) if name in FIELDS else "breaks the schema")


def rule(model, message: str) -> str:
    """What a simple type of soap/types.py accepts, in the words of the core and of REST."""
    attributes = model.Attributes
    if issubclass(model, Integer):
        low, high = attributes.ge, attributes.le
        return (integer_between(low, high) if math.isfinite(high) else
                f"must be an integer of at least {low}" if math.isfinite(low) else "must be an integer")
    if "[facet 'minLength']" in message:
        return "must not be empty" if attributes.min_len == 1 else at_least_characters(attributes.min_len)
    return at_most_characters(attributes.max_len) if math.isfinite(attributes.max_len) else "must be text"


def request_fields(servicer) -> tuple[dict, dict]:
    """Each request field's simple type, and the most times an array's member may repeat."""
    fields, most = {}, {}
    for method in servicer.public_methods.values():
        for name, model in method.in_message._type_info.items():
            if issubclass(model, Array):
                (member, item), = model._type_info.items()
                fields[member], most[member] = item, item.Attributes.max_occurs
            elif issubclass(model, (Integer, Unicode)):
                fields[name] = model
    return fields, most


FIELDS, MOST = request_fields(Playlists)
