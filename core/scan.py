"""The sensitive-data scanner: finds data that has no business in a playlist.

Incoming text fields are refused when they carry a payment card number, an e-mail
address or something shaped like a key or token; the error names the kind of data and
never echoes it back. Outgoing answers are scanned by the same function.
"""
import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
CARD_CANDIDATE = re.compile(r"(?:\d[ -]?){13,19}")
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
KEY = re.compile(r"(?:pk|sk|key|token|secret)[_-][\w-]{16,}|[A-Fa-f0-9]{32,}|[\w-]{40,}", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def sensitive_kind(text: str) -> str | None:
    """The kind of sensitive data in `text` ('card number', 'e-mail address', 'key or token'), or None."""
    for match in CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return "card number"
    if EMAIL.search(text):
        return "e-mail address"
    if JWT.search(text) or KEY.search(text):
        return "key or token"
    return None
