"""Unknown query parameters are a 422 on every /v1 route, as unknown body keys are.

A misspelt ``?limt=5`` or ``?pagesize=5`` would otherwise be ignored and answer a page the
caller did not ask for. A route takes the query parameters it declares, plus ``namespace`` (D8's
fallback for ``X-Namespace``). One mechanism for every route: ``StrictQueryRoute``, the route
class of every /v1 router, checks the query string before anything else about the request is
solved; the hot path (app/hotpath.py) calls ``check_query`` itself.
"""

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from app.errors import validation_error

# Taken by every route: the namespace, when the header is absent (D8).
ALWAYS_ALLOWED = frozenset({"namespace"})


def check_query(query_string: bytes, allowed: frozenset[str]) -> None:
    """A 422 naming each query parameter not in ``allowed`` (nor ``namespace``)."""
    if not query_string:
        return
    names = dict.fromkeys(
        name for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    )
    unknown = [name for name in names if name not in allowed and name not in ALWAYS_ALLOWED]
    if unknown:
        takes = ", ".join(sorted(allowed | ALWAYS_ALLOWED))
        raise validation_error(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"Unknown query parameter; this route takes: {takes}",
                }
                for name in unknown
            ]
        )


def declared_query(route: APIRoute) -> frozenset[str]:
    """The names of the query parameters a route declares (its dependencies' included)."""
    return frozenset(
        field.alias
        for field in get_flat_params(route.dependant)
        if isinstance(field.field_info, params.Query)
    )


class StrictQueryRoute(APIRoute):
    """An APIRoute that refuses query parameters it does not declare (module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed: frozenset[str] | None = None

        async def strict_handler(request: Request) -> Response:
            nonlocal allowed
            if allowed is None:
                allowed = declared_query(self)
            check_query(request.scope.get("query_string", b""), allowed)
            return await handler(request)

        return strict_handler
