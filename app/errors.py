"""One error hierarchy and one envelope for every non-2xx answer (CONTRACT.md D6).

Anything below the HTTP layer raises an ``ApiError`` subclass; the handlers installed by
``install_error_handlers`` render it, FastAPI's validation errors, Starlette's routing errors
and unexpected crashes into the same JSON shape.
"""

import logging
import re
import secrets
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.headers import API_HEADERS
from app.jsonutil import dump_json
from app.limits import (
    MAX_ERROR_MESSAGE_LENGTH,
    MAX_LOCATION_PART_LENGTH,
    MAX_REPORTED_ERRORS,
)

log = logging.getLogger("mixpeek_mock")
# One INFO line per error answer but a 500 (whose traceback is logged under its request id):
# its status, type, code and message, never a request's values (messages name fields, not
# what was sent in them) and never a credential. MIXPEEK_MOCK_LOG_LEVEL=warning silences it.
answers_log = logging.getLogger("mixpeek_mock.errors")


class DropConnection(Exception):  # noqa: N818 (an instruction, not an error)
    """Raised before anything is answered to have the connection closed with no answer (a
    fault rule's ``drop``, D31). The server's transport does the closing (app/transport.py);
    the crash handler lets it through rather than answer a 500."""


class ErrorDetail(BaseModel):
    type: str
    message: str
    code: str | None = None
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    """The body of every non-2xx answer."""

    success: bool = False
    status: int
    error: ErrorDetail


class ApiError(Exception):
    """An error with a place in the envelope. Subclasses fix the status and type."""

    status = 500
    type = "InternalServerError"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
        self.headers = headers or {}


class BadRequestError(ApiError):
    status, type = 400, "BadRequestError"


class UnauthorizedError(ApiError):
    status, type = 401, "UnauthorizedError"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class ForbiddenError(ApiError):
    status, type = 403, "ForbiddenError"


class NotFoundError(ApiError):
    status, type = 404, "NotFoundError"


class MethodNotAllowedError(ApiError):
    status, type = 405, "MethodNotAllowedError"


class AlreadyExistsError(ApiError):
    status, type = 409, "AlreadyExistsError"


class PreconditionFailedError(ApiError):
    """An ``If-Match`` that no longer matches the record (D33)."""

    status, type = 412, "PreconditionFailedError"


class PayloadTooLargeError(ApiError):
    status, type = 413, "PayloadTooLargeError"


class UnsupportedMediaTypeError(ApiError):
    status, type = 415, "UnsupportedMediaTypeError"


class ValidationError(ApiError):
    status, type = 422, "ValidationError"


class TooManyRequestsError(ApiError):
    status, type = 429, "TooManyRequestsError"


class InternalServerError(ApiError):
    status, type = 500, "InternalServerError"


class ServiceUnavailableError(ApiError):
    status, type = 503, "ServiceUnavailableError"


# Statuses Starlette raises on its own (routing, methods), mapped onto the envelope's types.
_ERROR_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        MethodNotAllowedError,
        AlreadyExistsError,
        PreconditionFailedError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        ValidationError,
        TooManyRequestsError,
        InternalServerError,
        ServiceUnavailableError,
    )
}
# Statuses the API itself never answers, but a fault rule may (D31): named like the others.
_OTHER_ERROR_TYPES = {502: "BadGatewayError", 504: "GatewayTimeoutError"}


