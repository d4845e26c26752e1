"""The review pages: server-rendered HTML under ``/ui`` for recruiters and HR, on the API's own services, and
the front door at ``/`` (:mod:`api.ui.front_door`).

Public surface: :func:`ui_routes` (the router and its static files) and :func:`template_config`.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.middleware import DefineMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.ui.access import PAGE_HEADERS, CsrfCheck, page_error, require_session
from api.ui.front_door import front_door
from api.ui.pages import ReportPages, RubricPages, ScreeningPages
from api.ui.sign_in import SignInController

__all__ = ["UI_PREFIX", "template_config", "ui_routes"]

UI_PREFIX = "/ui"
HERE = Path(__file__).parent
SECURITY_HEADERS = [ResponseHeader(name=name, value=value) for name, value in PAGE_HEADERS.items()]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 templates of the review pages (autoescaped)."""
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)


def ui_routes() -> list[Router]:
    """The pages (session auth, CSRF on forms, errors as pages) and their static files.

    ``exclude_from_auth`` takes them out of the API-key middleware and the API's role guard; the UI's own
    guard then requires a session on every route that is not marked ``ui_public``.
    """
    pages = Router(
        path="/",
        route_handlers=[front_door, SignInController, ScreeningPages, RubricPages, ReportPages],
        opt={"exclude_from_auth": True},
        guards=[require_session],
        middleware=[DefineMiddleware(CsrfCheck)],
        exception_handlers={Exception: page_error},
        response_headers=SECURITY_HEADERS,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=f"{UI_PREFIX}/static",
        directories=[HERE / "static"],
        opt={"exclude_from_auth": True},
        name="ui-static",
        include_in_schema=False,
    )
    return [pages, static]
