"""Where the service keeps its state, and the settings all three servers share."""
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
DEFENCES = ("bola", "ratelimit", "lockout", "scan")


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
    def keys(self) -> Path:
        return self.home / "keys"

    @property
    def tls(self) -> Path:
        return self.home / "tls"

    def rate(self) -> tuple[int, int]:
        """The limit as (calls, window in seconds)."""
        return parse_rate(self.rate_limit)


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


def check_unsafe_allowed(settings: Settings, hosts) -> None:
    """Refuse to switch a defence off on anything but loopback."""
    loopback = {"127.0.0.1", "::1", "localhost"}
    if settings.unsafe and not set(hosts) <= loopback:
        raise SystemExit("PLAYLISTS_UNSAFE is only allowed when every listener binds loopback")
