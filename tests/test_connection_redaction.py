"""No credential of any provider comes back (CONTRACT.md D14).

One connection per provider type, each stored as given (``test_before_save: false``) with
secrets in every shape a user may put them: in the credentials, under keys the provider does not
define (``passwd``, ``dsn``, ``account_key``, ``sas_url``, ...), nested in objects, inside
lists, in the userinfo and query string of URLs, under displayable keys but in the wrong shape.
Every secret value carries the same marker, and the text of every answer that shows the
connection (create, get, both lists) is searched for it.
"""

from typing import Any

import pytest

from app.connections.redaction import DISPLAYABLE, redact, without_secrets_in_url
from app.connections.schemas import StorageProvider
from tests.conftest import Api

CONNECTIONS = "/v1/organizations/connections"
MARK = "SeCrEt"


def secret(label: str) -> str:
    return f"{MARK}-{label}-7f3a9c"


# A well-formed configuration per provider, as the SDK's models describe it, with a secret in
# every credential field and in the userinfo and query of every URL the provider shows.
WELL_FORMED: dict[StorageProvider, dict[str, Any]] = {
    StorageProvider.S3: {
        "credentials": {
            "type": "access_key",
            "access_key_id": secret("access-key-id"),
            "secret_access_key": secret("secret-access-key"),
            "session_token": secret("session-token"),
        },
        "region": "us-east-1",
        # Userinfo in an S3 endpoint_url is refused at create (tests/test_egress.py); a query
        # string is accepted, and never shown.
        "endpoint_url": f"https://127.0.0.1:9000/?token={secret('q')}",
    },
    StorageProvider.GOOGLE_DRIVE: {
        "credentials": {
            "type": "oauth",
            "client_id": secret("client-id"),
            "client_secret": secret("client-secret"),
            "refresh_token": secret("refresh-token"),
        },
        "shared_drive_id": "0AMockDrive",
    },
    StorageProvider.SNOWFLAKE: {
        "credentials": {
            "type": "key_pair",
            "username": "SYNC",
            "private_key": secret("private-key"),
            "private_key_passphrase": secret("passphrase"),
        },
        "account": "xy12345.us-east-1",
        "warehouse": "SYNC_WH",
        "primary_key_columns": ["id"],
    },
    StorageProvider.SHAREPOINT: {
        "credentials": {
            "type": "delegated",
            "tenant_id": "tenant",
            "client_id": "client",
            "client_secret": secret("client-secret"),
            "refresh_token": secret("refresh-token"),
        },
        "site_id": "site",
    },
    StorageProvider.TIGRIS: {
        "credentials": {
            "type": "access_key",
            "access_key_id": secret("tid"),
            "secret_access_key": secret("tsecret"),
        },
        "endpoint_url": f"https://tid:{secret('pw')}@127.0.0.1:9443",
    },
    StorageProvider.POSTGRESQL: {
        "credentials": {
            "type": "username_password",
            "username": "sync",
            "password": secret("password"),
        },
        "host": "db.example.com",
        "port": 5432,
        "database": "production",
        "dsn": f"postgresql://sync:{secret('dsn-password')}@db.example.com/production",
    },
    StorageProvider.INSTAGRAM: {
        "credentials": {
            "type": "oauth",
            "client_id": "app",
            "client_secret": secret("client-secret"),
            "access_token": secret("access-token"),
        },
        "scopes": ["instagram_basic"],
    },
    StorageProvider.TIKTOK: {
        "credentials": {
            "type": "oauth",
            "client_key": "key",
            "client_secret": secret("client-secret"),
            "access_token": secret("access-token"),
            "refresh_token": secret("refresh-token"),
        },
    },
    StorageProvider.RSS: {
        "credentials": {
            "type": "http_headers",
            "headers": {"Authorization": f"Bearer {secret('feed')}"},
        },
        "user_agent": "mock",
    },
    StorageProvider.HTTP_API: {
        "credentials": {
            "type": "http_headers",
            "headers": {"X-Api-Key": secret("header")},
        },
        "http_method": "POST",
        "request_body": {"api_key": secret("body"), "query": ["a", {"token": secret("t")}]},
        "items_path": "data.items",
    },
    StorageProvider.BOX: {
        "credentials": {
            "type": "jwt",
            "client_id": "box",
            "client_secret": secret("client-secret"),
            "enterprise_id": "1",
            "jwt_key_id": "k",
            "private_key": secret("private-key"),
            "private_key_passphrase": secret("passphrase"),
        },
        "folder_id": "0",
    },
    StorageProvider.BRIGHTDATA: {
        "credentials": {"type": "api_token", "api_token": secret("api-token")},
        "inputs": [
            {"url": f"https://www.linkedin.com/company/x?auth={secret('q')}"},
            {"url": "https://example.com/", "cookie": secret("cookie")},
        ],
    },
    StorageProvider.BACKBLAZE: {
        "credentials": {
            "type": "application_key",
            "key_id": secret("key-id"),
            "application_key": secret("application-key"),
        },
        "application_key": secret("application-key-top"),
    },
    StorageProvider.MUX: {
        "credentials": {
            "type": "access_token",
            "access_token_id": secret("token-id"),
            "access_token_secret": secret("token-secret"),
            "webhook_secret": secret("webhook"),
        },
    },
    StorageProvider.EMAIL: {
        "credentials": {"type": "webhook_secret", "webhook_secret": secret("webhook")},
        "allowed_senders": ["*@company.com"],
    },
    StorageProvider.SUPABASE: {
        "credentials": {
            "type": "access_key",
            "access_key_id": "abcdefghijkl",
            "secret_access_key": secret("anon-key"),
            "session_token": secret("service-role-jwt"),
        },
        "project_ref": "abcdefghijkl",
        "service_role_key": secret("service-role-key"),
    },
    StorageProvider.ICONIK: {
        "credentials": {
            "type": "app_token",
            "app_id": "app",
            "auth_token": secret("auth-token"),
            "webhook_secret": secret("webhook"),
        },
        "base_url": "https://app.iconik.io",
        "rate_limit_redis_url": f"redis://:{secret('redis')}@redis:6379/0",
    },
    StorageProvider.GCS: {
        "credentials": {
            "type": "service_account",
            "service_account_json": {"private_key": secret("gcs-private-key")},
        },
        "bucket": "media",
    },
    StorageProvider.AZURE_BLOB: {
        "credentials": {
            "type": "account_key",
            "account_name": "mockaccount",
            "account_key": secret("account-key"),
        },
        "container": "videos",
        "connection_string": (
            f"DefaultEndpointsProtocol=https;AccountName=mockaccount;AccountKey={secret('cs')}"
        ),
        "sas_url": f"https://mockaccount.blob.core.windows.net/videos?sv=2024&sig={secret('sas')}",
    },
    StorageProvider.RTSP: {
        "credentials": {"type": "basic", "username": "cam", "password": secret("password")},
        # A password with an unencoded "/" and "?" must not leave half of itself behind.
        "url": f"rtsp://cam:{secret('a')}/x?y{secret('b')}@camera.example.com:554/stream1",
    },
}

