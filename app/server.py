"""The one composition point: `create_app()` registers everything Kippu serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, NotFoundException, SerializationException, ValidationException
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.htmx import HTMXConfig, HTMXPlugin, HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.pydantic import PydanticPlugin
from litestar.response import Redirect, Template
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.registry import StoreRegistry
from litestar.template.config import TemplateConfig

from app import db
from app.accounts.middleware import CallerMiddleware, current_caller
from app.errors import KippuError, NotAuthenticated, from_domain
from app.i18n import _, current_locale, format_date, format_datetime
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


def make_store(settings: Settings, namespace: str) -> Store:
    if settings.redis_url:
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace=f"kippu:{namespace}")
    path = settings.var_dir / "store" / namespace
    path.mkdir(parents=True, exist_ok=True)
    return FileStore(path)


def configure_templates(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.globals.update(
        _=_,
        current_locale=current_locale,
        current_caller=current_caller,
        settings=get_settings(),
    )
    env.filters.update(date=format_date, datetime=format_datetime)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/webhooks/", "/schema"))


def kippu_error_handler(request: Request, exc: KippuError) -> Response:
    if wants_json(request):
        return Response(exc.as_json(), status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers)
    if isinstance(exc, NotAuthenticated):
        return Redirect(path="/login", query_params={"next": request.url.path})
    return error_page(request, exc.status_code, exc.message, exc.headers)


def domain_error_handler(request: Request, exc: Exception) -> Response:
    """A ledger or pricing refusal that reached HTTP: answered as its app error (app.errors.from_domain)."""
    return kippu_error_handler(request, from_domain(exc))


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
    """A request whose JSON body, however malformed, is a client error (400), never a 500."""

    async def json(self):
        try:
            return await super().json()
        except (UnicodeDecodeError, RecursionError) as exc:
            # msgspec raises these (not a DecodeError) for invalid UTF-8 and very deep nesting.
            raise SerializationException(_("The request body is not valid JSON.")) from exc


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


def refuse_impossible_ids(request: Request) -> None:
    """An id in a path beyond what an id column holds names nothing: 404, not a database error."""
    if any(isinstance(v, int) and not -MAX_ID <= v <= MAX_ID for v in request.path_params.values()):
        raise NotFoundException()


async def before_request(request: Request) -> Response | None:
    """Every request, after the guards (Litestar takes one such hook per layer)."""
    if request.method == "OPTIONS":
        return answer_options(request)
    refuse_impossible_ids(request)
    return None


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    production = settings.environment == "production"
    sessions = ServerSideSessionConfig(
        store="sessions",
        max_age=settings.session_max_age_seconds,
        secure=production,
        httponly=True,
        samesite="lax",
        key="kippu_session",
    )
    static = [
        create_static_files_router(path="/static", directories=[ROOT / "static"], include_in_schema=False),
        create_static_files_router(
            path="/vendor/htmx",
            directories=[ROOT / "node_modules" / "htmx.org" / "dist"],
            include_in_schema=False,
            name="vendor-htmx",
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
        middleware=[sessions.middleware, CallerMiddleware()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=production,
            cookie_name="kippu_csrf",
            exclude=["/api/", "/webhooks/"],
        ),
        stores=StoreRegistry(
            stores={
                "sessions": make_store(settings, "sessions"),
                "login_failures": make_store(settings, "login_failures"),
            }
        ),
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
        before_request=before_request,
        exception_handlers={
            KippuError: kippu_error_handler,
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
            render_plugins=[ScalarRenderPlugin()],
            components=COMPONENTS,
        ),
        debug=False,
    )


def app_factory() -> Litestar:
    """For `uvicorn --factory app.server:app_factory`."""
    return create_app()


