"""Each declared route compiled once, at start, into a flat `Operation`.

The routers declare their routes with FastAPI's decorators and `Annotated` parameters: that
declaration is what the OpenAPI document is generated from, and it stays the one place that
says what a route takes and answers. FastAPI does not run them, though. At start,
`compile_operation` reads each endpoint's signature (and those of the dependencies it
names) and turns it into:

- the edge's steps, as flags: authenticate, open the request's transaction, enter the
  organisation with at least a role (`Needs`);
- one pydantic model validating every path, query and header parameter at once, with the
  constraints the declaration gives, and the body's type adapter;
- a list of argument getters, one per endpoint parameter, each a plain function of the
  request's `Call`.

So a request costs one validation call and a loop over a handful of getters, instead of
solving a dependency tree. Dependencies the edge itself provides (the principal, the
transaction, the organisation access, the idempotency claim) are recognised by identity;
any other dependency is called with its own validated parameters.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin
from uuid import UUID

from fastapi import params
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic_core import PydanticUndefined
from starlette.requests import Request
from starlette.responses import Response

from penvoice.auth import Principal, require_principal
from penvoice.db import Connection, connection_dependency, transaction_dependency
from penvoice.errors import ValidationFailed
from penvoice.idempotency.keys import Idempotency, claim, claim_dependency, fingerprint
from penvoice.tenancy.access import (
    ROLE_RANK,
    OneStatementRead,
    OrgAccess,
    Role,
    minimum_role_of,
    principal_read,
    read_role_of,
    user_transaction,
)

Getter = Callable[["Call"], Any]
PATH, QUERY, HEADER = "path", "query", "header"


class Call:
    """What one request has gathered by the time its endpoint runs."""

    __slots__ = (
        "access",
        "body",
        "body_bytes",
        "conn",
        "idempotency",
        "method",
        "params",
        "path",
        "principal",
        "receive",
        "response",
        "scope",
    )

    def __init__(self, scope: MutableMapping[str, Any], receive: Any, path: str) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path = path
        self.params: dict[str, Any] = {}
        self.body: Any = None
        self.body_bytes = b""
        self.principal: Principal | None = None
        self.conn: Connection | None = None
        self.access: OrgAccess | None = None
        self.idempotency: Idempotency | None = None
        self.response: Response | None = None

    def sub_response(self) -> Response:
        """FastAPI's `response: Response` parameter: headers and status the handler sets."""
        if self.response is None:
            response = Response()
            del response.headers["content-length"]
            response.status_code = None  # type: ignore[assignment]
            self.response = response
        return self.response

    def request(self) -> Request:
        body = self.body_bytes

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        return Request(self.scope, replay)


@dataclass(frozen=True)
class Parameter:
    """One path, query or header parameter: where it comes from and its public name."""

    location: str
    name: str  # the Python name, the key in `Call.params`
    public: str  # as the client writes it (the alias for headers and queries)
    is_list: bool = False


@dataclass
class Operation:
    method: str
    template: str
    endpoint: Callable[..., Awaitable[Any]]
    authenticate: bool = False
    transaction: bool = False  # the request's transaction around the endpoint
    pooled: bool = False  # a pooled connection, no transaction: a read in one statement
    enter_user: bool = False  # the principal entered for row-level security
    role: Role | None = None  # organisation access needed (from the `org_id` path parameter)
    parameters: list[Parameter] = field(default_factory=list)
    parameter_model: type[BaseModel] | None = None
    body_adapter: TypeAdapter[Any] | None = None
    body_required: bool = False
    body_default: Any = None
    arguments: list[tuple[str, Getter]] = field(default_factory=list)
    status_code: int = 200
    serialize: Callable[[Any], bytes] | None = None
    body_has_lists: bool = False
    max_body_bytes: int = 0  # set by the edge from the settings

    @property
    def takes_body(self) -> bool:
        return self.body_adapter is not None

    def validate_parameters(self, call: Call, path_values: dict[str, str], query: Any) -> None:
        """Every path, query and header parameter in one validation, errors named as
        `path.x`, `query.x`, `header.X` like the request validation always did."""
        if self.parameter_model is None:
            return
        raw: dict[str, Any] = {}
        headers: dict[str, str] | None = None
        for parameter in self.parameters:
            if parameter.location == PATH:
                raw[parameter.name] = path_values[parameter.public]
            elif parameter.location == QUERY:
                if parameter.is_list:
                    values = query.getlist(parameter.public)
                    if values:
                        raw[parameter.name] = values
                elif parameter.public in query:
                    raw[parameter.name] = query[parameter.public]
            else:
                if headers is None:
                    headers = _header_map(call.scope)
                value = headers.get(parameter.public.lower())
                if value is not None:
                    raw[parameter.name] = value
        try:
            validated = self.parameter_model.model_validate(raw)
        except ValidationError as exc:
            by_name = {parameter.name: parameter for parameter in self.parameters}
            raise invalid(
                [
                    (
                        by_name[str(error["loc"][0])].location,
                        by_name[str(error["loc"][0])].public,
                        *error["loc"][1:],
                    )
                    for error in exc.errors()
                ],
                exc.errors(),
            ) from None
        call.params = validated.__dict__

    def validate_body(self, call: Call, content_type: str | None) -> None:
        assert self.body_adapter is not None
        body = call.body_bytes
        if not body or body.isspace():
            if self.body_required:
                raise ValidationFailed.for_field("body", "a JSON body is required", "missing")
            call.body = self.body_default
            return
        if content_type is not None and not _is_json(content_type):
            raise ValidationFailed.for_field(
                "header.Content-Type",
                f"the body must be JSON, sent as 'Content-Type: application/json', "
                f"not {content_type[:60]!r}",
                "content_type",
            )
        try:
            call.body = self.body_adapter.validate_json(body)
        except ValidationError as exc:
            errors = exc.errors()
            raise invalid([("body", *error["loc"]) for error in errors], errors) from None

    async def arguments_of(self, call: Call) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, getter in self.arguments:
            value = getter(call)
            if inspect.isawaitable(value):
                value = await value
            values[name] = value
        return values


