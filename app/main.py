"""The application factory: one FastAPI app per call, configured by the settings it is given."""

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app import API_VERSION, clock, identifiers
from app import __doc__ as description
from app.admin.clock_control import ClockFollower
from app.admin.faults import FaultBook
from app.admin.journal import Journal, RequestRecorder
from app.admin.routes import router as admin_router
from app.admin.seed import SeedDocument
from app.admin.seed_routes import router as seed_router
from app.admin.tokens import AdminTokens
from app.buckets.routes import router as buckets_router
from app.connections.probe import ProbePool
from app.connections.routes import router as connections_router
from app.cors import CorsPolicy
from app.db.checkpoint import Checkpointer
from app.db.database import POSTGRESQL, Database, SQLiteDatabase, backend_of
from app.db.greenlets import STATE_KEY as POOL_STATE_KEY
from app.db.greenlets import GreenletRequests
from app.db.migrate import upgrade_to_head
from app.dead_letters.routes import router as dead_letters_router
from app.docs import docs_router
from app.engine.leases import new_worker_id
from app.engine.supervisor import EngineSupervisor, LeaseReaper
from app.engine.worker import EngineConfig
from app.errors import install_error_handlers
from app.health import router as health_router
from app.hotpath import SyncHotPath
from app.idempotency import install_replays
from app.jobs.routes import router as jobs_router
from app.middleware import RequestGuard
from app.namespaces.routes import router as namespaces_router
from app.objects.routes import router as objects_router
from app.openapi import install_openapi
from app.settings import Settings
from app.storage.egress import EgressPolicy
from app.syncs.routes import router as syncs_router


