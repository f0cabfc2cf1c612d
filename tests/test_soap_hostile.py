"""Hostile input on the SOAP endpoint, posted raw. Each must get a quick Client fault in a
proper SOAP 1.1 envelope (HTTP 500, text/xml); nothing may be read from disk or network,
nothing written, and the server must go on answering."""
import socket
import sqlite3
import time

import pytest
import requests
from lxml import etree

from clients.calls import SOAP_ENV, TNS
from core import limits

SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
TWENTY_MB = 20 * 1024 * 1024


def envelope(body: str, header: str = "", prolog: str = "", namespace: str = SOAP_ENV) -> bytes:
    return (f'{prolog}<s:Envelope xmlns:s="{namespace}" xmlns:p="{TNS}"><s:Header>{header}</s:Header>'
            f'<s:Body>{body}</s:Body></s:Envelope>').encode()


def create(name: str) -> str:
    return f"<p:CreatePlaylist><p:name>{name}</p:name></p:CreatePlaylist>"


@pytest.fixture(scope="module")
def url(soap_server) -> str:
    return f"http://127.0.0.1:{soap_server.port}/soap"


@pytest.fixture(scope="module")
def api_key(credentials) -> str:
    return f'<p:ApiKey>{credentials["users"]["alice"]["api_key"]}</p:ApiKey>'


@pytest.fixture
def listener():
    """A port that records whether anything connected: an entity's http URL points here."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def connected(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
        return True
    except BlockingIOError:
        return False


def playlist_count(home) -> int:
    with sqlite3.connect(home / "playlists.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM playlists").fetchone()[0]


def fault_code(answer: requests.Response) -> str:
    """The code of a proper SOAP 1.1 Fault (HTTP 500, text/xml), its namespace prefix resolved."""
    assert answer.status_code == 500  # SOAP 1.1 §6.2
    assert answer.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(answer.content)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    prefix, _, code = fault.findtext("faultcode").partition(":")
    assert fault.nsmap[prefix] == SOAP_ENV and fault.findtext("faultstring")
    return code


def assert_still_serving(url: str, api_key: str) -> None:
    answer = requests.post(url, data=envelope("<p:WhoAmI/>", api_key), headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200 and b"<tns:name>alice</tns:name>" in answer.content


def lol(depth: int = 9) -> str:
    """The "billion laughs": ten entities of ten of the one before, 10^9 'lol's in all."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, depth + 1)]
    return f'<?xml version="1.0"?><!DOCTYPE s:Envelope [{"".join(entities)}]>'


CASES = {
    "malformed": (envelope(create("Broken"))[:-20], "text/xml", "Client.XMLSyntaxError"),
    "empty body": (b"", "text/xml", "Client.XMLSyntaxError"),
    "wrong namespace": (envelope('<o:CreatePlaylist xmlns:o="urn:other"><o:name>Other</o:name></o:CreatePlaylist>'),
                        "text/xml", "Client.SchemaValidationError"),
    "SOAP 1.2 envelope": (envelope(create("Twelve"), namespace=SOAP12_ENV), "text/xml", "Client.SoapError"),
    "SOAP 1.2 media type": (envelope(create("Twelve"), namespace=SOAP12_ENV), "application/soap+xml",
                            "Client.UnsupportedMediaType"),
    "missing element": (envelope("<p:CreatePlaylist><p:mood>calm</p:mood></p:CreatePlaylist>"), "text/xml",
                        "Client.SchemaValidationError"),
    "wrong type": (envelope("<p:GeneratePlaylist><p:mood>calm</p:mood><p:duration_minutes>sixty"
                            "</p:duration_minutes></p:GeneratePlaylist>"), "text/xml", "Client.SchemaValidationError"),
    "external file entity": (envelope(create("&xxe;"), prolog='<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM '
                                                              '"file:///etc/passwd">]>'), "text/xml",
                             "Client.DTDNotAllowed"),
    # libxml2 itself stops the amplification (so the parse fails) before the guard's DTD rule.
    "billion laughs": (envelope(create("&lol9;"), prolog=lol()), "text/xml", "Client.XMLSyntaxError"),
    "a few laughs": (envelope(create("&lol3;"), prolog=lol(3)), "text/xml", "Client.DTDNotAllowed"),
    "10,000-deep nesting": (envelope(create("<a>" * 10_000)), "text/xml", "Client.XMLSyntaxError"),
    "10,000-deep and closed": (envelope(create("<a>" * 10_000 + "</a>" * 10_000)), "text/xml", "Client.TooLarge"),
    # SOAP 1.1 §4.4.1: MustUnderstand is a fault code of its own, beside Client and Server.
    "unknown mustUnderstand header": (envelope(create("Ignored"), '<x:Audit xmlns:x="urn:x" s:mustUnderstand="1"/>'),
                                      "text/xml", "MustUnderstand"),
}