def invalid(locations: list[tuple[Any, ...]], errors: list[Any]) -> ValidationFailed:
    """A 422 naming each field at fault, in the problem's `errors` shape."""
    found = []
    for location, error in zip(locations, errors, strict=True):
        message = str(error["msg"])
        if error["type"] == "json_invalid":
            message = "not valid JSON: " + str(error.get("ctx", {}).get("error", message))
        found.append(
            {
                "field": ".".join(str(part) for part in location),
                "message": message,
                "type": str(error["type"]),
            }
        )
    fields = ", ".join(sorted({error["field"] for error in found}))
    return ValidationFailed(f"Invalid input: {fields}.", extra={"errors": found})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _header_map(scope: MutableMapping[str, Any]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


# --- compiling ------------------------------------------------------------------------


class _Compiler:
    def __init__(self, operation: Operation, path_names: set[str]) -> None:
        self.operation = operation
        self.path_names = path_names
        self.fields: dict[str, Any] = {}

    def getter_for(self, name: str, hint: Any, default: Any) -> Getter:
        annotation, metadata = _split_annotated(hint)
        marker = next((m for m in metadata if isinstance(m, params.Depends)), None)
        if marker is not None and marker.dependency is not None:
            return self.dependency(marker.dependency)
        if annotation is Request:
            return Call.request
        if annotation is Response:
            return Call.sub_response
        info = next((m for m in metadata if isinstance(m, params.Param | params.Body)), None)
        if isinstance(info, params.Body) or (
            info is None and _is_model(annotation) and name not in self.path_names
        ):
            return self.body(name, hint, default)
        if isinstance(info, params.Path) or (info is None and name in self.path_names):
            location = PATH
        elif isinstance(info, params.Header):
            location = HEADER
        else:
            location = QUERY
        return self.parameter(location, name, annotation, info, default)

    def parameter(
        self, location: str, name: str, annotation: Any, info: Any, default: Any
    ) -> Getter:
        public = name
        if info is not None and info.alias:
            public = info.alias
        elif location == HEADER:
            public = name.replace("_", "-")
        known = next((p for p in self.operation.parameters if p.name == name), None)
        if known is None:
            is_list = get_origin(_without_none(annotation)) is list
            self.operation.parameters.append(Parameter(location, name, public, is_list))
            constraints = list(info.metadata) if info is not None else []
            if default is inspect.Parameter.empty:
                default = PydanticUndefined if info is None else info.default
            typed = typing.Annotated[annotation, *constraints] if constraints else annotation
            required = default is PydanticUndefined or default is Ellipsis
            self.fields[name] = (typed, ... if required else default)

        def get(call: Call) -> Any:
            return call.params[name]

        return get

    def body(self, name: str, hint: Any, default: Any) -> Getter:
        operation = self.operation
        annotation, _ = _split_annotated(hint)
        operation.body_adapter = TypeAdapter(annotation)
        operation.body_has_lists = '"array"' in json.dumps(operation.body_adapter.json_schema())
        operation.body_required = default is inspect.Parameter.empty
        operation.body_default = None if default is inspect.Parameter.empty else default

        def get(call: Call) -> Any:
            return call.body

        return get

    def dependency(self, dependency: Callable[..., Any]) -> Getter:  # noqa: PLR0911 - a case each
        operation = self.operation
        if dependency is require_principal:
            operation.authenticate = True
            return _principal
        if dependency is transaction_dependency:
            operation.transaction = True
            return _conn
        if dependency is connection_dependency:
            operation.pooled = True
            return _conn
        if dependency is principal_read:
            operation.authenticate = operation.pooled = True
            return lambda call: OneStatementRead(_conn(call), _principal(call))
        read_role = read_role_of(dependency)
        if read_role is not None:
            operation.authenticate = operation.pooled = True
            org_id = self.parameter(PATH, "org_id", UUID, None, inspect.Parameter.empty)
            return lambda call: OneStatementRead(
                _conn(call), _principal(call), org_id(call), read_role
            )
        if dependency is user_transaction:
            operation.authenticate = operation.transaction = operation.enter_user = True
            return _conn
        role = minimum_role_of(dependency)
        if role is not None:
            operation.authenticate = operation.transaction = operation.enter_user = True
            if "org_id" not in self.path_names:
                raise TypeError(f"{operation.template}: organisation access needs {{org_id}}")
            self.parameter(PATH, "org_id", UUID, None, inspect.Parameter.empty)
            if operation.role is None or ROLE_RANK[role] > ROLE_RANK[operation.role]:
                operation.role = role
            return _access
        if dependency is claim_dependency:
            operation.authenticate = operation.transaction = operation.enter_user = True
            key_getter = self.parameter(
                HEADER,
                "idempotency_key",
                str | None,
                _idempotency_key_info(dependency),
                None,
            )
            return lambda call: _claim(call, key_getter(call))
        return self.generic(dependency)

    def generic(self, dependency: Callable[..., Any]) -> Getter:
        """Any other dependency: called with its own parameters, validated like the rest."""
        hints = typing.get_type_hints(dependency, include_extras=True)
        getters = [
            (name, self.getter_for(name, hints[name], parameter.default))
            for name, parameter in inspect.signature(dependency).parameters.items()
        ]
        if inspect.iscoroutinefunction(dependency):

            async def call_async(call: Call) -> Any:
                return await dependency(**{name: get(call) for name, get in getters})

            return call_async
        if inspect.isgeneratorfunction(dependency) or inspect.isasyncgenfunction(dependency):
            raise TypeError(f"{dependency.__name__}: dependencies with yield are the edge's own")
        return lambda call: dependency(**{name: get(call) for name, get in getters})


def _principal(call: Call) -> Principal:
    assert call.principal is not None
    return call.principal


def _conn(call: Call) -> Connection:
    assert call.conn is not None
    return call.conn


def _access(call: Call) -> OrgAccess:
    assert call.access is not None
    return call.access


async def _claim(call: Call, key: str | None) -> Idempotency:
    assert call.conn is not None
    assert call.principal is not None
    if call.idempotency is None:
        print_ = fingerprint(call.method, call.path, call.body_bytes) if key is not None else ""
        call.idempotency = await claim(call.conn, call.principal.subject, key, print_)
    return call.idempotency


def _idempotency_key_info(dependency: Callable[..., Any]) -> Any:
    hint = typing.get_type_hints(dependency, include_extras=True)["key"]
    _, metadata = _split_annotated(hint)
    return next(m for m in metadata if isinstance(m, params.Header))


def _split_annotated(hint: Any) -> tuple[Any, list[Any]]:
    if get_origin(hint) is typing.Annotated:
        annotation, *metadata = get_args(hint)
        inner, more = _split_annotated(annotation)
        return inner, [*more, *metadata]
    return hint, []


def _without_none(annotation: Any) -> Any:
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if args and type(None) in get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    candidate = _without_none(annotation)
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def compile_operation(method: str, template: str, route: APIRoute) -> Operation:
    endpoint = route.endpoint
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{method} {template}: endpoints are async")
    operation = Operation(method, template, endpoint)
    path_names = {part[1:-1] for part in template.split("/") if part.startswith("{")}
    compiler = _Compiler(operation, path_names)
    hints = typing.get_type_hints(endpoint, include_extras=True)
    for name, parameter in inspect.signature(endpoint).parameters.items():
        operation.arguments.append(
            (name, compiler.getter_for(name, hints[name], parameter.default))
        )
    if compiler.fields:
        operation.parameter_model = create_model(
            "Parameters", __config__=ConfigDict(extra="ignore"), **compiler.fields
        )
    if operation.pooled and operation.transaction:
        raise TypeError(f"{method} {template}: a one-statement read opens no transaction")
    operation.status_code = route.status_code or 200
    if route.response_model is not None:
        operation.serialize = TypeAdapter(route.response_model).dump_json
    return operation
