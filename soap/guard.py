"""The guard: a small WSGI middleware in front of Spyne.

It answers, itself and quickly, every request that is no SOAP 1.1 message for this
service: a wrong path or method, an empty or oversized body, XML that does not parse,
a DTD (and with it every entity trick), a header that must be understood but is not.
Spyne only ever sees a bounded, well-formed envelope.

The guard is also where a SOAP call's event is recorded: it wraps Spyne, so it sees every
answer, its own refusals included (Spyne never sees those), once. What only Spyne learns
(the operation, the caller, the fault) reaches it through the WSGI environ (see
soap/app.py's `note_call`).
"""
import codecs
import io
import logging
import re
import time
from dataclasses import dataclass

from lxml import etree

from core import limits
from core.auth import Identity
from core.errors import RateLimited
from core.events import call_event, record

log = logging.getLogger("soap")

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MUST_UNDERSTAND = f"{{{SOAP_ENV}}}mustUnderstand"
CALL = "playlists.call"  # the WSGI environ key under which a call's Call travels
# SOAP 1.1 §6.2: a Fault travels with HTTP 500, so that a client that reads nothing
# but the status line still knows the call failed; the body says why.
FAULT_STATUS = "500 Internal Server Error"
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# The two encodings every XML processor must read (XML 1.0 §4.3.3), and the only ones read here.
ENCODINGS = ("utf-8", "utf-16", "utf-16-le", "utf-16-be")
DECLARATION = re.compile(r"<\?xml[ \t\r\n][^>]*?\?>")
DECLARED = re.compile(r"""encoding\s*=\s*["']([^"']*)["']""")
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass
class Call:
    """What is learnt about one call while it is answered, for its call event."""
    body: bytes = b""
    text: str = ""
    bytes_in: int = 0
    operation: str = "-"
    identity: Identity | None = None
    outcome: str = "ok"
    status: str = "200"
    reason: str = ""
    credential: object = None   # what a caller the core refused presented


class Refused(Exception):
    """A request the guard answers itself, with a fault."""

    def __init__(self, code: str, message: str, outcome: str = "invalid_argument", detail: dict | None = None,
                 http_status: str = FAULT_STATUS, headers: tuple = ()):
        super().__init__(message)
        self.code, self.message, self.outcome, self.detail = code, message, outcome, detail
        self.http_status, self.headers = http_status, list(headers)


def too_large() -> Refused:
    return Refused("Client.TooLarge", f"body over {limits.MAX_BODY_BYTES} bytes", "too_large",
                   {"limit": limits.MAX_BODY_BYTES})


def fault_envelope(code: str, message: str, detail: dict | None = None) -> bytes:
    """A SOAP 1.1 Fault, shaped like the ones Spyne sends."""
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap11env": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap11env:{code}"
    etree.SubElement(fault, "faultstring").text = message
    if detail:
        entries = etree.SubElement(fault, "detail")
        for name, value in detail.items():
            etree.SubElement(entries, name).text = str(value)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def known_encoding(name: str) -> str:
    """Python's name for a charset this service reads; Refused for any other."""
    try:
        encoding = codecs.lookup(name).name
    except LookupError:
        encoding = None
    if encoding not in ENCODINGS:
        raise Refused("Client.UnsupportedMediaType",
                      f"charset {escaped(name)} is not read here: send UTF-8 (or UTF-16)")
    return encoding


def family(encoding: str) -> str:
    return "utf-16" if encoding.startswith("utf-16") else encoding   # a declaration says UTF-16, the BOM the order


def escaped(value: str, limit: int = 40) -> str:
    """A value from the request, shortened and with every control character escaped, for a message."""
    return repr(value[:limit])


