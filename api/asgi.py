"""ASGI entry point for uvicorn: ``uvicorn --factory api.asgi:app_from_env``."""

from __future__ import annotations

import logging
import os

from screening.torch_free import forbid_torch, torch_free_backend

if torch_free_backend(os.environ.get("SCREENING_ENCODER_BACKEND")):
    forbid_torch()  # before spaCy is imported: a worker on an ONNX backend never loads torch

from litestar import Litestar

from api.app import create_app
from api.settings import Settings

__all__ = ["app_from_env"]


def _configure_logging(level: str) -> None:
    """Send the service's own log lines (``api``, ``api.access``) to stderr at ``level``."""
    logger = logging.getLogger("api")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())


def app_from_env() -> Litestar:
    """Build the app from ``SCREENING_*`` environment variables."""
    settings = Settings.from_env()
    _configure_logging(settings.log_level)
    return create_app(settings)