def error_type_for(status: int) -> str:
    """The envelope's ``type`` for an error status: D6's, else the status's phrase
    (``408`` → ``RequestTimeoutError``), else ``HTTPError``."""
    known = _ERROR_BY_STATUS.get(status)
    if known is not None:
        return known.type
    if status in _OTHER_ERROR_TYPES:
        return _OTHER_ERROR_TYPES[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "HTTPError"
    words = "".join(word.capitalize() for word in re.split(r"[^A-Za-z]+", phrase))
    return words if words.endswith("Error") else words + "Error"


# Messages that tests assert on; kept here so that the server and the tests share one wording.
MSG_MISSING_KEY = "Missing API key: send 'Authorization: Bearer <key>'."
MSG_MALFORMED_AUTH = "Malformed Authorization header: expected 'Bearer <key>'."
MSG_INVALID_KEY = "Invalid or revoked API key."
# (S105: these are messages about tokens, not tokens.)
MSG_MISSING_ADMIN_TOKEN = "Missing admin token: send 'Authorization: Bearer <token>'."  # noqa: S105
MSG_INVALID_ADMIN_TOKEN = "Invalid admin token (an API key does not open the admin API)."  # noqa: S105
MSG_MISSING_NAMESPACE = "Missing namespace: send the 'X-Namespace' header (a namespace id or name)."
MSG_EMPTY_UPDATE = "At least one field must be provided for the update."
MSG_INTERNAL = "Internal server error. Quote the X-Request-ID header when reporting it."


def error_body(
    status: int,
    type_: str,
    message: str,
    *,
    code: str | None = None,
    details: dict[str, Any] | None = None,
) -> bytes:
    if status != 500 and answers_log.isEnabledFor(logging.INFO):
        answers_log.info(
            "answered %d %s%s: %s", status, type_, f" ({code})" if code else "", message
        )
    return dump_json(
        {
            "success": False,
            "status": status,
            "error": {"type": type_, "message": message, "code": code, "details": details},
        }
    )


def error_response(
    status: int,
    type_: str,
    message: str,
    *,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = Response(
        error_body(status, type_, message, code=code, details=details),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
    response.raw_headers.extend(API_HEADERS)
    return response


def api_error_response(exc: ApiError) -> Response:
    return error_response(
        exc.status,
        exc.type,
        exc.message,
        code=exc.code,
        details=exc.details,
        headers=exc.headers,
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validation_error_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Reduce pydantic's error dicts to the envelope's ``{type, location, message}``.

    The offending input is left out on purpose: it may be a credential. Only the first
    ``MAX_REPORTED_ERRORS`` are reduced, each part cut to a bounded length: a client's key
    or message may be long, and an answer must stay small whatever was sent.
    """
    return [
        {
            "type": _cut(str(err.get("type", "value_error")), MAX_LOCATION_PART_LENGTH),
            "location": [_cut(str(part), MAX_LOCATION_PART_LENGTH) for part in err.get("loc", ())],
            "message": _cut(str(err.get("msg", "Invalid value")), MAX_ERROR_MESSAGE_LENGTH),
        }
        for err in errors[:MAX_REPORTED_ERRORS]
    ]


def _field_name(location: list[str]) -> str:
    """``metadata.team`` for ``["body", "metadata", "team"]``; the source alone when bare."""
    return ".".join(location[1:]) or (location[0] if location else "body")


def validation_error(errors: Sequence[Any]) -> ValidationError:
    """The 422 for pydantic-style errors: the first ``MAX_REPORTED_ERRORS`` of them listed in
    ``details.validation_errors``, and how many more there were in ``details.omitted_errors``."""
    if errors and errors[0].get("type") == "json_invalid":
        return _malformed_json(errors[0])
    items = validation_error_details(errors)
    fields = sorted({_field_name(item["location"]) for item in items})
    details: dict[str, Any] = {"validation_errors": items}
    omitted = len(errors) - len(items)
    if omitted:
        details["omitted_errors"] = omitted
    prefix = "Request validation failed: "
    suffix = f" (and {omitted} more problems)" if omitted else ""
    listed = _cut(", ".join(fields), MAX_ERROR_MESSAGE_LENGTH - len(prefix) - len(suffix))
    return ValidationError(prefix + listed + suffix, details=details)


def _malformed_json(error: Any) -> ValidationError:
    """FastAPI reports malformed JSON at ``("body", <character offset>)``; say it plainly."""
    reason = (error.get("ctx") or {}).get("error", "invalid JSON")
    position = error.get("loc", ("body", "?"))[-1]
    message = f"Malformed JSON in the request body: {reason} at character {position}."
    return ValidationError(
        message,
        details={
            "validation_errors": [
                {"type": "json_invalid", "location": ["body"], "message": message}
            ]
        },
    )


async def _handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


async def _handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return api_error_response(validation_error(exc.errors()))


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error_class = _ERROR_BY_STATUS.get(exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"No route matches {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        headers = {**headers, "Allow": ", ".join(allowed_methods(request.app, request.url.path))}
    else:
        message = str(exc.detail)
    return error_response(
        exc.status_code,
        error_class.type if error_class else "Error",
        message,
        headers=headers,
    )


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves on ``path`` (Starlette's 405 names only the first), HEAD
    included where GET is; the spec's own route too."""
    methods: set[str] = set()
    for route in app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _handle_crash(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DropConnection):
        raise exc  # not a crash: the transport closes the connection unanswered
    request_id = secrets.token_hex(8)
    # The traceback goes to the log under the request id; the client only gets the id.
    log.error(
        "unhandled error in %s %s [request_id=%s]",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return error_response(
        500, "InternalServerError", MSG_INTERNAL, headers={"X-Request-ID": request_id}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _handle_api_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(Exception, _handle_crash)
