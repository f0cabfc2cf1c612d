"""Call events: one record per call, whatever the protocol, in the seed's three steps.

received -> authenticated and validated -> answered. Every adapter reports each call
here once, when it has answered; this module turns it into the log line that
`make serve` prints.
"""
import logging
from dataclasses import dataclass

log = logging.getLogger("calls")

# Which step a core error stops a call at: the credential and the request's validity are
# checked in step 2; a missing playlist or a stale version is only known when answering.
STOPPED_AT = {"unauthenticated": 2, "forbidden": 2, "rate_limited": 2, "invalid_argument": 2,
              "too_large": 2, "not_found": 3, "conflict": 3, "internal": 3}


@dataclass(frozen=True)
class CallEvent:
    protocol: str          # "rest", "soap" or "grpc"
    operation: str         # the core operation's name, e.g. "create_playlist"
    user: str              # "" when the caller was not authenticated
    auth_method: str       # "api_key", "basic", "bearer", "mtls" or ""
    outcome: str           # "ok" or an error kind (core/errors.py)
    status: str            # the protocol's own answer: "201", "Client.NotFound", "NOT_FOUND"
    bytes_in: int
    bytes_out: int
    ms: float
    reason: str = ""       # why it was refused, never a secret

    @property
    def steps(self) -> str:
        failed = STOPPED_AT.get(self.outcome, 3) if self.outcome != "ok" else 0
        marks = ["✓" if failed == 0 or step < failed else ("✗" if step == failed else "·") for step in (1, 2, 3)]
        return f"received {marks[0]} → authenticated+validated {marks[1]} → answered {marks[2]}"


_unsafe = ""


def configure_logging(settings) -> None:
    """One tidy line per call, the same in all three servers; defences switched off are
    announced once at start-up and again on every call's line."""
    global _unsafe
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if settings.unsafe:
        _unsafe = f"  [UNSAFE: {','.join(sorted(settings.unsafe))} off]"
        log.warning("UNSAFE: defences switched off for teaching: %s", ", ".join(sorted(settings.unsafe)))


def record(event: CallEvent) -> None:
    who = f"{event.user}/{event.auth_method}" if event.user else "anonymous"
    log.info("%-4s %-17s %-15s %-22s %6dB in %7dB out %7.1fms  %s%s%s", event.protocol, event.operation, who,
             event.status, event.bytes_in, event.bytes_out, event.ms, event.steps,
             f"  ({event.reason})" if event.reason else "", _unsafe)
