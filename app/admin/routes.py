"""``/_mock/``: reset, snapshots and the clock (CONTRACT.md D29, D32).

Routes are thin: the guard has checked the admin token before any of them runs
(app/middleware.py), the work is in ``state`` and ``clock_control``. What lives in this
process's memory rather than in the database (the journal, fault rules) is cleared on reset
through ``app.state.on_reset``.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request

from app import clock
from app.admin import state
from app.admin.clock_control import ClockChange, change_clock, claim_due
from app.admin.schemas import (
    ClockRequest,
    ClockResponse,
    SnapshotCreateRequest,
    SnapshotListResponse,
    SnapshotModel,
    SnapshotName,
    SnapshotRestoreResponse,
    SuccessResponse,
)
from app.admin.tokens import ADMIN_PATH_PREFIX
from app.clock import ClockState
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
