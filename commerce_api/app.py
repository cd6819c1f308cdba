"""The commerce API application: ``create_app()``; run it with ``smartmall api serve``.

OpenAPI documentation at ``/docs``. Every error has the body ``{"error": {code, message, details}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from commerce_api import errors, loyalty, openapi
from commerce_api.admission import Admission
from commerce_api.clock import utcnow
from commerce_api.db import make_engine, make_read_sessionmaker, make_sessionmaker, transaction
from commerce_api.deps import Services
from commerce_api.logistics import SimulatedCarrier
from commerce_api.migrate import upgrade
from commerce_api.payments import Payments, SimulatedProvider
from commerce_api.rate_limit import RateLimits
from commerce_api.responses import Health
from commerce_api.routes import (
    catalogue,
    customers,
    insights,
    integrations,
    inventory,
    locations,
    marketing,
    orders,
    recommendations,
    social,
)
from commerce_api.shelf import Shelf
from commerce_api.signing import signing_secrets
from commerce_api.sweeper import fail_expired_groups, sweep_expired
from data.settings import Settings, load_settings
from serving.live import LiveSnapshot

log = logging.getLogger("smartmall.api")
# (method, path) of the busiest routes, most called first: recommendations (on every page a shopper opens),
# checkout, stock levels, till scans and member lookups, catalogue pages
HOT_ROUTES = (("GET", "/customers/{customer_id}/recommendations"), ("POST", "/orders"), ("GET", "/inventory"),
              ("GET", "/till/scan/{code}"), ("GET", "/till/members/{member_code}"), ("GET", "/products"))


def _heat(route: BaseRoute) -> int | None:
    """The route's place in ``HOT_ROUTES``, or None."""
    keys = [(method, getattr(route, "path", None)) for method in getattr(route, "methods", None) or ()]
    return next((HOT_ROUTES.index(key) for key in keys if key in HOT_ROUTES), None)


def build_services(settings: Settings, migrate: bool = True) -> Services:
    engine = make_engine(settings.database_url, settings.db_pool_size)
    if migrate:
        upgrade(engine)
    secrets = signing_secrets(settings)
    previous = settings.previous_provider_secrets()
    payments = Payments({name: SimulatedProvider(name, secrets[name], settings.currency_code, previous[name])
                         for name in ("wechat_pay", "alipay")}, settings.currency_code, settings.callback_window_seconds)
    reads = make_read_sessionmaker(engine)
    return Services(settings, make_sessionmaker(engine), payments,
                    SimulatedCarrier("simulated_carrier", secrets["simulated_carrier"], previous["simulated_carrier"]), reads,
                    LiveSnapshot(settings.published_dir), Shelf(reads.kw["bind"], settings.shelf_seconds),
                    limits=RateLimits.from_settings(settings))


LOYALTY_EVERY_SECONDS = 3600


def _loyalty_jobs(svc: Services) -> dict[str, int]:
    with transaction(svc.sessions) as session:
        return loyalty.run_schedule(session, svc.settings, utcnow())


async def _sweep_forever(svc: Services) -> None:
    """Expired reservations every ``sweep_interval_seconds``; the loyalty jobs once an hour."""
    last_loyalty = 0.0
    while True:
        await asyncio.sleep(svc.settings.sweep_interval_seconds)
        try:
            cancelled = await run_in_threadpool(sweep_expired, svc.sessions, svc.payments, svc.settings)
            if cancelled:
                log.info("sweeper cancelled %d expired orders", len(cancelled))
            failed = await run_in_threadpool(fail_expired_groups, svc.sessions, svc.payments, svc.settings)
            if failed:
                log.info("sweeper failed %d group buys past their deadline", failed)
        except Exception:  # keep sweeping; the next round retries
            log.exception("reservation sweep failed")
        if time.monotonic() - last_loyalty >= LOYALTY_EVERY_SECONDS:
            try:
                log.info("loyalty jobs: %s", await run_in_threadpool(_loyalty_jobs, svc))
                last_loyalty = time.monotonic()
            except Exception:  # retried next round
                log.exception("loyalty jobs failed")


def create_app(settings: Settings | None = None, *, sweeper: bool = True) -> FastAPI:
    """The API app; without ``settings`` it reads them once, now (each worker process does)."""
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # far fewer request threads than anyio's default 40 (measured on 2 cores: 2 per worker is fastest,
        # 4 and more lose to GIL contention): a thread holding a row lock should not queue for the GIL
        # behind dozens of others
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        task = asyncio.create_task(_sweep_forever(app.state.services)) if sweeper else None
        yield
        if task:
            task.cancel()
        app.state.services.sessions.kw["bind"].dispose()

    app = FastAPI(title="smartmall commerce API", version="0.1.0", lifespan=lifespan,
                  description="Catalogue, three-level inventory with reservations, orders, payments, after-sale, "
                              "till lookups, personalised recommendations and event intake. Amounts are integers "
                              "in minor units (fen / cents). "
                              "Authenticate with `Authorization: Bearer <API key>`.")
    app.state.services = build_services(settings)
    app.add_middleware(Admission, max_body=settings.max_body_bytes, max_inflight=settings.max_inflight,
                       target=settings.admission_target_ms / 1000)
    errors.install(app)
    openapi.install(app)
    routes = [route for module in (catalogue, locations, inventory, customers, orders, integrations, recommendations,
                                     insights, marketing, social)
              for route in module.router.routes]
    # A request is matched against the routes in order, one by one. The app holds every route itself
    # rather than including the routers (FastAPI matches an included router's routes twice over, and
    # each route costs more there: POST /orders 50-65 us of CPU less, measured), and the paths that
    # tills and shops call most come first. The routers have no prefix or dependencies of their own
    # to lose; their tags are on the routes.
    hot = sorted((route for route in routes if _heat(route) is not None), key=_heat)
    app.router.routes[:0] = hot  # before even the docs' own routes
    app.router.routes.extend(route for route in routes if _heat(route) is None)

    @app.get("/health", tags=["ops"], response_model=Health)
    def health() -> dict:
        live = app.state.services.serving.get()
        return {"status": "ok", "serving_version": live.version if live else None}

    return app
