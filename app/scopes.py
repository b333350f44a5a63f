"""Who a request acts for, and where: the scopes every service call runs in (D7 to D9).

Built by ``app.dependencies`` once authentication and the namespace and bucket lookups have
succeeded, so a service handed an ``InBucket`` knows the bucket is the caller's to use.
"""

from dataclasses import dataclass
from typing import Any

from app.accounts.service import Principal
from app.buckets.service import bucket_not_found, ids_in_scope
from app.db.database import Database
from app.errors import MSG_MISSING_NAMESPACE, BadRequestError
from app.namespaces.service import namespace_id_of, namespace_not_found


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: the database, and the key's organization and user."""

    database: Database
    principal: Principal


@dataclass(frozen=True, slots=True)
class InNamespace(Caller):
    namespace_id: str


@dataclass(frozen=True, slots=True)
class InBucket(InNamespace):
    bucket_id: str


def _namespace_identifier(header: str | None, query: str | None) -> str:
    identifier = header if header is not None else query
    if not identifier:
        raise BadRequestError(MSG_MISSING_NAMESPACE)
    return identifier


# Where a request's resolved namespace id is left in its state, for the journal (D30).
NAMESPACE_ID = "namespace_id"


def in_namespace(
    database: Database,
    principal: Principal,
    header: str | None,
    query: str | None,
    *,
    state: dict[str, Any] | None = None,
) -> InNamespace:
    """The namespace named by the ``X-Namespace`` header, or else the ``namespace`` query
    parameter: 400 when neither is given, 404 when it is not the caller's (D8). Its id is
    left in ``state``, the request's, under ``NAMESPACE_ID``."""
    identifier = _namespace_identifier(header, query)
    namespace_id = namespace_id_of(
        database, internal_id=principal.internal_id, identifier=identifier
    )
    if state is not None:
        state[NAMESPACE_ID] = namespace_id
    return InNamespace(database, principal, namespace_id)


def in_bucket(
    database: Database,
    principal: Principal,
    header: str | None,
    query: str | None,
    bucket_identifier: str,
    *,
    state: dict[str, Any] | None = None,
) -> InBucket:
    """The bucket, by id or name, in the namespace named as above; 404 when it is not there.
    The namespace's id is left in ``state`` as above, the bucket's 404 notwithstanding."""
    identifier = _namespace_identifier(header, query)
    namespace_id, bucket_id = ids_in_scope(
        database, internal_id=principal.internal_id, namespace=identifier, bucket=bucket_identifier
    )
    if namespace_id is None:
        raise namespace_not_found(identifier)
    if state is not None:
        state[NAMESPACE_ID] = namespace_id
    if bucket_id is None:
        raise bucket_not_found(bucket_identifier)
    return InBucket(database, principal, namespace_id, bucket_id)
