"""Fault and latency rules (CONTRACT.md D31): failures and slowness on demand, per process.

The request guard (app/middleware.py) hands every authenticated request to ``/v1`` whose body
it accepted to ``FaultBook.apply`` before anything routes it, so a rule never hides a 401 or a
413, and one path serves every route (the hot path's included). With no rule, that is one
check of an empty list.

Rules are tried in the order they were added. A rule matches a request by method, path glob
(app/admin/globs.py) and namespace (the ``X-Namespace`` header or ``?namespace=``, by id or
name); of the requests it matches it lets ``after`` pass, then fires at most ``times`` times,
on a ``probability`` share drawn from its own ``random.Random(seed)`` (the same requests in the
same order fire the same way on every run). A rule that only delays adds its delay and lets
the later rules be tried; the first rule that fires with a status or a drop decides the
answer. The delays are slept (on the event loop, never blocking it) before the answer, the
request's normal one when no rule answered.

Per process and in memory: instances behind a load balancer each have their own rules.
"""

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

from starlette.types import Scope

from app import identifiers
from app.admin.globs import glob_matches
from app.admin.schemas import MAX_FAULT_RULES, FaultCreateRequest, FaultModel
from app.clock import utc_now
from app.db.database import Database
from app.errors import ApiError, DropConnection, NotFoundError, error_type_for, validation_error
from app.scopes import NAMESPACE_ID

_UNRESOLVED: Any = object()


class InjectedError(ApiError):
    """The answer of a rule with a status: the D6 envelope, with the rule's type and message."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        details: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> None:
        super().__init__(message, details=details, headers=headers)
        self.status = status
        self.type = type_


@dataclass(slots=True)
class FaultRule:
    fault_id: str
    spec: FaultCreateRequest
    created_at: datetime
    matched: int = 0
    fired: int = 0
    draws: random.Random = field(default_factory=random.Random)

    def public(self) -> FaultModel:
        return FaultModel(
            fault_id=self.fault_id,
            **self.spec.model_dump(),
            created_at=self.created_at,
            matched=self.matched,
            fired=self.fired,
        )

    def error(self) -> InjectedError:
        spec = self.spec
        assert spec.status is not None
        details = dict(spec.details) if spec.details is not None else None
        headers: dict[str, str] = {}
        if spec.retry_after is not None:
            details = {**(details or {}), "retry_after_seconds": spec.retry_after}
            headers["Retry-After"] = str(spec.retry_after)
        try:
            phrase = HTTPStatus(spec.status).phrase
        except ValueError:
            phrase = "Error"
        return InjectedError(
            spec.status,
            spec.error_type or error_type_for(spec.status),
            spec.message or f"{phrase} (fault rule {self.fault_id}).",
            details=details,
            headers=headers,
        )


class FaultBook:
    """The rules of this process, in the order added."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, spec: FaultCreateRequest) -> FaultRule:
        if len(self.rules) >= MAX_FAULT_RULES:
            message = f"At most {MAX_FAULT_RULES} fault rules: delete some first."
            raise validation_error([{"type": "too_many_rules", "loc": ("body",), "msg": message}])
        rule = FaultRule(
            fault_id=identifiers.new_id(identifiers.FAULT),
            spec=spec,
            created_at=utc_now(),
            draws=random.Random(spec.seed),  # noqa: S311 (reproducible, not secret)
        )
        self.rules.append(rule)
        return rule

    def delete(self, fault_id: str) -> None:
        for index, rule in enumerate(self.rules):
            if rule.fault_id == fault_id:
                del self.rules[index]
                return
        raise NotFoundError(f"Fault rule {fault_id!r} not found.")

    def clear(self) -> int:
        count = len(self.rules)
        self.rules = []
        return count

    async def apply(self, scope: Scope, headers: dict[bytes, bytes], database: Database) -> None:
        """Delay the request, answer it (raise the rule's error) or drop it (raise
        ``DropConnection``), as the first rules that fire say; or leave it be."""
        method = scope["method"]
        path = scope["path"]
        namespace: Any = _UNRESOLVED
        delay_ms = 0
        decisive: FaultRule | None = None
        for rule in tuple(self.rules):
            spec = rule.spec
            if spec.method is not None and spec.method != method:
                continue
            if spec.path is not None and not glob_matches(spec.path, path):
                continue
            if spec.namespace is not None:
                if namespace is _UNRESOLVED:
                    namespace = _request_namespace(scope, headers, database)
                if namespace is None or spec.namespace not in namespace:
                    continue
            rule.matched += 1
            if rule.matched <= spec.after:
                continue
            if spec.times is not None and rule.fired >= spec.times:
                continue
            if spec.probability is not None and rule.draws.random() >= spec.probability:
                continue
            rule.fired += 1
            delay_ms += spec.delay_ms or 0
            if spec.status is not None or spec.drop:
                decisive = rule
                break
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if decisive is None:
            return
        if decisive.spec.drop:
            raise DropConnection
        raise decisive.error()


def _request_namespace(
    scope: Scope, headers: dict[bytes, bytes], database: Database
) -> tuple[str, str] | None:
    """The id and name of the namespace the request names, when it is the caller's."""
    raw = headers.get(b"x-namespace")
    identifier = raw.decode("latin-1") if raw is not None else _query_namespace(scope)
    state = scope.get("state") or {}
    principal = state.get("principal")
    if not identifier or principal is None:
        return None
    row = database.one(
        "SELECT namespace_id, namespace_name FROM namespaces"
        " WHERE internal_id = ?1 AND (namespace_id = ?2 OR namespace_name = ?2)"
        " ORDER BY namespace_id = ?2 DESC LIMIT 1",
        (principal.internal_id, identifier),
    )
    if row is None:
        return None
    state[NAMESPACE_ID] = row["namespace_id"]
    return row["namespace_id"], row["namespace_name"]


def _query_namespace(scope: Scope) -> str | None:
    from urllib.parse import parse_qsl

    query: bytes = scope.get("query_string", b"")
    values = [
        value
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        if name == "namespace"
    ]
    return values[-1] if values else None
