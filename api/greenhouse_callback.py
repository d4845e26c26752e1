"""The PATCH that tells Greenhouse a test is complete: who it may go to, how it is sent, when it is retried.

Greenhouse answers only with a status code; any 2xx ends the delivery. The request carries no body and
HTTP Basic with the organisation's API key (as Greenhouse's contract says), has a timeout and never
follows redirects. The target must resolve only to public addresses unless
``SCREENING_ALLOW_PRIVATE_CALLBACKS`` is on (tests, closed networks): a ``send_test`` cannot point the
service at its own network. Failed deliveries are retried after :data:`BACKOFF_MINUTES`, then given up
(Greenhouse still polls ``test_status`` hourly, so nothing is lost).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import anyio
import httpx

__all__ = [
    "BACKOFF_MINUTES",
    "TIMEOUT_SECONDS",
    "CallbackRefused",
    "check_target",
    "next_attempt_at",
    "patch_complete",
]

BACKOFF_MINUTES = (1, 15, 60, 120, 240, 480)  # after attempt 1, 2, ...; after the last, give up
TIMEOUT_SECONDS = 10.0


class CallbackRefused(Exception):
    """The callback URL may not be called (a private address, or a name that does not resolve)."""


def next_attempt_at(now: datetime, attempt: int) -> datetime | None:
    """When to try again after failed attempt ``attempt`` (1-based); ``None``: give up."""
    if attempt > len(BACKOFF_MINUTES):
        return None
    return now + timedelta(minutes=BACKOFF_MINUTES[attempt - 1])


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_target(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host resolves to a loopback, private, link-local or reserved address."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CallbackRefused(f"not an http(s) URL: {parts.scheme}://")
    if allow_private:
        return
    if parts.scheme != "https":
        raise CallbackRefused("only https callbacks are sent")
    port = parts.port or 443
    try:
        found = await anyio.getaddrinfo(parts.hostname, port, proto=6)
    except OSError as exc:
        raise CallbackRefused(f"{parts.hostname} does not resolve: {exc}") from exc
    private = sorted({str(entry[4][0]) for entry in found if not _public(str(entry[4][0]))})
    if private or not found:
        raise CallbackRefused(f"{parts.hostname} resolves to a non-public address ({', '.join(private)})")


async def patch_complete(client: httpx.AsyncClient, url: str, api_key: str, allow_private: bool) -> None:
    """Send the PATCH; raise :class:`CallbackRefused` or :class:`httpx.HTTPError` (with the status) unless 2xx."""
    await check_target(url, allow_private)
    response = await client.patch(url, auth=(api_key, ""), timeout=TIMEOUT_SECONDS, follow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
