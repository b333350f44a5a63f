"""What routes depend on: who is calling, and the namespace and bucket they named (D7 to D9).

Each route declares exactly one of these, and it validates as it loads: a handler that takes an
``InBucket`` only runs once the namespace exists in the caller's organization and the bucket in
that namespace. One flat dependency per route, rather than a chain of small ones, because each
link of a chain costs FastAPI more than the indexed lookup it does.

Dependencies are ``async def`` on purpose, like the handlers: FastAPI would run a plain ``def``
in a worker thread, which costs more still, and would let two requests use the one SQLite
connection at once (see app/db/database.py).
"""

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from app.buckets.service import bucket_id_of
from app.db.database import Database
from app.errors import MSG_MISSING_NAMESPACE, BadRequestError
from app.middleware import principal_of
from app.namespaces.service import namespace_id_of
from app.scopes import Caller, InBucket, InNamespace

NamespaceHeader = Annotated[
    str | None,
    Header(alias="X-Namespace", description="REQUIRED: the namespace's id (ns_...) or name."),
]
NamespaceQuery = Annotated[
    str | None,
    Query(description="The namespace, when the X-Namespace header cannot be sent."),
]
BucketInPath = Annotated[str, Path(description="The bucket's id (bkt_...) or name.")]


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    return database_of(request)


async def get_caller(request: Request) -> Caller:
    return Caller(database_of(request), principal_of(request.scope))


def _in_namespace(request: Request, header: str | None, query: str | None) -> InNamespace:
    identifier = header if header is not None else query
    if not identifier:
        raise BadRequestError(MSG_MISSING_NAMESPACE)
    database = database_of(request)
    principal = principal_of(request.scope)
    namespace_id = namespace_id_of(
        database, internal_id=principal.internal_id, identifier=identifier
    )
    return InNamespace(database, principal, namespace_id)


async def get_namespace_scope(
    request: Request, x_namespace: NamespaceHeader = None, namespace: NamespaceQuery = None
) -> InNamespace:
    return _in_namespace(request, x_namespace, namespace)


async def get_bucket_scope(
    request: Request,
    bucket_id: BucketInPath,
    x_namespace: NamespaceHeader = None,
    namespace: NamespaceQuery = None,
) -> InBucket:
    scope = _in_namespace(request, x_namespace, namespace)
    found_id = bucket_id_of(scope.database, namespace_id=scope.namespace_id, identifier=bucket_id)
    return InBucket(scope.database, scope.principal, scope.namespace_id, found_id)


DatabaseDep = Annotated[Database, Depends(get_database)]
CallerDep = Annotated[Caller, Depends(get_caller)]
NamespaceScope = Annotated[InNamespace, Depends(get_namespace_scope)]
BucketScope = Annotated[InBucket, Depends(get_bucket_scope)]
