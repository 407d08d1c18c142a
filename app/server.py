"""The one composition point: `create_app()` registers everything Kippu serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import FormMultiDict
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException, SerializationException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.htmx import HTMXConfig, HTMXPlugin, HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.pydantic import PydanticPlugin
from litestar.response import Redirect, Template
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.template.config import TemplateConfig

from app import db
from app.api_docs import SwaggerUIPlugin
from app.accounts.middleware import CallerMiddleware, current_caller
from app.accounts.sessions import BrowserSessionMiddleware
from app.errors import KippuError, NotAuthenticated, RequestTooLarge, UnreadableForm, from_domain
from app.i18n import TEMPLATE_FILTERS, _, current_locale, format_size, ngettext
from app.rate_limit import ApiRateLimitMiddleware
from app.security_headers import SecurityHeaders
from app.jobs import scheduler_lifespan
from app.openapi import COMPONENTS, ApiDocument, PydanticBodySchemas
from app.routes import ROUTE_HANDLERS
from app.schema import MAX_ID
from app.settings import ROOT, Settings, get_settings
from billing import clock as billing_clock
from billing import documents
from billing.errors import LedgerError
from pricing.errors import PricingError

log = logging.getLogger("kippu")

# The largest body a route takes unless it says otherwise: plain forms and JSON. The longest text
# Kippu keeps is a request body of 20,000 characters (120 KB when JSON escapes each as \uXXXX);
# the routes that take files set their own limit (app/tickets/attachments.py).
REQUEST_MAX_BODY_BYTES = 1024 * 1024


@asynccontextmanager
async def database_lifespan(_app: Litestar) -> AsyncIterator[None]:
    engine = db.engine()
    owns_pool = db.is_postgres() and engine.pool is None
    if owns_pool:
        await engine.start_connection_pool(min_size=2, max_size=20)
    await db.prepare_connection()
    # Expiry dates are calendar days in the vendor's time zone.
    billing_clock.set_time_zone(get_settings().time_zone)
    try:
        yield
    finally:
        if owns_pool:
            await engine.close_connection_pool()


@asynccontextmanager
async def documents_lifespan(_app: Litestar) -> AsyncIterator[None]:
    # Without a Japanese font or HarfBuzz subsetting the PDFs still render, badly: say so once.
    for problem in documents.missing_requirements():
        log.warning(problem)
    yield


def configure_templates(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.globals.update(
        _=_,
        ngettext=ngettext,
        current_locale=current_locale,
        current_caller=current_caller,
        settings=get_settings(),
    )
    env.filters.update(TEMPLATE_FILTERS)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/webhooks/", "/schema"))


def kippu_error_handler(request: Request, exc: KippuError) -> Response:
    if wants_json(request):
        return Response(exc.as_json(), status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers)
    if isinstance(exc, NotAuthenticated):
        return Redirect(path="/login", query_params={"next": request.url.path})
    return error_page(request, exc.status_code, exc.message, headers=exc.headers)


def domain_error_handler(request: Request, exc: Exception) -> Response:
    """A ledger or pricing refusal that reached HTTP: answered as its app error (app.errors.from_domain)."""
    return kippu_error_handler(request, from_domain(exc))


def too_large_handler(request: Request, exc: HTTPException) -> Response:
    """A body over its route's limit, refused before or while it is read: 413 saying the limit."""
    limit = request.route_handler.resolve_request_max_body_size() or REQUEST_MAX_BODY_BYTES
    message = _("What was sent is too large: at most {size} can be sent here.", size=format_size(limit))
    return kippu_error_handler(request, RequestTooLarge(message))


def validation_error_handler(request: Request, exc: ValidationException) -> Response:
    errors = [
        {"field": item.get("key"), "message": item.get("message"), "source": item.get("source")}
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    ]
    body = {"code": "invalid_input", "message": _("Some fields are not valid."), "errors": errors}
    if wants_json(request):
        return Response(body, status_code=400, media_type=MediaType.JSON)
    return error_page(request, 400, body["message"])


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    code = "not_found" if isinstance(exc, NotFoundException) else f"http_{exc.status_code}"
    # Litestar's own headers go out with the answer: `Allow` on a 405, `Retry-After` on a 429.
    headers = exc.headers or {}
    if wants_json(request):
        return Response(
            {"code": code, "message": exc.detail}, status_code=exc.status_code, media_type=MediaType.JSON,
            headers=headers,
        )
    message = _("This page does not exist.") if exc.status_code == 404 else exc.detail
    return error_page(request, exc.status_code, message, headers)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = _("Something went wrong on our side. Please try again.")
    if wants_json(request):
        return Response({"code": "internal_error", "message": message}, status_code=500)
    return error_page(request, 500, message)


