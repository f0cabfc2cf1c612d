"""Where the servers are, as a client on this machine finds them.

The default addresses, moved by the same environment variables the servers read
(PLAYLISTS_HOST, PLAYLISTS_REST_PORT, … PLAYLISTS_GRPC_TLS_PORT); a client's --server flag
wins. A client knows nothing of the servers' code, so it reads them itself.
"""
import os

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS = {"REST": 8080, "REST_TLS": 8443, "SOAP": 8081, "SOAP_TLS": 8444, "GRPC": 50051, "GRPC_TLS": 50052}


def host() -> str:
    """The servers' host as a URL writes it; a server bound to every interface is reached on loopback."""
    name = os.environ.get("PLAYLISTS_HOST", DEFAULT_HOST)
    name = DEFAULT_HOST if name in ("0.0.0.0", "::", "") else name
    return f"[{name}]" if ":" in name else name


def port(name: str) -> int:
    value = os.environ.get(f"PLAYLISTS_{name}_PORT", "")
    if not value:
        return DEFAULT_PORTS[name]
    if not value.isdigit():
        raise SystemExit(f"PLAYLISTS_{name}_PORT must be a port number, not {value!r}")
    return int(value)


def rest_url(tls: bool = False) -> str:
    return f"https://{host()}:{port('REST_TLS')}" if tls else f"http://{host()}:{port('REST')}"


def token_url() -> str:
    """The OAuth 2.0 token endpoint: the REST server issues the tokens all three protocols accept."""
    return rest_url() + "/oauth/token"


def soap_url(tls: bool = False) -> str:
    return f"https://{host()}:{port('SOAP_TLS')}/soap" if tls else f"http://{host()}:{port('SOAP')}/soap"


def grpc_address(tls: bool = False) -> str:
    return f"{host()}:{port('GRPC_TLS' if tls else 'GRPC')}"
