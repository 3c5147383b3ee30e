"""The FastAPI application factory: routers, middleware, error mapping, lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from cityhub import __version__, migrations
from cityhub.appointments.api import router as appointments_router
from cityhub.appointments.fhir import router as fhir_router
from cityhub.appointments.sold_out import SoldOut
from cityhub.autodebit.api import router as autodebit_router
from cityhub.billing.api import router as billing_router
from cityhub.billing.channel_api import router as billing_channel_router
from cityhub.billing.channel_api import staff_router as refund_requests_router
from cityhub.billing.receipts_api import router as receipts_router
from cityhub.cities.api import router as cities_router
from cityhub.cities.catalogue_hot import HotCatalogue
from cityhub.cities.jobs_api import router as jobs_router
from cityhub.complaints.api import router as complaints_router
from cityhub.connectors.api import router as connectors_router
from cityhub.connectors.registry import ConnectorHub
from cityhub.contract import contract
from cityhub.figures.api import router as figures_router
from cityhub.history.api import router as history_router
from cityhub.identity import deps as identity_deps
from cityhub.identity.admin_api import channels_router as channel_admin_router
from cityhub.identity.admin_api import router as staff_admin_router
from cityhub.identity.api import router as identity_router
from cityhub.identity.pii import Vault, scrub
from cityhub.identity.residents_api import router as residents_router
from cityhub.identity.sandbox_api import router as sandbox_router
from cityhub.identity.self_api import router as channel_self_router
from cityhub.lottery.api import router as lottery_router
from cityhub.notices.api import router as notices_router
from cityhub.notices.channel_api import router as notices_channel_router
from cityhub.notices.console import router as notices_console_router
from cityhub.outbox import Dispatcher, load_handlers
from cityhub.outbox import admin as outbox_admin
from cityhub.platform import cache_listen, events, metrics, openapi, ratelimit
from cityhub.platform.clients import TrustedProxies
from cityhub.platform.config import Settings, get_settings
from cityhub.platform.db import Database, database_for
from cityhub.platform.deps import DbDep, SessionDep
from cityhub.platform.errors import install_error_handlers, problem
from cityhub.platform.idempotency import IdempotentReplay
from cityhub.platform.logs import configure as configure_logs
from cityhub.platform.middleware import BodyLimit, JsonDepthLimit, RequestContext
from cityhub.platform.throttle import throttle_for
from cityhub.queries.api import router as queries_router
from cityhub.requests.api import router as requests_router
from cityhub.requests.open311 import router as open311_router
from cityhub.requests.photos import UPLOAD_ROUTES
from cityhub.subsidies.api import router as subsidies_router
from cityhub.web import mount as mount_web
from cityhub.webhooks.api import router as webhooks_router
from cityhub.webhooks.channel_api import router as webhooks_channel_router

health = APIRouter(tags=["health"])


@health.get("/healthz", operation_id="getHealth", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@health.get("/readyz", operation_id="getReadiness", summary="Readiness: database and migrations")
async def readyz(request: Request, db: DbDep) -> JSONResponse:
    """Ready to serve: the database answers and its schema is current. The providers'
    breaker states are shown under `connectors` but never make the hub unready: a provider
    that is down fails its own calls fast, the rest of the hub goes on."""
    checks: dict[str, str] = {}
    try:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        at, want = await migrations.current(db), migrations.head()
        checks["migrations"] = "ok" if at == want else f"at {at}, code wants {want}"
    except Exception as exc:  # the answer says what is wrong instead of failing
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    connectors = request.app.state.connectors.snapshot()
    if not ready:
        return problem(
            503,
            "not_ready",
            "Not ready",
            detail="; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok"),
            request=request,
            checks=checks,
            connectors=connectors,
        )
    return JSONResponse({"status": "ready", "checks": checks, "connectors": connectors})


@health.get("/metrics", include_in_schema=False)
async def prometheus(request: Request, session: SessionDep) -> Response:
    """Prometheus metrics."""
    request.app.state.connectors.guards.publish()
    await outbox_admin.refresh_metrics(session=session)
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")


async def _replay(request: Request, exc: Exception) -> JSONResponse:
    """The first answer given to the key, again."""
    assert isinstance(exc, IdempotentReplay)
    return JSONResponse(
        exc.body, status_code=exc.status_code, headers={"Idempotent-Replay": "true"}
    )


def _include_routes(app: FastAPI) -> None:
    """Every router of the API, then the pages."""
    app.include_router(health)
    app.include_router(identity_router)
    app.include_router(residents_router)
    app.include_router(staff_admin_router)
    app.include_router(channel_admin_router)
    app.include_router(cities_router)
    app.include_router(connectors_router)
    app.include_router(queries_router)
    app.include_router(billing_router)
    app.include_router(receipts_router)
    app.include_router(webhooks_router)
    app.include_router(lottery_router)
    app.include_router(notices_router)
    app.include_router(notices_channel_router)
    app.include_router(notices_console_router)
    app.include_router(appointments_router)
    app.include_router(fhir_router, include_in_schema=False)  # FHIR and Open311: see contract.py
    app.include_router(requests_router)
    app.include_router(channel_self_router)
    app.include_router(webhooks_channel_router)
    app.include_router(billing_channel_router)
    app.include_router(refund_requests_router)
    app.include_router(open311_router, include_in_schema=False)
    app.include_router(jobs_router)
    app.include_router(history_router)
    app.include_router(figures_router)
    app.include_router(complaints_router)
    app.include_router(autodebit_router)
    app.include_router(sandbox_router)
    app.include_router(subsidies_router)
    openapi.install(app, contract())
    mount_web(app)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    """A configured hub application. Refuses unsafe production settings."""
    settings = settings or get_settings()
    settings.check_safe()
    configure_logs(level=settings.log_level, json=settings.log_json, mask=scrub)
    database = db or database_for(settings)
    owns_db = db is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        # The caches hear changes instead of reading their version per request (PostgreSQL).
        listener = cache_listen.listener_for(database, enabled=settings.cache_listen)
        listening = None if listener is None else asyncio.create_task(listener.run(stop))
        dispatcher = publisher = None
        if settings.embedded_worker:
            registry, publisher = events.with_publisher(load_handlers(), settings)
            dispatcher = Dispatcher(database, settings, registry=registry)
            task = asyncio.create_task(dispatcher.run_forever(stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with suppress(asyncio.CancelledError):
                    await task
            if listening is not None:
                with suppress(asyncio.CancelledError):
                    await listening
            if dispatcher is not None:
                await dispatcher.close()
            if publisher is not None:
                await publisher.close()
            await app.state.connectors.aclose()
            await app.state.throttle.aclose()
            if owns_db:
                await database.dispose()
            metrics.process_stopped()

    app = FastAPI(
        title="CityHub",
        version=__version__,
        summary="One integration for the city, any number of channels.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.vault = Vault.from_settings(settings)
    app.state.connectors = ConnectorHub(settings)
    app.state.throttle = throttle_for(settings, database)
    app.state.rate_limiter = ratelimit.RateLimiter(settings)
    app.state.problem_base = f"{settings.base_url.rstrip('/')}/problems/"
    install_error_handlers(app)
    app.add_exception_handler(IdempotentReplay, _replay)
    identity_deps.install(app)

    _include_routes(app)
    app.add_middleware(HotCatalogue)  # innermost: a repeated catalogue read, before routing
    app.add_middleware(SoldOut)  # a booking attempt on a full slot, before routing
    app.add_middleware(ratelimit.RateLimitHeaders)  # on every answer, problems included
    app.add_middleware(JsonDepthLimit)  # inside BodyLimit: it holds at most the limit
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, larger=UPLOAD_ROUTES)
    app.add_middleware(RequestContext)
    # Outermost: everything inside (the access log, limits, pages) sees the believed address.
    app.add_middleware(TrustedProxies, trusted=settings.trusted_proxy_list)
    return app
