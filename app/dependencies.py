"""What routes depend on: the database, the caller, and the namespace the caller named (D7, D8).

Each dependency validates as it loads: a route that declares ``CurrentNamespace`` only runs
once the namespace exists and belongs to the caller's organization.
"""

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from app.accounts.service import Principal
from app.db.database import Database, Row
from app.errors import MSG_MISSING_NAMESPACE, BadRequestError
from app.middleware import principal_of
from app.namespaces.service import resolve_namespace


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_principal(request: Request) -> Principal:
    return principal_of(request.scope)


DatabaseDep = Annotated[Database, Depends(get_database)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_namespace(
    database: DatabaseDep,
    principal: CurrentPrincipal,
    x_namespace: Annotated[
        str | None,
        Header(
            alias="X-Namespace",
            description="REQUIRED: the namespace's id (ns_...) or name.",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        Query(description="The namespace, when the X-Namespace header cannot be sent."),
    ] = None,
) -> Row:
    identifier = x_namespace if x_namespace is not None else namespace
    if not identifier:
        raise BadRequestError(MSG_MISSING_NAMESPACE)
    return resolve_namespace(database, internal_id=principal.internal_id, identifier=identifier)


CurrentNamespace = Annotated[Row, Depends(get_namespace)]
