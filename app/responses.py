"""Sending response models.

Handlers return ``ModelResponse(model)`` rather than the model itself: the model is already
valid, so this skips FastAPI's second validation pass and serializes once, in pydantic's Rust
core. The route's ``response_model`` still documents the shape in openapi.json.
"""

from pydantic import BaseModel
from starlette.responses import Response


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(model.__pydantic_serializer__.to_json(model), status_code=status_code)
