"""Signed cookies for the review pages: the session (key id, expiry, CSRF token) and the sign-in form's CSRF token.

A cookie is ``v1.<payload>.<signature>``: the payload is base64url JSON, the signature HMAC-SHA256 under
``SCREENING_SESSION_SECRET``. The cookie never holds the API token; each request re-reads the key by its id,
so a revoked key ends its sessions at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from urllib.parse import urlsplit

import msgspec

__all__ = [
    "LINK_PATH",
    "PRE_SESSION_COOKIE",
    "SESSION_COOKIE",
    "CookieSigner",
    "LinkToken",
    "SessionData",
    "safe_next",
    "session_signer",
    "signed_out_key",
]

SESSION_COOKIE = "screening_session"
PRE_SESSION_COOKIE = "screening_sign_in"  # the sign-in form's CSRF token, before there is a session
PRE_SESSION_SECONDS = 3600
LINK_PATH = "/ui/sign-in/link"  # under the sign-in form's path: its CSRF cookie reaches it
_VERSION = "v1"
log = logging.getLogger("api")


class SessionData(msgspec.Struct, frozen=True):
    """What a session cookie says: the key id, when it expires (unix seconds) and its CSRF token.

    A session opened with a one-time link also names the link and the one screening it may see; its
    ``key_id`` is the key that created the link (the session acts, and is audited, in that key's name).
    """

    key_id: str
    expires: int
    csrf: str
    link_id: str | None = None
    screening_id: str | None = None


class LinkToken(msgspec.Struct, frozen=True):
    """What a one-time sign-in link's token says: the link's id and when it expires (unix seconds)."""

    link_id: str
    expires: int


class _PreSession(msgspec.Struct, frozen=True):
    csrf: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CookieSigner:
    """Signs and checks the UI cookies with one secret."""

    def __init__(self, secret: str, session_seconds: int) -> None:
        self._key = hashlib.sha256(b"screening-ui-cookie:" + secret.encode("utf-8")).digest()
        self.session_seconds = session_seconds

    def _sign(self, purpose: str, payload: bytes) -> str:
        body = _b64(payload)
        mac = hmac.new(self._key, f"{purpose}.{_VERSION}.{body}".encode("ascii"), hashlib.sha256).digest()
        return f"{_VERSION}.{body}.{_b64(mac)}"

    def _open(self, purpose: str, cookie: str | None) -> bytes | None:
        if not cookie or len(cookie) > 1024:
            return None
        version, _, rest = cookie.partition(".")
        body, _, signature = rest.partition(".")
        if version != _VERSION or not body or not signature:
            return None
        expected = hmac.new(self._key, f"{purpose}.{_VERSION}.{body}".encode("ascii"), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(signature), expected):
                return None
            return _unb64(body)
        except (binascii.Error, ValueError):
            return None

    def new_session(self, key_id: str, now: float | None = None) -> tuple[str, SessionData]:
        """A fresh session for a key: the cookie value and what it holds."""
        now = time.time() if now is None else now
        data = SessionData(key_id=key_id, expires=int(now) + self.session_seconds, csrf=secrets.token_urlsafe(32))
        return self._sign("session", msgspec.json.encode(data)), data

    def session(self, cookie: str | None, now: float | None = None) -> SessionData | None:
        """The session a cookie holds; ``None`` when it is missing, forged, malformed or expired."""
        payload = self._open("session", cookie)
        if payload is None:
            return None
        try:
            data = msgspec.json.decode(payload, type=SessionData)
        except msgspec.DecodeError:
            return None
        return data if data.expires > (time.time() if now is None else now) else None

    def new_link_session(self, key_id: str, link_id: str, screening_id: str) -> tuple[str, SessionData]:
        """A session opened with a one-time link: bound to its screening, in the creating key's name."""
        data = SessionData(
            key_id=key_id,
            expires=int(time.time()) + self.session_seconds,
            csrf=secrets.token_urlsafe(32),
            link_id=link_id,
            screening_id=screening_id,
        )
        return self._sign("session", msgspec.json.encode(data)), data

    def new_link_token(self, link_id: str, expires: int) -> str:
        """The signed token of a one-time sign-in link (its own purpose: never valid as a cookie)."""
        return self._sign("review-link", msgspec.json.encode(LinkToken(link_id=link_id, expires=expires)))

    def link_token(self, token: str | None) -> LinkToken | None:
        """The link a token names, when its signature holds (expiry is the caller's check, to say so)."""
        payload = self._open("review-link", token)
        if payload is None:
            return None
        try:
            return msgspec.json.decode(payload, type=LinkToken)
        except msgspec.DecodeError:
            return None

    def new_pre_session(self) -> tuple[str, str]:
        """A sign-in form's CSRF token: ``(cookie value, token)``."""
        data = _PreSession(csrf=secrets.token_urlsafe(32), expires=int(time.time()) + PRE_SESSION_SECONDS)
        return self._sign("sign-in", msgspec.json.encode(data)), data.csrf

    def pre_session(self, cookie: str | None) -> str | None:
        """The CSRF token of a valid sign-in cookie, else ``None``."""
        payload = self._open("sign-in", cookie)
        if payload is None:
            return None
        try:
            data = msgspec.json.decode(payload, type=_PreSession)
        except msgspec.DecodeError:
            return None
        return data.csrf if data.expires > time.time() else None


def session_signer(secret: str | None, hours: float) -> CookieSigner:
    """The signer from ``SCREENING_SESSION_SECRET``, or a random per-process secret (with a warning)."""
    if secret is None:
        log.warning(
            "SCREENING_SESSION_SECRET is not set: review-page sessions use a random secret of this process "
            "(they end when it restarts and do not work across several workers)"
        )
        secret = secrets.token_urlsafe(48)
    return CookieSigner(secret, int(hours * 3600))


def signed_out_key(data: SessionData) -> str:
    """The shared-state key that marks a session as ended by sign-out (its CSRF token names it)."""
    return "ui-signed-out:" + hashlib.sha256(data.csrf.encode("ascii")).hexdigest()


def _inside_ui(target: str) -> bool:
    """A relative, plain path into ``/ui`` (no scheme, host, backslash, control character or dot segment)."""
    if len(target) > 2000 or any(ord(c) < 0x21 or c == "\\" for c in target) or target.startswith("//"):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or (parts.path != "/ui" and not parts.path.startswith("/ui/")):
        return False
    return not any(s in ("..", ".") or "%2e" in s.lower() for s in parts.path.split("/"))


def safe_next(target: str | None, default: str = "/ui/screenings") -> str:
    """A ``next`` target only when it is a relative path into the review pages that a browser can GET;
    else ``default`` (a review form's target leads back to its screening page).
    """
    if not target or not _inside_ui(target):
        return default
    path = urlsplit(target).path
    if path.endswith("/reviews"):
        return path.removesuffix("/reviews")
    return default if path in ("/ui/sign-out", "/ui/sign-in", LINK_PATH) else target
