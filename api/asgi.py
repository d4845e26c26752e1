"""ASGI entry point for uvicorn: ``uvicorn --factory api.asgi:app_from_env``."""

from __future__ import annotations

from litestar import Litestar

from api.app import create_app
from api.settings import Settings

__all__ = ["app_from_env"]


def app_from_env() -> Litestar:
    """Build the app from ``SCREENING_*`` environment variables."""
    return create_app(Settings.from_env())
