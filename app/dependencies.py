"""What routes depend on: who is calling, and the namespace and bucket they named (D7 to D9).

Each route declares exactly one of these, and it validates as it loads: a handler that takes an
``InBucket`` only runs once the namespace exists in the caller's organization and the bucket in
that namespace. One flat dependency per route, rather than a chain of small ones, because each
link of a chain costs FastAPI more than the indexed lookup it does.

Dependencies are ``async def`` on purpose, like the handlers: FastAPI would run a plain ``def``
in a worker thread, which costs more still, and would let two requests use the one SQLite
connection at once (see app/db/database.py). On PostgreSQL the whole request runs in a greenlet
of its own, on a session borrowed for it (app/db/greenlets.py), and ``app.state.database``
answers with that session, so these stay the same.
"""

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from app import idempotency
from app.connections.probe import ProbePool
from app.db.database import Database
from app.engine.supervisor import EngineSupervisor
from app.etags import if_match_of
from app.idempotency import IdempotentCreate
from app.middleware import PARSED_BODY, principal_of
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
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description=(
            "Apply the change only if the record's current ETag is one of these (strong"
            " comparison: W/ tags never match), or `*` for any; else 412 and nothing changes."
        ),
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        min_length=1,
        max_length=idempotency.MAX_KEY_LENGTH,
        pattern=idempotency.KEY_PATTERN,
        description=(
            "Printable ASCII, 1 to 255 characters. The first 200 answer to a request with this"
            " key is stored for 24 hours: the same request again gets it again (with"
            " `Idempotent-Replayed: true`) and creates nothing; another request with the same"
            " key is a 422."
        ),
    ),
]


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
    return in_namespace(
        database_of(request),
        principal_of(request.scope),
        x_namespace,
        namespace,
        state=request.scope["state"],
    )


async def get_bucket_scope(
    request: Request,
    bucket_id: BucketInPath,
    x_namespace: NamespaceHeader = None,
    namespace: NamespaceQuery = None,
) -> InBucket:
    return in_bucket(
        database_of(request),
        principal_of(request.scope),
        x_namespace,
        namespace,
        bucket_id,
        state=request.scope["state"],
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
        database_of(request),
        principal_of(request.scope),
        x_namespace,
        namespace,
        bucket_identifier,
        state=request.scope["state"],
    )


async def get_if_match(request: Request, if_match: IfMatchHeader = None) -> str | None:
    """Every ``If-Match`` line, joined (the parameter above documents the header)."""
    return if_match_of(request.scope) if if_match is not None else None


async def get_idempotent_create(
    request: Request, idempotency_key: IdempotencyKeyHeader = None
) -> IdempotentCreate | None:
    """A create's key, checked; when its answer is stored already, that answer at once (before
    any other work, such as a connection's probe). See app/idempotency.py."""
    if idempotency_key is None:
        return None
    lines = sum(1 for name, _ in request.scope["headers"] if name == b"idempotency-key")
    if lines > 1:
        raise idempotency.key_error(idempotency.MSG_KEY_REPEATED, "idempotency_key_repeated")
    once = IdempotentCreate(
        internal_id=principal_of(request.scope).internal_id,
        route=f"{request.method} {request.scope['route'].path}",
        key=idempotency_key,
        fingerprint=idempotency.fingerprint(
            body=(request.scope.get("state") or {}).get(PARSED_BODY),
            path=request.scope["path"],
            namespace=request.headers.get("x-namespace", request.query_params.get("namespace")),
        ),
    )
    idempotency.claim(database_of(request), once)
    return once


DatabaseDep = Annotated[Database, Depends(get_database)]
EngineDep = Annotated[EngineSupervisor, Depends(get_engine)]
ProbesDep = Annotated[ProbePool, Depends(get_probes)]
CallerDep = Annotated[Caller, Depends(get_caller)]
NamespaceScope = Annotated[InNamespace, Depends(get_namespace_scope)]
BucketScope = Annotated[InBucket, Depends(get_bucket_scope)]
BucketIdentifierScope = Annotated[InBucket, Depends(get_bucket_identifier_scope)]
IfMatchDep = Annotated[str | None, Depends(get_if_match)]
IdempotencyDep = Annotated[IdempotentCreate | None, Depends(get_idempotent_create)]
