"""The application factory: ``create_app(settings)`` returns the ASGI app.

::

    settings = with_secret_key(load_settings())
    app = create_app(settings)            # uvicorn engage.app:... or engage serve
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engage import db
from engage.alumni.names import ensure_search_tokens
from engage.api import api_routes, openapi_document
from engage.errors import EngageError
from engage.events.kinds import install_kinds
from engage.places.seed import seed_countries
from engage.resources import static_dir
from engage.settings import Settings, with_secret_key
from engage.web import errors
from engage.web import site as _site  # noqa: F401  (page modules register their routes)
from engage.web.middleware import RequestContextMiddleware
from engage.web.routing import Access, guarded, page_routes
from engage.web.templating import make_templates
from engage.worker.service import mail_service


def create_app(
    settings: Settings, *, run_worker: bool | None = None, hold_lock: bool | None = None
) -> Starlette:
    """Build the app. ``run_worker`` defaults to True on SQLite (one process serves
    and sends), False on PostgreSQL (``engage worker`` processes send). On SQLite the
    app holds the database's process lock unless ``hold_lock=False`` (tests)."""
    settings = with_secret_key(settings)
    install_kinds(settings)  # raises KindError: a bad kind file stops start-up
    if run_worker is None:
        run_worker = settings.database.is_sqlite
    if hold_lock is None:
        hold_lock = settings.database.is_sqlite

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with db.database(settings, process_wide=True) as ctx:
            if settings.database.is_sqlite:
                await db.apply_migrations(ctx)
            elif pending := await db.pending_migrations(ctx):
                raise db.PendingMigrations(pending)
            await seed_countries()
            await ensure_search_tokens()
            async with mail_service(settings, run_worker=run_worker, hold_lock=hold_lock) as mail:
                app.state.mail = mail
                yield

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(
            openapi_document(title=f"{settings.app.site_name} API", version=version("engage"))
        )

    routes = [
        *page_routes(settings),
        Route(
            "/openapi.json",
            guarded(openapi, access=Access.PUBLIC, csrf_exempt=False, api=True),
            methods=["GET"],
        ),
        Mount("/api/v1", routes=api_routes()),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestContextMiddleware, https=settings.app.base_url.startswith("https:"))
        ],
        exception_handlers={
            HTTPException: errors.http_exception_handler,
            EngageError: errors.engage_error_handler,
            Exception: errors.server_error_handler,
        },
    )
    app.state.settings = settings
    app.state.templates = make_templates(settings)
    return app
