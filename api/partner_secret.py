"""The server secret of the Greenhouse integration: seals partner credentials and derives candidate links.

One Fernet key (``SCREENING_GREENHOUSE_SECRET``; on the embedded default, generated once and kept in
the database's folder) does three things:

- seals the API key captured from ``send_test`` so the PATCH callback can authenticate with it
  (the service stores only key hashes, so the key itself must be kept, and never in clear);
- derives each candidate's link token from the invitation id (HMAC), so the token is never stored:
  the row keeps its sha256 for look-up and the mailer derives it again to send or resend the link;
- derives the candidate form's CSRF value from the token (HMAC).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from api.settings import Settings

__all__ = ["SECRET_FILE", "PartnerSecret", "load_partner_secret"]

log = logging.getLogger("api")
SECRET_FILE = "greenhouse-secret.key"


class PartnerSecret:
    """Seal and open stored credentials; derive candidate tokens and their CSRF values."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._mac_key = hashlib.sha256(b"screening-partner-mac:" + key).digest()

    def seal(self, text: str) -> bytes:
        """Encrypt and authenticate ``text``."""
        return self._fernet.encrypt(text.encode("utf-8"))

    def open(self, sealed: bytes) -> str | None:
        """The sealed text, or ``None`` when it was sealed under another secret (rotated) or tampered with."""
        try:
            return self._fernet.decrypt(sealed).decode("utf-8")
        except InvalidToken:
            return None

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._mac_key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def candidate_token(self, invitation_id: str) -> str:
        """The token of an invitation's link (43 URL-safe characters, 256 bits)."""
        return self._mac("candidate-link", invitation_id)

    def candidate_csrf(self, token: str) -> str:
        """The CSRF value a candidate form must carry, bound to its link's token."""
        return self._mac("candidate-csrf", token)


def _sqlite_folder(database_url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if not database_url.startswith(prefix) or ":memory:" in database_url:
        return None
    return Path(database_url.removeprefix(prefix)).resolve().parent


def _generated(folder: Path) -> bytes:
    """The secret kept in ``folder`` (created there, readable by this user only, on first use).

    A new key is written to a private temporary file and published with a hard link, which fails if
    another process published first: a reader never sees a half-written file, and every process of one
    deployment ends up with the same key.
    """
    path = folder / SECRET_FILE
    if not path.exists():
        key = Fernet.generate_key()
        descriptor, temporary = tempfile.mkstemp(prefix=".greenhouse-secret-", dir=folder)  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(key)
                file.flush()
                os.fsync(file.fileno())
            os.link(temporary, path)
            log.info("generated the Greenhouse integration secret in %s (keep it with the database)", path)
        except FileExistsError:
            pass  # another process published its key first: use that one
        finally:
            os.unlink(temporary)
    return path.read_bytes().strip()


def load_partner_secret(settings: Settings) -> PartnerSecret | None:
    """The secret from ``SCREENING_GREENHOUSE_SECRET``, or the embedded default's file; ``None`` otherwise."""
    if settings.greenhouse_secret is not None:
        return PartnerSecret(settings.greenhouse_secret.encode("ascii"))
    folder = _sqlite_folder(settings.database_url)
    if folder is None:
        return None
    try:
        return PartnerSecret(_generated(folder))
    except (OSError, ValueError) as exc:
        log.warning("no Greenhouse integration secret: %s", exc)
        return None
