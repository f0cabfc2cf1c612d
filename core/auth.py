"""Who is calling: the four credentials, one entry point (`Authenticator.authenticate`).

Adapters only lift a credential out of their protocol (a header, a SOAP header element,
gRPC metadata, a TLS certificate) and hand it here; the answer is an Identity or an error.
REST and gRPC carry Basic and Bearer the same way, in an Authorization value, read here once.
"""
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt

from . import limits
from .config import is_loopback
from .defences import Defences
from .errors import Forbidden, RateLimited, Unauthenticated

READ = "playlists:read"
WRITE = "playlists:write"
ALL_SCOPES = (READ, WRITE)
TOKEN_AUDIENCE = "tri-protocol-playlists"
BAD_CREDENTIALS = "invalid or missing credentials"


@dataclass(frozen=True)
class ApiKey:
    key: str
    method = "api_key"


@dataclass(frozen=True)
class UsernamePassword:
    username: str
    password: str
    method = "basic"


@dataclass(frozen=True)
class BearerToken:
    token: str
    method = "bearer"


@dataclass(frozen=True)
class ClientCertificate:
    """The common name of a client certificate the TLS handshake already verified."""
    common_name: str
    method = "mtls"


@dataclass(frozen=True)
class Identity:
    user: str
    method: str
    scopes: frozenset

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this credential lacks the scope {scope}")


@dataclass(frozen=True)
class Caller:
    """Who is calling, and the credential that said so (an echo redacts its secrets)."""
    identity: Identity
    credential: object


def parse_basic(value: str) -> UsernamePassword | None:
    """Decode the RFC 7617 'user:password' pair; None when it is empty or not valid base64 text."""
    if not value:
        return None
    try:
        username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return UsernamePassword(username, password)


def credential_from_authorization(value: str) -> UsernamePassword | BearerToken | None:
    """The credential in an HTTP Authorization value (a REST header, gRPC metadata): 'Basic' and
    base64 of user:password (RFC 7617), or 'Bearer' and a token (RFC 6750); None if it has neither."""
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "basic":
        return parse_basic(credentials.strip())
    if scheme.lower() == "bearer":
        return BearerToken(credentials.strip())
    return None


def secrets_of(credential) -> tuple[str, ...]:
    """The secret parts of a credential, so that an echo can redact them wherever they appear."""
    if isinstance(credential, UsernamePassword):
        basic = base64.b64encode(f"{credential.username}:{credential.password}".encode()).decode()
        return (credential.password, basic)
    return tuple(v for v in (getattr(credential, "key", ""), getattr(credential, "token", "")) if v)


# --- secrets at rest -------------------------------------------------------------------

def hash_password(password: str) -> str:
    """scrypt: deliberately slow (~30 ms), so a stolen hash is costly to guess."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return hmac.compare_digest(candidate.hex(), digest)


def hash_key(key: str) -> str:
    """API keys and client secrets are long and random: a fast hash is enough, and lets
    us look the key up by its hash without ever storing the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()


# A hash that matches no password: an unknown user costs the same scrypt as a known one,
# so the time of the answer does not reveal which user names exist.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def known_key(user: str, source: str) -> str:
    # Its own prefix, and a space (never in an address) before the name: no name or address,
    # however chosen, makes another user's key.
    return f"known:{source} {user}"


