"""Where the service keeps its state, and the settings all three servers share."""
import functools
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".demo"
DEFAULT_RATE_LIMIT = "600/minute"
UNITS = {"second": 1, "minute": 60, "hour": 3600}
# Defences a teacher may switch off (PLAYLISTS_UNSAFE=bola,ratelimit) to let a class
# watch an attack succeed; only ever on loopback (see check_unsafe_allowed, and
# Authenticator.authenticate, which refuses any other caller however the server was started).
# Each with the words the live view and the exercises' hints use for it.
DEFENCES = {"bola": "the ownership check (BOLA)", "ratelimit": "the rate limit",
            "lockout": "the lockout after failed logins", "scan": "the sensitive-data scanner"}
TRAINER = "trainer.json"
# The default addresses. PLAYLISTS_HOST and PLAYLISTS_<NAME>_PORT move the
# servers, the pages, the WSDL, `make demo|serve|attacks` and the workshop's texts together; a
# server's --host, --port and --tls-port flags win. The clients read the same variables
# (clients/addresses.py), since a client knows nothing of the core.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS = {"REST": 8080, "REST_TLS": 8443, "SOAP": 8081, "SOAP_TLS": 8444, "GRPC": 50051, "GRPC_TLS": 50052}
WILDCARDS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class Settings:
    home: Path
    rate_limit: str
    unsafe: frozenset
    db: Path | None = None
    token_seconds: int = 600

    @property
    def database(self) -> Path:
        return self.db or self.home / "playlists.sqlite3"

    @property
    def credentials(self) -> Path:
        return self.home / "credentials.json"

    @property
    def classroom(self) -> bool:
        """Class mode: a home prepared for a room (core/classroom.py) holds the trainer's key."""
        return (self.home / TRAINER).exists()

    @property
    def keys(self) -> Path:
        return self.home / "keys"

    @property
    def tls(self) -> Path:
        return self.home / "tls"

    def rate(self) -> tuple[int, int]:
        """The limit as (calls, window in seconds)."""
        return parse_rate(self.rate_limit)


@functools.cache   # asked on every call (the rate limit): each text is parsed once
def parse_rate(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(second|minute|hour)\s*", text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"PLAYLISTS_RATE_LIMIT must look like 600/minute, not {text!r}")
    return int(match.group(1)), UNITS[match.group(2)]


def load_settings(environ=os.environ) -> Settings:
    unsafe = frozenset(x.strip() for x in environ.get("PLAYLISTS_UNSAFE", "").split(",") if x.strip())
    unknown = unsafe - set(DEFENCES)
    if unknown:
        raise ValueError(f"PLAYLISTS_UNSAFE knows {', '.join(DEFENCES)}, not {', '.join(sorted(unknown))}")
    settings = Settings(
        home=Path(environ.get("PLAYLISTS_HOME", DEFAULT_HOME)).resolve(),
        rate_limit=environ.get("PLAYLISTS_RATE_LIMIT", DEFAULT_RATE_LIMIT),
        unsafe=unsafe,
        db=Path(environ["PLAYLISTS_DB"]).resolve() if environ.get("PLAYLISTS_DB") else None,
        token_seconds=int(environ.get("PLAYLISTS_TOKEN_SECONDS", "600")),
    )
    settings.rate()
    return settings


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1 (also written as ::ffff:127.x.y.z): this machine talking to itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def host(environ=os.environ) -> str:
    """The address every server binds: $PLAYLISTS_HOST, or loopback."""
    return environ.get("PLAYLISTS_HOST", DEFAULT_HOST)


def port(name: str, environ=os.environ) -> int:
    """The port called `name` ("REST", "REST_TLS", "SOAP", … "GRPC_TLS"): $PLAYLISTS_<name>_PORT, or its default."""
    variable, value = f"PLAYLISTS_{name}_PORT", environ.get(f"PLAYLISTS_{name}_PORT", "")
    if not value:
        return DEFAULT_PORTS[name]
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{variable} must be a port number from 1 to 65535, not {value!r}")
    return int(value)


def public_host(environ=os.environ) -> str:
    """The host the pages and the WSDL name: where the servers listen, as a URL writes it."""
    name = host(environ)
    name = DEFAULT_HOST if name in WILDCARDS else name
    return f"[{name}]" if ":" in name else name


def soap_url(environ=os.environ) -> str:
    """The SOAP endpoint the WSDL and the pages name: $PLAYLISTS_SOAP_URL, or this run's host and port."""
    return environ.get("PLAYLISTS_SOAP_URL") or f"http://{public_host(environ)}:{port('SOAP', environ)}/soap"


def grpc_address(environ=os.environ) -> str:
    return f"{public_host(environ)}:{port('GRPC', environ)}"


def moved(text: str, environ=os.environ) -> str:
    """`text` with the design's default addresses (127.0.0.1:8080, …) replaced by this run's."""
    names = {str(default): name for name, default in DEFAULT_PORTS.items()}
    return re.sub(rf"{re.escape(DEFAULT_HOST)}:({'|'.join(names)})\b",
                  lambda m: f"{public_host(environ)}:{port(names[m.group(1)], environ)}", text)


def check_unsafe_allowed(settings: Settings, hosts) -> None:
    """Refuse to switch a defence off on anything but loopback, or for a whole class at once."""
    if settings.classroom and settings.unsafe:
        raise SystemExit("PLAYLISTS_UNSAFE is refused in class mode: each seat switches its own defences "
                         "(PUT /v1/workshop/defences/NAME)")
    loopback = {"127.0.0.1", "::1", "localhost"}
    if settings.unsafe and not set(hosts) <= loopback:
        raise SystemExit("PLAYLISTS_UNSAFE is only allowed when every listener binds loopback")
