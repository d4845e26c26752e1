"""What the organisation-scoped controllers share: the API-key requirement and the app's services."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request

from api.services import Services

__all__ = ["OrgController", "services_of"]


class OrgController(Controller):
    """A controller whose routes all need an API key (``Authorization: Bearer``)."""

    security = [{"apiKey": []}]  # noqa: RUF012


def services_of(request: Request[Any, Any, Any]) -> Services:
    """The application's :class:`~api.services.Services`."""
    return request.app.state.services
