"""/docs (Swagger UI) and /redoc, served with no request leaving the deployment.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN (and ReDoc its fonts from
Google), so an air-gapped deployment shows a blank page. The same pages here point at the
JavaScript and CSS that the pinned `fastapi-offline` package ships inside its wheel; they are
read from the installed package's directory and served under DOCS_ASSETS. Nothing is copied
into the repository, and upgrading the assets is a version bump of that one package.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse

from app.core.errors import NotFound

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
DOCS_ASSETS = "/docs/assets"

_STATIC = Path(fastapi_offline.__file__).resolve().parent / "static"
# the only files served: name -> media type (no path from the request reaches the filesystem)
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets. Create the app with docs_url=redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_ASSETS + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise NotFound(f"No documentation asset named {name!r}.")
        # versioned by the package pin, so a day of caching is safe
        return FileResponse(_STATIC / name, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters)

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)
