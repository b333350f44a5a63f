"""Who a request acts for, and where: the scopes every service call runs in (D7 to D9).

Built by ``app.dependencies`` once authentication and the namespace and bucket lookups have
succeeded, so a service handed an ``InBucket`` knows the bucket is the caller's to use.
"""

from dataclasses import dataclass

from app.accounts.service import Principal
from app.db.database import Database


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
