"""Page tokens: opaque to the client, and tamper-evident.

A token is the offset of the next page plus a fingerprint of the query it belongs to,
signed with HMAC. A forged or edited token, or one replayed against another query,
fails the signature and is an invalid argument, never a crash or a peek at other data.
"""
import base64
import hashlib
import hmac
import json

from . import limits
from .errors import integer_between, invalid


def page_size(requested: int | None) -> int:
    if requested is None or requested == 0:
        return limits.DEFAULT_PAGE_SIZE
    if not 1 <= requested <= limits.MAX_PAGE_SIZE:
        raise invalid("page_size", integer_between(1, limits.MAX_PAGE_SIZE))
    return requested


def _fingerprint(query: dict) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:16]


def _sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


def encode(key: bytes, offset: int, query: dict) -> str:
    payload = json.dumps({"o": offset, "q": _fingerprint(query)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(key, payload)


def decode(key: bytes, token: str | None, query: dict) -> int:
    """The offset a token points at; 0 for no token."""
    if not token:
        return 0
    try:
        body, signature = token.split(".")
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if not hmac.compare_digest(_sign(key, payload), signature):
            raise ValueError
        data = json.loads(payload)
        if data["q"] != _fingerprint(query) or not isinstance(data["o"], int) or data["o"] < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise invalid("page_token", "is not a token this server issued for this query") from None
    return data["o"]