def error_page(request: Request, status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Template(
        "error.html.jinja2",
        context={"status_code": status_code, "message": message},
        status_code=status_code,
        headers=headers,
    )


class KippuRequest(HTMXRequest):
    """A request whose JSON body or form, however malformed, is a client error (400), never a 500."""

    async def json(self):
        try:
            return await super().json()
        except (UnicodeDecodeError, RecursionError) as exc:
            # msgspec raises these (not a DecodeError) for invalid UTF-8 and very deep nesting.
            raise SerializationException(_("The request body is not valid JSON.")) from exc

    async def form(self) -> FormMultiDict:
        """The form's fields; a field that is not text in its encoding is refused (UnreadableForm)."""
        try:
            if self.content_type[0] == RequestEncodingType.URL_ENCODED:
                # Litestar decodes invalid percent-escapes to U+FFFD and takes raw bytes as Latin-1,
                # silently; decoding strictly first refuses what would otherwise be stored garbled.
                parse_qsl((await self.body()).decode("utf-8"), keep_blank_values=True, errors="strict")
            return await super().form()
        except (UnicodeDecodeError, LookupError) as exc:
            # Litestar's multipart parser decodes each text field with bytes.decode(charset or
            # "utf-8"): UnicodeDecodeError for bytes that are not UTF-8, LookupError for a charset
            # that Python does not know.
            raise UnreadableForm(
                _("The form holds characters that cannot be read (it was not sent as UTF-8). "
                  "Please check what you entered and send the form again.")
            ) from exc


def answer_options(request: Request) -> Response:
    """OPTIONS: `Allow` lists every method of the path. Litestar 2's own OPTIONS answer lists only
    the methods of the first handler registered for it (litestar-org/litestar#4169, fixed in 3)."""
    methods = {
        method
        for route in request.app.routes
        if isinstance(route, HTTPRoute) and route.path_format == request.scope["path_template"]
        for method in route.methods
    }
    return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})


async def before_request(request: KippuRequest) -> Response | None:
    """Every request, after the guards, before a handler reads its parameters (Litestar takes one
    such hook per layer).

    OPTIONS lists the path's methods. An id in a path beyond what an id column holds names
    nothing: 404, not a database error. A URL-encoded form is read through KippuRequest.form()
    here, because Litestar's form-model extractor (`Body(media_type=URL_ENCODED)`) would otherwise
    parse it leniently on its own when nothing read it first (an HTMX post sends its CSRF token in
    a header)."""
    if request.method == "OPTIONS":
        return answer_options(request)
    if any(isinstance(v, int) and not -MAX_ID <= v <= MAX_ID for v in request.path_params.values()):
        raise NotFoundException()
    if request.content_type[0] == RequestEncodingType.URL_ENCODED:
        await request.form()
    return None


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    static = [
        create_static_files_router(path="/static", directories=[ROOT / "static"], include_in_schema=False),
        create_static_files_router(
            path="/vendor/htmx",
            directories=[ROOT / "node_modules" / "htmx.org" / "dist"],
            include_in_schema=False,
            name="vendor-htmx",
        ),
        create_static_files_router(
            path="/vendor/swagger-ui",
            directories=[ROOT / "node_modules" / "swagger-ui-dist"],
            include_in_schema=False,
            name="vendor-swagger-ui",
        ),
        create_static_files_router(
            path="/vendor/pico",
            directories=[ROOT / "node_modules" / "@picocss" / "pico" / "css"],
            include_in_schema=False,
            name="vendor-pico",
        ),
    ]
    return Litestar(
        route_handlers=[healthz, *ROUTE_HANDLERS, *static],
        # Entered in order, left in reverse: the scheduler stops before the database closes.
        lifespan=[database_lifespan, documents_lifespan, scheduler_lifespan],
        middleware=[ApiRateLimitMiddleware(settings), BrowserSessionMiddleware(), CallerMiddleware()],
        before_send=[SecurityHeaders(settings)],
        template_config=TemplateConfig(
            directory=ROOT / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=configure_templates,
        ),
        plugins=[
            HTMXPlugin(HTMXConfig(set_request_class_globally=False)),  # KippuRequest is an HTMXRequest
            ApiDocument(),
            PydanticBodySchemas(),  # before PydanticPlugin's own schemas, which it replaces for bodies
            # None: each body model's own `strict` setting applies (Litestar's default, False, would
            # override it, so that `true` passed for an id and "3" for a number).
            PydanticPlugin(validate_strict=None),
        ],
        request_class=KippuRequest,
        request_max_body_size=REQUEST_MAX_BODY_BYTES,
        before_request=before_request,
        exception_handlers={
            KippuError: kippu_error_handler,
            HTTP_413_REQUEST_ENTITY_TOO_LARGE: too_large_handler,
            LedgerError: domain_error_handler,
            PricingError: domain_error_handler,
            ValidationException: validation_error_handler,
            HTTPException: http_error_handler,
            Exception: internal_error_handler,
        },
        openapi_config=OpenAPIConfig(
            title="Kippu API",
            version="1",
            path="/schema",
            render_plugins=[SwaggerUIPlugin()],
            components=COMPONENTS,
        ),
        debug=False,
    )


def server_options(settings: Settings) -> dict[str, object]:
    """How uvicorn serves the app (`kippu serve`): X-Forwarded-For and X-Forwarded-Proto are
    believed only from the trusted proxies (none by default), so a client cannot choose the
    address the sign-in throttle and the rate limit count it by."""
    if settings.trusted_proxies:
        return {"proxy_headers": True, "forwarded_allow_ips": ",".join(settings.trusted_proxies)}
    return {"proxy_headers": False}


def app_factory() -> Litestar:
    """For `uvicorn --factory app.server:app_factory`."""
    return create_app()


