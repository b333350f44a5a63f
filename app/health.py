"""``GET /v1/health``: no key needed; reports whether the database answers (reference shape)."""

from typing import Literal

from fastapi import APIRouter

from app.dependencies import DatabaseDep
from app.errors import ServiceUnavailableError
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse
from app.schemas import ResponseModel

router = APIRouter(tags=["Health"], route_class=StrictQueryRoute)


class HealthServiceStatus(ResponseModel):
    """The reference's per-service flags; here only ``metadata`` (the database) is real."""

    metadata: bool
    cache: bool = True
    vector_store: bool = True
    object_storage: bool = True
    task_queue: bool = True
    inference: bool = True


class HealthCheckResponse(ResponseModel):
    status: Literal["OK", "DEGRADED"]
    data: HealthServiceStatus
    database: Literal["ok"]


@router.get("/v1/health", response_model=HealthCheckResponse, summary="Healthcheck")
async def health(database: DatabaseDep) -> ModelResponse:
    try:
        healthy = database.scalar("SELECT 1") == 1
    except Exception as exc:  # any database failure means "not serving"
        raise ServiceUnavailableError(f"Database unavailable: {type(exc).__name__}") from None
    if not healthy:
        raise ServiceUnavailableError("Database unavailable.")
    return ModelResponse(
        HealthCheckResponse(status="OK", data=HealthServiceStatus(metadata=True), database="ok")
    )
