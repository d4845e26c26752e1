"""JSON request bodies are decoded strictly: a JSON string is never taken for a number (``"4"`` is not a level).

Litestar decodes a body to plain JSON values and then converts them to the handler's body type leniently
(``strict=False``, the rules for query strings), which would accept ``"4"`` for a ``float``. This request class
converts the body strictly first; Litestar then passes the ready Struct through to the handler unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

__all__ = ["StrictJSONRequest"]

_AT = " - at `$"


def _invalid(request: Request[Any, Any, Any], exc: msgspec.ValidationError) -> ValidationException:
    """The same error Litestar's own body validation raises: the message, and the path of the bad value."""
    message, _, location = str(exc).partition(_AT)
    key = location.removesuffix("`").removeprefix(".")
    return ValidationException(
        detail=f"Validation failed for {request.method} {request.url.path}",
        extra=[{"message": message, "key": key, "source": "body"}],
    )


class StrictJSONRequest(Request[Any, Any, Any]):
    """Litestar's request, whose :meth:`json` converts the body into the handler's body type with ``strict=True``."""

    async def json(self) -> Any:
        """The decoded body: the handler's ``data`` type when it has one, else plain JSON values."""
        value = await super().json()
        field = self.route_handler.parsed_data_field
        if field is None or field.annotation is Any:
            return value
        try:
            return msgspec.convert(value, type=field.annotation, strict=True)
        except msgspec.ValidationError as exc:
            raise _invalid(self, exc) from exc
