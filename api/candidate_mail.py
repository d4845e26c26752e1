"""The candidate's email: the link to answer, sent by SMTP (standard library, in a worker thread).

``SCREENING_SMTP_URL`` says where: ``smtp://host:port`` (plain, for a local relay), ``smtp+starttls://``
(upgraded with STARTTLS) or ``smtps://`` (TLS from the start); a user name and password may be given
in the URL. The message is plain text: a greeting, the link, when it expires, and how answers are used.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit

import anyio.to_thread

__all__ = ["SMTP_TIMEOUT_SECONDS", "SmtpTarget", "invitation_message", "send_message", "smtp_target"]

SMTP_TIMEOUT_SECONDS = 15
_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where and how to hand over mail."""

    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None


def smtp_target(url: str) -> SmtpTarget:
    """Parse ``SCREENING_SMTP_URL``."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("SCREENING_SMTP_URL must be smtp://, smtp+starttls:// or smtps:// with a host")
    return SmtpTarget(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[parts.scheme],
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def invitation_message(
    sender: str, to: str, first_name: str, link: str, expires_at: datetime, domain: str
) -> EmailMessage:
    """The email that invites a candidate to answer (plain text; the link is the only way in)."""
    message = EmailMessage()
    message["Subject"] = "Please answer a few questions for your application"
    message["From"] = sender
    message["To"] = formataddr(("", to))
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(
        f"Hello {first_name},\n\n"
        "As part of your application, please answer a few short questions about how you would handle\n"
        "situations at work. Open this link to answer; you can save your answers and come back later:\n\n"
        f"{link}\n\n"
        f"The link works until {expires_at:%d %B %Y, %H:%M} UTC. It is personal: do not forward it.\n\n"
        "How your answers are used: an automated system compares them with a rubric of attitudes\n"
        "(for example empathy or ownership), and a person at the employer reviews the result. The page\n"
        "explains this in full and how to ask for a human review or for your data to be erased.\n"
    )
    return message


def _send(target: SmtpTarget, message: EmailMessage) -> None:
    """Hand the message to the SMTP server (blocking)."""
    context = ssl.create_default_context()
    if target.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        if target.scheme == "smtp+starttls":
            client.starttls(context=context)
        if target.user is not None:
            client.login(target.user, target.password or "")
        client.send_message(message)


async def send_message(url: str, message: EmailMessage) -> None:
    """Send ``message`` through ``SCREENING_SMTP_URL`` in a worker thread (never on the event loop)."""
    target = smtp_target(url)
    await anyio.to_thread.run_sync(_send, target, message, abandon_on_cancel=True)
