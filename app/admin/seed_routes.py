"""``POST /_mock/seed``: load a seed fixture into the running server (CONTRACT.md D29).

The body is the fixture as JSON (the guard accepts JSON bodies only; YAML goes through
``mixpeek-mock seed``), bounded by ``MIXPEEK_MOCK_MAX_BODY_BYTES`` and by the loader's own
record limit. It is checked by the loader rather than by FastAPI, so that the 422 lists every
problem (field rules, duplicates, conflicts with stored records), each at its place in the body.
"""

from typing import Any

from fastapi import APIRouter, Request

from app.admin.routes import ADMIN_TAG
from app.admin.seed import SeedError, SeedResponse, load_document
from app.admin.tokens import ADMIN_PATH_PREFIX
from app.dependencies import DatabaseDep
from app.middleware import PARSED_BODY
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse

router = APIRouter(prefix=ADMIN_PATH_PREFIX, tags=[ADMIN_TAG], route_class=StrictQueryRoute)

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SeedDocument"}}},
    }
}


@router.post(
    "/seed",
    response_model=SeedResponse,
    openapi_extra=_BODY,
    summary="Load a seed fixture",
)
async def seed(request: Request, database: DatabaseDep) -> ModelResponse:
    """Add the fixture's organizations, keys, namespaces, connections, buckets, syncs and
    objects, all or nothing; a 422 lists every problem with its place, and nothing changes."""
    document: Any = request.scope.get("state", {}).get(PARSED_BODY)
    try:
        created = load_document(database, document)
    except SeedError as exc:
        raise exc.as_api_error() from None
    return ModelResponse(SeedResponse(created=created))
