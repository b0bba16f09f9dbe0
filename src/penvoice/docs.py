"""Interactive API docs served from the bundled Swagger UI: no CDN, works offline.

Swagger UI 5 (the `swagger-ui-bundle-v2` wheel, module `swagger_ui_bundle`) renders the
app's OpenAPI 3.1 document; Swagger UI 4 could not ("Unable to render this definition").
`tests/docs_ui` loads the page in headless Chromium and counts the operations shown.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from penvoice.errors import NotFound

ASSETS = Path(swagger_ui_path)

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Penvoice API",
        swagger_js_url="/docs/swagger-ui-bundle.js",
        swagger_css_url="/docs/swagger-ui.css",
        swagger_favicon_url="/docs/favicon-32x32.png",
    )


@router.get("/docs/{asset}")
async def swagger_asset(asset: str) -> FileResponse:
    allowed = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
    if asset not in allowed:
        raise NotFound("No such documentation asset.")
    return FileResponse(ASSETS / asset, headers={"Cache-Control": "public, max-age=86400"})
