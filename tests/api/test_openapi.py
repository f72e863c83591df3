from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from engage.api.endpoint import Endpoint, _asgi_handler
from engage.errors import EngageError, NotFound
from engage.web import errors

WRITE_METHODS = {"POST", "PUT", "PATCH"}


def _api_operations(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/api/v1":
            for sub in route.routes:
                for method in sub.methods or ():
                    if method != "HEAD":
                        found.add((f"/api/v1{sub.path}", method))
    return found


async def test_every_api_route_is_documented_with_schemas(client, app):
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    operations = _api_operations(app)
    assert operations, "no /api/v1 routes found"
    schemas = document["components"]["schemas"]
    for path, method in operations:
        op = document["paths"].get(path, {}).get(method.lower())
        assert op is not None, f"{method} {path} is missing from /openapi.json"
        success = [code for code in op["responses"] if code.startswith("2")]
        assert success, f"{method} {path} documents no success response"
        for code in success:
            if code != "204":
                ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref.split("/")[-1] in schemas, f"{method} {path}: {ref} undefined"
        if method in WRITE_METHODS:
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            assert body and body.get("schema"), f"{method} {path} has no request schema"
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    assert documented == operations, "document lists operations the app does not serve"


async def test_api_errors_are_json_never_html(client):
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await client.delete("/api/v1/meta")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_meta(client):
    body = (await client.get("/api/v1/meta")).json()
    assert body["funding_types"] == ["IMET", "FMS", "other"]
    assert body["api_version"] == "v1"


# The endpoint machinery, on a small app of its own (the real registry stays clean).


class ThingIn(BaseModel):
    name: str = Field(min_length=1)
    size: int = Field(ge=0)


class ThingOut(BaseModel):
    name: str
    size: int


class ThingQuery(BaseModel):
    limit: int = Field(default=10, ge=1, le=100)


async def create_thing(request, body: ThingIn) -> ThingOut:
    if body.name == "missing":
        raise NotFound("No such thing.")
    return ThingOut(name=body.name, size=body.size)


async def list_things(request, query: ThingQuery) -> ThingOut:
    return ThingOut(name="n", size=query.limit)


@pytest.fixture
async def thing_client():
    post = Endpoint("POST", "/things", create_thing, ThingOut, body=ThingIn, status=201)
    get = Endpoint("GET", "/things", list_things, ThingOut, query=ThingQuery)
    handlers = {"POST": _asgi_handler(post), "GET": _asgi_handler(get)}

    async def dispatch(request):
        return await handlers[request.method](request)

    small = Starlette(
        routes=[Mount("/api/v1", routes=[Route("/things", dispatch, methods=["GET", "POST"])])],
        exception_handlers={
            HTTPException: errors.http_exception_handler,
            EngageError: errors.engage_error_handler,
        },
    )
    transport = httpx.ASGITransport(app=small)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def test_valid_body_is_created(thing_client):
    response = await thing_client.post("/api/v1/things", json={"name": "a", "size": 2})
    assert response.status_code == 201
    assert response.json() == {"name": "a", "size": 2}


@pytest.mark.parametrize(
    ("content", "fields"),
    [
        (b"{not json", None),
        (b'{"name": "", "size": -1}', {"name", "size"}),
        (b'{"size": "big"}', {"name", "size"}),
        (b"[]", {"body"}),
    ],
)
async def test_bad_bodies_get_422_with_fields(thing_client, content, fields):
    response = await thing_client.post(
        "/api/v1/things", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"]
    if fields is not None:
        assert set(error["fields"]) == fields


async def test_bad_query_gets_422(thing_client):
    response = await thing_client.get("/api/v1/things", params={"limit": "0"})
    assert response.status_code == 422
    assert "limit" in response.json()["error"]["fields"]


async def test_domain_errors_map_to_status(thing_client):
    response = await thing_client.post("/api/v1/things", json={"name": "missing", "size": 1})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such thing."}}