# Secrets in the shapes a provider's schema does not foresee. Only providers whose
# configuration is stored as given can hold them (S3 and Google Drive are checked field by
# field, and refuse unknown keys with a 422).
STRAY: dict[str, Any] = {
    "passwd": secret("passwd"),
    "pwd": secret("pwd"),
    "api_key": secret("api-key"),
    "token": secret("token"),
    "sas_url": f"https://a.blob.core.windows.net/?sig={secret('sas')}",
    "service_role_key": secret("service-role"),
    "options": {"password": secret("nested"), "deeper": {"x": [secret("deep-list")]}},
    "hosts": [f"postgresql://u:{secret('in-list')}@h/db", {"password": secret("obj-in-list")}],
}
# Displayable keys of some provider, holding a secret in a shape they never have.
MISSHAPEN: dict[str, Any] = {
    "region": {"token": secret("region-object")},
    "host": [secret("host-list")],
    "container": {"account_key": secret("container-object")},
    "primary_key_columns": ["id", {"password": secret("pk-object")}, [secret("pk-list")]],
    "scopes": [{"access_token": secret("scope-object")}],
    "inputs": [{"url": {"password": secret("input-url-object")}}, secret("input-string")],
}

VALIDATED = {StorageProvider.S3, StorageProvider.GOOGLE_DRIVE}


def hostile_config(provider: StorageProvider) -> dict[str, Any]:
    config = dict(WELL_FORMED[provider])
    if provider not in VALIDATED:
        config.update(STRAY)
        config.update(MISSHAPEN)
    return config


