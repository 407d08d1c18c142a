"""The API reference page (/schema): Swagger UI from the npm package swagger-ui-dist, served from
/vendor like every front-end library, started by /static/api-docs.js (the CSP allows no inline
script). The OpenAPI document itself is /schema/openapi.json."""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin


class SwaggerUIPlugin(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path="/", media_type="text/html")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        spec_url = html.escape(self.get_openapi_json_route(request))
        return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(openapi_schema["info"]["title"])}</title>
  <link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-url="{spec_url}"></div>
  <script src="/vendor/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/api-docs.js"></script>
</body>
</html>""".encode()