class Authenticator:
    def __init__(self, db, signing_key: bytes, settings):
        self.db = db
        self.signing_key = signing_key
        self.settings = settings
        self.defences = Defences(db, settings)
        self.counter = limits.SharedCounter.beside(db.path)
        # Setup writes the users and nothing changes them while the servers run (a reset keeps
        # every secret, workshop/reset.py): a key's identity, once found, is remembered, which
        # spares a query on every call. Only keys that were found: an unknown key is looked up each time.
        self._key_identities: dict[str, Identity] = {}

    def authenticate(self, credential, source: str) -> Identity:
        """The one way in: check the credential (a password only within its lockouts), then the rate limit."""
        if self.settings.unsafe and not is_loopback(source):
            raise Forbidden("defences are switched off for teaching (PLAYLISTS_UNSAFE): loopback callers only")
        if credential is None:
            self.limit(f"source:{source}")
            raise Unauthenticated(BAD_CREDENTIALS)
        claimed = getattr(credential, "username", None)
        counted = self.check_lockout(claimed, source) if claimed else []
        identity = self._verify(credential)
        if identity is None:
            self.limit(f"source:{source}")
            raise Unauthenticated(BAD_CREDENTIALS)
        if claimed:
            self.record_success(claimed, source, counted)
        self.limit(f"user:{identity.user}", identity.user)
        return identity

    def _verify(self, credential) -> Identity | None:
        full = frozenset(ALL_SCOPES)
        if isinstance(credential, ApiKey):
            return self._key_identity(hash_key(credential.key))
        if isinstance(credential, UsernamePassword):
            row = self._user_where("name = ?", credential.username)
            ok = verify_password(credential.password, row["password_hash"] if row else _DUMMY_HASH)
            return Identity(row["name"], credential.method, full) if row and ok else None
        if isinstance(credential, BearerToken):
            claims = self.verify_token(credential.token)
            if claims is None or not self._user_where("name = ?", claims["sub"]):
                return None
            return Identity(claims["sub"], credential.method, frozenset(claims["scope"].split()))
        if isinstance(credential, ClientCertificate):
            row = self._user_where("name = ?", credential.common_name)
            return row and Identity(row["name"], credential.method, full)
        return None

    def _key_identity(self, key_hash: str) -> Identity | None:
        identity = self._key_identities.get(key_hash)
        if identity is None:
            row = self._user_where("api_key_hash = ?", key_hash)
            if row:
                identity = self._key_identities[key_hash] = Identity(row["name"], ApiKey.method, frozenset(ALL_SCOPES))
        return identity

    def _user_where(self, condition: str, value: str):
        with self.db.connection() as conn:
            return conn.execute(f"SELECT * FROM users WHERE {condition}", (value,)).fetchone()

    # --- OAuth 2.0 client credentials (RFC 6749 §4.4) -----------------------------------

    def client_user(self, client_id: str, client_secret: str) -> str | None:
        row = self._user_where("client_id = ?", client_id)
        expected = row["client_secret_hash"] if row else hash_key(secrets.token_urlsafe(16))
        ok = hmac.compare_digest(hash_key(client_secret), expected)
        return row["name"] if row and ok else None

    def issue_token(self, user: str, scopes: tuple) -> str:
        now = int(time.time())
        claims = {"sub": user, "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + self.settings.token_seconds,
                  "scope": " ".join(scopes), "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self.signing_key, algorithm="HS256")

    def verify_token(self, token: str) -> dict | None:
        try:
            # Pinning the algorithm list refuses 'alg: none' and algorithm-confusion tokens.
            return jwt.decode(token, self.signing_key, algorithms=["HS256"], audience=TOKEN_AUDIENCE,
                              options={"require": ["exp", "sub", "aud", "scope"]})
        except jwt.PyJWTError:
            return None

    # --- floods and guessing --------------------------------------------------------------

    def limit(self, key: str, user: str = "") -> None:
        """Count a call against `key`'s budget; `user` is the caller, when known, whose defences apply."""
        if self.defences.off("ratelimit", user):
            return
        calls, window = self.settings.rate()
        wait = self.counter.hit(key, calls, window)
        if wait:
            raise RateLimited(f"rate limit of {self.settings.rate_limit} exceeded", wait, self.settings.rate_limit)

    # Password guessing (README, "Lockout"). Only a password can be guessed: an API key, a
    # token or a certificate is verified, never refused for anyone's failures. A password
    # attempt for a user from an address where she has signed in before is counted there
    # only ("known:10.0.0.7 alice"), so failures elsewhere never lock her out of it; from any
    # other address it is counted against the user ("user:alice", across addresses) and the
    # address ("source:10.0.0.7", across users).

    def check_lockout(self, user: str, source: str) -> list[tuple[str, int]]:
        """Refuse a password attempt while one of its counters is locked; otherwise count it
        as failed until the password proves right. Both in one write transaction, so that
        parallel guesses cannot all pass the check before any of them is counted."""
        if self.defences.off("lockout", user):
            return []
        here, now = known_key(user, source), time.time()
        with self.db.write() as conn:
            rows = {row["key"]: row for row in conn.execute("SELECT * FROM auth_failures WHERE key IN (?, ?, ?)",
                                                            (here, f"user:{user}", f"source:{source}"))}
            if here in rows:
                counters = [(here, limits.LOCKOUT_AFTER_FAILURES)]
            elif self.defences.seated(user):
                # In class mode the whole room may share one address: a seat's user is
                # counted as herself only, and the address counts the names of no one.
                counters = [(f"user:{user}", limits.LOCKOUT_AFTER_FAILURES)]
            else:
                counters = [(f"user:{user}", limits.LOCKOUT_AFTER_FAILURES),
                            (f"source:{source}", limits.SOURCE_LOCKOUT_AFTER_FAILURES)]
            for key, _ in counters:
                wait = rows[key]["locked_until"] - now if key in rows else 0
                if wait > 0:
                    raise RateLimited("too many failed attempts; wait before trying again", int(wait) + 1)
            for key, threshold in counters:
                self.record_failure(conn, key, threshold, rows.get(key), now)
        return counters

    @staticmethod
    def record_failure(conn, key: str, threshold: int, row, now: float) -> None:
        # A shared address (a classroom behind one NAT) must not stay suspect forever.
        recent = row and now - row["locked_until"] < limits.FAILURES_FORGOTTEN_AFTER
        failures = (row["failures"] if recent else 0) + 1
        conn.execute("INSERT OR REPLACE INTO auth_failures VALUES (?, ?, ?)",
                     (key, failures, now + limits.lockout_seconds(failures, threshold)))

    def record_success(self, user: str, source: str, counted: list[tuple[str, int]]) -> None:
        """The password was right: take back the failure counted for it, and remember that
        the user signs in from this address (her own counter there, at zero)."""
        now = time.time()
        with self.db.write() as conn:
            for key, _ in counted:
                # It was checked unlocked, so any lock now is the one its own count set: lifted.
                conn.execute("UPDATE auth_failures SET failures = MAX(failures - 1, 0), "
                             "locked_until = MIN(locked_until, ?) WHERE key = ?", (now, key))
            conn.execute("INSERT OR REPLACE INTO auth_failures VALUES (?, 0, ?)", (known_key(user, source), now))