@asynccontextmanager
async def _postgres_serving(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """PostgreSQL: requests run in greenlets, each on a connection borrowed from the pool, and
    wait for statements (the writer lock too, up to ``lock_wait_seconds``) on the loop
    (app/db/greenlets.py)."""
    from app.db.postgres import ConnectionPool, PostgresDatabase, ServingDatabase

    with contextlib.closing(PostgresDatabase.open(settings.database_url)) as database:
        upgrade_to_head(database, settings.database_url)
        difference = database.locale_differences()
    if difference is not None:
        logging.getLogger("mixpeek_mock").warning("PostgreSQL: %s", difference)
    # The reaper's own connection, used from a thread (it must not block the loop either).
    reaper_database = Database.open(settings.database_url)
    pool = ConnectionPool(
        settings.database_url,
        size=settings.database_pool_size,
        lock_wait_seconds=settings.lock_wait_seconds,
    )
    app.state.database = ServingDatabase(pool)
    try:
        await pool.fill()
        setattr(app.state, POOL_STATE_KEY, pool)
        async with _serving(
            app, settings, reaper_database=reaper_database, reap_in_thread=True, shared=True
        ):
            yield
    finally:
        setattr(app.state, POOL_STATE_KEY, None)
        app.state.database.close()
        reaper_database.close()


@asynccontextmanager
async def _serving(
    app: FastAPI,
    settings: Settings,
    *,
    reaper_database: Database,
    reap_in_thread: bool = False,
    shared: bool = False,
) -> AsyncIterator[None]:
    """What serving needs besides the database, on either backend. ``shared``: other server
    processes may use the database too (PostgreSQL), so the clock is followed there."""
    database: Database = app.state.database
    # The deployment's clock and, with a seed, its id sequences (D32).
    clock.load(database)
    identifiers.use_seed(settings.id_seed, lambda: database)
    follower = ClockFollower(settings.database_url) if shared else None
    if follower is not None:
        follower.start()
    app.state.probes = ProbePool(
        policy=EgressPolicy(settings.storage_endpoints),
        seconds=settings.storage_timeout_seconds,
        threads=settings.storage_probe_threads,
    )
    engine = app.state.engine = EngineSupervisor(
        # A new worker id for every start: leases name the process that holds them.
        EngineConfig.from_settings(settings, worker_id=new_worker_id())
    )
    reaper = LeaseReaper(
        reaper_database, live_worker_ids={engine.worker_id}, in_thread=reap_in_thread
    )
    reaper.reap_at_start()
    reaper.start()
    if settings.scheduler:
        engine.start()
    # Everything built so far lives as long as the process: keep it out of the garbage
    # collector's generations, so that collections during requests stay short. (No
    # gc.collect() first: it would add a twentieth of a second to every start.)
    gc.freeze()
    try:
        yield
    finally:
        await engine.stop()
        await reaper.stop()
        app.state.probes.close()
        if follower is not None:
            follower.stop()
        identifiers.use_seed(None, lambda: database)
        clock.apply(clock.REAL_TIME)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if backend_of(settings.database_url) == POSTGRESQL:
            async with _postgres_serving(app, settings):
                yield
            return
        database = Database.open(settings.database_url)
        assert isinstance(database, SQLiteDatabase)
        upgrade_to_head(database, settings.database_url)
        database.conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer does it
        # Never wait for another process's lock on the event loop: the guard retries instead.
        database.wait_for_locks(0)
        app.state.database = database
        checkpointer = Checkpointer(settings.database_url)
        checkpointer.start()
        try:
            async with _serving(app, settings, reaper_database=database):
                yield
        finally:
            await checkpointer.stop()
            database.close()

    app = FastAPI(
        title="mixpeek-mock",
        description=description,
        version=API_VERSION,
        lifespan=lifespan,
        # One schema per model: request and response shapes are named as in the reference.
        separate_input_output_schemas=False,
        # No 307 to the path without its trailing slash: the decoded path of ".../sync_x%2F"
        # would redirect a DELETE onto ".../sync_x". A trailing slash is simply not a route.
        redirect_slashes=False,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # /docs and /redoc are app/docs.py's, with their assets served from the package.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # No connection pool unless serving PostgreSQL (set here so that looking it up per request
    # never takes getattr's exception path).
    setattr(app.state, POOL_STATE_KEY, None)
    # The request journal and the fault rules (D30, D31): in this process's memory.
    journal = app.state.journal = Journal(settings.journal_size)
    faults = app.state.faults = FaultBook()
    # What a reset clears besides the database: the parts that keep state in memory add to it.
    app.state.on_reset = [journal.clear, faults.clear]
    # Request bodies a route checks itself (declared by $ref in its openapi_extra): their
    # schemas go into the spec's components (app/openapi.py).
    app.state.openapi_models = [SeedDocument]
    # Middleware added last runs first: the recorder journals every request to /v1 (what the
    # guard refuses too); on PostgreSQL the rest runs in a greenlet (GreenletRequests); the guard
    # authenticates, checks the body and applies the fault rules; then the hot path serves sync
    # reads and PATCHes, then FastAPI routes the rest.
    app.add_middleware(SyncHotPath)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        lock_wait_seconds=settings.lock_wait_seconds,
        cors=CorsPolicy(settings.cors_origins),
        admin_tokens=AdminTokens(settings.admin_token),
        faults=faults,
    )
    # On PostgreSQL, the whole request from the guard on runs in a greenlet of its own.
    app.add_middleware(GreenletRequests)
    if settings.journal_size:
        app.add_middleware(RequestRecorder, journal=journal)
    install_error_handlers(app)
    install_replays(app)
    # Routers are matched in this order, so the hot path (sync reads and PATCHes) comes first.
    routers = (
        syncs_router,
        jobs_router,
        dead_letters_router,
        health_router,
        buckets_router,
        objects_router,
        namespaces_router,
        connections_router,
        admin_router,
        seed_router,
        docs_router(),
    )
    app.state.api_routes = [
        route for router in routers for route in router.routes if isinstance(route, APIRoute)
    ]
    for route in app.state.api_routes:
        # HEAD wherever GET (RFC 9110): FastAPI's routes, unlike Starlette's, take only the
        # methods they name. The guard drops the body; openapi.json lists the GET alone.
        if "GET" in route.methods:
            route.methods.add("HEAD")
    app.router.routes.extend(app.state.api_routes)
    install_openapi(app)
    return app