def parser() -> etree.XMLParser:
    """A parser that never fetches, expands or loads anything the document points at."""
    # Without huge_tree, libxml2 also refuses nesting deeper than 256 elements.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class Guard:
    def __init__(self, soap, wsdl: bytes, understood_headers, refused_unread, path: str = "/soap"):
        self.soap = soap
        self.wsdl = wsdl
        self.understood = frozenset(understood_headers)
        self.refused_unread = refused_unread   # counts a refusal against its address (core)
        self.path = path

    def __call__(self, environ, start_response):
        if self.is_wsdl_request(environ):
            # Built once from configuration: no request, and no Host header, can change it.
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                      ("Content-Length", str(len(self.wsdl)))])
            return [self.wsdl]
        started = time.perf_counter()
        call = environ[CALL] = Call()
        try:
            self.admit(environ, call)
            status, headers, answer = self.pass_on(environ)
        except Refused as refusal:
            refusal = self.counted(refusal, environ)
            call.outcome, call.status, call.reason = refusal.outcome, refusal.code, refusal.message
            status, headers = refusal.http_status, refusal.headers
            answer = fault_envelope(refusal.code, refusal.message, refusal.detail)
        except Exception:
            log.exception("unexpected error")  # the trace goes to the log, never to the client
            call.outcome, call.status, call.reason = "internal", "Server", "unexpected error"
            status, headers = FAULT_STATUS, []
            answer = fault_envelope("Server", "something went wrong on our side")
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
        start_response(status, [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(answer))),
                                *headers])
        record(call_event("soap", call.operation, call.identity, call.outcome, call.status, call.bytes_in, len(answer),
                          started, call.reason, environ.get("HTTP_USER_AGENT", ""), environ.get("REMOTE_ADDR", ""),
                          call.credential))
        return [answer]

    def counted(self, refusal: Refused, environ) -> Refused:
        """Refused before any credential was read, a call counts against its address like any
        anonymous call, so that a flood of them meets the rate limit too: over it, that is the answer."""
        try:
            self.refused_unread(environ.get("REMOTE_ADDR", ""))
        except RateLimited as limited:
            return Refused("Client.RateLimited", limited.message, limited.kind, {"retry_after": limited.retry_after})
        return refusal

    def is_wsdl_request(self, environ) -> bool:
        return (environ["REQUEST_METHOD"] == "GET" and environ.get("PATH_INFO") == self.path
                and environ.get("QUERY_STRING", "").lower() == "wsdl")

    def admit(self, environ, call: Call) -> None:
        """Let a request through only when it is a bounded, well-formed SOAP 1.1 message."""
        self.check_route(environ)
        call.body = self.read_body(environ, call)
        text = self.decoded(environ, call.body)
        call.text = NOT_XML.sub("\ufffd", text)   # what Echo sends back: only characters XML can carry
        # One document for the guard and for Spyne: the text, in UTF-8, without the XML
        # declaration (whose encoding, if any, agreed). Nothing is left to decode twice.
        document = DECLARATION.sub("", text, count=1) if DECLARATION.match(text) else text
        call.body = document.encode("utf-8")
        self.check_envelope(call.body)
        environ["wsgi.input"] = io.BytesIO(call.body)
        environ["CONTENT_LENGTH"] = str(len(call.body))
        environ["CONTENT_TYPE"] = "text/xml; charset=utf-8"

    def check_route(self, environ) -> None:
        if environ.get("PATH_INFO") != self.path:
            raise Refused("Client.NotFound", f"no such endpoint: SOAP is served at {self.path}, "
                                             f"its WSDL at {self.path}?wsdl", "not_found", http_status="404 Not Found")
        if environ["REQUEST_METHOD"] != "POST":
            raise Refused("Client.MethodNotAllowed", f"POST a SOAP envelope to {self.path}; "
                                                     f"GET {self.path}?wsdl for the WSDL",
                          http_status="405 Method Not Allowed", headers=[("Allow", "POST")])
        # SOAP 1.1 §6: requests are text/xml (application/soap+xml is SOAP 1.2's).
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != "text/xml":
            raise Refused("Client.UnsupportedMediaType", "this endpoint speaks SOAP 1.1: send Content-Type: text/xml")

    @staticmethod
    def read_body(environ, call: Call) -> bytes:
        call.bytes_in = int(environ.get("CONTENT_LENGTH") or 0)
        if call.bytes_in > limits.MAX_BODY_BYTES:
            raise too_large()  # refused on its announced length: not one byte of it is read
        # A chunked body announces no length: read one byte past the limit, never more.
        body = environ["wsgi.input"].read(limits.MAX_BODY_BYTES + 1)
        call.bytes_in = len(body)
        if call.bytes_in > limits.MAX_BODY_BYTES:
            raise too_large()
        if not body.strip():
            raise Refused("Client.XMLSyntaxError", "the body is empty: POST a SOAP 1.1 envelope")
        return body

    @staticmethod
    def decoded(environ, body: bytes) -> str:
        """The body as text. The encoding is decided once, here: the Content-Type's charset,
        else a byte-order mark, else UTF-8 (XML 1.0 §4.3.3, F.1); it must be UTF-8 or UTF-16,
        and an XML declaration that names another one is refused rather than believed."""
        charset = dict(part.strip().partition("=")[::2] for part in environ.get("CONTENT_TYPE", "").split(";")[1:])
        name = charset.get("charset", "").strip('"') or next(
            (name for bom, name in BOMS if body.startswith(bom)), "utf-8")
        encoding = known_encoding(name)
        try:
            text = body.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError:
            raise Refused("Client.XMLSyntaxError", f"the body is not valid {encoding}") from None
        declaration = DECLARATION.match(text)
        declared = DECLARED.search(declaration.group()) if declaration else None
        if declared and family(known_encoding(declared.group(1))) != family(encoding):
            raise Refused("Client.UnsupportedMediaType",
                          f"the XML declaration names {escaped(declared.group(1))}, the body is read as {encoding}")
        return text

    def check_envelope(self, body: bytes) -> None:
        try:
            document = etree.fromstring(body, parser()).getroottree()
        except etree.XMLSyntaxError as error:
            raise Refused("Client.XMLSyntaxError", str(error)) from None
        if document.docinfo.doctype or document.docinfo.internalDTD is not None:
            # SOAP 1.1 §3: "A SOAP message MUST NOT contain a Document Type Declaration."
            # Refusing any DTD refuses external entities and entity expansion with it.
            raise Refused("Client.DTDNotAllowed", "a SOAP message must not contain a Document Type Declaration")
        # One request per envelope (WS-I Basic Profile R2201): a second one would be skipped unread.
        requests = document.getroot().findall(f"{{{SOAP_ENV}}}Body/*")
        if len(requests) != 1 or requests[0].tag == f"{{{SOAP_ENV}}}Fault":
            raise Refused("Client.SoapError", "the envelope's Body must hold one request element")
        for header in document.getroot().iterfind(f"{{{SOAP_ENV}}}Header/*"):
            # SOAP 1.1 §4.2.3: a header marked mustUnderstand="1" (or SOAP 1.2's "true") that
            # the receiver does not know fails the whole call; it is never silently skipped.
            if header.get(MUST_UNDERSTAND) in ("1", "true") and header.tag not in self.understood:
                raise Refused("MustUnderstand", f"header {header.tag} is not understood here")

    def pass_on(self, environ):
        """Spyne's answer, whole: its status, headers and body."""
        answered = {}

        def start_response(status, headers, exc_info=None):
            answered.update(status=status, headers=headers)

        body = b"".join(self.soap(environ, start_response))
        if answered["status"].startswith("200") and b"Body" not in body:
            # Spyne answers 200 with an empty Envelope when it cannot serialise its answer:
            # that would look like success. It is our failure, so it is a Server fault.
            raise RuntimeError("Spyne produced an envelope without a Body")
        return answered["status"], answered["headers"], body