@pytest.mark.parametrize("name", CASES)
def test_hostile_input_gets_a_quick_fault(name, url, api_key, home):
    body, media_type, expected = CASES[name]
    # With alice's key in, a body the server let through would be authenticated, and would write.
    body = body.replace(b"<s:Header>", f"<s:Header>{api_key}".encode())
    before = playlist_count(home)
    answer = requests.post(url, data=body, headers={"Content-Type": media_type})
    assert fault_code(answer) == expected
    assert answer.elapsed.total_seconds() < 2
    assert playlist_count(home) == before
    assert_still_serving(url, api_key)


def test_external_entity_is_never_read(url, api_key, home):
    answer = requests.post(url, data=envelope(create("&xxe;"), api_key, '<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM '
                                                                          '"file:///etc/passwd">]>'),
                           headers={"Content-Type": "text/xml"})
    assert fault_code(answer) == "Client.DTDNotAllowed"
    assert b"root:" not in answer.content


def test_network_entity_is_never_fetched(url, api_key, listener):
    address = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.dtd"
    for prolog in (f'<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "{address}">]>',
                   f'<!DOCTYPE s:Envelope SYSTEM "{address}">'):
        answer = requests.post(url, data=envelope(create("&xxe;"), api_key, prolog),
                               headers={"Content-Type": "text/xml"})
        assert fault_code(answer) == "Client.DTDNotAllowed"
    assert not connected(listener)


def test_twenty_megabytes_with_content_length(url, api_key, home):
    before = playlist_count(home)
    answer = requests.post(url, data=b"<" + b"x" * TWENTY_MB, headers={"Content-Type": "text/xml"})
    assert fault_code(answer) == "Client.TooLarge"
    assert etree.fromstring(answer.content).findtext(".//detail/limit") == str(limits.MAX_BODY_BYTES)
    assert playlist_count(home) == before
    assert_still_serving(url, api_key)


def test_twenty_megabytes_chunked(url, api_key):
    chunks = (b"x" * 65536 for _ in range(TWENTY_MB // 65536))
    answer = requests.post(url, data=chunks, headers={"Content-Type": "text/xml"})
    assert fault_code(answer) == "Client.TooLarge"
    assert_still_serving(url, api_key)


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send `request` and read the answer without ever sending the rest of the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while not answer.endswith(b"Envelope>"):
            received = connection.recv(65536)
            if not received:
                break
            answer += received
        return answer


def test_an_announced_twenty_megabytes_is_refused_unread(soap_server):
    head = (f"POST /soap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {TWENTY_MB}\r\n\r\n").encode()
    started = time.monotonic()
    answer = raw_exchange(soap_server.port, head + b"<s:Envelope")
    assert answer.startswith(b"HTTP/1.1 500") and b"Client.TooLarge" in answer
    assert time.monotonic() - started < 2


def test_a_chunked_body_is_read_only_to_the_limit(soap_server):
    chunk = b"x" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(limits.MAX_BODY_BYTES // len(chunk) + 1))
    head = b"POST /soap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = raw_exchange(soap_server.port, head + chunks)  # no terminating chunk: the body never ends
    assert answer.startswith(b"HTTP/1.1 500") and b"Client.TooLarge" in answer


@pytest.mark.parametrize("method, path, status", [("GET", "/soap", 405), ("PUT", "/soap", 405),
                                                  ("POST", "/wrong", 404), ("GET", "/", 404)])
def test_other_methods_and_paths_get_a_sensible_answer(soap_server, method, path, status):
    answer = requests.request(method, f"http://127.0.0.1:{soap_server.port}{path}")
    assert answer.status_code == status and answer.headers["Content-Type"].startswith("text/xml")
    assert b"/soap?wsdl" in etree.fromstring(answer.content).findtext(f".//{{{SOAP_ENV}}}Fault/faultstring").encode()
