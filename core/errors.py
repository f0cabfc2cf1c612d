"""The core's errors. Each adapter maps every one of them, once, in one table.

`kind` is the error's protocol-neutral name, used in call events and logs.
"""
from dataclasses import dataclass


class ServiceError(Exception):
    """Base of every error a client can be told about."""
    kind = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(ServiceError):
    """The request is well-formed on the wire but breaks a rule of the service."""
    kind = "invalid_argument"

    def __init__(self, *violations: FieldViolation, message: str = ""):
        super().__init__(message or "; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = list(violations)


def invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation(field, description))


# A broken rule in words. The core's own checks and the three protocols' schema checks word
# it alike, so a caller reads the same sentence whichever protocol it came by.

def integer_between(low: int, high: int) -> str:
    return f"must be an integer between {low} and {high}"


def at_most_characters(limit: int) -> str:
    return f"must be at most {limit} characters"


def at_least_characters(limit: int) -> str:
    return f"must be at least {limit} characters"


class Unauthenticated(ServiceError):
    """No credential, or one that proves nothing. Never says which part was wrong."""
    kind = "unauthenticated"


class Forbidden(ServiceError):
    """Authenticated, but the credential's scope does not allow the operation."""
    kind = "forbidden"


class NotFound(ServiceError):
    """Missing, or not yours: the answer is the same so that ids cannot be probed."""
    kind = "not_found"


class Conflict(ServiceError):
    """The client's version of a playlist is stale (optimistic concurrency)."""
    kind = "conflict"

    def __init__(self, message: str, current_version: int):
        super().__init__(message)
        self.current_version = current_version


class VersionRequired(ServiceError):
    """An update that does not say which version it read: it could overwrite a change it never saw."""
    kind = "version_required"


class RateLimited(ServiceError):
    """Too many calls, or too many failed logins; try again after `retry_after` seconds."""
    kind = "rate_limited"

    def __init__(self, message: str, retry_after: int, limit: str = ""):
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit


class TooLarge(ServiceError):
    """A body, list or stream is over its cap (see core/limits.py)."""
    kind = "too_large"

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit


class OAuthError(ServiceError):
    """An RFC 6749 §5.2 token error: `code` is invalid_request, invalid_client, ..."""
    kind = "unauthenticated"

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
