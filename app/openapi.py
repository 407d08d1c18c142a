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

Request bodies are documented by Pydantic's own JSON schema (`PydanticBodySchemas`).
tests/integration/test_api_contract.py holds the API to this document.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal

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
from litestar.plugins.pydantic import PydanticSchemaPlugin
from litestar.routes import BaseRoute, HTTPRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

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


# ---------------------------------------------------------------------------------------------
# Request bodies


def json_int(**limits: Any) -> Any:
    """A whole number in a request body, with Field's `limits` (ge, le, description, ...).

    JSON Schema's `integer`, which the document states, includes 3.0: a strict model would refuse
    it, so it becomes 3; 3.5, "3" and true stay refused. The limits come before the conversion so
    that Pydantic's JSON schema states them as minimum and maximum."""
    return Annotated[int, Strict(), Field(**limits), BeforeValidator(_integral)]


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class PydanticBodySchemas(PydanticSchemaPlugin):
    """The request bodies and the error body, the models that refuse unknown fields
    (`extra="forbid"`), are documented by Pydantic's own JSON schema: exactly what Pydantic
    validates. Litestar's translation loses a pattern given to Field(), the constraints of an
    optional field (`Annotated[int, Field(ge=1)] | None`) and `additionalProperties: false`, and
    writes integer bounds as floats. Registered before PydanticPlugin, whose schemas it replaces
    for these models."""

    def is_plugin_supported_type(self, value: Any) -> bool:
        return isinstance(value, type) and issubclass(value, BaseModel) and value.model_config.get("extra") == "forbid"

    def to_openapi_schema(self, field_definition: Any, schema_creator: Any) -> Schema:
        document = field_definition.annotation.model_json_schema(ref_template="{model}")
        exact = _as_schema(document, document.pop("$defs", {}))
        # The registry's schema, filled in: the model becomes a component, referenced by name.
        schema = schema_creator.schema_registry.get_schema_for_field_definition(field_definition)
        for field in fields(Schema):
            setattr(schema, field.name, getattr(exact, field.name))
        schema.title = field_definition.annotation.__name__
        return schema


def _json_name(field_name: str) -> str:
    """The JSON Schema keyword of a field of Litestar's Schema: any_of → anyOf, schema_not → not."""
    first, *rest = field_name.removeprefix("schema_").split("_")
    return first + "".join(part.title() for part in rest)


_SCHEMA_FIELDS = {_json_name(field.name): field.name for field in fields(Schema)}
_ONE_SCHEMA = {"not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames",
               "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
_SCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SCHEMA_MAP = {"properties", "patternProperties", "dependentSchemas"}


def _as_schema(node: dict[str, Any], definitions: dict[str, Any]) -> Schema:
    """A JSON schema (a dict) as Litestar's Schema, `$ref`s to `definitions` written out in place."""
    if "$ref" in node:
        rest = {key: value for key, value in node.items() if key != "$ref"}
        return _as_schema({**definitions[node["$ref"]], **rest}, definitions)
    values: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue  # Pydantic's "Subject" for `subject`: noise in the document
        if key in _ONE_SCHEMA and isinstance(value, dict):
            value = _as_schema(value, definitions)
        elif key in _SCHEMA_LIST:
            value = [_as_schema(item, definitions) for item in value]
        elif key in _SCHEMA_MAP:
            value = {name: _as_schema(item, definitions) for name, item in value.items()}
        values[_SCHEMA_FIELDS[key]] = value
    return Schema(**values)
