"""Where webhooks may be sent: endpoint URLs checked at registration, addresses checked at each send.

A URL must be absolute ``https`` (``http`` only with ``SCREENING_WEBHOOK_ALLOW_HTTP``), without user
info or fragment, at most :data:`MAX_URL_CHARS` long. Before each send its host is resolved and every
address must be public: loopback, private, link-local, shared (CGNAT), multicast, reserved and
unspecified addresses are refused unless ``SCREENING_WEBHOOK_ALLOW_PRIVATE`` is set. The request then
goes to an address that was checked (the next one when it cannot connect) (the host name stays in ``Host`` and TLS SNI), so a DNS answer
that changes between the check and the connection cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from api.domain import InvalidField

__all__ = ["MAX_URL_CHARS", "DeniedAddress", "Target", "check_url", "denied_reason", "resolve_target"]

MAX_URL_CHARS = 2048
RESOLVE_SECONDS = 5.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DeniedAddress(Exception):
    """The endpoint's host resolves to an address webhooks may not be sent to, or does not resolve."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: the URL with each checked address in place of the host (tried in order), and that host."""

    urls: tuple[str, ...]
    host: str
    host_header: str


def _invalid(message: str) -> InvalidField:
    return InvalidField(f"url: {message}", fields=[("url", message)])


def _parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise _invalid(f"not a valid URL ({exc})") from exc
    return parts


def denied_reason(address: IPAddress) -> str | None:
    """Why webhooks may not go to ``address`` (``None``: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:  # an IPv4 address inside (mapped, 6to4, Teredo) is judged as itself
            return denied_reason(embedded)
    for reason, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return reason
    return None if address.is_global else "not public"


def check_url(url: str, *, allow_http: bool, allow_private: bool) -> str:
    """Return ``url`` if it may be registered; :class:`InvalidField` naming ``url`` otherwise.

    Host names are resolved only when sending (registration must not wait on DNS), but an address
    written in the URL, or ``localhost``, is refused here already.
    """
    if len(url) > MAX_URL_CHARS:
        raise _invalid(f"{len(url)} characters; at most {MAX_URL_CHARS}")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise _invalid("must be ASCII without spaces or control characters (percent-encode the rest)")
    parts = _parts(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise _invalid("must start with https://" + (" or http://" if allow_http else ""))
    if not parts.hostname:
        raise _invalid("has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _invalid("must not contain user info (put credentials in the signing secret's checks instead)")
    if parts.fragment or url.endswith("#"):
        raise _invalid("must not have a fragment")
    if not allow_private:
        host = parts.hostname
        if host == "localhost" or host.endswith(".localhost"):
            raise _invalid("loopback hosts are refused (SCREENING_WEBHOOK_ALLOW_PRIVATE allows them)")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return url
        if reason := denied_reason(address):
            raise _invalid(f"{reason} addresses are refused (SCREENING_WEBHOOK_ALLOW_PRIVATE allows them)")
    return url


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), RESOLVE_SECONDS
        )
    except (OSError, TimeoutError) as exc:
        raise DeniedAddress(f"host {host!r} does not resolve ({type(exc).__name__})") from exc
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise DeniedAddress(f"host {host!r} has no address")
    return found


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host and check every address; the URL pinned to each of them.

    Raises :class:`DeniedAddress` when the host does not resolve, or (unless ``allow_private``) when
    any of its addresses is not public.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            if reason := denied_reason(address):
                raise DeniedAddress(f"host {host!r} resolves to a {reason} address; refused")
    pinned = []
    for address in dict.fromkeys(addresses):  # each once, in the resolver's order
        shown = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        pinned.append(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")))
    return Target(urls=tuple(pinned), host=host, host_header=parts.netloc.rpartition("@")[2])
