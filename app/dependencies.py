"""What routes depend on: who is calling, and the namespace and bucket they named (D7 to D9).

Each route declares exactly one of these, and it validates as it loads: a handler that takes an
``InBucket`` only runs once the namespace exists in the caller's organization and the bucket in
that namespace. One flat dependency per route, rather than a chain of small ones, because each
link of a chain costs FastAPI more than the indexed lookup it does.

Dependencies are ``async def`` on purpose, like the handlers: FastAPI would run a plain ``def``
in a worker thread, which costs more still, and would let two requests use the one SQLite
connection at once (see app/db/database.py). On PostgreSQL the whole request runs on a
request-worker thread with its own connection (app/db/workers.py), and ``app.state.database``
answers with that thread's connection, so these stay the same.
"""

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from app.connections.probe import ProbePool
from app.db.database import Database
from app.engine.supervisor import EngineSupervisor
from app.middleware import principal_of
from app.scopes import Caller, InBucket, InNamespace, in_bucket, in_namespace

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


async def get_probes(request: Request) -> ProbePool:
    probes: ProbePool = request.app.state.probes
    return probes


async def get_engine(request: Request) -> EngineSupervisor:
    engine: EngineSupervisor = request.app.state.engine
    return engine


async def get_caller(request: Request) -> Caller:
    return Caller(database_of(request), principal_of(request.scope))


async def get_namespace_scope(
    request: Request, x_namespace: NamespaceHeader = None, namespace: NamespaceQuery = None
) -> InNamespace:
    return in_namespace(database_of(request), principal_of(request.scope), x_namespace, namespace)


async def get_bucket_scope(
    request: Request,
    bucket_id: BucketInPath,
    x_namespace: NamespaceHeader = None,
    namespace: NamespaceQuery = None,
) -> InBucket:
    return in_bucket(
        database_of(request), principal_of(request.scope), x_namespace, namespace, bucket_id
    )


async def get_bucket_identifier_scope(
    request: Request,
    bucket_identifier: BucketInPath,
    x_namespace: NamespaceHeader = None,
    namespace: NamespaceQuery = None,
) -> InBucket:
    """The same scope as ``get_bucket_scope``, for routes whose path names the bucket
    ``{bucket_identifier}`` (as the SDK's bucket and object methods do)."""
    return in_bucket(
        database_of(request), principal_of(request.scope), x_namespace, namespace, bucket_identifier
    )


DatabaseDep = Annotated[Database, Depends(get_database)]
EngineDep = Annotated[EngineSupervisor, Depends(get_engine)]
ProbesDep = Annotated[ProbePool, Depends(get_probes)]
CallerDep = Annotated[Caller, Depends(get_caller)]
NamespaceScope = Annotated[InNamespace, Depends(get_namespace_scope)]
BucketScope = Annotated[InBucket, Depends(get_bucket_scope)]
BucketIdentifierScope = Annotated[InBucket, Depends(get_bucket_identifier_scope)]
