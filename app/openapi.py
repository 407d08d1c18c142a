"""What the API's OpenAPI document (/schema/openapi.json) promises beyond each handler's own types.

Every error of the JSON API has one body, `ErrorRead` (app/server.py's exception handlers write it).
A handler names the errors its services raise, as the classes of app/errors.py:

    @post("/{ticket_id:int}/status", ..., responses=errors(NotAllowed, IllegalTransition))

and `ApiDocument` (registered in app.server.create_app) adds what every /api/v1 operation can
answer whatever it does, derived from the handler itself:

- 400 `invalid_input` when it reads parameters or a body (Litestar's validation, `errors` lists
  each field at fault), or the body is not JSON;
- 401 and the bearer token in `security` when it is behind `requires_login`;
- 404 when its path names a row (an id no row has, or no database could hold);
- 413 when it reads a body (a POST), larger than the app accepts;
- 409 `idempotency_key_reused` and 422 for a malformed key when it takes `Idempotency-Key`;
- 429 with `Retry-After` (the API's rate limit; failed sign-ins on `POST /api/v1/auth/token`).

tests/integration/test_api_contract.py holds the API to this document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
    SecurityScheme,
)
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from pydantic import BaseModel, ConfigDict, Field

from app.accounts.guards import requires_login
from app.errors import KippuError
from app.idempotency import KEY_PARAMETER as IDEMPOTENCY_KEY

BEARER = "BearerToken"
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http", scheme="bearer",
            description="A token from `POST /api/v1/auth/token` (or the account page), sent as "
                        "`Authorization: Bearer <token>`.",
        ),
    },
)

# ---------------------------------------------------------------------------------------------
# The error body and the error answers


class FieldErrorRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str | None = Field(description="The parameter or body field at fault (null: the body as a whole)")
    message: str
    source: Literal["body", "query", "path", "header", "cookie"] | None = Field(
        description="Where the field was sent (null: a field of the JSON body)"
    )


class ErrorRead(BaseModel):
    """Every error of the API, whatever its status: a stable `code` and a message for a person."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable, for programs: e.g. not_found, insufficient_points, illegal_transition")
    message: str = Field(description="For a person, in the caller's language")
    # Each optional member is present only where its description says: an error never writes
    # null (KippuError.as_json writes what the error carries), so none is documented as nullable.
    field: str = Field(default=None, description="The value at fault (400, 409, 422)")
    errors: list[FieldErrorRead] = Field(default=None, description="400 invalid_input: each field at fault")
    required: int = Field(default=None, description="402: the points the request needs")
    available: int = Field(default=None, description="402: the points available")
    current: str = Field(default=None, description="409 illegal_transition: the ticket's status")
    requested: str = Field(default=None, description="409 illegal_transition: the status asked for")
    current_version: int = Field(default=None, description="409 stale_version: the ticket's version now")


DESCRIPTIONS = {
    400: "Invalid input: a parameter, header or body field is not what this document describes "
         "(`invalid_input`; `errors` names each), or the body is not JSON (`http_400`).",
    401: "Not signed in (`not_authenticated`): no bearer token, or one that is unknown or revoked; "
         "for `POST /api/v1/auth/token`, wrong credentials.",
    402: "Not enough points (`insufficient_points`): `required` and `available` say how many.",
    403: "The caller's role may not do this (`not_allowed`).",
    404: "No such row, or one of another organisation (`not_found`): its existence is not revealed.",
    409: "The current state does not allow this (`conflict`, `duplicate`, `illegal_transition`, "
         "`stale_version`), or the `Idempotency-Key` was used for a different request "
         "(`idempotency_key_reused`).",
    413: "The body is larger than the app accepts (`http_413`).",
    422: "Well-formed but refused (`invalid_input`; `field` names the value): an unknown code or "
         "reference, a cursor that is not a `next_cursor` this list returned, a malformed "
         "`Idempotency-Key`, or a business rule (e.g. fewer bundles than the minimum).",
    429: "Too many requests: try again after `Retry-After` seconds (`too_many_attempts` after "
         "repeated failed sign-ins).",
    503: "The card payment service cannot be reached; nothing changed (`service_unavailable`).",
}
RESPONSES = {
    status: ResponseSpec(ErrorRead, description=description, generate_examples=False)
    for status, description in DESCRIPTIONS.items()
}
RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=0), required=True,
    description="Seconds to wait before trying again",
)


def errors(*raised: type[KippuError]) -> dict[int, ResponseSpec]:
    """The error answers of an operation whose services raise `raised` (beyond ApiDocument's)."""
    return {error.status_code: RESPONSES[error.status_code] for error in raised}


# ---------------------------------------------------------------------------------------------
# What a handler states about its parameters and answers

CURSOR = "The `next_cursor` of the previous page, as it was returned (any other value is refused: 422)"


def one_or_more(values: tuple[str, ...]) -> str:
    """The pattern of a query parameter that takes one of `values` or several, comma-separated."""
    one = "|".join(values)
    return f"^({one})(,({one}))*$"


def download(media_type: str, description: str) -> dict[int, ResponseSpec]:
    """The 200 answer of a download: bytes of `media_type`. (Litestar documents a File answer
    with an empty media type and an HTTP date as a date-time, and a PDF Response as an object.)"""
    return {200: ResponseSpec(bytes, media_type=media_type, description=description, generate_examples=False)}


# ---------------------------------------------------------------------------------------------
# The rules every /api/v1 operation follows


class ApiDocument(ReceiveRoutePlugin):
    """Documents what every /api/v1 operation can answer (see the module's docstring)."""

    def receive_route(self, route: BaseRoute) -> None:
        if not (isinstance(route, HTTPRoute) and route.path.startswith("/api/")):
            return
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():  # Litestar's OPTIONS handler
                continue
            parameters = handler.parsed_fn_signature.parameters
            statuses = {429}
            if set(parameters) - {"request"}:
                statuses.add(400)
            if route.path_parameters:
                statuses.add(404)
            if "POST" in handler.http_methods:
                statuses.add(413)
            if any(p.kwarg_definition is IDEMPOTENCY_KEY for p in parameters.values()):
                statuses |= {409, 422}
            if any(requires_login in (layer.guards or ()) for layer in handler.ownership_layers):
                statuses.add(401)
                handler.security = [{BEARER: []}]
            handler.responses = {**{s: RESPONSES[s] for s in sorted(statuses)}, **(handler.responses or {})}
            handler.operation_class = ApiOperation


@dataclass
class ApiOperation(Operation):
    """An /api/v1 operation: its 429 answer says in `Retry-After` when to try again (Litestar's
    ResponseSpec cannot carry headers)."""

    def __post_init__(self) -> None:
        too_many = (self.responses or {}).get("429")
        if isinstance(too_many, OpenAPIResponse):
            too_many.headers = {"Retry-After": RETRY_AFTER}