def test_every_provider_is_in_the_table_and_the_test() -> None:
    assert set(DISPLAYABLE) == set(StorageProvider)
    assert set(WELL_FORMED) == set(StorageProvider)


@pytest.mark.parametrize("provider", list(StorageProvider))
def test_no_secret_of_any_provider_comes_back(api: Api, provider: StorageProvider) -> None:
    config = hostile_config(provider)
    assert MARK in str(config)
    body = {
        "name": f"{provider}-conn",
        "provider_type": provider,
        "provider_config": config,
        "test_before_save": False,
    }
    created = api.post(CONNECTIONS, json=body)
    assert created.status_code == 200, created.text
    connection_id = created.json()["connection_id"]

    answers = [
        created,
        api.get(f"{CONNECTIONS}/{connection_id}"),
        api.get(f"{CONNECTIONS}/{provider}-conn"),
        api.get(CONNECTIONS),
        api.post(f"{CONNECTIONS}/list"),
        api.post(f"{CONNECTIONS}/list", json={"provider_type": provider}),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert MARK not in response.text, f"{response.request.url}: {response.text}"
    shown = created.json()["provider_config"]
    assert shown["credentials"] == {"type": config["credentials"]["type"]}


def test_what_is_not_secret_is_still_shown(api: Api) -> None:
    config = WELL_FORMED[StorageProvider.AZURE_BLOB]
    body = {"name": "azure", "provider_type": "azure_blob", "provider_config": config}
    created = api.ok("POST", CONNECTIONS, json={**body, "test_before_save": False})
    assert created["provider_config"] == {
        "credentials": {"type": "account_key"},
        "container": "videos",
    }

    config = WELL_FORMED[StorageProvider.S3]
    body = {"name": "s3", "provider_type": "s3", "provider_config": config}
    created = api.ok("POST", CONNECTIONS, json={**body, "test_before_save": False})
    assert created["provider_config"] == {
        "provider_type": "s3",
        "credentials": {"type": "access_key"},
        "region": "us-east-1",
        "endpoint_url": "https://127.0.0.1:9000/",
        "use_ssl": True,
        "verify_ssl": True,
    }


def test_shapes_are_enforced_inside_lists_and_objects() -> None:
    shown = redact(
        "postgresql",
        {
            "provider_type": "postgresql",
            "host": "db",
            "port": 5432,
            "primary_key_columns": ["id", {"x": 1}, ["y"], "tenant"],
            "schema": {"name": "public"},
            "credentials": {"type": "username_password", "password": "p"},
            "unknown": "u",
        },
    )
    assert shown == {
        "provider_type": "postgresql",
        "host": "db",
        "port": 5432,
        "primary_key_columns": ["id", "tenant"],
        "credentials": {"type": "username_password"},
    }


@pytest.mark.parametrize(
    ("credentials", "shown"),
    [
        ({"type": "access_key", "secret_access_key": "s"}, {"type": "access_key"}),
        ({"type": "sk_not_a_kind_of_credentials"}, {"type": None}),
        ({"type": {"nested": "s"}}, {"type": None}),
        ({"secret_access_key": "s"}, {"type": None}),
        ("a bare secret string", {"type": None}),
        (["a", "list"], {"type": None}),
        (None, None),
    ],
)
def test_credentials_show_only_a_known_kind(credentials: Any, shown: Any) -> None:
    assert redact("tigris", {"credentials": credentials}) == {"credentials": shown}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("https://s3.example.com/base/", "https://s3.example.com/base/"),
        ("https://user:pass@host:9000/p", "https://host:9000/p"),
        ("https://user@host", "https://host"),
        ("redis://:pass@redis:6379/0", "redis://redis:6379/0"),
        ("https://host/c?sv=1&sig=abc", "https://host/c"),
        ("https://host/c#frag", "https://host/c"),
        ("rtsp://u:p/a?b#c@cam:554/s", "rtsp://cam:554/s"),  # raw "/", "?", "#" in a password
        ("https://[::1]:9000/", "https://[::1]:9000/"),
        ("not a url", "not a url"),
        ("robot@project.iam.gserviceaccount.com", "robot@project.iam.gserviceaccount.com"),
    ],
)
def test_urls_lose_userinfo_query_and_fragment(url: str, shown: str) -> None:
    assert without_secrets_in_url(url) == shown
