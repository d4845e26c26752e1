"""The API reference page: Swagger UI, served with every asset from this app (no CDN, nothing fetched at run time).

Swagger UI (chosen over Redoc, Elements, RapiDoc and Scalar) because ATS developers can *call* the API from
it with their key (``Authorize`` then ``Try it out``), it renders OpenAPI 3.1, it runs under a strict
Content-Security-Policy (no inline script or style, no ``eval``), and a pinned PyPI wheel (``swagger-ui-py``)
ships its distribution, so the normal ``pip install`` provides it and no Node toolchain is needed.

The page is served at ``/schema`` (the document at ``/schema/openapi.json``); its scripts and styles at
``/schema/assets/<name>`` from an allow-list. No other viewer is served: ``/schema/redoc``, ``/schema/swagger``,
``/schema/elements`` and ``/schema/rapidoc`` answer 404.
"""

from __future__ import annotations

from html import escape
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Router, get
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import Parameter
from litestar.response import File

__all__ = ["ASSETS", "REFERENCE_HEADERS", "SWAGGER_UI_PACKAGE", "ReferencePage", "reference_router"]

SWAGGER_UI_PACKAGE = "swagger-ui-py"
_SWAGGER_UI = Path(str(files("swagger_ui") / "static"))
_OURS = Path(__file__).parent / "reference_static"
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_SWAGGER_UI / "swagger-ui.css", "text/css"),
    "reference.js": (_OURS / "reference.js", "text/javascript"),
    "reference.css": (_OURS / "reference.css", "text/css"),
}
"""Every file the page loads, by the name it is served under: Swagger UI's two from the wheel, and ours."""

REFERENCE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Only this origin: a script, style or request to anywhere else is refused by the browser too."""
_ASSET_CACHE = "public, max-age=3600"


def _page(title: str, api_version: str) -> bytes:
    title, api_version = escape(title), escape(api_version)
    viewer = escape(version(SWAGGER_UI_PACKAGE))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference · {title}</title>
<link rel="stylesheet" href="/schema/assets/swagger-ui.css">
<link rel="stylesheet" href="/schema/assets/reference.css">
<script src="/schema/assets/swagger-ui-bundle.js" defer></script>
<script src="/schema/assets/reference.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <nav aria-label="Main">
    <a class="brand" href="/">Attitude screening</a>
    <a href="/schema/openapi.json">OpenAPI document (JSON)</a>
    <a href="/readyz">Readiness</a>
    <a href="/ui/sign-in">Review pages</a>
  </nav>
</header>
<main id="main" tabindex="-1">
<h1 class="page-title">API reference <span class="version">({title} {api_version})</span></h1>
<noscript><p class="noscript">This reference needs JavaScript. Without it, read the
<a href="/schema/openapi.json">OpenAPI document</a> directly.</p></noscript>
<div id="swagger-ui" data-spec-url="/schema/openapi.json" aria-live="polite"></div>
</main>
<footer class="foot"><p>Rendered by Swagger UI from the installed {SWAGGER_UI_PACKAGE} {viewer}; served by this
service, nothing loaded from elsewhere.</p></footer>
</body>
</html>
""".encode()


class ReferencePage(OpenAPIRenderPlugin):
    """Litestar's render plugin for the one reference page (the base class's CDN page is never used)."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page; Swagger UI fetches the document from ``/schema/openapi.json`` once loaded."""
        info = openapi_schema.get("info", {})
        return _page(str(info.get("title", "API")), str(info.get("version", "")))

    def receive_router(self, router: Router) -> None:
        """Add the asset route to the ``/schema`` router."""
        router.register(asset)


@get("/assets/{name:str}", include_in_schema=False, sync_to_thread=False)
def asset(name: Annotated[str, Parameter(description="The asset's file name.", max_length=64)]) -> File:
    """One of :data:`ASSETS` (404 otherwise)."""
    if name not in ASSETS:
        raise NotFoundException(f"No asset {name!r}.")
    path, media_type = ASSETS[name]
    return File(path, media_type=media_type, content_disposition_type="inline", headers={"Cache-Control": _ASSET_CACHE})


def reference_router() -> Router:
    """The ``/schema`` router, with the reference page's security headers on every response."""
    return Router(
        "/schema",
        route_handlers=[],
        include_in_schema=False,
        response_headers=[ResponseHeader(name=k, value=v) for k, v in REFERENCE_HEADERS.items()],
    )
