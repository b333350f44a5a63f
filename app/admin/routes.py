"""``/_mock/``: reset, snapshots, the clock, the journal and fault rules (CONTRACT.md D29 to D32).

Routes are thin: the guard has checked the admin token before any of them runs
(app/middleware.py), the work is in ``state``, ``clock_control``, ``journal`` and ``faults``.
What lives in this process's memory rather than in the database (the journal, fault rules) is
cleared on reset through ``app.state.on_reset``.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from app import clock
from app.admin import state
from app.admin.clock_control import ClockChange, change_clock, claim_due
from app.admin.faults import FaultBook
from app.admin.journal import Filters, Journal, render_all
from app.admin.schemas import (
    DEFAULT_JOURNAL_LIMIT,
    ClockRequest,
    ClockResponse,
    FaultClearResponse,
    FaultCreateRequest,
    FaultDeleteResponse,
    FaultListResponse,
    FaultModel,
    HttpMethod,
    Instant,
    JournalCount,
    JournalFilters,
    JournalLimit,
    JournalPage,
    NamespaceIdentifier,
    PathGlob,
    SnapshotCreateRequest,
    SnapshotListResponse,
    SnapshotModel,
    SnapshotName,
    SnapshotRestoreResponse,
    SuccessResponse,
)
from app.admin.tokens import ADMIN_PATH_PREFIX
from app.clock import ClockState
from app.db.database import Database
from app.dependencies import DatabaseDep, EngineDep
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse

ADMIN_TAG = "Mock admin"

router = APIRouter(prefix=ADMIN_PATH_PREFIX, tags=[ADMIN_TAG], route_class=StrictQueryRoute)

SnapshotInPath = Annotated[SnapshotName, Path(description="The snapshot's name.")]


def reset_hooks(request: Request) -> list[Callable[[], None]]:
    """What a reset clears besides the database, registered by the parts that hold it."""
    hooks: list[Callable[[], None]] = request.app.state.on_reset
    return hooks


@router.post("/reset", response_model=SuccessResponse, summary="Reset the server")
async def reset(request: Request, database: DatabaseDep) -> ModelResponse:
    """Leave the server as a fresh one with the same API keys (D29); snapshots stay."""
    state.reset(database)
    for clear in reset_hooks(request):
        clear()
    return ModelResponse(SuccessResponse())


@router.post("/snapshots", response_model=SnapshotModel, summary="Save a snapshot")
async def save_snapshot(request: SnapshotCreateRequest, database: DatabaseDep) -> ModelResponse:
    """Save the whole state under a name (an existing snapshot of that name is replaced)."""
    saved = state.save_snapshot(database, request.name)
    return ModelResponse(SnapshotModel(name=saved.name, created_at=saved.created_at))


@router.get("/snapshots", response_model=SnapshotListResponse, summary="List snapshots")
async def list_snapshots(database: DatabaseDep) -> ModelResponse:
    snapshots = state.list_snapshots(database)
    return ModelResponse(
        SnapshotListResponse(
            results=[SnapshotModel(name=s.name, created_at=s.created_at) for s in snapshots]
        )
    )


@router.post(
    "/snapshots/{name}/restore",
    response_model=SnapshotRestoreResponse,
    responses={404: {}},
    summary="Restore a snapshot",
)
async def restore_snapshot(name: SnapshotInPath, database: DatabaseDep) -> ModelResponse:
    state.restore_snapshot(database, name)
    return ModelResponse(SnapshotRestoreResponse(name=name))


@router.delete(
    "/snapshots/{name}",
    response_model=SnapshotRestoreResponse,
    responses={404: {}},
    summary="Delete a snapshot",
)
async def delete_snapshot(name: SnapshotInPath, database: DatabaseDep) -> ModelResponse:
    state.delete_snapshot(database, name)
    return ModelResponse(SnapshotRestoreResponse(name=name))


def _clock_response(now_state: ClockState) -> ModelResponse:
    return ModelResponse(ClockResponse(now=now_state.now(), frozen=now_state.frozen))


@router.get("/clock", response_model=ClockResponse, summary="Read the clock")
async def read_clock(database: DatabaseDep) -> ModelResponse:
    return _clock_response(clock.load(database))


@router.post("/clock", response_model=ClockResponse, summary="Freeze, set or advance the clock")
async def move_clock(
    request: ClockRequest, database: DatabaseDep, engine: EngineDep
) -> ModelResponse:
    """Freeze, set, advance (in that order). With the scheduler on, the syncs this makes due
    have their jobs before the answer (D32); the engine process runs them."""
    new_state = change_clock(
        database,
        ClockChange(
            freeze=request.freeze,
            set_to=request.set,
            advance=None
            if request.advance_seconds is None
            else timedelta(seconds=request.advance_seconds),
        ),
    )
    if engine.config.scheduler and claim_due(
        database, worker_id=engine.worker_id, ttl_seconds=engine.config.lease_ttl_seconds
    ):
        engine.wake()
    return _clock_response(new_state)


# --- The journal (D30) ---------------------------------------------------------------------


def journal_of(request: Request) -> Journal:
    journal: Journal = request.app.state.journal
    return journal


def _filters(
    database: Database,
    *,
    method: str | None,
    path: str | None,
    status: int | None,
    namespace: str | None,
    since: datetime | None,
) -> Filters:
    namespace_ids = None
    if namespace is not None:
        # By id or by name, in any organization; the id itself too, for a namespace that has
        # been deleted since.
        namespace_ids = frozenset(
            [
                namespace,
                *database.column(
                    "SELECT namespace_id FROM namespaces WHERE namespace_id = ?1"
                    " UNION SELECT namespace_id FROM namespaces WHERE namespace_name = ?1",
                    (namespace,),
                ),
            ]
        )
    return Filters(
        method=method, path=path, status=status, namespace_ids=namespace_ids, since=since
    )


@router.get("/requests", response_model=JournalPage, summary="Read the request journal")
async def read_journal(
    request: Request,
    database: DatabaseDep,
    method: Annotated[HttpMethod | None, Query(description="GET, POST, ... (any case)")] = None,
    path: Annotated[PathGlob | None, Query(description="'*' in a segment, '**' across")] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    namespace: Annotated[NamespaceIdentifier | None, Query(description="id or name")] = None,
    since: Annotated[
        Instant | None, Query(description="RFC 3339, inclusive, on the server's clock")
    ] = None,
    limit: Annotated[JournalLimit, Query()] = DEFAULT_JOURNAL_LIMIT,
) -> ModelResponse:
    """The newest requests to /v1 first (D30); ``total`` counts every match beyond ``limit``.
    Credentials, keys and tokens are masked; bodies are JSON when they were JSON."""
    filters = _filters(
        database, method=method, path=path, status=status, namespace=namespace, since=since
    )
    entries, total = journal_of(request).find(filters, limit)
    return ModelResponse(
        JournalPage.model_validate({"results": render_all(entries), "total": total})
    )


@router.post("/requests/count", response_model=JournalCount, summary="Count journal entries")
async def count_journal(
    request: Request, database: DatabaseDep, filters: JournalFilters | None = None
) -> ModelResponse:
    """How many entries match the filters (the same as the read's, as a JSON body): a verify
    in one call. No body counts every entry."""
    given = filters or JournalFilters()
    count = journal_of(request).count(
        _filters(
            database,
            method=given.method,
            path=given.path,
            status=given.status,
            namespace=given.namespace,
            since=given.since,
        )
    )
    return ModelResponse(JournalCount(count=count))


@router.delete("/requests", response_model=SuccessResponse, summary="Clear the request journal")
async def clear_journal(request: Request) -> ModelResponse:
    journal_of(request).clear()
    return ModelResponse(SuccessResponse())


# --- Fault rules (D31) ---------------------------------------------------------------------


def faults_of(request: Request) -> FaultBook:
    faults: FaultBook = request.app.state.faults
    return faults


@router.post("/faults", response_model=FaultModel, summary="Add a fault or latency rule")
async def add_fault(request: Request, rule: FaultCreateRequest) -> ModelResponse:
    """A rule for the requests to /v1 it matches, tried after the rules added before it: an
    error answer (``status``), a dropped connection (``drop``) and/or a delay (``delay_ms``).
    At most 100 rules (a 422 beyond)."""
    return ModelResponse(faults_of(request).add(rule).public())


@router.get("/faults", response_model=FaultListResponse, summary="List fault rules")
async def list_faults(request: Request) -> ModelResponse:
    """In the order added, with how often each matched and fired."""
    return ModelResponse(
        FaultListResponse(results=[rule.public() for rule in faults_of(request).rules])
    )


@router.delete(
    "/faults/{fault_id}",
    response_model=FaultDeleteResponse,
    responses={404: {}},
    summary="Delete a fault rule",
)
async def delete_fault(
    request: Request, fault_id: Annotated[str, Path(max_length=100)]
) -> ModelResponse:
    faults_of(request).delete(fault_id)
    return ModelResponse(FaultDeleteResponse(fault_id=fault_id))


@router.delete("/faults", response_model=FaultClearResponse, summary="Delete every fault rule")
async def clear_faults(request: Request) -> ModelResponse:
    return ModelResponse(FaultClearResponse(deleted=faults_of(request).clear()))
