"""Requests this service sends to other hosts (webhook deliveries, Greenhouse callbacks), and when to retry them.

:class:`PinnedHttp` is the one way out: every request's host is resolved and checked
(:func:`api.webhook_addresses.resolve_target`: no loopback, private or link-local address unless the
operator allows it), then sent to a checked address with the host name kept in ``Host`` and TLS SNI,
so a DNS answer that changes between the check and the connection cannot redirect it. No redirect is
followed, no proxy is taken from the environment (it would bypass the check), and every request has a
timeout. Connection pools are kept per host name: connections are keyed by the pinned address, and a
connection whose TLS was verified for one name must not carry another name's requests.

:func:`retry_delay` is the one retry schedule: 1, 15, 60, 120, 240 and 480 minutes (Greenhouse's own),
about 15.3 hours in all.
"""

from __future__ import annotations

import asyncio
import base64
import random
import ssl
from collections import OrderedDict
from collections.abc import Mapping
from datetime import timedelta

import httpx

from api.webhook_addresses import resolve_target

__all__ = ["JITTER", "MAX_ATTEMPTS", "POOLED_HOSTS", "RETRY_MINUTES", "PinnedHttp", "retry_delay", "trusted_cas"]

RETRY_MINUTES = (1, 15, 60, 120, 240, 480)
MAX_ATTEMPTS = len(RETRY_MINUTES) + 1  # the first try and one per retry
JITTER = 0.1  # each wait is its nominal length times a uniform factor in [1 - JITTER, 1 + JITTER]
POOLED_HOSTS = 64  # host names whose connections are kept open between requests


def retry_delay(attempt: int, rng: random.Random | None = None) -> timedelta | None:
    """How long after failed attempt ``attempt`` (1-based) to try again (jittered with ``rng``); ``None`` after the last."""
    if attempt >= MAX_ATTEMPTS:
        return None
    factor = rng.uniform(1 - JITTER, 1 + JITTER) if rng is not None else 1.0
    return timedelta(minutes=RETRY_MINUTES[attempt - 1] * factor)


def trusted_cas(ca_file: str | None) -> ssl.SSLContext | bool:
    """The CAs receivers' certificates are checked against (``True``: certifi's bundle)."""
    return True if ca_file is None else ssl.create_default_context(cafile=ca_file)


class PinnedHttp:
    """Sends requests to checked addresses only, with one connection pool per host name (LRU)."""

    def __init__(
        self, *, timeout: float, user_agent: str, verify: ssl.SSLContext | bool = True, max_connections: int = 10
    ) -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self.verify = verify
        self.max_connections = max_connections
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()  # evicted pools being closed

    def _client(self, host: str) -> httpx.AsyncClient:
        client = self._clients.pop(host, None)
        if client is None:
            client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=self.timeout,
                trust_env=False,
                headers={"User-Agent": self.user_agent},
                verify=self.verify,
                limits=httpx.Limits(max_connections=self.max_connections),
            )
        self._clients[host] = client  # the most recently used last
        while len(self._clients) > POOLED_HOSTS:
            _, oldest = self._clients.popitem(last=False)
            closing = asyncio.create_task(oldest.aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return client

    async def send(
        self,
        method: str,
        url: str,
        *,
        allow_private: bool,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        auth: tuple[str, str] | None = None,
    ) -> int:
        """Send one request and return the status code (the body is never read).

        Raises :class:`api.webhook_addresses.DeniedAddress` for a host that may not be called and
        :class:`httpx.HTTPError` when no checked address answers.
        """
        target = await resolve_target(url, allow_private=allow_private)
        sent = {**(headers or {}), "Host": target.host_header}
        if auth is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        extensions = {"sni_hostname": target.host} if url.startswith("https") else {}
        client = self._client(target.host)
        refused: httpx.ConnectError | None = None
        for pinned in target.urls:  # the next checked address when one cannot be reached
            request = client.build_request(method, pinned, content=content, headers=sent, extensions=extensions)
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                refused = exc
                continue
            await response.aclose()
            return response.status_code
        raise refused or httpx.ConnectError("no address to connect to")

    async def aclose(self) -> None:
        """Close every connection."""
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.aclose()
