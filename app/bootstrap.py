"""Getting a database ready to serve: a write check, migrations, the first organization, the
configured key."""

from dataclasses import dataclass

from app.accounts import service as accounts
from app.admin.tokens import ensure_admin_token
from app.db.database import Database
from app.db.migrate import upgrade_to_head
from app.settings import Settings


@dataclass(frozen=True)
class Bootstrap:
    """What ``prepare_database`` did, for the command line to report."""

    organization: accounts.Organization
    created_organization: bool
    # A key generated now: shown once, then never again (D17). None when none was generated.
    generated_key: str | None
    # An admin token generated now (D28), shown once like a key. None when none was generated.
    generated_admin_token: str | None = None


def prepare_database(
    database: Database, settings: Settings, *, issue_key: bool = True
) -> Bootstrap:
    """Refuse a database this process cannot write, migrate it to head, then ``bootstrap``."""
    database.check_writable()
    upgrade_to_head(database, settings.database_url)
    return bootstrap(database, settings, issue_key=issue_key)


def bootstrap(database: Database, settings: Settings, *, issue_key: bool = True) -> Bootstrap:
    """On a migrated database with no organization, create the first one and a key.

    ``MIXPEEK_MOCK_API_KEY`` makes that exact key a live key of the first organization,
    idempotently, every time; then no key is generated. ``issue_key=False`` (the ``keys``
    commands, which make their own) generates none either.
    """
    accounts.trim_key_prefixes(database)
    organization, created = accounts.first_or_new_organization(
        database, name=accounts.DEFAULT_ORGANIZATION
    )
    generated_key = None
    if settings.api_key:
        accounts.add_key(database, organization, settings.api_key)
    elif created and issue_key:
        generated_key = accounts.create_key(database, organization)
    return Bootstrap(
        organization=organization,
        created_organization=created,
        generated_key=generated_key,
        generated_admin_token=ensure_admin_token(database, settings.admin_token)
        if issue_key
        else None,
    )
