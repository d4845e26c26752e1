"""Domain errors raised by services and repositories; ``api.errors`` maps them to problem details.

Each carries its HTTP status and problem type so the mapping is one table, but nothing below the
controllers builds HTTP responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "Conflict",
    "DomainError",
    "Erased",
    "InvalidField",
    "LinkRefused",
    "MalformedField",
    "NotFound",
    "NotReady",
    "TooLarge",
    "Unavailable",
]


class DomainError(Exception):
    """A refusal the caller can act on."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        fields: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = tuple(fields)
        self.headers = dict(headers or {})


class NotFound(DomainError):
    """No such record for this organisation (also another organisation's record)."""

    status, slug, title = 404, "not-found", "Not found"

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"No {what} {ident!r}.")

    @classmethod
    def plain(cls, detail: str) -> NotFound:
        """A 404 whose detail repeats no identifier (for personal ones such as candidate ids)."""
        error = cls("", "")
        error.detail = detail
        error.args = (detail,)
        return error


class Erased(DomainError):
    """The record was erased on a data-protection request."""

    status, slug, title = 410, "erased", "Erased"

    def __init__(self, screening_id: str) -> None:
        super().__init__(
            f"Screening {screening_id!r} was erased on a data-protection request; only its audit log remains."
        )


class InvalidField(DomainError):
    """A field's value cannot be used; ``fields`` name each one."""

    status, slug, title = 422, "validation-error", "Invalid request"


class MalformedField(DomainError):
    """A value was not made by this API (a tampered cursor)."""

    status, slug, title = 400, "malformed-request", "Malformed request"


class Conflict(DomainError):
    """The request conflicts with the stored state."""

    status, title = 409, "Conflict"

    def __init__(self, slug: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.slug, self.title = slug, title


class LinkRefused(DomainError):
    """A one-time sign-in link that opens no session: tampered, unknown, expired, used, or its key revoked."""

    slug, title = "link-refused", "This link cannot be used"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class Unavailable(DomainError):
    """A dependency is not available just now."""

    status, slug, title = 503, "unavailable", "Service unavailable"


class NotReady(Unavailable):
    """The scoring model is still loading (or failed to load)."""

    slug, title = "not-ready", "Service not ready"


class TooLarge(DomainError):
    """An input is larger than this service accepts."""

    status, slug, title = 413, "payload-too-large", "Payload too large"
