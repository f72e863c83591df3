"""JSON endpoints described by pydantic models, and the OpenAPI document built from them.

Usage::

    @endpoint("POST", "/embassies", body=EmbassyIn, response=EmbassyOut, status=201,
              summary="Create an embassy", tag="places")
    async def create_embassy(request: Request, body: EmbassyIn) -> EmbassyOut:
        return EmbassyOut.model_validate(await places.create_embassy(body, actor=...))

The wrapper parses and validates the query string (``query=``) and the JSON body
(``body=``), calls the handler, and serialises its return value. Bad input answers
422 with ``{"error": {"code", "message", "fields"}}``; it never reaches the handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engage.errors import InvalidInput
from engage.web.routing import Access, guarded

Handler = Callable[..., Awaitable[Any]]
API_PREFIX = "/api/v1"


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    summary: str = ""
    tag: str = "general"
    errors: tuple[int, ...] = ()
    #: Who may call it (engage.web.routing.Access): "public", "token", "staff", ...
    access: Access = Access.TOKEN

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


_REGISTRY: list[Endpoint] = []


def endpoint(
    method: str,
    path: str,
    *,
    response: type[BaseModel] | None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    status: int = 200,
    summary: str = "",
    tag: str = "general",
    errors: tuple[int, ...] = (),
    access: Access = Access.TOKEN,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as ``METHOD /api/v1<path>``, callable by ``access``."""

    def register(handler: Handler) -> Handler:
        _REGISTRY.append(
            Endpoint(
                method=method.upper(),
                path=path,
                handler=handler,
                response=response,
                body=body,
                query=query,
                status=status,
                summary=summary or (handler.__doc__ or "").strip().splitlines()[0],
                tag=tag,
                errors=errors,
                access=access,
            )
        )
        return handler

    return register


def endpoints() -> list[Endpoint]:
    return list(_REGISTRY)


def _fields_of(exc: ValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "body"
        found.setdefault(name, error["msg"].removeprefix("Value error, "))
    return found


def _asgi_handler(ep: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        kwargs: dict[str, Any] = {}
        if ep.query is not None:
            try:
                kwargs["query"] = ep.query.model_validate(dict(request.query_params))
            except ValidationError as exc:
                raise InvalidInput("Invalid query parameters.", fields=_fields_of(exc)) from None
        if ep.body is not None:
            raw = await request.body()
            try:
                data = json.loads(raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise InvalidInput("The request body is not valid JSON.") from None
            try:
                kwargs["body"] = ep.body.model_validate(data)
            except ValidationError as exc:
                raise InvalidInput("Invalid request body.", fields=_fields_of(exc)) from None
        result = await ep.handler(request, **kwargs)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=ep.status if ep.status != 200 else 204)
        payload = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        return JSONResponse(payload, status_code=ep.status)

    handle.__name__ = ep.operation_id
    return handle


def api_routes() -> list[Route]:
    """Starlette routes for every registered endpoint (paths relative to /api/v1)."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for ep in _REGISTRY:
        by_path.setdefault(ep.path, {})[ep.method] = ep
    routes = []
    for path, methods in by_path.items():
        handlers = {
            method: guarded(_asgi_handler(ep), access=ep.access, csrf_exempt=False, api=True)
            for method, ep in methods.items()
        }
        for method, handler in handlers.items():
            routes.append(Route(path, handler, methods=[method]))
    return routes


_PATH_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-z]+))?}")


def openapi_document(*, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered endpoint."""
    wanted: set[tuple[type[BaseModel], str]] = {(ErrorBody, "serialization")}
    for ep in _REGISTRY:
        if ep.response is not None:
            wanted.add((ep.response, "serialization"))
        if ep.body is not None:
            wanted.add((ep.body, "validation"))
    ordered = sorted(wanted, key=lambda item: (item[0].__name__, item[1]))
    refs, top = models_json_schema(ordered, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    schemas = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for ep in _REGISTRY:
        full = API_PREFIX + _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", ep.path)
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "tags": [ep.tag],
            "x-access": str(ep.access),
            "security": [] if ep.access is Access.PUBLIC else [{"bearer": []}, {"session": []}],
            "parameters": _parameters(ep),
            "responses": _responses(ep, refs),
        }
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(ep.body, "validation")]}},
            }
        paths.setdefault(full, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Personal API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "engage_session"},
            },
        },
    }


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for match in _PATH_PARAM.finditer(ep.path):
        kind = {"int": "integer"}.get(match.group(2) or "", "string")
        params.append(
            {"name": match.group(1), "in": "path", "required": True, "schema": {"type": kind}}
        )
    if ep.query is not None:
        schema = ep.query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": {k: v for k, v in prop.items() if k != "title"},
                    **({"description": prop["description"]} if "description" in prop else {}),
                }
            )
    return params


def _responses(ep: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    error_ref = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    responses: dict[str, Any] = {}
    if ep.response is None:
        responses[str(ep.status if ep.status != 200 else 204)] = {"description": "No content"}
    else:
        responses[str(ep.status)] = {
            "description": "Success",
            "content": {"application/json": {"schema": refs[(ep.response, "serialization")]}},
        }
    codes = set(ep.errors)
    if ep.access is not Access.PUBLIC:
        codes.update((401, 403))
    if ep.body is not None or ep.query is not None:
        codes.add(422)
    if _PATH_PARAM.search(ep.path):
        codes.add(404)
    for code in sorted(codes):
        responses[str(code)] = {"description": "Error", "content": error_ref}
    return responses
