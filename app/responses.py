"""Sending response models, and the headers every API answer carries.

Handlers return ``ModelResponse(model)`` rather than the model itself: the model is already
valid, so this skips FastAPI's second validation pass and serializes once, in pydantic's Rust
core. The route's ``response_model`` still documents the shape in openapi.json.
"""

from pydantic import BaseModel
from starlette.responses import Response

# On every API answer, success or error: answers are JSON to be read, never sniffed as another
# type, and they hold per-caller data that no cache should keep. Added where each response is
# built (here, app/errors.py, the guard, app/transport.py) rather than by a wrapper per request.
API_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(model.__pydantic_serializer__.to_json(model), status_code=status_code)
        self.raw_headers.extend(API_HEADERS)
