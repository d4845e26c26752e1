"""Webhook signatures: HMAC-SHA256 over ``"<timestamp>.<raw body>"`` with the endpoint's secret.

The sender puts ``Screening-Signature: t=<unix seconds>,v1=<hex digest>`` on every delivery. A receiver
recomputes the digest over the exact bytes it received, compares in constant time, and refuses a
timestamp outside its tolerance (a replayed request). :func:`verify_signature` is that check; the README
shows the same function for integrators to copy.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "TOLERANCE_SECONDS",
    "InvalidSignature",
    "new_secret",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "Screening-Signature"
EVENT_ID_HEADER = "Screening-Event-Id"
EVENT_TYPE_HEADER = "Screening-Event-Type"
TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"


class InvalidSignature(ValueError):
    """The signature header is missing, malformed, stale, or does not match the body."""


def new_secret() -> str:
    """A fresh signing secret (256 random bits), shown to the organisation once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Screening-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> int:
    """Check a ``Screening-Signature`` header against the raw ``body``; return its timestamp.

    Raises :class:`InvalidSignature` when the header is malformed, its timestamp is more than
    ``tolerance`` seconds from ``now`` (default: the current time), or no ``v1`` digest matches.
    """
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    digests = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not digests:
        raise InvalidSignature("malformed signature header")
    timestamp = int(stamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("timestamp outside the tolerance (a replay, or a clock far off)")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, digest) for digest in digests):
        raise InvalidSignature("signature does not match the body")
    return timestamp
