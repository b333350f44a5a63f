"""Sending response models (with the headers of app/headers.py on each).

Handlers return ``ModelResponse(model)`` rather than the model itself: the model is already
valid, so this skips FastAPI's second validation pass and serializes once, in pydantic's Rust
core. The route's ``response_model`` still documents the shape in openapi.json.

A write renders its record with ``render_record`` inside its transaction, and the handler sends
those bytes: a record that cannot be served (or that is larger than a record may be) raises
there, the transaction rolls back, and nothing is stored that a later read would fail on.
"""

from pydantic import BaseModel
from starlette.responses import Response

from app.errors import validation_error
from app.headers import API_HEADERS
from app.limits import MAX_RECORD_BYTES


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(self, model: BaseModel | bytes, status_code: int = 200) -> None:
        """``model`` is a response model, or the JSON ``render_record`` made of one."""
        if isinstance(model, BaseModel):
            model = model.__pydantic_serializer__.to_json(model)
        super().__init__(model, status_code=status_code)
        self.raw_headers.extend(API_HEADERS)


def render_record(model: BaseModel) -> bytes:
    """The record's JSON as it will be sent; a 422 when it is over ``MAX_RECORD_BYTES``."""
    body = model.__pydantic_serializer__.to_json(model)
    if len(body) > MAX_RECORD_BYTES:
        raise validation_error(
            [
                {
                    "type": "record_too_large",
                    "loc": ("body",),
                    "msg": f"The record would take {len(body)} bytes as JSON; at most"
                    f" {MAX_RECORD_BYTES} are allowed",
                }
            ]
        )
    return body
