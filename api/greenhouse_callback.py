"""The PATCH that tells Greenhouse a test is complete: who it may go to, how it is sent, when it is retried.

Greenhouse answers only with a status code; any 2xx ends the delivery. The request carries no body and
HTTP Basic with the organisation's API key (as Greenhouse's contract says). It goes out through
:class:`api.outbound.PinnedHttp`, like webhook deliveries: a timeout, no redirects, and only to public
addresses unless ``SCREENING_ALLOW_PRIVATE_CALLBACKS`` is on (tests, closed networks), so a
``send_test`` cannot point the service at its own network. The URL is checked by the webhooks' own rules
when ``send_test`` stores it. Failed deliveries follow the webhooks' schedule
(:func:`api.outbound.retry_delay`, without jitter), then are given up (Greenhouse still polls
``test_status`` hourly, so nothing is lost).
"""

from __future__ import annotations

from datetime import datetime

from api.outbound import PinnedHttp, retry_delay
from api.webhook_addresses import check_url

__all__ = ["TIMEOUT_SECONDS", "USER_AGENT", "CallbackFailed", "check_callback_url", "next_attempt_at", "patch_complete"]

TIMEOUT_SECONDS = 10.0
USER_AGENT = "attitude-screening-greenhouse/1"


class CallbackFailed(Exception):
    """Greenhouse answered the PATCH with something other than a 2xx."""


def check_callback_url(url: str, allow_private: bool) -> str:
    """``send_test``'s ``url``: absolute https (plain http and private hosts only where allowed); 422 naming ``url``."""
    return check_url(url, allow_http=allow_private, allow_private=allow_private)


def next_attempt_at(now: datetime, attempt: int) -> datetime | None:
    """When to try again after failed attempt ``attempt`` (1-based); ``None``: give up."""
    delay = retry_delay(attempt)
    return None if delay is None else now + delay


async def patch_complete(http: PinnedHttp, url: str, api_key: str, allow_private: bool) -> None:
    """Send the PATCH; raise ``DeniedAddress``, :class:`CallbackFailed` or ``httpx.HTTPError`` unless 2xx."""
    status = await http.send("PATCH", url, allow_private=allow_private, auth=(api_key, ""))
    if not 200 <= status < 300:
        raise CallbackFailed(f"HTTP {status}")
