"""Timestamps from callers: read as UTC when no offset is given, and refused outside a sane range."""

from __future__ import annotations

from datetime import UTC, datetime

from api.domain import InvalidField

__all__ = ["EARLIEST", "LATEST", "bounded_utc", "parse_timestamp"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def bounded_utc(value: datetime, field: str) -> datetime:
    """Return ``value`` in UTC (a naive value is taken as UTC, never as server-local time).

    Raises :class:`~api.domain.InvalidField` naming ``field`` for dates before 1970 or after 9000, which
    no record can have (and whose offsets would overflow).
    """
    try:
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidField(f"{field} is out of range", fields=[(field, "out of range")]) from exc
    if not EARLIEST <= aware < LATEST:
        message = f"must be between {EARLIEST.date()} and {LATEST.date()}"
        raise InvalidField(f"{field} {message}", fields=[(field, message)])
    return aware


def parse_timestamp(text: str | None, field: str) -> datetime | None:
    """Parse an ISO 8601 date or date-time (a bare number is not one) and bound it; 422 naming ``field``."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        message = "not an ISO 8601 date-time (e.g. 2026-11-30T09:00:00Z)"
        raise InvalidField(f"{field}: {message}", fields=[(field, message)]) from exc
    return bounded_utc(value, field)
